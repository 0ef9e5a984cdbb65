"""The columnar backend: its plan (closed forms only where exact), the traps a naive
columnar formula falls into, and ``CompiledPolicy.settle_table`` (Arrow in, Arrow out,
validated like the JSON path).  tests/test_backends.py runs it against the reference
on the whole corpus as well."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

try:
    from policylang.backends.columnar import Columnar  # raises naming the extra to install
    import pyarrow as pa
except ImportError as e:  # pragma: no cover - the test extra installs them
    pytest.skip(f"the columnar backend is not available: {e}", allow_module_level=True)

import policylang
from policylang.vocab import FURTHER_FUND_FIELDS
from policylang.backends.reference import Reference
from policylang.inputs import InputError, validate_params, validate_visits
from policylang.runtime import ratio as ratio_text

from .conftest import POLICIES
from .corpus import CORPUS, make_params, make_visits

D = Decimal
GUIYANG = POLICIES / "guiyang-2022.pol"

CAPS = """
policy two_caps "a yearly and a daily cap on one payment" {
  level city
  rounding half_up to 0.01 yuan unstated "test"
  pooling {
    from 2023-01-01 unstated "test" {
      covers active, retiree, flexible unstated "test"
      cap 1000 yuan per year unstated "test"
      cap 300 yuan per day unstated "test"
      ratio 100% unstated "test"
    }
  }
}
"""

BY_LEVEL = """
policy by_level "a deductible table by level" {
  level city
  rounding half_up to 0.01 yuan unstated "test"
  pooling {
    from 2023-01-01 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible by hosp_lv {
        unrated | level1: 50 yuan
        level2: 100 yuan
        level3: 200 yuan
      } per year EACH unstated "test"
      ratio 50% unstated "test"
    }
  }
}
"""

CROSSED = """
policy crossed "two deductibles, in one order then the other" {
  level city
  rounding half_up to 0.01 yuan unstated "test"
  pooling {
    from 2023-01-01 until 2023-06-30 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 100 yuan per year named a unstated "test"
      deductible 50 yuan per year when hosp_lv = level3 named b unstated "test"
      ratio 50% unstated "test"
    }
    from 2023-07-01 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 50 yuan per year when hosp_lv = level3 named b unstated "test"
      deductible 100 yuan per year named a unstated "test"
      ratio 60% unstated "test"
    }
  }
}
"""


SINK = """
policy sink "many shapes at once" {
  level city
  input age: number default 0 "age" unstated "test"
  input clinic: hosp_lv default "level1" "clinic" unstated "test"
  input extra: money default 0 yuan "extra" unstated "test"
  input doc: bool "doc" unstated "test"
  param local_cap: money "cap" unstated "test"
  param bonus_from: date "from" unstated "test"
  rounding half_even to 0.1 yuan unstated "test"
  setting account_covers = in_policy_selfpay unstated "test"
  pooling {
    from 2023-01-01 until bonus_from unstated "test" {
      covers active, retiree unstated "test"
      deductible 30 yuan per month each designated unstated "test"
      deductible by clinic {
        unrated | level1: 10 yuan
        level2 | level3: 25 yuan
      } per day each clinic when age >= 65.5 unstated "test"
      cap local_cap per year when extra > 10 yuan unstated "test"
      cap 500 yuan per month each clinic unstated "test"
      ratio by hosp_lv, psn_type {
        unrated | level1, active: 80%
        unrated | level1, retiree: 85%
        level2 | level3, *: 60%
      } unstated "test"
      uplift 5 points when setl_time >= 2023-06-01 and not doc unstated "test"
    }
    from bonus_from unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 30 yuan per month each designated unstated "test"
      cap local_cap per year when extra > 10 yuan unstated "test"
      ratio bands per month each clinic {
        until 100 yuan: 50%
        until 300 yuan: 65%
        beyond: 90%
      } unstated "test"
      uplift 5 points when doc unstated "test"
    }
  }
}
"""


def _visit(**kw):
    return {"psn_no": "A", "psn_type": "active", "flxempe_flag": False, "hosp_lv": "level2", **kw}


def _methods(policy) -> dict:
    return {(s.kind, s.counters): s.method for s in Columnar(policy.ir).plan}


def _json(results) -> list[dict]:
    return [r.to_json(trace=False) for r in results]


# ---- the plan --------------------------------------------------------------------------------


def test_guiyang_gets_the_closed_form_for_its_deductible_and_cap():
    methods = _methods(policylang.load(GUIYANG))
    assert methods == {
        ("deductible", ("pooling.hifp.deductible.year",)): "closed_form",
        ("cap", ("pooling.hifp.cap.year",)): "closed_form",
        ("account", ()): "closed_form",
    }
    assert "min(D, I_i) - min(D, I_(i-1))" in Columnar(policylang.load(GUIYANG).ir).explain_plan()


def test_a_yearly_and_a_daily_cap_fall_back_to_the_sequential_step():
    """Visits of 300.00 at 100%: two on 1 March, then one a day.  Each cap's own window
    formula, min(C, S_i) - min(C, S_(i-1)) over the uncapped share, gives the yearly cap
    300/300/300/100/0 and the daily cap 300/0/300/300/300, whose minimum 300/0/300/100/0
    is wrong: the daily cap stopped the second visit, so the year still has room for the
    fourth and fifth.  The right answer is 300/0/300/300/100."""
    policy = policylang.loads(CAPS)
    assert (
        _methods(policy)[("cap", ("pooling.hifp.cap.year", "pooling.hifp.cap.day"))] == "sequential"
    )
    visits = [
        _visit(setl_time="2023-03-01 09:00", medfee_sumamt="300.00"),
        _visit(setl_time="2023-03-01 15:00", medfee_sumamt="300.00"),
        _visit(setl_time="2023-03-02", medfee_sumamt="300.00"),
        _visit(setl_time="2023-03-03", medfee_sumamt="300.00"),
        _visit(setl_time="2023-03-04", medfee_sumamt="300.00"),
    ]
    got = Columnar(policy.ir).settle(visits, {})
    assert [r.hifp_pay for r in got] == [
        D("300.00"),
        D("0.00"),
        D("300.00"),
        D("300.00"),
        D("100.00"),
    ]
    assert [r.reason for r in got] == [None, "cap_reached", None, None, None]
    assert _json(got) == _json(Reference(policy.ir, tracing=False).settle(visits, {}))
    by_day = [_visit(setl_time=f"2023-03-0{d}", medfee_sumamt="300.00") for d in range(1, 5)]
    assert [r.hifp_pay for r in Columnar(policy.ir).settle(by_day, {})] == [D("300.00")] * 3 + [
        D("100.00")
    ]


@pytest.mark.parametrize("each, method", [("", "sequential"), ("each hosp_lv", "closed_form")])
def test_a_deductible_table_by_level_is_exact_either_way(each, method):
    policy = policylang.loads(BY_LEVEL.replace("EACH", each))
    [(key, got)] = [(k, m) for k, m in _methods(policy).items() if k[0] == "deductible"]
    assert got == method
    rnd = random.Random(5)
    visits = make_visits(policy.ir, rnd, 400, {})
    assert _json(Columnar(policy.ir).settle(visits, {})) == _json(
        Reference(policy.ir, tracing=False).settle(visits, {})
    )


def test_versions_that_charge_counters_in_different_orders_run_row_by_row():
    policy = policylang.loads(CROSSED)
    assert set(_methods(policy).values()) >= {"row_by_row"}
    for seed in range(5):
        visits = make_visits(policy.ir, random.Random(seed), 300, {})
        assert _json(Columnar(policy.ir).settle(visits, {})) == _json(
            Reference(policy.ir, tracing=False).settle(visits, {})
        )


def _outcome(engine, visits, params):
    try:
        return _json(engine.settle(visits, params))
    except InputError as e:  # the reference lists problems in execution order, others by record
        return sorted(str(p) for p in e.problems)


@pytest.mark.parametrize("seed", range(12))
def test_many_shapes_at_once_agree_with_the_reference(seed):
    """Dates and decimal numbers in conditions, each on a bool and on a declared enumeration,
    month and day periods, a version ending on a parameter, bands per month and clinic,
    half-even to the jiao, a required input some visits lack."""
    policy = policylang.loads(SINK).ir
    rnd = random.Random(seed)
    params = validate_params(make_params(policy, rnd), policy)
    visits = make_visits(policy, rnd, rnd.randint(1, 300), {k: str(v) for k, v in params.items()})
    for v in visits:
        if rnd.random() < 0.3:
            v["age"] = rnd.choice(["65", "65.5", "66", "70.25"])
        if (
            seed % 4 or rnd.random() > 0.02
        ):  # every fourth batch leaves out some: an error per such visit
            v["doc"] = rnd.random() < 0.5
    got = _outcome(Columnar(policy), visits, params)
    assert got == _outcome(Reference(policy, tracing=False), visits, params)
    if seed == 0:  # this batch reaches the problem path: the same problems are reported
        assert isinstance(got[0], str) and "field 'doc'" in got[0]


def test_amounts_near_the_fifteen_digit_limit_stay_exact():
    """Running sums of such amounts pass int64: the columns become Python ints."""
    policy = policylang.load(GUIYANG).ir
    rnd = random.Random(3)
    visits = make_visits(policy, rnd, 300, {})
    for v in visits:
        if rnd.random() < 0.5:
            v["medfee_sumamt"] = f"{rnd.randint(10**16, 10**17 - 1) / 100:.2f}"
        if rnd.random() < 0.3:
            v["acct_balc"] = "999999999999999.99"
    assert _json(Columnar(policy).settle(visits, {})) == _json(
        Reference(policy, tracing=False).settle(visits, {})
    )


@pytest.mark.parametrize(
    "path",
    [
        GUIYANG,
        POLICIES.parent / "tests" / "fixtures" / "variations" / "city.pol",
        POLICIES.parent / "tests" / "fixtures" / "valid" / "banded-ratios.pol",
    ],
)
def test_state_carries_from_one_call_to_the_next(path):
    policy = policylang.load(path, search=[path.parent]).ir
    visits = make_visits(policy, random.Random(8), 400, {})
    visits.sort(
        key=lambda v: (
            v["setl_time"].strip()[:10],
            len(v["setl_time"].strip()) > 10,
            v["setl_time"].strip()[11:],
        )
    )
    engine, reference = Columnar(policy), Reference(policy, tracing=False)
    state, got, journal = engine.new_state(), [], []
    want_state, want_journal = reference.new_state(), []
    for i in range(0, len(visits), 53):
        got += _json(engine.settle(visits[i : i + 53], {}, state, journal))
        reference.settle(visits[i : i + 53], {}, want_state, want_journal)
    assert got == _json(
        reference.settle(visits, {})
    )  # the audit fields too: seq carries across calls
    assert state == want_state and journal == want_journal


# ---- settle_table ------------------------------------------------------------------------------


def _table(records: list[dict], policy, **types) -> "pa.Table":
    """The records as a table: one column per field, null where a record lacks it."""
    names = list(dict.fromkeys(k for r in records for k in r))
    return pa.table({k: pa.array([r.get(k) for r in records], types.get(k)) for k in names})


def _rows(table) -> list[dict]:
    """A result table as the JSON contract writes results (no message, no trace)."""
    out = []
    for row in table.to_pylist():
        when = row["setl_time"]
        if isinstance(when, dt.datetime):
            when = when.isoformat(sep=" ")
        elif isinstance(when, dt.date):
            when = when.isoformat()
        r = {"psn_no": row["psn_no"], "setl_time": when}
        for k in ("medfee_sumamt", "inscp_scp_amt", "act_pay_dedc"):
            r[k] = str(row[k])
        r["pool_prop_selfpay"] = ratio_text(row["pool_prop_selfpay"])
        for k in (
            "hifp_pay",
            "fund_pay_sumamt",
            "psn_part_amt",
            "acct_pay",
            "acct_mulaid_pay",
            "psn_cash_pay",
        ):
            r[k] = str(row[k])
        for k in FURTHER_FUND_FIELDS:  # the funds the policy declares, when it declares any
            if k in row:
                r[k] = str(row[k])
        r["balc"] = None if row["balc"] is None else str(row["balc"])
        r["reason"] = row["reason"]
        out.append(r)
    return out


# a result's audit fields: compared apart (``_audit``), since the expectations of several tests
# come from ``settle`` on records that differ from the table only in how they spell a value
AUDIT = ("setl_id", "mdtrt_id", "op", "seq", "policy", "ir_hash")


def _contract(j: dict) -> dict:
    return {k: v for k, v in j.items() if k not in AUDIT}


def _expected(policy, visits, params) -> list[dict]:
    out = []
    for r in Reference(policy, tracing=False).settle(visits, params):
        j = _contract(r.to_json(trace=False))
        del j["message"]
        out.append(j)
    return out


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_settle_table_equals_the_reference_on_the_corpus(path):
    policy = policylang.loads(path.read_text(encoding="utf-8"), str(path), search=[path.parent])
    for seed in range(4):
        rnd = random.Random(seed)
        params = make_params(policy.ir, rnd)
        visits = make_visits(policy.ir, rnd, 300, params)
        got = policy.settle_table(_table(visits, policy.ir), params)
        assert got.column("row").to_pylist() == list(range(len(visits)))
        assert _rows(got) == _expected(policy.ir, visits, validate_params(params, policy.ir))
        assert _audit(got) == _audit_expected(policy.ir, visits, params)


def _audit(table) -> list[dict]:
    return table.select(list(AUDIT)).to_pylist()


def _audit_expected(policy, visits, params) -> list[dict]:
    results = Reference(policy, tracing=False).settle(visits, validate_params(params, policy))
    return [{k: r.to_json(trace=False)[k] for k in AUDIT} for r in results]


def test_settle_table_carries_the_audit_fields_of_each_visit():
    """setl_id and mdtrt_id as given (trimmed; null when absent), op, the person's seq in
    settlement order, the policy id and IR hash: what settle gives for each visit."""
    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(3), 200, {})
    for i, v in enumerate(visits):
        if i % 3:
            v["setl_id"] = f" S-{i} "
        if i % 4:
            v["mdtrt_id"] = f"M-{i}"
    got = policy.settle_table(_table(visits, policy.ir))
    assert _audit(got) == _audit_expected(policy.ir, visits, {})
    assert got.column("setl_id").to_pylist()[1] == "S-1"
    assert set(got.column("policy").to_pylist()) == {"guiyang_2022"}
    assert set(got.column("ir_hash").to_pylist()) == {policy.hash}


def test_decimal128_money_and_timestamp_times():
    policy = policylang.load(GUIYANG)
    rnd = random.Random(4)
    visits = make_visits(policy.ir, rnd, 400, {})
    for v in visits:  # every visit with a time of day: a timestamp column cannot say "date only"
        v["setl_time"] = (
            f"{v['setl_time'].strip()[:10]} {rnd.randint(0, 23):02d}:{rnd.choice([0, 30]):02d}:00"
        )
        v["medfee_sumamt"] = v["medfee_sumamt"].strip()
    money = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "acct_balc")
    typed = [
        {
            k: (
                D(x)
                if k in money and x is not None
                else dt.datetime.fromisoformat(x)
                if k == "setl_time"
                else x
            )
            for k, x in v.items()
        }
        for v in visits
    ]
    table = _table(
        typed, policy.ir, setl_time=pa.timestamp("s"), **{k: pa.decimal128(20, 4) for k in money}
    )
    assert table.schema.field("medfee_sumamt").type == pa.decimal128(20, 4)
    assert _rows(policy.settle_table(table)) == _expected(policy.ir, visits, {})


def test_date32_times_and_integer_yuan():
    policy = policylang.load(GUIYANG)
    visits = [
        _visit(
            psn_no=f"P{i % 7}",
            setl_time=f"2023-0{1 + i % 9}-{1 + i % 28:02d}",
            medfee_sumamt=100 + 37 * i,
            hosp_lv=["level1", "level2", "level3"][i % 3],
        )
        for i in range(60)
    ]
    table = _table(
        [{**v, "setl_time": dt.date.fromisoformat(v["setl_time"])} for v in visits], policy.ir
    )
    assert table.schema.field("setl_time").type == pa.date32()
    assert table.schema.field("medfee_sumamt").type == pa.int64()
    assert _rows(policy.settle_table(table)) == _expected(policy.ir, visits, {})


def test_results_come_back_in_input_row_order():
    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(9), 200, {})
    random.Random(1).shuffle(visits)
    got = policy.settle_table(_table(visits, policy.ir))
    assert got.column("row").to_pylist() == list(range(200))
    assert got.column("psn_no").to_pylist() == [v["psn_no"] for v in visits]
    assert _rows(got) == _expected(policy.ir, visits, {})


def test_the_message_column_is_the_settle_message():
    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(2), 150, {})
    got = policy.settle_table(_table(visits, policy.ir), messages=True)
    assert got.column("message").to_pylist() == [
        r.message for r in policy.settle(visits, trace=False)
    ]
    assert "message" not in policy.settle_table(_table(visits, policy.ir)).column_names


def test_types_read_as_the_json_path_reads_them():
    """Integer psn_no becomes text, Chinese aliases and spaces are accepted, dictionary
    columns are read through."""
    policy = policylang.load(GUIYANG)
    table = pa.table(
        {
            "psn_no": [7, 7, 8],
            "psn_type": pa.array(["退休", "retiree", "在职"]).dictionary_encode(),
            "flxempe_flag": [False, False, True],
            "setl_time": [" 2023-03-01 ", "2023-03-01T10:30", "2023-03-02 08:00:00"],
            "hosp_lv": ["三级", "level3", "一级"],
            "medfee_sumamt": ["+5", " 7.5 ", "12.340"],
        }
    )
    got = policy.settle_table(table)
    assert got.column("psn_no").to_pylist() == ["7", "7", "8"]
    # echoed normalised, as the JSON path echoes it
    assert got.column("setl_time").to_pylist() == [
        "2023-03-01",
        "2023-03-01 10:30:00",
        "2023-03-02 08:00:00",
    ]
    records = [
        dict(zip(table.column_names, row, strict=True))
        for row in zip(*(c.to_pylist() for c in table.columns), strict=True)
    ]
    assert _rows(got) == _expected(policy.ir, records, {})


def test_an_empty_table_gives_an_empty_table():
    policy = policylang.load(GUIYANG)
    got = policy.settle_table(
        _table([_visit(setl_time="2023-03-01", medfee_sumamt="1.00")], policy.ir).slice(0, 0)
    )
    assert got.num_rows == 0 and got.schema.field("hifp_pay").type == pa.decimal128(18, 2)


BAD = [  # (field, value) put into one row of a valid table
    ("medfee_sumamt", "12.345"),
    ("medfee_sumamt", "-5.00"),
    ("medfee_sumamt", "1000000000000000.00"),
    ("medfee_sumamt", "1e3"),
    ("acct_balc", "-0.01"),
    ("psn_type", "boss"),
    ("hosp_lv", "level4"),
    ("setl_time", "2023-02-30"),
    ("setl_time", "2023-03-01 24:00:00"),
    ("setl_time", "2023/03/01"),
    ("setl_time", "2023-03-01T10:30+08:00"),
    ("psn_no", "  "),
    ("fulamt_ownpay_amt", "500.00"),  # more than the total
]


@pytest.mark.parametrize("field, value", BAD)
def test_a_bad_value_is_reported_with_its_row_and_field_as_the_json_path_does(field, value):
    policy = policylang.load(GUIYANG)
    visits = [
        _visit(psn_no=f"P{i}", setl_time="2023-03-01", medfee_sumamt="400.00", acct_balc="1.00")
        for i in range(5)
    ]
    visits[3][field] = value
    with pytest.raises(InputError) as table_error:
        policy.settle_table(_table(visits, policy.ir))
    with pytest.raises(InputError) as json_error:
        validate_visits(visits, policy.ir)
    got = [(p.record, p.field, p.message, p.psn_no) for p in table_error.value.problems]
    assert got == [(p.record, p.field, p.message, p.psn_no) for p in json_error.value.problems]
    assert got[0][0] == 4 and got[0][1] == (
        "medfee_sumamt" if field == "fulamt_ownpay_amt" else field
    )


def test_decimal_values_are_checked_without_rounding():
    policy = policylang.load(GUIYANG)
    table = _table(
        [
            _visit(setl_time="2023-03-01", medfee_sumamt=D("1.005")),
            _visit(setl_time="2023-03-01", medfee_sumamt=D("1.500")),
        ],
        policy.ir,
        medfee_sumamt=pa.decimal128(10, 3),
    )
    with pytest.raises(InputError) as e:
        policy.settle_table(table)
    [problem] = e.value.problems
    assert (problem.record, problem.field) == (
        1,
        "medfee_sumamt",
    ) and "more than two decimal places" in problem.message


def test_whole_column_problems_are_reported_once():
    policy = policylang.load(GUIYANG)
    base = [_visit(setl_time="2023-03-01 10:00:00", medfee_sumamt="1.00")] * 3
    table = _table(base, policy.ir)
    floats = table.set_column(
        table.column_names.index("medfee_sumamt"), "medfee_sumamt", pa.array([1.0, 2.0, 3.0])
    )
    zoned = table.set_column(
        table.column_names.index("setl_time"),
        "setl_time",
        pa.array([dt.datetime(2023, 3, 1)] * 3, pa.timestamp("s", tz="Asia/Shanghai")),
    )
    for bad, field, words in (
        (floats, "medfee_sumamt", "floating-point"),
        (zoned, "setl_time", "time zone"),
        (table.append_column("hosp_level", pa.array(["x"] * 3)), "hosp_level", "hosp_lv"),
        (table.drop_columns(["psn_type"]), "psn_type", "required"),
    ):
        with pytest.raises(InputError) as e:
            policy.settle_table(bad)
        [problem] = e.value.problems
        assert (problem.record, problem.field) == (None, field) and words in problem.message


def test_settle_table_asks_for_parameters_first():
    shanxi = policylang.load(POLICIES / "shanxi-2022.pol")
    table = _table(
        [_visit(setl_time="2023-03-01", medfee_sumamt="100.00", acct_balc="50.00")], shanxi.ir
    )
    with pytest.raises(InputError, match="shanxi_account_use_from"):
        shanxi.settle_table(table)
    got = shanxi.settle_table(table, {"shanxi_account_use_from": "2022-01-13"})
    # Shanxi declares no account_covers: the account pays nothing, the balance is shown
    assert (got.column("acct_pay").to_pylist(), got.column("balc").to_pylist()) == (
        [D("0.00")],
        [D("50.00")],
    )
    assert shanxi.settle_table(table.drop_columns(["acct_balc"])).column("balc").to_pylist() == [
        None
    ]


def test_settle_table_of_the_shipped_example_matches_settle():
    import json

    path = Path(POLICIES.parent / "examples" / "guiyang-visits.json")
    visits = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    policy = policylang.load(GUIYANG)
    got = policy.settle_table(_table(visits, policy.ir), messages=True)
    want = [_contract(r.to_json(trace=False)) for r in policy.settle(visits, trace=False)]
    assert [
        {**r, "message": m}
        for r, m in zip(_rows(got), got.column("message").to_pylist(), strict=True)
    ] == want


# ---- what the table path accepts is what the JSON path accepts ---------------------------------

_TEXT_COLUMNS = {  # (usual values, unusual but valid ones, bad ones), every one text or absent
    "psn_no": (["A", "B", "甲"], [" A", "A ", "\u3000A"], ["", "  ", None]),
    # names, aliases and platform codes (1103 and 1203 imply flxempe_flag true: the record may
    # agree,
    # contradict it or leave it out); 13 and 离休 only where the policy maps them (lanshan-2024.pol)
    "psn_type": (
        ["active", "retiree", "在职", "退休", "11", "1201"],
        [" active", "退休 ", "1103", "1203", "１２０２", " 1101", "13", "离休"],
        ["Active", "boss", "99", None],
    ),
    "setl_time": (
        ["2023-03-01", "2023-03-01 10:30:00", "2023-03-02 09:00", "2024-01-05T08:15"],
        [" 2023-03-01 ", "２０２３－０３－０１", "2023-03-01T10:30:00", "2023-03-01\u300009:00"],
        ["2023-02-29", "2023/03/01", "2023-03-01T10:30+08:00", "2023-03-01 10:30:00.5", "", None],
    ),
    "hosp_lv": (["level1", "level2", "level3", "三级"], [" level1"], ["level4", None]),
    "medfee_sumamt": (
        ["400.00", "120.5", "1000"],
        ["0", "+5", " 7.5 ", "１２３.４", "12.340"],
        ["12.345", "-5", "1e3", "", "9" * 16, None],
    ),
    "fulamt_ownpay_amt": (["0", "10.00", None], ["-0.00", " 1"], ["abc", "500.00"]),
    "acct_balc": (["100.00", "0.00", None], [" 50", "０"], ["-1"]),
    "insutype": (["310", None], [" 310 ", "390"], ["", "\u3000"]),
    "med_type": (["11", None], ["14", "11\u3000", "9901"], ["  "]),
    "acct_used_flag": (["1", None], ["0", " 0"], ["2", ""]),
    "setl_id": (["S1", None], [" S2 ", "s-3"], [""]),
    "mdtrt_id": (["M1", None], ["M 2 "], [" "]),
}


def _table_records():
    from hypothesis import strategies as st

    def value(name):  # mostly usual, often unusual, now and then bad
        usual, odd, bad = _TEXT_COLUMNS[name]
        return st.integers(0, 99).flatmap(
            lambda k: st.sampled_from(usual if k < 70 else odd if k < 98 else bad)
        )

    record = st.fixed_dictionaries(
        {
            **{name: value(name) for name in _TEXT_COLUMNS},
            "flxempe_flag": st.sampled_from([False] * 12 + [True] * 6 + [None]),
            "designated": st.sampled_from([True, False, None]),
        }
    )
    return st.lists(record, min_size=1, max_size=6)


def _table_outcome(policy, records):
    names = list(dict.fromkeys(k for r in records for k in r))
    table = pa.table(
        {
            k: pa.array(
                [r.get(k) for r in records],
                pa.bool_() if k in ("flxempe_flag", "designated") else pa.string(),
            )
            for k in names
        }
    )
    try:
        got = policy.settle_table(table)
    except InputError as e:
        return [(p.record, p.field, p.message, p.psn_no) for p in e.problems]
    return _rows(got)


def _json_outcome(policy, records):
    try:
        got = policy.settle(records, trace=False)
    except InputError as e:
        return [(p.record, p.field, p.message, p.psn_no) for p in e.problems]
    return [
        {k: v for k, v in _contract(r.to_json(trace=False)).items() if k != "message"} for r in got
    ]


LANSHAN = POLICIES.parent / "examples" / "three-categories" / "lanshan-2024.pol"


@pytest.mark.parametrize("path", [GUIYANG, LANSHAN], ids=["guiyang", "lanshan"])
def test_the_table_path_accepts_what_the_json_path_accepts(path):
    """Text columns in every spelling the JSON path reads (trimmed, full-width digits, the
    platform's codes and the policy's own vocabulary) and in bad ones: the same results, or
    the same problems."""
    from hypothesis import given, settings

    policy = policylang.load(path)

    @settings(max_examples=300, deadline=None)
    @given(records=_table_records())
    def check(records):
        assert _table_outcome(policy, records) == _json_outcome(policy, records)

    check()


def test_a_code_supplies_the_flag_a_table_lacks():
    """psn_type 1103 means active with flxempe_flag true: a table without the flxempe_flag
    column is complete where every visit gives such a code, and each other visit lacks the
    flag, as in JSON; a flag that contradicts the code is that field's problem."""
    policy = policylang.load(GUIYANG)
    base = dict(setl_time="2023-03-01", hosp_lv="level2", medfee_sumamt="400.00")
    coded = [dict(base, psn_no="A", psn_type="1103"), dict(base, psn_no="B", psn_type=" 1203 ")]
    table = _table(coded, policy.ir)
    assert "flxempe_flag" not in table.column_names
    assert _table_outcome(policy, coded) == _json_outcome(policy, coded)
    assert _rows(policy.settle_table(table)) == _expected(policy.ir, coded, {})
    mixed = [*coded, dict(base, psn_no="C", psn_type="11")]
    with pytest.raises(InputError) as e:
        policy.settle_table(_table(mixed, policy.ir))
    assert [(p.record, p.field, p.message) for p in e.value.problems] == [
        (3, "flxempe_flag", "is required but missing")
    ]
    said = [dict(coded[0], flxempe_flag=False), dict(coded[1], flxempe_flag=True)]
    assert (
        _table_outcome(policy, said)
        == _json_outcome(policy, said)
        == [
            (
                1,
                "flxempe_flag",
                "false contradicts psn_type '1103' (灵活就业在职), which means active with "
                "flxempe_flag = true",
                "A",
            )
        ]
    )


