"""Fuzz `policylang check` with many mutants of the shipped policies.

    python scripts/fuzz.py [COUNT] [SEED]

Prints any mutant that crashes, exits with a code other than 0/1, or is rejected
without naming a line, and exits 1 if there was any."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from policylang.cli import main as cli  # noqa: E402
from tests.mutate import mutants  # noqa: E402
from tests.test_fuzz import LOCATION, SOURCES  # noqa: E402


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    bad = 0
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        shutil.copy(ROOT / "policies" / "shanxi-2022.pol", d)
        shutil.copy(ROOT / "tests" / "fixtures" / "variations" / "province.pol", d)
        for k, text in enumerate(mutants(SOURCES, count, seed=seed, max_ops=5)):
            path = d / "mutant.pol"
            path.write_text(text, encoding="utf-8")
            r = runner.invoke(cli, ["check", str(path)])
            problem = None
            if r.exit_code not in (0, 1):
                problem = f"exit code {r.exit_code}"
            elif "internal error" in r.output or "Traceback" in r.output:
                problem = "crash"
            elif r.exit_code == 1 and not LOCATION.search(r.output):
                problem = "rejected without a line"
            if problem:
                bad += 1
                print(f"--- mutant {k}: {problem}\n{text}\n--- output\n{r.output}")
    print(f"{count} mutants, {bad} problem(s)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
