"""Settlement speed and memory: policylang against a plain hand-written reference,
both measured in the same run.

    python benchmarks/run.py            # 100,000 visits, best of 3; columnar: 1,000,000
    python benchmarks/run.py --quick    # best of 2, columnar on 300,000; under 2 minutes
    python benchmarks/run.py --visits 20000 --check

    python benchmarks/run.py --sql      # the SQL section: DuckDB, 10,000,000 visits
    python benchmarks/run.py --sql --quick   # the same on 1,000,000 visits

    python benchmarks/run.py --spark    # the Spark section: local[*], 10,000,000 visits
    python benchmarks/run.py --spark --quick --spark-visits 1000000

The target (issue tracker): on 100k visits, validation included, ``settle(...,
trace=False)`` within 1.2x of a plain Python function doing the same work, and the
traced ``settle`` (with every trace step read) within 3x.  The plain reference is
``benchmarks/plain.py``: the same checks on the raw JSON records and the same result
fields, written by hand for the Guiyang policy.

Before anything is timed, policylang and the reference must agree on every result
field of every visit, and must reject the same fields of the same bad records;
otherwise the run stops and shows the first difference.  Peak memory is measured
per configuration in a fresh subprocess.  The exit status is 0 whatever the ratios
(this is a report); ``--check`` makes it 1 when a target is missed.

**Columnar.**  A second section times ``CompiledPolicy.settle_table`` on an Arrow table
of visits held in memory (1,000,000 by default, ``--columnar-visits``) against a
hand-tuned NumPy settlement of the same rules (``benchmarks/plain_numpy.py``: integer
fen, one sort, running sums and closed forms), target within 1.3x.  The two result
tables must be equal column for column, and a sample of persons must settle alike
through ``settle`` (the JSON path), before anything is timed.  It needs the columnar
extra (numpy, pyarrow) and is skipped, saying so, without it; ``--no-columnar`` skips it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

import plain  # noqa: E402
import policylang  # noqa: E402

POLICY = ROOT / "policies" / "guiyang-2022.pol"
TARGETS = {"untraced": 1.2, "traced": 3.0}
COLUMNAR_TARGET = 1.3
LABELS = {
    "plain": "plain reference",
    "untraced": "policylang settle(trace=False)",
    "traced": "policylang settle() + read traces",
}


# ---- data ----------------------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def make_visits(n: int, seed: int = 7) -> list[dict]:
    """``n`` raw JSON visit records, about 20 per person, dated 2022-10-01..2024-03-31:
    before pooling starts (not in force, account only), across the change of year, and
    with bills below, at and above the deductible and large enough to reach the cap."""
    rnd = random.Random(seed)
    persons = []
    for p in range(max(1, n // 20)):
        retiree = rnd.random() < 0.3
        psn_type = (
            ("退休" if retiree else "在职")
            if rnd.random() < 0.03
            else ("retiree" if retiree else "active")
        )
        persons.append((f"P{p:06d}", psn_type, rnd.random() < 0.1))
    levels = ["unrated", "level1", "level2", "level3"]
    aliases = {"unrated": "未定级", "level1": "一级", "level2": "二级", "level3": "三级"}
    start = dt.date(2022, 10, 1)
    span = (dt.date(2024, 3, 31) - start).days
    out = []
    for _ in range(n):
        psn_no, psn_type, flexible = rnd.choice(persons)
        day = start + dt.timedelta(days=rnd.randint(0, span))
        setl_time = _setl_time(rnd, day)
        total = _bill(rnd)
        hosp_lv = rnd.choice(levels)
        v = {
            "psn_no": psn_no,
            "psn_type": psn_type,
            "flxempe_flag": flexible,
            "setl_time": setl_time,
            "hosp_lv": aliases[hosp_lv] if rnd.random() < 0.03 else hosp_lv,
            "medfee_sumamt": _yuan(total),
        }
        _self_paid(rnd, v, total)
        r = rnd.random()
        if r < 0.05:
            v["designated"] = False
        elif r < 0.35:
            v["designated"] = True
        if rnd.random() < 0.15:
            v["acct_balc"] = _yuan(rnd.randint(0, 300_000))
        out.append(v)
    return out


# the helpers of make_visits draw from ``rnd`` in the order it always did (same seed, same
# visits)


def _setl_time(rnd: random.Random, day: dt.date) -> str:
    shape = rnd.random()
    if shape < 0.5:
        return day.isoformat()
    if shape < 0.8:
        return f"{day} {rnd.randint(7, 20):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}"
    return f"{day}T{rnd.randint(7, 20):02d}:{rnd.randint(0, 59):02d}"


def _bill(rnd: random.Random) -> int:
    """The bill in fen."""
    size = rnd.random()
    if size < 0.03:
        return rnd.choice([0, 1, 15000, 15001])  # nothing, a fen, at the deductible
    if size < 0.25:
        return rnd.randint(1, 15_000)  # within the deductible
    if size < 0.90:
        return rnd.randint(15_000, 60_000)
    return rnd.randint(60_000, 400_000)  # brings the cap near


def _self_paid(rnd: random.Random, v: dict, total: int) -> None:
    left = total
    for field, share in (
        ("fulamt_ownpay_amt", 0.3),
        ("overlmt_selfpay", 0.1),
        ("preselfpay_amt", 0.2),
    ):
        if rnd.random() < share:
            part = rnd.randint(0, left // 3)
            left -= part
            v[field] = _yuan(part)
    if rnd.random() < 0.01 and left == total:
        v["fulamt_ownpay_amt"] = _yuan(total)  # all self-paid: no in-policy amount


# ---- agreement -------------------------------------------------------------------------


class Disagreement(Exception):
    pass


def check_agreement(
    plain_results: list[dict], lib_results: list, records: list[dict], what: str
) -> None:
    """Every result field (as the JSON contract writes it) must be the same; ``message`` and
    ``trace`` are policylang's alone.  The fields the issue names (hifp_pay, act_pay_dedc,
    acct_pay, balc, reason) are among them."""
    if len(plain_results) != len(lib_results):
        raise Disagreement(
            f"{what}: {len(lib_results)} results from policylang, {len(plain_results)} from the "
            f"plain reference"
        )
    for i, (p, r) in enumerate(zip(plain_results, lib_results, strict=True)):
        mine = plain.to_json(p)
        theirs = r.to_json(trace=False)
        diff = [f for f in plain.RESULT_FIELDS if mine[f] != theirs.get(f)]
        if diff:
            lines = [
                f"{what}: policylang and the plain reference disagree on record {i + 1} "
                f"(fields: {', '.join(diff)})",
                f"  input:      {json.dumps(records[i], ensure_ascii=False)}",
            ]
            lines += [f"  {f}: plain {mine[f]!r}, policylang {theirs.get(f)!r}" for f in diff]
            raise Disagreement("\n".join(lines))


# Records both must reject, each for the field named; and records both must accept.
BAD = [
    ({"hosp_level": "level1"}, "hosp_level"),
    ({"medfee_sumamt": None}, "medfee_sumamt"),
    ({"psn_type": "boss"}, "psn_type"),
    ({"psn_type": 1}, "psn_type"),
    ({"hosp_lv": "level4"}, "hosp_lv"),
    ({"setl_time": "2023-13-01"}, "setl_time"),
    ({"setl_time": "2023/03/01"}, "setl_time"),
    ({"setl_time": "20230301"}, "setl_time"),
    ({"setl_time": "2023-03-01T10:30+08:00"}, "setl_time"),
    ({"setl_time": 20230301}, "setl_time"),
    ({"setl_time": "2023-03-01T10"}, "setl_time"),
    ({"setl_time": "2023-03-01T10:30:00.5"}, "setl_time"),
    ({"setl_time": "20230301T1030"}, "setl_time"),
    ({"medfee_sumamt": "\u0664\u0665\u0660"}, "medfee_sumamt"),
    ({"medfee_sumamt": "12.345"}, "medfee_sumamt"),
    ({"medfee_sumamt": "1000000000000000.00"}, "medfee_sumamt"),
    ({"medfee_sumamt": "-5.00"}, "medfee_sumamt"),
    ({"medfee_sumamt": "12,00"}, "medfee_sumamt"),
    ({"medfee_sumamt": "1e3"}, "medfee_sumamt"),
    ({"medfee_sumamt": True}, "medfee_sumamt"),
    ({"acct_balc": "-0.01"}, "acct_balc"),
    ({"flxempe_flag": "true"}, "flxempe_flag"),
    ({"designated": 1}, "designated"),
    ({"psn_no": ""}, "psn_no"),
    ({"psn_no": "  "}, "psn_no"),
    (
        {"medfee_sumamt": "10.00", "fulamt_ownpay_amt": "6.00", "preselfpay_amt": "4.01"},
        "medfee_sumamt",
    ),
]
# each its own person, but for the last four: the order within a day, and a balance carried on
GOOD = [
    {"medfee_sumamt": "12.340"},
    {"medfee_sumamt": "+5"},
    {"medfee_sumamt": " 7.5 "},
    {"medfee_sumamt": 300},
    {"medfee_sumamt": "999999999999999.99"},
    {"medfee_sumamt": "000000000000000000001.00"},
    {"fulamt_ownpay_amt": "-0.00"},
    {"psn_no": 7},
    {"psn_type": "退休", "hosp_lv": "三级", "designated": True},
    {"acct_balc": None, "designated": None},
    {"medfee_sumamt": "\uff14\uff15\uff10\uff0e\uff10\uff10"},
    {"setl_time": "\uff12\uff10\uff12\uff13-\uff10\uff13-\uff10\uff11 10:30"},
    {
        "medfee_sumamt": "10.00",
        "fulamt_ownpay_amt": "6.00",
        "preselfpay_amt": "4.00",
        "acct_balc": "1.00",
    },
    {"psn_no": "DAY", "setl_time": "2023-03-01T10:30"},
    {"psn_no": "DAY", "setl_time": " 2023-03-01 "},
    {"psn_no": "DAY", "setl_time": "2023-03-01 00:00:00", "acct_balc": "500.00"},
    {"psn_no": "DAY", "setl_time": "2023-03-01", "acct_balc": "20.00"},
]
_BASE = {
    "psn_no": "E1",
    "psn_type": "active",
    "flxempe_flag": False,
    "setl_time": "2023-02-01",
    "hosp_lv": "level2",
    "medfee_sumamt": "400.00",
}


def check_edge_cases(policy) -> None:
    """The reference validates exactly like the library on edge cases: the same fields of
    the same records rejected, and the same results for the unusual but valid spellings."""
    bad = [{**_BASE, **change} for change, _ in BAD] + [["not", "an", "object"]]
    expected = {(i, field) for i, (_, field) in enumerate(BAD, start=1)} | {(len(bad), "(record)")}
    try:
        policy.settle(bad, trace=False)
        raise Disagreement("validation: policylang accepted records it should reject")
    except policylang.InputError as e:
        lib = {(p.record, p.field) for p in e.problems}
    try:
        plain.plain_settle(bad)
        raise Disagreement("validation: the plain reference accepted records it should reject")
    except plain.PlainInputError as e:
        ref = {(r, f) for r, f, _ in e.problems}
    if lib != ref or lib != expected:
        raise Disagreement(
            "validation: the rejected (record, field) pairs differ\n"
            f"  only by policylang:               {sorted(lib - ref)}\n"
            f"  only by the plain reference:      {sorted(ref - lib)}\n"
            f"  expected but missed by either:    {sorted(expected - (lib & ref))}"
        )
    good = [{**_BASE, "psn_no": f"G{i}", **change} for i, change in enumerate(GOOD, start=1)]
    check_agreement(plain.plain_settle(good), policy.settle(good, trace=False), good, "edge cases")


# ---- the measured configurations --------------------------------------------------------


def run_plain(policy, records):
    return plain.plain_settle(records)


def run_untraced(policy, records):
    return policy.settle(records, trace=False)


def run_traced(policy, records):
    results = policy.settle(records)
    for r in results:  # traces may be built lazily: reading them is part of the cost
        for step in r.trace:
            _ = step.value
    return results


CONFIGS = {"plain": run_plain, "untraced": run_untraced, "traced": run_traced}


def time_all(policy, records, repeats: int, collect: bool = True) -> dict[str, float]:
    """Best time of each configuration; the repeats go round the configurations in turn so
    that a slow patch of the machine does not land on one of them only.  ``collect=False``
    times with the cyclic garbage collector off (a diagnostic; the targets are with it on)."""
    best = {name: float("inf") for name in CONFIGS}
    for _ in range(repeats):
        for name, fn in CONFIGS.items():
            gc.collect()
            if not collect:
                gc.disable()
            t0 = time.perf_counter()
            result = fn(policy, records)
            elapsed = time.perf_counter() - t0
            gc.enable()
            del result
            best[name] = min(best[name], elapsed)
    return best


def _maxrss_kb() -> int:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb // 1024 if sys.platform == "darwin" else kb  # macOS reports bytes


def memory_child(name: str, n: int, seed: int) -> None:
    """In a fresh interpreter: the peak RSS one configuration adds to the baseline after
    imports, policy loading and data generation.  Prints one JSON line."""
    policy = policylang.load(POLICY)
    if name in COLUMNAR_CONFIGS:
        import plain_numpy

        data = plain_numpy.make_table(n, seed)
        run = COLUMNAR_CONFIGS[name]
    else:
        data = make_visits(n, seed)
        run = CONFIGS[name]
    gc.collect()
    baseline = _maxrss_kb()
    result = run(policy, data)
    peak = _maxrss_kb()
    print(
        json.dumps(
            {"config": name, "baseline_kb": baseline, "peak_kb": peak, "results": len(result)}
        )
    )


def measure_memory(n: int, seed: int, configs=None) -> dict[str, float | None]:
    """MB per configuration.  Must run while this process is still small: Linux carries the
    parent's peak RSS over into a child's ru_maxrss across fork+exec, so a child started
    by a large parent reports the parent's peak (checked below)."""
    out = {}
    for name in configs or CONFIGS:
        parent_peak = _maxrss_kb()
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--memory-child",
                name,
                "--visits",
                str(n),
                "--seed",
                str(seed),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(f"memory measurement of {name} failed:\n{proc.stderr}", file=sys.stderr)
            out[name] = None
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        if m["baseline_kb"] <= parent_peak:
            print(
                f"warning: the {name} child's baseline may be the parent's peak; its memory "
                "figure is unreliable",
                file=sys.stderr,
            )
        out[name] = (m["peak_kb"] - m["baseline_kb"]) / 1024
    return out


