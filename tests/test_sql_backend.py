"""The SQL backend beyond the differential tests: the traps a window query falls into
(interacting caps, the settlement order within a day, year boundaries, ties), tables
with DECIMAL yuan, the emitted query run as it is, state carried between calls, errors
in records, and refusals that name the step.  tests/test_backends.py runs it against
the reference on the whole corpus."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner

import policylang
from policylang.backends import NotSupported
from policylang.backends.common import time_key
from policylang.cli import main
from policylang.inputs import (
    PLATFORM_FIELDS,
    InputError,
    parse_date,
    validate_params,
    validate_visits,
)

from .conftest import POLICIES, make_backend
from .corpus import CORPUS, make_params, make_visits

duckdb = pytest.importorskip(
    "duckdb", reason="the SQL backend needs DuckDB: pip install 'policylang[sql]'"
)
pytest.importorskip(
    "sqlglot", reason="the SQL backend needs sqlglot: pip install 'policylang[sql]'"
)
pytest.importorskip(
    "pyarrow", reason="the SQL backend needs pyarrow: pip install 'policylang[sql]'"
)

from policylang.backends.sql import base  # noqa: E402
from policylang.backends.sql.duckdb import DuckDB  # noqa: E402

D = Decimal
GUIYANG = POLICIES / "guiyang-2022.pol"

POLICY = """
policy t "test" {{
  level city
  {extra}
  rounding half_up to 0.01 yuan unstated "test"
  pooling {{
    from 2023-01-01 unstated "test" {{
      covers active, retiree, flexible unstated "test"
      {rules}
    }}
  }}
}}
"""


def _policy(rules: str, extra: str = "") -> policylang.CompiledPolicy:
    return policylang.loads(POLICY.format(rules=rules, extra=extra))


def _visit(when: str, amount: str, psn: str = "A", **kw) -> dict:
    return {
        "psn_no": psn,
        "psn_type": "active",
        "flxempe_flag": False,
        "hosp_lv": "level2",
        "setl_time": when,
        "medfee_sumamt": amount,
        **kw,
    }


def _both(
    policy: policylang.CompiledPolicy,
    visits: list[dict],
    params: dict | None = None,
    engine: str = "duckdb",
) -> tuple[list, list]:
    """(engine, reference) results as JSON without trace or message."""
    typed = validate_params(params or {}, policy.ir)
    out = []
    for name in (engine, "reference"):
        results = make_backend(name, policy.ir, tracing=False).settle(visits, typed)
        out.append(
            [{k: v for k, v in r.to_json(trace=False).items() if k != "message"} for r in results]
        )
    return out[0], out[1]


# ---- the interacting-caps trap --------------------------------------------------------------

TWO_CAPS = """cap 1000 yuan per year unstated "test"
      cap 300 yuan per day unstated "test"
      ratio 100% unstated "test"
