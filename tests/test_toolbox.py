"""The officer's toolbox as a new user meets it: every command on both shipped policies and on
the examples, in English and in Chinese, its output kept as a snapshot (one text file per run,
readable as shown: exit code, then what the command printed on standard output and error)."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from click.testing import CliRunner

from policylang.cli import main

from .conftest import ROOT

GUIYANG = "policies/guiyang-2022.pol"
SHANXI = "policies/shanxi-2022.pol"
LANSHAN = "examples/three-categories/lanshan-2024.pol"
AMENDED = "examples/amendment/guiyang-2022.pol"
QINGXI = "examples/composed-limits/qingxi-2025.pol"
QINGSHAN = "examples/second-fund/qingshan-2024.pol"
PENSION = "--param guizhou_avg_pension_2022=3125.50"
SHANXI_FROM = "--param shanxi_account_use_from=2022-01-13"
SHANXI_PARAMS = SHANXI_FROM
INPUTS = "tests/fixtures/inputs"

RUNS = {
    # check: nothing wrong (the summary line), and a policy with errors
    "check-policies": "check policies/",
    "check-examples": "check examples/three-categories/",
    "check-errors": "check tests/fixtures/invalid/P002-cap-without-period.pol",
    # settle, credit, may-pay: the tables
    "settle-guiyang": f"settle {GUIYANG} examples/guiyang-visits.json --format table",
    "settle-lanshan": f"settle {LANSHAN} examples/three-categories/visits.json --format table",
    "credit-guiyang": f"credit {GUIYANG} examples/guiyang-persons.json {PENSION} --format table",
    "may-pay-guiyang": f"may-pay {GUIYANG} examples/guiyang-requests.json --format table",
    "may-pay-shanxi": f"may-pay {SHANXI} examples/shanxi-requests.json {SHANXI_FROM} "
    "--format table",
    "settle-swapped": f"settle examples/guiyang-visits.json {GUIYANG}",
    "settle-bad-input": f"settle {GUIYANG} tests/fixtures/inputs/visits-with-mistakes.json",
    # every reason an input problem gives, in the language spoken (issue #13)
    "settle-more-bad-input": f"settle {GUIYANG} {INPUTS}/visits-with-more-mistakes.json",
    "settle-repeated-key": f"settle {GUIYANG} {INPUTS}/visits-with-a-repeated-key.json",
    "credit-bad-params": f"credit {GUIYANG} examples/guiyang-persons.json "
    "--param guizhou_avg_pension=3125.50 --param guizhou_avg_pension_2022=3125,50",
    "credit-missing-param": f"credit {GUIYANG} examples/guiyang-persons.json",
    # why: a visit, a credit, a decision, a city's three categories
    "why-guiyang-visit": f"why {GUIYANG} examples/guiyang-visits.json --record 3",
    "why-guiyang-credit": f"why {GUIYANG} examples/guiyang-persons.json {PENSION} --record 3",
    "why-shanxi-request": f"why {SHANXI} examples/shanxi-requests.json {SHANXI_FROM} --record 1",
    "why-lanshan-visit": f"why {LANSHAN} examples/three-categories/visits.json --record 4",
    "why-setl-id": f"why {GUIYANG} examples/live/visit-1.json --setl-id S-0105-1",
    "settle-composed-limits": f"settle {QINGXI} examples/composed-limits/visits.json "
    "--format table",
    "why-deductible-total": f"why {QINGXI} examples/composed-limits/visits.json --record 3",
    "why-cost-cap": f"why {QINGXI} examples/composed-limits/visits.json --record 14",
    "why-second-fund": f"why {QINGSHAN} examples/second-fund/visits.json --record 3",
    # test: examples in policies and example files
    "test-policies": "test policies/",
    "test-examples": "test examples/",
    "test-shanxi-files": "test tests/examples/shanxi",
    "test-a-failure": "test tests/fixtures/examples/expects-the-wrong-ratio.pol",
    "test-a-failure-json": "test tests/fixtures/examples/expects-the-wrong-ratio.pol --format json",
    # fmt: the shipped files are formatted
    "fmt-check": "fmt --check policies/ examples/three-categories/ examples/amendment/",
    # render
    "render-guiyang": f"render {GUIYANG}",
    "render-shanxi": f"render {SHANXI}",
    "render-lanshan": f"render {LANSHAN}",
    "render-qingxi": f"render {QINGXI}",
    # diff
    "diff-amendment": f"diff {GUIYANG} {AMENDED} {PENSION}",
    # explain
    "explain-H501": "explain H501",
    "explain-P002": "explain P002",
}

# an English word of the kind a message says (not a field name, code or id)
ENGLISH = re.compile(
    r"\b(warning|visits|will|be|refused|expected|got|unknown|required|missing|cannot|must|the|"
    r"not|of|and|or|is|a|an|in|for|with|from|to|by|give|given|supply|policy|declares)\b"
)

LANG_ARGS = {"en": ["--lang", "en"], "zh": ["--lang", "zh"]}


def run(args: list[str], monkeypatch, env=None):
    monkeypatch.chdir(ROOT)
    for name in ("LC_ALL", "LC_MESSAGES", "POLICYLANG_LANG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    return CliRunner(env={"COLUMNS": "100"}).invoke(
        main, args, terminal_width=100, prog_name="policylang"
    )


def shown(r) -> str:
    return f"exit {r.exit_code}\n{r.output}"


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", list(RUNS))
def test_each_command_in_each_language(name, lang, monkeypatch, snapshot_text):
    r = run([*LANG_ARGS[lang], *shlex.split(RUNS[name])], monkeypatch)
    assert "Traceback" not in r.output
    assert r.exit_code in (0, 1, 2), r.output
    assert shown(r) == snapshot_text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_command_has_help_in_each_language(lang, monkeypatch, snapshot_text):
    out = []
    for name in ["", *sorted(main.commands)]:
        r = run([*LANG_ARGS[lang], *([name] if name else []), "--help"], monkeypatch)
        assert r.exit_code == 0, r.output
        out.append(f"$ policylang --lang {lang} {name} --help".replace("  ", " ") + "\n" + r.output)
    text = "\n".join(out)
    if lang == "zh":
        for english in ("Usage:", "Options:", "Commands:", "Show this message"):
            assert english not in text
    assert text == snapshot_text


def test_every_command_and_option_has_chinese_help():
    from policylang import clilang

    assert clilang.missing_help(main) == []


@pytest.mark.parametrize(
    "env",
    [{"POLICYLANG_LANG": "zh"}, {"LANG": "zh_CN.UTF-8"}, {"LC_ALL": "zh_CN.UTF-8"}],
    ids=["POLICYLANG_LANG", "LANG", "LC_ALL"],
)
def test_the_environment_chooses_chinese_help(env, monkeypatch):
    r = run(["why", "--help"], monkeypatch, env)
    assert r.output.startswith("用法: policylang why") and "逐步解释" in r.output
    assert run(["why", "--help"], monkeypatch).output.startswith("Usage: policylang why")


def test_a_command_s_lang_is_spoken_in_its_help_too(monkeypatch):
    assert run(["settle", "--lang", "zh", "--help"], monkeypatch).output.startswith("用法:")
    r = run(["--lang", "zh", "settle", "--format", "xml", GUIYANG, "x.json"], monkeypatch)
    assert r.exit_code == 2 and "错误:" in r.output and r.stdout == ""


def test_json_messages_follow_only_an_explicit_language(monkeypatch):
    """A Chinese locale changes what people read, not the JSON a program reads; --lang zh or
    POLICYLANG_LANG=zh changes both."""
    args = ["settle", GUIYANG, "examples/guiyang-visits.json", "--no-trace"]
    english = json.loads(run(args, monkeypatch, {"LANG": "zh_CN.UTF-8"}).stdout)
    chinese = json.loads(run(args, monkeypatch, {"POLICYLANG_LANG": "zh"}).stdout)
    also = json.loads(run(["--lang", "zh", *args], monkeypatch).stdout)
    assert english[0]["message"] == "the in-policy amount went to the deductible"
    assert chinese[0]["message"] == also[0]["message"] == "政策范围内金额全部计入起付标准"
    table = run([*args, "--format", "table"], monkeypatch, {"LANG": "zh_CN.UTF-8"}).stdout
    assert table.startswith("人员编号")


@pytest.mark.parametrize("method", ["credit", "may-pay"])
def test_results_carry_the_policy_and_its_hash(method, monkeypatch, tmp_path):
    """Every result names the policy and the IR hash, and the hash is the same for the
    policy translated into Chinese keywords."""
    import policylang

    data = {"credit": "examples/guiyang-persons.json", "may-pay": "examples/guiyang-requests.json"}
    zh = run(["fmt", "--lang", "zh", GUIYANG], monkeypatch).stdout
    (tmp_path / "guiyang-zh.pol").write_text(zh, encoding="utf-8")
    want = policylang.load(ROOT / GUIYANG).hash
    for policy in (GUIYANG, str(tmp_path / "guiyang-zh.pol")):
        r = run([method, policy, data[method], *shlex.split(PENSION)], monkeypatch)
        results = json.loads(r.stdout)
        assert {(x["policy"], x["ir_hash"]) for x in results} == {("guiyang_2022", want)}
        assert list(results[0])[-1] == "trace"


def test_test_format_json(monkeypatch, tmp_path):
    failing = (ROOT / GUIYANG).read_text(encoding="utf-8")
    failing = failing.replace(
        "expect { act_pay_dedc: 50 yuan, hifp_pay: 0 yuan",
        "expect { act_pay_dedc: 55 yuan, hifp_pay: 0 yuan",
    )
    (tmp_path / "city.pol").write_text(failing, encoding="utf-8")
    r = run(["test", "--format", "json", str(tmp_path / "city.pol")], monkeypatch)
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["summary"] == {"examples": 6, "passed": 5, "failed": 1, "errors": 0}
    [failed] = [e for e in out["examples"] if e["status"] == "FAIL"]
    [m] = failed["mismatches"]
    assert (m["record"], m["field"], m["expected"], m["actual"]) == (
        2,
        "act_pay_dedc",
        "55.00",
        "50.00",
    )
    assert m["trace"][0]["rule"] == "deductible per year"
    ok = run(["test", "--format", "json", "policies/"], monkeypatch)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["summary"]["failed"] == 0
    none = run(["test", "--format", "json", str(tmp_path / "nothing")], monkeypatch)
    assert none.exit_code == 2 and none.stdout == ""


@pytest.mark.parametrize("policy", [GUIYANG, SHANXI, LANSHAN, QINGXI])
def test_a_policy_and_its_chinese_translation_do_not_differ(policy, monkeypatch, tmp_path):
    """`diff` of a policy against its `fmt --lang zh` translation: the same meaning, exit 0,
    in either language of the report (and the same IR hash)."""
    import policylang

    src = ROOT / policy
    zh = run(["fmt", "--lang", "zh", policy], monkeypatch).stdout
    copy = tmp_path / src.parent.name / src.name
    copy.parent.mkdir()
    for sibling in src.parent.glob("*.pol"):  # the vocabulary or the parent beside it
        if sibling != src:
            copy.parent.joinpath(sibling.name).write_bytes(sibling.read_bytes())
    copy.write_text(zh, encoding="utf-8")
    assert zh != src.read_text(encoding="utf-8")
    params = shlex.split(SHANXI_PARAMS) if policy == SHANXI else shlex.split(PENSION)
    params = params if policy in (GUIYANG, SHANXI) else []
    for lang in ("en", "zh"):
        r = run(["--lang", lang, "diff", policy, str(copy), *params], monkeypatch)
        assert r.exit_code == 0, r.output
    search = [
        *(p for p in src.parent.glob("*.pol") if p != src),
        *(ROOT / "policies").glob("*.pol"),
    ]
    assert policylang.loads(zh, str(copy), search=search).hash == policylang.load(src).hash


@pytest.mark.parametrize(
    "args",
    [
        ["render", "examples/guiyang-visits.json"],
        ["diff", "examples/guiyang-visits.json", GUIYANG],
        ["why", "examples/guiyang-visits.json", GUIYANG],
        ["may-pay", "examples/guiyang-requests.json", GUIYANG],
    ],
    ids=lambda a: a[0],
)
def test_a_json_file_where_the_policy_goes_is_a_usage_error(args, monkeypatch):
    r = run(["--lang", "zh", *args], monkeypatch)
    assert r.exit_code == 2 and r.stdout == ""
    assert "参数顺序反了" in r.output or "看起来是 JSON 输入" in r.output


def test_python_dash_m_runs_the_command_line():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "policylang", "--lang", "zh", "explain", "P002"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "提示" in r.stdout and "hint:" not in r.stdout


def test_the_chinese_help_and_click_words_fit_what_they_translate():
    """No entry of HELP_ZH names a command or option that does not exist, and each of click's
    words keeps the placeholders click fills in."""
    import click

    from policylang.messages import CLICK_ZH, HELP_ZH, placeholders

    ctx = click.Context(main)
    known = {""} | set(main.commands)
    options = {
        f"{name} {o}"
        for name, cmd in [("", main), *main.commands.items()]
        for p in cmd.get_params(ctx)
        for o in getattr(p, "opts", [])
        if o.startswith("--")
    }
    shared = {"* " + key.split(" ", 1)[1] for key in options}
    for key in HELP_ZH:
        assert key in known or key in options or key in shared, key
    for english, chinese in CLICK_ZH.items():
        assert placeholders(
            english.replace("%(prog)s", "{prog}").replace("%(version)s", "{v}")
        ) == (placeholders(chinese.replace("%(prog)s", "{prog}").replace("%(version)s", "{v}"))), (
            english
        )


def test_explain_in_chinese_names_the_code_in_chinese(monkeypatch):
    from policylang.diagnostics import CATALOGUE, explain
    from policylang.messages import DIAGNOSTIC_TITLES_ZH

    assert set(DIAGNOSTIC_TITLES_ZH) <= set(CATALOGUE)  # no title of a code that is gone
    for code in DIAGNOSTIC_TITLES_ZH:
        first = explain(code, "zh").split("\n", 1)[0]
        assert first.startswith(f"{code}(") and DIAGNOSTIC_TITLES_ZH[code] in first
        assert "en:" not in explain(code, "zh") and "zh:" not in explain(code, "en")


def test_english_help_after_chinese_help_is_english(monkeypatch):
    """click keeps the help of --help once made: Chinese help first must not leave it Chinese."""
    for name in ("explain", "render"):
        assert "显示此帮助" in run(["--lang", "zh", name, "--help"], monkeypatch).output
        english = run([name, "--help"], monkeypatch).output
        assert "Show this message and exit." in english and "显示" not in english


# ---- the last of the English a Chinese-speaking officer met (issue #13) ----------------------


@pytest.mark.parametrize(
    "args, zh, en",
    [
        (["--version"], "policylang,版本 ", "policylang, version "),
        (["settle", "nope.pol", "x.json"], "文件 'nope.pol' 不存在", "File 'nope.pol' does not"),
        (["check", "no-such-folder"], "路径 'no-such-folder' 不存在", "Path 'no-such-folder'"),
        (["synth", "--persons", "many"], "'many' 不是有效的整数", "is not a valid integer"),
        (["settle", "--format", "xml", GUIYANG, "x.json"], "'xml' 不是", "'xml' is not one of"),
    ],
    ids=["version", "file", "path", "integer", "choice"],
)
def test_click_s_own_words_are_said_in_chinese(args, zh, en, monkeypatch):
    """--version and click's usage errors (a missing file, a bad integer or choice): no English
    in Chinese, and the English unchanged after a Chinese run."""
    r = run(["--lang", "zh", *args], monkeypatch)
    assert zh in r.output, r.output
    assert not re.search(r"\b(File|Path|Invalid|valid|integer|version|does|exist)\b", r.output)
    assert en in run(args, monkeypatch).output


def test_the_warning_of_a_missing_account_parameter_is_said_in_chinese(capsys):
    """serve's warning that visits with acct_balc will be refused comes from the catalogue,
    with the reason in the language spoken."""
    import policylang
    from policylang import cli, clilang

    shanxi = policylang.load(ROOT / SHANXI)
    declared = shanxi.ir.params
    try:
        clilang.choose("zh")
        cli._service_params(shanxi, SHANXI, {}, declared)
        zh = capsys.readouterr().err
        clilang.choose("en")
        cli._service_params(shanxi, SHANXI, {}, declared)
        en = capsys.readouterr().err
    finally:
        clilang.reset()
    assert zh.startswith(f"警告:{SHANXI}:给出 acct_balc(个人账户余额)的就诊将被拒绝:")
    assert "shanxi_account_use_from" in zh and not ENGLISH.search(zh), zh
    assert en.startswith(f"warning: {SHANXI}: visits with acct_balc will be refused: ")


def test_test_with_no_path_runs_the_configured_test_paths(monkeypatch, tmp_path):
    """At the repository root `policylang test` runs pyproject.toml's [tool.policylang]
    test-paths (the policies, examples and tests/examples, not the deliberately broken
    fixtures) and passes; an invalid policy named on the command line still says why, exit 2."""
    r = run(["test"], monkeypatch)
    assert r.exit_code == 0, r.output
    assert "tests/fixtures" not in r.output
    files = {line.split()[1].split(":")[0] for line in r.output.splitlines() if line[:4] == "PASS"}
    assert {GUIYANG, LANSHAN} <= files
    assert any(f.startswith("tests/examples/") for f in files)
    assert any(f.startswith("examples/") for f in files)
    for fixture in (
        "P002-cap-without-period.pol",
        "N101-undeclared-fund-expected-by-an-example.pol",
    ):
        bad = run(["test", f"tests/fixtures/invalid/{fixture}"], monkeypatch)
        assert bad.exit_code == 2 and "error[" in bad.output, bad.output


@pytest.mark.parametrize(
    "config, said",
    [
        ("[tool.policylang]\ntest-paths = 'policies'\n", "must be a list of paths"),
        ("[tool.policylang]\ntest-paths = ['policies', 'gone']\n", "do not exist: gone"),
        ("[tool.policylang\n", "cannot be read"),
    ],
    ids=["not-a-list", "missing", "not-toml"],
)
def test_a_bad_test_paths_setting_is_a_clear_error(config, said, monkeypatch, tmp_path):
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "city.pol").write_bytes((ROOT / GUIYANG).read_bytes())
    (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["--lang", "en", "test"])
    assert r.exit_code == 2 and said in r.output and r.stdout == "", r.output
    (tmp_path / "pyproject.toml").write_text("[tool.policylang]\ntest-paths = ['policies']\n")
    ok = CliRunner().invoke(main, ["--lang", "en", "test"])
    assert ok.exit_code == 0 and "PASS  policies/city.pol" in ok.output, ok.output
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert CliRunner().invoke(main, ["--lang", "en", "test"]).exit_code == 0  # the folder
