"""The Guiyang outpatient settlement written by hand in NumPy, as an analyst would write it
for a fund simulation over an Arrow table: the numbers of policies/guiyang-2022.pol as
constants, integer fen, one sort, running sums and closed forms, no trace.
benchmarks/run.py times ``CompiledPolicy.settle_table`` against it.

``numpy_settle(table)`` does the work ``settle_table`` does for this policy on the
benchmark's table (``make_table``), and nothing more:

- the same checks of the columns it is given: required fields present and not null,
  enumerations with their Chinese aliases, amounts (decimal128) non-negative with at most
  two decimals and 15 integer digits, timestamps without a time zone, the self-paid parts
  not above the total; a problem raises ``PlainInputError`` with (row + 1, field);
- the same settlement (docs/settlement.md): visits in (psn_no, setl_time, row) order;
  pooling from 2023-01-01 at designated institutions only; an annual deductible of 150.00
  per person, ``take = min(D, I_i) - min(D, I_(i-1))`` over the running in-policy amount;
  ratio 75/75/70/65 by level plus 5 points for retirees, half-up to the fen; an annual
  cap of 2000.00, ``fund = min(C, S_i) - min(C, S_(i-1))`` over the running share; the
  account (from 2022-09-01, at designated institutions) pays the person's share up to the
  running balance, ``pay = min(B, P_i) - min(B, P_(i-1))`` between given balances;
- the same result columns (decimal128(18, 2) money, decimal128(5, 4) ratio, reason text).

It reads only the column types ``make_table`` writes (timestamps, decimal128 with two
decimals, text): hand-tuned, not general.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = dt.date(1970, 1, 1).toordinal()
POOLING_FROM = dt.date(2023, 1, 1).toordinal() - EPOCH  # 二(一)
ACCOUNT_FROM = dt.date(2022, 9, 1).toordinal() - EPOCH  # 二(三)
DEDUCTIBLE = 15_000  # fen, per person per calendar year
CAP = 200_000  # fen, per person per calendar year
LEVELS = {
    "unrated": 7500,
    "未定级": 7500,
    "level1": 7500,
    "一级": 7500,
    "level2": 7000,
    "二级": 7000,
    "level3": 6500,
    "三级": 6500,
}  # ratio in 1/10000
RETIREE = {"active": False, "在职": False, "retiree": True, "退休": True}
UPLIFT = 500
REASONS = (
    "not_in_force",
    "no_in_policy_amount",
    "within_deductible",
    "cap_reached",
    "rounds_to_zero",
    "not_designated",
)
US_PER_DAY = 86_400_000_000


class PlainInputError(ValueError):
    def __init__(self, problems: list[tuple[int | None, str]]):
        self.problems = problems
        super().__init__(f"{len(problems)} problems, first: {problems[:3]}")


# ---- data ----------------------------------------------------------------------------------


def make_table(n: int, seed: int = 7) -> pa.Table:
    """``n`` visits as an Arrow table, about 20 per person, 2022-10-01..2024-03-31 (before
    pooling starts, across the change of year), bills below, at and above the deductible and
    large enough to reach the cap, some account balances, some Chinese aliases."""
    rnd = np.random.default_rng(seed)
    persons = max(1, n // 20)
    person = rnd.integers(0, persons, n)
    retiree = rnd.random(persons) < 0.3
    flexible = rnd.random(persons) < 0.1
    alias = rnd.random(n) < 0.03
    psn_type = np.where(
        retiree[person], np.where(alias, "退休", "retiree"), np.where(alias, "在职", "active")
    )
    start = np.datetime64("2022-10-01T00:00:00", "s")
    span = int((np.datetime64("2024-04-01T00:00:00", "s") - start) / np.timedelta64(1, "s"))
    seconds = rnd.integers(0, span // 86_400, n) * 86_400 + rnd.integers(7 * 3600, 21 * 3600, n)
    levels = np.array(["unrated", "level1", "level2", "level3"])
    zh = np.array(["未定级", "一级", "二级", "三级"])
    lv = rnd.integers(0, 4, n)
    hosp_lv = np.where(rnd.random(n) < 0.03, zh[lv], levels[lv])
    size = rnd.random(n)
    total = np.select(
        [size < 0.03, size < 0.25, size < 0.90],
        [
            rnd.choice([0, 1, 15_000, 15_001], n),
            rnd.integers(1, 15_001, n),
            rnd.integers(15_000, 60_001, n),
        ],
        rnd.integers(60_000, 400_001, n),
    )
    left = total.copy()
    parts = {}
    for field, share in (
        ("fulamt_ownpay_amt", 0.3),
        ("overlmt_selfpay", 0.1),
        ("preselfpay_amt", 0.2),
    ):
        has = rnd.random(n) < share
        part = (rnd.random(n) * (left // 3 + 1)).astype(np.int64)
        part = np.where(has, part, 0)
        left = left - part
        parts[field] = (part, has)
    r = rnd.random(n)
    designated = pa.array(np.where(r < 0.05, False, True), mask=r >= 0.35)
    has_balc = rnd.random(n) < 0.15
    balc = rnd.integers(0, 300_001, n)
    psn_no = pa.array(np.char.add("P", np.char.zfill(person.astype(str), 6)))

    def money(fen, valid=None):
        return _decimal(fen, None if valid is None else ~valid, precision=12)

    return pa.table(
        {
            "psn_no": psn_no,
            "psn_type": pa.array(psn_type),
            "flxempe_flag": pa.array(flexible[person]),
            "setl_time": pa.array(
                (start + seconds.astype("timedelta64[s]")).astype("datetime64[s]"),
                pa.timestamp("s"),
            ),
            "hosp_lv": pa.array(hosp_lv),
            "designated": designated,
            "medfee_sumamt": money(total),
            **{field: money(part, has) for field, (part, has) in parts.items()},
            "acct_balc": money(balc, has_balc),
        }
    )


def _decimal(fen: np.ndarray, null: np.ndarray | None, precision: int = 18) -> pa.Array:
    """int64 fen as decimal128(precision, 2), straight into the buffer."""
    words = np.empty((len(fen), 2), dtype=np.int64)
    words[:, 0] = fen
    words[:, 1] = fen >> 63
    validity, nulls = None, 0
    if null is not None and null.any():
        validity = pa.array(~null).buffers()[1]
        nulls = int(null.sum())
    return pa.Array.from_buffers(
        pa.decimal128(precision, 2), len(fen), [validity, pa.py_buffer(words)], null_count=nulls
    )


# ---- reading the columns ---------------------------------------------------------------------


def _col(table: pa.Table, name: str) -> pa.Array | None:
    if name not in table.column_names:
        return None
    c = table.column(name)
    return c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()


def _null(a: pa.Array) -> np.ndarray:
    return (
        a.is_null().to_numpy(zero_copy_only=False) if a.null_count else np.zeros(len(a), dtype=bool)
    )


def _fen(
    a: pa.Array | None, n: int, problems: list, name: str, required: bool
) -> tuple[np.ndarray, np.ndarray]:
    if a is None:
        if required:
            problems.append((None, name))
        return np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    null = _null(a)
    if not (pa.types.is_decimal128(a.type) and a.type.scale == 2):
        problems.append((None, name))
        return np.zeros(n, dtype=np.int64), null
    words = np.frombuffer(
        a.buffers()[1], dtype=np.int64, count=2 * n, offset=a.offset * 16
    ).reshape(-1, 2)
    lo, hi = words[:, 0], words[:, 1]
    bad = ~null & ((hi != (lo >> 63)) | (lo < 0) | (lo >= 10**17))
    if required:
        bad |= null
    problems.extend((int(i) + 1, name) for i in np.flatnonzero(bad))
    return np.where(null, 0, lo), null


def _enum(a: pa.Array | None, table: dict, n: int, problems: list, name: str) -> np.ndarray:
    if a is None:
        problems.append((None, name))
        return np.zeros(n, dtype=np.int64)
    enc = a.dictionary_encode()
    lut = np.array(
        [table.get(v.strip() if isinstance(v, str) else v, -1) for v in enc.dictionary.to_pylist()]
        + [-1],
        dtype=np.int64,
    )
    codes = lut[enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    problems.extend((int(i) + 1, name) for i in np.flatnonzero(codes < 0))
    return codes


def numpy_settle(table: pa.Table) -> pa.Table:
    """Validate and settle the visits under the Guiyang policy; the result table."""
    n = table.num_rows
    problems: list = []
    psn_col = _col(table, "psn_no")
    if psn_col is None or psn_col.null_count:
        raise PlainInputError([(None, "psn_no")])
    enc = psn_col.dictionary_encode()
    psn = enc.indices.to_numpy(zero_copy_only=False)
    if any(not isinstance(v, str) or not v.strip() for v in enc.dictionary.to_pylist()):
        problems.append((None, "psn_no"))
    retiree = _enum(
        _col(table, "psn_type"), {k: int(v) for k, v in RETIREE.items()}, n, problems, "psn_type"
    )
    ratio = _enum(_col(table, "hosp_lv"), LEVELS, n, problems, "hosp_lv")
    flx = _col(table, "flxempe_flag")
    if flx is None or not pa.types.is_boolean(flx.type) or flx.null_count:
        problems.append((None, "flxempe_flag"))
    des = _col(table, "designated")
    designated = (
        np.ones(n, dtype=bool)
        if des is None
        else des.fill_null(True).to_numpy(zero_copy_only=False)
    )
    when = _col(table, "setl_time")
    if (
        when is None
        or not pa.types.is_timestamp(when.type)
        or when.type.tz is not None
        or when.null_count
    ):
        raise PlainInputError(problems + [(None, "setl_time")])
    per_day = {"s": 86_400, "ms": 86_400_000, "us": US_PER_DAY, "ns": US_PER_DAY * 1000}[
        when.type.unit
    ]
    ticks = when.cast(pa.int64()).to_numpy(zero_copy_only=False)
    total, _ = _fen(_col(table, "medfee_sumamt"), n, problems, "medfee_sumamt", True)
    own, _ = _fen(_col(table, "fulamt_ownpay_amt"), n, problems, "fulamt_ownpay_amt", False)
    over, _ = _fen(_col(table, "overlmt_selfpay"), n, problems, "overlmt_selfpay", False)
    pre, _ = _fen(_col(table, "preselfpay_amt"), n, problems, "preselfpay_amt", False)
    balc, no_balc = _fen(_col(table, "acct_balc"), n, problems, "acct_balc", False)
    inscp = total - own - over - pre
    problems.extend((int(i) + 1, "medfee_sumamt") for i in np.flatnonzero(inscp < 0))
    if problems:
        raise PlainInputError(sorted(problems, key=lambda p: (p[0] or 0, p[1])))

    # execution order: person, time, input row (lexsort is stable)
    order = np.lexsort((ticks, psn))
    p, t = psn[order], ticks[order]
    day = t // per_day
    des_s, inscp_s = designated[order], inscp[order]
    year = day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)

    pooled = (day >= POOLING_FROM) & des_s
    at = np.flatnonzero(pooled)
    pp, yy, base = p[at], year[at], inscp_s[at]
    starts = np.ones(len(at), dtype=bool)
    starts[1:] = (pp[1:] != pp[:-1]) | (yy[1:] != yy[:-1])
    seg = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)

    def running(x):
        cs = np.cumsum(x)
        return cs - (cs[first] - x[first])[seg]

    run_in = running(base)
    take = np.minimum(DEDUCTIBLE, run_in) - np.minimum(DEDUCTIBLE, run_in - base)
    rest = base - take
    r = ratio[order][at] + UPLIFT * retiree[order][at]
    share = (rest * r + 5_000) // 10_000
    run_share = running(share)
    fund = np.minimum(CAP, run_share) - np.minimum(CAP, run_share - share)
    reason_p = np.select([fund > 0, inscp_s[at] == 0, rest == 0, share > 0], [-1, 1, 2, 3], 4)

    dedc_s = np.zeros(n, dtype=np.int64)
    fund_s = np.zeros(n, dtype=np.int64)
    ratio_s = np.zeros(n, dtype=np.int64)
    reason_s = np.where(day < POOLING_FROM, 0, 5).astype(np.int8)
    dedc_s[at], fund_s[at], ratio_s[at], reason_s[at] = take, fund, r, reason_p
    part_s = total[order] - fund_s

    # the account: a person's balance runs from each given balance
    given = ~no_balc[order]
    seg_start = given.copy()
    seg_start[0] = True
    seg_start[1:] |= p[1:] != p[:-1]
    known_seg = given[seg_start]
    aseg = np.cumsum(seg_start) - 1
    known = known_seg[aseg]
    B = balc[order][seg_start][aseg]
    payable = np.where((day >= ACCOUNT_FROM) & des_s & known, part_s, 0)
    afirst = np.flatnonzero(seg_start)
    cs = np.cumsum(payable)
    run_pay = cs - (cs[afirst] - payable[afirst])[aseg]
    acct_s = np.minimum(B, run_pay) - np.minimum(B, run_pay - payable)
    balc_s = B - np.minimum(B, run_pay)

    def back(x):
        out = np.empty_like(x)
        out[order] = x
        return out

    fund_o, part_o, acct_o = back(fund_s), back(part_s), back(acct_s)
    no_ratio = back(~pooled)
    reason_o = back(reason_s)
    return pa.table(
        {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "psn_no": psn_col,
            "setl_time": when,
            "medfee_sumamt": _decimal(total, None),
            "inscp_scp_amt": _decimal(inscp, None),
            "act_pay_dedc": _decimal(back(dedc_s), None),
            "pool_prop_selfpay": _ratio(back(ratio_s), no_ratio),
            "hifp_pay": _decimal(fund_o, None),
            "fund_pay_sumamt": _decimal(fund_o, None),
            "psn_part_amt": _decimal(part_o, None),
            "acct_pay": _decimal(acct_o, None),
            "acct_mulaid_pay": _decimal(np.zeros(n, dtype=np.int64), None),
            "psn_cash_pay": _decimal(part_o - acct_o, None),
            "balc": _decimal(back(balc_s), ~back(known)),
            "reason": pc.take(
                pa.array(REASONS), pa.array(reason_o.astype(np.int32), mask=reason_o < 0)
            ),
        }
    )


def _ratio(e4: np.ndarray, null: np.ndarray) -> pa.Array:
    words = np.empty((len(e4), 2), dtype=np.int64)
    words[:, 0] = e4
    words[:, 1] = 0
    validity = pa.array(~null).buffers()[1] if null.any() else None
    return pa.Array.from_buffers(
        pa.decimal128(5, 4), len(e4), [validity, pa.py_buffer(words)], null_count=int(null.sum())
    )