"""


def test_interacting_caps_settle_one_visit_at_a_time():
    """A yearly cap of 1000 and a daily cap of 300, visits that each owe 300.  Each cap is
    charged what the fund finally pays, so the second visit of 1 March (cut to 0 by the
    daily cap) uses nothing of the yearly cap.  A window per cap would charge the yearly
    cap the unlimited 300 and stop a visit early."""
    policy = _policy(TWO_CAPS)
    days = [
        "2023-03-01 09:00:00",
        "2023-03-01 10:00:00",
        "2023-03-02",
        "2023-03-03",
        "2023-03-04",
        "2023-03-05",
    ]
    visits = [_visit(d, "300.00") for d in days]
    got, want = _both(policy, visits)
    assert got == want
    assert [r["hifp_pay"] for r in got] == ["300.00", "0.00", "300.00", "300.00", "100.00", "0.00"]
    assert [r["reason"] for r in got][-1] == "cap_reached"
    # what a window per cap (each charged its own cut of the unlimited amount) would pay
    yearly = [min(300, max(0, 1000 - 300 * i)) for i in range(len(days))]
    daily = [300, 0, 300, 300, 300, 300]
    assert [min(a, b) for a, b in zip(yearly, daily, strict=True)] == [
        300,
        0,
        300,
        100,
        0,
        0,
    ]  # the trap is real
    # four visits on four days: 300/300/300/100
    got, want = _both(policy, [_visit(f"2023-04-0{d}", "300.00") for d in range(1, 5)])
    assert got == want and [r["hifp_pay"] for r in got] == ["300.00", "300.00", "300.00", "100.00"]


def test_interacting_caps_have_no_single_query():
    policy = _policy(TWO_CAPS)
    db = DuckDB(policy.ir)
    assert [k.counters for k in db.plan.kernels] == [
        ("pooling.hifp.cap.year", "pooling.hifp.cap.day")
    ]
    with pytest.raises(NotSupported, match="interacting caps"):
        db.plan.sql()


def raised_cap_policy() -> policylang.CompiledPolicy:
    """A yearly cap of 2000 raised to 2500 by a version from 1 July: one counter, two
    amounts within one year."""
    text = POLICY.format(
        extra="", rules='cap 2000 yuan per year unstated "t"\n ratio 50% unstated "t"'
    ).replace(
        'from 2023-01-01 unstated "test" {', 'from 2023-01-01 until 2023-06-30 unstated "test" {', 1
    )
    text = text.replace(
        "  }\n}\n",
        """    from 2023-07-01 unstated "raised" {
      covers active, retiree, flexible unstated "test"
      cap 2500 yuan per year unstated "test"
      ratio 50% unstated "test"
    }
  }
}
""",
    )
    return policylang.loads(text)


RAISED_CAP_VISITS = [
    _visit("2023-03-01", "4000.00"),
    _visit("2023-08-01", "2000.00"),
    _visit("2023-09-01", "2000.00"),
]


def test_a_cap_raised_mid_year_is_settled_in_sequence():
    """One counter, two amounts within one year: no closed form, the sequential step."""
    policy = raised_cap_policy()
    got, want = _both(policy, RAISED_CAP_VISITS)
    assert got == want and [r["hifp_pay"] for r in got] == ["2000.00", "500.00", "0.00"]
    assert "differs between the versions" in DuckDB(policy.ir).plan.kernels[0].why


# ---- the settlement order --------------------------------------------------------------------


def test_a_date_alone_comes_before_every_time_that_day_whatever_the_input_order():
    policy = policylang.load(GUIYANG)
    visits = [
        _visit("2023-03-01 00:00:00", "100.00"),
        _visit("2023-03-01 08:00", "100.00"),
        _visit("2023-03-01", "100.00"),
        _visit("2023-02-28T23:59:59", "20.00"),
    ]
    got, want = _both(policy, visits)
    assert got == want
    # 28 Feb takes 20 of the 150; the date alone (third in the input) takes 100; midnight the last
    # 30
    assert [r["act_pay_dedc"] for r in got] == ["30.00", "0.00", "100.00", "20.00"]


def test_visits_at_one_time_settle_in_input_order():
    policy = policylang.load(GUIYANG)
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        base = [_visit("2023-03-01 10:00:00", a) for a in ("100.00", "40.00", "300.00")]
        visits = [base[i] for i in order]
        got, want = _both(policy, visits)
        assert got == want
        taken = D(0)
        for r, v in zip(
            got, visits, strict=True
        ):  # each takes what the earlier ones in the input left
            assert D(r["act_pay_dedc"]) == min(D(v["medfee_sumamt"]), D(150) - taken)
            taken += D(r["act_pay_dedc"])


def test_the_deductible_and_cap_start_again_on_1_january():
    policy = policylang.load(GUIYANG)
    visits = [
        _visit("2023-12-31 23:59:59", "4000.00"),
        _visit("2024-01-01", "200.00"),
        _visit("2023-12-31", "100.00"),
        _visit("2024-01-01 00:00:01", "4000.00"),
        _visit("2024-12-31", "500.00"),
        _visit("2025-01-01 08:00", "500.00"),
    ]
    got, want = _both(policy, visits)
    assert got == want
    assert [r["act_pay_dedc"] for r in got] == [
        "50.00",
        "150.00",
        "100.00",
        "0.00",
        "0.00",
        "150.00",
    ]
    assert [r["hifp_pay"] for r in got] == ["2000.00", "35.00", "0.00", "1965.00", "0.00", "245.00"]


# ---- tables already in DuckDB ----------------------------------------------------------------


def _load_table(con, name: str, visits: list[dict], policy, money_type: str) -> None:
    typed = validate_visits(visits, policy.ir)
    cols = base.visit_columns(policy.ir)
    types = {n: (money_type if t == "money" else sql) for n, t, sql in cols}
    con.execute(f"CREATE TABLE {name} (" + ", ".join(f"{n} {types[n]}" for n, _, _ in cols) + ")")
    rows = []
    for i, v in enumerate(typed):
        t = v["setl_time"]
        row = [
            i,
            v["psn_no"],
            v["psn_type"],
            v["flxempe_flag"],
            t.date() if isinstance(t, dt.datetime) else t,
            t if isinstance(t, dt.datetime) else None,
            v["hosp_lv"],
            v["designated"],
        ]
        for f in (
            "medfee_sumamt",
            "fulamt_ownpay_amt",
            "overlmt_selfpay",
            "preselfpay_amt",
            "acct_balc",
        ):
            x = v[f]
            row.append(
                None if x is None else x if money_type.startswith("DECIMAL") else int(x * 100)
            )
        row += [v.get(f) for f in PLATFORM_FIELDS]
        rows.append(row)
    con.executemany(f"INSERT INTO {name} VALUES (" + ", ".join("?" * len(cols)) + ")", rows)


def test_a_table_of_decimal_yuan_settles_to_the_fen():
    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(8), 400, {})
    con = duckdb.connect()
    _load_table(con, "claims", visits, policy, "DECIMAL(18, 2)")
    query = DuckDB.table_query(policy.ir, con, "claims")
    assert "DECIMAL(38, 2)" in query and " / " not in query  # yuan times 100, never divided
    rows = con.sql(query).fetchall()
    want = make_backend("reference", policy.ir, tracing=False).settle(visits, {})
    names = ["row_no", *base.SETTLE_OUTPUTS]
    for row, r in zip(rows, want, strict=True):
        got = dict(zip(names, row, strict=True))
        j = r.to_json(trace=False)
        for field in (
            "inscp_scp_amt",
            "act_pay_dedc",
            "hifp_pay",
            "psn_part_amt",
            "acct_pay",
            "psn_cash_pay",
        ):
            assert D(got[field]) / 100 == D(j[field]), (field, j)
        assert got["reason"] == j["reason"]
        assert (None if got["balc"] is None else D(got["balc"]) / 100) == (
            None if j["balc"] is None else D(j["balc"])
        )


def test_a_decimal_finer_than_a_fen_is_an_error_not_a_rounding():
    policy = policylang.load(GUIYANG)
    con = duckdb.connect()
    _load_table(con, "claims", [_visit("2023-03-01", "100.00")], policy, "DECIMAL(18, 4)")
    con.execute("UPDATE claims SET medfee_sumamt = 100.005")
    query = DuckDB.table_query(policy.ir, con, "claims", extras=True)
    [row] = con.sql(query).fetchall()
    assert row[-1] == "F:medfee_sumamt"


def test_the_emitted_query_runs_as_printed_and_agrees():
    result = CliRunner().invoke(
        main, ["compile", str(GUIYANG), "--emit", "sql", "--dialect", "duckdb"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("-- policylang: the settle program of policy guiyang_2022")
    assert re.search(r"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW", result.output)
    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(9), 300, {})
    con = duckdb.connect()
    _load_table(con, "visits", visits, policy, "BIGINT")
    names = ["row_no", *base.SETTLE_OUTPUTS]
    rows = [dict(zip(names, row, strict=True)) for row in con.sql(result.output).fetchall()]
    want = [
        r.to_json(trace=False)
        for r in make_backend("reference", policy.ir, tracing=False).settle(visits, {})
    ]
    assert [r["row_no"] for r in rows] == list(range(len(visits)))
    for r, w in zip(rows, want, strict=True):
        assert (r["hifp_pay"], r["acct_pay"], r["reason"]) == (
            int(D(w["hifp_pay"]) * 100),
            int(D(w["acct_pay"]) * 100),
            w["reason"],
        )


def test_the_spark_query_has_no_duckdb_types_and_parses_as_spark():
    import sqlglot

    result = CliRunner().invoke(
        main, ["compile", str(GUIYANG), "--emit", "sql", "--dialect", "spark"]
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "HUGEINT" not in text and "INT128" not in text and " // " not in text
    assert "DECIMAL(38, 0)" in text and " DIV " in text
    assert sqlglot.parse_one(text, read="spark") is not None


# ---- refusals ------------------------------------------------------------------------------

SWAPPED = """
policy swapped "two deductibles in the other order" {
  level city
  rounding half_up to 0.01 yuan unstated "test"
  pooling {
    from 2023-01-01 until 2023-06-30 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 100 yuan per year named a unstated "test"
      deductible 50 yuan per year named b unstated "test"
      ratio 50% unstated "test"
    }
    from 2023-07-01 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 50 yuan per year named b unstated "test"
      deductible 100 yuan per year named a unstated "test"
      ratio 50% unstated "test"
    }
  }
}
"""


def test_a_program_without_a_plan_is_refused_naming_its_counters(tmp_path):
    policy = policylang.loads(SWAPPED)
    with pytest.raises(
        NotSupported, match=r"counters a, b are charged in a different order by two versions"
    ):
        DuckDB(policy.ir)
    path = tmp_path / "swapped.pol"
    path.write_text(SWAPPED, encoding="utf-8")
    result = CliRunner().invoke(main, ["compile", str(path), "--emit", "sql"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "different order by two versions" in result.stderr


def test_compile_refuses_a_program_with_no_closed_form_and_prints_nothing(tmp_path):
    path = tmp_path / "caps.pol"
    path.write_text(POLICY.format(extra="", rules=TWO_CAPS), encoding="utf-8")
    for dialect in ("duckdb", "spark"):
        result = CliRunner().invoke(
            main, ["compile", str(path), "--emit", "sql", "--dialect", dialect]
        )
        assert result.exit_code == 1 and result.stdout == ""
        assert f"cannot be written as one {dialect} query" in result.stderr
        assert (
            "pooling.hifp.cap.year and pooling.hifp.cap.day together on one payment"
            in result.stderr
        )
    assert CliRunner().invoke(main, ["compile", str(path)]).exit_code == 0  # the IR is still there


# ---- errors in records ------------------------------------------------------------------------


def _errors(engine, policy, visits, params=None):
    try:
        engine.settle(visits, validate_params(params or {}, policy.ir))
    except InputError as e:
        return [str(p) for p in e.problems]
    return None


def test_errors_in_records_are_the_references_in_its_order():
    """A ratio pushed past 100% by a parameter, an input a rule reads but the record lacks:
    the same problems as the reference, in its order (by record)."""
    policy = _policy(
        'ratio r unstated "t"\n      uplift 10 points when age >= 70 unstated "t"',
        'param r: percent "ratio" unstated "t"\n  input age: number "age" unstated "t"',
    )
    visits = [
        _visit("2023-03-02", "100.00", age="71"),
        _visit("2023-03-01", "100.00"),
        _visit("2022-12-01", "100.00"),
        _visit("2023-03-03", "100.00", age="69.5"),
    ]
    for r in ("95%", "90%"):
        want = _errors(
            make_backend("reference", policy.ir, tracing=False), policy, visits, {"r": r}
        )
        assert _errors(DuckDB(policy.ir), policy, visits, {"r": r}) == want
    assert want == [
        "record 2 (psn_no A): field 'age': is required by the rule that applies to this record"
    ]
    assert _errors(DuckDB(policy.ir), policy, visits, {"r": "95%"}) == [
        "record 1 (psn_no A): field '(record)': the ratio that applies comes to 105%, outside "
        "0%..100%; "
        "check the parameters",
        "record 2 (psn_no A): field 'age': is required by the rule that applies to this record",
    ]


# ---- state between calls, messages -----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [p for p in CORPUS if p.name in ("guiyang-2022.pol", "city.pol", "banded-ratios.pol")],
    ids=lambda p: p.name,
)
def test_settling_in_chunks_with_state_equals_one_call(path):
    policy = policylang.loads(path.read_text(encoding="utf-8"), str(path), search=[path.parent]).ir
    rnd = random.Random(4)
    params = validate_params(make_params(policy, rnd), policy)
    visits = make_visits(policy, rnd, 400, {k: str(v) for k, v in params.items()})
    visits.sort(key=lambda v: time_key(parse_date(v["setl_time"].strip(), with_time=True)))
    db = DuckDB(policy)
    whole = [r.to_json() for r in db.settle(visits, params)]
    state = db.new_state()
    chunked = [
        r.to_json()
        for i in range(0, len(visits), 37)
        for r in db.settle(visits[i : i + 37], params, state)
    ]
    assert chunked == whole
    assert state["used"] and state["balances"]


def _handover_policies():
    for path in CORPUS:
        if path.name in ("guiyang-2022.pol", "city.pol", "banded-ratios.pol"):
            yield pytest.param(
                policylang.loads(
                    path.read_text(encoding="utf-8"), str(path), search=[path.parent]
                ).ir,
                id=path.name,
            )
    yield pytest.param(_policy(TWO_CAPS).ir, id="two-caps")  # the sequential step, seeded
    yield pytest.param(
        _policy(
            'deductible 50 yuan per month unstated "t"\n      cap 400 yuan per day unstated "t"\n'
            '      ratio 80% unstated "t"'
        ).ir,
        id="month-and-day",
    )


@pytest.mark.parametrize("policy", list(_handover_policies()))
def test_state_and_journal_are_every_backends(policy):
    """The state is the one every backend keeps (buckets a year, a (year, month), a date):
    calls alternating between the reference and DuckDB on one state give the reference's
    results, state and journal."""
    rnd = random.Random(9)
    params = validate_params(make_params(policy, rnd), policy)
    visits = make_visits(policy, rnd, 240, {k: str(v) for k, v in params.items()})
    visits.sort(key=lambda v: time_key(parse_date(v["setl_time"].strip(), with_time=True)))
    ref, db = make_backend("reference", policy, tracing=False), DuckDB(policy)
    want_state, want_journal, want = ref.new_state(), [], []
    got_state, got_journal, got = db.new_state(), [], []
    for n, i in enumerate(range(0, len(visits), 40)):
        chunk = visits[i : i + 40]
        want += [
            r.to_json(trace=False) for r in ref.settle(chunk, params, want_state, want_journal)
        ]
        engine = (ref, db)[n % 2]
        got += [
            r.to_json(trace=False) for r in engine.settle(chunk, params, got_state, got_journal)
        ]
        assert got_state == want_state
    assert got == want
    assert got_journal == want_journal
    assert want_state["used"] and want_state["seq"]


def test_messages_are_the_references():
    """Messages are built from the values by the shared runtime, so they agree with the
    reference's, in English and in Chinese."""
    for path in CORPUS:
        policy = policylang.loads(
            path.read_text(encoding="utf-8"), str(path), search=[path.parent]
        ).ir
        rnd = random.Random(6)
        params = validate_params(make_params(policy, rnd), policy)
        visits = make_visits(policy, rnd, 150, {k: str(v) for k, v in params.items()})
        want = [
            (r.message, r.message_in("zh"))
            for r in make_backend("reference", policy, tracing=False).settle(visits, params)
        ]
        assert [
            (r.message, r.message_in("zh")) for r in DuckDB(policy).settle(visits, params)
        ] == want, path.name


