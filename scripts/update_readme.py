"""Rewrite the output shown under each `$ policylang ...` line of the README's console blocks
with what the command prints now (tests/test_docs.py checks they agree).

    python scripts/update_readme.py

Every command runs in a temporary folder linked to the repository's files, so what a command
writes (synth's claims, simulate's report) never lands in the checkout; the live-settlement
walk-through runs in order in a copy of policies/ and examples/ (it writes a ledger).
Review the diff before committing: a changed output is a changed tool.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policylang.cli import main  # noqa: E402


def run(command: str) -> str:
    result = CliRunner().invoke(main, shlex.split(command)[1:], prog_name="policylang")
    return result.output


def rewrite_block(block: str) -> str:
    out = []
    for chunk in re.split(r"^(?=\$ )", block, flags=re.M):
        if not chunk.strip():
            continue
        command, _, shown = chunk.partition("\n")
        if command.startswith("$ policylang "):
            printed = run(command[2:]).rstrip("\n")
            out.append(command + "\n" + (printed + "\n" if printed else ""))
        else:
            out.append(chunk)
    return "".join(out)


def main_() -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "POLICYLANG_LANG"):
        os.environ.pop(name, None)
    os.environ["LANG"] = "C.UTF-8"
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, live_and_rest = text.split("## Live settlement", 1)
    live, rest = live_and_rest.split("\n## ", 1)
    with tempfile.TemporaryDirectory() as tmp:
        # the repository's files, linked: what a command writes (synth's claims, simulate's
        # report) lands in the temporary folder, not in the checkout
        for entry in ROOT.iterdir():
            if entry.name not in (".git", ".venv"):
                (Path(tmp) / entry.name).symlink_to(entry)
        os.chdir(tmp)
        head = re.sub(
            r"```console\n(.*?)```",
            lambda m: f"```console\n{rewrite_block(m.group(1))}```",
            head,
            flags=re.S,
        )
        rest = re.sub(
            r"```console\n(.*?)```",
            lambda m: f"```console\n{rewrite_block(m.group(1))}```",
            rest,
            flags=re.S,
        )
        os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        for folder in ("policies", "examples"):
            shutil.copytree(ROOT / folder, Path(tmp) / folder)
        os.chdir(tmp)
        live = re.sub(
            r"```console\n(.*?)```",
            lambda m: f"```console\n{rewrite_block(m.group(1))}```",
            live,
            count=1,
            flags=re.S,
        )
        os.chdir(ROOT)
    readme.write_text(head + "## Live settlement" + live + "\n## " + rest, encoding="utf-8")


if __name__ == "__main__":
    main_()
