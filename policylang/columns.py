"""Typed columns of visits, from a ``pyarrow.Table`` or from validated records: the
columnar twin of ``inputs``.

``visits_from_table`` validates a table with the same rules as the JSON path
(``inputs.validate_visits``): types; enumerations as the policy's vocabulary has them
(values, aliases, platform codes, and what a code implies: ``"1103"`` supplies a missing
``flxempe_flag`` and contradicts a false one); text trimmed; non-negative amounts with at
most two decimals and 15 integer digits; dates and date-times without a UTC offset or
fractional seconds; the self-paid parts not above the total; ``acct_used_flag`` "0" or
"1".  The common forms are checked with vectorised NumPy/Arrow operations (``decimal128``
or integer money, ``"450.00"`` strings, timestamps, ``"2023-03-01"`` and
``"2023-03-01 10:30:00"`` strings); every other value of a column is handed, one
distinct value at a time, to ``inputs.parse_value`` (or ``parse_enum``), which accepts or
rejects it exactly as the JSON path does and writes the message.  Nothing is coerced: a
floating-point column of amounts is refused outright, a timestamp with a time zone
too.

Problems name the record (``row + 1``) and the field, like the JSON path's.  A
problem of a whole column (an unknown column, a required column that is absent, a
float column of amounts, a time-zone-aware timestamp) is reported once, with no
record number; a required column a platform code can supply (``flxempe_flag``) is
missing per record instead, as in JSON.

The typed columns are ``Col`` values: exact integers at a decimal scale (money in
fen), bools, categorical codes (enumerations, text), days since 1970-01-01.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable, Iterable

try:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as e:  # pragma: no cover - exercised by the skip in tests/test_backends.py
    raise ImportError(
        f"columnar settlement needs numpy and pyarrow ({e.name} is missing): "
        "pip install 'policylang[columnar]'"
    ) from e

from . import ir
from . import vocab as V
from .ir.evaluate import CTX
from .inputs import (
    VISIT_SPEC,
    InputError,
    InputProblem,
    Reason,
    _Bad,
    _did,
    _visit_rules,
    contradiction,
    parse_enum,
    parse_value,
    psn_shown,
    setl_time_text,
)
from .resolve import suggest
from .runtime import fen_text
from .vocabulary import Enumeration, Vocabulary

LIMIT = 1 << 62  # int64 arithmetic is used only while every magnitude stays below this
EPOCH = dt.date(1970, 1, 1).toordinal()
DEFAULT_SCALE = {V.MONEY: 2, V.PERCENT: 4, V.POINTS: 4, V.NUMBER: 0}
US_PER_DAY = 86_400_000_000


class Col:
    """A typed column (or a constant, when ``data`` is a Python scalar).

    ``kind``: ``num`` (exact integers, the value is ``data / 10**scale``; int64, or
    object holding Python ints when a magnitude could pass 2**62), ``bool``, ``cat``
    (int32 codes into ``cats``, -1 where absent; a constant holds the text itself),
    ``date`` (days since 1970-01-01).  ``null`` marks absent values (None)."""

    __slots__ = ("kind", "data", "scale", "cats", "null")

    def __init__(
        self,
        kind: str,
        data: Any,
        scale: int = 0,
        cats: tuple[Any, ...] = (),
        null: np.ndarray | None = None,
    ):
        self.kind, self.data, self.scale, self.cats, self.null = kind, data, scale, cats, null

    def take(self, rows: np.ndarray) -> "Col":
        data = self.data[rows] if isinstance(self.data, np.ndarray) else self.data
        return Col(
            self.kind, data, self.scale, self.cats, None if self.null is None else self.null[rows]
        )

    def python(self, i: int) -> object:
        """Row ``i`` as the JSON path holds it (Decimal, bool, str, date, None)."""
        if self.null is not None and self.null[i]:
            return None
        x = self.data[i] if isinstance(self.data, np.ndarray) else self.data
        if self.kind == "num":
            return Decimal(int(x)).scaleb(-self.scale, CTX)
        if self.kind == "bool":
            return bool(x)
        if self.kind == "cat":
            return None if x < 0 else self.cats[x]
        return dt.date.fromordinal(int(x) + EPOCH)


class Visits:
    """Typed visit columns in input order.  ``psn``: person codes into ``names``;
    ``day``: days since 1970-01-01; ``tod``: the time of day (-1 for a date alone;
    one unit per column, so only the order within a call matters); ``cols``: every
    field the policy may read, typed; ``text``: each ``setl_time`` as echoed (the
    records path); ``absent``: the fields no visit has (their columns are all null);
    ``memo``: what a backend derives from the visits alone (the settlement order...), kept for
    the next policy that settles the same visits (``SharedTable``)."""

    __slots__ = ("n", "psn", "names", "day", "tod", "cols", "text", "absent", "memo")

    def __init__(
        self,
        n: int,
        psn: np.ndarray,
        names: list[str],
        day: np.ndarray,
        tod: np.ndarray,
        cols: dict[str, Col],
        text: list[str] | None = None,
    ):
        self.n, self.psn, self.names, self.day, self.tod, self.cols = n, psn, names, day, tod, cols
        self.text = text
        self.absent = frozenset(
            name
            for name, col in cols.items()
            if n and isinstance(col.null, np.ndarray) and col.null.all()
        )
        self.memo: dict[Any, Any] = {}

    def order(self) -> np.ndarray:
        """Row indexes in settlement order (``execution_order``), computed once."""
        got = self.memo.get("order")
        if got is None:
            got = self.memo["order"] = execution_order(self.psn, self.day, self.tod)
        return got

    def seq(self) -> np.ndarray:
        """Each visit's operation number for its person, in settlement order (from 1)."""
        got = self.memo.get("seq")
        if got is None:
            got = self.memo["seq"] = _seq(self.psn, self.order())
        return got


