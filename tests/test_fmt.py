"""`policylang fmt`: canonical layout that keeps every comment.

The soundness check (after Cedar's formatter): for every policy and vocabulary file
in the repository that parses, the formatted text parses to the same AST, keeps every comment (same
text, same order), is a fixed point, and English -> Chinese -> English gives the
English formatting of the original."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from policylang.cli import main
from policylang.formatter import WIDTH, FormatProblem, cell_width, format_source
from policylang.parser import parse_with_comments

from .conftest import FIXTURES, POLICIES, ROOT

# the policies, the examples, the fixtures and the shipped vocabulary files
VOCABULARIES = ROOT / "policylang" / "vocabularies"
CORPUS = sorted(
    {
        *POLICIES.glob("*.pol"),
        *(ROOT / "examples").rglob("*.pol"),
        *FIXTURES.rglob("*.pol"),
        *VOCABULARIES.glob("*.pol"),
    }
)
TORTURE = FIXTURES / "format" / "comments-everywhere.pol"


def _parses(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # the fixture saved in GBK (P015)
        return False
    policy, diags, _ = parse_with_comments(text, str(path))
    return policy is not None and not [d for d in diags if d.severity == "error"]


PARSING = [p for p in CORPUS if _parses(p)]


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def test_the_corpus_is_the_whole_repository():
    assert len(PARSING) >= 80  # the invalid fixtures whose errors are the checker's parse too
    assert POLICIES / "guiyang-2022.pol" in PARSING and TORTURE in PARSING
    assert {
        VOCABULARIES / "builtin.pol",
        VOCABULARIES / "national.pol",
        ROOT / "examples" / "three-categories" / "lanshan-codes.pol",
    } <= set(PARSING)


@pytest.mark.parametrize("path", PARSING, ids=lambda p: str(p.relative_to(ROOT)))
def test_formatting_is_sound(path):
    text = path.read_text(encoding="utf-8")
    policy, _, comments = parse_with_comments(text, str(path))
    outputs = {}
    for lang in ("en", "zh"):
        out = outputs[lang] = format_source(text, str(path), lang)
        again, diags, kept = parse_with_comments(out, "formatted.pol")
        assert not diags, [d.message() for d in diags]
        assert again == policy
        assert [c.text for c in kept] == [c.text for c in comments]
        assert format_source(out, "formatted.pol", lang) == out  # idempotent
    assert format_source(outputs["zh"], "zh.pol", "en") == outputs["en"]  # en -> zh -> en
    assert format_source(outputs["en"], "en.pol", "zh") == outputs["zh"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_where_each_comment_goes(lang, snapshot_text):
    assert (
        format_source(TORTURE.read_text(encoding="utf-8"), "comments-everywhere.pol", lang)
        == snapshot_text
    )


@pytest.mark.parametrize(
    "path", [POLICIES / "guiyang-2022.pol", POLICIES / "shanxi-2022.pol"], ids=lambda p: p.stem
)
def test_lines_fit_in_the_width_unless_a_quote_is_longer(path):
    for lang in ("en", "zh"):
        for line in format_source(path.read_text(encoding="utf-8"), str(path), lang).splitlines():
            if cell_width(line) > WIDTH:
                assert line.lstrip().startswith('"') or line.rstrip().endswith('" {'), line


def test_chinese_characters_count_two_columns():
    assert cell_width("ab") == 2 and cell_width("起付") == 4 and cell_width("（") == 2


def test_a_long_statement_breaks_before_its_citation_and_its_clauses():
    quote = "退" * 40
    text = (
        "policy p {\n pooling { from 2023-01-01 cite 一 {\n"
        "allow resident_insurance_contribution, large_expense_subsidy_contribution, "
        "ltc_insurance_contribution "
        f'for self, spouse cite 第4段 "{quote}" }} }}\n}}\n'
    )
    out = format_source(text, "p.pol", "en")
    assert out.splitlines()[3:7] == [
        "      allow resident_insurance_contribution, large_expense_subsidy_contribution,",
        "          ltc_insurance_contribution",
        "        for self, spouse",
        "        cite 第4段",
    ]
    assert (
        out.splitlines()[7] == f'          "{quote}"'
    )  # a string is never split: on a line of its own


def test_type_names_and_measures_are_translated():
    text = (
        "policy p {\n  param a: money cite 一\n  input b: count default 1 cite 一\n"
        "  constraints { require r: ratio[psn_type = retiree] >= 50% cite 一 }\n}\n"
    )
    zh = format_source(text, "p.pol", "zh")
    assert "参数 a: 金额 依据 一" in zh and "输入 b: 数值 默认 1 依据 一" in zh
    assert "要求 r: 支付比例[psn_type = 退休] >= 50% 依据 一" in zh
    assert parse_with_comments(zh)[0] == parse_with_comments(text)[0]


def test_a_file_that_does_not_parse_is_not_formatted():
    with pytest.raises(FormatProblem, match="syntax error"):
        format_source("policy p { level city", "p.pol")


# ---- the command line -----------------------------------------------------------------


def test_fmt_prints_the_canonical_form():
    r = run("fmt", POLICIES / "guiyang-2022.pol", "--lang", "zh")
    assert r.exit_code == 0
    assert r.stdout.startswith("# 贵阳贵安") and "\n政策 guiyang_2022" in r.stdout
    assert "起付标准 150 元 每 年" in r.stdout


def test_fmt_reads_standard_input():
    r = run("fmt", "-", input="policy p {   level    city  # c\n}")
    assert r.exit_code == 0 and r.stdout == "policy p {\n  level city  # c\n}\n"


def test_fmt_write_keeps_comments_and_rewrites_only_what_changes(tmp_path):
    path = tmp_path / "p.pol"
    path.write_text("# about p\npolicy p {   level    city  # keep me\n}\n", encoding="utf-8")
    path.chmod(0o640)
    r = run("fmt", path, "--write")
    assert r.exit_code == 0, r.output
    assert path.read_text(encoding="utf-8") == "# about p\npolicy p {\n  level city  # keep me\n}\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.pol"]  # no temporary file left behind
    before = path.stat().st_mtime_ns
    assert run("fmt", path, "--write").exit_code == 0
    assert path.stat().st_mtime_ns == before


def test_fmt_check_exits_like_diff(tmp_path):
    good, bad = tmp_path / "a.pol", tmp_path / "b.pol"
    good.write_text("policy a {\n  level city\n}\n", encoding="utf-8")
    bad.write_text("policy b { level city }", encoding="utf-8")
    r = run("fmt", "--check", tmp_path)
    assert (
        r.exit_code == 1 and r.stdout == f"{bad}\n" and "1 of 2 file(s) not formatted" in r.stderr
    )
    assert run("fmt", "--check", good).exit_code == 0
    (tmp_path / "c.pol").write_text("policy c {", encoding="utf-8")
    r = run("fmt", "--check", tmp_path)
    assert (
        r.exit_code == 2 and "P003" in r.stderr and f"{bad}\n" in r.stdout
    )  # every file is still looked at


def test_fmt_diff_shows_what_would_change(tmp_path):
    bad = tmp_path / "b.pol"
    bad.write_text("policy b { level city }\n", encoding="utf-8")
    r = run("fmt", "--diff", bad)
    assert r.exit_code == 1
    assert r.stdout.splitlines() == [
        f"--- {bad}",
        f"+++ {bad} (formatted)",
        "@@ -1 +1,3 @@",
        "-policy b { level city }",
        "+policy b {",
        "+  level city",
        "+}",
    ]
    assert bad.read_text(encoding="utf-8") == "policy b { level city }\n"


def test_fmt_usage_errors(tmp_path):
    assert run("fmt", "-", "--write", input="policy p {}").exit_code == 2
    assert run("fmt", POLICIES, "--write", "--check").exit_code == 2
    r = run("fmt", ROOT / "examples" / "guiyang-visits.json")
    assert r.exit_code == 2 and "looks like JSON input, not a policy" in r.stderr


def test_shipped_policies_are_formatted():
    """CI runs this too (.ci/run): `policylang fmt --check policies/`."""
    r = run("fmt", "--check", POLICIES)
    assert r.exit_code == 0, r.output


def test_fmt_of_a_copy_in_chinese_checks_the_same(tmp_path):
    path = tmp_path / "guiyang-2022.pol"
    shutil.copy(POLICIES / "guiyang-2022.pol", path)
    assert run("fmt", path, "--write", "--lang", "zh").exit_code == 0
    import policylang

    assert policylang.load(path).hash == policylang.load(POLICIES / "guiyang-2022.pol").hash


def test_a_hash_inside_a_clause_is_no_comment():
    text = (
        "policy p { # a\n  pooling { from 2023-01-01 cite 二#1 { # b\n"
        "    covers active cite 二#2 # c\n  } }\n}\n"
    )
    out = format_source(text, "p.pol")
    assert out == (
        "policy p {  # a\n  pooling {\n    from 2023-01-01 cite 二#1 {  # b\n"
        "      covers active cite 二#2  # c\n    }\n  }\n}\n"
    )


VOCABULARY_WITH_COMMENTS = """# header comment

