"""The grammar reaches the installed package (a non-editable `pip install .`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import POLICIES, ROOT


def _installed_script() -> Path | None:
    script = Path(sys.executable).parent / "policylang"
    return script if script.exists() else None


def test_grammar_is_found_from_the_package():
    from policylang.parser import grammar_text

    assert "_kw_deductible" in grammar_text()


@pytest.mark.skipif(
    _installed_script() is None, reason="policylang is not installed in this environment"
)
def test_installed_command_runs_outside_the_checkout(tmp_path):
    """Run the installed console script from a folder with no source tree on sys.path."""
    shutil.copy(POLICIES / "guiyang-2022.pol", tmp_path)
    shutil.copy(ROOT / "examples" / "guiyang-visits.json", tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import policylang, pathlib; p = pathlib.Path(policylang.__file__).parent; "
            "print(p); print((p / 'grammar' / 'policy.lark').is_file())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    location, has_grammar = probe.stdout.split()
    if Path(location).resolve() == (ROOT / "policylang").resolve():
        pytest.skip(
            "policylang is installed in editable mode; the packaged grammar is not exercised"
        )
    assert has_grammar == "True"
    out = subprocess.run(
        [str(_installed_script()), "settle", "guiyang-2022.pol", "guiyang-visits.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 5