def execution_order(psn: np.ndarray, day: np.ndarray, tod: np.ndarray) -> np.ndarray:
    """Row indexes sorted by (person, day, a date alone before any time that day, time of day),
    ties in input order: ``common.settle_order`` for every person at once.  One stable sort on
    a combined key when it fits in 62 bits (the usual case), else a lexsort."""
    n = len(psn)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    dmin, dmax = int(day.min()), int(day.max())
    width = int(tod.max()) + 2  # tod + 1 is in [0, width)
    span = (dmax - dmin + 1) * width
    persons = int(psn.max()) + 1
    if span * persons < LIMIT:
        key = psn.astype(np.int64) * span + ((day - dmin) * width + (tod + 1))
        return np.argsort(key, kind="stable")
    if span < LIMIT:
        return np.lexsort(((day - dmin) * width + (tod + 1), psn))
    return np.lexsort((tod, day, psn))


def _seq(psn: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The operation number of each row for its person, given the rows in settlement order."""
    n = len(order)
    if not n:
        return np.zeros(0, dtype=np.int64)
    p = psn[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = p[1:] != p[:-1]
    first = np.flatnonzero(starts)
    seg = np.cumsum(starts) - 1
    seq = np.empty(n, dtype=np.int64)
    seq[order] = np.arange(1, n + 1, dtype=np.int64) - first[seg]
    return seq


def enum_values(t: str, vocab: Vocabulary) -> tuple[str, ...] | None:
    """The values of the enumeration ``t`` in the vocabulary in force (``ir.Policy.vocab``),
    the categories of its columns; None when ``t`` is no enumeration."""
    e = vocab.enums.get(t)
    return None if e is None else tuple(e.values)


def absent_col(t: str, n: int, vocab: Vocabulary) -> Col:
    """A column of ``n`` values of type ``t`` that are all absent: read-only views of one
    value each, so that a field no visit has takes no memory (nothing writes into a Col)."""

    def same(value: object, dtype: Any) -> np.ndarray:
        return np.broadcast_to(np.array(value, dtype=dtype), (n,))

    null = same(True, bool)
    if t in DEFAULT_SCALE:
        return Col("num", same(0, np.int64), DEFAULT_SCALE[t], null=null)
    if t == V.BOOL:
        return Col("bool", same(False, bool), null=null)
    if t in (V.DATE, "datetime"):
        return Col("date", same(0, np.int64), null=null)
    return Col("cat", same(-1, np.int32), cats=enum_values(t, vocab) or (), null=null)


def field_types(policy: ir.Policy) -> dict[str, str]:
    out = {
        name: ("datetime" if name == "setl_time" else fs.type) for name, fs in VISIT_SPEC.items()
    }
    for name, (t, _default) in policy.inputs.items():
        out.setdefault(name, t)
    return out


def _defaults(policy: ir.Policy) -> dict[str, tuple[bool, Any]]:
    """field -> (required, default)."""
    out = {name: (fs.required, fs.default) for name, fs in VISIT_SPEC.items()}
    for name, (_t, default) in policy.inputs.items():
        out.setdefault(name, (False, default))
    return out


# ---- typed columns from Python values ------------------------------------------------------


def scaled(d: Decimal) -> tuple[int, int]:
    """An exact Decimal as (integer, scale)."""
    exp = d.as_tuple().exponent
    scale = max(0, -exp)  # type: ignore[operator]
    return int(d.scaleb(scale, CTX)), scale


def int_array(values: list) -> np.ndarray:
    """int64 when every magnitude is below 2**62, else an object array of Python ints."""
    if values and max(abs(v) for v in values) >= LIMIT:
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.int64)


def col_from_values(t: str, values: list, vocab: Vocabulary) -> Col:
    """A column of typed values (as ``inputs.parse_value`` returns them; None = absent);
    ``vocab``: the vocabulary in force, whose enumerations give the categories."""
    null = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    anynull = bool(null.any())
    if t in DEFAULT_SCALE:
        scale = DEFAULT_SCALE[t]
        pairs = [None if v is None else scaled(v) for v in values]
        scale = max([scale, *(p[1] for p in pairs if p is not None)])
        ints = [0 if p is None else p[0] * 10 ** (scale - p[1]) for p in pairs]
        return Col("num", int_array(ints), scale, null=null if anynull else None)
    if t == V.BOOL:
        return Col(
            "bool", np.array([bool(v) for v in values], dtype=bool), null=null if anynull else None
        )
    if t in (V.DATE, "datetime"):
        days = [
            0 if v is None else (v.date() if isinstance(v, dt.datetime) else v).toordinal() - EPOCH
            for v in values
        ]
        return Col("date", np.array(days, dtype=np.int64), null=null if anynull else None)
    cats = enum_values(t, vocab)
    if cats is None:  # text: its distinct values
        cats = tuple(dict.fromkeys(v for v in values if v is not None))
    index = {c: i for i, c in enumerate(cats)}
    codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int32)
    return Col("cat", codes, cats=cats, null=null if anynull else None)


def visits_from_records(rows: list[dict], policy: ir.Policy) -> Visits:
    """Typed columns of records validated by ``inputs.validate_visits``."""
    n = len(rows)
    index: dict[str, int] = {}
    psn = np.fromiter(
        (index.setdefault(r["psn_no"], len(index)) for r in rows), dtype=np.int64, count=n
    )
    times = [r["setl_time"] for r in rows]
    day = np.fromiter(
        ((t.date() if isinstance(t, dt.datetime) else t).toordinal() - EPOCH for t in times),
        dtype=np.int64,
        count=n,
    )
    tod = np.fromiter(
        (
            (t.hour * 3600 + t.minute * 60 + t.second) * 1_000_000 + t.microsecond
            if isinstance(t, dt.datetime)
            else -1
            for t in times
        ),
        dtype=np.int64,
        count=n,
    )
    text = [setl_time_text(t) for t in times]
    cols = {}
    for name, t in field_types(policy).items():
        if name == "psn_no":
            cols[name] = Col("cat", psn.astype(np.int32), cats=tuple(index))
        elif name == "setl_time":
            cols[name] = Col("date", day)
        else:
            cols[name] = col_from_values(t, [r.get(name) for r in rows], policy.vocab)
    return Visits(n, psn, list(index), day, tod, cols, text)


# ---- Arrow ----------------------------------------------------------------------------------

_MONEY_RE = r"^\d{1,15}(\.\d{1,2})?$"
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_DATETIME_RE = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$"
_ECHO_RE = (
    r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$"  # the normalised spellings, echoed as they are
)


class _Problems:
    def __init__(self) -> None:
        self.column: list[InputProblem] = []
        # (row, field order, field, message); a contradiction a code implies sorts between two
        # fields' problems (``_implied``)
        self.rows: list[tuple[int, float, str, str]] = []


def _np(arr: pa.Array, fill: object) -> np.ndarray:
    if arr.null_count:
        arr = arr.fill_null(fill)
    return arr.to_numpy(zero_copy_only=False)


def _nulls(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _stringy(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _decimal_words(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The low and high 64-bit words of each decimal128 value (two's complement)."""
    words = np.frombuffer(
        arr.buffers()[1], dtype=np.int64, count=2 * len(arr), offset=arr.offset * 16
    )
    words = words.reshape(-1, 2)
    return words[:, 0], words[:, 1]


def _slow(
    arr: pa.Array, rows: np.ndarray, convert: Callable[[Any], Any]
) -> tuple[dict[int, Any], dict[int, str]]:
    """``convert(python value)`` for each row listed: (row -> value, row -> message)."""
    good: dict[int, Any] = {}
    bad: dict[int, str] = {}
    for i in rows.tolist():
        value = arr[i].as_py()
        try:
            good[i] = convert(value)
        except _Bad as e:
            bad[i] = e.reason
    return good, bad


def _fen_decimal(arr: pa.Array, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fen, ok) of a decimal128 column, read from its 64-bit words: ok where the value fits
    (15 integer digits, at most two decimals)."""
    t = arr.type
    n = len(arr)
    lo, hi = _decimal_words(arr)
    s = t.scale
    fits = (hi == (lo >> 63)) & (lo != np.iinfo(np.int64).min) & ~null
    v = np.where(fits, lo, 0)
    small = np.abs(v) < 10 ** (15 + s) if 15 + s < 19 else np.ones(n, dtype=bool)
    if s <= 2:
        ok = fits & small
        return np.where(ok, v, 0) * 10 ** (2 - s), ok
    d = 10 ** (s - 2)
    if d >= LIMIT:
        return np.zeros(n, dtype=np.int64), fits & (v == 0)
    ok = fits & small & (v % d == 0)
    return np.where(ok, v, 0) // d, ok


def _fen_integer(arr: pa.Array, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fen, ok) of a column of whole yuan: ok below 15 digits."""
    v = _np(arr, 0)
    if pa.types.is_unsigned_integer(arr.type):
        ok = ~null & (v < 10**15)
        return np.where(ok, v, 0).astype(np.int64) * 100, ok
    v = v.astype(np.int64)
    ok = ~null & (v > -(10**15)) & (v < 10**15)
    return np.where(ok, v, 0) * 100, ok


def _fen_text(arr: pa.Array, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fen, ok) of a text column: ok where the text is a plain amount ("450.00")."""
    n = len(arr)
    fen = np.zeros(n, dtype=np.int64)
    canon = pc.match_substring_regex(arr, _MONEY_RE).fill_null(False).to_numpy(zero_copy_only=False)
    if not canon.any():
        return fen, np.zeros(n, dtype=bool)
    idx = np.flatnonzero(canon)
    cast = pc.cast(arr.take(pa.array(idx)), pa.decimal128(17, 2))
    lo, _hi = _decimal_words(cast)
    fen[idx] = lo
    return fen, canon


def _fen_quick(arr: pa.Array, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fen, ok) of the forms of money read with vectorised operations; the rest (not ok)
    is for ``inputs.parse_value``."""
    t = arr.type
    if pa.types.is_decimal(t) and t.bit_width == 128:
        return _fen_decimal(arr, null)
    if pa.types.is_integer(t):
        return _fen_integer(arr, null)
    if _stringy(t):
        return _fen_text(arr, null)
    n = len(arr)
    return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)


