"""The demonstration in examples/second-fund/: an invented city whose visits are paid by two
funds -- the pooling fund (hifp_pay) and, above its annual cap, the employees' large-expense
subsidy (hifob_pay) with its own deductible, ratio and cap.  The results of its 13 visits
are derived by hand (worked-example.json)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import policylang
from policylang.backends import BACKENDS, backend

from .conftest import ROOT, read_json

FOLDER = ROOT / "examples" / "second-fund"
CITY = FOLDER / "qingshan-2024.pol"
CASE = read_json(FOLDER / "worked-example.json")


@pytest.fixture(scope="module")
def qingshan():
    return policylang.load(CITY)


def test_the_example_checks_clean():
    results, _ = policylang.check_paths([FOLDER])
    assert {r.file.rsplit("/", 1)[-1]: r.diagnostics for r in results} == {"qingshan-2024.pol": []}


def test_visits_json_is_the_worked_examples_input():
    assert read_json(FOLDER / "visits.json") == CASE["input"]
    assert len(CASE["input"]) >= 10


def test_hand_derived_results(qingshan, snapshot_json):
    got = [r.to_json() for r in qingshan.settle(CASE["input"])]
    assert len(got) == len(CASE["expected"])
    for i, (want, have) in enumerate(zip(CASE["expected"], got, strict=True)):
        for field, value in want.items():
            assert have[field] == value, (
                f"visit {i + 1}, field {field}: derived {value!r}, got {have[field]!r}"
            )
        total, hifp, hifob, fund, part = (
            Decimal(have[k])
            for k in ("medfee_sumamt", "hifp_pay", "hifob_pay", "fund_pay_sumamt", "psn_part_amt")
        )
        assert fund == hifp + hifob
        assert part == total - fund == Decimal(have["acct_pay"]) + Decimal(have["psn_cash_pay"])
    assert got == snapshot_json


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_every_backend_gives_the_hand_derived_results(qingshan, engine):
    results = backend(engine)(qingshan.ir).settle(CASE["input"], {})
    assert [
        {k: r.to_json()[k] for k in want} for r, want in zip(results, CASE["expected"], strict=True)
    ] == CASE["expected"]


def test_results_list_the_declared_fund_after_the_pooling_fund(qingshan):
    keys = list(qingshan.settle(CASE["input"][:1])[0].to_json())
    assert keys[keys.index("hifp_pay") + 1 : keys.index("fund_pay_sumamt")] == ["hifob_pay"]
    assert qingshan.settle(CASE["input"][:1])[0].funds == {
        "hifp_pay": Decimal("600.00"),
        "hifob_pay": Decimal("0.00"),
    }


def test_a_policy_without_further_funds_has_no_fund_fields():
    guiyang = policylang.load(ROOT / "policies" / "guiyang-2022.pol")
    visit = {
        "psn_no": "G",
        "psn_type": "active",
        "flxempe_flag": False,
        "setl_time": "2023-03-01",
        "hosp_lv": "level2",
        "medfee_sumamt": "500.00",
    }
    got = guiyang.settle([visit])[0].to_json()
    assert not {"hifob_pay", "cvlserv_pay"} & set(got)
    assert got["fund_pay_sumamt"] == got["hifp_pay"]


def test_the_trace_shows_each_funds_steps_in_order(qingshan):
    # visit 8 of the worked example: both funds pay, each with its own deductible and ratio
    visits = [v for v in CASE["input"] if v["psn_no"] == "R1"][:1]
    trace = [(t.field, t.value, t.rule) for t in qingshan.settle(visits)[0].trace]
    fields = [f for f, _, _ in trace]
    assert fields.index("hifp_pay") < fields.index("hifob_dedc") < fields.index("hifob_pay")
    assert ("hifob_dedc", "6000.00", "hifob deductible per year") in trace
    assert ("hifob_ratio", "85%", "hifob uplift") in trace
    assert ("hifob_pay", "16150.00", "rounding") in trace
    total = next(t for t in qingshan.settle(visits)[0].trace if t.field == "fund_pay_sumamt")
    assert total.formula == "hifp_pay + hifob_pay"
    assert total.inputs == {"hifp_pay": "3000.00", "hifob_pay": "16150.00"}


def test_each_fund_keeps_its_own_counters(qingshan):
    state, journal = {"used": {}, "balances": {}, "seq": {}}, []
    backend("reference")(qingshan.ir).settle(CASE["input"][:3], {}, state, journal)
    counters = {key[1]: used for key, used in state["used"].items() if key[0] == "A1"}
    assert counters == {
        "pooling.hifp.deductible.year": 100000,
        "pooling.hifp.cap.year": 300000,
        "pooling.hifob.deductible.year": 600000,
        "pooling.hifob.cap.year": 80000,
    }


def test_a_reversal_returns_both_funds_and_their_counters(qingshan, tmp_path):
    """R1's large visit (#8) is settled, kept in a ledger file, read back and reversed: the
    reversal returns both funds' payments and every counter of both funds."""
    big = {**CASE["input"][7], "setl_id": "S8"}
    first = qingshan.settle([big], ledger=qingshan.new_ledger())
    assert first.results[0].to_json()["hifob_pay"] == "16150.00"
    path = tmp_path / "ledger.json"
    first.ledger.write(str(path))
    ledger = qingshan.read_ledger(path)
    assert {c["counter"] for c in ledger.counters("R1")} == {
        "pooling.hifp.deductible.year",
        "pooling.hifp.cap.year",
        "pooling.hifob.deductible.year",
        "pooling.hifob.cap.year",
    }
    back = qingshan.settle(
        [{"op": "reverse", "psn_no": "R1", "setl_id": "S8", "setl_time": "2024-03-02"}],
        ledger=ledger,
    )
    got = back.results[0].to_json()
    assert (got["op"], got["hifp_pay"], got["hifob_pay"], got["fund_pay_sumamt"]) == (
        "reverse",
        "-3000.00",
        "-16150.00",
        "-19150.00",
    )
    assert back.ledger.counters("R1") == []
    # settled again after the reversal, the visit pays as the first time
    again = qingshan.settle([{**big, "setl_id": "S8b"}], ledger=back.ledger)
    assert again.results[0].to_json()["hifob_pay"] == "16150.00"


