"""Properties that must hold for any year of visits (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import POLICIES

import datetime as dt

import policylang

GUIYANG = policylang.load(POLICIES / "guiyang-2022.pol")
CAP, DEDUCTIBLE = Decimal("2000"), Decimal("150")

amounts = st.integers(min_value=0, max_value=200_000).map(lambda fen: Decimal(fen) / 100)


@st.composite
def visit(draw):
    total = draw(amounts)
    own = draw(st.integers(0, int(total * 100))) / Decimal(100)
    over = draw(st.integers(0, int((total - own) * 100))) / Decimal(100)
    pre = draw(st.integers(0, int((total - own - over) * 100))) / Decimal(100)
    v = {
        "psn_no": draw(st.sampled_from(["A", "B", "C"])),
        "psn_type": draw(st.sampled_from(["active", "retiree"])),
        "flxempe_flag": draw(st.booleans()),
        "setl_time": draw(
            st.dates(min_value=dt.date(2022, 6, 1), max_value=dt.date(2024, 12, 31))
        ).isoformat(),
        "hosp_lv": draw(st.sampled_from(["unrated", "level1", "level2", "level3"])),
        "designated": draw(st.booleans()),
        "medfee_sumamt": str(total),
        "fulamt_ownpay_amt": str(own),
        "overlmt_selfpay": str(over),
        "preselfpay_amt": str(pre),
    }
    if draw(st.booleans()):
        v["acct_balc"] = str(draw(amounts))
    return v


visits = st.lists(visit(), min_size=1, max_size=25)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _key(r):
    return r.to_json()


@SETTINGS
@given(visits, st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order(vs, rnd):
    base = GUIYANG.settle(vs)
    shuffled = _shuffle_respecting_ties(vs, rnd)
    again = GUIYANG.settle([vs[i] for i in shuffled])
    for new_pos, old in enumerate(shuffled):
        assert _key(again[new_pos]) == _key(base[old])


def _shuffle_respecting_ties(vs, rnd):
    """A random permutation in which visits of one person on one date keep their order."""
    groups: dict[tuple, list[int]] = {}
    for i, v in enumerate(vs):
        groups.setdefault((v["psn_no"], v["setl_time"]), []).append(i)
    slots = [k for k, idx in groups.items() for _ in idx]
    rnd.shuffle(slots)
    cursor = {k: 0 for k in groups}
    out = []
    for k in slots:
        out.append(groups[k][cursor[k]])
        cursor[k] += 1
    return out


@SETTINGS
@given(visits)
def test_identities_and_bounds(vs):
    results = GUIYANG.settle(vs)
    fund_by_year: dict[tuple, Decimal] = {}
    dedc_by_year: dict[tuple, Decimal] = {}
    for v, r in zip(vs, results, strict=True):
        for value in (
            r.medfee_sumamt,
            r.hifp_pay,
            r.psn_part_amt,
            r.acct_pay,
            r.psn_cash_pay,
            r.act_pay_dedc,
        ):
            assert isinstance(value, Decimal)
            assert value == value.quantize(Decimal("0.01"))
            assert value >= 0
        assert r.psn_part_amt == r.medfee_sumamt - r.fund_pay_sumamt == r.acct_pay + r.psn_cash_pay
        assert r.inscp_scp_amt == (
            Decimal(v["medfee_sumamt"])
            - Decimal(v["fulamt_ownpay_amt"])
            - Decimal(v["overlmt_selfpay"])
            - Decimal(v["preselfpay_amt"])
        )
        assert r.hifp_pay <= r.inscp_scp_amt
        if r.pool_prop_selfpay is not None:
            assert r.hifp_pay <= (
                (r.inscp_scp_amt - r.act_pay_dedc) * r.pool_prop_selfpay
            ).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        if v["setl_time"] < "2023-01-01" or not v["designated"]:
            assert r.hifp_pay == 0 and r.reason in {"not_in_force", "not_designated"}
        key = (v["psn_no"], v["setl_time"][:4])
        fund_by_year[key] = fund_by_year.get(key, Decimal(0)) + r.hifp_pay
        dedc_by_year[key] = dedc_by_year.get(key, Decimal(0)) + r.act_pay_dedc
    assert all(total <= CAP for total in fund_by_year.values())
    assert all(total <= DEDUCTIBLE for total in dedc_by_year.values())


@SETTINGS
@given(visits)
def test_settling_twice_gives_the_same_results(vs):
    assert [_key(r) for r in GUIYANG.settle(vs)] == [_key(r) for r in GUIYANG.settle(vs)]


@SETTINGS
@given(visit())
def test_retiree_never_gets_less_than_active(v):
    active = GUIYANG.settle([{**v, "psn_type": "active"}])[0]
    retiree = GUIYANG.settle([{**v, "psn_type": "retiree"}])[0]
    assert retiree.hifp_pay >= active.hifp_pay
