"""Documentation that cannot drift: generated tables, runnable examples, the README's commands."""

from __future__ import annotations

import re

import pytest

from policylang.diagnostics import CATALOGUE, catalogue_markdown, explain

from .conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_diagnostics_doc_is_generated_from_the_catalogue():
    assert (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8") == catalogue_markdown(), (
        "run: python scripts/gen_docs.py"
    )


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_code_can_be_explained(code):
    text = explain(code)
    assert text.startswith(code) and CATALOGUE[code].title in text
    # shown on a real occurrence: no raw <placeholder> or {placeholder} of the templates
    assert "For example, in tests/fixtures/invalid/" in text
    assert not re.search(r"<\w+>|\{\w+(![rs])?\}", text), text


def test_explain_samples_are_generated_from_the_fixtures():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "policylang" / "explain_samples.py").read_text(
        encoding="utf-8"
    ) == gen.explain_samples_text(), "run: python scripts/gen_docs.py"


def _python_blocks():
    for doc in DOCS:
        for i, m in enumerate(
            re.finditer(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        ):
            yield pytest.param(m.group(1), id=f"{doc.name}-{i}")


@pytest.mark.parametrize("code", list(_python_blocks()))
def test_python_examples_in_docs_run(code, monkeypatch):
    if "import pyarrow" in code:  # the columnar example needs the columnar extra
        pytest.importorskip(
            "pyarrow", reason="pip install 'policylang[columnar]' to run the columnar example"
        )
    if 'backend("spark")' in code:  # the Spark example needs the spark extra (always in CI)
        pytest.importorskip(
            "pyspark", reason="pip install 'policylang[spark]' to run the Spark example"
        )
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


def _console_runs():
    """Each `$ policylang ...` of the README's console blocks, with the output shown under it
    (the live-settlement walk-through writes a ledger: it has its own test, in a copy)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for own in ("## Live settlement", "## Fund simulation"):  # each has its own test
        readme = readme.replace(readme.split(own, 1)[1].split("\n## ", 1)[0], "")
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        for run in re.split(r"^(?=\$ )", block, flags=re.M):
            if run.strip():
                command, _, output = run.partition("\n")
                if not command.startswith("$ policylang "):
                    # other walk-throughs (the service's curl session) have their own tests
                    continue
                yield pytest.param(command[2:], output, id=command[2:][:60])


@pytest.mark.parametrize("command, shown", list(_console_runs()))
def test_readme_shows_each_command_with_its_real_output(command, shown, monkeypatch):
    import shlex

    from click.testing import CliRunner

    from policylang.cli import main

    assert command.startswith("policylang ")
    monkeypatch.chdir(ROOT)
    for name in ("LC_ALL", "LC_MESSAGES", "POLICYLANG_LANG"):  # the README shows English
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    result = CliRunner().invoke(main, shlex.split(command)[1:], prog_name="policylang")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.rstrip("\n") == shown.rstrip("\n")


def test_readme_shows_the_commands_of_the_toolbox():
    commands = {p.values[0].split()[1] for p in _console_runs()}
    every = {"check", "settle", "credit", "may-pay", "why", "test", "fmt", "explain", "diff"}
    assert every | {"render"} <= (
        commands | {p.values[0].split()[3] for p in _console_runs() if "--lang zh" in p.values[0]}
    )
    shown_in_chinese = {
        p.values[0].split()[3]
        for p in _console_runs()
        if p.values[0].startswith("policylang --lang zh")
    }
    assert {"settle", "why", "test", "check", "explain", "render"} <= shown_in_chinese


def test_language_reference_lists_every_keyword():
    from policylang.parser import keyword_pairs

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    for en, zh in keyword_pairs().values():
        assert f"| `{en}` | `{zh}` |" in text, en


def _pol_blocks():
    for doc in DOCS:
        for i, m in enumerate(
            re.finditer(r"```pol\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        ):
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
    assert not [d for d in result.diagnostics if d.severity == "error"], [
        d.message() for d in result.diagnostics
    ]


@pytest.mark.parametrize(
    "code",
    [
        "P002",
        "P013",
        "N101",
        "N106",
        "T201",
        "T202",
        "R301",
        "R306",
        "S601",
        "C401",
        "C412",
        "C420",
        "C421",
        "C422",
        "C423",
    ],
)
def test_explain_examples_are_true(code):
    """The wrong example of `policylang explain CODE` produces CODE; the right one does not."""
    import policylang
    from policylang.diagnostics import EXAMPLES

    def codes(statements: str) -> set[str]:
        ratio = "" if "ratio" in statements else "      ratio 70% cite 一\n"
        text = (
            "policy t {\n  level city\n  tier primary = unrated, level1 cite 一\n"
            '  rounding half_up to 0.01 yuan unstated "t"\n  pooling {\n    from 2023-01-01 cite '
            "一 {\n"
            "      covers active, retiree, flexible cite 一\n"
            + ratio
            + "      "
            + statements
            + "\n    }\n  }\n}\n"
        )
        ws = policylang.api.Workspace()
        return {
            d.code for d in policylang.api.check_unit(ws.add_text(text, "t.pol"), ws).diagnostics
        }

    wrong, right = EXAMPLES[code]
    assert code in codes(wrong)
    assert code not in codes(right)


def test_readme_live_settlement_walkthrough_is_real(tmp_path, monkeypatch):
    """The README's live-settlement commands, run in order on copies of the files, print
    exactly what the README shows."""
    import shutil

    from click.testing import CliRunner

    from policylang.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Live settlement", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    for folder in ("policies", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    for name in ("LC_ALL", "LC_MESSAGES"):  # tables follow the locale: the README shows English
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    steps = re.findall(r"^\$ policylang (.*)\n((?:(?!\$ ).*\n)*)", block, re.M)
    assert len(steps) >= 6
    for command, shown in steps:
        result = CliRunner().invoke(main, command.split())
        assert result.exit_code == 0, (command, result.output)
        assert result.stdout == shown, command


def test_readme_fund_simulation_is_real(tmp_path, monkeypatch):
    """`policylang synth` and `policylang simulate --reform` as the README runs them from a fresh
    clone (in a copy: they write files), printing exactly what it shows."""
    import shutil

    pytest.importorskip("pyarrow", reason="pip install 'policylang[columnar]'")
    from click.testing import CliRunner

    from policylang.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Fund simulation", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    for folder in ("policies", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    steps = re.findall(r"^\$ policylang (.*)\n((?:(?!\$ ).*\n)*)", block, re.M)
    assert [s[0].split()[0] for s in steps] == ["synth", "simulate"]
    for command, shown in steps:
        result = CliRunner().invoke(main, command.split())
        assert result.exit_code == 0, (command, result.output)
        assert result.stdout == shown, command
    assert (tmp_path / "sim" / "report.html").exists()
