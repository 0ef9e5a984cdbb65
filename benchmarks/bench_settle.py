"""Settlement speed: the compiled Guiyang policy against a plain hand-written
reference of the same rules, measured in the same run.  Prints the ratio.

    python benchmarks/bench_settle.py [N_VISITS]

The reference is what a settlement system writes by hand today: the Guiyang
numbers as constants, Decimal arithmetic, no trace.  Both must agree on every
fund payment (checked before timing)."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import policylang  # noqa: E402
from policylang.inputs import validate_visits  # noqa: E402

CENT = Decimal("0.01")
RATIO = {"unrated": Decimal("0.75"), "level1": Decimal("0.75"), "level2": Decimal("0.70"), "level3": Decimal("0.65")}


def reference(visits: list[dict]) -> list[Decimal]:
    """Guiyang 二(一) by hand."""
    order = sorted(range(len(visits)), key=lambda i: (visits[i]["setl_time"], i))
    dedc_used: dict = {}
    fund_used: dict = {}
    out = [Decimal(0)] * len(visits)
    for i in order:
        v = visits[i]
        if v["setl_time"] < dt.date(2023, 1, 1) or not v["designated"]:
            continue
        inscp = v["medfee_sumamt"] - v["fulamt_ownpay_amt"] - v["overlmt_selfpay"] - v["preselfpay_amt"]
        key = (v["psn_no"], v["setl_time"].year)
        take = min(inscp, Decimal(150) - dedc_used.get(key, Decimal(0)))
        dedc_used[key] = dedc_used.get(key, Decimal(0)) + take
        ratio = RATIO[v["hosp_lv"]] + (Decimal("0.05") if v["psn_type"] == "retiree" else 0)
        fund = ((inscp - take) * ratio).quantize(CENT, rounding=ROUND_HALF_UP)
        fund = min(fund, Decimal(2000) - fund_used.get(key, Decimal(0)))
        fund_used[key] = fund_used.get(key, Decimal(0)) + fund
        out[i] = fund
    return out


def make_visits(n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    start = dt.date(2022, 10, 1)
    out = []
    for _ in range(n):
        total = Decimal(rnd.randint(0, 150_000)) / 100
        own = Decimal(rnd.randint(0, int(total * 10))) / 100
        out.append({
            "psn_no": f"P{rnd.randint(1, max(1, n // 20)):06d}",
            "psn_type": rnd.choice(["active", "retiree"]),
            "flxempe_flag": rnd.random() < 0.1,
            "setl_time": (start + dt.timedelta(days=rnd.randint(0, 800))).isoformat(),
            "hosp_lv": rnd.choice(["unrated", "level1", "level2", "level3"]),
            "designated": rnd.random() < 0.95,
            "medfee_sumamt": str(total),
            "fulamt_ownpay_amt": str(own),
        })
    return out


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    policy = policylang.load(ROOT / "policies" / "guiyang-2022.pol")
    raw = make_visits(n)
    rows = validate_visits(raw, policy.ir)
    ours = [r.hifp_pay for r in policy._eval.settle(rows, {})]
    assert ours == reference(rows), "policylang and the hand-written reference disagree"

    t_ref = best_of(lambda: reference(rows))
    t_eval = best_of(lambda: policy._eval.settle(rows, {}))
    t_fast = best_of(lambda: policy._fast.settle(rows, {}))
    t_full = best_of(lambda: policy.settle(raw))
    print(f"visits: {n}")
    print(f"hand-written reference        {t_ref:8.3f} s  {n / t_ref:>10,.0f} visits/s  1.00x")
    print(f"policylang evaluator (traced) {t_eval:8.3f} s  {n / t_eval:>10,.0f} visits/s  {t_eval / t_ref:5.2f}x")
    print(f"policylang evaluator (no trace) {t_fast:6.3f} s  {n / t_fast:>10,.0f} visits/s  {t_fast / t_ref:5.2f}x")
    print(f"policylang settle (validated) {t_full:8.3f} s  {n / t_full:>10,.0f} visits/s  {t_full / t_ref:5.2f}x")


if __name__ == "__main__":
    main()
