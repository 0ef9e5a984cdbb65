"""The language: parsing, the AST, both keyword spellings, and the formatter."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from policylang import nodes as n
from policylang.formatter import format_policy
from policylang.parser import keyword_pairs, parse

from .conftest import FIXTURES, POLICIES

SHIPPED = sorted(POLICIES.glob("*.pol"))
VALID = sorted((FIXTURES / "valid").glob("*.pol"))
# the shipped vocabularies, and the example that declares a category and imports a vocabulary
VOCABULARIES = sorted(
    [
        *(POLICIES.parent / "policylang" / "vocabularies").glob("*.pol"),
        *(POLICIES.parent / "examples" / "three-categories").glob("*.pol"),
    ]
)


def _parse(path: Path) -> n.Policy:
    policy, diags = parse(path.read_text(encoding="utf-8"), str(path))
    assert policy is not None, [d.message() for d in diags]
    assert not [d for d in diags if d.severity == "error"]
    return policy


def _ast_dict(node):
    """The AST as plain data, without spans (for snapshots)."""
    if attrs.has(type(node)):
        out = {"_": type(node).__name__}
        for f in attrs.fields(type(node)):
            if f.name != "span":
                out[f.name] = _ast_dict(getattr(node, f.name))
        return out
    if isinstance(node, tuple):
        return [_ast_dict(x) for x in node]
    if node is None or isinstance(node, (str, bool, int)):
        return node
    return str(node)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_policy_ast_snapshot(path, snapshot_json):
    assert _ast_dict(_parse(path)) == snapshot_json


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("path", SHIPPED + VALID, ids=lambda p: p.stem)
def test_formatter_round_trips(path, lang):
    policy = _parse(path)
    text = format_policy(policy, lang)
    again, diags = parse(text, "formatted.pol")
    assert not diags, [d.message() for d in diags]
    assert again == policy
    assert format_policy(again, lang) == text  # idempotent


def test_chinese_and_english_keywords_give_the_same_ast():
    zh = _parse(FIXTURES / "valid" / "mixed-keywords.pol")
    en = _parse(FIXTURES / "valid" / "mixed-keywords-en.pol")
    assert zh == en


def test_spans_do_not_take_part_in_equality():
    a, _ = parse("policy p { level city }", "a.pol")
    b, _ = parse("policy p {\n\n   level    city\n}", "b.pol")
    assert a == b
    assert a.decls[0].span != b.decls[0].span
    assert b.decls[0].span.line == 3 and b.decls[0].span.col == 4


def test_every_keyword_has_an_english_and_a_chinese_spelling():
    pairs = keyword_pairs()
    assert len(pairs) >= 50
    for name, (en, zh) in pairs.items():
        assert en.isascii(), name
        assert any("\u4e00" <= c <= "\u9fff" for c in zh), name


@pytest.mark.parametrize("name", sorted(keyword_pairs()))
def test_each_keyword_spelling_parses_identically(name):
    """Formatting a policy that uses the keyword in English and in Chinese gives one AST."""
    policy = _parse(POLICIES / "guiyang-2022.pol")
    en_text, zh_text = format_policy(policy, "en"), format_policy(policy, "zh")
    assert parse(en_text)[0] == parse(zh_text)[0]


def test_keywords_are_whole_words_and_usable_as_names():
    src = """policy p {
      param ratio_floor: percent cite 一
      param deductibles: money cite 一
      pooling { from 2023-01-01 cite 一 {
        covers active cite 一
        ratio 75% cite 一
        deductible deductibles per year cite 一
      } }
    }"""
    policy, diags = parse(src, "k.pol")
    # `deductibles` is a name, not `deductible` + `s`
    assert not diags
    assert [p.name.value for p in policy.find(n.ParamDecl)] == ["ratio_floor", "deductibles"]
    deductible = policy.section("pooling").versions[0].body[2]
    assert deductible.amount == n.Ref(name=n.Name("deductibles"))


def test_dates_in_chinese_form():
    a, _ = parse('policy p { document "x" dated 2022年6月27日 }')
    b, _ = parse('policy p { document "x" dated 2022-06-27 }')
    assert a == b


def test_percent_and_points_are_different_literals():
    a, _ = parse("policy p { pooling { from 2023-01-01 { uplift 5 points when flxempe_flag } } }")
    b, _ = parse("policy p { pooling { from 2023-01-01 { uplift 5% when flxempe_flag } } }")
    ua = a.decls[0].versions[0].body[0].points
    ub = b.decls[0].versions[0].body[0].points
    assert isinstance(ua, n.PointsLit) and isinstance(ub, n.PercentLit)


def test_period_written_together_and_points_without_ge():
    a, _ = parse(
        "policy p { pooling { from 2023-01-01 { deductible 150 元 每年 uplift 5 百分点 when "
        "flxempe_flag } } }"
    )
    b, _ = parse(
        "policy p { pooling { from 2023-01-01 { deductible 150 yuan per year uplift 5 points when "
        "flxempe_flag } } }"
    )
    assert a == b


def test_misspelt_keyword_gets_a_suggestion():
    _, diags = parse("policy p { pooling { from 2023-01-01 { deductable 150 yuan per year } } }")
    assert diags[0].code == "P002" and "did you mean 'deductible'?" in diags[0].hint()
    assert "起付标准" in diags[0].hint("zh")


def test_independent_syntax_errors_are_all_reported():
    text = (FIXTURES / "invalid" / "P002-two-independent-syntax-errors.pol").read_text(
        encoding="utf-8"
    )
    policy, diags = parse(text, "two.pol")
    assert policy is None
    assert [(d.code, d.span.line) for d in diags] == [("P002", 9), ("P002", 12)]


def test_an_error_inside_a_table_is_reported_alone():
    """Blanking a statement would unbalance the braces: no guessing, one error."""
    src = (
        "policy p {\n  pooling {\n    from 2023-01-01 {\n      ratio by hosp_lv {\n"
        "        level1 75%\n        level2: 70%\n      }\n      cap 2000 yuan cite 一\n    }\n  "
        "}\n}\n"
    )
    _, diags = parse(src)
    assert len(diags) == 1 and diags[0].span.line == 5


# ---- vocabularies: enumerations and code lists -------------------------------------------

VOCABULARY_SOURCE = """vocabulary city_codes "示例市代码" {
  enum psn_type "人员类别" {
    veteran "离休" codes "13", "1301" counts_as retiree cite 三
    code "1303" means veteran with flxempe_flag = true "灵活就业离休"
  }
  code_list med_type "医疗类别" cite 四 {
    code "9901" "家庭医生签约门诊" pooled
    code "9902"
  }
}
"""

POLICY_WITH_ENUM = """policy p {
  import vocabulary "codes.pol" cite 一
  import vocabulary national
  enum psn_type cite 三 "离休人员单列" {
    veteran "离休" codes "13" counts_as retiree
  }
  pooling { from 2023-01-01 cite 一 {
    covers active, retiree, 离休 cite 一
    ratio by psn_type { active: 70%  退休: 80%  离休: 90% } cite 一
  } }
}
"""


@pytest.mark.parametrize(
    "source", [VOCABULARY_SOURCE, POLICY_WITH_ENUM], ids=["vocabulary", "policy"]
)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_vocabulary_syntax_round_trips(source, lang):
    tree, diags = parse(source, "v.pol")
    assert tree is not None and not diags, [d.message() for d in diags]
    text = format_policy(tree, lang)
    again, diags = parse(text, "formatted.pol")
    assert not diags, [d.message() for d in diags]
    assert again == tree
    assert format_policy(again, lang) == text


def test_vocabulary_file_parses_to_a_vocabulary():
    vocab, _ = parse(VOCABULARY_SOURCE)
    assert isinstance(vocab, n.Vocabulary) and vocab.name.value == "city_codes"
    enum, codes = vocab.decls
    veteran, code = enum.items
    assert veteran == n.EnumValue(
        name=n.Name("veteran"),
        aliases=("离休",),
        codes=(n.TextLit(value="13"), n.TextLit(value="1301")),
        counts_as=n.Name("retiree"),
        cite=n.Citation(clause="三"),
    )
    assert code.means == n.Name("veteran") and code.label == "灵活就业离休"
    assert [(i.field.value, i.value) for i in code.implies] == [
        ("flxempe_flag", n.BoolLit(value=True))
    ]
    assert [(i.code.value, i.pooled) for i in codes.items] == [("9901", True), ("9902", False)]


def test_a_files_own_aliases_read_as_their_values():
    """Like the built-in ones: `离休` is `veteran` wherever a name is written."""
    policy, _ = parse(POLICY_WITH_ENUM)
    written = parse(
        POLICY_WITH_ENUM.replace("离休: 90%", "veteran: 90%").replace(
            "retiree, 离休", "retiree, veteran"
        )
    )[0]
    assert policy == written
    ratio = policy.section("pooling").versions[0].body[1]
    assert [row.patterns[0][0].value for row in ratio.amount.rows] == [
        "active",
        "retiree",
        "veteran",
    ]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("path", VOCABULARIES, ids=lambda p: p.stem)
def test_formatter_round_trips_vocabularies(path, lang):
    """The same as test_formatter_round_trips, over vocabulary files and a policy using them."""
    tree = _parse(path)
    text = format_policy(tree, lang)
    again, diags = parse(text, "formatted.pol")
    assert not diags, [d.message() for d in diags]
    assert again == tree
    assert format_policy(again, lang) == text


@pytest.mark.parametrize(
    "source, hint",
    [
        (
            "policy p { pooling { from 2023-01-01 { uplift 5 points when psn_type == retiree } } }",
            "compare with a single '='",
        ),
        (
            "policy p { pooling { from 2023-01-01 { ratio by hosp_lv { unrated: 75%, level1: 70% "
            "} } } }",
            "separated by line breaks, not commas",
        ),
        (
            "policy p { pooling { from 2023-01-01 { ratio bands per year { until 1000 yuan: 60%, "
            "beyond: 70% } } } }",
            "separated by line breaks, not commas",
        ),
        (
            "政策 p { 普通门诊统筹 { 自 2023-01-01 { 起付线 150 元 每 年 } } }",
            "'起付线' is written 'deductible'",
        ),
        (
            "policy p { pooling { from 2023-01-01 { ceiling 2000 yuan per year } } }",
            "'ceiling' is written 'cap'",
        ),
    ],
)
def test_common_mistakes_get_a_hint(source, hint):
    _, diags = parse(source)
    assert diags[0].code == "P002" and hint in diags[0].hint(), diags[0].hint()
    assert diags[0].hint("zh")


def test_records_of_an_example_take_commas():
    policy, diags = parse(
        'policy p { example "x" cite 一 { settle { psn_type: retiree, hosp_lv: level2, } } }'
    )
    assert policy is not None and not diags
