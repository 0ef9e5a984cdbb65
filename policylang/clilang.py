"""The language the command line speaks: chosen by ``--lang`` (the group's or a command's),
else ``POLICYLANG_LANG``, else the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: zh_* is
Chinese).

Two uses differ:

- what a person reads (help, usage errors, tables, ``why``/``test`` text, diagnostics)
  follows all three;
- what a program reads (the ``message`` in JSON results) is English unless the language
  was chosen explicitly (``--lang`` or ``POLICYLANG_LANG``), so that a machine's locale
  never changes a JSON contract.

In Chinese, click's own words (``Usage:``, ``Options``, its usage errors, ``--version``, and
the names of parameter types it puts into them: ``文件 'x' 不存在``) are translated through
``messages.CLICK_ZH`` and every command's help through ``messages.HELP_ZH``.
Importing this module costs nothing beyond ``os``; the catalogue is imported only when
Chinese is spoken.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import click

ENV = "POLICYLANG_LANG"
LANGS = ("en", "zh")

_state: dict[str, str | None] = {"explicit": None}
_patched: dict[str, object] = {}


def env_lang() -> str | None:
    value = os.environ.get(ENV, "").strip().lower()
    return value[:2] if value[:2] in LANGS else None


def locale_lang() -> str:
    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


def explicit() -> str | None:
    """The language chosen on purpose (``--lang`` or POLICYLANG_LANG), or None."""
    return _state["explicit"] or env_lang()


def human() -> str:
    """The language of what a person reads."""
    return explicit() or locale_lang()


def choose(lang: str | None) -> None:
    """``--lang`` was given (None: forget it, at the end of a run)."""
    _state["explicit"] = lang
    _sync_click()


def reset() -> None:
    choose(None)


# ---- click's words --------------------------------------------------------------------------

_CLICK_MODULES = ("core", "exceptions", "formatting", "decorators", "types", "parser", "utils")


def _gettext(message: str) -> str:
    if human() != "zh":
        return message
    from .messages import CLICK_ZH

    return CLICK_ZH.get(message, message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _gettext(singular if n == 1 else plural)


# the command groups whose usage lines speak the language (``name_types`` registers them)
_GROUPS: list[click.Group] = []
# click's placeholders in a usage line, by language: ``[OPTIONS]``, ``COMMAND [ARGS]...``
_METAVARS = {
    "en": ("[OPTIONS]", "COMMAND [ARGS]..."),
    "zh": ("[选项]", "命令 [参数]..."),
}


def _sync_metavars() -> None:
    """The placeholders of every registered command's usage line in the language spoken
    (click writes them as given, so they are set each time the language is chosen)."""
    options, subcommand = _METAVARS["zh" if human() == "zh" else "en"]
    for group in _GROUPS:
        group.subcommand_metavar = subcommand
        for cmd in [group, *group.commands.values()]:
            cmd.options_metavar = options


def _sync_click() -> None:
    """Route click's gettext through ours while Chinese is spoken (and leave it alone
    otherwise: an English run never touches click)."""
    _sync_metavars()
    if human() != "zh" or _patched:
        return
    import importlib

    for name in _CLICK_MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = _gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = _ngettext  # type: ignore[attr-defined]
    formatting = importlib.import_module("click.formatting")
    _patched["wrap_text"] = formatting.wrap_text
    formatting.wrap_text = _wrap_text  # type: ignore[attr-defined]


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# Chinese text breaks between any two characters, except before closing punctuation.
_NO_BREAK_BEFORE = set(",。、;:?!)》」』”’,.;:?!)]")


def _tokens(text: str) -> list[str]:
    """Words of Latin text and single CJK characters (closing punctuation kept with the
    character before it); whitespace as its own token."""
    out: list[str] = []
    for ch in text:
        wide = _width(ch) == 2
        if ch.isspace():
            if out and out[-1].isspace():
                out[-1] += ch
            else:
                out.append(ch)
        elif out and ch in _NO_BREAK_BEFORE:
            out[-1] += ch
        elif wide or not out or out[-1].isspace() or _width(out[-1][-1]) == 2:
            out.append(ch)
        else:
            out[-1] += ch
    return out


def _fill(text: str, width: int, first: str, rest: str) -> str:
    lines: list[str] = []
    line, used = first, _width(first)
    for tok in _tokens(" ".join(text.split())):
        if tok.isspace():
            if used > _width(rest if lines else first):
                line, used = line + " ", used + 1
            continue
        if used + _width(tok) > width and used > _width(rest if lines else first):
            lines.append(line.rstrip())
            line, used = rest, _width(rest)
        line, used = line + tok, used + _width(tok)
    lines.append(line.rstrip())
    return "\n".join(lines)


def _wrap_text(text, width=78, initial_indent="", subsequent_indent="", preserve_paragraphs=False):
    """click's wrap_text, measuring display width and breaking Chinese between characters."""
    if human() != "zh":
        return _patched["wrap_text"](  # type: ignore[operator]
            text, width, initial_indent, subsequent_indent, preserve_paragraphs
        )
    text = text.expandtabs()
    if not preserve_paragraphs:
        return _fill(text, width, initial_indent, subsequent_indent)
    out = []
    for para in text.split("\n\n"):
        lines = para.splitlines()
        if not lines:
            continue
        indent = " " * (len(lines[0]) - len(lines[0].lstrip()))
        if lines[0].strip() == "\b":
            out.append("\n".join(initial_indent + indent + x.strip() for x in lines[1:]))
        else:
            out.append(
                _fill(" ".join(lines), width, initial_indent + indent, subsequent_indent + indent)
            )
    return "\n\n".join(out)


