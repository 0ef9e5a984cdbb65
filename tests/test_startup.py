"""Starting up is cheap: `import policylang` and `policylang --help` do not import lark
(timings are printed by benchmarks/startup.py, not asserted here)."""

from __future__ import annotations

import subprocess
import sys

import policylang

from .conftest import FIXTURES


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def test_importing_the_package_and_the_cli_does_not_import_lark():
    r = _python(
        "-c",
        "import sys, policylang, policylang.cli; "
        "assert 'lark' not in sys.modules, 'lark imported'; "
        "assert 'policylang.parser' not in sys.modules, 'parser imported'",
    )
    assert r.returncode == 0, r.stderr


def test_help_does_not_import_lark():
    r = _python(
        "-c",
        "import sys; from policylang.cli import main; "
        "main(['--help'], standalone_mode=False); "
        "assert 'lark' not in sys.modules, 'lark imported'",
    )
    assert r.returncode == 0, r.stderr
    assert "Usage: " in r.stdout and "settle" in r.stdout


def test_help_from_the_command_line_exits_0_without_lark():
    r = _python("-X", "importtime", "-m", "policylang.cli", "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage: " in r.stdout
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in r.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "click" in imported  # the check below does look at the imports
    assert not [m for m in imported if m.split(".")[0] == "lark"]


def test_public_names_are_there_on_first_use():
    for name in policylang.__all__:
        assert getattr(policylang, name).__name__ == name
    assert set(policylang.__all__) <= set(dir(policylang))
    from policylang import CompiledPolicy, load  # noqa: F401


def test_python_dash_m_policylang_runs_the_command_line():
    r = _python("-m", "policylang", "--help")
    assert r.returncode == 0, r.stderr
    assert "settle" in r.stdout
    r = _python(
        "-m", "policylang", "check", str(FIXTURES / "invalid" / "P002-cap-without-period.pol")
    )
    assert r.returncode == 1 and "error[P002]" in r.stderr  # the exit code comes through
