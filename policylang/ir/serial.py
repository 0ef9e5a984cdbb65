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
from decimal import Decimal
from typing import Any

import attrs

from ..nodes import Span
from . import core as c

SCHEMA = "policylang-ir/1"


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
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, Decimal):
            return format(v, "f")
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, (frozenset, set, tuple, list, dict)):
            return self.collection(v)
        if isinstance(v, Span):
            return self.span(v) if self.spans else None
        if attrs.has(type(v)):
            return self.record(v)
        if callable(v):  # pragma: no cover - nothing callable belongs in the IR
            raise TypeError(f"not serialisable: {v!r}")
        return str(v)

    def collection(self, v: frozenset | set | tuple | list | dict) -> list | dict:
        """A set as a list in a fixed order (by its items' JSON), a tuple or list as a list,
        a dict with text keys."""
        if isinstance(v, (frozenset, set)):
            items = [self.value(x) for x in v]
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, ensure_ascii=False))
        if isinstance(v, dict):
            return {str(k): self.value(x) for k, x in v.items()}
        return [self.value(x) for x in v]

    def record(self, v: Any) -> dict[str, Any]:
        """An attrs value: its class's name under ``node``, then its fields (a span only when
        spans are asked for)."""
        out: dict[str, Any] = {"node": type(v).__name__}
        for f in attrs.fields(type(v)):
            if f.name == "span" and not self.spans:
                continue
            out[f.name] = self.value(getattr(v, f.name))
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


def content_hash(policy: c.Policy) -> str:
    data = _Writer(False, None).policy(policy)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
