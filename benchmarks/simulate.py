"""`policylang simulate --reform` on synthetic claims: wall time and peak memory.

    python benchmarks/simulate.py                      # 10,000,000 visits, columnar and duckdb
    python benchmarks/simulate.py --visits 30000000 --engine duckdb --memory-limit 2G
    python benchmarks/simulate.py --quick              # 300,000 visits

Claims are written once by `policylang synth` (about 6.7 visits a person a year) into a
cache folder (--claims-dir, default a temporary one) and reused; each run is the installed
command in a fresh process (`nice` is the caller's business), settling the claims under
policies/guiyang-2022.pol and the fictional reform examples/reform/guiyang-reform.pol, with
the per-visit results, summary.json and report.html written. CPU time and peak memory are
the simulate process's own (os.wait4).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "guiyang-2022.pol"
REFORM = ROOT / "examples" / "reform" / "guiyang-reform.pol"
VISITS_PER_PERSON = 6.68  # the synth distributions' mean (docs/tools.md)


def _cli() -> list[str]:
    return [sys.executable, "-m", "policylang"]


def claims(visits: int, folder: Path) -> tuple[Path, int]:
    persons = max(1, round(visits / VISITS_PER_PERSON))
    path = folder / f"claims-{persons}.parquet"
    if not path.exists():
        t = time.perf_counter()
        subprocess.run(
            [*_cli(), "synth", "--persons", str(persons), "--seed", "1", "-o", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"synth: {persons:,} persons in {time.perf_counter() - t:.1f} s", flush=True)
    import pyarrow.parquet as pq

    return path, pq.ParquetFile(path).metadata.num_rows


def run_one(path: Path, engine: str, limit: str | None, out: Path) -> dict:
    command = [*_cli(), "simulate", str(POLICY), str(path), "--reform", str(REFORM)]
    command += ["--engine", engine, "--out", str(out)]
    if limit:
        command += ["--memory-limit", limit]
    t = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - t
        if status:
            err.seek(0)
            raise SystemExit(f"{engine}: exit status {status}: {err.read().decode()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {
        "engine": engine,
        "visits": summary["visits"],
        "partitions": summary["partitions"],
        "seconds": wall,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "fund_difference": summary["difference"]["fund"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visits", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="300,000 visits")
    ap.add_argument("--engine", action="append", help="columnar, duckdb (repeatable)")
    ap.add_argument("--memory-limit", default=None, help="passed to simulate (default: its own)")
    ap.add_argument("--claims-dir", type=Path, default=None, help="keep the claims here")
    args = ap.parse_args(argv)
    visits = 300_000 if args.quick else args.visits
    engines = args.engine or ["columnar", "duckdb"]
    folder = args.claims_dir or Path(tempfile.mkdtemp(prefix="policylang-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path, n = claims(visits, folder)
    print(
        f"{'engine':<10}{'visits':>12}{'partitions':>12}{'seconds':>10}"
        f"{'visits/s':>12}{'CPU s':>8}{'peak MB':>10}"
    )
    for engine in engines:
        if len(engines) > 1:  # one process per engine, so that ru_maxrss is this engine's
            cmd = [sys.executable, __file__, "--visits", str(visits), "--engine", engine,
                   "--claims-dir", str(folder)]  # fmt: skip
            if args.memory_limit:
                cmd += ["--memory-limit", args.memory_limit]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            print(line.strip().splitlines()[-1], flush=True)
            continue
        out = folder / f"out-{engine}"
        r = run_one(path, engine, args.memory_limit, out)
        shutil.rmtree(out, ignore_errors=True)
        print(
            f"{engine:<10}{r['visits']:>12,}{r['partitions']:>12}{r['seconds']:>10.1f}"
            f"{r['visits'] / r['seconds']:>12,.0f}{r['cpu']:>8.1f}{r['peak_mb']:>10,.0f}",
            flush=True,
        )
    if args.claims_dir is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