def _money(arr: pa.Array, nonneg: bool) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(fen int64, null, row -> message) of an amount column."""
    null = _nulls(arr)
    fen, ok = _fen_quick(arr, null)
    if nonneg:
        ok &= fen >= 0
    rest = np.flatnonzero(~ok & ~null)
    bad: dict[int, str] = {}
    if len(rest):
        good, bad = _slow(arr, rest, lambda x: parse_value(V.MONEY, x, nonneg))
        for i, d in good.items():
            fen[i] = int(d.scaleb(2, CTX))
    return fen, null, bad


def _days_of(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first of month ``m`` of year ``y``."""
    months = (y.astype(np.int64) - 1970) * 12 + (m.astype(np.int64) - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


_Times = tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str], "np.ndarray | None"]


def _times(arr: pa.Array, problems: _Problems, name: str) -> _Times:
    """(day, time of day or -1, null, row -> message, rows whose text is not echoed as given)
    of ``setl_time``.  Text is echoed normalised, as the JSON path echoes it
    (``inputs.setl_time_text``): the last is None for a typed column, else the rows whose
    text is not already "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS"."""
    t = arr.type
    null = _nulls(arr)
    if pa.types.is_timestamp(t):
        return _timestamps(arr, problems, name, null)
    tod = np.full(len(arr), -1, dtype=np.int64)
    if pa.types.is_date32(t):
        return _np(arr.cast(pa.int32()), 0).astype(np.int64), tod, null, {}, None
    if pa.types.is_date64(t):
        return _np(arr.cast(pa.int64()), 0) // 86_400_000, tod, null, {}, None
    day = np.zeros(len(arr), dtype=np.int64)
    ok = np.zeros(len(arr), dtype=bool)
    if _stringy(t):
        _text_times(arr, day, tod, ok)
    bad = _slow_times(arr, np.flatnonzero(~ok & ~null), day, tod)
    renormal = None
    if _stringy(t):
        canonical = (
            pc.match_substring_regex(arr, _ECHO_RE).fill_null(False).to_numpy(zero_copy_only=False)
        )
        renormal = ~canonical & ~null
    return day, tod, null, bad, renormal


