"""Documentation that cannot drift: generated tables, runnable examples, the README's commands."""

from __future__ import annotations

import re

import pytest

from policylang.diagnostics import CATALOGUE, catalogue_markdown, explain

from .conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_diagnostics_doc_is_generated_from_the_catalogue():
    assert (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8") == catalogue_markdown(), \
        "run: python scripts/gen_docs.py"


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_code_can_be_explained(code):
    text = explain(code)
    assert text.startswith(code) and CATALOGUE[code].title in text


def _python_blocks():
    for doc in DOCS:
        for i, m in enumerate(re.finditer(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)):
            yield pytest.param(m.group(1), id=f"{doc.name}-{i}")


@pytest.mark.parametrize("code", list(_python_blocks()))
def test_python_examples_in_docs_run(code, monkeypatch):
    if "import pyarrow" in code:  # the columnar example needs the columnar extra
        pytest.importorskip("pyarrow", reason="pip install 'policylang[columnar]' to run the columnar example")
    monkeypatch.chdir(ROOT)
    exec(compile(code, "<doc>", "exec"), {})


def test_readme_shows_exactly_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", setup, re.S)
    assert len(commands) == 2
    assert "policylang settle" in commands[0] and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci


def test_readme_shows_the_checker_output_as_it_is():
    from click.testing import CliRunner

    from policylang.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ policylang (check [^\n]+)\n(.*?)```", readme, re.S)
    assert block, "README must show a checker run"
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(main, block.group(1).split())
    finally:
        os.chdir(cwd)
    assert result.exit_code == 1
    assert result.output.strip() == block.group(2).strip()


def test_language_reference_lists_every_keyword():
    from policylang.parser import keyword_pairs

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for en, zh in keyword_pairs().values():
        assert f"| `{en}` | `{zh}` |" in text, en


def _pol_blocks():
    for doc in DOCS:
        for i, m in enumerate(re.finditer(r"```pol\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)):
            if re.match(r"\s*(#[^\n]*\n\s*)*(policy|政策)\s", m.group(1)):
                yield pytest.param(m.group(1), id=f"{doc.name}-{i}")


@pytest.mark.parametrize("source", list(_pol_blocks()))
def test_whole_policies_in_docs_check_clean(source):
    import policylang

    ws = policylang.api.Workspace()
    parents = list((ROOT / "policies").glob("*.pol"))
    if "implements demo_province" in source:
        parents.append(ROOT / "tests" / "fixtures" / "variations" / "province.pol")
    for p in parents:
        ws.add_file(p)
    result = policylang.api.check_unit(ws.add_text(source, "doc.pol"), ws)
    assert not [d for d in result.diagnostics if d.severity == "error"], [d.message() for d in result.diagnostics]


@pytest.mark.parametrize("code", ["P002", "P013", "N101", "N106", "T201", "T202", "R301", "R306", "S601", "C401", "C412"])
def test_explain_examples_are_true(code):
    """The wrong example of `policylang explain CODE` produces CODE; the right one does not."""
    import policylang
    from policylang.diagnostics import EXAMPLES

    def codes(statements: str) -> set[str]:
        ratio = "" if "ratio" in statements else "      ratio 70% cite 一\n"
        text = ("policy t {\n  level city\n  tier primary = unrated, level1 cite 一\n"
                '  rounding half_up to 0.01 yuan unstated "t"\n  pooling {\n    from 2023-01-01 cite 一 {\n'
                "      covers active, retiree, flexible cite 一\n" + ratio + "      " + statements
                + "\n    }\n  }\n}\n")
        ws = policylang.api.Workspace()
        return {d.code for d in policylang.api.check_unit(ws.add_text(text, "t.pol"), ws).diagnostics}

    wrong, right = EXAMPLES[code]
    assert code in codes(wrong)
    assert code not in codes(right)