def test_why_shows_each_funds_steps():
    from click.testing import CliRunner

    from policylang.cli import main

    out = (
        CliRunner()
        .invoke(main, ["why", str(CITY), str(FOLDER / "visits.json"), "--record", "9"])
        .output
    )
    assert "hifob deductible           0.00  hifob deductible per year" in out
    assert "80% + 5 points = 85%, because psn_type = retiree" in out
    assert (
        "20000.00 for the period, 16150.00 paid before this visit, 3850.00 left: "
        "4250.00 is cut to 3850.00"
    ) in out
    assert "hifp_pay + hifob_pay = 3850.00" in out
    assert "hifp_pay 0.00, hifob_pay 3850.00, fund_pay_sumamt 3850.00" in out


def test_arrow_tables_carry_the_declared_fund(qingshan):
    pa = pytest.importorskip("pyarrow")
    rows = CASE["input"]
    names = sorted({k for r in rows for k in r})
    table = pa.table({k: [r.get(k) for r in rows] for k in names})
    got = qingshan.settle_table(table, {})
    assert str(got.schema.field("hifob_pay").type) == "decimal128(18, 2)"
    order = got.column_names
    assert order.index("hifp_pay") + 1 == order.index("hifob_pay")
    assert [format(x, "f") for x in got["hifob_pay"].to_pylist()] == [
        e["hifob_pay"] for e in CASE["expected"]
    ]


def test_the_results_table_has_a_column_per_declared_fund():
    from click.testing import CliRunner

    from policylang.cli import main

    out = (
        CliRunner()
        .invoke(main, ["settle", str(CITY), str(FOLDER / "visits.json"), "--format", "table"])
        .output
    )
    header, *_, total = out.rstrip("\n").splitlines()
    assert "Fund  Large expense  Fund total" in header
    assert total.split()[-5:] == ["23517.66", "35517.66", "34316.91", "100.00", "34216.91"]


