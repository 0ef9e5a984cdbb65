"""The message catalogue: one place for every text a result, a table or a tool shows,
in English and Chinese."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from policylang import messages as M
from policylang import vocab as V
from policylang.cli import main
from policylang.diagnostics import display_width

from .conftest import POLICIES, ROOT

GUIYANG = str(POLICIES / "guiyang-2022.pol")
VISITS = str(ROOT / "examples" / "guiyang-visits.json")


@pytest.mark.parametrize("msg_id", sorted(M.MESSAGES))
def test_every_message_has_both_languages_with_the_same_placeholders(msg_id):
    en, zh = M.MESSAGES[msg_id]
    assert M.placeholders(en) == M.placeholders(zh), msg_id
    if en:  # a few are empty on purpose in both (an absent venue)
        assert zh


SETTLE_REASONS = (
    "no_in_policy_amount",
    "within_deductible",
    "cost_cap_reached",
    "cap_reached",
    "zero_ratio",
    "rounds_to_zero",
    "not_covered",
    "not_designated",
    "not_in_force",
    "other_scheme",
    "other_med_type",
)
MAY_PAY_REASONS = (
    "not_in_force",
    "excluded",
    "relation_not_eligible",
    "planned",
    "not_designated",
    "no_channel",
    "permitted",
    "item_not_allowed",
)
CREDIT_REASONS = ("credited", "not_in_force", "no_rule")


def test_every_reason_has_a_message_and_words():
    source = (ROOT / "policylang" / "ir" / "build.py").read_text(encoding="utf-8")
    built = set(re.findall(r'\("(\w+)", (?:_eq0|_gt0|c\.Cmp|c\.TRUE)', source))
    built |= set(re.findall(r'(?:False|True), "(\w+)"', source)) | set(
        re.findall(r'p\.Gate\("(\w+)"', source)
    )
    assert built <= set(SETTLE_REASONS + MAY_PAY_REASONS), built  # the lists below are complete
    for reason in SETTLE_REASONS:
        assert f"settle.{reason}" in M.MESSAGES and f"reason.{reason}" in M.MESSAGES
    for reason in MAY_PAY_REASONS:
        assert f"may_pay.{reason}" in M.MESSAGES and f"reason.{reason}" in M.MESSAGES
    for reason in CREDIT_REASONS:
        assert f"credit.{reason}" in M.MESSAGES and f"reason.{reason}" in M.MESSAGES


def test_english_result_messages_are_unchanged(guiyang):
    """The JSON contract's ``message`` is English by default: the catalogue keeps the
    sentences it had when they were strings in the code."""
    visits = json.loads((ROOT / "examples" / "guiyang-visits.json").read_text(encoding="utf-8"))
    assert [r.message for r in guiyang.settle(visits)] == [
        "the in-policy amount went to the deductible",
        "the fund pays 70% of 610.00",
        "the fund pays 70% of 400.00",
        "the fund pays only at designated institutions",
        "general outpatient pooling is not in force on 2022-11-20",
    ]
    requests = json.loads((ROOT / "examples" / "guiyang-requests.json").read_text(encoding="utf-8"))
    assert [r.message for r in guiyang.may_pay(requests)][
        -1
    ] == "sibling is not among the eligible relations (child, parent, self, spouse)"


def test_results_in_chinese(guiyang):
    visits = json.loads((ROOT / "examples" / "guiyang-visits.json").read_text(encoding="utf-8"))
    results = guiyang.settle(visits)
    assert results[1].message_in("zh") == "统筹基金按 70% 支付 610.00"
    assert results[4].message_in("zh") == "2022-11-20 不在普通门诊统筹的施行期内"
    assert results[1].to_json(trace=False, lang="zh")["message"] == "统筹基金按 70% 支付 610.00"
    assert (
        results[1].message == "the fund pays 70% of 610.00"
    )  # reading Chinese leaves English the default
    requests = json.loads((ROOT / "examples" / "guiyang-requests.json").read_text(encoding="utf-8"))
    answers = guiyang.may_pay(requests)
    assert answers[0].message_in("zh") == "个人账户可以支付配偶在定点零售药店的药品"
    assert (
        answers[-1].message_in("zh") == "兄弟姐妹不在可共济使用的亲属范围内(子女、父母、本人、配偶)"
    )
    persons = json.loads((ROOT / "examples" / "guiyang-persons.json").read_text(encoding="utf-8"))
    credits = guiyang.credit(persons, {"guizhou_avg_pension_2022": "3125.50"})
    assert credits[0].message_in("zh") == "按规则 active_employee 计入"
    assert credits[-1].message_in("zh") == "本政策没有适用于该人员的个人账户计入规则"


def test_the_reference_backend_gives_the_same_messages(guiyang):
    from policylang.backends.reference import Reference

    visits = json.loads((ROOT / "examples" / "guiyang-visits.json").read_text(encoding="utf-8"))
    ref = Reference(guiyang.ir).settle(visits, {})
    assert [r.message_in("zh") for r in ref] == [r.message_in("zh") for r in guiyang.settle(visits)]


def test_enumeration_values_use_the_language_aliases():
    assert M.value("retiree", "zh") == V.ZH_OF_VALUE["retiree"] == "退休"
    assert M.value("retiree", "en") == "retiree"
    assert M.value(True, "zh") == "是" and M.value(False, "en") == "no"


def _run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def test_table_headers_follow_the_locale_and_columns_line_up_in_chinese():
    r = _run(
        "settle",
        GUIYANG,
        VISITS,
        "--format",
        "table",
        env={"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None},
    )
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("人员编号") and lines[-1].startswith("合计")
    # every column starts at the same display column on every line: lay each line out one
    # cell per display column, and the two spaces before each column are blank on every line
    rule = lines[1]
    starts = [m.start() for m in re.finditer(r"(?<=  )-", rule)]
    assert len(starts) == 11
    for line in lines:
        cells = "".join(ch if display_width(ch) == 1 else ch + "\0" for ch in line)
        for s in starts:
            assert cells[s - 2 : s] in ("  ", " ", ""), (line, s)


def test_json_message_stays_english_under_a_chinese_locale():
    env = {"LANG": "zh_CN.UTF-8", "LC_ALL": None, "LC_MESSAGES": None}
    r = _run("settle", GUIYANG, VISITS, "--no-trace", env=env)
    assert json.loads(r.stdout)[1]["message"] == "the fund pays 70% of 610.00"
    r = _run("settle", GUIYANG, VISITS, "--no-trace", "--lang", "zh", env=env)
    assert json.loads(r.stdout)[1]["message"] == "统筹基金按 70% 支付 610.00"
    r = _run("settle", GUIYANG, VISITS, "--no-trace", "--lang", "zh", "--format", "jsonl")
    assert json.loads(r.stdout.splitlines()[1])["message"] == "统筹基金按 70% 支付 610.00"


def test_may_pay_table_in_chinese_shows_aliases():
    r = _run(
        "may-pay",
        GUIYANG,
        ROOT / "examples" / "guiyang-requests.json",
        "--format",
        "table",
        "--lang",
        "zh",
    )
    assert r.exit_code == 0
    assert (
        "定点零售药店" in r.stdout
        and "亲属关系不符" in r.stdout
        and "designated_pharmacy" not in r.stdout
    )


def test_summaries_come_from_the_catalogue():
    r = _run("check", POLICIES, "--lang", "zh")
    assert "已检查 2 个文件:0 个错误,0 个警告" in r.output
    cli = (ROOT / "policylang" / "cli.py").read_text(encoding="utf-8")
    assert "file(s) checked" not in cli and "已检查" not in cli
    runtime = (ROOT / "policylang" / "runtime.py").read_text(encoding="utf-8")
    assert "the fund pays" not in runtime and "may never pay" not in runtime


def test_every_message_is_used():
    """The catalogue holds only what the code shows: each id is named in the code, as a
    literal or as the prefix of an f-string (``f"reason.{code}"``)."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "policylang").rglob("*.py"))
    sources = re.sub(r'\n    "[\w.]+": \(', "\n", sources)  # not the catalogue's own keys
    unused = []
    for msg_id in M.MESSAGES:
        prefix = msg_id.rsplit(".", 1)[0] + "."
        if re.search(rf"""["']{re.escape(msg_id)}["']""", sources):
            continue
        if re.search(rf"""f["']{re.escape(prefix)}\{{""", sources):
            continue
        unused.append(msg_id)
    assert not unused