def test_the_compiled_policy_can_settle_with_duckdb():
    policy = policylang.CompiledPolicy(policylang.load(GUIYANG).ir, engine="duckdb")
    visits = [
        _visit(
            "2023-03-01",
            "860.00",
            psn_type="retiree",
            hosp_lv="level3",
            fulamt_ownpay_amt="60.00",
            preselfpay_amt="40.00",
        )
    ]
    [r] = policy.settle(visits)
    assert (r.act_pay_dedc, r.hifp_pay, r.psn_part_amt) == (D("150.00"), D("427.00"), D("433.00"))
    assert r.trace == () and json.dumps(r.to_json())


def test_parentheses_follow_the_tree():
    a, b = base.Val(base.column("a")), base.Val(base.column("b"))
    assert base.not_(base.and_(a, b)).sql().sql() == "NOT (a AND b)"
    assert (
        base.arith(
            "-",
            base.Val(base.column("x"), scale=2, lo=0, hi=10),
            base.arith(
                "-",
                base.Val(base.column("y"), scale=2, lo=0, hi=10),
                base.Val(base.column("z"), scale=2, lo=0, hi=10),
            ),
        )
        .sql()
        .sql()
        == "x - (y - z)"
    )


# ---- what the corpus does not have -----------------------------------------------------------

