"""The one reader of JSON input files (visits, persons, requests).

Strict where the standard library is lenient, so that every value that reaches
validation is one the contract describes:

- UTF-8 only (a leading byte-order mark is fine); a bad byte is reported at its line:col;
- no lone UTF-16 surrogate (``"\\ud800"``): it is no character, and could not be printed;
- numbers are read exactly (``Decimal``, never ``float``) and have at most ``MAX_DIGITS``
  digits written out in full, so ``1e400`` or a 5000-digit integer is refused before any
  arithmetic or conversion is attempted;
- no ``NaN`` / ``Infinity`` (not JSON);
- no key twice in one object.

Problems of the last four kinds are collected over the whole file and reported as
``InputProblem``s naming the record (1-based, within the top-level array) and the field,
like any other input problem.  The hooks only leave marks; the walk that turns marks into
problems runs only when a mark was left, so clean input costs nothing extra.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from .inputs import InputError, InputProblem, Reason, escape, psn_shown, short

MAX_DIGITS = 20  # written out in full: beyond every money and number field's bounds


class JSONSyntaxError(Exception):
    """Not JSON at all (or not UTF-8): the message already names file:line:col."""


class _Mark:
    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _DupDict(dict):
    """An object in which a key appeared twice (the first value is kept)."""

    __slots__ = ("dups",)
    dups: list[str]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _digits_in_full(d: Decimal) -> int:
    sign, digits, exponent = d.as_tuple()
    if not isinstance(exponent, int):
        return 0
    before = max(len(digits) + exponent, 1)
    return before + max(-exponent, 0)


def read_json(raw: bytes, source: str) -> Any:
    """Parse ``raw`` (bytes of a file) strictly; raises ``JSONSyntaxError`` or ``InputError``."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = _position(raw, e.start)
        raise JSONSyntaxError(
            f"{source}:{line}:{col}: not UTF-8 text (byte 0x{raw[e.start]:02X}); "
            "save the file as UTF-8"
        ) from None
    data, marked = _loads(text, source, 0)
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if marked or surrogates:
        problems = _problems(data, source, surrogates)
        if problems:
            raise InputError(problems)
    return data


def read_json_line(text: str, source: str, record: int, line: int) -> Any:
    """One record of a JSON Lines file (``text`` is line ``line``, already decoded): the same
    rules, its problems named as record ``record``."""
    data, marked = _loads(text, source, line - 1)
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if marked or surrogates:
        problems: list[InputProblem] = []
        _record_problems(data, record, source, surrogates, problems)
        if problems:
            raise InputError(problems)
    return data


class _Hooks:
    """``json.loads`` hooks that leave marks instead of failing; ``marked``: any was left."""

    def __init__(self) -> None:
        self.marked = False

    def mark(self, message: str) -> _Mark:
        self.marked = True
        return _Mark(message)

    def parse_int(self, s: str) -> int | _Mark:
        if len(s) - (s[0] == "-") > MAX_DIGITS:
            return self.mark(
                Reason("input.long_number", value=short(s, raw=True), digits=MAX_DIGITS)
            )
        return int(s)

    def parse_float(self, s: str) -> Decimal | _Mark:
        if len(s) > 4 * MAX_DIGITS:
            return self.mark(
                Reason("input.long_number", value=short(s, raw=True), digits=MAX_DIGITS)
            )
        d = Decimal(s)
        if _digits_in_full(d) > MAX_DIGITS:
            return self.mark(
                Reason("input.long_number_in_full", value=short(s, raw=True), digits=MAX_DIGITS)
            )
        return d

    def parse_constant(self, s: str) -> _Mark:
        return self.mark(Reason("input.json_constant", value=s))

    def pairs_hook(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) == len(pairs):
            return out
        self.marked = True
        seen: set[str] = set()
        dups = []
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        first = _DupDict()
        for k, v in pairs:
            first.setdefault(k, v)
        first.dups = list(dict.fromkeys(dups))
        return first


def _loads(text: str, source: str, line_offset: int) -> tuple[Any, bool]:
    """``json.loads`` with hooks that leave marks instead of failing; (value, any mark left)."""
    hooks = _Hooks()
    try:
        data = json.loads(
            text,
            parse_int=hooks.parse_int,
            parse_float=hooks.parse_float,
            parse_constant=hooks.parse_constant,
            object_pairs_hook=hooks.pairs_hook,
        )
    except json.JSONDecodeError as e:
        raise JSONSyntaxError(
            f"{source}:{e.lineno + line_offset}:{e.colno}: invalid JSON: {e.msg}"
        ) from None
    except RecursionError:
        raise JSONSyntaxError(f"{source}: the JSON is nested too deeply") from None
    return data, hooks.marked


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte ``offset``."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    line = raw.count(b"\n", 0, offset) + 1
    col = (
        len(
            raw[line_start:offset].decode(
                "utf-8-sig" if line_start == 0 else "utf-8", errors="replace"
            )
        )
        + 1
    )
    return line, col


def _problems(data: Any, source: str, surrogates: bool) -> list[InputProblem]:
    problems: list[InputProblem] = []
    if not isinstance(data, list):
        _scan(data, None, "(top level)", None, source, surrogates, problems)
        return problems
    for i, rec in enumerate(data, start=1):
        _record_problems(rec, i, source, surrogates, problems)
    return problems


def _record_problems(
    rec: Any, i: int, source: str, surrogates: bool, problems: list[InputProblem]
) -> None:
    if not isinstance(rec, dict):
        _scan(rec, i, "(record)", None, source, surrogates, problems)
        return
    psn = rec.get("psn_no")
    psn = (
        psn
        if isinstance(psn, (str, int))
        and not isinstance(psn, bool)
        and not (isinstance(psn, str) and surrogates and _LONE_SURROGATE.search(psn))
        else None
    )
    psn = psn_shown(psn)
    if isinstance(rec, _DupDict):
        for k in rec.dups:
            problems.append(
                InputProblem(i, k, Reason("input.duplicate_key", key=short(k)), psn, source)
            )
    for k, v in rec.items():
        if surrogates and _LONE_SURROGATE.search(k):
            problems.append(InputProblem(i, k, _surrogate(k, "input.surrogate_name"), psn, source))
            continue
        _scan(v, i, k, psn, source, surrogates, problems)


def _scan(
    value: Any,
    record: int | None,
    field: str,
    psn: str | None,
    source: str,
    surrogates: bool,
    problems: list[InputProblem],
) -> None:
    """Every mark, lone surrogate and repeated key within ``value`` (iteratively: no depth
    limit)."""
    stack = [value]
    while stack:
        v = stack.pop()
        for message in _messages(v, surrogates):
            problems.append(InputProblem(record, field, message, psn, source))
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(reversed(v))


def _messages(v: Any, surrogates: bool) -> list[str]:
    """What is wrong with ``v`` itself (not with what it holds)."""
    if isinstance(v, _Mark):
        return [v.message]
    if isinstance(v, str):
        return [_surrogate(v)] if surrogates and _LONE_SURROGATE.search(v) else []
    if not isinstance(v, dict):
        return []
    dups = v.dups if isinstance(v, _DupDict) else []
    out: list[str] = [Reason("input.duplicate_key", key=short(k)) for k in dups]
    if surrogates:
        out += [_surrogate(k, "input.surrogate_key") for k in v if _LONE_SURROGATE.search(k)]
    return out


def _surrogate(text: str, msg_id: str = "input.surrogate") -> str:
    m = _LONE_SURROGATE.search(text)
    assert m is not None
    return Reason(msg_id, char=escape(m.group()))