MISTAKES = ROOT / "tests" / "fixtures" / "inputs" / "visits-with-more-mistakes.json"


def test_input_problems_keep_their_english_and_carry_the_catalogue_id(guiyang):
    """The reason of an input problem is the catalogue's English (the Python API, JSON and
    the English command line are unchanged) and knows its id and arguments, so the command
    line says it in Chinese too (issue #13)."""
    from policylang.inputs import InputError, Reason, said

    with pytest.raises(InputError) as e:
        guiyang.settle(json.loads(MISTAKES.read_text()))
    problems = e.value.problems
    assert len(problems) == 13
    for p in problems:
        assert isinstance(p.message, Reason), p
        assert p.message == M.text(p.message.msg_id, "en", **p.message.params)
        assert json.loads(json.dumps(p.to_json()))["message"] == str(p.message)
        zh = said(p.message, "zh")
        assert zh != p.message and re.search(r"[\u4e00-\u9fff]", zh), zh
    amount = next(p for p in problems if p.record == 2 and p.field == "medfee_sumamt")
    assert str(amount) == (
        "record 2 (psn_no B): field 'medfee_sumamt': "
        "230.001 has more than two decimal places (amounts are in fen)"
    )
    assert said(amount.message, "zh") == "230.001 的小数超过两位(金额精确到分)"


