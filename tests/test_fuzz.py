"""Robustness: no input makes the checker crash or hang.

300 mutants of the shipped policies go through `policylang check` (the CLI, as a user
runs it): each exits 0 or 1, never with a traceback, and every rejection names a
line.  Random text (hypothesis) goes through the parser and checker directly.
scripts/fuzz.py runs the same with a larger count."""

from __future__ import annotations

import re
import shutil

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import policylang
from policylang.cli import main

from .conftest import FIXTURES, POLICIES
from .mutate import mutants

SOURCES = [
    p.read_text(encoding="utf-8")
    for p in [*sorted(POLICIES.glob("*.pol")), FIXTURES / "variations" / "city.pol"]
]
LOCATION = re.compile(r"^\S+\.pol:\d+:\d+: (error|warning|错误|警告)\[[A-Z]\d{3}\]", re.M)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("mutants")
    shutil.copy(POLICIES / "shanxi-2022.pol", d / "shanxi-2022.pol")
    shutil.copy(FIXTURES / "variations" / "province.pol", d / "province.pol")
    return d


@pytest.mark.parametrize("batch", range(6))
def test_mutants_never_crash_the_checker(folder, batch):
    runner = CliRunner()
    for k, text in enumerate(mutants(SOURCES, 50, seed=batch)):
        path = folder / f"mutant-{batch}-{k}.pol"
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(main, ["check", str(path)])
        path.unlink()
        assert result.exit_code in (0, 1), (
            f"exit {result.exit_code} for mutant:\n{text}\n{result.output}"
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            text,
            result.exception,
        )
        assert "Traceback" not in result.output and "internal error" not in result.output, (
            text,
            result.output,
        )
        if result.exit_code == 1:
            assert LOCATION.search(result.output), f"a rejection without a line:\n{result.output}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            list('policy{}()[]:,%=<>|*#"“” \n\t0123456789.-+abcxyz_元年二一')
            + [
                "policy p {",
                "pooling",
                "from 2023-01-01",
                "ratio",
                "cite 一",
                "deductible",
                "by hosp_lv",
                "yuan",
                "points",
                "when",
                "\u200b",
                "}",
                "{",
            ]
        ),
        max_size=60,
    ).map("".join)
)
def test_random_text_gives_diagnostics_not_exceptions(text):
    ws = policylang.api.Workspace()
    unit = ws.add_text(text, "random.pol")
    result = policylang.api.check_unit(unit, ws)
    for d in result.diagnostics:
        assert d.span is not None and d.span.line >= 1
        assert d.message("en") and d.message("zh")
