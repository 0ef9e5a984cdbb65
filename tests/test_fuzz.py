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


# ---- every command, hostile policies and hostile JSON --------------------------------------
#
# A command either does its work (exit 0), or reports a verdict (`test`, `diff` 1, `fmt --check`
# and `--diff` 1, `check --format json` 1: the report is the output), or reports an error: on
# standard error only, with nothing on standard output, never "internal error", and every
# diagnostic it prints points into the file it names.  POLICYLANG_FUZZ_EXAMPLES raises the
# budget (scripts/fuzz.py --cli).

import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402

from .mutate import mutate  # noqa: E402
from .test_generated_policies import policies as generated_policies  # noqa: E402

EXAMPLES_DIR = POLICIES.parent / "examples"
JSON_SOURCES = [
    (EXAMPLES_DIR / name).read_text(encoding="utf-8")
    for name in (
        "guiyang-visits.json",
        "guiyang-persons.json",
        "guiyang-requests.json",
        "shanxi-requests.json",
        "live/visit-1.json",
        "live/reverse-2.json",
    )
]
JSON_FOR = {"settle": 0, "credit": 1, "may-pay": 2, "why": 0, "resettle": 4}
# (arguments, exit codes that are a verdict printed on standard output)
COMMANDS = [
    (["check", "POL"], ()),
    (["check", "--strict", "--lang", "zh", "POL"], ()),
    (["check", "--format", "json", "POL"], (1,)),
    (["settle", "POL", "JSON", "PARAM"], ()),
    (["settle", "POL", "JSON", "--format", "table", "--lang", "zh", "PARAM"], ()),
    (["settle", "POL", "JSON", "--format", "jsonl", "--no-trace"], ()),
    (["settle", "POL", "JSON", "--ledger", "LEDGER", "--ledger-out", "OUT"], ()),
    (["credit", "POL", "JSON", "PARAM"], ()),
    (["credit", "POL", "JSON", "--format", "table", "PARAM"], ()),
    (["may-pay", "POL", "JSON"], ()),
    (["may-pay", "POL", "JSON", "--format", "jsonl"], ()),
    (["resettle", "POL", "--ledger", "JSON"], ()),
    (["resettle", "POL", "JSON", "--ledger", "LEDGER", "--from", "2023-01-01"], ()),
    (["ledger", "POL", "JSON"], ()),
    (["ledger", "POL", "LEDGER", "--format", "json", "--psn", "GY-001"], ()),
    (["compile", "POL"], ()),
    (["compile", "--emit", "sql", "POL"], ()),
    (["why", "POL", "JSON", "PARAM"], ()),
    (["why", "POL", "JSON", "--record", "2", "--format", "json"], ()),
    (["test", "POL"], (1, 2)),
    (["fmt", "POL"], ()),
    (["fmt", "--lang", "zh", "POL"], ()),
    (["fmt", "--check", "POL"], (1,)),
    (["fmt", "--diff", "POL"], (1,)),
    (["render", "POL"], ()),
    (["render", "--format", "html", "POL"], ()),
    (["diff", "BASE", "POL"], (1,)),
    (["diff", "POL", "BASE", "PARAM"], (1,)),
    (["explain", "TEXT"], ()),
]
DIAGNOSTIC = re.compile(r"^(\S+?\.pol):(\d+):(\d+): (?:error|warning|错误|警告)\[", re.M)


@st.composite
def hostile_policy(draw) -> bytes:
    kind = draw(st.integers(0, 11))
    text = SOURCES[draw(st.integers(0, len(SOURCES) - 1))]
    if kind <= 2:  # a written policy as it is: the commands get past checking
        return (SOURCES[0] if kind < 2 else text).encode("utf-8")
    if kind <= 6:  # a mutant of a written policy
        rnd = random.Random(draw(st.integers(0, 2**32)))
        for _ in range(draw(st.integers(1, 3))):
            text = mutate(text, rnd)
        return text.encode("utf-8", "surrogatepass")
    if kind <= 9:  # generated from the grammar
        return draw(generated_policies()).encode("utf-8")
    if kind == 10:  # a written policy in another encoding
        return text.encode("gb18030")
    return draw(st.binary(max_size=200))


