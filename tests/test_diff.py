"""``policylang diff OLD NEW``: changes in meaning (values with their dates) and the
visits that settle differently; exit 0 / 1 / 2 like GNU diff."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from policylang.cli import main
from policylang.formatter import format_policy
from policylang.parser import parse

from .conftest import FIXTURES, POLICIES

GUIYANG_TEXT = (POLICIES / "guiyang-2022.pol").read_text(encoding="utf-8")


def _two_versions(text: str, cap_from: str, cap: str) -> str:
    """Guiyang with its pooling split on ``cap_from``: the old cap until the day before,
    ``cap`` from that day."""
    start = text.index("    from 2023-01-01\n      cite 二(一)")
    end = text.index("\n    }\n", start) + len("\n    }\n")
    block = text[start:end]
    import datetime as dt

    last = (dt.date.fromisoformat(cap_from) - dt.timedelta(days=1)).isoformat()
    first = block.replace("from 2023-01-01\n", f"from 2023-01-01 until {last}\n", 1)
    head = block.split("{", 1)[0]
    second = block.replace(head, f'    from {cap_from} unstated "an amendment (test)" ', 1).replace(
        "cap 2000 yuan per year", f"cap {cap} yuan per year"
    )
    return text[:start] + first + second + text[end:]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder with Guiyang, and a copy whose cap is 2500 from 2024-01-01; relative paths
    keep the snapshots free of the temporary folder's name."""
    shutil.copy(POLICIES / "guiyang-2022.pol", tmp_path / "guiyang-2022.pol")
    (tmp_path / "guiyang-2024.pol").write_text(
        _two_versions(GUIYANG_TEXT, "2024-01-01", "2500"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, ["diff", *map(str, args)])


def test_cap_raised_from_2024_reports_the_value_and_only_2024_visits(folder):
    r = run("guiyang-2022.pol", "guiyang-2024.pol", "--lang", "en")
    assert r.exit_code == 1, r.output
    out = r.stdout
    assert re.search(
        r"from 2024-01-01 +General outpatient pooling: cap per year +2000 yuan \[二\(一\)\] +2500 "
        r"yuan",
        out,
    )
    visits = out.split("Visits that settle differently", 1)[1]
    assert "2024-01-01" in visits and "2023-" not in visits  # no visit in 2023 settles differently
    assert "+500.00" in visits


def test_json_every_visit_in_2024_and_the_fund_difference(folder):
    r = run("guiyang-2022.pol", "guiyang-2024.pol", "--format", "json", "--all")
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert set(data) >= {"values", "visits"}
    [change] = data["values"]
    assert (
        change["section"],
        change["from"],
        change["until"],
        change["before"],
        change["after"],
    ) == ("pooling", "2024-01-01", None, "2000 yuan", "2500 yuan")
    assert data["visits"] and data["differing"] == len(data["visits"])
    for v in data["visits"]:
        assert v["visit"]["setl_time"].startswith("2024-")
        assert all(e["setl_time"].startswith("2024-") for e in v["earlier"])
        assert v["before"]["hifp_pay"] != v["after"]["hifp_pay"]
        assert v["fund_difference"].startswith("+")
        assert v["before"]["message"].startswith(("the fund", "the cap"))  # English by default
    # the visit exactly at the new cap's threshold: 150 + 2500 / 75% for an in-service employee at
    # level 1
    assert any(
        v["visit"]["medfee_sumamt"] == "3483.34"
        and v["visit"]["hosp_lv"] == "level1"
        and v["after"]["hifp_pay"] == "2500.00"
        and v["before"]["hifp_pay"] == "2000.00"
        for v in data["visits"]
    )


def test_a_translation_settles_the_same(tmp_path):
    policy, _ = parse(GUIYANG_TEXT, "guiyang-2022.pol")
    (tmp_path / "zh").mkdir()
    translated = tmp_path / "zh" / "guiyang-2022.pol"
    translated.write_text(format_policy(policy, "zh"), encoding="utf-8")
    assert "普通门诊统筹" in translated.read_text(encoding="utf-8")
    r = run(POLICIES / "guiyang-2022.pol", translated, "--lang", "en")
    assert r.exit_code == 0, r.output
    assert "No rule changed its meaning." in r.stdout and "No visit settles differently" in r.stdout


def test_old_and_new_may_share_a_folder_and_an_id(folder):
    (folder / "guiyang-zh.pol").write_text(
        format_policy(parse(GUIYANG_TEXT, "x")[0], "zh"), encoding="utf-8"
    )
    assert run("guiyang-2022.pol", "guiyang-zh.pol").exit_code == 0


def test_a_cap_raised_mid_year_carries_what_was_used(tmp_path, monkeypatch):
    """The counter carries across versions: a visit in June uses the 2000 cap, and in
    July the raised cap has 500 left -- found by a pair of visits in one year."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(POLICIES / "guiyang-2022.pol", "old.pol")
    Path("new.pol").write_text(_two_versions(GUIYANG_TEXT, "2023-07-01", "2500"), encoding="utf-8")
    data = json.loads(run("old.pol", "new.pol", "--format", "json").stdout)
    pairs = [v for v in data["visits"] if v["earlier"]]
    assert any(
        v["earlier"][0]["setl_time"] < "2023-07-01"
        and v["visit"]["setl_time"] == "2023-07-01"
        and v["before"]["reason"] == "cap_reached"
        and v["after"]["hifp_pay"] == "500.00"
        for v in pairs
    )
    assert all(v["visit"]["setl_time"] >= "2023-07-01" for v in data["visits"])


AGED = """
policy aged "年龄上浮示例(测试用)" {
  level city
  input age: number default 0 "年龄" unstated "test"
  rounding half_up to 0.01 yuan unstated "test"
  pooling {
    from 2023-01-01 unstated "test" {
      covers active, retiree, flexible unstated "test"
      deductible 100 yuan per year unstated "test"
      cap 1000 yuan per year unstated "test"
      ratio 70% unstated "test"
      uplift 5 points when age >= 70 unstated "test"
    }
  }
}
"""


def test_declared_inputs_are_explored_at_their_thresholds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    Path("old/aged.pol").write_text(AGED, encoding="utf-8")
    Path("new/aged.pol").write_text(AGED.replace("age >= 70", "age >= 65"), encoding="utf-8")
    data = json.loads(run("old/aged.pol", "new/aged.pol", "--format", "json").stdout)
    whats = {(c["what"], c["before"], c["after"]) for c in data["values"]}
    assert ("uplift when age >= 70", "5 points", None) in whats
    assert ("uplift when age >= 65", None, "5 points") in whats
    ages = {str(v["visit"].get("age")) for v in data["visits"]}
    assert ages == {"65", "66", "69"}, ages  # 65..69 get the uplift now; 64 and 70+ as before


def test_an_unsupplied_parameter_is_the_same_on_both_sides():
    r = run(POLICIES / "shanxi-2022.pol", POLICIES / "shanxi-2022.pol", "--lang", "en")
    assert r.exit_code == 0
    assert "parameter shanxi_account_use_from was not given: the same value" in r.stdout
    r = run(
        POLICIES / "shanxi-2022.pol",
        POLICIES / "shanxi-2022.pol",
        "--param",
        "shanxi_account_use_from=2022-01-13",
        "--format",
        "json",
    )
    assert json.loads(r.stdout)["params"] == [
        {"name": "shanxi_account_use_from", "value": "2022-01-13", "assumed": False}
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("--param", "nonexistent=1"),
        ("--param", "guizhou_avg_pension_2022=abc"),
        ("--param", "no-equals-sign"),
    ],
)
def test_trouble_exits_2_with_nothing_on_stdout(args):
    r = run(POLICIES / "guiyang-2022.pol", POLICIES / "guiyang-2022.pol", *args)
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and r.stderr.strip()


def test_a_broken_policy_exits_2(tmp_path):
    bad = tmp_path / "bad.pol"
    bad.write_text(
        GUIYANG_TEXT.replace("cap 2000 yuan per year", "cap 2000 per year"), encoding="utf-8"
    )
    r = run(POLICIES / "guiyang-2022.pol", bad)
    assert r.exit_code == 2 and r.stdout == "" and "T201" in r.stderr
    assert run(POLICIES / "guiyang-2022.pol", tmp_path / "missing.pol").exit_code == 2


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "valid" / "banded-ratios.pol",
        POLICIES / "guiyang-2022.pol",
        POLICIES / "shanxi-2022.pol",
    ],
)
def test_a_policy_against_itself_exits_0(path):
    r = run(path, path)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_diff_snapshot(folder, lang, fmt, snapshot):
    r = run("guiyang-2022.pol", "guiyang-2024.pol", "--lang", lang, "--format", fmt)
    assert r.exit_code == 1
    assert r.stdout == snapshot


def test_readme_shows_the_diff_output_as_it_is(monkeypatch):
    from .conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ policylang (diff [^\n]+)\n(.*?)```", readme, re.S)
    assert block, "README must show a diff run"
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(main, block.group(1).split())
    assert r.exit_code == 1
    assert r.stdout == block.group(2)


def test_values_of_every_section_read_as_rows(tmp_path):
    changed = (
        GUIYANG_TEXT.replace("level2: 70% cite", "level2: 72% cite")
        .replace("deductible 150 yuan per year", "deductible 200 yuan per year")
        .replace("credit contribution_base × 2%", "credit contribution_base × 2.5%")
        .replace("exclude public_health, fitness, wellness", "exclude public_health, fitness")
    )
    (tmp_path / "new.pol").write_text(changed, encoding="utf-8")
    r = run(
        POLICIES / "guiyang-2022.pol",
        tmp_path / "new.pol",
        "--format",
        "json",
        "--param",
        "guizhou_avg_pension_2022=3125.50",
    )
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    rows = {(c["section"], c["what"], c["before"], c["after"]) for c in data["values"]}
    assert rows == {
        ("pooling", "deductible per year", "150 yuan", "200 yuan"),
        # the flexible-employment cells change with their person type's: one row each
        ("pooling", "ratio, level2, in-service employee, flexible or not", "70%", "72%"),
        ("pooling", "ratio, level2, retiree, flexible or not", "75%", "77%"),
        (
            "crediting",
            "credit rule active_employee",
            "person type = active and not flexible employment: contribution base × 2%",
            "person type = active and not flexible employment: contribution base × 2.5%",
        ),
        (
            "account_use",
            "the account pays for wellness for self, spouse, parent, child",
            "excluded",
            "item not allowed",
        ),
        (
            "account_use",
            "the account pays for wellness for sibling, grandparent, grandchild",
            "excluded",
            "relation not eligible",
        ),
    }
    assert data["params"] == [
        {"name": "guizhou_avg_pension_2022", "value": "3125.50", "assumed": False}
    ]
    # the fund pays nothing within the deductible whatever the ratio: that alone is no difference
    assert all(
        v["before"]["hifp_pay"] != v["after"]["hifp_pay"]
        or v["before"]["reason"] != v["after"]["reason"]
        or v["before"]["act_pay_dedc"] != v["after"]["act_pay_dedc"]
        for v in data["visits"]
    )