def _timestamps(arr: pa.Array, problems: _Problems, name: str, null: np.ndarray) -> _Times:
    """``_times`` of a timestamp column (one with a time zone is a problem of the column)."""
    t = arr.type
    n = len(arr)
    bad: dict[int, str] = {}
    if t.tz is not None:
        problems.column.append(
            InputProblem(
                None,
                name,
                Reason("input.column_tz", tz=t.tz),
            )
        )
        return np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64), null, bad, None
    per_second = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
    ticks = _np(arr.cast(pa.int64()), 0)
    day = ticks // (86_400 * per_second)
    tod = ticks - day * (86_400 * per_second)
    if per_second > 1:  # the JSON path refuses fractional seconds: so does this one
        for i in np.flatnonzero((tod % per_second != 0) & ~null).tolist():
            bad[i] = _fraction_message(arr, i, int(ticks[i]), per_second)
    return day, tod, null, bad, None


def _text_times(arr: pa.Array, day: np.ndarray, tod: np.ndarray, ok: np.ndarray) -> None:
    """The rows of a text column spelled "YYYY-MM-DD" or "YYYY-MM-DD HH:MM[:SS]" and valid
    as such: their day and time of day go in ``day`` and ``tod``, and ``ok`` marks them."""
    is_date = (
        pc.match_substring_regex(arr, _DATE_RE).fill_null(False).to_numpy(zero_copy_only=False)
    )
    is_dt = (
        pc.match_substring_regex(arr, _DATETIME_RE).fill_null(False).to_numpy(zero_copy_only=False)
    )
    for idx, timed in ((np.flatnonzero(is_date), False), (np.flatnonzero(is_dt), True)):
        if not len(idx):
            continue
        sub = arr.take(pa.array(idx))

        def part(a: int, b: int, strings: pa.Array = sub) -> np.ndarray:
            return (
                pc.utf8_slice_codeunits(strings, a, b)
                .cast(pa.int32())
                .to_numpy(zero_copy_only=False)
            )

        y, m, d = part(0, 4), part(5, 7), part(8, 10)
        valid = (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1)
        if timed:
            hh, mm = part(11, 13), part(14, 16)
            long = pc.equal(pc.utf8_length(sub), 19)
            ss = (
                pc.if_else(long, pc.utf8_slice_codeunits(sub, 17, 19), "0")
                .cast(pa.int32())
                .to_numpy(zero_copy_only=False)
            )
            valid &= (hh <= 23) & (mm <= 59) & (ss <= 59)
            clock = (hh.astype(np.int64) * 3600 + mm * 60 + ss) * 1_000_000
        else:
            clock = np.full(len(idx), -1, dtype=np.int64)
        first = _days_of(np.where(valid, y, 1970), np.where(valid, m, 1))
        nxt = _days_of(np.where(valid, y + (m == 12), 1970), np.where(valid, m % 12 + 1, 2))
        valid &= d <= nxt - first
        good = idx[valid]
        day[good] = (first + d - 1)[valid]
        tod[good] = clock[valid]
        ok[good] = True


def _slow_times(
    arr: pa.Array, rest: np.ndarray, day: np.ndarray, tod: np.ndarray
) -> dict[int, str]:
    """The rows ``rest`` through ``inputs.parse_value``: their day and time of day go in
    ``day`` and ``tod``; returns row -> message of those it refuses."""
    if not len(rest):
        return {}
    good_rows, bad = _slow(arr, rest, lambda x: parse_value("datetime", x))
    for i, when in good_rows.items():
        if isinstance(when, dt.datetime):
            day[i] = when.date().toordinal() - EPOCH
            tod[i] = (
                when.hour * 3600 + when.minute * 60 + when.second
            ) * 1_000_000 + when.microsecond
        else:
            day[i] = when.toordinal() - EPOCH
    return bad


def _fraction_message(arr: pa.Array, i: int, ticks: int, per_second: int) -> str:
    """What the JSON path says of a time with fractional seconds."""
    try:
        value = arr[i].as_py()  # a datetime with microseconds: parse_value words it
    except ValueError:  # nanoseconds a datetime cannot hold
        value = None
    if isinstance(value, dt.datetime) and value.microsecond:
        return _bad_message("datetime", value, True)
    seconds, frac = divmod(ticks, per_second)
    whole = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    digits = len(str(per_second)) - 1
    return Reason("input.fraction_seconds", value=f"{whole.isoformat()}.{frac:0{digits}d}")


def _echo_times(
    arr: pa.Array, day: np.ndarray, tod: np.ndarray, renormal: np.ndarray | None
) -> pa.Array:
    """``setl_time`` as echoed: a typed column as it is; text normalised
    (``inputs.setl_time_text``)."""
    if renormal is None or not renormal.any():
        return arr
    at = np.flatnonzero(renormal)
    d, clock = day[at], tod[at]
    dates = pa.array(d.astype(np.int32), pa.date32()).cast(pa.string())
    stamps = pa.array(d * 86_400 + np.maximum(clock, 0) // 1_000_000, pa.timestamp("s")).cast(
        pa.string()
    )
    texts = pc.if_else(pa.array(clock < 0), dates, stamps)
    return pc.replace_with_mask(arr, pa.array(renormal), texts)


def _unique(
    arr: pa.Array, t: str, nonneg: bool, vocab: Vocabulary, meanings: list | None = None
) -> tuple[np.ndarray, list, dict[int, str], list, bool]:
    """Any column, one distinct value at a time through ``inputs.parse_value`` (an
    enumeration's through ``inputs.parse_enum``, with its vocabulary's values, aliases and
    codes): (codes into values, typed values, code -> message, raw values, whether the typed
    values are distinct).  ``meanings``, when given, receives each distinct value's platform
    code meaning (``vocabulary.Code``) or None."""
    codes, dictionary, raws, distinct = _distinct(arr)
    if t == V.TEXT and dictionary is not None and _stringy(dictionary.type):
        values, bad, same = _trimmed(dictionary, raws, nonneg)
        return codes, values, bad, raws, distinct and same
    enum = vocab.enums.get(t)
    if enum is not None:  # few distinct values: each exactly as the JSON path reads it
        values, bad = _enum_values(enum, raws, meanings)
        return codes, values, bad, raws, False
    values, bad = _parsed(raws, t, nonneg, vocab)
    return codes, values, bad, raws, distinct and t == V.TEXT