@st.composite
def hostile_json(draw, command: str = "") -> bytes:
    from .test_hardening import _json_values

    kind = draw(st.integers(0, 8))
    matching = JSON_FOR.get(command)
    if matching is not None and draw(st.booleans()):
        text = JSON_SOURCES[matching]
    else:
        text = JSON_SOURCES[draw(st.integers(0, len(JSON_SOURCES) - 1))]
    if kind <= 2:  # an example input as it is
        return text.encode("utf-8")
    if kind <= 5:  # an example input with hostile values, or fields left out
        records = json.loads(text)
        records = records if isinstance(records, list) else [records]
        for _ in range(draw(st.integers(1, 3))):
            record = records[draw(st.integers(0, len(records) - 1))]
            if not isinstance(record, dict) or not record:
                continue
            key = draw(st.sampled_from(sorted(record)))
            if draw(st.booleans()):
                record[key] = draw(_json_values())
            else:
                del record[key]
        return json.dumps(records, ensure_ascii=draw(st.booleans()), default=str).encode(
            "utf-8", "surrogatepass"
        )
    if kind == 6:  # an example input, its text broken
        rnd = random.Random(draw(st.integers(0, 2**32)))
        i = rnd.randrange(len(text))
        cut = text[i + rnd.randint(0, 8) :]
        return (text[:i] + rnd.choice(['"', "]", "{", ",", "9" * 30, "\\ud800", ""]) + cut).encode()
    if kind == 7:
        value = draw(st.lists(_json_values(), max_size=3) | _json_values())
        return json.dumps(value, ensure_ascii=draw(st.booleans()), default=str).encode(
            "utf-8", "surrogatepass"
        )
    return draw(st.binary(max_size=100))


def _check_run(result, args, verdicts, files: dict[str, bytes]) -> None:
    shown = f"{args}\n--- stdout\n{result.stdout[:2000]}\n--- stderr\n{result.stderr[:2000]}"
    assert result.exit_code in (0, 1, 2), shown
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        shown,
        result.exception,
    )
    assert "internal error" not in result.stderr and "Traceback" not in result.output, shown
    if result.exit_code != 0 and result.exit_code not in verdicts:
        assert result.stdout == "", shown
    for m in DIAGNOSTIC.finditer(result.output):
        text = files.get(Path(m.group(1)).name)
        if text is None:
            continue
        lines = text.decode("utf-8", "replace").split("\n")
        line, col = int(m.group(2)), int(m.group(3))
        assert 1 <= line <= len(lines) and 1 <= col <= len(lines[line - 1]) + 1, (m.group(), shown)
    if args[:3] == ["check", "--format", "json"] and result.stdout:
        for d in json.loads(result.stdout):
            assert d["line"] >= 1 and d["col"] >= 1, d


def _cli_budget() -> dict:
    n = os.environ.get("POLICYLANG_FUZZ_EXAMPLES")
    if n:
        return {"max_examples": int(n), "derandomize": False}
    return {"max_examples": 90}


@pytest.fixture(scope="module")
def cli_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-fuzz")
    shutil.copy(POLICIES / "guiyang-2022.pol", d / "base.pol")
    shutil.copy(FIXTURES / "variations" / "province.pol", d / "province.pol")
    r = CliRunner().invoke(
        main,
        [
            "settle",
            str(d / "base.pol"),
            str(EXAMPLES_DIR / "guiyang-visits.json"),
            "--ledger-out",
            str(d / "ledger.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    return d


def test_every_command_survives_hostile_input(cli_folder):
    d = cli_folder
    base = (d / "base.pol").read_bytes()

    @settings(
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **_cli_budget(),
    )
    @given(
        st.sampled_from(COMMANDS),
        hostile_policy(),
        st.data(),
        st.sampled_from(["x=1", "=", "a=\ud800", "a", "guizhou_avg_pension_2022=-1e9"]),
        st.sampled_from(["H501", "P015", "R305", "N111"]) | st.text(max_size=8),
    )
    def run(command, policy, data, odd_param, text):
        args, verdicts = command
        json_bytes = data.draw(hostile_json(args[0]))
        files = {"fuzzed.pol": policy, "in.json": json_bytes, "base.pol": base}
        (d / "fuzzed.pol").write_bytes(policy)
        (d / "in.json").write_bytes(json_bytes)
        param = ["--param", "guizhou_avg_pension_2022=3125.50"]
        if data.draw(st.integers(0, 3)) == 0:
            param = ["--param", odd_param]
        names = {
            "POL": str(d / "fuzzed.pol"),
            "BASE": str(d / "base.pol"),
            "JSON": str(d / "in.json"),
            "LEDGER": str(d / "ledger.json"),
            "OUT": str(d / "out.json"),
            "TEXT": text,
        }
        argv = []
        for a in args:
            argv += param if a == "PARAM" else [names.get(a, a)]
        result = CliRunner().invoke(main, argv)
        _check_run(result, argv, verdicts, files)

    run()
