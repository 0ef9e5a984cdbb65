"""`policylang why`: a result explained step by step, from its trace and the IR program."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest
from click.testing import CliRunner

import policylang
import policylang.inputs
from policylang import why
from policylang.cli import main

from .conftest import ROOT
from .corpus import CORPUS, make_params, make_visits

GUIYANG = "policies/guiyang-2022.pol"
PENSION = "guizhou_avg_pension_2022=3125.50"


def run(*args, monkeypatch):
    monkeypatch.chdir(ROOT)
    return CliRunner().invoke(main, [str(a) for a in args])


CASES = {
    "visit-retiree-level3": [GUIYANG, "examples/guiyang-visits.json", "--record", "2"],
    "cap-cuts-the-share": [
        GUIYANG,
        "tests/examples/guiyang/settle/07-cap-reached-mid-visit.json",
        "--record",
        "3",
    ],
    "cap-room-left": [
        GUIYANG,
        "tests/examples/guiyang/settle/07-cap-reached-mid-visit.json",
        "--record",
        "2",
    ],
    "cap-reached": [
        GUIYANG,
        "tests/examples/guiyang/settle/07-cap-reached-mid-visit.json",
        "--record",
        "4",
    ],
    "not-in-force-account-pays": [
        GUIYANG,
        "tests/examples/guiyang/settle/09-before-in-force.json",
        "--psn",
        "A009",
    ],
    "credit-flexible-pensioner": [
        GUIYANG,
        "examples/guiyang-persons.json",
        "--param",
        PENSION,
        "--record",
        "3",
    ],
    "credit-no-rule": [
        GUIYANG,
        "examples/guiyang-persons.json",
        "--param",
        PENSION,
        "--record",
        "4",
    ],
    "may-pay-planned": [GUIYANG, "examples/guiyang-requests.json", "--record", "3"],
    "city-several-caps-and-inputs": [
        "tests/fixtures/variations/city.pol",
        "tests/fixtures/variations/visits.json",
        "--record",
        "3",
    ],
}


@pytest.mark.parametrize("args", [pytest.param(a, id=k) for k, a in CASES.items()])
def test_why_explains_each_step(args, monkeypatch, snapshot_text):
    r = run("why", *args, monkeypatch=monkeypatch)
    assert r.exit_code == 0, r.output
    assert r.stdout == snapshot_text


def test_why_json(monkeypatch, snapshot_json):
    r = run(
        "why",
        GUIYANG,
        "examples/guiyang-visits.json",
        "--record",
        "2",
        "--format",
        "json",
        monkeypatch=monkeypatch,
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["policy"] == "guiyang_2022" and out["hash"] == policylang.load(ROOT / GUIYANG).hash
    [record] = out["records"]
    steps = record["steps"]
    assert [s["what"] for s in steps][:6] == [
        "version in force",
        "in-policy amount",
        "deductible",
        "ratio",
        "ratio",
        "fund pays",
    ]
    assert all("clause" in s and "inputs" in s for s in steps)
    assert out == snapshot_json


def test_every_trace_step_is_shown(monkeypatch):
    """The explanation is the trace, in order, plus the version (and the cap's room)."""
    policy = policylang.load(ROOT / GUIYANG)
    visits = json.loads((ROOT / "examples" / "guiyang-visits.json").read_text(encoding="utf-8"))
    results = policy.settle(visits)
    explained = why.explain(policy, visits, {}, "settle", list(range(len(visits))))
    for result, ex in zip(results, explained, strict=True):
        from_trace = [
            (s.field, s.value, s.rule)
            for s in ex.steps
            if s.what not in ("version in force", "cap", "outcome")
        ]
        assert from_trace == [(t.field, t.value, t.rule) for t in result.trace]
        assert ex.steps[0].what == "version in force"


def test_selecting_records(monkeypatch):
    r = run(
        "why", GUIYANG, "examples/guiyang-visits.json", "--psn", "GY-001", monkeypatch=monkeypatch
    )
    assert r.exit_code == 0 and r.stdout.count("visit ") == sum(
        1
        for v in json.loads((ROOT / "examples" / "guiyang-visits.json").read_text(encoding="utf-8"))
        if v["psn_no"] == "GY-001"
    )
    assert (
        run(
            "why",
            GUIYANG,
            "examples/guiyang-visits.json",
            "--record",
            "99",
            monkeypatch=monkeypatch,
        ).exit_code
        == 2
    )
    assert (
        run(
            "why",
            GUIYANG,
            "examples/guiyang-visits.json",
            "--psn",
            "nobody",
            monkeypatch=monkeypatch,
        ).exit_code
        == 2
    )
    assert (
        run(
            "why",
            GUIYANG,
            "examples/guiyang-visits.json",
            "--psn",
            "GY-001",
            "--record",
            "1",
            monkeypatch=monkeypatch,
        ).exit_code
        == 2
    )
    r = run("why", "examples/guiyang-visits.json", GUIYANG, monkeypatch=monkeypatch)
    assert r.exit_code == 2 and "wrong way round" in r.output
    r = run(
        "why", GUIYANG, "examples/guiyang-persons.json", "--record", "1", monkeypatch=monkeypatch
    )
    assert r.exit_code == 1 and "guizhou_avg_pension_2022" in r.stderr  # a parameter the rules need


def test_the_kind_is_told_by_the_fields_or_given():
    assert why.detect_kind([{"psn_no": "A", "setl_time": "2023-01-01"}]) == "settle"
    assert why.detect_kind([{"relation": "self", "item": "drug"}]) == "may_pay"
    assert why.detect_kind([{"psn_no": "A", "on": "2023-01-01"}]) == "credit"
    assert why.detect_kind([{"psn_no": "A"}]) is None


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_the_room_under_each_cap_agrees_with_the_ledger(path):
    """What ``why`` reads off earlier results for a cap agrees with the backends' ledger: the
    fund never pays beyond any cap's room, and when a cap cut the payment its trace step's
    paid_before is the room ``why`` found."""
    policy = policylang.loads(path.read_text(encoding="utf-8"), str(path), search=[path.parent])
    rnd = random.Random(f"why-{path.stem}")
    text_params = make_params(policy.ir, rnd)
    visits = make_visits(policy.ir, rnd, 300, text_params)
    try:
        results = policy.settle(visits, text_params)
    except policylang.InputError:  # pragma: no cover - a drawn parameter made a ratio impossible
        pytest.skip("the generated parameters make a ratio impossible")
    program = policy.ir.programs["settle"]
    rows = policylang.inputs.validate_visits(visits, policy.ir)
    values = policylang.inputs.validate_params(text_params, policy.ir)
    checked = 0
    for i in range(0, len(visits), 3):
        rooms = why.cap_rooms(program, rows, results, i, values)
        fund = results[i].hifp_pay
        for _, amount, before in rooms:
            assert fund <= max(amount - before, Decimal(0)), (i, amount, before, fund)
        for t in results[i].trace:
            if t.field == "hifp_pay" and "cap" in t.inputs:
                assert (Decimal(t.inputs["cap"]), Decimal(t.inputs["paid_before"])) in {
                    (amount, before) for _, amount, before in rooms
                }
                checked += 1
    assert checked or "cap" not in path.read_text(encoding="utf-8")


def test_why_selects_a_visit_by_its_setl_id(monkeypatch):
    from click.testing import CliRunner

    from policylang.cli import main

    monkeypatch.chdir(ROOT)
    by_id = CliRunner().invoke(
        main,
        ["why", "policies/guiyang-2022.pol", "examples/live/visit-1.json", "--setl-id", "S-0105-1"],
    )
    by_record = CliRunner().invoke(
        main, ["why", "policies/guiyang-2022.pol", "examples/live/visit-1.json", "--record", "1"]
    )
    assert by_id.exit_code == 0 and by_id.stdout == by_record.stdout
    missing = CliRunner().invoke(
        main,
        ["why", "policies/guiyang-2022.pol", "examples/live/visit-1.json", "--setl-id", "NOPE"],
    )
    assert missing.exit_code == 2 and "no record" in missing.output


def test_a_further_fund_s_steps_are_named_in_chinese_by_the_policy_s_name_for_it():
    """Issue #13: hifob's steps read 职工大额医疗费用补助 起付标准 (the name the policy
    declares: fund hifob "职工大额医疗费用补助"), not "hifob deductible"; English and the
    JSON's ``what`` keep the English key."""
    compiled = policylang.load(ROOT / "examples" / "second-fund" / "qingshan-2024.pol")
    visits = json.loads((ROOT / "examples" / "second-fund" / "visits.json").read_text())
    [ex] = why.explain(compiled, visits, {}, "settle", [2], "zh")
    assert ex.fund_names == {"hifob": "职工大额医疗费用补助"}
    zh = why.render_text(compiled.id, "qingshan-2024.pol", [ex], "zh")
    assert "职工大额医疗费用补助 起付标准" in zh and "职工大额医疗费用补助 支付比例" in zh
    assert "职工大额医疗费用补助 起付标准 每 年" in zh  # the rule, too
    assert "hifob deductible" not in zh and "hifob ratio" not in zh and "hifob pays" not in zh
    assert {"hifob deductible", "hifob ratio", "hifob pays"} <= {s.what for s in ex.steps}
    [en] = why.explain(compiled, visits, {}, "settle", [2], "en")
    assert "hifob deductible per year" in why.render_text(compiled.id, "q.pol", [en], "en")
    # with no name declared, the platform's name of the fund
    assert why.label("hifob pays", "zh") == "职工大额医疗费用补助基金 支付"
    assert why.label("hifob pays", "en") == "hifob pays"


def test_a_tier_is_named_as_the_policy_declares_it_in_chinese(monkeypatch):
    """``tier primary "一级及以下" = unrated, level1``: the ratio's rule reads 支付比例
    [一级及以下] in Chinese, ratio [primary] in English; the name is how the rule is shown,
    not what the policy means, so the IR (and its hash) does not carry it."""
    monkeypatch.chdir(ROOT)
    args = ["why", "policies/guiyang-2022.pol", "examples/guiyang-visits.json", "--record", "1"]
    zh = CliRunner().invoke(main, ["--lang", "zh", *args])
    en = CliRunner().invoke(main, args)
    assert zh.exit_code == en.exit_code == 0, zh.output + en.output
    assert "支付比例 [一级及以下]" in zh.output and "primary" not in zh.output
    assert "ratio [primary]" in en.output
    policy = policylang.load(ROOT / "policies" / "guiyang-2022.pol")
    assert policy.ir.tier_labels == {"primary": "一级及以下"}
    assert "tier_labels" not in policy.ir_json()