# ---- columnar: settle_table against a hand-tuned NumPy settlement -------------------------------


def run_numpy(policy, table):
    import plain_numpy

    return plain_numpy.numpy_settle(table)


def run_columnar(policy, table):
    return policy.settle_table(table)


COLUMNAR_CONFIGS = {"numpy": run_numpy, "columnar": run_columnar}
COLUMNAR_LABELS = {"numpy": "hand-tuned NumPy reference", "columnar": "policylang settle_table()"}


def check_columnar_agreement(want, got, what: str = "columnar") -> None:
    """The two result tables must be equal: the same columns, types and values.  policylang
    also writes the audit fields after them (setl_id, mdtrt_id, op, seq, policy, ir_hash),
    which the hand-tuned reference leaves out: more work on policylang's side, not compared."""
    if got.column_names[: len(want.column_names)] == want.column_names:
        got = got.select(want.column_names)
    if want.column_names != got.column_names:
        raise Disagreement(
            f"{what}: columns differ\n  NumPy:      {want.column_names}\n"
            f"  policylang: {got.column_names}"
        )
    for name in want.column_names:
        a, b = want.column(name), got.column(name)
        if a.type != b.type:
            raise Disagreement(
                f"{what}: column {name} is {b.type} from policylang, {a.type} from NumPy"
            )
        if not a.equals(b):
            row = next(
                i
                for i, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True))
                if x != y
            )
            raise Disagreement(
                f"{what}: policylang and the NumPy reference disagree on row {row} (column "
                f"{name}): NumPy {a[row].as_py()!r}, policylang {b[row].as_py()!r}"
            )