def click_text(message: str) -> str:
    """One of click's own texts (``CLICK_ZH``) in the language spoken."""
    return _gettext(message)


class _TypeName(str):
    """A parameter type's name (``file``, ``integer``) that click puts into its usage errors
    (``File 'x' does not exist.``, ``'x' is not a valid integer.``).  click names a type once,
    when the command line is built, before any language is chosen: this name is said in the
    language spoken each time it is shown."""

    def title(self) -> str:
        return _gettext(str.title(self)) if human() == "zh" else str.title(self)

    def __format__(self, spec: str) -> str:
        return format(_gettext(str(self)), spec)


def name_types(group: click.Group) -> None:
    """Make the names of the types of every parameter of ``group``'s commands speak the
    language (``_TypeName``), and its usage lines' placeholders too (``_sync_metavars``);
    English output is unchanged."""
    if group not in _GROUPS:
        _GROUPS.append(group)
    for cmd in [group, *group.commands.values()]:
        for param in cmd.params:
            kind = param.type
            if isinstance(getattr(kind, "name", None), str) and not isinstance(
                kind.name, _TypeName
            ):
                kind.name = _TypeName(kind.name)


def start() -> None:
    """At the start of a run: the environment may already ask for Chinese."""
    _state["explicit"] = None
    _sync_click()


# ---- help ------------------------------------------------------------------------------------


def _help_key(command: str, option: str | None) -> list[str]:
    if option is None:
        return [command]
    return [f"{command} {option}", f"* {option}"]


def _zh(command: str, option: str | None) -> str | None:
    from .messages import HELP_ZH

    for key in _help_key(command, option):
        if key in HELP_ZH:
            return HELP_ZH[key]
    return None


@contextlib.contextmanager
def help_in(lang: str, group: click.Group, ctx: click.Context) -> Iterator[None]:
    """Within the block, the help of ``group``, its commands and their options is the
    language's (the English is click's own, so only Chinese swaps anything)."""
    if lang != "zh":
        yield
        return
    saved: list[tuple[object, str, object]] = []

    def swap(obj: object, attr: str, text: str | None) -> None:
        if text is not None:
            saved.append((obj, attr, getattr(obj, attr)))
            setattr(obj, attr, text)

    commands = [("", group), *group.commands.items()]
    for name, cmd in commands:
        zh = _zh(name, None)
        swap(cmd, "help", zh)
        if zh is not None:
            swap(cmd, "short_help", short(zh))
        for param in cmd.get_params(ctx):
            long = next((o for o in getattr(param, "opts", []) if o.startswith("--")), None)
            if long is not None and getattr(param, "help", None) is not None:
                swap(param, "help", _zh(name, long))
    try:
        yield
    finally:
        for obj, attr, old in reversed(saved):
            setattr(obj, attr, old)


def short(help_text: str) -> str:
    """A command's line in the list of commands: its first sentence, up to its colon."""
    first = help_text.split("。", 1)[0]
    for mark in (":", ";"):
        first = first.split(mark, 1)[0]
    return first


def missing_help(group: click.Group) -> list[str]:
    """Commands and options with no Chinese help (tests/test_messages.py keeps it empty)."""
    out = []
    for name, cmd in [("", group), *group.commands.items()]:
        if cmd.help and _zh(name, None) is None:
            out.append(name or "(group)")
        for param in cmd.params:
            long = next((o for o in getattr(param, "opts", []) if o.startswith("--")), None)
            if long and getattr(param, "help", None) and _zh(name, long) is None:
                out.append(f"{name} {long}")
    return out