MIXED = """
policy mixed "a deductible by level shared across levels, monthly counters, bands" {
  level city
  rounding half_even to 0.05 yuan unstated "test"
  setting account_covers = in_policy_selfpay unstated "test"
  pooling {
    from 2023-01-01 unstated "test" {
      covers active, retiree unstated "test"
      deductible by hosp_lv {
        unrated | level1: 50 yuan
        level2: 100 yuan
        level3: 200 yuan
      } per year unstated "test"
      deductible 30 yuan per month when psn_type = retiree unstated "test"
      cap 500 yuan per month unstated "test"
      ratio bands per year {
        until 300 yuan: 50%
        beyond: 90%
      } unstated "test"
      uplift 5 points when psn_type = retiree unstated "test"
    }
  }
}
"""


def test_a_deductible_whose_amount_varies_within_its_key_runs_in_sequence():
    """One yearly deductible whose amount depends on the level of each visit (not kept apart
    by ``each hosp_lv``): the sequential step; with monthly counters, a conditional
    deductible, bands, half-even rounding to 0.05 yuan and the in-policy account rule."""
    policy = policylang.loads(MIXED)
    db = DuckDB(policy.ir)
    assert [(k.mode, k.counters) for k in db.plan.kernels] == [
        ("consume", ("pooling.hifp.deductible.year",))
    ]
    for seed in range(6):
        rnd = random.Random(seed)
        got, want = _both(policy, make_visits(policy.ir, rnd, rnd.randint(50, 300), {}))
        assert got == want


