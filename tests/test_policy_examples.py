"""Worked examples written in a policy (`example "..." { settle {...} expect {...} }`) and
`policylang test`, which runs them together with the JSON example files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import policylang
import policylang.api
from policylang import nodes as n
from policylang.cli import main
from policylang.formatter import format_policy
from policylang.parser import parse

from .conftest import EXAMPLES, POLICIES, ROOT

GUIYANG = POLICIES / "guiyang-2022.pol"

EXAMPLE = """policy p {
  level city
  param pension: money cite 一
  rounding half_up to 0.01 yuan unstated "t"
  pooling { from 2023-01-01 cite 一 {
    covers active, retiree, flexible cite 一
    deductible 150 yuan per year cite 一
    ratio 70% cite 一
    uplift 5 points when psn_type = retiree cite 一 } }
  crediting { from 2023-01-01 cite 一 {
    rule r when psn_type = retiree: credit pension × 3% cite 一 } }
  EXAMPLE
}
"""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def codes(example: str) -> list[str]:
    ws = policylang.api.Workspace()
    result = policylang.api.check_unit(
        ws.add_text(EXAMPLE.replace("EXAMPLE", example), "t.pol"), ws
    )
    return [d.code for d in result.diagnostics]


def test_an_example_reads_the_same_in_english_and_chinese():
    en = parse(
        EXAMPLE.replace(
            "EXAMPLE",
            """example "retiree" cite 二(一) {
    settle { psn_no: "A", psn_type: retiree, setl_time: 2023-03-01, hosp_lv: level2,
              medfee_sumamt: 400 yuan }
    expect { act_pay_dedc: 150 yuan, hifp_pay: 187.50 yuan, reason: none, balc: none }
  }""",
        )
    )[0]
    zh = parse(
        EXAMPLE.replace(
            "EXAMPLE",
            """示例 "retiree" 依据 二(一) {
    结算 { psn_no: "A", psn_type: 退休, setl_time: 2023年3月1日, hosp_lv: 二级,
           medfee_sumamt: 400元 }
    预期 { act_pay_dedc: 150 元, hifp_pay: 187.50 元, reason: 无, balc: 无 }
  }""",
        )
    )[0]
    assert en == zh
    [ex] = en.find(n.Example)
    [record] = ex.records
    assert record.kind == "settle" and record.expect[2] == n.ExampleField(
        name=n.Name("reason"), value=n.NoneLit()
    )
    assert parse(format_policy(en, "zh"))[0] == en


def test_examples_are_not_compiled_and_do_not_change_the_hash():
    text = GUIYANG.read_text(encoding="utf-8")
    with_examples = policylang.loads(text, str(GUIYANG))
    ast = parse(text)[0]
    assert ast.find(n.Example), "the shipped Guiyang policy has examples"
    bare = format_policy(
        n.Policy(
            name=ast.name,
            title=ast.title,
            decls=tuple(d for d in ast.decls if not isinstance(d, n.Example)),
        )
    )
    without = policylang.loads(bare, str(GUIYANG))
    assert with_examples.hash == without.hash
    assert with_examples.ir == without.ir
    assert "example" not in with_examples.ir_json().lower()


@pytest.mark.parametrize(
    "example, expected",
    [
        (
            'example "ok" cite 一 { settle { psn_type: retiree, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 yuan } expect { hifp_pay: 187.50 yuan } }",
            [],
        ),
        (
            'example "no citation" { settle { psn_type: active, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 yuan } expect { hifp_pay: 175 yuan } }",
            ["S601"],
        ),
        ('example "x" cite 一 { }', ["S603"]),
        (
            'example "x" cite 一 { settle { psn_type: active, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 yuan } }",
            ["S603"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: active, hosp_lv: level2, medfee_sumamt: 400 '
            "yuan } "
            "expect { hifp_pay: 1 yuan } }",
            ["S603"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: retired, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 yuan } expect { hifp_pay: 1 yuan } }",
            ["N106"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: active, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 yuan, medfe: 1 yuan } expect { hifp_pay: 1 yuan } }",
            ["N101"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: active, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 } expect { hifp_pay: 1 yuan } }",
            ["T201"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: active, setl_time: "2023-03-01 10:30", '
            "hosp_lv: level2, "
            "medfee_sumamt: 400 yuan } expect { hifp_pay: 175, pool_prop_selfpay: 0.7, reason: "
            "wthin_deductible, "
            "psn_no: none, fund: 1 yuan, hifp_pay: 1 yuan } }",
            ["N101", "N102", "N106", "T201", "T201", "T201"],
        ),
        (
            'example "x" cite 一 { param pension = 3000 param pension = 1 yuan param other = 1 '
            "yuan "
            "credit { psn_type: retiree, on: 2023-03-01 } expect { credit: 90 yuan, rule: r } }",
            ["N101", "N102", "T201"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: active, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400 yuan } expect { hifp_pay: 175 yuan } credit { psn_type: retiree, "
            "on: 2023-03-01 } }",
            ["S605"],
        ),
        (
            'example "x" cite 一 { may_pay { relation: self, venue: designated_pharmacy, item: '
            "drug, on: 2023-03-01 } "
            "expect { allowed: yes, channel: none, reason: permited } }",
            ["N106", "T201"],
        ),
        (
            'example "x" cite 一 { settle { psn_type: active, setl_time: 2023-03-01, hosp_lv: '
            "level2, "
            "medfee_sumamt: 400.001 yuan } expect { hifp_pay: 1 yuan } }",
            ["R305"],
        ),
    ],
)
def test_the_checker_validates_example_records(example, expected):
    assert sorted(codes(example)) == sorted(expected)


def test_example_diagnostics_point_at_the_field():
    ws = policylang.api.Workspace()
    text = EXAMPLE.replace(
        "EXAMPLE",
        'example "x" cite 一 {\n    settle { psn_type: active, setl_time: 2023-03-01, '
        "hosp_lv: level2, medfee_sumamt: 400 yuan, medfe_sumamt: 1 yuan }\n"
        "    expect { hifp_pay: 1 yuan } }",
    )
    [d] = policylang.api.check_unit(ws.add_text(text, "t.pol"), ws).diagnostics
    line = text.split("\n")[d.span.line - 1]
    assert d.code == "N101" and line[d.span.col - 1 :].startswith("medfe_sumamt:")
    assert "did you mean 'medfee_sumamt'?" in d.message()


# ---- policylang test ------------------------------------------------------------------------


def test_every_example_of_the_repository_passes(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = run("test", "policies", "tests/examples")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert (
        sum(line.startswith("PASS") for line in lines) == len(list(EXAMPLES.glob("*/*/*.json"))) + 6
    )
    assert (
        lines[-1] == f"{len(list(EXAMPLES.glob('*/*/*.json'))) + 6} example(s): "
        f"{len(list(EXAMPLES.glob('*/*/*.json'))) + 6} passed, 0 failed"
    )


def test_the_examples_in_the_guiyang_policy_pass(monkeypatch, snapshot_text):
    monkeypatch.chdir(ROOT)
    r = run("test", "policies/guiyang-2022.pol")
    assert r.exit_code == 0, r.output
    assert r.stdout == snapshot_text


def test_a_failing_example_shows_each_field_and_the_trace(tmp_path, monkeypatch, snapshot_text):
    text = GUIYANG.read_text(encoding="utf-8")
    text = text.replace("hifp_pay: 275.48 yuan", "hifp_pay: 275.47 yuan")
    text = text.replace(
        "expect { hifp_pay: 600 yuan }",
        "expect { hifp_pay: 600 yuan, reason: cap_reached, pool_prop_selfpay: 70% }",
    )
    (tmp_path / "guiyang-2022.pol").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    r = run("test", "guiyang-2022.pol")
    assert r.exit_code == 1
    assert r.stdout == snapshot_text


def test_json_example_files_find_their_policy(tmp_path, monkeypatch):
    # tests/examples/<name>/<kind>/ : the nearest policies/ folder above has guiyang_2022
    monkeypatch.chdir(ROOT / "tests")
    r = run("test", "examples/guiyang/settle/05-retirees-each-level.json")
    assert r.exit_code == 0 and r.stdout.startswith(
        "PASS  examples/guiyang/settle/05-retirees-each-level.json"
    )
    # elsewhere: a "policy" key, or the policy named on the command line
    case = json.loads(
        (EXAMPLES / "guiyang" / "credit" / "02-retirees.json").read_text(encoding="utf-8")
    )
    (tmp_path / "credit").mkdir()
    (tmp_path / "credit" / "a.json").write_text(
        json.dumps({**case, "policy": "../guiyang.pol"}), encoding="utf-8"
    )
    shutil.copy(GUIYANG, tmp_path / "guiyang.pol")
    monkeypatch.chdir(tmp_path)
    r = run("test", "credit")
    assert r.exit_code == 0, r.output
    (tmp_path / "guiyang" / "credit").mkdir(parents=True)
    (tmp_path / "guiyang" / "credit" / "b.json").write_text(json.dumps(case), encoding="utf-8")
    r = run("test", "guiyang")
    assert r.exit_code == 2 and "no policy for 'guiyang'" in r.stdout
    assert run("test", "guiyang", "guiyang.pol").exit_code == 0


def test_examples_that_cannot_run_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = GUIYANG.read_text(encoding="utf-8").replace(
        "    param guizhou_avg_pension_2022 = 3125.50 yuan\n", ""
    )
    Path("g.pol").write_text(text, encoding="utf-8")
    r = run("test", "g.pol")
    assert r.exit_code == 2
    assert "ERROR g.pol:" in r.stdout and "needs the parameter guizhou_avg_pension_2022" in r.stdout
    assert "6 example(s): 5 passed, 0 failed, 1 could not run" in r.stdout
    Path("bad.pol").write_text(
        text.replace("ratio by hosp_lv", "ratio by hosp_level"), encoding="utf-8"
    )
    r = run("test", "bad.pol")
    assert r.exit_code == 2 and "has errors" in r.stdout and "N101" in r.stdout
    Path("v.json").write_text("[]", encoding="utf-8")
    r = run("test", "v.json")
    assert r.exit_code == 2 and 'a JSON object with "input" and "expected"' in r.stdout
    Path("empty").mkdir()
    r = run("test", "empty")
    assert r.exit_code == 2 and "no examples found" in r.stderr