def _distinct(arr: pa.Array) -> tuple[np.ndarray, "pa.Array | None", list, bool]:
    """(codes into the raw values, -1 where absent; the dictionary of distinct values, or None
    when Arrow cannot encode the column; the raw values; whether they are distinct)."""
    distinct = True
    try:
        enc = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
        codes = _np(enc.indices.cast(pa.int32()), -1).astype(np.int32)
        dictionary = enc.dictionary
        raws = dictionary.to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
        dictionary = None
        raws = arr.to_pylist()
        codes = np.arange(len(raws), dtype=np.int32)
        distinct = False
    if arr.null_count:
        codes = np.where(_nulls(arr), -1, codes).astype(np.int32)
    return codes, dictionary, raws, distinct


def _trimmed(dictionary: pa.Array, raws: list, nonneg: bool) -> tuple[list, dict[int, str], bool]:
    """The distinct texts read trimmed (Python's str.strip): (values, code -> message, whether
    trimming left every text as it was).  A text is valid unless nothing is left: only a text
    that starts or ends with whitespace, or an empty one, changes."""
    values: list = list(raws)
    bad: dict[int, str] = {}
    suspect: set[int] = set()
    for start, stop in ((0, 1), (-1, 2**31 - 1)):  # the first character, the last
        edge = pc.utf8_slice_codeunits(dictionary, start, stop)
        spaces = [
            c for c in pc.unique(edge).to_pylist() if c is not None and (c == "" or c.isspace())
        ]
        if spaces:
            suspect.update(
                np.flatnonzero(
                    pc.is_in(edge, value_set=pa.array(spaces, pa.string())).to_numpy(
                        zero_copy_only=False
                    )
                ).tolist()
            )
    for k in sorted(suspect):
        trimmed = raws[k].strip()
        if trimmed:
            values[k] = trimmed
        else:
            values[k] = None
            bad[int(k)] = _bad_message(V.TEXT, raws[k], nonneg)
    # trimming may make two values one: then the codes are not of distinct texts
    return values, bad, not any(values[k] != raws[k] for k in suspect)


def _enum_values(
    enum: Enumeration, raws: list, meanings: list | None
) -> tuple[list, dict[int, str]]:
    """The distinct values of an enumeration column through ``inputs.parse_enum``: (values,
    code -> message); ``meanings`` receives each one's platform code meaning or None."""
    values: list = []
    bad: dict[int, str] = {}
    for k, raw in enumerate(raws):
        value, meaning = None, None
        if raw is not None:
            try:
                value, meaning = parse_enum(enum, raw)
            except _Bad as e:
                bad[k] = e.reason
        values.append(value)
        if meanings is not None:
            meanings.append(meaning)
    return values, bad


def _parsed(raws: list, t: str, nonneg: bool, vocab: Vocabulary) -> tuple[list, dict[int, str]]:
    """The distinct values of any other column through ``inputs.parse_value`` (the canonical
    spellings of a type read without it): (values, code -> message)."""
    values: list = []
    bad: dict[int, str] = {}
    quick = _quick(t)
    for k, raw in enumerate(raws):
        if raw is None:
            values.append(None)
            continue
        got = quick(raw) if quick is not None else None
        if got is not None:
            values.append(got)
            continue
        try:
            values.append(parse_value(t, raw, nonneg, vocab=vocab))
        except _Bad as e:
            values.append(None)
            bad[k] = e.reason
    return values, bad


def _bad_message(t: str, raw: object, nonneg: bool) -> str:
    try:
        parse_value(t, raw, nonneg)
    except _Bad as e:
        return e.reason
    raise AssertionError(f"{raw!r} is a valid {t}")  # pragma: no cover


def _quick(t: str) -> Callable[[object], str | None] | None:
    """The canonical spellings of a type, read without ``parse_value`` (None: ask it)."""
    if t == V.TEXT:
        return lambda raw: (raw.strip() or None) if type(raw) is str else None
    return None


def _typed(
    t: str, codes: np.ndarray, values: list, vocab: Vocabulary, distinct: bool = False
) -> Col:
    """A column from codes into typed values (-1: absent); ``distinct``: no two are equal."""
    if t == V.TEXT and distinct and None not in values:
        null = codes < 0
        return Col("cat", codes, cats=tuple(values), null=null if null.any() else None)
    enum = enum_values(t, vocab)
    if enum is not None or t == V.TEXT:
        cats = (
            enum if enum is not None else tuple(dict.fromkeys(v for v in values if v is not None))
        )
        index = {c: i for i, c in enumerate(cats)}
        lut = np.array([-1 if v is None else index[v] for v in values] + [-1], dtype=np.int32)
        out = lut[codes]
        return Col("cat", out, cats=cats, null=out < 0)
    col = col_from_values(t, [*values, None], vocab)
    data = col.data[codes] if isinstance(col.data, np.ndarray) else col.data
    null = (col.null if col.null is not None else np.zeros(len(values) + 1, dtype=bool))[codes]
    return Col(col.kind, data, col.scale, col.cats, null)


def _fill(col: Col, t: str, default: object, vocab: Vocabulary) -> Col:
    """Absent values take the field's default (None: stay absent)."""
    if col.null is None or default is None or not col.null.any():
        return col
    fill = col_from_values(t, [default], vocab)
    data = col.data
    if col.kind == "num":
        s = max(col.scale, fill.scale)
        data = data * 10 ** (s - col.scale) if s != col.scale else data.copy()
        value = int(fill.data[0]) * 10 ** (s - fill.scale)
        data[col.null] = value
        return Col("num", data, s)
    if col.kind == "cat":
        data = data.copy()
        cats = col.cats
        if fill.cats[fill.data[0]] not in cats:
            cats = (*cats, fill.cats[fill.data[0]])
        data[col.null] = cats.index(fill.cats[fill.data[0]])
        return Col("cat", data, cats=cats)
    data = data.copy()
    data[col.null] = fill.data[0]
    return Col(col.kind, data)


