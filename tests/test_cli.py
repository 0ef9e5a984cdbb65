"""The command line, as a user meets it: exit codes, messages, no partial output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from policylang.cli import main

from .conftest import POLICIES, ROOT

GUIYANG = str(POLICIES / "guiyang-2022.pol")
SHANXI = str(POLICIES / "shanxi-2022.pol")

CITY_45 = """
policy taiyuan_demo "太原市(示例):支付比例低于省定下限" {
  level city
  implements shanxi_2022
  rounding half_up to 0.01 yuan unstated "example"
  setting account_covers = person_share unstated "example"
  pooling {
    from 2023-01-01 cite 一 {
      covers active, retiree, flexible cite 一
      deductible 100 yuan per year cite 一
      ratio by hosp_lv, psn_type {
        unrated, active: 70%
        level1, active: 70%
        level2, active: 60%
        level3, active: 45%
        unrated, retiree: 75%
        level1, retiree: 75%
        level2, retiree: 65%
        level3, retiree: 55%
      } cite 一
    }
  }
}
"""


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def write(tmp_path: Path, name: str, data) -> Path:
    p = tmp_path / name
    p.write_text(
        json.dumps(data, ensure_ascii=False) if not isinstance(data, str) else data,
        encoding="utf-8",
    )
    return p


VISIT = {
    "psn_no": "A",
    "psn_type": "active",
    "flxempe_flag": False,
    "setl_time": "2023-03-01",
    "hosp_lv": "level1",
    "medfee_sumamt": "350.00",
}


def test_check_shipped_policies_clean():
    r = run("check", POLICIES)
    assert r.exit_code == 0, r.output
    assert "2 file(s) checked: 0 error(s), 0 warning(s)" in r.output


def test_city_below_provincial_floor_is_rejected_with_the_clause(tmp_path):
    shutil.copy(SHANXI, tmp_path / "shanxi-2022.pol")
    city = write(tmp_path, "taiyuan.pol", CITY_45)
    r = run("check", city)
    assert r.exit_code == 1
    assert "error[H501]" in r.output
    assert "45%" in r.output and "ratio_floor" in r.output
    assert "第2段" in r.output and "不低于50%" in r.output  # the province's clause and sentence
    assert "taiyuan.pol:15:" in r.output  # the city's value: the level3/active row
    assert "shanxi-2022.pol:" in r.output  # ... and the province's requirement


def test_check_json_format(tmp_path):
    shutil.copy(SHANXI, tmp_path / "shanxi-2022.pol")
    city = write(tmp_path, "taiyuan.pol", CITY_45)
    r = run("check", city, "--format", "json")
    assert r.exit_code == 1
    diags = json.loads(r.stdout)
    assert [d["code"] for d in diags] == ["H501"]
    assert diags[0]["line"] == 15 and diags[0]["severity"] == "error"


def test_settle_json_output():
    r = run("settle", GUIYANG, ROOT / "examples" / "guiyang-visits.json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data) == 5
    assert data[0]["psn_no"] == "GY-001" and data[0]["trace"]


def test_settle_table_output():
    r = run(
        "settle",
        GUIYANG,
        ROOT / "examples" / "guiyang-visits.json",
        "--format",
        "table",
        "--lang",
        "en",
    )
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["Person", "Date", "Bill"]
    assert len(lines) == 2 + 5 + 2  # header, rule, five visits, rule, totals
    assert lines[-1].split()[:4] == ["Total", "1700.00", "1600.00", "300.00"]
    assert "within the deductible" in lines[2]


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"hosp_lv": "level4"}, "hosp_lv", "unknown hospital level 'level4'"),
        ({"medfee_sumamt": "-5.00"}, "medfee_sumamt", "cannot be negative"),
        ({"setl_time": "2023-02-30"}, "setl_time", "expected a date"),
        ({"psn_type": "student"}, "psn_type", "unknown person type"),
        ({"medfee_sumamt": "10.005"}, "medfee_sumamt", "more than two decimal places"),
        ({"hosp_level": "level1"}, "hosp_level", "unknown field; did you mean 'hosp_lv'?"),
        ({"flxempe_flag": "no"}, "flxempe_flag", "expected true or false"),
        ({"fulamt_ownpay_amt": "400.00"}, "medfee_sumamt", "exceed the total"),
    ],
)
def test_bad_visit_is_an_error_naming_record_and_field(tmp_path, change, field, words):
    good = dict(VISIT, psn_no="B")
    bad = {**VISIT, **change}
    path = write(tmp_path, "visits.json", [good, bad])
    r = run("settle", GUIYANG, path)
    assert r.exit_code == 1
    assert r.stdout == ""  # nothing half-written
    assert f"record 2 (psn_no A): field '{field}'" in r.stderr
    assert words in r.stderr
    assert "Traceback" not in r.output


def test_missing_field(tmp_path):
    path = write(tmp_path, "visits.json", [{k: v for k, v in VISIT.items() if k != "hosp_lv"}])
    r = run("settle", GUIYANG, path)
    assert r.exit_code == 1 and "field 'hosp_lv': is required but missing" in r.stderr


def test_every_problem_is_reported_at_once(tmp_path):
    path = write(
        tmp_path, "visits.json", [{**VISIT, "hosp_lv": "x"}, {**VISIT, "medfee_sumamt": "-1"}]
    )
    r = run("settle", GUIYANG, path)
    assert r.exit_code == 1
    assert "record 1" in r.stderr and "record 2" in r.stderr and "2 problem(s)" in r.stderr


def test_malformed_json(tmp_path):
    path = write(tmp_path, "visits.json", '[{"psn_no": "A",]')
    r = run("settle", GUIYANG, path)
    assert r.exit_code == 1 and "visits.json:1:" in r.stderr and "invalid JSON" in r.stderr


def test_not_an_array(tmp_path):
    path = write(tmp_path, "visits.json", {"psn_no": "A"})
    r = run("settle", GUIYANG, path)
    assert r.exit_code == 1 and "expected a JSON array" in r.stderr


def test_json_numbers_are_accepted_exactly(tmp_path):
    path = write(
        tmp_path,
        "visits.json",
        '[{"psn_no": "A", "psn_type": "active", "flxempe_flag": false, '
        '"setl_time": "2023-03-01", "hosp_lv": "level1", "medfee_sumamt": 350.1}]',
    )
    r = run("settle", GUIYANG, path, "--no-trace")
    assert r.exit_code == 0, r.output
    assert (
        json.loads(r.stdout)[0]["hifp_pay"] == "150.08"
    )  # (350.10 - 150) x 75% = 150.075 -> 150.08


def test_malformed_policy_points_at_the_line(tmp_path):
    bad = write(
        tmp_path, "bad.pol", "policy p {\n  pooling {\n    from 2023-01-01 {\n      ratio 75\n"
    )
    r = run("settle", bad, ROOT / "examples" / "guiyang-visits.json")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "bad.pol:" in r.stderr and "Traceback" not in r.output


def test_credit_requires_declared_parameter():
    r = run("credit", GUIYANG, ROOT / "examples" / "guiyang-persons.json")
    assert r.exit_code == 1
    assert "guizhou_avg_pension_2022" in r.stderr and r.stdout == ""


def test_credit_with_parameter():
    r = run(
        "credit",
        GUIYANG,
        ROOT / "examples" / "guiyang-persons.json",
        "--format",
        "table",
        "--param",
        "guizhou_avg_pension_2022=3125.50",
        "--lang",
        "en",
    )
    assert r.exit_code == 0, r.output
    assert "93.77" in r.stdout and "no rule applies" in r.stdout


def test_unknown_parameter_is_an_error():
    r = run(
        "credit",
        GUIYANG,
        ROOT / "examples" / "guiyang-persons.json",
        "--param",
        "guizhou_avg_pension=1",
    )
    assert r.exit_code == 1 and "did you mean 'guizhou_avg_pension_2022'" in r.stderr


def test_may_pay():
    r = run("may-pay", GUIYANG, ROOT / "examples" / "guiyang-requests.json")
    assert r.exit_code == 0
    reasons = [x["reason"] for x in json.loads(r.stdout)]
    assert reasons == ["permitted", "permitted", "planned", "excluded", "relation_not_eligible"]


def test_usage_errors_exit_2():
    assert run("settle", GUIYANG).exit_code == 2
    assert run("settle", "/nonexistent.pol", "x.json").exit_code == 2
    assert run("frobnicate").exit_code == 2
    assert (
        run(
            "settle", GUIYANG, ROOT / "examples" / "guiyang-visits.json", "--format", "xml"
        ).exit_code
        == 2
    )


def test_help_lists_commands():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("check", "settle", "credit", "may-pay", "fmt"):
        assert cmd in r.output


# ---- input edge cases found in review ------------------------------------------------


def test_date_only_visit_comes_before_a_visit_at_midnight(tmp_path):
    """A visit with a date only sorts before every visit with a time that day, whatever the
    input order."""
    a = {**VISIT, "setl_time": "2023-02-01 00:00:00", "medfee_sumamt": "200.00"}
    b = {**VISIT, "setl_time": "2023-02-01", "hosp_lv": "level3", "medfee_sumamt": "200.00"}
    out1 = json.loads(
        run("settle", GUIYANG, write(tmp_path, "v1.json", [a, b]), "--no-trace").stdout
    )
    out2 = json.loads(
        run("settle", GUIYANG, write(tmp_path, "v2.json", [b, a]), "--no-trace").stdout
    )
    assert (
        out1[1]["act_pay_dedc"] == out2[0]["act_pay_dedc"] == "150.00"
    )  # the date-only visit pays the deductible
    assert out1[1] == out2[0] and out1[0] == out2[1]
    assert out1[0]["setl_time"] == "2023-02-01 00:00:00"  # echoed as given


@pytest.mark.parametrize(
    "change, words",
    [
        ({"medfee_sumamt": "1" + "0" * 30}, "too large"),
        ({"setl_time": "2023-01-01T00:10:00-05:00"}, "UTC offset"),
    ],
)
def test_more_bad_values(tmp_path, change, words):
    r = run("settle", GUIYANG, write(tmp_path, "v.json", [{**VISIT, **change}]))
    assert r.exit_code == 1 and words in r.stderr and "internal error" not in r.stderr


def test_negative_zero_is_plain_zero(tmp_path):
    r = run(
        "settle",
        GUIYANG,
        write(tmp_path, "v.json", [{**VISIT, "medfee_sumamt": "-0.00", "acct_balc": "-0"}]),
        "--no-trace",
    )
    assert r.exit_code == 0
    assert '"-0' not in r.stdout


def test_duplicate_keys_and_parameters_are_refused(tmp_path):
    path = write(tmp_path, "v.json", '[{"psn_no": "A", "psn_no": "B"}]')
    r = run("settle", GUIYANG, path)
    assert r.exit_code == 1 and "'psn_no' appears twice" in r.stderr
    r = run(
        "credit",
        GUIYANG,
        ROOT / "examples" / "guiyang-persons.json",
        "--param",
        "guizhou_avg_pension_2022=3125.5",
        "--param",
        "guizhou_avg_pension_2022=1000",
    )
    assert r.exit_code == 2 and "given twice" in r.output


def test_byte_order_mark_and_standard_input(tmp_path):
    path = tmp_path / "v.json"
    path.write_bytes("\ufeff".encode() + json.dumps([VISIT]).encode())
    assert run("settle", GUIYANG, path, "--no-trace").exit_code == 0
    r = run("settle", GUIYANG, "-", "--no-trace", input=json.dumps([VISIT]))
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["hifp_pay"] == "150.00"


def test_deeply_nested_json(tmp_path):
    r = run("settle", GUIYANG, write(tmp_path, "v.json", "[" * 100000))
    assert r.exit_code == 1 and "internal error" not in r.stderr


def test_parent_found_with_path_option(tmp_path):
    city = write(
        tmp_path, "taiyuan.pol", CITY_45.replace("level3, active: 45%", "level3, active: 55%")
    )
    visits = write(tmp_path, "v.json", [VISIT])
    r = run("settle", city, visits, "--no-trace")
    assert r.exit_code == 1 and "N103" in r.stderr
    r = run("settle", city, visits, "--no-trace", "--path", POLICIES)
    assert r.exit_code == 0, r.output


def test_two_files_with_one_id_are_an_error(tmp_path):
    shutil.copy(SHANXI, tmp_path / "shanxi-2022.pol")
    shutil.copy(SHANXI, tmp_path / "a-shanxi-old.pol")
    city = write(
        tmp_path, "taiyuan.pol", CITY_45.replace("level3, active: 45%", "level3, active: 55%")
    )
    r = run("check", city)
    assert r.exit_code == 1 and "N111" in r.output and "a-shanxi-old.pol" in r.output


@pytest.mark.parametrize(
    "command, records",
    [
        ("settle", "guiyang-visits.json"),
        ("credit", "guiyang-persons.json"),
        ("may-pay", "guiyang-requests.json"),
    ],
)
def test_arguments_given_the_wrong_way_round_are_named(command, records):
    r = run(command, ROOT / "examples" / records, GUIYANG)
    assert (
        r.exit_code == 2
        and "the wrong way round" in r.output
        and "the policy comes first" in r.output
    )
    r = run(command, GUIYANG, SHANXI)
    assert r.exit_code == 2 and "is a policy, but" in r.output
    r = run("compile", ROOT / "examples" / records)
    assert r.exit_code == 2 and "looks like JSON input, not a policy" in r.output
