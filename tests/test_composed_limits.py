"""The demonstration in examples/composed-limits/: an invented city whose notice composes
limits per visit, per day and per year, and limits the costs counted, not only the payment:

- ``cost_cap 4000 yuan per year`` -- at most 4000.00 of in-policy costs count per year;
- ``deductible by hosp_lv { ... } per visit total_at_most 100 yuan per year`` -- a per-visit
  deductible that differs by level, with a yearly ceiling on the total of those deductibles;
- ``cap 300 yuan per day`` and ``cap 1000 yuan per year`` -- two caps on one payment that
  interact (four visits that each owe 300 on different days: 300/300/300/100).

The results of its 15 visits are derived by hand (worked-example.json)."""

from __future__ import annotations

import json
import random

import pytest

import policylang
from policylang.backends import BACKENDS, NotSupported, backend
from policylang.ledger import Ledger

from .conftest import ROOT, assert_hand_derived, read_json
from .corpus import make_visits

FOLDER = ROOT / "examples" / "composed-limits"
CITY = FOLDER / "qingxi-2025.pol"
CASE = read_json(FOLDER / "worked-example.json")


@pytest.fixture(scope="module")
def qingxi():
    return policylang.load(CITY)


def _policy(statements: str) -> str:
    return (
        'policy t "t" {\n  level city\n  rounding half_up to 0.01 yuan unstated "t"\n'
        '  pooling {\n    from 2025-01-01 unstated "t" {\n'
        '      covers active, retiree unstated "t"\n      ratio 100% unstated "t"\n'
        + "\n".join(f'      {s} unstated "t"' for s in statements.split(";"))
        + "\n    }\n  }\n}\n"
    )


def _visit(day: str, bill: str, level: str = "level1", psn: str = "A") -> dict:
    return {
        "psn_no": psn,
        "psn_type": "active",
        "flxempe_flag": False,
        "setl_time": day,
        "hosp_lv": level,
        "medfee_sumamt": bill,
    }


def test_the_example_checks_clean():
    results, _ = policylang.check_paths([FOLDER])
    assert {r.file.rsplit("/", 1)[-1]: r.diagnostics for r in results} == {"qingxi-2025.pol": []}


def test_visits_json_is_the_worked_examples_input():
    assert read_json(FOLDER / "visits.json") == CASE["input"]
    assert len(CASE["input"]) >= 10


def test_hand_derived_results(qingxi, snapshot_json):
    got = [r.to_json() for r in qingxi.settle(CASE["input"])]
    assert_hand_derived(got, CASE["expected"])
    assert got == snapshot_json


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_every_backend_gives_the_hand_derived_results(qingxi, engine):
    results = backend(engine)(qingxi.ir).settle(CASE["input"], {})
    assert [
        {k: r.to_json()[k] for k in want} for r, want in zip(results, CASE["expected"], strict=True)
    ] == CASE["expected"]


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_interacting_daily_and_yearly_caps_are_settled_in_sequence(engine):
    """The trap of the simulation issue: yearly 1000 + daily 300 over visits that each owe
    300 on different days is 300/300/300/100 (a window per cap would give 300/300/0/0);
    on one day the daily cap shares out 300 between the visits in settlement order."""
    policy = policylang.loads(_policy("cap 300 yuan per day;cap 1000 yuan per year"), "t.pol")
    visits = [_visit(f"2025-03-0{d}", "300.00") for d in (1, 2, 3, 4, 5)]
    visits += [
        _visit("2025-04-01 09:00:00", "200.00", psn="B"),
        _visit("2025-04-01 10:00:00", "200.00", psn="B"),
        _visit("2025-04-01 11:00:00", "200.00", psn="B"),
    ]
    got = [str(r.hifp_pay) for r in backend(engine)(policy.ir).settle(visits, {})]
    assert got == ["300.00", "300.00", "300.00", "100.00", "0.00", "200.00", "100.00", "0.00"]