ENGLISH_REASON_WORDS = re.compile(
    r"\b(expected|got|unknown|required|missing|cannot|must|contradicts|exceed|appears|"
    r"did you mean|declares|needs)\b"
)


@pytest.mark.parametrize(
    "args",
    [
        ["settle", GUIYANG, str(MISTAKES)],
        [
            "credit",
            GUIYANG,
            str(ROOT / "examples" / "guiyang-persons.json"),
            "--param",
            "guizhou_avg_pension=1",
            "--param",
            "guizhou_avg_pension_2022=-1",
        ],
    ],
    ids=["visits", "params"],
)
def test_input_problems_in_chinese_say_no_english(args):
    r = CliRunner().invoke(main, ["--lang", "zh", *args])
    assert r.exit_code == 1
    assert "字段" in r.output
    assert not ENGLISH_REASON_WORDS.search(r.output), r.output
    en = CliRunner().invoke(main, ["--lang", "en", *args])
    assert len(en.output.splitlines()) == len(r.output.splitlines())


def test_columnar_input_problems_carry_the_catalogue_id(guiyang):
    pa = pytest.importorskip("pyarrow")
    from policylang.columns import visits_from_table
    from policylang.inputs import InputError, said

    table = pa.table({"psn_no": ["A"], "medfee_sumamnt": ["1.00"], "setl_time": ["2023-03-01"]})
    with pytest.raises(InputError) as e:
        visits_from_table(table, guiyang.ir)
    said_zh = [said(p.message, "zh") for p in e.value.problems]
    assert "未知字段(列);是否应为 'medfee_sumamt'?" in said_zh
    assert "为必填项,但未给出" in said_zh


@pytest.mark.parametrize(
    "raw, zh",
    [
        ('"medfee_sumamt": 12345678901234567890', "超出金额的范围(整数部分至多 15 位)"),
        ('"medfee_sumamt": 1e30', "数字 1e30 完整写出时超过 20 位"),
        ('"medfee_sumamt": NaN', "NaN 不是 JSON 允许的数字"),
        ('"x\\ud800": 1', "字段名含有单独的 UTF-16 代理项(\\ud800)"),
    ],
    ids=["long-number", "long-in-full", "nan", "surrogate"],
)
def test_what_the_json_reader_finds_is_said_in_chinese(raw, zh, tmp_path):
    visits = tmp_path / "visits.json"
    visits.write_text(
        '[{"psn_no": "A", "setl_time": "2023-03-01", "hosp_lv": "level1", '
        f'"psn_type": "active", "flxempe_flag": false, {raw}}}]'
    )
    r = CliRunner().invoke(main, ["--lang", "zh", "settle", GUIYANG, str(visits)])
    assert r.exit_code == 1 and zh in r.output, r.output
    assert not ENGLISH_REASON_WORDS.search(r.output), r.output