@pytest.mark.parametrize("mode", ["half_up", "half_even", "down", "up"])
def test_credit_rounds_like_the_reference_in_every_mode(mode):
    text = f"""
policy c "credit" {{
  level city
  param pension: money "p" unstated "test"
  rounding {mode} to 0.05 yuan unstated "test"
  crediting {{
    from 2023-01-01 unstated "test" {{
      rule active when psn_type = active: credit contribution_base unstated "test"
      rule retiree when psn_type = retiree: credit pension × 3% unstated "test"
    }}
  }}
}}
"""
    policy = policylang.loads(text)
    persons = [
        {
            "psn_no": f"P{i}",
            "psn_type": t,
            "flxempe_flag": False,
            "on": "2023-05-01",
            "contribution_base": f"{b}.{c:02d}",
        }
        for i, (t, b, c) in enumerate(
            [
                (t, b, c)
                for t in ("active", "retiree")
                for b in (0, 7, 100)
                for c in (0, 2, 3, 5, 7, 8)
            ]
        )
    ]
    params = validate_params({"pension": "3125.57"}, policy.ir)
    want = [
        r.to_json(trace=False)
        for r in make_backend("reference", policy.ir, tracing=False).credit(persons, params)
    ]
    got = [r.to_json(trace=False) for r in DuckDB(policy.ir).credit(persons, params)]
    assert got == want


