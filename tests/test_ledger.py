"""Live settlement: the ledger, reversal, re-settlement, across calls."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.backends import BACKENDS
from policylang.backends.common import time_key
from policylang.cli import main
from policylang.inputs import InputError, parse_date
from policylang.ledger import Ledger, LedgerError

from .conftest import POLICIES, make_backend
from .corpus import make_visits

GUIYANG = policylang.load(POLICIES / "guiyang-2022.pol")
D = Decimal


def _visits(seed: int, n: int) -> list[dict]:
    rnd = random.Random(seed)
    visits = make_visits(GUIYANG.ir, rnd, n, {})
    for i, v in enumerate(visits):
        v["setl_id"] = f"S{seed}-{i}"
        v["medfee_sumamt"] = v["medfee_sumamt"].strip()
    return visits


def _time_order(visits: list[dict]) -> list[int]:
    return sorted(
        range(len(visits)), key=lambda i: (time_key(parse_date(visits[i]["setl_time"], True)), i)
    )


def _visit(**kw):
    base = {"psn_no": "A", "psn_type": "retiree", "flxempe_flag": False, "hosp_lv": "level2"}
    return {**base, **kw}


# ---- the laws ------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), engine=st.sampled_from(sorted(BACKENDS)))
def test_one_call_equals_one_call_per_visit_in_time_order(seed, n, engine):
    policy = policylang.load(POLICIES / "guiyang-2022.pol")
    policy._eval = make_backend(engine, policy.ir, tracing=True)
    visits = _visits(seed, n)
    whole = policy.settle(visits, ledger=policy.new_ledger())
    ledger = policy.new_ledger()
    one_by_one = [None] * n
    for i in _time_order(visits):
        outcome = policy.settle([visits[i]], ledger=ledger)
        one_by_one[i] = outcome.results[0].to_json()
        ledger = outcome.ledger
    assert one_by_one == [r.to_json() for r in whole.results]
    assert ledger.to_json() == whole.ledger.to_json()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40))
def test_reversing_the_latest_settlement_restores_counters_and_balance(seed, n):
    visits = _visits(seed, n)
    before = GUIYANG.settle(visits, ledger=GUIYANG.new_ledger()).ledger
    last = max(range(n), key=lambda i: (time_key(parse_date(visits[i]["setl_time"], True)), i))
    psn = visits[last]["psn_no"]
    # a visit that states no balance of its own (acct_balc would reset the balance, which a
    # reversal does not undo: it returns what the settlement paid from the account)
    later = {
        k: v
        for k, v in dict(visits[last], setl_id="NEW", setl_time="2026-06-01").items()
        if k != "acct_balc"
    }
    after = GUIYANG.settle([later], ledger=before).ledger
    undone = GUIYANG.settle(
        [{"op": "reverse", "psn_no": psn, "setl_id": "NEW", "setl_time": "2026-06-02"}],
        ledger=after,
    ).ledger
    assert undone.used == before.used
    assert undone.balances == before.balances


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(2, 40), shuffle=st.randoms(use_true_random=False))
def test_the_ledger_is_the_same_whatever_the_input_order(seed, n, shuffle):
    visits = _visits(seed, n)
    keys = [time_key(parse_date(v["setl_time"], True)) for v in visits]
    perm = list(range(n))
    shuffle.shuffle(perm)
    # keep the given order among visits that share a time: that order is meaningful
    perm.sort(key=lambda i: keys[i])
    by_time: dict = {}
    for i in range(n):
        by_time.setdefault(keys[i], []).append(i)
    perm = [i for k in sorted(by_time) for i in by_time[k]]
    shuffle.shuffle(perm)
    slots: dict = {}
    for pos, i in enumerate(perm):
        slots.setdefault(keys[i], []).append(pos)
    order = [0] * n
    for k, members in by_time.items():
        for pos, i in zip(slots[k], members, strict=True):
            order[pos] = i
    a = GUIYANG.settle(visits, ledger=GUIYANG.new_ledger()).ledger.to_json()
    b = GUIYANG.settle([visits[i] for i in order], ledger=GUIYANG.new_ledger()).ledger.to_json()
    assert a == b


# ---- reversal ------------------------------------------------------------------------------


def test_reversal_returns_what_the_settlement_consumed_and_negates_its_amounts():
    first = GUIYANG.settle(
        [_visit(setl_time="2023-03-01", medfee_sumamt="400.00", setl_id="S1", acct_balc="500.00")],
        ledger=GUIYANG.new_ledger(),
    )
    [r] = first.results
    assert (r.hifp_pay, r.acct_pay, r.balc, r.seq) == (D("187.50"), D("212.50"), D("287.50"), 1)
    undo = GUIYANG.settle(
        [{"op": "reverse", "psn_no": "A", "setl_id": "S1", "setl_time": "2023-03-01"}],
        ledger=first.ledger,
    )
    [rev] = undo.results
    assert (rev.op, rev.hifp_pay, rev.acct_pay, rev.balc, rev.seq) == (
        "reverse",
        D("-187.50"),
        D("-212.50"),
        D("500.00"),
        2,
    )
    assert rev.pool_prop_selfpay == D("0.75")
    assert undo.ledger.counters("A") == []
    again = GUIYANG.settle(
        [_visit(setl_time="2023-04-01", medfee_sumamt="400.00", setl_id="S2")], ledger=undo.ledger
    )
    assert again.results[0].act_pay_dedc == D("150.00")  # the deductible came back


def test_a_reversal_in_the_same_call_comes_after_the_settlement_at_the_same_time():
    out = GUIYANG.settle(
        [
            {"op": "reverse", "psn_no": "A", "setl_id": "S1", "setl_time": "2023-03-01 10:00:00"},
            _visit(setl_time="2023-03-01 10:00:00", medfee_sumamt="400.00", setl_id="S1"),
            _visit(setl_time="2023-03-02", medfee_sumamt="400.00", setl_id="S2"),
        ],
        ledger=GUIYANG.new_ledger(),
    )
    assert [r.op for r in out.results] == ["reverse", "settle", "settle"]
    assert [r.seq for r in out.results] == [2, 1, 3]
    assert out.results[2].act_pay_dedc == D("150.00")


@pytest.mark.parametrize(
    "op, message",
    [
        (
            {"op": "reverse", "psn_no": "A", "setl_id": "NOPE", "setl_time": "2023-05-01"},
            "no settlement 'NOPE'",
        ),
        (
            {"op": "reverse", "psn_no": "B", "setl_id": "S1", "setl_time": "2023-05-01"},
            "belongs to another person",
        ),
        ({"op": "reverse", "psn_no": "A", "setl_id": "S1"}, "is required for a reversal"),
        (_visit(setl_time="2023-05-01", medfee_sumamt="1.00", setl_id="S1"), "already settled"),
    ],
)
def test_bad_reversals_and_repeated_settlements_are_errors_for_that_record(op, message):
    ledger = GUIYANG.settle(
        [_visit(setl_time="2023-03-01", medfee_sumamt="400.00", setl_id="S1")],
        ledger=GUIYANG.new_ledger(),
    ).ledger
    with pytest.raises(InputError) as e:
        GUIYANG.settle(
            [_visit(setl_time="2023-04-01", medfee_sumamt="1.00", setl_id="OK"), op], ledger=ledger
        )
    [problem] = e.value.problems
    assert problem.record == 2 and message in problem.message


def test_a_settlement_cannot_be_reversed_twice():
    ledger = GUIYANG.settle(
        [
            _visit(setl_time="2023-03-01", medfee_sumamt="400.00", setl_id="S1"),
            {"op": "reverse", "psn_no": "A", "setl_id": "S1", "setl_time": "2023-03-02"},
        ],
        ledger=GUIYANG.new_ledger(),
    ).ledger
    with pytest.raises(InputError, match="already reversed"):
        GUIYANG.settle(
            [{"op": "reverse", "psn_no": "A", "setl_id": "S1", "setl_time": "2023-03-03"}],
            ledger=ledger,
        )


# ---- the file -------------------------------------------------------------------------------


def test_ledger_json_round_trips_and_refuses_another_policy():
    ledger = GUIYANG.settle(_visits(3, 30), ledger=GUIYANG.new_ledger()).ledger
    text = ledger.to_json()
    again = Ledger.from_json(text, GUIYANG)
    assert again.to_json() == text
    shanxi = policylang.load(POLICIES / "shanxi-2022.pol")
    with pytest.raises(LedgerError, match="not 'shanxi_2022'"):
        Ledger.from_json(text, shanxi)
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger.from_json('{"schema_version": 99}', GUIYANG)


def test_an_amended_policy_keeps_unchanged_counters_and_drops_the_others():
    ledger = GUIYANG.settle(
        [_visit(setl_time="2023-03-01", medfee_sumamt="400.00", setl_id="S1")],
        ledger=GUIYANG.new_ledger(),
    ).ledger
    text = (POLICIES / "guiyang-2022.pol").read_text(encoding="utf-8")
    amended = policylang.loads(
        text.replace(
            "deductible 150 yuan per year", "deductible 150 yuan per year named annual_deductible"
        ),
        str(POLICIES / "guiyang-2022.pol"),
    )
    assert amended.hash != GUIYANG.hash
    moved = Ledger.from_json(ledger.to_json(), amended)
    assert moved.dropped == ["pooling.hifp.deductible.year"]
    assert [c["counter"] for c in moved.counters("A")] == ["pooling.hifp.cap.year"]


def test_the_ledger_schema_ships_and_describes_the_file():
    from importlib import resources

    schema = json.loads(
        resources.files("policylang").joinpath("schemas/ledger.schema.json").read_text("utf-8")
    )
    data = json.loads(GUIYANG.settle(_visits(5, 20), ledger=GUIYANG.new_ledger()).ledger.to_json())
    assert set(schema["required"]) <= set(data)
    person = schema["properties"]["persons"]["additionalProperties"]
    for p in data["persons"].values():
        assert set(person["required"]) <= set(p)


# ---- re-settlement -------------------------------------------------------------------------


def test_resettle_a_month_after_a_cap_change():
    visits = [
        _visit(setl_time="2024-01-05", medfee_sumamt="2800.00", setl_id="S1"),
        _visit(setl_time="2024-01-20", medfee_sumamt="600.00", setl_id="S2"),
        _visit(psn_no="B", setl_time="2023-12-20", medfee_sumamt="600.00", setl_id="S3"),
    ]
    ledger = GUIYANG.settle(visits, ledger=GUIYANG.new_ledger()).ledger
    text = (POLICIES / "guiyang-2022.pol").read_text(encoding="utf-8")
    amended = policylang.loads(
        text.replace("cap 2000 yuan per year", "cap 2500 yuan per year"),
        str(POLICIES / "guiyang-2022.pol"),
    )
    outcome = amended.resettle(
        Ledger.from_json(ledger.to_json(), amended), start="2024-01-01", end="2024-01-31"
    )
    diffs = {a.setl_id: a.difference() for a in outcome.adjustments}
    assert set(diffs) == {"S1", "S2"}  # 2023 is not re-settled
    assert diffs["S1"]["hifp_pay"] == "0.00"
    assert diffs["S2"]["hifp_pay"] == "437.50"  # (600 x 75%) = 450, up to the cap: 12.50 before
    assert diffs["S2"]["psn_cash_pay"] == "-437.50"
    assert outcome.ledger.counters("A")[0] == {
        "counter": "pooling.hifp.cap.year",
        "period": "2024",
        "each": None,
        "used": "2437.50",
    }


def test_resettle_with_a_corrected_claim_resettles_the_persons_later_visits():
    visits = [
        _visit(setl_time="2023-03-01", medfee_sumamt="100.00", setl_id="S1"),
        _visit(setl_time="2023-04-01", medfee_sumamt="400.00", setl_id="S2"),
    ]
    ledger = GUIYANG.settle(visits, ledger=GUIYANG.new_ledger()).ledger
    outcome = GUIYANG.resettle(ledger, [{"setl_id": "S1", "medfee_sumamt": "300.00"}])
    by_id = {a.setl_id: a for a in outcome.adjustments}
    assert by_id["S1"].new["act_pay_dedc"] == "150.00" and by_id["S1"].new["hifp_pay"] == "112.50"
    assert by_id["S2"].difference()["act_pay_dedc"] == "-50.00"
    with pytest.raises(InputError, match="names no recorded settlement"):
        GUIYANG.resettle(ledger, [{"setl_id": "S9", "medfee_sumamt": "1.00"}])


# ---- the command line ------------------------------------------------------------------------


def test_cli_settle_reverse_and_resettle_with_ledger_files(tmp_path):
    policy = str(POLICIES / "guiyang-2022.pol")
    visits = tmp_path / "v.json"
    visits.write_text(
        json.dumps(
            [
                _visit(setl_time="2024-01-05", medfee_sumamt="2800.00", setl_id="S1"),
                _visit(setl_time="2024-01-20", medfee_sumamt="600.00", setl_id="S2"),
            ]
        )
    )
    ledger = tmp_path / "ledger.json"
    r = CliRunner().invoke(
        main, ["settle", policy, str(visits), "--ledger-out", str(ledger), "--no-trace"]
    )
    assert r.exit_code == 0, r.output
    assert [x["seq"] for x in json.loads(r.stdout)] == [1, 2]
    reverse = tmp_path / "r.json"
    reverse.write_text(
        json.dumps([{"op": "reverse", "psn_no": "A", "setl_id": "S2", "setl_time": "2024-01-21"}])
    )
    r = CliRunner().invoke(
        main, ["settle", policy, str(reverse), "--ledger", str(ledger), "--ledger-out", str(ledger)]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["hifp_pay"] == "-12.50"
    bad = CliRunner().invoke(
        main, ["settle", policy, str(reverse), "--ledger", str(ledger), "--ledger-out", str(ledger)]
    )
    assert bad.exit_code == 1 and bad.stdout == "" and "already reversed" in bad.stderr
    data = json.loads(ledger.read_text())
    assert data["persons"]["A"]["seq"] == 3
    amended_dir = tmp_path / "amended"
    amended_dir.mkdir()
    (amended_dir / "gy.pol").write_text(
        (POLICIES / "guiyang-2022.pol")
        .read_text(encoding="utf-8")
        .replace("cap 2000 yuan per year", "cap 2500 yuan per year"),
        encoding="utf-8",
    )
    r = CliRunner().invoke(
        main,
        ["resettle", str(amended_dir / "gy.pol"), "--ledger", str(ledger), "--from", "2024-01-01"],
    )
    assert r.exit_code == 0, r.output
    assert [a["setl_id"] for a in json.loads(r.stdout)] == ["S1"]
