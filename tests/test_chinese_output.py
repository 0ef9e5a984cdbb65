"""What a Chinese-speaking officer reads: every command that shows a result, a summary or a
problem, run with --lang zh on the shipped policies and the examples, says nothing in English
(issue #13).  English words may appear only as identifiers: the platform's field names, the
names a policy declares (its id, parameters, rules, tiers, counters, funds), codes, file paths,
and what the officer wrote (quoted sentences, example titles, `unstated` reasons, source lines
shown under a diagnostic).  This catches the class (any English word a command makes up), not
one message: a new message without its Chinese fails here."""

from __future__ import annotations

import html
import json
import re
import shlex
from functools import lru_cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from policylang.cli import main

from .conftest import ROOT

GUIYANG = "policies/guiyang-2022.pol"
SHANXI = "policies/shanxi-2022.pol"
PENSION = "--param guizhou_avg_pension_2022=3125.50"
SHANXI_FROM = "--param shanxi_account_use_from=2022-01-13"
LANSHAN = "examples/three-categories/lanshan-2024.pol"
QINGXI = "examples/composed-limits/qingxi-2025.pol"
QINGSHAN = "examples/second-fund/qingshan-2024.pol"
QINGYU = "examples/adjustments/qingyu-2025.pol"
QINGYU_PARAMS = "--param reform_start=2025-03-01 --param level3_ratio=60%"

SETTLED = [
    (GUIYANG, "examples/guiyang-visits.json", ""),
    (LANSHAN, "examples/three-categories/visits.json", ""),
    (QINGXI, "examples/composed-limits/visits.json", ""),
    (QINGSHAN, "examples/second-fund/visits.json", ""),
    (QINGYU, "examples/adjustments/visits.json", QINGYU_PARAMS),
    (GUIYANG, "examples/live/visit-1.json", ""),
]
POLICIES = [
    GUIYANG,
    SHANXI,
    LANSHAN,
    QINGXI,
    QINGSHAN,
    QINGYU,
    "examples/amendment/guiyang-2022.pol",
    "examples/reform/guiyang-reform.pol",
    "examples/three-categories/example-province-2023.pol",
]

RUNS = {
    "check": "check policies/ examples/",
    **{f"settle {v}": f"settle {p} {v} {a} --format table" for p, v, a in SETTLED},
    **{f"why {v}": f"why {p} {v} {a}" for p, v, a in SETTLED},
    "credit": f"credit {GUIYANG} examples/guiyang-persons.json {PENSION} --format table",
    "why credit": f"why {GUIYANG} examples/guiyang-persons.json {PENSION}",
    "may-pay guiyang": f"may-pay {GUIYANG} examples/guiyang-requests.json --format table",
    "may-pay shanxi": f"may-pay {SHANXI} examples/shanxi-requests.json {SHANXI_FROM} "
    "--format table",
    "why may-pay guiyang": f"why {GUIYANG} examples/guiyang-requests.json",
    "why may-pay shanxi": f"why {SHANXI} examples/shanxi-requests.json {SHANXI_FROM}",
    **{f"render {p}": f"render {p}" for p in POLICIES},
    "test": "test policies/ examples/ tests/examples/",
    "test a failure": "test tests/fixtures/examples/expects-the-wrong-ratio.pol",
    "diff amendment": f"diff {GUIYANG} examples/amendment/guiyang-2022.pol {PENSION}",
    "diff reform": f"diff {GUIYANG} examples/reform/guiyang-reform.pol {PENSION}",
    "settle bad input": f"settle {GUIYANG} tests/fixtures/inputs/visits-with-mistakes.json",
    "settle more bad input": f"settle {GUIYANG} "
    "tests/fixtures/inputs/visits-with-more-mistakes.json",
    "credit missing param": f"credit {GUIYANG} examples/guiyang-persons.json",
    "explain": "explain *",  # every code (expanded below)
}

# identifiers that are no policy's and no field's: the tool, the hash, formats, standards
FIXED = {"policylang", "IR", "sha256", "JSON", "Python", "UTF", "GBK", "GB18030", "iconv", "Word"}


NAMING_KEYS = {"id", "policy", "implements", "counter", "fund", "each", "tier"}
NAMED_NODES = {"CreditRule", "Field", "Param", "Requirement", "DiseaseCatalogue", "CodeList"}