vocabulary city "市代码" {
  # the categories
  enum psn_type { veteran "离休" codes "13", "1301" counts_as retiree   # cadres
    // a code with a flag
    code "1303" means veteran with flxempe_flag = true "灵活就业离休" cite 三 "离休人员以灵活就业人员身份参保的,人员类别代码为1303,待遇按离休人员执行并适当提高支付比例"
  }
  code_list med_type cite 四 { code "9901" "家庭医生签约门诊" pooled   # family doctors
    code "9902"
  # before the brace
  }
}
# trailer
"""  # noqa: E501 (a long clause is kept whole by fmt)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_vocabulary_file_keeps_its_comments_and_wraps(lang):
    out = format_source(VOCABULARY_WITH_COMMENTS, "v.pol", lang)
    k = {
        "en": ("enum", "code", "means", "veteran", "cite"),
        "zh": ("枚举", "代码", "表示", "离休", "依据"),
    }[lang]
    lines = out.splitlines()
    assert lines[:4] == ["# header comment", "", lines[2], "  # the categories"]
    assert lines[4] == f"  {k[0]} psn_type {{" and lines[5].endswith(
        '"1301" ' + lines[5].split('"1301" ')[1]
    )
    assert lines[5].endswith("  # cadres") and lines[6] == "    // a code with a flag"
    assert (
        lines[7].startswith(f'    {k[1]} "1303" {k[2]} {k[3]} ') and lines[8] == f"      {k[4]} 三"
    )
    assert lines[9].startswith('        "离休人员以灵活就业人员身份参保的')  # a quote never split
    assert lines[-4:] == ["    # before the brace", "  }", "}", "# trailer"]
    assert format_source(out, "v.pol", lang) == out
    assert format_source(out, "v.pol", "en" if lang == "zh" else "zh") == format_source(
        VOCABULARY_WITH_COMMENTS, "v.pol", "en" if lang == "zh" else "zh"
    )


def test_fmt_check_takes_the_shipped_vocabularies():
    result = run(
        "fmt",
        "--check",
        ROOT / "policylang" / "vocabularies",
        ROOT / "examples" / "three-categories",
    )
    assert result.exit_code == 0, result.output