def check_columnar_against_settle(policy, table, persons: int = 300) -> int:
    """The visits of some persons, through settle (the JSON path, records from the table):
    the same numbers as settle_table.  Keeps both columnar implementations honest."""
    import pyarrow.compute as pc

    names = pc.unique(table.column("psn_no")).slice(0, persons)
    sample = table.filter(pc.is_in(table.column("psn_no"), value_set=names))
    records = [{k: v for k, v in row.items() if v is not None} for row in sample.to_pylist()]
    got = policy.settle_table(sample)
    want = policy.settle(records, trace=False)
    for i, (row, r) in enumerate(zip(got.to_pylist(), want, strict=True)):
        j = r.to_json(trace=False)
        mine = {
            k: (None if row[k] is None else str(row[k]))
            for k in ("hifp_pay", "act_pay_dedc", "acct_pay", "balc", "psn_cash_pay")
        }
        if mine != {k: j[k] for k in mine} or row["reason"] != j["reason"]:
            raise Disagreement(
                f"columnar: settle_table and settle disagree on sampled row {i}: {mine}, "
                f"{row['reason']!r} against {j}"
            )
    return len(records)


def columnar_section(args, n: int, repeats: int, memory: dict) -> list[str]:
    """Print the columnar comparison; returns the names of missed targets."""
    import plain_numpy

    policy = policylang.load(POLICY)
    table = plain_numpy.make_table(n, args.seed)
    try:
        want = plain_numpy.numpy_settle(table)
        check_columnar_agreement(want, policy.settle_table(table))
        sampled = check_columnar_against_settle(policy, table)
    except Disagreement as e:
        print(f"ABORT: {e}", file=sys.stderr)
        return ["columnar (disagreement)"]
    reasons = dict(
        zip(*[x.to_pylist() for x in want.column("reason").value_counts().flatten()], strict=True)
    )
    columns = want.num_columns
    del want
    mix = ", ".join(
        f"{k or 'paid'} {v / n:.0%}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])
    )
    print()
    print(
        f"columnar: {n:,} visits in an Arrow table (timestamps, decimal128, text), seed "
        f"{args.seed}: {mix}"
    )
    print(
        f"agreement: all {columns} result columns equal, and {sampled:,} visits of sampled persons "
        "equal settle()"
    )
    print(
        f"timing:  best of {repeats}, validation of the table included, results as an Arrow table"
    )
    sys.stdout.flush()
    best = {name: float("inf") for name in COLUMNAR_CONFIGS}
    for _ in range(repeats):
        for name, fn in COLUMNAR_CONFIGS.items():
            gc.collect()
            t0 = time.perf_counter()
            result = fn(policy, table)
            best[name] = min(best[name], time.perf_counter() - t0)
            del result
    base = best["numpy"]
    print()
    print(
        f"{'configuration':<36}{'visits':>10}"
        f"{'seconds':>10}{'visits/s':>12}{'vs NumPy':>10}{'peak MB':>10}"
    )
    for name in COLUMNAR_CONFIGS:
        t = best[name]
        mb = "n/a" if memory.get(name) is None else f"{memory[name]:.1f}"
        print(
            f"{COLUMNAR_LABELS[name]:<36}{n:>10,}{t:>10.3f}{n / t:>12,.0f}{t / base:>9.2f}x{mb:>10}"
        )
    ratio = best["columnar"] / base
    print()
    print(f"columnar {ratio:.2f}x (target <= {COLUMNAR_TARGET:g}x)")
    return ["columnar"] if ratio > COLUMNAR_TARGET else []