def _declared_split_problems(
    policy: ir.Policy, cols: dict[str, Col], row_bad: dict[str, dict[int, str]], n: int, order: int
) -> list[tuple[int, float, str, str]]:
    """inputs._declared_split over columns: the parts a policy's bill split takes off the
    total may not exceed it (unless the platform's own check already says so)."""
    split = getattr(policy, "bill_split", None)
    if split is None:
        return []
    parts = split[0]
    std = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")
    names = ("medfee_sumamt", *parts, *std)
    if not all(a in cols and cols[a].kind == "num" for a in names):
        return []
    valid = _valid_rows(cols, row_bad, names, n)
    data = {a: np.asarray(_full_num(cols[a].data, n), dtype=object) for a in names}
    total = sum((data[a] for a in parts), np.zeros(n, dtype=object))
    standard = sum((data[a] for a in std), np.zeros(n, dtype=object))
    whole = data["medfee_sumamt"]
    out: list[tuple[int, float, str, str]] = []
    for i in np.flatnonzero(valid & (total > whole) & (total != standard)).tolist():
        out.append(
            (
                i,
                order,
                "medfee_sumamt",
                f"the parts that leave the in-policy amount ({' + '.join(parts)} = "
                f"{fen_text(int(total[i]))}) exceed the total {fen_text(int(whole[i]))}",
            )
        )
    return out


def _valid_rows(
    cols: dict[str, Col], row_bad: dict[str, dict[int, str]], names: Iterable[str], n: int
) -> np.ndarray:
    """Rows where each of ``names`` was read without a problem and is present."""
    valid = np.ones(n, dtype=bool)
    for a in names:
        bad_rows = list(row_bad.get(a, {}))
        if bad_rows:
            valid[bad_rows] = False
        null = cols[a].null
        if null is not None:
            valid &= ~null
    return valid


def _full_num(data: Any, n: int) -> np.ndarray:
    return data if isinstance(data, np.ndarray) else np.full(n, data, dtype=object)


def visits_from_table(
    table: "pa.Table", policy: ir.Policy
) -> tuple[Visits, "pa.Array", "pa.Array"]:
    """Validate a table of visits; (typed visits, psn_no as strings, setl_time as echoed).
    Raises ``InputError`` with every problem."""
    r = _Reader(_as_table(table), policy)
    r.check_names()
    for name, t in r.types.items():
        r.read(name, t)
    cols, row_bad, problems = r.cols, r.row_bad, r.problems
    last = len(r.types)
    problems.rows += _implied(r.coded, cols, row_bad, r.given, r.types, r.vocab, last)
    for name, bad in row_bad.items():
        for i, message in bad.items():
            problems.rows.append((i, r.order[name], name, message))
    problems.rows += _sum_problems(cols, row_bad, r.n, last + 1)
    problems.rows += _declared_split_problems(policy, cols, row_bad, r.n, last + 1)
    problems.rows += _flag_problems(cols, last + 2)
    if problems.column or problems.rows:
        psn_of = _psn_reader(r.raw_psn)
        found = list(problems.column)
        found += [
            InputProblem(i + 1, name, message, psn_of(i))
            for i, _, name, message in sorted(problems.rows)
        ]
        raise InputError(found)
    cols["psn_no"] = Col("cat", r.psn_codes.astype(np.int32), cats=tuple(r.names))
    psn_text = r.column("psn_no")
    if psn_text is None or not (
        _stringy(psn_text.type) and r.psn_as_given
    ):  # an integer, or text with spaces around: as read
        psn_text = pc.take(pa.array(r.names, pa.string()), pa.array(r.psn_codes))
    return (
        Visits(r.n, r.psn_codes, list(r.names), r.day, r.tod, cols),
        psn_text,
        _echo_times(r.echo_time, r.day, r.tod, r.renormal),
    )


def reader_key(policy: ir.Policy) -> tuple[Any, ...]:
    """What reading a table of visits takes from a policy: two policies with equal keys read
    any table alike (the same typed columns, the same problems)."""
    return (
        tuple(field_types(policy).items()),
        tuple(_defaults(policy).items()),
        policy.vocab,
        getattr(policy, "bill_split", None),
    )


Read = tuple[Visits, "pa.Array", "pa.Array"]  # what visits_from_table gives


class SharedTable:
    """A table of visits that several policies settle (``simulate``: the baseline and the
    reform): read (``visits_from_table``) once for all the policies whose ``reader_key`` is
    ``key``, with what a backend derives from the visits alone (``Visits.memo``); a policy
    that reads it otherwise reads ``table`` itself.  It answers ``column_names`` and
    ``column`` as the table does."""

    def __init__(self, table: "pa.Table", key: tuple[Any, ...]):
        self.table, self.key = table, key
        self._read: Read | None = None
        self._error: InputError | None = None

    @property
    def column_names(self) -> list[str]:
        return list(self.table.column_names)

    def column(self, name: str) -> Any:
        return self.table.column(name)

    def read(self, policy: ir.Policy) -> Read:
        if reader_key(policy) != self.key:
            return visits_from_table(self.table, policy)
        if self._error is not None:
            raise self._error
        if self._read is None:
            try:
                self._read = visits_from_table(self.table, policy)
            except InputError as e:
                self._error = e
                raise
        return self._read


def read_table(table: object, policy: ir.Policy) -> Read:
    """``visits_from_table``, read once when ``table`` is a ``SharedTable``."""
    if isinstance(table, SharedTable):
        return table.read(policy)
    return visits_from_table(table, policy)


def _as_table(table: object) -> "pa.Table":
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    raise InputError([InputProblem(None, "(top level)", "expected a pyarrow.Table of visits")])