def _names_in(node, names: set[str], key: str | None = None) -> None:
    """The names an IR (JSON) declares or reads: rules, fields, parameters, requirements,
    catalogues, ids, counters, funds, and the keys of the tables of parameters, settings,
    inputs and funds (not the program's own variables, not the vocabulary's enumerations)."""
    if isinstance(node, dict):
        if node.get("node") in NAMED_NODES:
            names.add(node["name"])
        if key in ("params", "settings", "inputs", "funds"):
            names.update(node)
        for k, v in node.items():
            if k != "vocabulary":
                _names_in(v, names, k)
    elif isinstance(node, list):
        for v in node:
            _names_in(v, names, key)
    elif isinstance(node, str) and key in NAMING_KEYS and re.fullmatch(r"[A-Za-z_]\w*", node):
        names.add(node)


def _identifiers_declared() -> set[str]:
    """The names the shipped policies and examples declare, and their tiers (which the IR
    lowers away)."""
    import policylang

    names: set[str] = set()
    for p in POLICIES:
        _names_in(json.loads(policylang.load(ROOT / p).ir_json()), names)
        names.update(re.findall(r"^\s*tier (\w+)", (ROOT / p).read_text(), re.M))
    return names


def _fields() -> set[str]:
    """The platform's field names (input and result) and funds: what the JSON contract calls
    them (a result field is a column of the tables: ``col.hifp_pay``)."""
    from policylang import vocab as V
    from policylang.messages import MESSAGES

    fields = {*V.VISIT_FIELDS, *V.PERSON_FIELDS, *V.REQUEST_FIELDS, *V.CONTEXT_FIELDS, *V.FUNDS}
    fields |= {k[4:] for k in MESSAGES if k.startswith("col.") and "_" in k[4:]}
    return {f for f in fields if "_" in f or f in V.FUNDS}


def _source_names() -> set[str]:
    """What a diagnostic may quote of the source it is about (explain's examples are the
    broken fixtures): the names and keywords written outside comments and strings, and the
    shipped vocabularies' names."""
    names = set()
    for f in [*ROOT.glob("tests/fixtures/invalid/*.pol"), *ROOT.glob("policylang/vocabularies/*")]:
        code = re.sub(r'#[^\n]*|"[^"\n]*"', " ", f.read_text(encoding="utf-8", errors="replace"))
        names.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    return names


@lru_cache(maxsize=1)
def allowed_identifiers() -> frozenset[str]:
    return frozenset(_identifiers_declared() | _fields() | FIXED)


@lru_cache(maxsize=1)
def allowed_in_diagnostics() -> frozenset[str]:
    return allowed_identifiers() | _source_names()


@lru_cache(maxsize=1)
def authored_texts() -> tuple[str, ...]:
    """What the officer wrote, shown as written: quoted text of the policies and the
    example files (titles, unstated reasons, notes), longest first."""
    texts: set[str] = set()
    for f in [*ROOT.glob("policies/*.pol"), *ROOT.glob("examples/**/*.pol")]:
        texts.update(re.findall(r'"([^"\n]+)"', f.read_text(encoding="utf-8")))
    for f in [*ROOT.glob("tests/examples/**/*.json"), *ROOT.glob("examples/**/*.json")]:
        texts.update(re.findall(r'"(?:title|description|note)": "([^"]+)"', f.read_text()))
    for f in ROOT.glob("tests/fixtures/examples/*.pol"):
        texts.update(re.findall(r'"([^"\n]+)"', f.read_text(encoding="utf-8")))
    sentences = {t for t in texts if " " in t.strip()}  # not a code or a name ("12", "离休")
    return tuple(sorted(sentences, key=len, reverse=True))


STATUS = {"PASS", "FAIL", "ERROR", "OK", "WARNING"}  # words, though in capitals

