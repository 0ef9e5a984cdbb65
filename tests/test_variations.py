"""The variations other cities use (docs/domain.md), expressed with no compiler change.

tests/fixtures/variations/city.pol is a FICTIONAL city (numbers from no notice) that
implements a fictional province.  Expected values are worked by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest

import policylang

from .conftest import FIXTURES

FOLDER = FIXTURES / "variations"
D = Decimal


@pytest.fixture(scope="module")
def city():
    return policylang.load(FOLDER / "city.pol")


def _visit(**kw):
    base = {"psn_no": "X", "psn_type": "active", "flxempe_flag": False, "hosp_lv": "level2"}
    return {**base, **kw}


def test_variations_settle_as_worked_by_hand(city):
    visits = [
        # level2, age 72: deductible 100 (level2, per year) + 5 (per visit) = 105; ratio 70% + 5
        # (age) = 75%;
        # (300 - 105) x 75% = 146.25.  Account pays in-policy self-pay only: 350 - 146.25 - 50 =
        # 153.75.
        _visit(
            setl_time="2023-02-01",
            medfee_sumamt="350.00",
            fulamt_ownpay_amt="50.00",
            age=72,
            acct_balc="1000.00",
        ),
        # same day, level1: its own deductible 50 + 5 = 55; 80% + 5 = 85%; (400 - 55) x 85% =
        # 293.25,
        # but the daily cap leaves 300 - 146.25 = 153.75.
        _visit(setl_time="2023-02-01", hosp_lv="level1", medfee_sumamt="400.00", age=72),
        # level3, not referred, family doctor: 200 + 5; 60% + 5 + 5 - 10 = 60%; 795 x 60% = 477.00,
        # daily cap 300, per-visit cap at level3 200 -> 200.00.
        _visit(
            setl_time="2023-02-02",
            hosp_lv="level3",
            medfee_sumamt="1000.00",
            age=72,
            family_doctor=True,
            referred=False,
        ),
        # the 2024 version: deductible 100 per year (new year), flat 70%: 400 x 70% = 280.00.
        _visit(setl_time="2024-01-10", hosp_lv="level3", medfee_sumamt="500.00", age=72),
        # a retiree whose bill is all deductible: 100 (level2) then 0.04 of the per-visit 5.
        _visit(psn_no="Y", psn_type="retiree", setl_time="2023-03-01", medfee_sumamt="100.04"),
    ]
    r = city.settle(visits)
    assert [x.act_pay_dedc for x in r] == [
        D("105.00"),
        D("55.00"),
        D("205.00"),
        D("100.00"),
        D("100.04"),
    ]
    assert [x.pool_prop_selfpay for x in r] == [
        D("0.75"),
        D("0.85"),
        D("0.60"),
        D("0.70"),
        D("0.75"),
    ]
    assert [x.hifp_pay for x in r] == [
        D("146.25"),
        D("153.75"),
        D("200.00"),
        D("280.00"),
        D("0.00"),
    ]
    assert [x.acct_pay for x in r] == [D("153.75"), D("246.25"), D("600.00"), D("0.00"), D("0.00")]
    assert [x.psn_cash_pay for x in r] == [
        D("50.00"),
        D("0.00"),
        D("200.00"),
        D("220.00"),
        D("100.04"),
    ]
    assert r[4].reason == "within_deductible"
    rules = [s.rule for s in r[2].trace if s.field == "hifp_pay"]
    assert rules[-1] == "cap per visit"


def test_inherited_section_comes_from_the_province(city):
    r = city.may_pay(
        [
            {
                "relation": "spouse",
                "venue": "designated_institution",
                "item": "drug",
                "on": "2023-05-01",
            },
            {
                "relation": "self",
                "venue": "designated_institution",
                "item": "fitness",
                "on": "2023-05-01",
            },
            {
                "relation": "parent",
                "venue": "designated_institution",
                "item": "drug",
                "on": "2023-05-01",
            },
        ]
    )
    assert [x.reason for x in r] == ["permitted", "excluded", "relation_not_eligible"]


def test_declared_input_is_validated(city):
    with pytest.raises(policylang.InputError) as e:
        city.settle([_visit(setl_time="2023-02-01", medfee_sumamt="10.00", family_doctor="yes")])
    assert "family_doctor" in str(e.value)


def test_province_floor_applies_after_uplifts():
    text = (
        (FOLDER / "city.pol")
        .read_text(encoding="utf-8")
        .replace("uplift -10 points", "uplift -15 points")
    )
    with pytest.raises(policylang.PolicyError) as e:
        policylang.loads(text, "city-15.pol", search=[FOLDER / "province.pol"])
    [d] = e.value.diagnostics
    assert d.code == "H501" and "45%" in d.message()


def test_banded_ratios_by_cumulative_spending():
    """Bands 60% to 1000 yuan, 70% to 3000 yuan, 80% beyond, of the in-policy amount above the
    deductible accumulated in the year; retirees +5 points on every band."""
    policy = policylang.load(FIXTURES / "valid" / "banded-ratios.pol")
    visits = [
        # base 900 - 100 = 800, all in the first band: 800 x 60% = 480.00
        {"setl_time": "2023-02-01", "psn_type": "active", "medfee_sumamt": "900.00"},
        # base 500 on top of 800: 200 x 60% + 300 x 70% = 120 + 210 = 330.00
        {"setl_time": "2023-03-01", "psn_type": "active", "medfee_sumamt": "500.00"},
        # base 2000 on top of 1300 (retiree): 1700 x 75% + 300 x 85% = 1275 + 255 = 1530.00
        {"setl_time": "2023-04-01", "psn_type": "retiree", "medfee_sumamt": "2000.00"},
        # a new year starts again in the first band: (300 - 100) x 60% = 120.00
        {"setl_time": "2024-01-05", "psn_type": "active", "medfee_sumamt": "300.00"},
    ]
    base = {"psn_no": "A", "flxempe_flag": False, "hosp_lv": "level1"}
    r = policy.settle([{**base, **v} for v in visits])
    assert [x.hifp_pay for x in r] == [D("480.00"), D("330.00"), D("1530.00"), D("120.00")]
    assert [x.pool_prop_selfpay for x in r] == [D("0.60"), D("0.70"), D("0.85"), D("0.60")]
    bands = [s.rule for s in r[1].trace if s.field == "ratio"]
    assert bands == ["ratio band until 1000", "ratio band until 3000"]