def test_the_ceiling_is_counted_per_year_across_levels(qingxi):
    """Retiree B: 10 + 10 + 10 + 30 taken, then 40 of the level-3 50, then nothing."""
    got = qingxi.settle([v for v in CASE["input"] if v["psn_no"] == "B"])
    assert [str(r.act_pay_dedc) for r in got] == [
        "10.00",
        "10.00",
        "10.00",
        "30.00",
        "40.00",
        "0.00",
    ]


def test_the_trace_shows_each_limit_with_its_clause(qingxi):
    b5, c2, c3 = (qingxi.settle(CASE["input"])[i] for i in (9, 12, 13))
    steps = [(t.field, t.value, t.clause) for t in b5.trace]
    # the deductible due, then the yearly total cutting it to what is left
    assert ("act_pay_dedc", "50.00", "二(三)") in steps
    assert ("act_pay_dedc", "40.00", "二(三)") in steps
    cut = next(t for t in b5.trace if t.field == "act_pay_dedc" and "cap" in t.inputs)
    assert dict(cut.inputs) == {"cap": "100.00", "taken_before": "60.00", "uncapped": "50.00"}
    counted = next(t for t in c2.trace if t.field == "inscp_counted")
    assert (counted.value, counted.clause) == ("100.00", "二(二)")
    assert dict(counted.inputs) == {
        "cap": "4000.00",
        "counted_before": "3900.00",
        "uncapped": "250.00",
    }
    assert c3.reason == "cost_cap_reached"
    assert c3.message_in("zh") == "计入的政策范围内费用已达到费用限额"


def test_why_explains_the_ceiling_and_the_cost_cap(qingxi):
    from policylang.why import explain

    [ex] = explain(qingxi, CASE["input"], {}, "settle", [12])
    words = [s.explanation for s in ex.steps if s.field == "inscp_counted"]
    assert words == [
        "4000.00 in total for the period, 3900.00 counted before this visit, 100.00 left: "
        "250.00 is cut to 100.00"
    ]


def test_fmt_writes_the_policy_in_chinese_and_back_with_the_same_meaning(qingxi):
    from policylang.formatter import format_source

    text = CITY.read_text(encoding="utf-8")
    zh = format_source(text, str(CITY), lang="zh")
    assert "政策范围内费用限额 4000 元 每 年" in zh
    assert "} 每 次 累计不超过 100 元 每 年" in zh
    assert policylang.loads(zh, str(CITY)).hash == qingxi.hash
    assert format_source(zh, str(CITY), lang="en") == format_source(text, str(CITY), lang="en")


def test_the_ledger_keeps_day_and_year_counters_between_calls(qingxi):
    """Settled one visit at a time through the ledger, the results and the counters are
    those of one call; the day counters are kept by date."""
    visits = [dict(v, setl_id=f"S{i}") for i, v in enumerate(CASE["input"])]
    whole = qingxi.settle(visits, ledger=qingxi.new_ledger())
    ledger = qingxi.new_ledger()
    one_by_one = []
    for v in visits:
        outcome = qingxi.settle([v], ledger=ledger)
        one_by_one += outcome.results
        ledger = Ledger.from_json(outcome.ledger.to_json(), qingxi)  # through the file format
    assert [r.to_json() for r in one_by_one] == [r.to_json() for r in whole.results]
    assert ledger.to_json() == whole.ledger.to_json()
    counters = {(c["counter"], c["period"]): c["used"] for c in ledger.counters("B")}
    assert counters[("pooling.hifp.cap.day", "2025-04-01")] == "300.00"
    assert counters[("pooling.hifp.cap.year", "2025")] == "408.50"
    assert counters[("pooling.hifp.deductible.visit.total_at_most.year", "2025")] == "100.00"
    assert counters[("pooling.hifp.cost_cap.year", "2025")] == "825.00"
    assert not any(c["counter"] == "pooling.hifp.deductible.visit" for c in ledger.counters("B"))


