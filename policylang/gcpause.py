"""The cyclic garbage collector paused while a policy is parsed, checked and compiled.

Those stages build hundreds of thousands of objects that all stay alive (tokens, tree
nodes, AST nodes, IR); each automatic collection walks them again, which made loading a
policy of 10^5 statements spend half its time in the collector.  They make no garbage
cycles worth collecting meanwhile, so the collector waits until they end.  Nested and
concurrent uses share one count: the collector runs again when the last one ends, and
only if it was running when the first began."""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable
from typing import TypeVar

_lock = threading.Lock()
_depth = 0
_was_enabled = False

F = TypeVar("F", bound=Callable)


def _enter() -> None:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1


def _leave() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()


def gc_paused(f: F) -> F:
    """Decorate ``f`` so that the collector is paused while it runs."""

    @functools.wraps(f)
    def paused(*args, **kwargs):
        _enter()
        try:
            return f(*args, **kwargs)
        finally:
            _leave()

    return paused  # type: ignore[return-value]
