"""Fuzz policylang longer than the test suite does.

    python scripts/fuzz.py [COUNT] [SEED]     mutants of the shipped policies through `check`
    python scripts/fuzz.py cli [COUNT]        every command, hostile policies and JSON

The first prints any mutant that crashes, exits with a code other than 0/1, or is rejected
without naming a line.  The second runs tests/test_fuzz.py's every-command property
(`test_every_command_survives_hostile_input`: only clear errors, nothing on standard output
with an error, every diagnostic inside its file) for COUNT random examples (default 5000)
instead of the suite's fixed few; hypothesis prints the smallest failing command.  Both exit 1
if anything was found."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from policylang.cli import main as cli  # noqa: E402
from tests.mutate import mutants  # noqa: E402
from tests.test_fuzz import LOCATION, SOURCES  # noqa: E402


def every_command(count: int) -> int:
    env = {**os.environ, "POLICYLANG_FUZZ_EXAMPLES": str(count)}
    test = "tests/test_fuzz.py::test_every_command_survives_hostile_input"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    return subprocess.run(args, cwd=ROOT, env=env).returncode


def check_mutants(count: int, seed: int) -> int:
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
    return 1 if bad else 0


def main():
    args = sys.argv[1:]
    if args[:1] == ["cli"]:
        sys.exit(every_command(int(args[1]) if len(args) > 1 else 5000))
    count = int(args[0]) if args else 5000
    seed = int(args[1]) if len(args) > 1 else 1
    sys.exit(check_mutants(count, seed))


if __name__ == "__main__":
    main()
