"""Generated visits for the differential tests: every backend against the reference.

The corpus policies are the shipped ones and every valid test policy.  For each,
``make_visits`` draws a batch from a seeded ``random.Random`` (fast enough for
100k visits in CI), aimed at the places where backends could disagree: dates on
and around each version's start and end and the turn of the year, same-day and
same-time visits, amounts on either side of every deductible, cap and band
limit the program states, every hospital level and person category, declared
inputs, balances that run out, parameters."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from policylang import ir
from policylang import vocab as V

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(
    [
        *(ROOT / "policies").glob("*.pol"),
        *(ROOT / "tests" / "fixtures" / "valid").glob("*.pol"),
        ROOT / "tests" / "fixtures" / "variations" / "city.pol",
        ROOT / "examples" / "three-categories" / "lanshan-2024.pol",  # a declared category
        ROOT / "examples" / "adjustments" / "qingyu-2025.pol",  # reductions, bounds, bill split
        ROOT / "examples" / "composed-limits" / "qingxi-2025.pol",  # cost cap, deductible total
        ROOT / "examples" / "second-fund" / "qingshan-2024.pol",  # a fund above the pooling cap
    ]
)


def _money_constants(node, out: set) -> None:
    if isinstance(node, ir.Const) and node.type == V.MONEY:
        out.add(node.value)
    elif isinstance(node, ir.Bands):
        out.update(x for x in node.limits if x is not None)
    elif isinstance(node, (tuple, list)):
        for x in node:
            _money_constants(x, out)
    elif hasattr(node, "__attrs_attrs__") and not isinstance(node, ir.Prov):
        for f in node.__attrs_attrs__:
            _money_constants(getattr(node, f.name), out)


def _dates(program: ir.Program, params: dict) -> list[dt.date]:
    points = set()
    for b in program.blocks:
        for p in (b.start, b.until):
            p = dt.date.fromisoformat(params[p]) if isinstance(p, str) and p in params else p
            if isinstance(p, dt.date):
                points.update({p - dt.timedelta(days=1), p, p + dt.timedelta(days=1)})
    for year in (2022, 2023, 2024, 2025):
        points.update(
            {dt.date(year, 1, 1), dt.date(year, 12, 31), dt.date(year, 6, 30), dt.date(year, 7, 1)}
        )
    return sorted(points)


def make_params(policy: ir.Policy, rnd: random.Random) -> dict:
    out = {}
    for name, t in policy.params.items():
        if t == V.MONEY:
            out[name] = f"{rnd.randint(0, 500000) / 100:.2f}"
        elif t == V.DATE:
            out[name] = rnd.choice(["2022-09-01", "2023-01-01", "2023-07-01"])
        elif t == V.PERCENT:  # a ratio a notice could announce: with uplifts, within 0..100%
            out[name] = f"{rnd.randint(20, 80)}%"
        elif t == V.POINTS:
            out[name] = f"{rnd.randint(0, 10)} points"
        elif t == V.NUMBER:
            out[name] = str(rnd.randint(0, 100))
    return out


def make_visits(
    policy: ir.Policy, rnd: random.Random, n: int, params: dict, refused: float = 0.0
) -> list[dict]:
    """``refused``: the chance that one visit of the batch is one the input checks refuse
    (a code contradicting the record's flag, or a code no vocabulary maps)."""
    program = policy.programs["settle"]
    consts: set = set()
    _money_constants(program, consts)
    consts.update({Decimal(0), Decimal("0.01")})
    boundaries = sorted(consts)
    dates = _dates(program, params)
    persons = [f"P{i}" for i in range(rnd.randint(1, 6))]
    psn_type = policy.vocab.enums["psn_type"]
    plain_types = [*psn_type.values, *psn_type.aliases]
    psn_codes = sorted(psn_type.codes.items())
    split = policy.bill_split[0] if policy.bill_split else ()
    out = []
    for _ in range(n):
        when = _when(rnd, dates)
        total, own, over, pre = _amounts(rnd, boundaries)
        v = {
            "psn_no": rnd.choice(persons),
            "psn_type": rnd.choice(plain_types),
            "flxempe_flag": rnd.random() < 0.2,
            "setl_time": when,
            "hosp_lv": rnd.choice([*V.ENUMS["hosp_lv"], "二级"]),
            "medfee_sumamt": f"{total:.2f}",
        }
        if (
            psn_codes and rnd.random() < 0.3
        ):  # a platform code: "11", "1201", "1103" (flexible employment)...
            _platform_code(rnd, v, psn_codes)
        _optional_fields(rnd, v, own, over, pre)
        room = max(0, int(total * 100) - own - over - pre)  # fen a declared bill part may take
        if split and rnd.random() < refused / 3:  # one fen over: refused (inputs._declared_split)
            room += 1  # (drawn only for a policy with a bill split: other corpora stay the same)
        _declared_inputs(rnd, v, policy, split, room)
        if rnd.random() < 0.05:  # a form the fast input path leaves to the general one
            v["medfee_sumamt"] = " " + v["medfee_sumamt"]
        out.append(v)
    if out and rnd.random() < refused:
        _refuse_one(rnd, out)
    return out


# The helpers below draw from ``rnd`` in the order make_visits always did: a corpus for a
# seed stays the same.


def _when(rnd: random.Random, dates: list) -> str:
    day = (
        rnd.choice(dates)
        if rnd.random() < 0.5
        else dt.date(2022, 6, 1) + dt.timedelta(days=rnd.randint(0, 1300))
    )
    if rnd.random() < 0.4:
        return day.isoformat()
    return f"{day.isoformat()} {rnd.choice([8, 9, 9, 10]):02d}:{rnd.choice([0, 30]):02d}:00"


def _amounts(rnd: random.Random, boundaries: list) -> tuple[Decimal, int, int, int]:
    """The bill (near a constant of the policy half the time) and its self-paid parts (fen)."""
    if rnd.random() < 0.5:
        total = max(Decimal(0), rnd.choice(boundaries) + Decimal(rnd.randint(-2, 2)) / 100)
    else:
        total = Decimal(rnd.randint(0, 400000)) / 100
    fen = int(total * 100)
    own = rnd.randint(0, fen) if rnd.random() < 0.3 else 0
    over = rnd.randint(0, fen - own) if rnd.random() < 0.2 else 0
    pre = rnd.randint(0, fen - own - over) if rnd.random() < 0.2 else 0
    return total, own, over, pre


def _platform_code(rnd: random.Random, v: dict, psn_codes: list) -> None:
    code, meaning = rnd.choice(psn_codes)
    v["psn_type"] = code
    implied = dict(meaning.implies).get("flxempe_flag")
    if implied is not None:
        if rnd.random() < 0.2:
            del v["flxempe_flag"]  # the code says it
        else:
            v["flxempe_flag"] = implied


def _optional_fields(rnd: random.Random, v: dict, own: int, over: int, pre: int) -> None:
    if rnd.random() < 0.15:
        v["designated"] = rnd.random() < 0.5
    for field, part in (
        ("fulamt_ownpay_amt", own),
        ("overlmt_selfpay", over),
        ("preselfpay_amt", pre),
    ):
        if part:
            v[field] = f"{part / 100:.2f}"
    if rnd.random() < 0.25:
        v["acct_balc"] = f"{rnd.randint(0, 100000) / 100:.2f}"
    for field, codes in (
        ("insutype", ["310", "310", "390"]),
        ("med_type", ["11", "11", "14"]),
        ("acct_used_flag", ["1", "0"]),
        ("mdtrt_id", [f"M{rnd.randint(0, 9999)}"]),
    ):
        if rnd.random() < 0.2:
            v[field] = rnd.choice(codes)


def _declared_inputs(
    rnd: random.Random, v: dict, policy: ir.Policy, split: tuple = (), room: int = 0
) -> None:
    """``split``: the policy's declared bill parts; such a money input takes at most ``room``
    fen (what the bill has left after its self-paid parts)."""
    for name, (t, _default) in policy.inputs.items():
        if rnd.random() < 0.3:
            continue  # the default applies
        if t == V.BOOL:
            v[name] = rnd.random() < 0.5
        elif t == V.NUMBER:
            v[name] = str(rnd.choice([0, 59, 60, 61, 69, 70, 71, rnd.randint(0, 100)]))
        elif t == V.MONEY and name in split:
            v[name] = f"{rnd.randint(0, room) / 100:.2f}"
        elif t == V.MONEY:
            v[name] = f"{rnd.randint(0, 100000) / 100:.2f}"
        elif t in V.ENUMS:
            v[name] = rnd.choice(list(V.ENUMS[t]))


def _refuse_one(rnd: random.Random, out: list[dict]) -> None:
    bad = rnd.choice(out)
    if rnd.random() < 0.5:
        bad.update({"psn_type": "1103", "flxempe_flag": False})  # the code says flexible employment
    else:
        bad["psn_type"] = "13"  # 离休: mapped only where a policy maps it


def _day(rnd: random.Random) -> str:
    return (dt.date(2022, 6, 1) + dt.timedelta(days=rnd.randint(0, 1000))).isoformat()


def make_persons(policy: ir.Policy, rnd: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        p = {
            "psn_no": f"P{i}",
            "psn_type": rnd.choice(["active", "retiree", "11", "1201", "在职"]),
            "flxempe_flag": rnd.random() < 0.3,
            "on": _day(rnd),
        }
        if rnd.random() < 0.1:
            p["psn_type"] = rnd.choice(["1103", "1203"])
            p["flxempe_flag"] = True
        if rnd.random() < 0.8:
            p["contribution_years_met"] = rnd.random() < 0.5
        if rnd.random() < 0.8:
            p["contribution_base"] = f"{rnd.randint(0, 3000000) / 100:.2f}"
        out.append(p)
    return out


def make_requests(rnd: random.Random, n: int) -> list[dict]:
    out = []
    for i in range(n):
        item = rnd.choice(list(V.ENUMS["item"]))
        r = {
            "psn_no": f"P{i}",
            "relation": rnd.choice(list(V.ENUMS["relation"])),
            "item": item,
            "on": _day(rnd),
        }
        if item not in V.CONTRIBUTION_ITEMS:
            r["venue"] = rnd.choice(list(V.ENUMS["venue"]))
        if rnd.random() < 0.3:
            r["networked"] = rnd.random() < 0.5
        out.append(r)
    return out