def test_platform_fields_in_a_table():
    """insutype and med_type other than the scheme's stop the fund; acct_used_flag "0" keeps
    the account out; the codes are read trimmed, integers as text; " A" is the person "A"."""
    policy = policylang.load(GUIYANG)
    base = dict(
        psn_type="active",
        flxempe_flag=False,
        hosp_lv="level2",
        medfee_sumamt="400.00",
        acct_balc="50.00",
    )
    records = [
        dict(base, psn_no="A", setl_time="2023-03-01", insutype=" 310"),
        dict(base, psn_no=" A", setl_time="2023-03-02", insutype="390"),
        dict(base, psn_no="A", setl_time="2023-03-03", med_type="14"),
        dict(base, psn_no="A", setl_time="2023-03-04", acct_used_flag="0"),
    ]
    got = policy.settle_table(_table(records, policy.ir))
    assert got.column("reason").to_pylist() == [None, "other_scheme", "other_med_type", None]
    assert got.column("psn_no").to_pylist() == ["A"] * 4
    assert got.column("acct_pay").to_pylist()[3] == D("0.00")
    assert _rows(got) == _expected(policy.ir, records, {})
    ints = pa.table(
        {
            **{k: [v] * 2 for k, v in base.items() if k != "acct_balc"},
            "psn_no": [7, 7],
            "setl_time": ["2023-03-01", "2023-03-02"],
            "insutype": [310, 390],
            "acct_used_flag": [1, 0],
        }
    )
    assert ints.schema.field("insutype").type == pa.int64()
    got = policy.settle_table(ints)
    assert got.column("reason").to_pylist() == [None, "other_scheme"]
    assert _rows(got) == _expected(
        policy.ir,
        [
            dict(zip(ints.column_names, row, strict=True))
            for row in zip(*(c.to_pylist() for c in ints.columns), strict=True)
        ],
        {},
    )


