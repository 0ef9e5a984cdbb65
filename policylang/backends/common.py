"""What every backend shares about executing a program: the order records are
executed in, which block is in force, and the period bucket of a counter.
These are part of the program's meaning (see ``ir.program.Program``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Callable, Sequence, TypeVar, Union

from .. import ir
from .. import vocab as V
from ..ir.evaluate import MissingValue


class BadValue(Exception):
    """A parameter made a computed value impossible (a ratio above 100%, a negative credit)."""


class NotSupported(Exception):
    """A backend cannot execute this program: the message names the step (or the input) and
    why.  Raised when the backend is built for a policy, never half-way through a batch, so
    a caller can fall back to another backend."""


class BackendUnavailable(ImportError):
    """A backend's optional engine is not installed; the message says what to install."""


def visit_date(t: dt.date) -> dt.date:
    return t.date() if isinstance(t, dt.datetime) else t


def time_key(t: dt.date) -> tuple:
    """A visit with a date only comes before every visit with a time on that day."""
    if isinstance(t, dt.datetime):
        return (t.date(), 1, t.time())
    return (t, 0, dt.time.min)


def time_order_key(text: str) -> tuple:
    """The order of an echoed ``setl_time`` ("2023-03-01" or "2023-03-01 10:30:00", or as given)."""
    day = dt.date.fromisoformat(text[:10])
    if len(text) <= 10:
        return (day, 0, dt.time.min)
    return (day, 1, dt.time.fromisoformat(text[11:]))


def settle_order(visits: list[dict]) -> list[int]:
    """Indexes of ``visits`` in execution order: by ``setl_time``, then input row."""
    return sorted(range(len(visits)), key=lambda i: (time_key(visits[i]["setl_time"]), i))


def _point(value: dt.date | str, params: dict) -> dt.date:
    if isinstance(value, dt.date):
        return value
    got = params.get(value)
    if got is None:
        raise MissingValue(value, True)
    return got


def block_at(program: ir.Program, when: dt.date, params: dict) -> ir.Block | None:
    """The block in force on ``when``: among those whose dates contain it, the one with
    the latest start (ties: the later in the program)."""
    when = visit_date(when)
    found, found_start = None, None
    for block in program.blocks:
        start = _point(block.start, params)
        until = None if block.until is None else _point(block.until, params)
        if (
            start <= when
            and (until is None or when <= until)
            and (found_start is None or start >= found_start)
        ):
            found, found_start = block, start
    return found


# a counter's period: a year, (year, month), a day, or ("visit", index) for one visit
Bucket = Union[int, tuple[int, int], dt.date, tuple[str, int]]


def bucket(period: str, when: dt.date, visit_index: int) -> Bucket:
    if period == "year":
        return when.year
    if period == "month":
        return (when.year, when.month)
    if period == "day":
        return when
    return ("visit", visit_index)


N = TypeVar("N", Decimal, int)


def split_bands(
    limits: Sequence[N | None],
    prior: N,
    amount: N,
    add: Callable[[N, N], N],
    sub: Callable[[N, N], N],
    zero: N,
) -> list[tuple[int, N]]:
    """The parts of ``amount`` (accumulated on top of ``prior``) that fall in each band
    (``limits``: each band's cumulative upper limit, None for the last), as ``(band, part)``.
    ``add``/``sub`` do the arithmetic (exact ``Decimal`` in a private context, or ``int``)."""
    parts = []
    low = zero
    end = add(prior, amount)
    for i, limit in enumerate(limits):
        high = end if limit is None else min(limit, end)
        part = sub(high, max(low, prior))
        if part > zero:
            parts.append((i, part))
        if limit is None or limit >= end:
            break
        low = limit
    return parts


FUND_FIELDS = V.FURTHER_FUND_FIELDS  # the further funds a settle program may pay


def settle_funds(program: ir.Program) -> tuple[str, ...]:
    """The result fields of the further funds the settle program pays (e.g. ``hifob_pay``),
    in the platform's order: the variables it declares for them (none for a policy with the
    pooling fund alone, whose results stay as they were)."""
    declared = {name for name, _, _ in program.variables}
    return tuple(f for f in FUND_FIELDS if f in declared)