def test_render_shows_the_fund_after_the_pooling_fund(qingshan):
    from policylang.render import render

    text = render(qingshan.ir, "md", "en")
    assert (
        "#### Fund hifob (hifob_pay): 职工大额医疗费用补助, settled after the pooling fund" in text
    )
    assert "| Deductible | 6000 yuan per year | 二(二)" in text
    assert "| unrated, level1, level2, level3 | 80% | 85%" in text


def test_diff_names_a_change_of_the_funds_ratio(tmp_path):
    from click.testing import CliRunner

    from policylang.cli import main

    amended = tmp_path / "qingshan-2024.pol"
    amended.write_text(
        CITY.read_text(encoding="utf-8").replace(
            'ratio 80% cite 二(二) "大额医疗费用补助支付80%"',
            'ratio 85% cite 二(二) "大额医疗费用补助支付85%"',
        ),
        encoding="utf-8",
    )
    out = CliRunner().invoke(main, ["diff", str(CITY), str(amended)]).output
    assert "fund hifob: ratio, level3, in-service employee" in out
    assert "80% [二(二)]  85% [二(二)]" in out
    # an employee reaching 12000.00 at level 3: 6000.00 above the band start, 5 points more
    assert "+300.00" in out


BAND = """policy band_{name} {{
  level city
  rounding half_up to 0.01 yuan unstated "g"
  input referred: bool default true "按规定转诊" unstated "g"
  pooling {{
    from 2024-01-01 unstated "g" {{
      covers active, retiree unstated "g"
      deductible 1000 yuan per year unstated "g"
      cap 3000 yuan per year unstated "g"
      ratio 60% unstated "g"
      {extra}
      fund hifob above_cap unstated "g" {{
        deductible 6000 yuan per year unstated "g"
        ratio 80% unstated "g"
      }}
    }}
  }}
}}
"""


@pytest.mark.parametrize(
    "name, extra, codes",
    [
        ("exact", "", []),
        # 60% - 10 = 50%: the cap is reached at 1000 + 3000 / 50% = 7000, after 6000
        ("reduced", 'reduce 10 points when not referred unstated "g"', ["C430"]),
        # the floor keeps the lowest ratio at 60%: the band starts where the cap is reached
        (
            "floored",
            'reduce 10 points when not referred unstated "g"  ratio at_least 60% unstated "g"',
            [],
        ),
    ],
)
def test_the_band_check_counts_reductions_and_floors(tmp_path, name, extra, codes):
    path = tmp_path / f"{name}.pol"
    path.write_text(BAND.format(name=name, extra=extra), encoding="utf-8")
    results, _ = policylang.check_paths([path])
    assert [d.code for r in results for d in r.diagnostics] == codes


SEVERAL = ROOT / "tests" / "fixtures" / "valid" / "several-funds.pol"


@pytest.mark.parametrize("path", [CITY, SEVERAL], ids=lambda p: p.name)
def test_every_table_engine_gives_the_same_table(path):
    """The columnar, duckdb and row-by-row (scalar, reference) table paths give one schema --
    each declared fund's column as decimal128(18, 2) after hifp_pay -- and the same rows."""
    import random

    pa = pytest.importorskip("pyarrow")
    pytest.importorskip("duckdb")
    from policylang.backends.common import settle_funds

    from .corpus import make_params, make_visits

    policy = policylang.load(path)
    rnd = random.Random(11)
    params = make_params(policy.ir, rnd)
    visits = make_visits(policy.ir, rnd, 120, params)
    names = list(dict.fromkeys(k for r in visits for k in r))
    table = pa.table({k: pa.array([r.get(k) for r in visits]) for k in names})
    want = policy.settle_table(table, params)
    cols = want.column_names
    funds = cols[cols.index("hifp_pay") + 1 : cols.index("fund_pay_sumamt")]
    assert tuple(funds) == settle_funds(policy.ir.programs["settle"]) != ()
    assert all(str(want.schema.field(f).type) == "decimal128(18, 2)" for f in funds)
    assert any(v for v in want["hifob_pay"].to_pylist()), "the further fund pays somewhere"
    for engine in ("duckdb", "scalar", "reference"):
        got = policy.settle_table(table, params, engine=engine)
        assert got.schema == want.schema, engine
        assert got.to_pylist() == want.to_pylist(), engine