def test_a_timestamp_with_fractional_seconds_is_refused_as_in_json():
    policy = policylang.load(GUIYANG)
    visits = [
        _visit(
            setl_time=dt.datetime(2023, 3, 1, 10, 30, s, 500_000 * (s == 2)), medfee_sumamt="400.00"
        )
        for s in range(4)
    ]
    for unit in ("ms", "us"):
        with pytest.raises(InputError) as table_error:
            policy.settle_table(_table(visits, policy.ir, setl_time=pa.timestamp(unit)))
        with pytest.raises(InputError) as json_error:
            validate_visits(visits, policy.ir)
        assert (
            [(p.record, p.field, p.message) for p in table_error.value.problems]
            == [(p.record, p.field, p.message) for p in json_error.value.problems]
            == [
                (
                    3,
                    "setl_time",
                    "2023-03-01T10:30:02.500000 has fractional seconds; give the time to the "
                    "second",
                )
            ]
        )
    table = _table(visits[:1], policy.ir, setl_time=pa.timestamp("s"))
    ns = pa.array(
        [1_677_666_600_000_000_001], pa.timestamp("ns")
    )  # nanoseconds: no datetime holds them
    with pytest.raises(InputError) as e:
        policy.settle_table(
            table.set_column(table.column_names.index("setl_time"), "setl_time", ns)
        )
    assert [(p.record, p.message) for p in e.value.problems] == [
        (1, "2023-03-01T10:30:00.000000001 has fractional seconds; give the time to the second")
    ]


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_closed_forms_stay_exact_with_state_carried_in(path):
    """Visits in time order, cut into chunks at random places; the chunks settle in turn by
    the columnar backend and the reference on one shared state (as a ledger read from a file,
    written by either backend), against the reference alone: the same results, state and
    journal.  Each chunk's closed forms start from what the state says each key used."""
    policy = policylang.loads(path.read_text(encoding="utf-8"), str(path), search=[path.parent]).ir
    columnar, reference = Columnar(policy, tracing=False), Reference(policy, tracing=False)
    for seed in range(3):
        rnd = random.Random(seed)
        params = validate_params(make_params(policy, rnd), policy)
        visits = make_visits(policy, rnd, 300, {k: str(v) for k, v in params.items()})
        visits.sort(
            key=lambda v: (
                v["setl_time"].strip()[:10],
                len(v["setl_time"].strip()) > 10,
                v["setl_time"].strip()[11:],
            )
        )
        cuts = sorted({0, len(visits), *(rnd.randrange(len(visits)) for _ in range(5))})
        mixed, alone = (reference.new_state(), []), (reference.new_state(), [])
        got, want = [], []
        for k, (a, b) in enumerate(pairwise(cuts)):
            engine = columnar if (k + seed) % 3 else reference
            got += [(a, r.to_json(trace=False)) for r in engine.settle(visits[a:b], params, *mixed)]
            want += [
                (a, r.to_json(trace=False)) for r in reference.settle(visits[a:b], params, *alone)
            ]
        assert got == want
        assert mixed == alone
