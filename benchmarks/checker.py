"""How long the checker takes on large policies (targets from the hardening issue):
a table of 4096 rows under 5 s, a policy of 100,000 one-line statements under 15 s.

    python benchmarks/checker.py [--quick]

The tests count the work instead (tests/test_scaling.py); this prints seconds."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policylang  # noqa: E402


def table_policy(rows_wanted: int) -> tuple[str, int]:
    flags = 0
    while 6 * 2**flags < rows_wanted:
        flags += 1
    inputs = "\n".join(f'  input f{i}: bool default false unstated "t"' for i in range(flags))
    keys = "".join(f", f{i}" for i in range(flags))
    rows = [
        f'        {lv}, {pt}{"".join(", " + c for c in combo)}: 60% unstated "r"'
        for lv in ("unrated | level1", "level2", "level3")
        for pt in ("active", "retiree")
        for combo in itertools.product(["true", "false"], repeat=flags)
    ]
    return (
        'policy big "big" '
        f'{{\n  level city\n{inputs}\n  rounding half_up to 0.01 yuan unstated "t"\n'
        '  pooling {\n    from 2023-01-01 unstated "t" {\n'
        '      covers active, retiree, flexible unstated "t"\n'
        f"      ratio by hosp_lv, psn_type{keys} {{\n"
        + "\n".join(rows)
        + '\n      } unstated "t"\n    }\n  }\n}\n',
        len(rows),
    )


def params_policy(count: int) -> str:
    params = "\n".join(f'  param p{i}: money "p" unstated "t"' for i in range(count))
    return f'policy big "big" {{\n  level city\n{params}\n}}\n'


def timed(label: str, text: str, target: float) -> None:
    """Wall-clock time against the target, and the CPU time (what a loaded machine's wall
    clock hides)."""
    start, cpu = time.perf_counter(), time.process_time()
    policylang.loads(text)
    took, used = time.perf_counter() - start, time.process_time() - cpu
    missed = "" if took < target else "  MISSED"
    print(f"{label:<42} {took:7.2f} s  (cpu {used:5.2f} s; target < {target:g} s){missed}")


def main() -> None:
    quick = "--quick" in sys.argv
    text, rows = table_policy(1024 if quick else 4096)
    timed(f"ratio table of {rows} rows", text, 5)
    count = 10_000 if quick else 100_000
    timed(f"{count:,} parameter declarations", params_policy(count), 15)


if __name__ == "__main__":
    main()
