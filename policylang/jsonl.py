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
from typing import Any, Iterable, Iterator, Protocol

from .errors import PolicylangError

CHUNK = 10_000


class JsonlError(PolicylangError):
    pass


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


def read_chunks(path: str, size: int | None = None) -> Iterator[list]:
    """Records of a JSON Lines file, ``size`` at a time; blank lines are skipped.  Each
    line goes through the strict reader (``jsonread``): its problems name the record."""
    from .jsonread import JSONSyntaxError, read_json_line

    size = size or CHUNK
    chunk: list = []
    record = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            record += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise JsonlError(
                    f"{path}:{lineno}:{e.start + 1}: not UTF-8 text; save the file as UTF-8"
                ) from None
            try:
                chunk.append(read_json_line(text, path, record, lineno))
            except JSONSyntaxError as e:
                raise JsonlError(str(e)) from None
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


class TextSink(Protocol):
    """Where lines are written: a text file, or the command line's held output."""

    def write(self, text: str, /) -> object: ...


class JsonResult(Protocol):
    def to_json(self, trace: bool = ..., lang: str = ...) -> dict[str, Any]: ...


def write_lines(
    results: Iterable[JsonResult], out: TextSink, trace: bool, lang: str = "en"
) -> None:
    for r in results:
        out.write(
            json.dumps(r.to_json(trace=trace, lang=lang), ensure_ascii=False, separators=(",", ":"))
        )
        out.write("\n")