# ---- the table path: Arrow in, Arrow out, as the columnar backend ---------------------------


def _arrow(records: list[dict]):
    import pyarrow as pa

    names = list(dict.fromkeys(k for r in records for k in r))
    return pa.table({k: pa.array([r.get(k) for r in records]) for k in names})


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_settle_table_equals_the_columnar_table_on_every_row(path):
    """Every column of every row (money, ratio, reason, balance, audit fields), against the
    columnar backend, which tests/test_columnar.py holds to the reference."""
    policy = policylang.loads(path.read_text(encoding="utf-8"), str(path), search=[path.parent])
    try:
        engine = DuckDB(policy.ir, tracing=False)
    except NotSupported:
        pytest.skip("the duckdb backend does not run this policy")
    rnd = random.Random(5)
    params = make_params(policy.ir, rnd)
    visits = make_visits(policy.ir, rnd, 300, params)
    for i, v in enumerate(visits[::3]):
        v["setl_id"] = f"S{i}"
    table = _arrow(visits)
    got = engine.settle_table(table, validate_params(params, policy.ir))
    want = policy.settle_table(table, params)
    assert got.schema == want.schema
    assert got.to_pylist() == want.to_pylist()


def test_settle_table_reports_bad_rows_as_the_columnar_path_does():
    policy = policylang.load(GUIYANG)
    visits = [_visit("2023-03-01", "100.00"), _visit("2023-03-02", "-5.00")]
    with pytest.raises(InputError) as bad:
        DuckDB(policy.ir, tracing=False).settle_table(_arrow(visits), {})
    assert "record 2" in str(bad.value) and "medfee_sumamt" in str(bad.value)