class _Reader:
    """The fields of a table of visits read one by one (``read``), with what the reading
    learns: typed columns, problems (of a column; of a row, by field), the persons, the
    settlement times, and the platform codes whose meaning implies other fields."""

    def __init__(self, table: "pa.Table", policy: ir.Policy):
        self.table = table
        self.n = n = table.num_rows
        self.types = field_types(policy)
        self.order = {name: i for i, name in enumerate(self.types)}
        self.defaults = _defaults(policy)
        self.vocab = vocab = policy.vocab
        # fields a platform code may supply (psn_type "1103" says flxempe_flag): a required
        # one the table lacks is missing per record, as in JSON, where a code can still supply it
        self.implied = {
            f for e in vocab.enums.values() for c in e.codes.values() for f, _ in c.implies
        }
        self.problems = _Problems()
        self.cols: dict[str, Col] = {}
        self.row_bad: dict[str, dict[int, str]] = {}
        self.raw_psn: tuple[np.ndarray, list] | None = None
        self.psn_as_given = False
        self.psn_codes = np.zeros(n, dtype=np.int64)
        self.names: list = []
        self.day = np.zeros(n, dtype=np.int64)
        self.tod = np.full(n, -1, dtype=np.int64)
        self.echo_time: pa.Array | None = None
        self.renormal: np.ndarray | None = None
        self.given: dict[str, pa.Array] = {}  # the columns as read, for what a problem quotes
        # enumeration field -> (codes, meaning of each distinct value, raws)
        self.coded: dict[str, tuple[np.ndarray, list, list]] = {}

    def check_names(self) -> None:
        """Unknown columns, and columns given twice, are problems of the column."""
        names = self.table.column_names
        for name in names:
            if name not in self.types:
                s = suggest(name, self.types)
                reason = Reason("input.unknown_column", did=_did(s))
                self.problems.column.append(InputProblem(None, name, reason))
        if len(set(names)) != len(names):
            for name in sorted({c for c in names if names.count(c) > 1}):
                self.problems.column.append(InputProblem(None, name, Reason("input.two_columns")))

    def column(self, name: str) -> "pa.Array | None":
        """The column ``name`` as one array (None: absent, or given twice), dictionaries of
        text or integers decoded, large strings as strings."""
        names = self.table.column_names
        if name not in names or names.count(name) != 1:
            return None
        got = self.table.column(name)
        arr = got.combine_chunks() if got.num_chunks != 1 else got.chunk(0)
        if pa.types.is_dictionary(arr.type) and (
            _stringy(arr.type.value_type) or pa.types.is_integer(arr.type.value_type)
        ):
            arr = arr.dictionary_decode()
        if pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        return arr

    def read(self, name: str, t: str) -> None:
        """The field ``name`` of type ``t``: its typed column, or its problems."""
        required, default = self.defaults[name]
        arr = self.column(name)
        if arr is None:
            if required and name not in self.implied:
                self.problems.column.append(InputProblem(None, name, Reason("input.required")))
                return
            if default is None and not required:  # an optional field no visit has
                self.cols[name] = absent_col(t, self.n, self.vocab)
                return
            arr = pa.nulls(self.n)
        self.given[name] = arr
        if t in (V.MONEY, V.NUMBER) and pa.types.is_floating(arr.type):
            self.problems.column.append(
                InputProblem(
                    None,
                    name,
                    Reason("input.float_column", type=arr.type),
                )
            )
            return
        col = self.typed(name, t, arr)
        if col.null is not None and required:
            missing = col.null.copy()
            missing[list(self.row_bad.get(name, {}))] = False
            self.row_bad.setdefault(name, {}).update(
                {i: "is required but missing" for i in np.flatnonzero(missing).tolist()}
            )
        else:
            col = _fill(col, t, default, self.vocab)
        self.cols[name] = col

    def typed(self, name: str, t: str, arr: pa.Array) -> Col:
        """The typed column of ``arr``; the problems of its rows go in ``row_bad``."""
        nonneg = name in VISIT_SPEC
        if name == "setl_time":
            return self.times(name, arr)
        if t == V.MONEY:
            fen, null, bad = _money(arr, nonneg)
            self.row_bad[name] = bad
            return Col("num", fen, 2, null=null if null.any() else None)
        if t == V.BOOL and (pa.types.is_boolean(arr.type) or pa.types.is_null(arr.type)):
            null = _nulls(arr)
            return Col(
                "bool",
                _np(arr.cast(pa.bool_()), False).astype(bool),
                null=null if null.any() else None,
            )
        return self.distinct(name, t, arr, nonneg)

    def times(self, name: str, arr: pa.Array) -> Col:
        self.day, self.tod, null, bad, self.renormal = _times(arr, self.problems, name)
        self.row_bad[name] = bad
        self.echo_time = arr
        return Col("date", self.day, null=null if null.any() else None)

    def distinct(self, name: str, t: str, arr: pa.Array, nonneg: bool) -> Col:
        """Any other column, read one distinct value at a time (``_unique``)."""
        meanings: list = []
        codes, values, bad, raws, distinct = _unique(arr, t, nonneg, self.vocab, meanings)
        col = _typed(t, codes, values, self.vocab, distinct)
        if any(m is not None and m.implies for m in meanings):
            self.coded[name] = (codes, meanings, raws)
        self.row_bad[name] = {}
        if bad:
            at = np.flatnonzero(np.isin(codes, list(bad)))
            self.row_bad[name] = {i: bad[int(codes[i])] for i in at.tolist()}
        if name == "psn_no":  # persons by their trimmed text: "A " and "A" are one person
            self.psn_codes = col.data.astype(np.int64)
            self.names = list(col.cats)
            self.psn_as_given = distinct
            self.raw_psn = (codes, raws)
        return col


_AMOUNTS = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")