def test_closed_forms_where_exact_and_the_sequential_step_for_interacting_caps(qingxi):
    """The cost cap and the deductibles' total are one cap each on a non-negative amount,
    constant within their key: closed forms in SQL and columnar.  The daily and yearly caps
    on one payment interact: the sequential step (and the SQL refuses to be one query)."""
    pytest.importorskip("sqlglot")
    from policylang.backends.columnar import Columnar
    from policylang.backends.sql.base import SettleLowering

    lowering = SettleLowering(qingxi.ir)
    kinds = {tuple(g.counters): g.kind for g in lowering.groups.values()}
    assert kinds == {
        ("pooling.hifp.cost_cap.year",): "cap",
        ("pooling.hifp.deductible.visit.total_at_most.year",): "cap",
        ("pooling.hifp.cap.day", "pooling.hifp.cap.year"): "seq",
    }
    with pytest.raises(NotSupported, match="interacting caps"):
        lowering.plan.sql()
    plan = {s.counters: s.method for s in Columnar(qingxi.ir).plan}
    assert plan[("pooling.hifp.cost_cap.year",)] == "closed_form"
    assert plan[("pooling.hifp.deductible.visit.total_at_most.year",)] == "closed_form"
    assert plan[("pooling.hifp.cap.day", "pooling.hifp.cap.year")] == "sequential"
    # without the daily cap the yearly cap is one closed form too, after the give-back of
    # what the deductibles' total waives (proven non-negative)
    text = CITY.read_text(encoding="utf-8").replace(
        '      cap 300 yuan per day cite 二(五) "统筹基金单日最高支付300元"\n', ""
    )
    assert SettleLowering(policylang.loads(text, str(CITY)).ir).sequential == []


@pytest.mark.parametrize("seed", range(3))
def test_every_backend_agrees_with_the_reference_on_generated_visits(qingxi, seed):
    visits = make_visits(qingxi.ir, random.Random(seed), 150, {})
    want = [r.to_json(trace=False) for r in backend("reference")(qingxi.ir).settle(visits, {})]
    for name in BACKENDS:
        try:
            engine = backend(name)(qingxi.ir)
        except Exception as e:  # an optional engine not installed
            pytest.skip(str(e))
        got = [r.to_json(trace=False) for r in engine.settle(visits, {})]
        assert got == want, name


@pytest.mark.parametrize(
    "statements, bills, paid",
    [
        # a per-visit deductible with a daily total: 40 + 40 + 20 on one day, 40 the next
        (
            "deductible 40 yuan per visit total_at_most 100 yuan per day",
            [
                ("2025-01-02 08:00:00", "50.00"),
                ("2025-01-02 09:00:00", "50.00"),
                ("2025-01-02 10:00:00", "50.00"),
                ("2025-01-03", "50.00"),
            ],
            ["10.00", "10.00", "30.00", "10.00"],
        ),
        # a cost cap per visit: at most 500 of one visit's costs count
        ("cost_cap 500 yuan per visit", [("2025-01-02", "800.00")], ["500.00"]),
        # a cost cap per day with a yearly cost cap: the smaller room counts
        (
            "cost_cap 300 yuan per day;cost_cap 700 yuan per year named yearly_costs",
            [("2025-01-02", "400.00"), ("2025-01-03", "400.00"), ("2025-01-04", "400.00")],
            ["300.00", "300.00", "100.00"],
        ),
    ],
)
def test_limits_per_visit_day_and_year(statements, bills, paid):
    policy = policylang.loads(_policy(statements), "t.pol")
    visits = [_visit(day, bill) for day, bill in bills]
    for name in BACKENDS:
        results = backend(name)(policy.ir).settle(visits, {})
        assert [str(r.hifp_pay) for r in results] == paid, name


def test_existing_policies_compile_to_the_same_program():
    """No new variable or step unless a policy uses the new statements."""
    guiyang = policylang.load(ROOT / "policies" / "guiyang-2022.pol")
    names = {name for name, _, _ in guiyang.ir.programs["settle"].variables}
    assert not names & {"inscp_counted", "dedc_due", "dedc_kept"}
    assert json.loads(policylang.ir.serial.to_json(guiyang.ir))["schema"] == "policylang-ir/1"
