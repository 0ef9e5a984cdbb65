"""The IR program: its JSON and hash, the order of execution, versions and
counters, exact arithmetic whatever the caller's decimal context, parameters
found before the first result, and JSON Lines streaming."""

from __future__ import annotations

import decimal
import json
import os
import random
import subprocess
import sys
from decimal import Decimal

import pytest
from click.testing import CliRunner

import policylang
from policylang.backends import BACKENDS
from policylang.cli import main
from policylang.inputs import InputError

from .conftest import POLICIES, ROOT, make_backend
from .corpus import make_visits

GUIYANG = POLICIES / "guiyang-2022.pol"
D = Decimal


def _visit(**kw):
    base = {"psn_no": "A", "psn_type": "active", "flxempe_flag": False, "hosp_lv": "level2"}
    return {**base, **kw}


# ---- the IR as JSON ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["guiyang-2022.pol", "shanxi-2022.pol"])
def test_compile_emit_ir_snapshot(name, snapshot):
    result = CliRunner().invoke(main, ["compile", str(POLICIES / name), "--emit", "ir"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema"] == "policylang-ir/1" and data["hash"].startswith("sha256:")
    assert result.output == snapshot


def _compile_in_subprocess(seed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "policylang", "compile", str(GUIYANG)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout


def test_ir_json_is_byte_stable_across_hash_seeds():
    assert _compile_in_subprocess("1") == _compile_in_subprocess("4242")


def test_every_step_carries_its_clause_and_a_span_relative_to_the_policy():
    data = json.loads(policylang.load(GUIYANG).ir_json())
    consume = next(
        s
        for b in data["programs"]["settle"]["blocks"]
        for s in b["steps"]
        if s["node"] == "Consume"
    )
    assert consume["prov"]["clause"] == "二(一)"
    assert consume["prov"]["span"]["file"] == "guiyang-2022.pol"
    assert consume["counter"] == "pooling.hifp.deductible.year"


def test_hash_ignores_layout_translation_and_place_but_not_meaning(tmp_path):
    from policylang.formatter import format_policy
    from policylang.parser import parse

    text = GUIYANG.read_text(encoding="utf-8")
    original = policylang.load(GUIYANG)
    ast, _ = parse(text, str(GUIYANG))
    zh = tmp_path / "elsewhere" / "gy.pol"
    zh.parent.mkdir()
    zh.write_text(format_policy(ast, "zh"), encoding="utf-8")
    assert policylang.load(zh).hash == original.hash
    assert policylang.load(zh).ir == original.ir
    changed = policylang.loads(text.replace("cap 2000 yuan", "cap 2500 yuan"), str(GUIYANG))
    assert changed.hash != original.hash


# ---- order --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_reordering_visits_that_do_not_share_a_time_changes_nothing(engine):
    policy = policylang.load(GUIYANG).ir
    run = make_backend(engine, policy, tracing=True)
    rnd = random.Random(11)
    visits = make_visits(policy, rnd, 300, {})
    base = [r.to_json() for r in run.settle(visits, {})]
    from policylang.backends.common import time_key
    from policylang.inputs import parse_date

    keys = [time_key(parse_date(v["setl_time"].strip(), with_time=True)) for v in visits]
    for _ in range(5):
        # shuffle, then restore the input order among visits that share a time
        perm = list(range(len(visits)))
        rnd.shuffle(perm)
        groups: dict = {}
        for i in range(len(visits)):
            groups.setdefault(keys[i], []).append(i)
        slots: dict = {}
        for pos, i in enumerate(perm):
            slots.setdefault(keys[i], []).append(pos)
        order = [0] * len(visits)
        for key, members in groups.items():
            for pos, i in zip(slots[key], members, strict=True):
                order[pos] = i
        again = [r.to_json() for r in run.settle([visits[i] for i in order], {})]
        assert [again[pos] for pos in sorted(range(len(order)), key=order.__getitem__)] == base


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_same_time_visits_settle_in_the_order_given(engine):
    run = make_backend(engine, policylang.load(GUIYANG).ir, tracing=False)
    a = _visit(setl_time="2023-03-01 10:00:00", medfee_sumamt="100.00")
    b = _visit(setl_time="2023-03-01 10:00:00", medfee_sumamt="300.00")
    first, second = run.settle([a, b], {})
    assert (first.act_pay_dedc, second.act_pay_dedc) == (D("100.00"), D("50.00"))
    second, first = run.settle([b, a], {})
    assert (second.act_pay_dedc, first.act_pay_dedc) == (D("150.00"), D("0.00"))


# ---- exact arithmetic, whatever the caller's context --------------------------------------


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_a_six_digit_round_floor_context_changes_nothing(engine):
    visits = make_visits(policylang.load(GUIYANG).ir, random.Random(5), 200, {})
    visits.append(
        _visit(setl_time="2024-05-01", medfee_sumamt="999999999999.99", acct_balc="123456789.01")
    )
    persons = [
        {
            "psn_no": "B",
            "psn_type": "retiree",
            "flxempe_flag": True,
            "on": "2023-03-01",
            "contribution_years_met": False,
        }
    ]
    params = {"guizhou_avg_pension_2022": "3125.55"}

    def run():
        policy = policylang.load(GUIYANG)
        policy._eval = make_backend(engine, policy.ir, tracing=True)
        return (
            [r.to_json() for r in policy.settle(visits, params)],
            [r.to_json() for r in policy.credit(persons, params)],
        )

    plain = run()
    with decimal.localcontext(
        decimal.Context(
            prec=6, rounding=decimal.ROUND_FLOOR, traps=[decimal.Inexact, decimal.Rounded]
        )
    ):
        hostile = run()
    assert hostile == plain
    assert plain[1][0]["credit"] == "62.51"  # 3125.55 x 2% = 62.511, half up


# ---- versions and counters ----------------------------------------------------------------

AMENDED = """
policy amended "mid-year amendment" {
  level city
  rounding half_up to 0.01 yuan unstated "test"
  pooling {
    from 2023-07-01 unstated "test: written first, applies from its date" {
      covers active, retiree, flexible unstated "test"
      deductible 150 yuan per year unstated "test"
      cap 2500 yuan per year unstated "test: raised from 1 July"
      ratio 50% unstated "test"
    }
    from 2023-01-01 until 2023-06-30 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 150 yuan per year unstated "test"
      cap 2000 yuan per year unstated "test"
      ratio 50% unstated "test"
    }
  }
}
"""


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_a_mid_year_version_change_keeps_one_deductible_and_one_cap(engine):
    policy = policylang.loads(AMENDED)
    assert [b.start.isoformat() for b in policy.ir.programs["settle"].blocks] == [
        "2023-01-01",
        "2023-07-01",
    ]
    run = make_backend(engine, policy.ir, tracing=False)
    r = run.settle(
        [
            _visit(
                setl_time="2023-03-01", medfee_sumamt="4150.00"
            ),  # 150 deductible, 4000 x 50% = 2000: cap 2000
            _visit(
                setl_time="2023-08-01", medfee_sumamt="2000.00"
            ),  # no deductible again; 1000, cap 2500 - 2000 = 500
            _visit(
                setl_time="2024-01-05", medfee_sumamt="350.00"
            ),  # a new year: 150 again, 200 x 50% = 100
        ],
        {},
    )
    assert [x.act_pay_dedc for x in r] == [D("150.00"), D("0.00"), D("150.00")]
    assert [x.hifp_pay for x in r] == [D("2000.00"), D("500.00"), D("100.00")]


def test_named_counters_carry_by_name_and_unnamed_ones_by_identity():
    text = AMENDED.replace(
        "cap 2500 yuan per year", "cap 2500 yuan per year when psn_type = active named annual_cap"
    ).replace("cap 2000 yuan per year", "cap 2000 yuan per year named annual_cap")
    policy = policylang.loads(text)
    counters = {c.id for c in policy.ir.programs["settle"].counters}
    assert counters == {"pooling.hifp.deductible.year", "annual_cap"}
    [_, second] = policy.settle(
        [
            _visit(setl_time="2023-03-01", medfee_sumamt="4150.00"),
            _visit(setl_time="2023-08-01", medfee_sumamt="2000.00"),
        ]
    )
    assert second.hifp_pay == D("500.00")


# ---- parameters are found before anything is evaluated ------------------------------------


def test_a_missing_parameter_is_reported_before_any_result():
    dated = AMENDED.replace("from 2023-07-01", "from amendment_date").replace(
        "rounding half_up",
        'param amendment_date: date "date of the amendment" unstated "test"\n  rounding half_up',
    )
    policy = policylang.loads(dated)
    with pytest.raises(InputError) as e:
        policy.settle([_visit(setl_time="2023-03-01", medfee_sumamt="100.00")])
    assert "amendment_date" in str(e.value)
    [r] = policy.settle(
        [_visit(setl_time="2023-08-01", medfee_sumamt="350.00")], {"amendment_date": "2023-07-01"}
    )
    assert r.hifp_pay == D("100.00")


# ---- JSON Lines ------------------------------------------------------------------------------


def _jsonl(path, records):
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return str(path)


def test_jsonl_in_and_out_match_json(tmp_path):
    visits = make_visits(policylang.load(GUIYANG).ir, random.Random(3), 120, {})
    as_json = tmp_path / "v.json"
    as_json.write_text(json.dumps(visits, ensure_ascii=False), encoding="utf-8")
    whole = CliRunner().invoke(main, ["settle", str(GUIYANG), str(as_json)])
    lines = CliRunner().invoke(
        main, ["settle", str(GUIYANG), _jsonl(tmp_path / "v.jsonl", visits), "--format", "jsonl"]
    )
    assert whole.exit_code == 0 and lines.exit_code == 0, lines.output
    assert [json.loads(x) for x in lines.output.splitlines()] == json.loads(whole.output)


def test_jsonl_sorted_input_streams_in_chunks_and_matches(tmp_path, monkeypatch):
    import policylang.jsonl as J

    monkeypatch.setattr(J, "CHUNK", 7)
    visits = make_visits(policylang.load(GUIYANG).ir, random.Random(4), 100, {})
    visits.sort(
        key=lambda v: (
            v["setl_time"].strip()[:10]
            + ("" if len(v["setl_time"].strip()) <= 10 else "~" + v["setl_time"].strip()[11:])
        )
    )
    stream = list(
        policylang.load(GUIYANG).settle_stream(
            lambda: J.read_chunks(_jsonl(tmp_path / "s.jsonl", visits), 7)
        )
    )
    assert [r.to_json() for r in stream] == [
        r.to_json() for r in policylang.load(GUIYANG).settle(visits)
    ]


def test_jsonl_bad_record_late_in_the_file_writes_nothing(tmp_path):
    visits = [
        _visit(psn_no=f"P{i}", setl_time="2023-03-01", medfee_sumamt="100.00") for i in range(30)
    ]
    visits[25]["hosp_lv"] = "level9"
    result = CliRunner().invoke(
        main, ["settle", str(GUIYANG), _jsonl(tmp_path / "bad.jsonl", visits), "--format", "jsonl"]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "record 26" in result.stderr