def _columnar_available() -> str | None:
    try:
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as e:
        return f"{e.name} is missing: pip install 'policylang[columnar]'"
    return None


# ---- report ----------------------------------------------------------------------------------


def _source() -> str:
    """Which policylang is measured: the commit of this checkout, and whether it is modified."""
    where = Path(policylang.__file__).resolve().parent
    if where != ROOT / "policylang":
        return f"from {where}"
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "policylang"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "at an unknown commit"
    return f"at commit {commit or '?'}" + (" with uncommitted changes" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine_facts() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: {os.cpu_count()} cores ({usable} usable), {_cpu_model()}, {platform.system()} "
        f"{platform.release()}, load average {_load()}\npython:  "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"policylang {getattr(policylang, '__version__', '?')} {_source()}"
    )


def reason_mix(results: list[dict]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        key = r["reason"] or "paid"
        counts[key] = counts.get(key, 0) + 1
    paid_acct = sum(1 for r in results if r["acct_pay"])
    parts = [
        f"{k} {v / len(results):.0%}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    return ", ".join(parts) + f"; account paid on {paid_acct / len(results):.0%}"


def _print_table(best: dict, memory: dict, n: int, no_memory: bool) -> None:
    base = best["plain"]
    print()
    print(
        f"{'configuration':<36}{'visits':>9}"
        f"{'seconds':>10}{'visits/s':>11}{'vs plain':>10}{'peak MB':>10}"
    )
    for name in CONFIGS:
        t = best[name]
        mb = "n/a" if memory[name] is None else f"{memory[name]:.1f}"
        print(f"{LABELS[name]:<36}{n:>9,}{t:>10.3f}{n / t:>11,.0f}{t / base:>9.2f}x{mb:>10}")
    if not no_memory:
        print(
            "peak MB: growth of peak RSS (ru_maxrss) over the baseline after imports, policy "
            "loading and data "
            "generation, one fresh subprocess per configuration, results kept alive"
        )


def _settings(ap: argparse.ArgumentParser, args: argparse.Namespace) -> tuple:
    """(repeats, visits of the columnar comparison, why it cannot run or None)."""
    repeats = args.repeat or (2 if args.quick else 3)
    columnar_n = args.columnar_visits or (300_000 if args.quick else 1_000_000)
    if columnar_n < 1:
        ap.error("--columnar-visits must be at least 1")
    return repeats, columnar_n, None if args.no_columnar else _columnar_available()


def _section(args):
    """The section selected instead of the Python one: SQL (--sql), Spark (--spark)."""
    if args.sql or args.sql_memory_child:
        return sql_section
    if args.spark or args.spark_memory_child:
        return spark_section
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="best of 2 instead of 3 (same 100k visits)"
    )
    ap.add_argument("--visits", type=int, default=100_000, help="number of visits (default 100000)")
    ap.add_argument(
        "--repeat", type=int, default=None, help="repeats per configuration (best is kept)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument(
        "--no-gc",
        action="store_true",
        help="time with the cyclic garbage collector off (to see its share; targets assume it on)",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument(
        "--sql",
        action="store_true",
        help="run the SQL section instead: the DuckDB backend's query against hand-written SQL",
    )
    ap.add_argument(
        "--sql-visits",
        type=int,
        default=None,
        help="visits for the SQL section (default 10,000,000; 1,000,000 with --quick)",
    )
    ap.add_argument("--sql-memory-child", choices=list(SQL_CONFIGS), help=argparse.SUPPRESS)
    ap.add_argument(
        "--spark",
        action="store_true",
        help="run the Spark section instead: the Spark backend against hand-written Spark SQL",
    )
    ap.add_argument(
        "--spark-visits",
        type=int,
        default=None,
        help="visits for the Spark section (default 10,000,000; 1,000,000 with --quick)",
    )
    ap.add_argument("--spark-master", default=None, help="Spark master URL (default local[*])")
    ap.add_argument("--spark-memory-child", choices=list(SPARK_CONFIGS), help=argparse.SUPPRESS)
    ap.add_argument(
        "--columnar-visits",
        type=int,
        default=None,
        help="visits in the columnar comparison (default 1000000; 300000 with --quick)",
    )
    ap.add_argument("--no-columnar", action="store_true", help="skip the columnar comparison")
    ap.add_argument("--memory-child", choices=[*CONFIGS, *COLUMNAR_CONFIGS], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    section = _section(args)
    if section is not None:  # the SQL or the Spark section instead
        return section(args)
    n = args.visits
    if n < 1:
        ap.error("--visits must be at least 1")
    if args.memory_child:
        memory_child(args.memory_child, n, args.seed)
        return 0
    repeats, columnar_n, missing = _settings(ap, args)
    columnar = not args.no_columnar and missing is None

    print("policylang settlement benchmark: policies/guiyang-2022.pol against benchmarks/plain.py")
    print(machine_facts())
    sys.stdout.flush()

    # first, while this process is small (see measure_memory)
    memory = {name: None for name in CONFIGS} if args.no_memory else measure_memory(n, args.seed)
    columnar_memory: dict = {}
    if columnar and not args.no_memory:
        columnar_memory = measure_memory(columnar_n, args.seed, COLUMNAR_CONFIGS)

    policy = policylang.load(POLICY)
    records = make_visits(n, args.seed)
    try:
        check_edge_cases(policy)
        ref = plain.plain_settle(records)
        check_agreement(ref, policy.settle(records, trace=False), records, "untraced")
        check_agreement(ref, policy.settle(records), records, "traced")
    except Disagreement as e:
        print(f"ABORT: {e}", file=sys.stderr)
        return 2
    persons = len({r["psn_no"] for r in ref})
    print(f"data:    {n:,} visits of {persons:,} persons, seed {args.seed}: {reason_mix(ref)}")
    print(
        f"agreement: all {len(plain.RESULT_FIELDS)} result fields of every visit, untraced and "
        "traced; "
        f"{len(BAD) + 1} bad and {len(GOOD)} unusual records validated alike"
    )
    del ref
    print(
        f"timing:  best of {repeats}{' (--quick)' if args.quick else ''}, garbage collector "
        f"{'OFF (--no-gc)' if args.no_gc else 'on'}, validation included"
    )
    sys.stdout.flush()

    best = time_all(policy, records, repeats, collect=not args.no_gc)
    base = best["plain"]
    _print_table(best, memory, n, args.no_memory)
    print()
    ratios = {name: best[name] / base for name in TARGETS}
    print(
        "  ".join(f"{name} {ratios[name]:.2f}x (target <= {TARGETS[name]:g}x)" for name in TARGETS)
    )
    missed = [name for name in TARGETS if ratios[name] > TARGETS[name]]
    del records
    if columnar:
        missed += columnar_section(args, columnar_n, repeats, columnar_memory)
        if "columnar (disagreement)" in missed:
            return 2
    elif args.no_columnar:
        print("\ncolumnar: skipped (--no-columnar)")
    else:
        print(f"\ncolumnar: skipped ({missing})")
    if args.check and missed:
        print(f"target missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


# ---- the SQL section: the DuckDB backend against hand-written DuckDB SQL ------------------------
# Kept apart from the Python section above: its own data (generated in DuckDB), its own
# configurations and targets, selected with --sql.

SQL_TARGET = 1.5
SQL_CONFIGS = {
    "generated": "DuckDB backend (generated query)",
    "hand": "hand-written DuckDB window SQL",
}


def _sql_queries(con) -> dict[str, str]:
    import plain_sql
    from policylang.backends.sql.duckdb import DuckDB

    policy = policylang.load(POLICY).ir
    # ordered=False: both write their rows to a table in whatever order; neither sorts by row_no
    return {
        "generated": DuckDB.table_query(policy, con, "visits", ordered=False),
        "hand": plain_sql.HAND_SQL,
    }


def _sql_setup(n: int, seed: int):
    import duckdb
    import plain_sql

    con = duckdb.connect()
    con.execute(plain_sql.generate_sql(n, seed))
    return con


def _sql_record(v: dict) -> dict:
    """The JSON record of a row of the visits table."""
    record = {
        "psn_no": v["psn_no"],
        "psn_type": v["psn_type"],
        "flxempe_flag": v["flxempe_flag"],
        "setl_time": (
            v["setl_time"].isoformat(sep=" ") if v["setl_time"] else v["setl_date"].isoformat()
        ),
        "hosp_lv": v["hosp_lv"],
        "medfee_sumamt": _yuan(v["medfee_sumamt"]),
    }
    for f in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "acct_balc"):
        if v[f] is not None:
            record[f] = _yuan(v[f])
    if v["designated"] is not None:
        record["designated"] = v["designated"]
    return record


def _sql_pair(c: str, mine, theirs) -> tuple:
    """A result column from policylang and from the query, in one form to compare."""
    if c == "pool_prop_selfpay":
        return (
            None if mine is None else format(Decimal(mine).normalize(), "f"),
            None if theirs is None else format(Decimal(theirs).scaleb(-4).normalize(), "f"),
        )
    if c == "reason":
        return mine, theirs
    return mine, None if theirs is None else _yuan(theirs)


def sql_check(con, sample_persons: int = 2000) -> str:
    """Before timing: the generated and the hand-written query agree on every result column
    of every visit, and the generated one agrees with policylang's Python settle on every
    visit of a sample of persons (so the hand-written SQL is right as well)."""
    import plain_sql

    queries = _sql_queries(con)
    for name, sql in queries.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE out_{name} AS {sql}")
    cols = plain_sql.RESULT_COLUMNS
    differ = " OR ".join(f"g.{c} IS DISTINCT FROM h.{c}" for c in cols)
    counts = con.sql(
        "SELECT (SELECT COUNT(*) FROM visits), (SELECT COUNT(*) FROM out_generated), "
        "(SELECT COUNT(*) FROM out_hand)"
    ).fetchall()[0]
    if len(set(counts)) != 1:
        raise Disagreement(
            f"sql: {counts[0]} visits, {counts[1]} generated rows, {counts[2]} hand-written rows"
        )
    bad = con.sql(
        f"SELECT g.*, h.* FROM out_generated g JOIN out_hand h USING (row_no) WHERE {differ} "
        "ORDER BY row_no LIMIT 1"
    ).fetchall()
    if bad:
        raise Disagreement(f"sql: the generated and the hand-written query disagree: {bad[0]}")
    # the generated query against the library on every visit of a sample of persons
    rows = con.sql(f"""SELECT v.*, {", ".join("g." + c for c in cols)}
                      FROM visits v JOIN out_generated g USING (row_no)
                      WHERE v.psn_no IN (SELECT DISTINCT psn_no FROM visits ORDER BY psn_no
                                         LIMIT {sample_persons})
                      ORDER BY row_no""").fetchall()
    names = [d[0] for d in con.sql("SELECT * FROM visits LIMIT 0").description]
    records, expected = [], []
    for row in rows:
        records.append(_sql_record(dict(zip(names, row[: len(names)], strict=True))))
        expected.append(dict(zip(cols, row[len(names) :], strict=True)))
    results = policylang.load(POLICY).settle(records, trace=False)
    for i, (r, e) in enumerate(zip(results, expected, strict=True)):
        j = r.to_json(trace=False)
        for c in cols:
            mine, theirs = _sql_pair(c, j[c], e[c])
            if mine != theirs:
                raise Disagreement(
                    f"sql: the generated query and policylang disagree on {c} of "
                    f"{json.dumps(records[i], ensure_ascii=False)}: {theirs!r} against {mine!r}"
                )
    mix = con.sql(
        "SELECT COALESCE(reason, 'paid'), COUNT(*) FROM out_generated GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()
    paid_acct = con.sql(
        "SELECT AVG(CASE WHEN acct_pay > 0 THEN 1 ELSE 0 END) FROM out_generated"
    ).fetchall()[0][0]
    for name in queries:
        con.execute(f"DROP TABLE out_{name}")
    total = sum(c for _, c in mix)
    return (
        ", ".join(f"{k} {c / total:.0%}" for k, c in mix) + f"; account paid on {paid_acct:.0%}",
        len(records),
    )


def sql_time(con, repeats: int) -> dict[str, float]:
    """Best time per query, each writing its result to a table; the repeats go round the
    queries in turn."""
    queries = _sql_queries(con)
    best = {name: float("inf") for name in queries}
    for _ in range(repeats):
        for name, sql in queries.items():
            t0 = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP TABLE out_{name} AS {sql}")
            best[name] = min(best[name], time.perf_counter() - t0)
            con.execute(f"DROP TABLE out_{name}")
    return best


def sql_memory_child(name: str, n: int, seed: int) -> None:
    con = _sql_setup(n, seed)
    sql = _sql_queries(con)[name]
    gc.collect()
    baseline = _maxrss_kb()
    con.execute(f"CREATE TEMP TABLE out AS {sql}")
    print(json.dumps({"config": name, "baseline_kb": baseline, "peak_kb": _maxrss_kb()}))


def sql_memory(n: int, seed: int) -> dict[str, float | None]:
    """Peak RSS growth of each query over the baseline after generating the table, one fresh
    process each (DuckDB runs in the process, so its memory is in ru_maxrss)."""
    out: dict[str, float | None] = {}
    for name in SQL_CONFIGS:
        proc = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--sql-memory-child",
                name,
                "--sql-visits",
                str(n),
                "--seed",
                str(seed),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(f"memory measurement of {name} failed:\n{proc.stderr}", file=sys.stderr)
            out[name] = None
            continue
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        out[name] = (m["peak_kb"] - m["baseline_kb"]) / 1024
    return out


def sql_section(args) -> int:
    """The DuckDB backend's generated query for the Guiyang rules against a hand-written
    window query, on visits generated in DuckDB; both checked equal (and against policylang)
    before anything is timed.  Target: the generated query within 1.5x."""
    try:
        import duckdb
        import plain_sql  # noqa: F401
    except ImportError as e:
        print(
            f"the SQL section needs DuckDB, sqlglot and pyarrow ({e.name} is missing): pip install "
            "'policylang[sql]'",
            file=sys.stderr,
        )
        return 2
    n = args.sql_visits or (1_000_000 if args.quick else 10_000_000)
    if args.sql_memory_child:
        sql_memory_child(args.sql_memory_child, n, args.seed)
        return 0
    repeats = args.repeat or (2 if args.quick else 3)
    print(
        "policylang SQL benchmark: policies/guiyang-2022.pol, the DuckDB backend's query against "
        "benchmarks/plain_sql.py"
    )
    print(machine_facts() + f", duckdb {duckdb.__version__}")
    sys.stdout.flush()
    memory = {name: None for name in SQL_CONFIGS} if args.no_memory else sql_memory(n, args.seed)
    t0 = time.perf_counter()
    con = _sql_setup(n, args.seed)
    made = time.perf_counter() - t0
    try:
        mix, sampled = sql_check(con)
    except Disagreement as e:
        print(f"ABORT: {e}", file=sys.stderr)
        return 2
    persons = con.sql("SELECT COUNT(DISTINCT psn_no) FROM visits").fetchall()[0][0]
    print(
        f"data:    {n:,} visits of {persons:,} persons generated in DuckDB ({made:.1f} s), seed "
        f"{args.seed}: {mix}"
    )
    print(
        "agreement: every result column of every visit, generated against hand-written; and "
        "against "
        f"policylang's Python settle on all {sampled:,} visits of 2,000 persons"
    )
    threads = con.sql("SELECT current_setting('threads')").fetchall()[0][0]
    print(
        f"timing:  best of {repeats}{' (--quick)' if args.quick else ''}, each query writes its "
        "result to a "
        f"temporary table; DuckDB threads {threads}"
    )
    sys.stdout.flush()
    best = sql_time(con, repeats)
    base = best["hand"]
    print()
    print(
        f"{'configuration':<36}{'visits':>12}"
        f"{'seconds':>10}{'visits/s':>12}{'vs hand':>10}{'peak MB':>10}"
    )
    for name, label in SQL_CONFIGS.items():
        t = best[name]
        mb = "n/a" if memory[name] is None else f"{memory[name]:.0f}"
        print(f"{label:<36}{n:>12,}{t:>10.2f}{n / t:>12,.0f}{t / base:>9.2f}x{mb:>10}")
    if not args.no_memory:
        print(
            "peak MB: growth of peak RSS (ru_maxrss) over the baseline after generating the "
            "table, one fresh "
            "subprocess per configuration"
        )
    ratio = best["generated"] / base
    print()
    print(f"generated {ratio:.2f}x the hand-written query (target <= {SQL_TARGET:g}x)")
    if args.check and ratio > SQL_TARGET:
        print("target missed: generated", file=sys.stderr)
        return 1
    return 0


# ---- the Spark section: the Spark backend against hand-written Spark SQL --------------------
# Visits generated in DuckDB (plain_sql.generate_sql), written to Parquet and read by Spark;
# each configuration reads them and writes its results to Parquet, as a job on a cluster would.

SPARK_CONFIGS = {
    "generated": "Spark backend (settle_frame)",
    "hand": "hand-written Spark SQL",
}
# a local run on this machine: the driver's heap holds the sort of ten million visits
SPARK_CONF = {"spark.driver.memory": "6g", "spark.sql.shuffle.partitions": "8"}


def _spark_session(master: str | None):
    from policylang.backends.sql import spark as spark_backend

    return spark_backend.session(master or "local[*]", SPARK_CONF)


def _spark_data(n: int, seed: int, folder: str) -> tuple[str, float]:
    """The visits as Parquet (generated in DuckDB), and the seconds that took."""
    t0 = time.perf_counter()
    con = _sql_setup(n, seed)
    path = str(Path(folder) / "visits.parquet")
    con.execute(f"COPY visits TO '{path}' (FORMAT PARQUET)")
    con.close()
    return path, time.perf_counter() - t0


def _spark_job(spark, name: str, visits_path: str, out: str) -> None:
    import plain_spark
    from policylang.backends.sql.spark import Spark

    visits = spark.read.parquet(visits_path)
    if name == "generated":
        frame = Spark(policylang.load(POLICY).ir, tracing=False, spark=spark).settle_frame(
            visits, {}
        )
        frame = frame.select("row_no", *plain_spark.RESULT_COLUMNS)
    else:
        visits.createOrReplaceTempView("visits")
        frame = spark.sql(plain_spark.HAND_SQL)
    frame.write.mode("overwrite").parquet(out)


def spark_check(folder: str, visits_path: str) -> str:
    """Before timing: the Spark backend's results equal the hand-written Spark SQL's and the
    DuckDB backend's (checked against policylang's Python settle by the SQL section) on
    every result column of every visit."""
    import duckdb
    import plain_sql

    from policylang.backends.sql.duckdb import DuckDB

    con = duckdb.connect()
    con.execute(f"CREATE VIEW visits AS SELECT * FROM '{visits_path}'")
    sql = DuckDB.table_query(policylang.load(POLICY).ir, con, "visits", ordered=False)
    con.execute(f"CREATE TABLE out_duckdb AS {sql}")
    cols = plain_sql.RESULT_COLUMNS
    for other in ("hand", "duckdb"):
        source = "out_duckdb" if other == "duckdb" else f"'{folder}/out_hand/*.parquet'"
        differ = " OR ".join(f"g.{c} IS DISTINCT FROM h.{c}" for c in cols)
        counts = con.sql(
            f"SELECT (SELECT COUNT(*) FROM '{folder}/out_generated/*.parquet'), "
            f"(SELECT COUNT(*) FROM {source}), (SELECT COUNT(*) FROM visits)"
        ).fetchall()[0]
        if len(set(counts)) != 1:
            raise Disagreement(f"spark: row counts differ (spark, {other}, visits): {counts}")
        bad = con.sql(
            f"SELECT g.*, h.* FROM '{folder}/out_generated/*.parquet' g JOIN {source} h "
            f"USING (row_no) WHERE {differ} ORDER BY row_no LIMIT 1"
        ).fetchall()
        if bad:
            raise Disagreement(f"spark: the Spark backend and {other} disagree: {bad[0]}")
    types = con.sql(f"DESCRIBE SELECT * FROM '{folder}/out_generated/*.parquet'").fetchall()
    money = {t[0]: t[1] for t in types if t[0] not in ("reason", "row_no", "pool_prop_selfpay")}
    if set(money.values()) != {"BIGINT"}:
        raise Disagreement(f"spark: money columns are not all BIGINT fen: {money}")
    return "the money columns BIGINT fen"


def _jvm_peak_mb(spark) -> float | None:
    """The JVM's peak resident memory (VmHWM), read from /proc while it runs."""
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (AttributeError, OSError):
        return None
    return None


def spark_memory_child(args, n: int) -> None:
    """One configuration on a fresh JVM: its peak resident memory."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="policylang-spark-bench-") as folder:
        path, _ = _spark_data(n, args.seed, folder)
        spark = _spark_session(args.spark_master)
        _spark_job(spark, args.spark_memory_child, path, f"{folder}/out")
        print(json.dumps({"config": args.spark_memory_child, "jvm_mb": _jvm_peak_mb(spark)}))
        spark.stop()


def spark_memory(args, n: int) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in SPARK_CONFIGS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--spark-memory-child", name]
        cmd += ["--spark-visits", str(n), "--seed", str(args.seed)]
        if args.spark_master:
            cmd += ["--spark-master", args.spark_master]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"memory measurement of {name} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            out[name] = None
            continue
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])["jvm_mb"]
    return out


def spark_section(args) -> int:
    """The Spark backend (the Guiyang rules' generated Spark SQL, through ``settle_frame``)
    against the hand-written Spark SQL (``plain_spark.py``) on the same Parquet visits, in
    the same session; both checked equal, and equal to the DuckDB backend, before anything
    is timed.  Each writes its results to Parquet."""
    import tempfile

    try:
        import duckdb  # noqa: F401  (generates the visits)
        import pyspark

        from policylang.backends.sql import spark as spark_backend

        spark_backend._engine()
    except (ImportError, policylang.backends.BackendUnavailable) as e:
        print(f"the Spark section needs pyspark, Java and DuckDB: {e}", file=sys.stderr)
        return 2
    n = args.spark_visits or (1_000_000 if args.quick else 10_000_000)
    if args.spark_memory_child:
        spark_memory_child(args, n)
        return 0
    repeats = args.repeat or (2 if args.quick else 3)
    print(
        "policylang Spark benchmark: policies/guiyang-2022.pol, the Spark backend against "
        "benchmarks/plain_spark.py"
    )
    memory = {k: None for k in SPARK_CONFIGS} if args.no_memory else spark_memory(args, n)
    with tempfile.TemporaryDirectory(prefix="policylang-spark-bench-") as folder:
        path, made = _spark_data(n, args.seed, folder)
        t0 = time.perf_counter()
        spark = _spark_session(args.spark_master)
        started = time.perf_counter() - t0
        print(
            machine_facts() + f", pyspark {pyspark.__version__} {spark.sparkContext.master}, "
            f"Java {spark_backend.java_home() or 'on PATH'}"
        )
        print(
            f"data:    {n:,} visits generated in DuckDB as Parquet ({made:.1f} s), seed {args.seed}"
        )
        for name in SPARK_CONFIGS:
            _spark_job(spark, name, path, f"{folder}/out_{name}")
        try:
            types = spark_check(folder, path)
        except Disagreement as e:
            print(f"ABORT: {e}", file=sys.stderr)
            return 2
        print(
            "agreement: every result column of every visit: the Spark backend equals the "
            f"hand-written Spark SQL and the DuckDB backend; {types}"
        )
        print(
            f"timing:  best of {repeats}{' (--quick)' if args.quick else ''}, Parquet in, Parquet "
            f"out; session start {started:.1f} s (not counted)"
        )
        sys.stdout.flush()
        best = {name: float("inf") for name in SPARK_CONFIGS}
        cpu = {name: float("inf") for name in SPARK_CONFIGS}
        for _ in range(repeats):
            for name in SPARK_CONFIGS:  # alternating, so that a busy spell hits both
                c0, t0 = _spark_cpu(spark), time.perf_counter()
                _spark_job(spark, name, path, f"{folder}/out_{name}")
                best[name] = min(best[name], time.perf_counter() - t0)
                cpu[name] = min(cpu[name], _spark_cpu(spark) - c0)
        spark.stop()
    _spark_table(n, best, cpu, memory, args.no_memory)
    return 0


def _spark_cpu(spark) -> float:
    """CPU seconds used so far by the driver JVM (from /proc; every task of a local master
    runs in it) and this process; on a shared machine a fairer measure than the wall."""
    own = os.times()
    total = own.user + own.system
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    try:
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (AttributeError, OSError):
        return total
    return total + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spark_table(n: int, best: dict, cpu: dict, memory: dict, no_memory: bool) -> None:
    base, base_cpu = best["hand"], cpu["hand"]
    print()
    head = f"{'configuration':<36}{'visits':>12}{'seconds':>10}{'visits/s':>12}{'vs hand':>10}"
    print(head + f"{'CPU s':>8}{'vs hand':>10}{'JVM MB':>10}")
    for name, label in SPARK_CONFIGS.items():
        t, c = best[name], cpu[name]
        mb = "n/a" if memory[name] is None else f"{memory[name]:.0f}"
        print(
            f"{label:<36}{n:>12,}{t:>10.2f}{n / t:>12,.0f}{t / base:>9.2f}x"
            f"{c:>8.1f}{c / base_cpu:>9.2f}x{mb:>10}"
        )
    print("seconds: the wall, best of the runs; CPU s: the JVM's and this process's, best")
    if not no_memory:
        print(
            "JVM MB: the driver JVM's peak resident memory (VmHWM), a fresh JVM per configuration"
        )
    print()
    print(
        f"generated {best['generated'] / base:.2f}x the hand-written Spark SQL "
        f"({cpu['generated'] / base_cpu:.2f}x in CPU time)"
    )


if __name__ == "__main__":
    sys.exit(main())