def _sum_problems(
    cols: dict[str, Col], row_bad: dict[str, dict[int, str]], n: int, order: float
) -> list[tuple[int, float, str, str]]:
    """The rows whose self-paid parts exceed their total (rows whose amounts are absent or
    bad are left to those problems)."""
    if not all(a in cols for a in _AMOUNTS):
        return []
    valid = _valid_rows(cols, row_bad, _AMOUNTS, n)
    parts = (
        cols["fulamt_ownpay_amt"].data + cols["overlmt_selfpay"].data + cols["preselfpay_amt"].data
    )
    total = cols["medfee_sumamt"].data
    return [
        (
            i,
            order,
            "medfee_sumamt",
            "the self-paid parts (fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt = "
            f"{fen_text(int(parts[i]))}) exceed the total {fen_text(int(total[i]))}",
        )
        for i in np.flatnonzero(valid & (parts > total)).tolist()
    ]


def _flag_problems(cols: dict[str, Col], order: float) -> list[tuple[int, float, str, str]]:
    """The rows whose ``acct_used_flag`` is not "0" or "1" (``inputs._visit_rules``)."""
    flag = cols.get("acct_used_flag")
    if flag is None or flag.kind != "cat":
        return []
    wrong = [k for k, c in enumerate(flag.cats) if c not in ("0", "1")]
    if not wrong:
        return []
    words = {
        k: dict(_visit_rules({"acct_used_flag": flag.cats[k]}))["acct_used_flag"] for k in wrong
    }
    return [
        (i, order, "acct_used_flag", words[int(flag.data[i])])
        for i in np.flatnonzero(np.isin(flag.data, wrong)).tolist()
    ]


_MISSING = "is required but missing"


def _implied(
    coded: dict[str, tuple[np.ndarray, list, list]],
    cols: dict[str, Col],
    row_bad: dict[str, dict[int, str]],
    given: dict[str, pa.Array],
    types: dict[str, str],
    vocab: Vocabulary,
    last: int,
) -> list[tuple[int, float, str, str]]:
    """What platform codes imply, as ``inputs._validate`` applies it: a code whose meaning sets
    another field (``1103``: flxempe_flag true) supplies that field where the record lacks it
    (a required field: its "missing" problem goes) and contradicts a record that says
    otherwise (a problem of that field, after the record's field problems).  A field that is
    itself bad is left alone.  Returns the contradictions as problem rows."""
    out = []
    for j, (name, (codes, meanings, raws)) in enumerate(coded.items()):
        for k, meaning in enumerate(meanings):
            if meaning is None or not meaning.implies:
                continue
            at = np.flatnonzero(codes == k).tolist()
            for m, (field, want) in enumerate(meaning.implies):
                col = cols.get(field)
                if col is None:
                    continue
                bad = row_bad.get(field, {})
                for i in at:
                    problem = bad.get(i)
                    if problem == _MISSING:  # the code says it
                        del bad[i]
                        _put(col, i, want, types[field], vocab)
                    elif (
                        problem is None
                        and not (col.null is not None and col.null[i])
                        and col.python(i) != want
                    ):
                        message = contradiction(
                            name, raws[k], meaning, field, given[field][i].as_py(), want
                        )
                        out.append((i, last + (j * 1000 + m) / 1e6, field, message))
    return out


def _put(col: Col, i: int, value: object, t: str, vocab: Vocabulary) -> None:
    """Row ``i`` of ``col`` (absent until now) holds ``value``."""
    one = col_from_values(t, [value], vocab)
    if col.kind == "cat":
        if value not in col.cats:
            col.cats = (*col.cats, value)
        col.data[i] = col.cats.index(value)
    else:
        if col.kind == "num" and one.scale != col.scale:
            raise NotImplementedError(
                f"columnar: a code implying {value} at another scale"
            )  # pragma: no cover
        col.data[i] = one.data[0]
    if col.null is not None:  # it is: the value was absent
        col.null[i] = False


def _psn_reader(raw_psn: tuple[np.ndarray, list] | None) -> Callable[[int], str | None]:
    if raw_psn is None:
        return lambda i: None
    codes, raws = raw_psn

    def psn_of(i: int) -> str | None:  # as the JSON path names the person of a record
        c = codes[i]
        return psn_shown(raws[c]) if c >= 0 else None

    return psn_of


# ---- Arrow output ----------------------------------------------------------------------------


def decimal_array(
    values: np.ndarray, scale: int, precision: int, null: np.ndarray | None = None
) -> "pa.Array":
    """int64 values at ``scale`` as a decimal128(precision, scale) array, without a Python loop."""
    values = np.asarray(values, dtype=np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    validity = None
    null_count = 0
    if null is not None and null.any():
        validity = pa.array(~null).buffers()[1]
        null_count = int(null.sum())
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale),
        len(values),
        [validity, pa.py_buffer(words)],
        null_count=null_count,
    )


def _text_of(col: "Col | None", n: int) -> "pa.Array":
    """A text field of the validated visits as strings (null where absent)."""
    if col is None or not col.cats:
        return pa.nulls(n, pa.string())
    codes = np.asarray(col.data, dtype=np.int32)
    missing = codes < 0 if col.null is None else (codes < 0) | col.null
    return pc.take(pa.array(col.cats, pa.string()), pa.array(codes, mask=missing))


def _same_text(value: str, n: int) -> "pa.Array":
    """One text in every row, dictionary-encoded (a policy's hash is not copied per row)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int8)), pa.array([value], pa.string())
    )


def audit_columns(cols: dict, seq: np.ndarray, stamp: tuple) -> dict:
    """The JSON contract's audit fields of a result table: ``setl_id`` and ``mdtrt_id`` as
    given (trimmed; null when absent), ``op`` ("settle"), ``seq`` (the person's operation
    number), ``policy`` and ``ir_hash`` (``stamp``), the constant ones dictionary-encoded."""
    n = len(seq)
    return {
        "setl_id": _text_of(cols.get("setl_id"), n),
        "mdtrt_id": _text_of(cols.get("mdtrt_id"), n),
        "op": _same_text("settle", n),
        "seq": pa.array(np.asarray(seq, dtype=np.int64)),
        "policy": _same_text(stamp[0], n),
        "ir_hash": _same_text(stamp[1], n),
    }
