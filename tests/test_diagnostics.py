"""The broken-policy corpus: every diagnostic code, as a policy officer meets it.

``tests/fixtures/invalid/<CODE>-<slug>.pol`` are small, realistic edits of the shipped
policies, each broken on purpose.  The first line of each says which codes it must
produce (``# expect: H501``), the second what is wrong, in plain words.
``parent-*.pol`` files are not broken: they are the parents that the city fixtures
``implements`` (parents are looked up among the .pol files of the same folder).

For every fixture the checker must report the expected codes, point every problem
at file:line:col, never raise, and render the same problems in English and in
Chinese; the rendered text is kept as a readable snapshot in
``tests/__snapshots__/test_diagnostics/`` (run ``pytest --snapshot-update`` after a
deliberate change of wording, and read the diff).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

import policylang
from policylang.cli import main
from policylang.diagnostics import CATALOGUE, _visible, render_all

from .conftest import FIXTURES, ROOT

INVALID = FIXTURES / "invalid"
FULLWIDTH = FIXTURES / "valid" / "fullwidth-accepted.pol"
PARENT_MARK = "# parent fixture: checks clean"
EXPECT = re.compile(r"^# expect: ((?:[A-Z]\d{3})(?: [A-Z]\d{3})*)\s*$")


def _lines(path: Path) -> list[str]:
    """The first lines (the expectation and what is wrong): ASCII or UTF-8 even in a fixture
    that is otherwise not UTF-8 (P015)."""
    return [line.decode("utf-8") for line in path.read_bytes().split(b"\n", 2)[:2]]


def _first_line(path: Path) -> str:
    return _lines(path)[0]


ALL_FIXTURES = sorted(INVALID.glob("*.pol"))
PARENTS = [p for p in ALL_FIXTURES if _first_line(p).startswith(PARENT_MARK)]
BROKEN = [p for p in ALL_FIXTURES if p not in PARENTS]


def expected_codes(path: Path) -> list[str]:
    m = EXPECT.match(_first_line(path))
    assert m, f"{path.name}: the first line must be '# expect: CODE [CODE ...]'"
    return m.group(1).split()


# Fixtures on which the checker is known to fall short today (each reported to the
# maintainers).  The tests below are marked xfail(strict=True) for them, so they
# start failing -- as a reminder to drop the entry -- the day the checker is fixed.
KNOWN_PROBLEMS: dict[str, dict[str, str]] = {
    "expected_codes": {},
    "source_line": {},
}


def _params(test: str, paths: list[Path]):
    known = KNOWN_PROBLEMS.get(test, {})
    return [
        pytest.param(
            p,
            id=p.stem,
            marks=[pytest.mark.xfail(reason=known[p.stem], strict=True)] if p.stem in known else [],
        )
        for p in paths
    ]


def _check(path: Path, monkeypatch) -> tuple[policylang.CheckResult, dict[str, str], str]:
    """Check one fixture by its path relative to the repository root, so that file
    names in messages (and snapshots) do not depend on where the checkout lives."""
    monkeypatch.chdir(ROOT)
    rel = path.relative_to(ROOT).as_posix()
    results, ws = policylang.check_paths([rel])
    assert len(results) == 1 and results[0].file == rel
    return results[0], ws.sources, rel


# ---- the corpus itself ---------------------------------------------------------------


def test_corpus_is_large_enough_and_well_formed():
    assert len(BROKEN) >= 30
    assert PARENTS, "the parent fixture parent-shanxi-2022.pol is missing"
    for path in BROKEN:
        codes = expected_codes(path)
        assert path.name.split("-", 1)[0] == codes[0], (
            f"{path.name}: the name must start with its first code"
        )
        assert set(codes) <= set(CATALOGUE), f"{path.name}: unknown code in {codes}"
        second = _lines(path)[1]
        assert second.startswith("# ") and len(second) > 20, (
            f"{path.name}: line 2 must say what is wrong"
        )


def test_every_catalogue_code_has_a_fixture():
    covered = {code for path in BROKEN for code in expected_codes(path)}
    missing = sorted(set(CATALOGUE) - covered)
    assert not missing, f"no fixture in tests/fixtures/invalid/ expects {missing}"


@pytest.mark.parametrize("path", PARENTS, ids=lambda p: p.stem)
def test_parent_fixtures_check_clean(path, monkeypatch):
    result, _, _ = _check(path, monkeypatch)
    assert result.diagnostics == []


# ---- every broken fixture ------------------------------------------------------------


@pytest.mark.parametrize("path", _params("expected_codes", BROKEN))
def test_expected_codes_are_reported(path, monkeypatch):
    result, _, _ = _check(path, monkeypatch)
    found = [d.code for d in result.diagnostics]
    for code in expected_codes(path):
        assert code in found, f"{path.name}: expected {code}, got {found}"
    if any(CATALOGUE[c].severity == "error" for c in expected_codes(path)):
        assert not result.ok


@pytest.mark.parametrize("path", _params("spans", BROKEN))
def test_every_diagnostic_points_at_file_line_col(path, monkeypatch):
    result, sources, rel = _check(path, monkeypatch)
    for d in result.diagnostics:
        for span in [d.span, *(r.span for r in d.related)]:
            assert span is not None, f"{d.code} has no position"
            assert span.file in sources, f"{d.code} points at an unknown file {span.file}"
            lines = sources[span.file].split("\n")
            assert 1 <= span.line <= len(lines), f"{d.code} at line {span.line}"
            assert 1 <= span.col <= len(lines[span.line - 1]) + 1, (
                f"{d.code} at {span.line}:{span.col}"
            )
        assert d.span.file == rel, f"{d.code} points into another file: {d.span.file}"
        for lang in ("en", "zh"):
            assert d.message(lang).strip()
            assert d.to_json(lang)["line"] == d.span.line


@pytest.mark.parametrize("path", _params("source_line", BROKEN))
def test_rendering_shows_the_line_pointed_at(path, monkeypatch):
    result, sources, rel = _check(path, monkeypatch)
    for d in result.diagnostics:
        rendered = render_all([d], sources, "en").split("\n")
        assert rendered[0].startswith(f"{rel}:{d.span.line}:{d.span.col}: {d.severity}[{d.code}]: ")
        source_line = _visible(sources[rel].split("\n")[d.span.line - 1])
        assert rendered[1] == f"{d.span.line:>4} | {source_line}", (
            f"{d.code} shows the wrong source line"
        )


@pytest.mark.parametrize("path", _params("snapshot", BROKEN))
def test_rendered_diagnostics_snapshot(path, monkeypatch, snapshot_text):
    result, sources, _ = _check(path, monkeypatch)
    text = "\n".join(
        [
            f"# {_first_line(path)[2:]}",
            f"# found: {' '.join(d.code for d in result.diagnostics) or 'nothing'}",
            "",
            "=== en ===",
            render_all(result.diagnostics, sources, "en"),
            "",
            "=== zh ===",
            render_all(result.diagnostics, sources, "zh"),
            "",
        ]
    )
    assert text == snapshot_text


# ---- full-width characters that are accepted -------------------------------------------


def test_fullwidth_characters_are_accepted(monkeypatch):
    monkeypatch.chdir(ROOT)
    results, _ = policylang.check_paths([FULLWIDTH.relative_to(ROOT).as_posix()])
    assert results[0].diagnostics == []


def test_fullwidth_numbers_mean_their_ascii_twins():
    policy = policylang.load(FULLWIDTH)
    [visit] = policy.settle(
        [
            {
                "psn_no": "A",
                "psn_type": "retiree",
                "flxempe_flag": False,
                "setl_time": "2023-03-01",
                "hosp_lv": "level1",
                "medfee_sumamt": "400.00",
            }
        ]
    )
    assert visit.hifp_pay == Decimal("200.00")  # (400 − １５０) × (７５％ + ５ 个百分点)
    [credit] = policy.credit(
        [
            {
                "psn_no": "B",
                "psn_type": "active",
                "flxempe_flag": False,
                "on": "2023-03-01",
                "contribution_years_met": True,
                "contribution_base": "5000.00",
            }
        ],
        {"guizhou_avg_pension_2022": "3000.00"},
    )
    assert credit.credit == Decimal("100.00")  # 5000 × ２％


# ---- the command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, words", [("en", "requires ratio >= 50%"), ("zh", "要求 ratio >= 50%")]
)
def test_cli_check_json_on_a_fixture(monkeypatch, lang, words):
    monkeypatch.chdir(ROOT)
    rel = "tests/fixtures/invalid/H501-ratio-below-provincial-floor.pol"
    r = CliRunner().invoke(main, ["check", "--format", "json", "--lang", lang, rel])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    diags = json.loads(r.stdout)
    assert isinstance(diags, list) and diags
    for d in diags:
        assert {"code", "severity", "file", "line", "col", "message", "hint"} <= set(d)
    [h501] = [d for d in diags if d["code"] == "H501"]
    assert (h501["severity"], h501["file"], h501["line"], h501["col"]) == ("error", rel, 20, 9)
    assert "45%" in h501["message"] and words in h501["message"]
    assert "不低于50%" in h501["hint"]


def test_cli_check_text_on_the_whole_corpus(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(main, ["check", "tests/fixtures/invalid"])
    assert r.exit_code == 1
    assert "Traceback" not in r.output and "internal error" not in r.output
    assert f"{len(ALL_FIXTURES)} file(s) checked" in r.stderr
    for path in BROKEN:
        if path.stem not in KNOWN_PROBLEMS["expected_codes"]:
            assert f"tests/fixtures/invalid/{path.name}:" in r.stderr, path.name


def test_parent_fixture_is_the_shipped_shanxi_policy():
    """The copy beside the city fixtures must not drift from policies/shanxi-2022.pol."""
    copy = (INVALID / "parent-shanxi-2022.pol").read_text(encoding="utf-8").split("\n", 1)[1]
    assert copy == (ROOT / "policies" / "shanxi-2022.pol").read_text(encoding="utf-8")
