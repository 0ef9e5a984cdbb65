"""The IR as JSON, and its content hash.

``to_json(policy)`` is what ``policylang compile POLICY --emit ir`` prints:
byte-stable across runs and ``PYTHONHASHSEED`` (sets are sorted, keys are sorted,
decimals are written exactly), every step with its clause and its source span
(the path relative to the policy's folder).  ``content_hash(policy)`` is the
SHA-256 of the same document without spans and without the file's path, so
formatting a policy, translating its keywords or moving it does not change it;
any change of meaning does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import weakref
from decimal import Decimal
from typing import Any

import attrs

from ..nodes import Span
from . import core as c

SCHEMA = "policylang-ir/1"


_KINDS: dict[type, str] = {}  # a type -> how ``_Writer.value`` writes its values
_FIELDS: dict[type, tuple[str, ...]] = {}  # an attrs class -> its field names
# (an attrs class, a field marked ``omit_default``) -> the default it is left out at
_OMIT: dict[tuple[type, str], Any] = {}
_KEEP = object()


def _kind(t: type) -> str:
    if t is type(None) or issubclass(t, (bool, int, str)):
        kind = "plain"
    elif issubclass(t, Decimal):
        kind = "decimal"
    elif issubclass(t, (dt.date, dt.datetime)):
        kind = "date"
    elif issubclass(t, (frozenset, set)):
        kind = "set"
    elif issubclass(t, (tuple, list)):
        kind = "seq"
    elif issubclass(t, dict):
        kind = "dict"
    elif issubclass(t, Span):
        kind = "span"
    elif attrs.has(t):
        kind = "attrs"
        _FIELDS[t] = tuple(f.name for f in attrs.fields(t))
        _OMIT.update(
            ((t, f.name), f.default) for f in attrs.fields(t) if f.metadata.get("omit_default")
        )
    else:
        kind = "other"
    _KINDS[t] = kind
    return kind


def _set(w: "_Writer", v: Any) -> list[Any]:
    items = [w.value(x) for x in v]
    return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, ensure_ascii=False))


def _other(w: "_Writer", v: Any) -> str:
    if callable(v):  # pragma: no cover - nothing callable belongs in the IR
        raise TypeError(f"not serialisable: {v!r}")
    return str(v)


_CONVERT = {
    "decimal": lambda w, v: format(v, "f"),
    "date": lambda w, v: v.isoformat(),
    "set": _set,
    "dict": lambda w, v: {str(k): w.value(x) for k, x in v.items()},
    "span": lambda w, v: w.span(v) if w.spans else None,
    "other": _other,
}


class _Writer:
    def __init__(self, spans: bool, base: str | None):
        self.spans, self.base = spans, base

    def span(self, s: Span | None) -> dict[str, Any] | None:
        if s is None:
            return None
        path = s.file
        if self.base is not None and not path.startswith("<"):
            path = os.path.relpath(os.path.abspath(path), self.base)
        return {
            "file": path.replace(os.sep, "/"),
            "line": s.line,
            "col": s.col,
            "end_line": s.end_line,
            "end_col": s.end_col,
        }

    def value(self, v: Any) -> Any:
        kind = _KINDS.get(type(v)) or _kind(type(v))
        if kind == "plain":
            return v
        if kind == "attrs":
            return self.node(v)
        if kind == "seq":
            return [self.value(x) for x in v]
        return _CONVERT[kind](self, v)

    def node(self, v: Any) -> dict:
        out: dict[str, Any] = {"node": type(v).__name__}
        for name in _FIELDS[type(v)]:
            if name == "span" and not self.spans:
                continue
            value = getattr(v, name)
            omit = _OMIT.get((type(v), name), _KEEP)
            if omit is not _KEEP and value == omit:
                continue  # a field added later: absent, the IR (and its hash) is as before
            out[name] = self.value(value)
        return out

    def policy(self, p: c.Policy) -> dict:
        out = self._policy(p)
        vocab = p.vocabulary
        if vocab is not None:
            from ..vocabulary import shipped

            if vocab != shipped():  # what the policy declares or imports is part of its meaning
                out["vocabulary"] = self.value(vocab)
        return out

    def _policy(self, p: c.Policy) -> dict:
        return {
            "schema": SCHEMA,
            "policy": p.id,
            "title": p.title,
            "level": p.level,
            "document": p.document,
            "document_date": self.value(p.document_date),
            "implements": p.parent.id if p.parent is not None else None,
            "params": self.value(p.params),
            "inputs": {k: {"type": t, "default": self.value(d)} for k, (t, d) in p.inputs.items()},
            "rounding": self.value(p.rounding),
            "settings": {
                k: {"value": v, "prov": self.value(prov)} for k, (v, prov) in p.settings.items()
            },
            "programs": {k: self.value(prog) for k, prog in sorted(p.programs.items())},
            "requirements": self.value(p.requirements),
            "diseases": self.value(p.diseases),
        }


def to_data(policy: c.Policy, spans: bool = True) -> dict:
    base = (
        os.path.dirname(os.path.abspath(policy.file))
        if policy.file and not policy.file.startswith("<")
        else None
    )
    data = _Writer(spans, base).policy(policy)
    data["hash"] = content_hash(policy)
    return data


def _dumps(data: object) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, indent=1, separators=(",", ": "))


def to_json(policy: c.Policy) -> str:
    return _dumps(to_data(policy)) + "\n"


_HASHES: dict[int, str] = {}  # id(policy) -> its content hash, while the policy lives


def content_hash(policy: c.Policy) -> str:
    """The hash of the IR's canonical JSON; computed once per policy object (the IR is
    immutable), since every backend built for a policy stamps its results with it."""
    known = _HASHES.get(id(policy))
    if known is not None:
        return known
    data = _Writer(False, None).policy(policy)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        weakref.finalize(policy, _HASHES.pop, id(policy), None)
    except TypeError:  # an object without weak references: not kept
        return digest
    _HASHES[id(policy)] = digest
    return digest
