"""Start-up time of the command line: `policylang --help`, and `policylang check` with the
parser cache empty (cold: the parser is built) and filled (warm: it is loaded).

    python benchmarks/startup.py [RUNS]

Each command line is timed as the median wall time of RUNS fresh processes (default 11),
interpreter start-up included; `python -c pass` is shown for comparison.  The last two
lines time getting the parser alone, in this process."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "guiyang-2022.pol"


def median_ms(args: list[str], runs: int, env: dict[str, str], before=lambda: None) -> float:
    times = []
    for _ in range(runs):
        before()
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, *args],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, POLICYLANG_CACHE_DIR=cache)

        def empty_cache():
            for f in Path(cache).iterdir():
                f.unlink()

        check = ["-m", "policylang.cli", "check", str(POLICY)]
        rows = [
            ("python -c pass", median_ms(["-c", "pass"], runs, env)),
            ("policylang --help", median_ms(["-m", "policylang.cli", "--help"], runs, env)),
            ("policylang check, cold cache", median_ms(check, runs, env, before=empty_cache)),
            ("policylang check, warm cache", median_ms(check, runs, env)),
        ]
        sys.path.insert(0, str(ROOT))
        os.environ["POLICYLANG_CACHE_DIR"] = cache
        from policylang.parser import _lark

        for label, before in (
            ("parser, cold cache", empty_cache),
            ("parser, warm cache", lambda: None),
        ):
            times = []
            for _ in range(runs):
                before()
                _lark.cache_clear()
                start = time.perf_counter()
                _lark()
                times.append(time.perf_counter() - start)
            rows.append((label, statistics.median(times) * 1000))
    for label, ms in rows:
        print(f"{label:<30} {ms:7.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
