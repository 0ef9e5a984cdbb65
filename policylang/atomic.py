"""Writing a file so that a reader, a second process or a crash never sees half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def replace_file(
    path: str | Path,
    write: Callable[[IO[Any]], object],
    binary: bool = False,
    sync: bool = False,
    keep_mode: bool = False,
) -> None:
    """``write(f)`` into a temporary file beside ``path``, then rename it over ``path``.
    ``sync``: flush it to the disk first (a ledger); ``keep_mode``: keep the permissions of
    the file it replaces (a policy rewritten by fmt)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        f: IO[Any]
        with (
            os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        ) as f:
            write(f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        if keep_mode and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
