"""Issue 11, items 3, 5, 7 and 8, end to end: a ratio composed from an uplift, a reduction
with exemptions, a floor and a ceiling (each cited); the bill split a policy declares, with
a declared input; parameters where a notice says "to be announced" (a version's start, a
table's cell, an uplift, a document's date); traces that show every input that decided a
step.  The demonstration is examples/adjustments/ (an invented city, 14 visits derived by
hand in worked-example.json)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

import policylang
from policylang.backends import BACKENDS, backend
from policylang.cli import main
from policylang.inputs import InputError
from policylang.ir.demands import demands

from .conftest import ROOT, assert_hand_derived, read_json

FOLDER = ROOT / "examples" / "adjustments"
CITY = FOLDER / "qingyu-2025.pol"
CASE = read_json(FOLDER / "worked-example.json")
PARAMS = {k: str(v) for k, v in CASE["params"].items()}


@pytest.fixture(scope="module")
def qingyu():
    return policylang.load(CITY)


def test_the_example_checks_clean():
    results, _ = policylang.check_paths([FOLDER])
    assert {r.file.rsplit("/", 1)[-1]: r.diagnostics for r in results} == {"qingyu-2025.pol": []}


def test_visits_and_params_files_are_the_worked_examples_input():
    assert read_json(FOLDER / "visits.json") == CASE["input"]
    assert read_json(FOLDER / "params.json") == CASE["params"]
    assert len(CASE["input"]) >= 10


def test_hand_derived_results(qingyu, snapshot_json):
    got = [r.to_json() for r in qingyu.settle(CASE["input"], PARAMS)]
    assert_hand_derived(got, CASE["expected"])
    assert got == snapshot_json


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_every_backend_gives_the_hand_derived_results(qingyu, engine):
    params = policylang.inputs.validate_params(PARAMS, qingyu.ir)
    results = backend(engine)(qingyu.ir).settle(CASE["input"], params)
    assert [
        {k: r.to_json()[k] for k in want} for r, want in zip(results, CASE["expected"], strict=True)
    ] == CASE["expected"]


def _trace(result, rule_prefix: str):
    return [t for t in result.trace if t.rule.startswith(rule_prefix)]


def test_each_step_of_the_ratio_is_cited_and_shows_what_it_read(qingyu):
    r = qingyu.settle(CASE["input"], PARAMS)
    # #2: 60% (a parameter's cell) - 20 points, raised to the floor 55%
    ratio = [t for t in r[1].trace if t.field == "ratio"]
    assert [(t.rule, t.value, t.clause) for t in ratio] == [
        ("ratio [level3]", "60%", "二(三)"),
        ("reduce 20 points", "40%", "二(四)"),
        ("ratio at_least", "55%", "二(六)"),
    ]
    assert ratio[0].inputs == {
        "hosp_lv": "level3",
        "psn_type": "active",
        "referred": False,
        "emergency": False,
    }
    assert ratio[2].inputs == {"before": "40%", "floor": "55%"}
    # #3: not referred, but an emergency: the exemption's clause says why nothing was taken off
    (exempt,) = _trace(r[2], "reduce 20 points: exempt")
    assert (exempt.value, exempt.quote) == ("70%", "急诊抢救的除外")
    # #4: a primary institution needs no referral (the second exemption)
    (exempt,) = _trace(r[3], "reduce 20 points: exempt")
    assert exempt.quote == "在基层医疗机构就诊的不受首诊转诊限制"
    # #5: a retiree at a primary institution: 90%, lowered to the ceiling
    (ceiling,) = _trace(r[4], "ratio at_most")
    assert (ceiling.value, ceiling.inputs) == ("85%", {"before": "90%", "ceiling": "85%"})


def test_an_input_that_decided_the_ratio_is_in_its_trace_even_when_nothing_applied(qingyu):
    """Issue 11 item 8: a referred visit at level 2 gets 70% because it was referred; the
    trace of the ratio says so (before, only the table's field was shown)."""
    (r,) = qingyu.settle(
        [
            {
                "psn_no": "X",
                "psn_type": "active",
                "flxempe_flag": False,
                "setl_time": "2025-05-01",
                "hosp_lv": "level2",
                "medfee_sumamt": "300.00",
                "referred": True,
            }
        ],
        PARAMS,
    )
    (ratio,) = [t for t in r.trace if t.field == "ratio"]
    assert ratio.inputs == {
        "hosp_lv": "level2",
        "psn_type": "active",
        "referred": True,
        "emergency": False,
    }


def test_the_declared_bill_split_keeps_the_co_pay_in_and_takes_the_other_benefit_out(qingyu):
    r = qingyu.settle(CASE["input"], PARAMS)
    split = r[1].trace[0]
    assert split.field == "inscp_scp_amt" and split.rule == "in_policy excludes"
    assert split.formula == (
        "medfee_sumamt - fulamt_ownpay_amt - overlmt_selfpay - other_benefit_paid"
    )
    assert split.inputs["other_benefit_paid"] == "100.00"
    assert split.clause == "二(五)"
    assert r[3].inscp_scp_amt == Decimal("100.00")  # preselfpay_amt 20.00 stays in


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_parts_above_the_total_are_refused_by_every_backend(qingyu, engine):
    params = policylang.inputs.validate_params(PARAMS, qingyu.ir)
    visit = {**CASE["input"][1], "other_benefit_paid": "500.01"}
    with pytest.raises(InputError) as e:
        backend(engine)(qingyu.ir).settle([CASE["input"][0], visit], params)
    (problem,) = e.value.problems
    assert problem.record == 2 and problem.field == "medfee_sumamt"
    assert "fulamt_ownpay_amt + overlmt_selfpay + other_benefit_paid = 500.01" in str(problem)


def test_the_default_bill_split_is_the_platform_formula(guiyang):
    """Without `in_policy excludes`, the prelude is today's formula, and its IR unchanged."""
    (let,) = guiyang.ir.programs["settle"].prelude
    assert let.formula == "medfee_sumamt - fulamt_ownpay_amt - overlmt_selfpay - preselfpay_amt"
    assert let.prov.rule == "bill split"


def test_the_parameters_a_policy_needs_are_reported_together(qingyu):
    assert set(demands(qingyu.ir.programs["settle"]).params) == {"reform_start", "level3_ratio"}
    with pytest.raises(InputError) as e:
        qingyu.settle(CASE["input"], {})
    assert [p.field for p in e.value.problems] == ["level3_ratio", "reform_start"]


POLICY = """
policy tba "parameters where a notice says to be announced" {
  level city
  document "TBA〔2025〕1号" dated published
  rounding half_up to 0.01 yuan unstated "x"
  param published: date "发布日期" unstated "announced later"
  param start: date "施行日期" unstated "announced later"
  param end: date "截止日期" unstated "announced later"
  param lv2: percent "二级比例" unstated "announced later"
  param retiree_pts: points "退休提高" unstated "announced later"
  param cut: points "降低幅度" unstated "announced later"
  param floor_ratio: percent "最低比例" unstated "announced later"
  param cap_amount: money "最高支付限额" unstated "announced later"
  input referred: bool default true "转诊" unstated "x"
  pooling {
    from start until end unstated "x" {
      covers active, retiree, flexible unstated "x"
      deductible 0 yuan per year unstated "x"
      cap cap_amount per year unstated "x"
      ratio by hosp_lv {
        unrated | level1: 80%
        level2: lv2
        level3: 60%
      } unstated "x"
      uplift retiree_pts when psn_type = retiree unstated "x"
      reduce cut when not referred unstated "x"
      ratio at_least floor_ratio unstated "x"
    }
  }
}
"""


def _visit(**extra):
    return {
        "psn_no": "P",
        "psn_type": "retiree",
        "flxempe_flag": False,
        "setl_time": "2025-06-01",
        "hosp_lv": "level2",
        "medfee_sumamt": "100.00",
        **extra,
    }


TBA = {
    "published": "2025-01-01",
    "start": "2025-03-01",
    "end": "2025-12-31",
    "lv2": "70%",
    "retiree_pts": "5 points",
    "cut": "30 points",
    "floor_ratio": "50%",
    "cap_amount": "1000.00",
}


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_a_parameter_wherever_a_value_may_stand(engine):
    pol = policylang.loads(POLICY, "tba.pol")
    assert set(demands(pol.ir.programs["settle"]).params) == set(TBA) - {"published"}
    params = policylang.inputs.validate_params(TBA, pol.ir)
    visits = [
        _visit(),  # 70% + 5 = 75%
        _visit(referred=False),  # 75% - 30 = 45%, raised to 50%
        _visit(setl_time="2026-01-01"),  # after `until end`: not in force
        _visit(psn_no="Q", medfee_sumamt="2000.00"),  # 1500.00 cut to the cap 1000.00
    ]
    got = [
        (r.pool_prop_selfpay, r.hifp_pay, r.reason)
        for r in backend(engine)(pol.ir).settle(visits, params)
    ]
    assert got == [
        (Decimal("0.75"), Decimal("75.00"), None),
        (Decimal("0.5"), Decimal("50.00"), None),
        (None, Decimal("0.00"), "not_in_force"),
        (Decimal("0.75"), Decimal("1000.00"), None),
    ]


def test_a_document_dated_by_a_parameter_renders_and_round_trips(tmp_path):
    from policylang.formatter import format_policy
    from policylang.parser import parse

    ast, _ = parse(POLICY, "tba.pol")
    zh = format_policy(ast, lang="zh")
    assert '文号 "TBA〔2025〕1号" 日期 published' in zh
    assert parse(zh, "tba.pol")[0] == ast
    (tmp_path / "tba.pol").write_text(POLICY, encoding="utf-8")
    rendered = CliRunner().invoke(main, ["render", str(tmp_path / "tba.pol")])
    assert rendered.exit_code == 0, rendered.output
    assert "dated published" in rendered.output


def test_why_shows_the_reduction_its_exemption_and_the_bound(snapshot_text, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the output are as given: relative, the same everywhere
    r = CliRunner().invoke(
        main,
        [
            "why",
            "examples/adjustments/qingyu-2025.pol",
            "examples/adjustments/worked-example.json",
            "--psn",
            "R1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "raised to the floor 55%" in r.output and "lowered to the ceiling 85%" in r.output
    assert r.output == snapshot_text


def test_the_zh_translation_settles_the_same(qingyu, tmp_path):
    from policylang.formatter import format_policy
    from policylang.parser import parse

    ast, _ = parse(CITY.read_text(encoding="utf-8"), str(CITY))
    zh = tmp_path / "qingyu-zh.pol"
    zh.write_text(format_policy(ast, lang="zh"), encoding="utf-8")
    other = policylang.load(zh)
    from policylang.ir.serial import content_hash

    assert content_hash(other.ir) == content_hash(qingyu.ir)
    want = [r.to_json(trace=False) for r in qingyu.settle(CASE["input"], PARAMS)]
    got = [r.to_json(trace=False) for r in other.settle(CASE["input"], PARAMS)]
    assert got == want


def test_the_example_folder_readme_commands_run():
    r = CliRunner().invoke(
        main,
        ["settle", str(CITY), str(FOLDER / "visits.json"), "--format", "table"]
        + [f"--param={k}={v}" for k, v in PARAMS.items()],
    )
    assert r.exit_code == 0, r.output
    assert json.dumps(CASE["params"])  # the params file is JSON


def test_diff_settles_with_the_parameters_as_given(tmp_path):
    """`policylang diff` with a percentage parameter (it typed the parameters, then settle
    typed them again: 60% became an error, 5 points a twentieth of a point)."""
    changed = (
        CITY.read_text(encoding="utf-8")
        .replace("ratio at_least 55%", "ratio at_least 50%")
        .replace("except emergency", "except emergency or psn_type = retiree")
    )
    (tmp_path / "qingyu-2025.pol").write_text(changed, encoding="utf-8")
    r = CliRunner().invoke(
        main,
        ["diff", str(CITY), str(tmp_path / "qingyu-2025.pol"), "--format", "json"]
        + [f"--param={k}={v}" for k, v in PARAMS.items()],
    )
    assert r.exit_code == 1, r.output  # some visits settle differently
    report = json.loads(r.output)
    assert any("Ratio at least" in v["what"] for v in report["values"])
