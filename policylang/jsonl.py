"""JSON Lines in and out: one record per line, read in chunks, results written as
soon as they are final.

A file whose first non-blank character is ``{`` is JSON Lines; ``[`` starts a JSON
array.  Standard input is copied to a temporary file first, since settling reads
its input twice (see ``CompiledPolicy.settle_stream``)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from decimal import Decimal
from typing import IO, Iterator

from .errors import PolicylangError

CHUNK = 10_000


class JsonlError(PolicylangError):
    pass


def _no_duplicate_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise JsonlError(f"the key {k!r} appears twice in one object")
        out[k] = v
    return out


def is_jsonl(path: str) -> bool:
    """``.jsonl``/``.ndjson`` files are JSON Lines and ``.json`` files are JSON; any other
    file (standard input included) is JSON Lines when its first line is a whole object."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".jsonl", ".ndjson"):
        return True
    if suffix == ".json":
        return False
    with open(path, "rb") as f:
        first = f.readline(1 << 20).removeprefix(b"\xef\xbb\xbf").strip()
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def spool_stdin() -> str:
    """Copy standard input to a temporary file (removed by the caller)."""
    fd, name = tempfile.mkstemp(prefix="policylang-", suffix=".stdin")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out)
    return name


def read_chunks(path: str, size: int = CHUNK) -> Iterator[list]:
    """Records of a JSON Lines file, ``size`` at a time; blank lines are skipped."""
    chunk: list = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
                chunk.append(json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicate_keys))
            except UnicodeDecodeError:
                raise JsonlError(f"{path}:{lineno}: not UTF-8 text") from None
            except json.JSONDecodeError as e:
                raise JsonlError(f"{path}:{lineno}:{e.colno}: invalid JSON: {e.msg}") from None
            except RecursionError:
                raise JsonlError(f"{path}:{lineno}: the JSON is nested too deeply") from None
            except JsonlError as e:
                raise JsonlError(f"{path}:{lineno}: invalid input: {e}") from None
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def write_lines(results, out: IO[str], trace: bool, lang: str = "en") -> None:
    for r in results:
        out.write(json.dumps(r.to_json(trace=trace, lang=lang), ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
