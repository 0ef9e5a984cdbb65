"""The built parser is cached in the user's cache folder; the cache is only ever a speed-up."""

from __future__ import annotations

from pathlib import Path

import lark
import pytest

from policylang import parser as P
from .conftest import POLICIES

GUIYANG = (POLICIES / "guiyang-2022.pol").read_text(encoding="utf-8")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(tmp_path / "cache"))
    P._lark.cache_clear()
    yield tmp_path / "cache"
    P._lark.cache_clear()


def _parses() -> bool:
    policy, diags = P.parse(GUIYANG, "guiyang-2022.pol")
    return policy is not None and not diags


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_first_use_writes_the_cache_and_later_uses_load_it(cache_dir, monkeypatch):
    assert _parses()
    (name,) = _files(cache_dir)  # one file, no temporary left behind
    assert name.startswith("parser-") and name.endswith(".pickle")

    def no_building(*args, **kwargs):
        raise AssertionError("the parser was built although it is cached")

    monkeypatch.setattr(lark.Lark, "__init__", no_building)  # Lark.load does not call __init__
    P._lark.cache_clear()
    assert _parses()


def test_a_corrupt_cache_is_ignored_and_rebuilt(cache_dir):
    P._lark()
    (path,) = cache_dir.iterdir()
    for garbage in (b"not a pickle at all\n", path.read_bytes()[:1000]):  # junk, a cut-off write
        path.write_bytes(garbage)
        P._lark.cache_clear()
        assert _parses()
        with open(path, "rb") as f:
            lark.Lark.load(f)  # rewritten whole


def test_the_file_name_changes_with_the_grammar_and_the_lark_version(cache_dir, monkeypatch):
    grammar = P.grammar_text()
    name = P._cache_file(grammar)
    assert P._cache_file(grammar + "\n// changed\n") != name
    monkeypatch.setattr(lark, "__version__", lark.__version__ + ".post1")
    assert P._cache_file(grammar) != name


def test_an_unwritable_cache_folder_means_building_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("POLICYLANG_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    P._lark.cache_clear()
    try:
        assert _parses()
    finally:
        P._lark.cache_clear()


def test_a_failed_write_leaves_no_file_behind(cache_dir, monkeypatch):
    def full_disk(self, f, exclude_options=()):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(lark.Lark, "save", full_disk)
    assert _parses()
    assert _files(cache_dir) == []


def test_the_cache_folder_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("POLICYLANG_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert P._cache_file("g").parent == tmp_path / "xdg" / "policylang"
    monkeypatch.setenv(
        "XDG_CACHE_HOME", "relative/path"
    )  # not absolute: ignored, as the XDG spec says
    assert P._cache_file("g").parent == tmp_path / "home" / ".cache" / "policylang"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert P._cache_file("g").parent == tmp_path / "home" / ".cache" / "policylang"


def test_comments_are_collected_by_a_parser_loaded_from_the_cache(cache_dir, monkeypatch):
    text = "# a\npolicy p { level city // b\n}\n"
    assert [c.text for c in P.parse_with_comments(text)[2]] == ["# a", "// b"]  # built
    monkeypatch.setattr(
        lark.Lark, "__init__", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built"))
    )
    P._lark.cache_clear()
    comments = P.parse_with_comments(text)[2]  # loaded
    assert [(c.text, c.span.line, c.span.col) for c in comments] == [("# a", 1, 1), ("// b", 2, 23)]
    assert P.parse_with_comments("policy p {")[2] == []  # a text that does not parse