# lines that show source: a diagnostic's excerpt and its caret, explain's wrong/right samples
# (up to a comment, which is words: it is read)
# (an excerpt is indented; a Markdown table's row starts its line with "|": it is read)
SOURCE_LINE = re.compile(r"^[ \t]+(\d+[ \t]*)?\|.*$|^\s*(错误|正确): [^#\n]*", re.M)
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|“[^”\n]*”|`[^`\n]*`")
PATH = re.compile(r"[\w./-]*\.(pol|json|jsonl|toml|md|csv|parquet)\b|[\w.-]+/[\w./-]*")
# the identifier a Chinese name stands for, after it: 在职(active), 合计上限(total_at_most)
GLOSS = re.compile(r"(?<=[\u4e00-\u9fff'”])\([A-Za-z_][\w ]*\)")
SHA = re.compile(r"sha256:[0-9a-f]+")
COMMAND = re.compile(r"policylang(?: --?[\w-]+)* [a-z-]+")  # a command to run
WORD = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")


def english_words(output: str, allowed: frozenset[str] | None = None) -> list[str]:
    """The English words of ``output`` that are not identifiers, after what the officer
    wrote, source lines, quoted values and file paths are set aside."""
    text = SOURCE_LINE.sub("", output)
    for t in authored_texts():
        text = text.replace(t, " ")
    text = GLOSS.sub(" ", SHA.sub(" ", COMMAND.sub(" ", PATH.sub(" ", text))))
    text = QUOTED.sub(" ", text)
    allowed = allowed or allowed_identifiers()
    out = []
    for w in WORD.findall(text):
        if w in allowed or len(w) == 1 or (w.isupper() and w not in STATUS):  # NAME, POLICY
            continue
        if re.fullmatch(r"[A-Z]+-?\d+|[A-Z]\d{3}|[0-9a-f]{16,}|[A-Za-z]\d+", w):  # GY-001, a code
            continue
        out.append(w)
    return out


def _args(cmd: str) -> list[list[str]]:
    if cmd == "explain *":
        from policylang.diagnostics import CATALOGUE

        return [["explain", code] for code in CATALOGUE]
    return [shlex.split(cmd)]


@pytest.mark.parametrize("name", list(RUNS))
def test_chinese_output_has_no_english_words(name, monkeypatch):
    monkeypatch.chdir(ROOT)
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "POLICYLANG_LANG"):
        monkeypatch.delenv(var, raising=False)
    found: dict[str, list[str]] = {}
    for args in _args(RUNS[name]):
        r = CliRunner().invoke(main, ["--lang", "zh", *args], terminal_width=100)
        assert "Traceback" not in r.output and r.exit_code in (0, 1, 2), r.output
        words = english_words(r.output, allowed_in_diagnostics() if name == "explain" else None)
        if words:
            found[" ".join(args)] = words
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)


def test_the_check_catches_an_english_word():
    """The scan itself: a made-up English message is found, identifiers are not."""
    assert english_words("政策 guiyang_2022:hifp_pay 280.00") == []
    assert english_words("读取:deductible 150.00") == ["deductible"]
    assert english_words("warning: 文件 policies/x.pol 不存在") == ["warning"]
    assert (
        english_words(
            "通知未规定:the notice gives no rounding rule; payments are settled to the fen, half up"
        )
        == []
    )


def test_the_identifiers_allowed_are_identifiers():
    """No English word a message would use is let through as an identifier."""
    allowed = allowed_identifiers()
    for word in ("deductible", "cap", "ratio", "the", "warning", "unstated", "none", "active"):
        assert word not in allowed
    assert Path(ROOT / GUIYANG).exists()


def test_every_diagnostic_code_has_a_chinese_title():
    from policylang.diagnostics import CATALOGUE
    from policylang.messages import DIAGNOSTIC_TITLES_ZH

    assert set(CATALOGUE) == set(DIAGNOSTIC_TITLES_ZH)


def test_simulate_says_nothing_in_english(monkeypatch, tmp_path):
    """simulate's report (on synthetic claims, a reform against the baseline) in Chinese."""
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(ROOT)
    claims = tmp_path / "claims.csv"
    made = CliRunner().invoke(main, ["synth", "--persons", "30", "-o", str(claims)])
    assert made.exit_code == 0, made.output
    args = [
        "--lang",
        "zh",
        "simulate",
        GUIYANG,
        str(claims),
        "--reform",
        "examples/reform/guiyang-reform.pol",
        "--out",
        str(tmp_path / "sim"),
        *shlex.split(PENSION),
    ]
    r = CliRunner().invoke(main, args, terminal_width=100)
    assert r.exit_code == 0, r.output
    assert english_words(r.output.replace("引擎 columnar", "")) == [], r.output


@pytest.mark.parametrize("policy", POLICIES)
def test_the_html_summary_in_chinese_has_no_english_words(policy, monkeypatch):
    """render --format html: the page's text (its markup and style set aside)."""
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(main, ["--lang", "zh", "render", policy, "--format", "html"])
    assert r.exit_code == 0, r.output
    page = re.sub(r"<style>.*?</style>", " ", r.output, flags=re.S)
    words = html.unescape(re.sub(r"<[^>]+>", "\n", page))
    assert english_words(words) == [], words
