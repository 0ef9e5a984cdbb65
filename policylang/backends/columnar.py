"""The columnar backend: the settle program executed over whole columns.

Visits come in as typed NumPy columns (``policylang.columns``: from a
``pyarrow.Table`` with vectorised validation, or from records validated by
``inputs``); money is int64 fen, ratios int64 in 1/10000, products at the sum of
the scales, rounded by the policy's rule with integer floor division.  No float
is ever created.  When a magnitude could pass 2**62 (amounts near the 15-digit
limit summed over many visits) the arrays involved become object arrays of
Python ints: slower, still exact.

**Order.**  Rows are sorted once by (psn_no, setl_time with a date alone before
any time that day, input row) -- the execution order of ``backends/common.py``
-- and every step runs over the rows of its version in that order.  Results go
back to input order.

**Counters.**  A step that charges a counter (Consume, BandShare, Limit) needs
what its counter key used before each visit.  Which way it is computed is
decided once per program (``Columnar(policy).plan``):

* ``closed_form`` -- where provably exact for the program at hand:
  - a deductible whose amount is the same for every visit of a counter key (a
    literal or a parameter, or a table reading only the ``each`` field) and is
    the same in every version that shares the counter:
    ``take_i = min(D, U + I_i) - min(D, U + I_(i-1))``, I the running sum of the
    in-policy amount left in the key, U what the key used before the call;
  - a payment with one cap that carries from visit to visit (per-visit caps cut
    the share first: they carry nothing), its amount constant within the key:
    ``fund_i = min(C, U + S_i) - min(C, U + S_(i-1))``, S the running sum of the
    rounded, uncapped share;
  - banded ratios: what accumulates is the amount itself whatever the bands, so
    the amount accumulated before a visit is an exclusive running sum;
  - the personal account: between two given balances a person's balance is
    ``B - min(B, P_i)``, P the running sum of what the account may pay, so
    ``pay_i = min(B, P_i) - min(B, P_(i-1))``.
  Each needs the running amounts to be non-negative; a run where one is not
  (impossible for validated input, but not assumed) uses the sequential step.
* ``sequential`` -- a tight Python loop over the rows in execution order with a
  dictionary of counter keys: interacting caps (two caps that carry on one
  payment, such as a yearly and a daily cap), an amount that varies within a
  counter key (a deductible table by level without ``each hosp_lv``, versions
  sharing a counter with different amounts).
* ``per_visit`` -- a counter per visit carries nothing: a plain vectorised min.
* ``row_by_row`` -- versions that charge counters in different orders (a cycle
  between steps): each visit runs those steps in turn before the next visit.

**State and journal.**  ``state`` is every backend's: ``used`` by ledger key ``(psn_no,
counter id, bucket, each value)`` in fen (counters per visit never kept), ``balances`` and
``seq`` by person.  A call reads the keys of its persons into its counters (a closed form
starts each key at what it used before, U above) and writes them back; ``seq`` numbers each
person's visits in execution order after what the state held.  ``journal`` receives
``(index, ledger key, fen)`` for every charge, in the reference interpreter's order.  Results
carry the audit fields (setl_id, mdtrt_id, seq, op; policy id and IR hash) as the others do.

**No trace.**  Settlement results carry no trace (``settle_traces = False``): an
explanation is per visit and per step, which is what the scalar backend is for.
The message is computed from the reason and the amounts (``runtime.settle_message``,
the same sentence as the other backends), lazily on ``VisitResult``; the table
path adds it as a column only when asked (``messages=True``).  Credit and may-pay
results are complete, traces included.
"""

from __future__ import annotations

import datetime as dt
import heapq
from decimal import Decimal
import functools
from itertools import repeat
from typing import Any, Callable, Iterable

import attrs

from .. import ir
from .. import vocab as V
from ..inputs import (
    InputError,
    InputProblem,
    missing_param,
    validate_persons,
    validate_requests,
    validate_visits,
)
from ..ir.demands import fields_read
from ..ir.evaluate import CTX
from ..ir.serial import content_hash
from .common import settle_funds
from ..runtime import (
    SETTLED_AMOUNTS,
    CreditResult,
    MayPayResult,
    VisitResult,
    credit_result,
    negative_credit,
    fen_text,
    may_pay_result,
    percent,
    settle_message,
    tr_credit,
    yuan,
)
from ..columns import (
    DEFAULT_SCALE,
    EPOCH,
    LIMIT,
    Col,
    Visits,
    absent_col,
    audit_columns,
    col_from_values,
    decimal_array,
    field_types,
    np,
    pa,
    pc,
    read_table,
    scaled,
    visits_from_records,
)

REASONS = (
    "not_in_force",
    "not_covered",
    "not_designated",
    "no_in_policy_amount",
    "within_deductible",
    "cap_reached",
    "zero_ratio",
    "rounds_to_zero",
    "other_scheme",
    "other_med_type",
    "cost_cap_reached",
)
_STEP = 64  # a charge's order within a visit: step index * _STEP + cap index
MONEY_OUT = SETTLED_AMOUNTS


# ---- exact integer arithmetic on arrays ------------------------------------------------------


def _maxabs(x: Any) -> int:
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return 0
        if x.dtype == object:
            return max(abs(v) for v in x.tolist())
        if x.dtype == bool:
            return 1
        return max(-int(x.min()), int(x.max()))
    return abs(int(x))


def _wide(x):
    return x.astype(object) if isinstance(x, np.ndarray) and x.dtype != object else x


def _add(x, y):
    if _maxabs(x) + _maxabs(y) >= LIMIT:
        x, y = _wide(x), _wide(y)
    return x + y


def _sub(x, y):
    if _maxabs(x) + _maxabs(y) >= LIMIT:
        x, y = _wide(x), _wide(y)
    return x - y


def _mul(x, y):
    if _maxabs(x) * _maxabs(y) >= LIMIT:
        x, y = _wide(x), _wide(y)
    return x * y


def _up(x: Any, k: int) -> Any:
    return x if k == 0 else _mul(x, 10**k)


def _cumsum(x):
    if len(x) and _maxabs(x) * len(x) >= LIMIT:
        x = _wide(x)
    return np.cumsum(x)


def _seg_cumsum(x, starts):
    """Inclusive running sum of ``x`` restarting where ``starts`` is True (starts[0] must be)."""
    cs = _cumsum(x)
    first = np.flatnonzero(starts)
    offset = cs[first] - x[first]
    return cs - offset[np.cumsum(starts) - 1]


def round_units(x: Any, unit: int, mode: str) -> Any:
    """``x`` rounded to a multiple of ``unit``, as a count of units; like ``runtime.round_money``
    (half-up and up round away from zero, down toward it)."""
    neg = x < 0
    a = np.where(neg, -x, x)
    n, r = a // unit, a % unit
    if mode == "half_up":
        n = n + (2 * r >= unit)
    elif mode == "half_even":
        n = n + ((2 * r > unit) | ((2 * r == unit) & (n % 2 == 1)))
    elif mode == "up":
        n = n + (r > 0)
    return np.where(neg, -n, n)


def _int_list(values: list) -> Any:
    if values and max(abs(v) for v in values) >= LIMIT:
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.int64)


# ---- evaluating expressions and conditions over columns ---------------------------------------


class _Errors:
    """Problems met while evaluating, as small integer codes; a row keeps its first."""

    def __init__(self):
        self.kinds: list[tuple] = []
        self._index: dict[tuple, int] = {}

    def code(self, *kind: str) -> int:
        got = self._index.get(kind)
        if got is None:
            got = self._index[kind] = len(self.kinds)
            self.kinds.append(kind)
        return got


def _first(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return np.where(a >= 0, a, b)


def _full(x: Any, n: int) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return np.full(
        n,
        x,
        dtype=object
        if isinstance(x, int) and not isinstance(x, bool) and abs(x) >= LIMIT
        else None,
    )


def _pick(data: Any, ok: Any) -> Any:
    return data[ok] if isinstance(data, np.ndarray) else data


def const_col(value: Any, t: str) -> Col:
    if t == V.BOOL or isinstance(value, bool):
        return Col("bool", bool(value))
    if t in DEFAULT_SCALE:
        i, s = scaled(value)
        s2 = max(s, DEFAULT_SCALE[t])
        return Col("num", i * 10 ** (s2 - s), s2)
    if isinstance(value, dt.date):
        return Col(
            "date", (value.date() if isinstance(value, dt.datetime) else value).toordinal() - EPOCH
        )
    return Col("cat", value)


_OPS = {
    "=": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
_PY = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _objects(col: Col, n: int) -> list:
    """The column as the Python values ``ir.evaluate`` would compare (None: absent)."""
    if isinstance(col.data, np.ndarray):
        return [col.python(i) for i in range(n)]
    return [_const_value(col)] * n


def _const_value(col: Col) -> Any:
    if col.kind == "num":
        return Decimal(int(col.data)).scaleb(-col.scale, CTX)
    if col.kind == "date":
        return dt.date.fromordinal(int(col.data) + EPOCH)
    return col.data


def _align(a: Col, b: Col) -> Any:
    s = max(a.scale, b.scale)
    return _up(a.data, s - a.scale), _up(b.data, s - b.scale), s


def _compare(op: str, a: Col, b: Col, n: int) -> np.ndarray:
    if a.kind == b.kind == "num":
        x, y, _ = _align(a, b)
        res = _OPS[op](x, y)
    elif a.kind == b.kind and a.kind in ("date", "bool"):
        res = _OPS[op](a.data, b.data)
    elif (
        a.kind == b.kind == "cat"
        and op in ("=", "!=")
        and (isinstance(a.data, str) or isinstance(b.data, str))
    ):
        arr, text = (a, b.data) if isinstance(b.data, str) else (b, a.data)
        if isinstance(arr.data, str):
            res = arr.data == text
        else:
            code = arr.cats.index(text) if text in arr.cats else -2
            res = arr.data == code
        if op == "!=":
            res = ~res if isinstance(res, np.ndarray) else not res
    else:  # anything else, as Python compares it (absent: equal to nothing)
        xs, ys = _objects(a, n), _objects(b, n)
        f = _PY[op]
        res = np.array(
            [
                (op == "!=") if x is None or y is None else bool(f(x, y))
                for x, y in zip(xs, ys, strict=True)
            ],
            dtype=bool,
        )
    res = np.full(n, bool(res)) if not isinstance(res, np.ndarray) else res.astype(bool, copy=False)
    for col in (a, b):
        if col.null is not None:
            res = np.where(col.null, op == "!=", res)
    return res


def _inset(o: Col, values: frozenset, n: int) -> np.ndarray:
    """Whether each row's value is one of ``values`` (absent: in no set)."""
    if not isinstance(o.data, np.ndarray):
        res = np.full(n, _const_value(o) in values)
    else:
        res = _INSET.get(o.kind, _inset_dates)(o, values, n)
    if o.null is not None:
        res = res & ~o.null
    return res


def _inset_cat(o: Col, values: frozenset, n: int) -> np.ndarray:
    """Categories: a look-up table over the column's categories (the last entry: absent)."""
    lut = np.zeros(len(o.cats) + 1, dtype=bool)
    for i, c in enumerate(o.cats):
        lut[i] = c in values
    return lut[o.data]


def _inset_num(o: Col, values: frozenset, n: int) -> np.ndarray:
    """Numbers: equal, at the larger scale, to one of the set's decimals."""
    res = np.zeros(n, dtype=bool)
    for v in values:
        if isinstance(v, Decimal):
            i, s = scaled(v)
            x, y, _ = _align(o, Col("num", i, s))
            res |= x == y
    return res


def _inset_bool(o: Col, values: frozenset, n: int) -> np.ndarray:
    res = np.zeros(n, dtype=bool)
    for v in values:
        if isinstance(v, bool):
            res |= o.data == v
    return res


def _inset_dates(o: Col, values: frozenset, n: int) -> np.ndarray:
    days = [v.toordinal() - EPOCH for v in values if isinstance(v, dt.date)]
    return np.isin(o.data, days)


# a column of values (not a constant) by its kind; any other kind holds days
_INSET = {"cat": _inset_cat, "num": _inset_num, "bool": _inset_bool}


class _Eval:
    """Expressions, conditions and decision tables over a selection of rows.

    Each returns ``(value, err)``: ``err`` is None or an int32 array with, per row, the
    code of the first problem (a missing field or parameter, no table row), -1 where
    none.  Evaluation order and short-circuits are ``ir.evaluate``'s, so a row reports
    the problem the reference would."""

    def __init__(
        self,
        field: Any,
        var: Any,
        params: dict,
        param_types: dict,
        errors: _Errors,
        optional: Iterable[str] = (),
    ) -> None:
        self.field, self.var, self.params, self.ptypes = field, var, params, param_types
        self.errors, self.optional = errors, frozenset(optional)
        self._luts: dict = {}

    def _missing(self, kind: str, name: str, n: int) -> Any:
        return np.full(n, self.errors.code(kind, name), dtype=np.int32)

    def expr(self, e, rows):
        n = len(rows)
        t = type(e)
        if t is ir.Const:
            return const_col(e.value, e.type), None
        if t is ir.Field or t is ir.Var:
            col = (self.field if t is ir.Field else self.var)(e.name, rows)
            if col is None:
                return Col("num", 0), self._missing("field", e.name, n)
            if col.null is not None and e.name not in self.optional and col.null.any():
                return col, np.where(col.null, self.errors.code("field", e.name), -1).astype(
                    np.int32
                )
            return col, None
        if t is ir.Param:
            value = self.params.get(e.name)
            ptype = self.ptypes.get(e.name, e.type)
            if value is None:
                dummy = {V.BOOL: False, V.DATE: dt.date(1970, 1, 1), V.TEXT: ""}.get(
                    ptype, Decimal(0)
                )
                return const_col(dummy, ptype), self._missing("param", e.name, n)
            return const_col(value, ptype), None
        if t is ir.Arith:
            a, ea = self.expr(e.left, rows)
            b, eb = self.expr(e.right, rows)
            if e.op == "*":
                return Col("num", _mul(a.data, b.data), a.scale + b.scale), _first(ea, eb)
            x, y, s = _align(a, b)
            return Col("num", _add(x, y) if e.op == "+" else _sub(x, y), s), _first(ea, eb)
        raise TypeError(e)

    def cond(self, x, rows):
        """A condition: one handler per kind of condition (``_COND_EVAL``)."""
        handler = _COND_EVAL.get(type(x))
        if handler is None:
            raise TypeError(x)
        return handler(self, x, rows)

    def _cmp(self, x: ir.Cmp, rows: np.ndarray) -> Any:
        a, ea = self.expr(x.left, rows)
        b, eb = self.expr(x.right, rows)
        return _compare(x.op, a, b, len(rows)), _first(ea, eb)

    def _in_set(self, x: ir.InSet, rows: np.ndarray) -> Any:
        o, e = self.expr(x.operand, rows)
        return _inset(o, x.values, len(rows)), e

    def _junction(self, x: ir.AllOf | ir.AnyOf, rows: np.ndarray) -> Any:
        """All of / any of the items, left to right: an item is evaluated (and its problems
        count) only on rows it could still decide."""
        n = len(rows)
        every = type(x) is ir.AllOf
        res = np.full(n, every)
        err = None
        for item in x.items:
            if n and (not res.any() if every else res.all()):
                break  # every row is decided: the rest can neither change it nor be a problem
            r, e = self.cond(item, rows)
            if e is not None:
                live = res if every else ~res
                if err is not None:
                    live = live & (err < 0)
                err = _first(err, np.where(live, e, -1).astype(np.int32))
            res = (res & r) if every else (res | r)
        return res, err

    def _negate(self, x: ir.Negate, rows: np.ndarray) -> Any:
        r, e = self.cond(x.item, rows)
        return ~r, e

    def _present(self, x: ir.Present, rows: np.ndarray) -> Any:
        """The record has a value for this (optional) field; never a problem."""
        n = len(rows)
        col = self.field(x.field, rows)
        if col is None:
            return np.zeros(n, dtype=bool), None
        if col.null is None:
            return np.ones(n, dtype=bool), None
        return ~col.null, None

    def value(self, v, rows):
        """A value or a decision table (first matching row; NoRow where none matches)."""
        if type(v) is not ir.Decide:
            return self.expr(v, rows)
        arm_of, err = self._lut_arms(v, rows)
        if arm_of is None:
            arm_of, err = self._arms(v, rows)
        norow = arm_of < 0
        if err is not None:
            norow &= err < 0
        if norow.any():
            err = _first(err, np.where(norow, self.errors.code("norow"), -1).astype(np.int32))
        return self._arm_values(v, rows, arm_of, err)

    def _arms(self, v: ir.Decide, rows: np.ndarray) -> Any:
        """(the row of the table that holds per record, -1: none; problems): the rows'
        conditions in order, each over the records no earlier row decided."""
        n = len(rows)
        arm_of = np.full(n, -1, dtype=np.int64)
        err = None
        for ai, arm in enumerate(v.arms):
            live = arm_of < 0
            if err is not None:
                live &= err < 0
            if not live.any():
                break
            c, e = self.cond(arm.when, rows)
            if e is not None:
                err = _first(err, np.where(live, e, -1).astype(np.int32))
                live &= e < 0
            arm_of[live & c] = ai
        return arm_of, err

    def _arm_values(self, v: ir.Decide, rows: np.ndarray, arm_of: Any, err: Any) -> Any:
        """Each table row's value over the records it holds for, as one column."""
        n = len(rows)
        parts = []
        for ai, arm in enumerate(v.arms):
            at = np.flatnonzero(arm_of == ai)
            if len(at):
                col, e = self.expr(arm.value, rows[at])
                parts.append((at, col))
                if e is not None:
                    full = np.full(n, -1, dtype=np.int32)
                    full[at] = e
                    err = _first(err, full)
        return _assemble(parts, n, v.type), err

    def _lut_arms(self, v: ir.Decide, rows: np.ndarray) -> Any:
        """A table whose every row tests one categorical field for membership: a look-up."""
        key = id(v)
        if key not in self._luts:  # None: not such a table (remembered too)
            self._luts[key] = _single_field_table(v)
        spec = self._luts[key]
        if spec is None:
            return None, None
        name, mapping = spec
        col = self.field(name, rows)
        if (
            col is None
            or col.kind != "cat"
            or not isinstance(col.data, np.ndarray)
            or (col.null is not None and col.null.any())
        ):
            return None, None
        lut = np.array([mapping.get(c, -1) for c in col.cats] + [-1], dtype=np.int64)
        return lut[col.data], None

    def points(self, adjustments, rows):
        """The points (1/10000) of every adjustment whose condition holds; all are evaluated."""
        n = len(rows)
        total = np.zeros(n, dtype=np.int64)
        err = None
        for adj in adjustments:
            c, e = self.cond(adj.when, rows)
            err = _first(err, e)
            p, e = self._points(adj, rows)
            err = _first(err, e)
            total = total + np.where(c, p, 0)
        return total, err

    def _points(self, adj, rows):
        """An adjustment's points in 1/10000: a constant, or a parameter's (an expression)."""
        if type(adj.points) is not Decimal:
            col, e = self.expr(adj.points, rows)
            if col.scale > 4:
                raise NotImplementedError("columnar: points with more than 4 decimals")
            return _up(col.data, 4 - col.scale), e
        p = adj.points.scaleb(4, CTX)
        if p != p.to_integral_value(context=CTX):
            raise NotImplementedError("columnar: an uplift with more than 4 decimals as a fraction")
        return int(p), None


# one handler per kind of condition (``_Eval.cond``)
_COND_EVAL: dict[type, Any] = {
    ir.Cmp: _Eval._cmp,
    ir.InSet: _Eval._in_set,
    ir.AllOf: _Eval._junction,
    ir.AnyOf: _Eval._junction,
    ir.Negate: _Eval._negate,
    ir.Present: _Eval._present,
}


def _single_field_table(v: ir.Decide) -> Any:
    field: str | None = None
    mapping: dict[Any, Any] = {}
    for ai, arm in enumerate(v.arms):
        w = arm.when
        if type(w) is ir.AllOf and len(w.items) == 1:
            w = w.items[0]
        if type(w) is ir.InSet and type(w.operand) is ir.Field:
            name, values = w.operand.name, set(w.values)
        elif (
            type(w) is ir.Cmp
            and w.op == "="
            and type(w.left) is ir.Field
            and type(w.right) is ir.Const
        ):
            name, values = w.left.name, {w.right.value}
        else:
            return None
        if field is None:
            field = name
        elif name != field:
            return None
        for value in values:
            mapping.setdefault(value, ai)  # the first row that matches wins
    return field, mapping


def _assemble(parts: list, n: int, t: str) -> Col:
    """One column from the values of a table's rows, each over some positions."""
    if not parts:
        return (
            Col("num", np.zeros(n, dtype=np.int64), DEFAULT_SCALE.get(t, 0))
            if t in DEFAULT_SCALE
            else Col("cat", np.full(n, -1, dtype=np.int32), cats=())
        )
    kind = parts[0][1].kind
    if kind == "num":
        scale = max(c.scale for _, c in parts)
        values = [_up(c.data, scale - c.scale) for _, c in parts]
        wide = any(
            isinstance(x, np.ndarray)
            and x.dtype == object
            or not isinstance(x, np.ndarray)
            and abs(int(x)) >= LIMIT
            for x in values
        )
        out = np.zeros(n, dtype=object if wide else np.int64)
        for (at, _), x in zip(parts, values, strict=True):
            out[at] = x
        return Col("num", out, scale)
    if kind == "cat":
        cats = tuple(
            dict.fromkeys(
                c.data if isinstance(c.data, str) else x
                for _, c in parts
                for x in ((c.data,) if isinstance(c.data, str) else c.cats)
            )
        )
        out = np.full(n, -1, dtype=np.int32)
        for at, c in parts:
            if isinstance(c.data, str):
                out[at] = cats.index(c.data)
            else:
                remap = np.array([cats.index(x) for x in c.cats] + [-1], dtype=np.int32)
                out[at] = remap[c.data]
        return Col("cat", out, cats=cats)
    out = np.zeros(n, dtype=bool if kind == "bool" else np.int64)
    for at, c in parts:
        out[at] = c.data
    return Col(kind, out)


def _amount_key(v):
    """A value without its provenance: two versions with the same amount compare equal."""
    if type(v) is ir.Decide:
        return ("decide", tuple((arm.when, arm.value) for arm in v.arms))
    return v


# ---- the plan ---------------------------------------------------------------------------------


@attrs.frozen
class PlanStep:
    """How one counter step (or the account) is computed, for every version it appears in."""

    kind: str  # deductible | cap | bands | account
    counters: tuple[str, ...]  # the counters that carry (none for per-visit ones)
    versions: tuple[str, ...]  # the start of each version the step is in
    method: str  # closed_form | sequential | per_visit | row_by_row
    why: str

    def __str__(self) -> str:
        what = " " + ", ".join(self.counters) if self.counters else ""
        where = f" (versions from {', '.join(self.versions)})" if self.versions else ""
        return f"{self.kind}{what}{where}: {self.method} -- {self.why}"


class _Node:
    def __init__(self, kind: str, positions: list, counters: list):
        self.kind, self.positions, self.counters = kind, positions, counters
        self.method, self.why = "sequential", ""


def _point_text(p: Any) -> str:
    return p.isoformat() if isinstance(p, dt.date) else str(p)


def _check_counters(policy: ir.Policy, prog: ir.Program) -> None:
    """A counter kept per field is kept per an enumeration or a bool (its codes key it)."""
    types = {**V.VISIT_FIELDS, **{k: t for k, (t, _) in policy.inputs.items()}}
    for c in prog.counters:
        if c.each is not None and not (
            types.get(c.each) in policy.vocab.enums or types.get(c.each) == V.BOOL
        ):
            raise NotImplementedError(
                f"columnar: counter {c.id} is kept per {c.each}, which is neither an "
                "enumeration nor a bool"
            )


# the steps the program may hold outside its dated versions, by where
_UNVERSIONED: dict[str, tuple[type, ...]] = {
    "prelude": (ir.Let,),
    "otherwise": (ir.Let, ir.Gate),
    "postlude": (ir.Let, ir.AccountPay),
}


def _check_unversioned(prog: ir.Program) -> None:
    for where, steps in (
        ("prelude", prog.prelude),
        ("otherwise", prog.otherwise),
        ("postlude", prog.postlude),
    ):
        for s in steps:
            if not isinstance(s, _UNVERSIONED[where]):
                raise NotImplementedError(f"columnar: a {type(s).__name__} step in the {where}")


def _check_versioned(prog: ir.Program) -> None:
    """No account, credit or decision step within a version; shares round to whole fen."""
    for block in prog.blocks:
        for s in block.steps:
            if isinstance(s, (ir.AccountPay, ir.CreditRules, ir.Decision)):
                raise NotImplementedError(f"columnar: a {type(s).__name__} step within a version")
            if isinstance(s, ir.Share):
                q = s.rounding.quantum.scaleb(2, CTX)
                if q != q.to_integral_value(context=CTX) or q <= 0:
                    raise NotImplementedError("columnar: rounding to less than a fen")


_COUNTER_KINDS = {ir.Consume: "deductible", ir.BandShare: "bands", ir.Limit: "cap"}


def _carrying(step: Any, counters: dict) -> list[str]:
    """The counters a counter step charges that carry from visit to visit (not per visit)."""
    if isinstance(step, (ir.Consume, ir.BandShare)):
        ids = [step.counter]
    elif isinstance(step, ir.Limit):
        ids = [c.counter for c in step.caps]
    else:
        return []
    return [i for i in ids if counters[i].period != "visit"]


def _counter_steps(prog: ir.Program, counters: dict) -> tuple[Callable[[str], str], list]:
    """(the root of a counter's set, [(block, step index, step, counters that carry)] of every
    counter step in program order): counters one step charges together are joined in one set."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    counter_positions = []
    for b, block in enumerate(prog.blocks):
        for k, step in enumerate(block.steps):
            if type(step) in _COUNTER_KINDS:
                ids = _carrying(step, counters)
                for i in ids[1:]:
                    parent[find(i)] = find(ids[0])
                for i in ids:
                    find(i)
                counter_positions.append((b, k, step, ids))
    return find, counter_positions


class _Plan:
    """The settle program's schedule: each step of each version once, counter steps merged
    across the versions that share a counter, in an order that respects every version's
    step order (a topological order; cycles become row-by-row groups)."""

    def __init__(self, policy: ir.Policy):
        prog = policy.programs["settle"]
        self.program = prog
        counters = {c.id: c for c in prog.counters}
        self.counters = counters
        _check_counters(policy, prog)
        _check_unversioned(prog)
        self.banded = frozenset(
            b
            for b, block in enumerate(prog.blocks)
            if any(isinstance(s, ir.BandShare) for s in block.steps)
        )
        _check_versioned(prog)
        self.node_of: dict[tuple[int, int], _Node] = {}
        nodes = self._nodes(prog, counters)
        for node in nodes:
            if node.method != "per_visit":
                self._choose(node, prog, counters, policy)
        self.nodes = nodes
        self._schedule(prog)

    def _nodes(self, prog: ir.Program, counters: dict) -> list[_Node]:
        """The counter steps as nodes: counters charged together (one Limit) or shared across
        versions form one node; a step whose counters are all per visit is a node of its own.
        Fills ``node_of`` (block, step) -> node."""
        find, counter_positions = _counter_steps(prog, counters)
        nodes: list[_Node] = []
        by_root: dict[str, _Node] = {}
        for b, k, step, ids in counter_positions:
            kind = _COUNTER_KINDS[type(step)]
            if not ids:
                node = _Node(kind, [(b, k)], [])
                node.method, node.why = (
                    "per_visit",
                    "a counter per visit carries nothing from one visit to the next",
                )
                nodes.append(node)
            else:
                root = find(ids[0])
                found = by_root.get(root)
                if found is None:
                    found = by_root[root] = _Node(kind, [], [])
                    nodes.append(found)
                node = found
                node.positions.append((b, k))
                for i in ids:
                    if i not in node.counters:
                        node.counters.append(i)
            self.node_of[(b, k)] = node
        return nodes

    # -- which method, and why
    def _choose(self, node: _Node, prog: ir.Program, counters: dict, policy: ir.Policy) -> None:
        steps = [prog.blocks[b].steps[k] for b, k in node.positions]
        if node.kind == "bands":
            node.method = "closed_form"
            node.why = (
                "what accumulates is the amount itself, whatever the bands: the amount before a "
                "visit is an "
                "exclusive running sum within the counter key"
            )
            return
        if node.kind == "deductible":
            cid = node.counters[0]
            amounts = [s.amount for s in steps]
        else:
            per_step = [[c for c in s.caps if counters[c.counter].period != "visit"] for s in steps]
            many = [caps for caps in per_step if len(caps) > 1]
            if many or len(node.counters) > 1:
                names = ", ".join(node.counters)
                node.method = "sequential"
                node.why = (
                    f"caps that carry ({names}) limit one payment together: each one's room "
                    "depends on what "
                    "the others let through, so no cap can be computed on its own"
                )
                return
            cid = node.counters[0]
            amounts = [caps[0].amount for caps in per_step]
        counter = counters[cid]
        keys = {_amount_key(a) for a in amounts}
        reads = set(fields_read(amounts[0]))
        allowed = {counter.each} if counter.each else set()
        what = "deductible" if node.kind == "deductible" else "cap"
        if len(keys) > 1:
            node.method = "sequential"
            node.why = (
                f"the versions that share {cid} set different amounts, so the amount varies "
                "within a key"
            )
        elif not reads <= allowed:
            node.method = "sequential"
            node.why = (
                f"the {what} amount reads {', '.join(sorted(reads - allowed))} but the counter is "
                "kept "
                f"{'per ' + counter.each if counter.each else 'across them'}: it varies within a "
                "key"
            )
        elif node.kind == "deductible":
            node.method = "closed_form"
            node.why = (
                "one amount D per counter key: take_i = min(D, I_i) - min(D, I_(i-1)), I the "
                "running "
                "in-policy amount within the key"
            )
        else:
            node.method = "closed_form"
            node.why = (
                "one cap C that carries, constant within its key (per-visit caps cut the share "
                "first): "
                "fund_i = min(C, S_i) - min(C, S_(i-1)), S the running rounded share within the key"
            )

    # -- the order of execution
    def _schedule(self, prog: ir.Program) -> None:
        """``schedule``: the items to run in turn -- ("pos", block, step) a step without a
        counter, ("node", node) a counter node, ("joint", {block: (first, last step)}) steps
        that depend on each other across versions -- and ``joint``: whether any is joint."""
        items, first, edges, repeated = self._step_graph(prog)
        sccs = _tarjan(len(items), edges)
        cedges, indeg = _condensed(sccs, edges)
        heap = [(min(first[m] for m in sccs[ci]), ci) for ci in range(len(sccs)) if indeg[ci] == 0]
        heapq.heapify(heap)
        schedule = []
        while heap:
            _, ci = heapq.heappop(heap)
            members = sccs[ci]
            if len(members) == 1 and members[0] not in repeated:
                schedule.append(items[members[0]])
            else:
                schedule.append(("joint", _joint_ranges([items[m] for m in members])))
            for cj in cedges[ci]:
                indeg[cj] -= 1
                if indeg[cj] == 0:
                    heapq.heappush(heap, (min(first[m] for m in sccs[cj]), cj))
        self.schedule = schedule
        self.joint = any(item[0] == "joint" for item in schedule)

    def _step_graph(self, prog: ir.Program) -> tuple[list, list, dict[int, set], set]:
        """The steps as a graph: (items -- a counter node once, or a position --, the first
        (step, block) of each, edges from each item to the next one in some version, the
        items a version reaches twice)."""
        gid: dict = {}
        items: list = []
        first: list = []

        def node_id(b: int, k: int) -> int:
            node = self.node_of.get((b, k))
            key = ("node", id(node)) if node is not None else ("pos", b, k)
            if key not in gid:
                gid[key] = len(items)
                items.append(("node", node) if node is not None else ("pos", b, k))
                first.append((k, b))
            return gid[key]

        edges: dict[int, set] = {}
        repeated = set()
        for b, block in enumerate(prog.blocks):
            seen = set()
            prev = None
            for k in range(len(block.steps)):
                g = node_id(b, k)
                if g in seen:
                    repeated.add(g)
                seen.add(g)
                edges.setdefault(g, set())
                if prev is not None and prev != g:
                    edges[prev].add(g)
                prev = g
        return items, first, edges, repeated

    def steps(self) -> tuple[PlanStep, ...]:
        prog = self.program
        out = []
        for node in self.nodes:
            if node.kind == "cap" and not any(
                prog.blocks[b].steps[k].caps for b, k in node.positions
            ):
                continue  # a version without caps: the share is paid as it is
            versions = tuple(
                dict.fromkeys(_point_text(prog.blocks[b].start) for b, _ in node.positions)
            )
            out.append(PlanStep(node.kind, tuple(node.counters), versions, node.method, node.why))
        if any(isinstance(s, ir.AccountPay) for s in prog.postlude):
            out.append(
                PlanStep(
                    "account",
                    (),
                    (),
                    "closed_form",
                    "between two given balances, balance_i = B - min(B, P_i) with P the running "
                    "amount "
                    "the account may pay, so pay_i = min(B, P_i) - min(B, P_(i-1))",
                )
            )
        return tuple(out)


def _condensed(sccs: list[list[int]], edges: dict[int, set]) -> tuple[dict[int, set], list[int]]:
    """The graph of the strongly connected components: (edges, in-degree of each)."""
    comp = {}
    for ci, members in enumerate(sccs):
        for m in members:
            comp[m] = ci
    cedges: dict[int, set] = {ci: set() for ci in range(len(sccs))}
    indeg = [0] * len(sccs)
    for u, vs in edges.items():
        for v in vs:
            if comp[u] != comp[v] and comp[v] not in cedges[comp[u]]:
                cedges[comp[u]].add(comp[v])
                indeg[comp[v]] += 1
    return cedges, indeg


def _joint_ranges(items: list) -> dict[int, tuple]:
    """The steps of a cycle (or of a node a version reaches twice), run row by row: per block
    the first and last step index they span.  Their nodes become ``row_by_row``."""
    ranges: dict[int, list] = {}
    for item in items:
        positions = item[1].positions if item[0] == "node" else [(item[1], item[2])]
        for b, k in positions:
            lo_hi = ranges.setdefault(b, [k, k])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], k), max(lo_hi[1], k)
            if item[0] == "node":
                item[1].method = "row_by_row"
                item[1].why = (
                    "the versions charge these counters in different orders, so each "
                    "visit "
                    "runs these steps before the next visit does"
                )
    return {b: tuple(r) for b, r in ranges.items()}


def _tarjan(n: int, edges: dict[int, set]) -> list[list[int]]:
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v: int) -> None:  # the graphs are a few dozen nodes: recursion is fine
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on.discard(w)
                members.append(w)
                if w == v:
                    break
            out.append(sorted(members))

    for v in range(n):
        if v not in index:
            visit(v)
    return out


# ---- one settle run ---------------------------------------------------------------------------


def _bucket(period: str, days: np.ndarray) -> np.ndarray:
    """The period bucket of each day (year; months since 1970-01; the day), through a table of
    the days spanned (a datetime64 cast per row is much slower)."""
    if period == "day" or not len(days):
        return days
    lo, hi = int(days.min()), int(days.max())
    span = np.arange(lo, hi + 1).astype("datetime64[D]")
    if period == "year":
        lut = span.astype("datetime64[Y]").astype(np.int64) + 1970
    else:
        lut = span.astype("datetime64[M]").astype(np.int64)
    return lut[days - lo]


def _bucket_out(period: str, b: int) -> Any:
    if period == "year":
        return b
    if period == "month":
        return (1970 + b // 12, b % 12 + 1)
    return dt.date.fromordinal(b + EPOCH)


def _bucket_in(period: str, value: Any) -> int | None:
    if period == "year" and isinstance(value, int):
        return value
    if period == "month" and isinstance(value, tuple):
        return (value[0] - 1970) * 12 + value[1] - 1
    if period == "day" and isinstance(value, dt.date):
        return value.toordinal() - EPOCH
    return None


class _Var:
    """A program variable over every row (sorted order), allocated when first written: until
    then every row holds the initial value (0, or absent for a variable starting as None)."""

    __slots__ = ("n", "scale", "data", "null", "nullable")

    def __init__(self, n: int, scale: int, nullable: bool):
        self.n, self.scale, self.nullable = n, scale, nullable
        self.data: np.ndarray | None = None  # None: 0 everywhere
        self.null: np.ndarray | None = None  # None: absent everywhere if nullable, else nowhere

    def values(self, rows):
        """The values at ``rows`` (every row: the array itself; never write into it)."""
        if self.data is None:
            return np.zeros(len(rows), dtype=np.int64)
        return self.data if len(rows) == self.n else self.data[rows]

    def nulls(self, rows):
        if not self.nullable:
            return None
        if self.null is None:
            return np.ones(len(rows), dtype=bool)
        return self.null if len(rows) == self.n else self.null[rows]

    def everywhere(self):
        """(values, absent or None) over every row."""
        data = self.data if self.data is not None else np.zeros(self.n, dtype=np.int64)
        if not self.nullable:
            return data, None
        return data, self.null if self.null is not None else np.ones(self.n, dtype=bool)

    def store(self, rows: np.ndarray, values: Any, owned: bool) -> None:
        """``owned``: ``values`` is a fresh array no other variable holds (it is kept as is)."""
        wide = isinstance(values, np.ndarray) and values.dtype == object
        if len(rows) == self.n:  # every row
            if not isinstance(values, np.ndarray):
                values = np.full(self.n, values, dtype=object if wide else np.int64)
            elif not owned or (values.dtype != np.int64 and not wide):
                values = np.array(values, dtype=object if wide else np.int64)
            self.data = values
            if self.nullable:
                self.null = np.zeros(self.n, dtype=bool)
            return
        if self.data is None:
            self.data = np.zeros(self.n, dtype=object if wide else np.int64)
        elif wide and self.data.dtype != object:
            self.data = self.data.astype(object)
        self.data[rows] = values
        if self.nullable:
            if self.null is None:
                self.null = np.ones(self.n, dtype=bool)
            self.null[rows] = False


def block_index(prog: ir.Program, days: np.ndarray, params: dict, policy: ir.Policy) -> np.ndarray:
    """The block in force per row (-1: none), as ``common.block_at``: among the blocks whose
    dates contain the day, the one with the latest start (ties: the later in the program)."""
    n = len(days)
    blk = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return blk
    best = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)

    def point(p):
        if p is None:
            return None
        if isinstance(p, str):
            got = params.get(p)
            if got is None:
                raise missing_param(p, policy)
            p = got
        return p.toordinal() - EPOCH

    for b, block in enumerate(prog.blocks):
        start, until = point(block.start), point(block.until)
        m = (days >= start) & (best <= start)
        if until is not None:
            m &= days <= until
        blk[m] = b
        best[m] = start
    return blk


class _Run:
    """Settles one batch: rows sorted into execution order, steps run over columns."""

    def __init__(
        self,
        eng: "Columnar",
        vis: Visits,
        params: dict,
        state: dict | None,
        journal: list | None = None,
    ):
        self.eng, self.vis, self.params = eng, vis, params
        self.policy = eng.policy
        self.plan: _Plan = eng._plan
        prog = self.program = self.plan.program
        n = self.n = vis.n
        self.order = vis.order()
        self.P = vis.psn[self.order]
        self.D = vis.day[self.order]
        self.all = np.arange(n)
        # the fields in settlement order, shared by every policy settling these visits
        self._sorted: dict[str, Col] = vis.memo.setdefault("sorted", {})
        self.errors = _Errors()
        self.err = np.full(n, -1, dtype=np.int32)
        self.failed = np.zeros(n, dtype=bool)
        self.gated = np.zeros(n, dtype=bool)
        self.reason = np.full(n, -1, dtype=np.int8)
        self._active: dict[int, np.ndarray] = {}
        self.vars: dict[str, _Var] = {}
        bands_exact = {s.exact for b in prog.blocks for s in b.steps if isinstance(s, ir.BandShare)}
        for name, t, init in prog.variables:
            scale = 6 if name in bands_exact else (4 if t in (V.PERCENT, V.POINTS) else 2)
            self.vars[name] = _Var(n, scale, init is None)
        self.state = state
        self.journal = journal
        self._charges: list | None = (
            [] if journal is not None else None
        )  # (counter id, rows, fen, step key)
        self.keep = state is not None or self.plan.joint
        self.used: dict[str, dict] = {}
        self.balances: dict[int, int] = {}
        self._buckets: dict[str, np.ndarray] = {}
        self._groups: dict[tuple, tuple] = {}
        if state is not None:
            self._load(state)
        self.types = field_types(self.policy)
        self.ev = _Eval(self._field, self._var, params, self.policy.params, self.errors)

    # -- columns
    def _field(self, name: str, rows: np.ndarray) -> Col | None:
        if name in self.vis.absent:  # no visit has it: nothing to sort or select
            return absent_col(self.types[name], len(rows), self.policy.vocab)
        col = self._sorted.get(name)
        if col is None:
            raw = self.vis.cols.get(name)
            if raw is None:
                return None
            col = self._sorted[name] = raw.take(self.order)
        return col if len(rows) == self.n else col.take(rows)

    def _var(self, name: str, rows: np.ndarray) -> Col | None:
        v = self.vars.get(name)
        if v is None:
            return None
        return Col("num", v.values(rows), v.scale, null=v.nulls(rows))

    def _store(self, name: str, rows: np.ndarray, values: Any, scale: int) -> None:
        v = self.vars[name]
        if scale > v.scale:
            raise NotImplementedError(f"columnar: {name} would need more than {v.scale} decimals")
        scaled_up = _up(values, v.scale - scale)
        # a full-row value is kept as it is unless another variable or a field column holds it
        # (a Let copying one): variables are written in place later
        owned = scaled_up is not values or not (
            any(values is w.data for w in self.vars.values())
            or any(values is c.data for c in self._sorted.values())
        )
        v.store(rows, scaled_up, owned)

    def _vdata(self, name: str, rows: np.ndarray) -> Any:
        return self.vars[name].values(rows)

    # -- problems and rows still running
    def _fail(self, rows, err):
        """Record the rows' first problems; returns the mask of rows without one (None: all)."""
        if err is None:
            return None
        bad = err >= 0
        if not bad.any():
            return None
        r, e = rows[bad], err[bad]
        for code in np.unique(e).tolist():
            kind = self.errors.kinds[code]
            if kind[0] == "param":
                raise missing_param(kind[1], self.policy)
        fresh = self.err[r] < 0
        self.err[r[fresh]] = e[fresh]
        self.failed[r] = True
        self._active.clear()
        return ~bad

    def active(self, b: int) -> np.ndarray:
        got = self._active.get(b)
        if got is None:
            rows = self.block_rows[b]
            got = self._active[b] = rows[~(self.failed[rows] | self.gated[rows])]
        return got

    # -- the run
    def run(self) -> None:
        prog = self.program
        self.blk = block_index(prog, self.D, self.params, self.policy)
        self.block_rows = [np.flatnonzero(self.blk == b) for b in range(len(prog.blocks))]
        for step in prog.prelude:
            self._simple(step, self.all)
        self._not_in_force()
        for item in self.plan.schedule:
            _SCHEDULED[item[0]](self, item)
        self._postlude()
        if self.state is not None:
            self._save(self.state)

    def _not_in_force(self) -> None:
        """Visits no version covers: the ``otherwise`` steps but its gates, then the reason."""
        none = np.flatnonzero(self.blk < 0)
        if len(none):
            for step in self.program.otherwise:
                if not isinstance(step, ir.Gate):
                    self._simple(step, none[~self.failed[none]])
            self.reason[none] = REASONS.index("not_in_force")

    def _position(self, item: tuple) -> None:
        """A step without a counter, over its version's rows still running."""
        _, b, k = item
        self._simple(self.program.blocks[b].steps[k], self.active(b))

    def _node_item(self, item: tuple) -> None:
        self._node(item[1], None)

    def _joint_item(self, item: tuple) -> None:
        self._joint(item[1])

    def _postlude(self) -> None:
        """The steps after the versions (the personal account), over every row not failed."""
        rows = np.flatnonzero(~self.failed)
        for step in self.program.postlude:
            if isinstance(step, ir.AccountPay):
                self._account(step, rows)
            else:
                self._simple(step, rows)
            rows = rows[~self.failed[rows]]

    @functools.cached_property
    def seq(self) -> np.ndarray:
        """Each visit's place in its person's operations (sorted order): what the person had
        done before the call (``state["seq"]``) plus its place among the person's visits here."""
        n = self.n
        if not n:
            return np.zeros(0, dtype=np.int64)
        starts = np.ones(n, dtype=bool)
        starts[1:] = self.P[1:] != self.P[:-1]
        first = np.flatnonzero(starts)
        seg = np.cumsum(starts) - 1
        seq = np.arange(1, n + 1, dtype=np.int64) - first[seg]
        if self.state is not None and self.state["seq"]:
            names, before = self.vis.names, self.state["seq"]
            prior = np.array(
                [before.get(names[p], 0) for p in self.P[first].tolist()], dtype=np.int64
            )
            seq += prior[seg]
        return seq

    # -- the journal of counter charges
    def _charge(self, cid: str, rows: np.ndarray, amounts: Any, step_key: Any) -> None:
        """The counter ``cid`` is charged ``amounts`` at ``rows`` (sorted positions), for the
        journal; ``step_key`` orders charges within a visit (the step, then the cap)."""
        if self._charges is None or not len(rows) or self.plan.counters[cid].period == "visit":
            return
        self._charges.append((cid, rows, amounts, step_key))

    def write_journal(self) -> None:
        """``(index, ledger key, fen)`` of every charge, in the order the reference interpreter
        appends them: visits by ``setl_time`` then input row (``common.settle_order``; persons
        are independent, so this backend's order by person gives the same amounts), and
        within a visit the order of the steps."""
        if not self._charges or self.journal is None:
            return
        names, order = self.vis.names, self.order.tolist()
        vis = self.vis
        by_time = np.lexsort((np.arange(self.n), vis.tod, vis.day))
        rank = np.empty(self.n, dtype=np.int64)
        rank[by_time] = np.arange(self.n)
        rank_of = rank[self.order].tolist()  # sorted position -> place in time order
        entries = []
        for cid, rows, amounts, step_key in self._charges:
            counter = self.plan.counters[cid]
            P, B, E = self._keys(counter, rows)
            each = self._each_value(counter)
            keys = step_key.tolist() if isinstance(step_key, np.ndarray) else repeat(step_key)
            # endless without an `each` field, so the zip below is not strict
            es = E.tolist() if E is not None else repeat(-1)
            for pos, p, b, e, f, k in zip(
                rows.tolist(),
                P.tolist(),
                B.tolist(),
                es,
                np.asarray(amounts).tolist(),
                keys,
                strict=False,
            ):
                entries.append(
                    (
                        rank_of[pos],
                        k,
                        (
                            order[pos],
                            (names[p], cid, _bucket_out(counter.period, b), each(e)),
                            int(f),
                        ),
                    )
                )
        entries.sort(key=lambda x: (x[0], x[1]))
        self.journal.extend(x[2] for x in entries)

    def _each_value(self, counter: ir.Counter) -> Any:
        """Code of the ``each`` field (-1: absent) -> the value a ledger key holds."""
        col = self.vis.cols.get(counter.each) if counter.each else None
        if col is None:
            return lambda e: None
        if col.kind == "cat":
            cats = col.cats
            return lambda e: None if e < 0 else cats[e]
        return lambda e: None if e < 0 else bool(e)

    # -- steps without counters
    def _simple(self, step: Any, rows: np.ndarray) -> None:
        if not len(rows):
            return
        t = type(step)
        ev = self.ev
        if t is ir.Let:
            col, err = ev.expr(step.expr, rows)
            ok = self._fail(rows, err)
            data = _full(col.data, len(rows))
            if ok is not None:
                rows, data = rows[ok], data[ok]
            self._store(step.var, rows, data, col.scale)
        elif t is ir.Gate:
            c, err = ev.cond(step.cond, rows)
            ok = self._fail(rows, err)
            stop = ~c if ok is None else ~c & ok
            r = rows[stop]
            self.reason[r] = REASONS.index(step.reason)
            self.gated[r] = True
            self._active.clear()
        elif t is ir.Ratio:
            col, err = ev.value(step.value, rows)
            pts, e2 = ev.points(step.adjustments, rows)
            ok = self._fail(rows, _first(err, e2))
            if col.scale > 4:
                raise NotImplementedError(
                    "columnar: a ratio with more than 4 decimals as a fraction"
                )
            r = _up(_full(col.data, len(rows)), 4 - col.scale) + pts
            if ok is not None:
                rows, r = rows[ok], r[ok]
            rows, r = self._ratio_check(rows, r)
            rows, r = self._bounds(step, rows, r)
            self._store(step.out, rows, r, 4)
        elif t is ir.Share:
            self._share(step, rows)
        elif t is ir.Outcome:
            self._outcome(step, rows)
        else:  # a counter step outside the plan's nodes cannot happen (checked in _Plan)
            raise NotImplementedError(type(step).__name__)

    def _bounds(self, step: ir.Ratio, rows: Any, r: np.ndarray) -> tuple[Any, np.ndarray]:
        """A floor raises the ratio to it, a ceiling lowers it to it (in 1/10000)."""
        for b in step.bounds:
            col, err = self.ev.value(b.value, rows)
            ok = self._fail(rows, err)
            if ok is not None:
                rows, r, col = rows[ok], r[ok], Col(col.kind, _pick(col.data, ok), col.scale)
            lim = _up(_full(col.data, len(rows)), 4 - col.scale)
            r = np.maximum(r, lim) if b.kind == "floor" else np.minimum(r, lim)
        return rows, r

    def _ratio_check(self, rows, r):
        bad = (r < 0) | (r > 10000)
        if not bad.any():
            return rows, r
        err = np.full(len(rows), -1, dtype=np.int32)
        for i in np.flatnonzero(bad).tolist():
            err[i] = self.errors.code("bad", _ratio_msg(int(r[i])))
        ok = self._fail(rows, err)
        return rows[ok], r[ok]

    def _share(self, step: ir.Share, rows: np.ndarray) -> None:
        qf = int(step.rounding.quantum.scaleb(2, CTX))
        if step.exact:
            x, sx = self._vdata(step.exact, rows), self.vars[step.exact].scale
        else:
            ratio = self.vars[step.ratio]
            absent = ratio.nulls(rows)
            if absent is not None and absent.any():
                err = np.where(absent, self.errors.code("field", step.ratio), -1).astype(np.int32)
                ok = self._fail(rows, err)
                rows = rows[ok]
            base = self.vars[step.base]
            x, sx = _mul(base.values(rows), ratio.values(rows)), base.scale + ratio.scale
        if sx < 2:
            x, sx = _up(x, 2 - sx), 2
        unit = qf * 10 ** (sx - 2)
        if len(x) and (x.dtype != object and x.min() >= 0) and step.rounding.mode == "half_up":
            units = (
                (x + unit // 2) // unit
                if _maxabs(x) + unit < LIMIT
                else (_wide(x) + unit // 2) // unit
            )
        else:
            units = round_units(x, unit, step.rounding.mode)
        self._store(step.out, rows, _mul(units, qf), 2)

    def _outcome(self, step: ir.Outcome, rows: np.ndarray) -> None:
        z = rows[self._vdata(step.fund, rows) == 0]
        decided = np.zeros(len(z), dtype=bool)
        err = None
        for reason, cond in step.reasons:
            if not len(z) or decided.all():
                break
            c, e = self.ev.cond(cond, z)
            live = ~decided if err is None else ~decided & (err < 0)
            if e is not None:
                err = _first(err, np.where(live, e, -1).astype(np.int32))
                live &= e < 0
            hit = live & c
            self.reason[z[hit]] = REASONS.index(reason)
            decided |= hit
        self._fail(z, err)

    # -- counters
    def _keys(self, counter: ir.Counter, rows: np.ndarray) -> Any:
        buckets = self._buckets.get(counter.period)
        if buckets is None:
            buckets = self._buckets[counter.period] = _bucket(counter.period, self.D)
        P = self.P[rows]
        B = buckets[rows]
        if counter.each is None:
            return P, B, None
        col = self._field(counter.each, rows)
        if col is None:
            return P, B, np.full(len(rows), -1, dtype=np.int64)
        E = (
            col.data.astype(np.int64)
            if isinstance(col.data, np.ndarray)
            else np.full(len(rows), col.data)
        )
        if col.null is not None:
            E = np.where(col.null, -1, E)
        return P, B, E

    def _prior(self, cid: str, P: Any, B: Any, E: Any) -> Any:
        """What each listed key used before (from earlier calls or rows), or None when nothing."""
        book = self.used.get(cid)
        if not book:
            return None
        # endless without an `each` field, so the zip below is not strict
        es = E.tolist() if E is not None else repeat(None)
        return _int_list(
            [book.get((p, b, e), 0) for p, b, e in zip(P.tolist(), B.tolist(), es, strict=False)]
        )

    def _group(self, cid: str, rows: np.ndarray, x: Any) -> Any:
        """Rows (ascending) put so that each counter key is contiguous, in execution order within
        it: (perm or None, x permuted, key columns, segment starts, first row of each key, the
        segment of each row, what each key used before the call or None).  Counters with the
        same period and separation over the same rows (a deductible and a cap) share it."""
        counter = self.plan.counters[cid]
        cache_key = (id(rows), counter.period, counter.each)
        got = self._groups.get(cache_key)
        if got is None or got[0] is not rows:
            P, B, E = self._keys(counter, rows)
            perm = None
            if E is not None:  # P and B already ascend in execution order; an each field does not
                perm = np.lexsort((E, B, P))
                P, B, E = P[perm], B[perm], E[perm]
            starts = np.ones(len(P), dtype=bool)
            if len(P) > 1:
                starts[1:] = (P[1:] != P[:-1]) | (B[1:] != B[:-1])
                if E is not None:
                    starts[1:] |= E[1:] != E[:-1]
            first = np.flatnonzero(starts)
            got = self._groups[cache_key] = (
                rows,
                perm,
                (P, B, E),
                starts,
                first,
                np.cumsum(starts) - 1,
            )
        _, perm, keys, starts, first, seg = got
        if perm is not None:
            x = x[perm]
        P, B, E = keys
        prior = self._prior(cid, P[first], B[first], None if E is None else E[first])
        return perm, x, keys, starts, first, seg, prior

    def _remember(self, cid: str, keys: np.ndarray, at: np.ndarray, values: Any) -> None:
        P, B, E = keys
        book = self.used.setdefault(cid, {})
        # endless without an `each` field, so the zip below is not strict
        es = E[at].tolist() if E is not None else repeat(None)
        for p, b, e, v in zip(P[at].tolist(), B[at].tolist(), es, values.tolist(), strict=False):
            book[(p, b, e)] = v

    @staticmethod
    def _unpermute(perm, out):
        if perm is None:
            return out
        back = np.empty_like(out)
        back[perm] = out
        return back

    def _closed(self, cid: str, rows: np.ndarray, x: Any, limit: Any) -> Any:
        """``out_i = min(L, U + X_i) - min(L, U + X_(i-1))`` within each counter key, X the running
        sum of ``x`` (>= 0) in execution order and U what the key used before.  Exact when L is
        the same for every row of a key: by induction, what the key has used after row i is
        ``min(L, U + X_i)`` (or U when U >= L), which is the sequential rule
        ``out = max(0, min(x, L - used))``."""
        perm, x, keys, starts, first, seg, prior = self._group(cid, rows, x)
        if perm is not None and isinstance(limit, np.ndarray):
            limit = limit[perm]
        X = _seg_cumsum(x, starts)
        if prior is not None:
            X = _add(X, prior[seg])
        out = np.minimum(limit, X) - np.minimum(limit, _sub(X, x))
        if self.keep:
            totals = np.add.reduceat(out, first) if len(out) else out
            self._remember(cid, keys, first, totals if prior is None else _add(totals, prior))
        return self._unpermute(perm, out)

    def _exclusive(self, cid: str, rows: np.ndarray, x: Any) -> Any:
        """What the counter key accumulated before each row, the key being charged ``x`` on every
        row whatever it holds (bands): an exclusive running sum, plus what it held before."""
        perm, x, keys, starts, first, seg, prior = self._group(cid, rows, x)
        X = _seg_cumsum(x, starts)
        if prior is not None:
            X = _add(X, prior[seg])
        if self.keep:
            last = np.ones(len(x), dtype=bool)
            last[:-1] = starts[1:]
            self._remember(cid, keys, np.flatnonzero(last), X[last])
        return self._unpermute(perm, _sub(X, x))

    def _node(self, node: _Node, parts: Any) -> None:
        """Run a counter node over ``parts`` [(block, step, rows)] (default: every version's
        rows still running)."""
        if parts is None:
            parts = [(b, k, self.active(b)) for b, k in node.positions]
        parts = [p for p in parts if len(p[2])]
        if not parts:
            return
        {"deductible": self._consume, "bands": self._bands, "cap": self._limit}[node.kind](
            node, parts
        )

    @staticmethod
    def _concat(chunks: list[tuple]) -> tuple:
        """Per-part arrays joined and put in execution order: (order, part index, *columns)."""
        rows = np.concatenate([c[0] for c in chunks])
        which = np.concatenate(
            [np.full(len(c[0]), i, dtype=np.int64) for i, c in enumerate(chunks)]
        )
        perm = np.argsort(rows, kind="stable") if len(chunks) > 1 else None
        cols = []
        for j in range(1, len(chunks[0])):
            arrays = [c[j] for c in chunks]
            if any(a.dtype == object for a in arrays):
                arrays = [_wide(a) for a in arrays]
            col = np.concatenate(arrays)
            cols.append(col if perm is None else col[perm])
        return (rows if perm is None else rows[perm], which if perm is None else which[perm], *cols)

    def _money(self, col: Col, n: int) -> Any:
        if col.scale > 2:
            raise NotImplementedError("columnar: an amount with more than two decimals")
        return _up(_full(col.data, n), 2 - col.scale)

    def _consume(self, node: _Node, parts: Any) -> None:
        chunks, steps, ks = [], [], []
        for b, k, rows in parts:
            step: ir.Consume = self.program.blocks[b].steps[k]
            c, err = self.ev.cond(step.when, rows)
            ok = self._fail(rows, err)
            sel = c if ok is None else c & ok
            ra = rows if sel.all() else rows[sel]
            amount, err = self.ev.value(step.amount, ra)
            amount = self._money(amount, len(ra))
            ok = self._fail(ra, err)
            if ok is not None:
                ra, amount = ra[ok], amount[ok]
            if len(ra):
                chunks.append((ra, self._vdata(step.base, ra), amount))
                steps.append(step)
                ks.append(k)
        if not chunks:
            return
        rows, which, base, amount = self._concat(chunks)
        cid = node.counters[0] if node.counters else None
        if node.method == "per_visit":
            take = np.maximum(np.minimum(base, amount), 0)
        elif cid is None:  # every other method settles a counter
            raise TypeError(node)
        elif node.method == "closed_form" and (not len(base) or base.min() >= 0):
            take = self._closed(cid, rows, base, amount)
        else:
            take = self._seq_consume(cid, rows, base, amount)
        if cid is not None:
            self._charge(cid, rows, take, _step_keys(ks, which))
        for i, step in enumerate(steps):
            m = which == i
            r, t = rows[m], take[m]
            self._store(step.base, r, _sub(self._vdata(step.base, r), t), 2)
            self._store(step.out, r, _add(self._vdata(step.out, r), t), 2)

    def _seq_consume(self, cid: str, rows: np.ndarray, base: Any, amount: Any) -> Any:
        P, B, E = self._keys(self.plan.counters[cid], rows)
        book = self.used.setdefault(cid, {})
        out = []
        # endless without an `each` field, so the zip below is not strict
        es = E.tolist() if E is not None else repeat(None)
        for p, b, e, x, a in zip(
            P.tolist(), B.tolist(), es, base.tolist(), amount.tolist(), strict=False
        ):
            key = (p, b, e)
            before = book.get(key, 0)
            take = a - before
            if take > x:
                take = x
            if take < 0:
                take = 0
            book[key] = before + take
            out.append(take)
        return _int_list(out)

    def _bands(self, node: _Node, parts: Any) -> None:
        chunks, steps, ks = [], [], []
        for b, k, rows in parts:
            step: ir.BandShare = self.program.blocks[b].steps[k]
            pts, err = self.ev.points(step.adjustments, rows)
            ok = self._fail(rows, err)
            if ok is not None:
                rows, pts = rows[ok], pts[ok]
            if len(rows):
                chunks.append((rows, self._vdata(step.base, rows), pts))
                steps.append(step)
                ks.append(k)
        if not chunks:
            return
        rows, which, base, pts = self._concat(chunks)
        if node.method == "per_visit":
            prior = np.zeros(len(rows), dtype=np.int64)
        else:  # the key is charged the base whatever the bands: what came before is a running sum
            prior = self._exclusive(node.counters[0], rows, base)
        for i, step in enumerate(steps):
            m = which == i
            self._band_parts(step, rows[m], base[m], pts[m], prior[m])
        if node.counters:  # the key is charged the whole amount
            self._charge(node.counters[0], rows, base, _step_keys(ks, which))

    def _band_parts(
        self, step: ir.BandShare, rows: np.ndarray, base: Any, pts: Any, prior: Any
    ) -> None:
        bands = step.bands
        end = _add(prior, base)
        exact = np.zeros(len(rows), dtype=np.int64)
        last = int(bands.values[0].scaleb(4, CTX)) + pts
        err = np.full(len(rows), -1, dtype=np.int32)
        low = 0
        for limit, value in zip(bands.limits, bands.values, strict=True):
            v = value.scaleb(4, CTX)
            if v != v.to_integral_value(context=CTX):
                raise NotImplementedError(
                    "columnar: a band ratio with more than 4 decimals as a fraction"
                )
            high = end if limit is None else np.minimum(int(limit.scaleb(2, CTX)), end)
            part = _sub(high, np.maximum(low, prior))
            has = part > 0
            r = int(v) + pts
            bad = has & ((r < 0) | (r > 10000)) & (err < 0)
            for i in np.flatnonzero(bad).tolist():
                err[i] = self.errors.code("bad", _ratio_msg(int(r[i])))
            exact = _add(exact, np.where(has, _mul(np.where(has, part, 0), r), 0))
            last = np.where(has, r, last)
            if limit is None:
                break
            low = int(limit.scaleb(2, CTX))
        bad = ((last < 0) | (last > 10000)) & (err < 0)
        for i in np.flatnonzero(bad).tolist():
            err[i] = self.errors.code("bad", _ratio_msg(int(last[i])))
        ok = self._fail(rows, err)
        if ok is not None:
            rows, exact, last = rows[ok], exact[ok], last[ok]
        self._store(step.exact, rows, exact, 6)
        self._store(step.ratio, rows, last, 4)

    def _limit(self, node: _Node, parts: Any) -> None:
        chunks: list[tuple] = []
        steps: list = []
        slots: list[tuple] = []  # (part index, cap counter id, applies, amount, step key)
        for b, k, rows in parts:
            step: ir.Limit = self.program.blocks[b].steps[k]
            got = self._capped_part(step, k, rows, len(chunks))
            if got is not None:
                chunks.append(got[0])
                steps.append(step)
                slots.extend(got[1])
        if not chunks:
            return
        joined = self._concat(
            [
                (
                    c[0],
                    c[1],
                    *(s[2] if s[0] == i else np.zeros(len(c[0]), dtype=bool) for s in slots),
                    *(s[3] if s[0] == i else np.zeros(len(c[0]), dtype=np.int64) for s in slots),
                )
                for i, c in enumerate(chunks)
            ]
        )
        rows, which, fund = joined[0], joined[1], joined[2]
        m = len(slots)
        applies = joined[3 : 3 + m]
        amounts = joined[3 + m : 3 + 2 * m]
        ids = [s[1] for s in slots]
        if m:
            fund = self._carried_caps(node, rows, fund, ids, applies, amounts)
        for i, step in enumerate(steps):
            sel = which == i
            self._store(step.out, rows[sel], fund[sel], 2)
        for (_, cid, _, _, key), on in zip(
            slots, applies, strict=True
        ):  # every cap that applies is charged the payment
            self._charge(cid, rows[on], fund[on], key)

    def _capped_part(self, step: ir.Limit, k: int, rows: np.ndarray, index: int) -> Any:
        """One version's part of a Limit: per-visit caps cut its payment here; the caps that
        carry become slots (part ``index``, counter, applies, amount, step key) for the node.
        ((rows, payment) of the rows without a problem, slots), or None when none is left."""
        counters = self.plan.counters
        fund = self._vdata(step.value, rows)
        caps, err = self._cap_terms(step, k, rows)
        ok = self._fail(rows, err)
        keep = np.ones(len(rows), dtype=bool) if ok is None else ok
        if not keep.any():
            return None
        slots = []
        for cap, applies, amt, key in caps:
            applies &= keep
            if counters[cap.counter].period == "visit":
                fund = np.where(applies, np.minimum(fund, np.maximum(amt, 0)), fund)
            else:
                slots.append(
                    (
                        index,
                        cap.counter,
                        applies if ok is None else applies[keep],
                        amt if ok is None else amt[keep],
                        key,
                    )
                )
        chunk = (rows, fund) if keep.all() else (rows[keep], fund[keep])
        return chunk, slots

    def _cap_terms(self, step: ir.Limit, k: int, rows: np.ndarray) -> tuple[list, Any]:
        """([(cap, whether it applies, its amount in fen, step key)], problems) of each cap of
        the step, in order: a cap's amount is evaluated where its condition holds."""
        n = len(rows)
        err = None
        caps = []
        for j, cap in enumerate(step.caps):
            live = np.ones(n, dtype=bool) if err is None else err < 0
            c, e = self.ev.cond(cap.when, rows)
            if e is not None:
                err = _first(err, np.where(live, e, -1).astype(np.int32))
                live &= e < 0
            applies = live & c
            at = np.flatnonzero(applies)
            amount, e = self.ev.value(cap.amount, rows[at])
            amt = np.zeros(n, dtype=np.int64)
            got = self._money(amount, len(at))
            if isinstance(got, np.ndarray) and got.dtype == object:
                amt = amt.astype(object)
            amt[at] = got
            if e is not None:
                full = np.full(n, -1, dtype=np.int32)
                full[at] = e
                err = _first(err, full)
                applies &= full < 0
            caps.append((cap, applies, amt, _STEP * k + j))
        return caps, err

    def _carried_caps(
        self, node: _Node, rows: np.ndarray, fund: Any, ids: list, applies: Any, amounts: Any
    ) -> Any:
        """The payment after the caps that carry: the closed form where the node has one and
        no two caps apply to one row, else the sequential step."""
        if (
            node.method == "closed_form"
            and len(set(ids)) == 1
            and all(not (a & b).any() for i, a in enumerate(applies) for b in applies[i + 1 :])
        ):
            got = self._closed_cap(ids[0], rows, fund, applies, amounts)
            if got is not None:
                return got
        return self._seq_limit(rows, fund, ids, applies, amounts)

    def _closed_cap(self, cid: str, rows: np.ndarray, fund: Any, applies: Any, amounts: Any) -> Any:
        """One cap that carries, in closed form over the rows where one of its slots applies;
        None when a payment there is negative (the closed form needs them non-negative)."""
        on = np.zeros(len(rows), dtype=bool)
        cap_amt = np.zeros(len(rows), dtype=amounts[0].dtype)
        for a, amt in zip(applies, amounts, strict=True):
            on |= a
            cap_amt = np.where(a, amt, cap_amt)
        every = on.all()
        where = np.flatnonzero(on)  # every row when ``every``
        x = fund if every else fund[where]
        if len(x) and x.min() < 0:
            return None
        got = self._closed(
            cid, rows if every else rows[where], x, cap_amt if every else cap_amt[where]
        )
        if every:
            return got
        fund = fund.astype(object) if got.dtype == object else fund.copy()
        fund[where] = got
        return fund

    def _seq_limit(self, rows, fund, ids, applies, amounts):
        keys = [self._keys(self.plan.counters[cid], rows) for cid in ids]
        books = [self.used.setdefault(cid, {}) for cid in ids]
        cols = []
        for (P, B, E), a, amt in zip(keys, applies, amounts, strict=True):
            cols.append(
                (
                    a.tolist(),
                    amt.tolist(),
                    P.tolist(),
                    B.tolist(),
                    E.tolist() if E is not None else [None] * len(rows),
                )
            )
        out = []
        slots = list(zip(books, cols, strict=True))
        for j, f in enumerate(fund.tolist()):
            charged = []
            for book, (a, amt, P, B, E) in slots:
                if a[j]:
                    key = (P[j], B[j], E[j])
                    room = amt[j] - book.get(key, 0)
                    if room < 0:
                        room = 0
                    if f > room:
                        f = room
                    charged.append((book, key))
            for book, key in charged:
                book[key] = book.get(key, 0) + f
            out.append(f)
        return _int_list(out)

    def _joint(self, ranges: dict) -> None:
        """Steps that depend on each other across versions: each row runs them in turn."""
        prog = self.program
        rows = (
            np.concatenate([self.active(b) for b in ranges])
            if ranges
            else np.zeros(0, dtype=np.int64)
        )
        for i in np.sort(rows).tolist():
            b = int(self.blk[i])
            lo, hi = ranges[b]
            one = np.array([i])
            for k in range(lo, hi + 1):
                if self.failed[i] or self.gated[i]:
                    break
                node = self.plan.node_of.get((b, k))
                if node is None:
                    self._simple(prog.blocks[b].steps[k], one)
                else:
                    self._node(node, [(b, k, one)])

    # -- the personal account
    def _account(self, step: ir.AccountPay, rows: np.ndarray) -> None:
        n = len(rows)
        if not n:
            return
        P = self.P[rows]
        starts, seg, B, known = self._balance_segments(rows, P)
        kr = rows[known]
        pay = np.zeros(len(kr), dtype=np.int64)
        after = B[seg[known]] if len(kr) else np.zeros(0, dtype=np.int64)
        if len(kr):
            p = self._account_may_pay(step, kr)
            Bk = B[seg[known]]
            kstarts = starts[known]
            if Bk.min() >= 0:
                Pc = _seg_cumsum(p, kstarts)
                pay = np.minimum(Bk, Pc) - np.minimum(Bk, _sub(Pc, p))
                after = Bk - np.minimum(Bk, Pc)
            else:  # a negative balance cannot come from validated input; computed as written
                pay, after = self._seq_account(Bk, kstarts, p)
        self._store(step.out, kr, pay, 2)
        self._store(step.balance, kr, after, 2)
        if self.state is not None and len(kr):
            self._keep_balances(P[known], after)

    def _balance_segments(self, rows: np.ndarray, P: np.ndarray) -> tuple:
        """(where a segment starts -- a given ``acct_balc`` or a new person --, the segment of
        each row, the balance each segment starts from, whether the row's balance is known:
        given, or left by an earlier call for a person's first visits)."""
        n = len(rows)
        bal = self._field("acct_balc", rows)
        if bal is None:  # a visit field: every table of visits has its column
            raise TypeError("acct_balc")
        given = ~bal.null if bal.null is not None else np.ones(n, dtype=bool)
        new_person = np.ones(n, dtype=bool)
        new_person[1:] = P[1:] != P[:-1]
        starts = given | new_person
        first = np.flatnonzero(starts)
        seg = np.cumsum(starts) - 1
        B = np.where(given[first], bal.data[first], 0)
        known_seg = given[first].copy()
        if self.balances:
            for j, (p, g) in enumerate(zip(P[first].tolist(), given[first].tolist(), strict=True)):
                if not g and p in self.balances:
                    B[j] = self.balances[p]
                    known_seg[j] = True
        return starts, seg, B, known_seg[seg]

    def _account_may_pay(self, step: ir.AccountPay, kr: np.ndarray) -> Any:
        """What the account may pay per visit (0 where it may not), before the balance."""
        # the record may keep the account out (acct_used_flag "0"); otherwise the account-use
        # rules decide (evaluated even when the policy declares no account_covers, as the
        # reference does: a problem there is a problem of the record)
        used, err = self.ev.cond(step.used, kr)
        ok = self._fail(kr, err)
        if ok is not None:
            used &= ok
        ur = kr[used]
        p = np.zeros(len(kr), dtype=np.int64)
        if len(ur):
            allowed = self._may_pay(step, ur)
            if step.payable is not None:
                payable, err = self.ev.expr(step.payable, ur)
                ok = self._fail(ur, err)
                payable = self._money(payable, len(ur))
                if ok is not None:
                    allowed &= ok
                got = np.where(allowed, np.maximum(payable, 0), 0)
                if got.dtype == object:
                    p = p.astype(object)
                p[used] = got
        return p

    def _keep_balances(self, Pk: np.ndarray, after: Any) -> None:
        """Each person's balance after their last visit, for the next call."""
        last = np.ones(len(Pk), dtype=bool)
        last[:-1] = Pk[1:] != Pk[:-1]
        for p, v in zip(Pk[last].tolist(), after[last].tolist(), strict=True):
            self.balances[p] = v

    @staticmethod
    def _seq_account(B, starts, p):
        pay, after = [], []
        bal = 0
        for b, s, x in zip(B.tolist(), starts.tolist(), p.tolist(), strict=True):
            if s:
                bal = b
            got = min(bal, x)
            bal -= got
            pay.append(got)
            after.append(bal)
        return _int_list(pay), _int_list(after)

    def _may_pay(self, step: ir.AccountPay, rows: np.ndarray) -> np.ndarray:
        """Whether the account-use rules permit each visit's own medical service."""
        fields = {}
        for name, v in step.request:
            col, err = self.ev.value(v, rows)
            self._fail(rows, err)
            fields[name] = col
        fields["on"] = Col("date", self.D[rows])
        verdicts, err = self.eng._decisions(fields, self.D[rows], self.params, self.errors)
        self._fail(rows, err)
        allowed = np.array([False] + [v.allowed for v in self.eng._verdicts], dtype=bool)
        return allowed[verdicts + 1]

    # -- state between calls
    def _load(self, state: dict) -> None:
        index = {name: i for i, name in enumerate(self.vis.names)}
        for (psn, cid, bucket, each), value in state["used"].items():
            code = index.get(psn)
            counter = self.plan.counters.get(cid)
            if code is None or counter is None:
                continue
            b = _bucket_in(counter.period, bucket)
            if b is None:
                continue
            e = None
            if counter.each is not None:
                col = self.vis.cols.get(counter.each)
                if each is None:
                    e = -1
                elif col is not None and col.kind == "cat" and each in col.cats:
                    e = col.cats.index(each)
                elif col is not None and col.kind == "bool" and isinstance(each, bool):
                    e = int(each)
                else:
                    continue
            self.used.setdefault(cid, {})[(code, b, e)] = value
        for psn, value in state["balances"].items():
            code = index.get(psn)
            if code is not None:
                self.balances[code] = value

    def _save(self, state: dict) -> None:
        names = self.vis.names
        for cid, book in self.used.items():
            counter = self.plan.counters[cid]
            each = self._each_value(counter)
            for (p, b, e), value in book.items():
                state["used"][
                    (names[p], cid, _bucket_out(counter.period, b), None if e is None else each(e))
                ] = value
        for p, value in self.balances.items():
            state["balances"][names[p]] = value
        if self.n:  # self.seq reads state["seq"] as it was before the call: computed here first
            seq = self.seq
            last = np.ones(self.n, dtype=bool)
            last[:-1] = self.P[1:] != self.P[:-1]
            for p, k in zip(self.P[last].tolist(), seq[last].tolist(), strict=True):
                state["seq"][names[p]] = k

    # -- results
    def problems(self) -> list[InputProblem]:
        bad = np.flatnonzero(self.err >= 0)
        out = []
        for s in bad.tolist():
            i = int(self.order[s])
            psn = self.vis.names[self.vis.psn[i]]
            kind = self.errors.kinds[self.err[s]]
            if kind[0] == "field":
                out.append(
                    InputProblem(
                        i + 1, kind[1], "is required by the rule that applies to this record", psn
                    )
                )
            elif kind[0] == "norow":
                out.append(
                    InputProblem(
                        i + 1,
                        "(record)",
                        "no row of a decision table of the policy applies to this record",
                        psn,
                    )
                )
            else:
                out.append(InputProblem(i + 1, "(record)", kind[1], psn))
        return sorted(out, key=lambda p: p.record or 0)  # every problem here names a record

    def unsorted(self, values, null=None):
        """Sorted-space values back in input order (int64; every result fits)."""
        out = np.empty(self.n, dtype=np.int64)
        out[self.order] = np.asarray(values, dtype=np.int64) if values.dtype == object else values
        if null is None:
            return out, None
        back = np.empty(self.n, dtype=bool)
        back[self.order] = null
        return out, back


# how each item of the plan's schedule runs (``_Plan._schedule``)
_SCHEDULED: dict[str, Callable[[_Run, tuple], None]] = {
    "pos": _Run._position,
    "node": _Run._node_item,
    "joint": _Run._joint_item,
}


def _step_keys(ks: list[int], which: Any) -> Any:
    """The journal's order within a visit of each row's step (``which``: index into ``ks``)."""
    return _STEP * ks[0] if len(ks) == 1 else _STEP * np.array(ks, dtype=np.int64)[which]


def _ratio_msg(r: int) -> str:
    return (
        f"the ratio that applies comes to {percent(Decimal(r).scaleb(-4, CTX))}, outside 0%..100%; "
        "check the parameters"
    )


# ---- the backend ------------------------------------------------------------------------------


class Columnar:
    """Settles whole columns.  ``plan`` tells how each counter step is computed."""

    name = "columnar"
    settle_traces = False  # settlement results carry no trace (credit and may-pay results do)

    def __init__(self, policy: ir.Policy, tracing: bool = True):
        self.policy = policy
        self.tracing = tracing
        self.stamp = (policy.id, content_hash(policy))
        self._plan = _Plan(policy)
        self.plan: tuple[PlanStep, ...] = self._plan.steps()
        self._verdicts: list[ir.Verdict] = [
            v
            for b in policy.programs["may_pay"].blocks
            for s in b.steps
            if isinstance(s, ir.Decision)
            for v in s.verdicts
        ]

    def explain_plan(self) -> str:
        return "\n".join(str(s) for s in self.plan)

    def new_state(self) -> dict:
        """What one settle call leaves for the next, the same for every backend: ``used``,
        ledger key ``(psn_no, counter id, bucket, each value)`` -> fen (counters per visit are
        never kept); ``balances``, person -> fen; ``seq``, person -> operations so far."""
        return {"used": {}, "balances": {}, "seq": {}}

    # -- settle
    def _run(
        self, vis: Visits, params: dict, state: dict | None, journal: list | None = None
    ) -> _Run:
        run = _Run(self, vis, params, state, journal)
        run.run()
        problems = run.problems()
        if problems:
            raise InputError(problems)
        run.write_journal()
        return run

    def settle(
        self, records: Any, params: dict, state: dict | None = None, journal: list | None = None
    ) -> list[VisitResult]:
        """Pass the same ``state`` to successive calls to continue a run (records in time order
        across calls); ``journal``, when given, receives ``(index, ledger key, fen)`` for every
        amount a counter is charged (index: the record's position in ``records``)."""
        visits = validate_visits(records, self.policy)
        vis = visits_from_records(visits, self.policy)
        texts = vis.text
        if texts is None:  # visits from records carry their setl_time as echoed
            raise TypeError("visits without their setl_time text")
        run = self._run(vis, params, state, journal)
        cols = _results(run)
        pid, has_pooling = self.policy.id, run.program.section is not None
        names, days = vis.names, vis.day.tolist()
        banded = self._plan.banded
        blk = run.unsorted(run.blk)[0].tolist()
        remaining = run.unsorted(run.vars["remaining"].everywhere()[0])[0].tolist()
        raw = run.unsorted(run.vars["hifp_raw"].everywhere()[0])[0].tolist()
        out = []
        medfee = vis.cols["medfee_sumamt"].data.tolist()
        funds = settle_funds(run.program)
        amounts = zip(medfee, *(cols[f].tolist() for f in MONEY_OUT + funds), strict=True)
        balc = [
            None if m else v
            for v, m in zip(cols["balc"].tolist(), cols["balc_null"].tolist(), strict=True)
        ]
        ratio = [
            None if m else v
            for v, m in zip(cols["ratio"].tolist(), cols["ratio_null"].tolist(), strict=True)
        ]
        reasons = [None if c < 0 else REASONS[c] for c in cols["reason"].tolist()]
        fund = cols["hifp_pay"].tolist()
        seq = run.unsorted(run.seq)[0].tolist()
        stamp = self.stamp
        for i, a in enumerate(amounts):
            msg = (reasons[i], days[i], ratio[i], remaining[i], raw[i], fund[i], blk[i] in banded)
            v = visits[i]
            out.append(
                VisitResult(
                    names[vis.psn[i]],
                    texts[i],
                    a,
                    balc[i],
                    ratio[i],
                    reasons[i],
                    _message(msg, pid, has_pooling),
                    (),
                    (v["setl_id"], v["mdtrt_id"], seq[i], "settle"),
                    stamp,
                    funds,
                )
            )
        return out

    def settle_table(
        self, table: Any, params: dict, state: dict | None = None, messages: bool = False
    ) -> Any:
        """Settle a ``pyarrow.Table`` of visits; a table of results in input row order (see
        ``CompiledPolicy.settle_table``)."""
        vis, psn_text, echo_time = read_table(table, self.policy)
        run = self._run(vis, params, state)
        n = vis.n
        money: dict = {}
        funds = settle_funds(run.program)
        for f in MONEY_OUT + funds:  # a variable equal to one already written shares its column
            data = run.vars[f].everywhere()[0]
            same = next(
                (
                    g
                    for g in money
                    if run.vars[g].everywhere()[0] is data
                    or np.array_equal(run.vars[g].everywhere()[0], data)
                ),
                None,
            )
            money[f] = money[same] if same else _decimal_unsorted(run, data, None, 2, 18)
        reason_codes = np.empty(n, dtype=np.int8)
        reason_codes[run.order] = run.reason
        reason = pc.take(
            pa.array(REASONS, pa.string()),
            pa.array(reason_codes.astype(np.int32), mask=reason_codes < 0),
        )
        ratio, ratio_null = run.vars["ratio"].everywhere()
        balc, balc_null = run.vars["balc"].everywhere()
        zeros = np.zeros((n, 2), dtype=np.int64)  # untouched pages: the kernel's zero page
        out = {
            "row": pa.array(np.arange(n, dtype=np.int64)),
            "psn_no": psn_text,
            "setl_time": echo_time,
            "medfee_sumamt": decimal_array(vis.cols["medfee_sumamt"].data, 2, 18),
            "inscp_scp_amt": money["inscp_scp_amt"],
            "act_pay_dedc": money["act_pay_dedc"],
            "pool_prop_selfpay": _decimal_unsorted(run, ratio, ratio_null, 4, 5),
            "hifp_pay": money["hifp_pay"],
            **{f: money[f] for f in funds},
            "fund_pay_sumamt": money["fund_pay_sumamt"],
            "psn_part_amt": money["psn_part_amt"],
            "acct_pay": money["acct_pay"],
            "acct_mulaid_pay": pa.Array.from_buffers(
                pa.decimal128(18, 2), n, [None, pa.py_buffer(zeros)]
            ),
            "psn_cash_pay": money["psn_cash_pay"],
            "balc": _decimal_unsorted(run, balc, balc_null, 2, 18),
            "reason": reason,
        }
        if messages:
            out["message"] = self._message_column(run, vis, reason_codes)
        out.update(audit_columns(vis.cols, run.unsorted(run.seq)[0], self.stamp))
        return pa.table(out)

    def _message_column(self, run: "_Run", vis: Visits, reason_codes: Any) -> "pa.Array":
        """The settle message of each row, formatted in Python (``messages=True``)."""
        n = vis.n
        pid, has_pooling = self.policy.id, run.program.section is not None
        banded = self._plan.banded
        blk = run.unsorted(run.blk)[0].tolist()
        remaining = run.unsorted(run.vars["remaining"].everywhere()[0])[0].tolist()
        raw = run.unsorted(run.vars["hifp_raw"].everywhere()[0])[0].tolist()
        cols = _results(run)
        # one variable's values and nulls, both of length n
        ratio = [
            None if m else v
            for v, m in zip(cols["ratio"].tolist(), cols["ratio_null"].tolist(), strict=True)
        ]
        days, fund = vis.day.tolist(), cols["hifp_pay"].tolist()
        codes = reason_codes.tolist()
        return pa.array(
            [
                _message(
                    (
                        None if codes[i] < 0 else REASONS[codes[i]],
                        days[i],
                        ratio[i],
                        remaining[i],
                        raw[i],
                        fund[i],
                        blk[i] in banded,
                    ),
                    pid,
                    has_pooling,
                )()
                for i in range(n)
            ],
            pa.string(),
        )

    # -- account use and credit (vectorised decisions, results built per record)
    def _decisions(self, fields: dict, days: Any, params: dict, errors: _Errors) -> Any:
        """The may-pay verdict per row (an index into ``_verdicts``; -1 when no rule is in force)
        and the problems met (codes of ``errors``)."""
        prog = self.policy.programs["may_pay"]
        n = len(days)
        ev = _Eval(
            lambda name, rows: fields[name].take(rows) if name in fields else None,
            lambda *_: None,
            params,
            self.policy.params,
            errors,
            prog.optional,
        )
        blk = block_index(prog, days, params, self.policy)
        out = np.full(n, -1, dtype=np.int64)
        err = np.full(n, -1, dtype=np.int32)
        base = 0
        for b, block in enumerate(prog.blocks):
            rows = np.flatnonzero(blk == b)
            for step in block.steps:
                if not isinstance(step, ir.Decision):
                    raise NotImplementedError(f"columnar: a {type(step).__name__} step in may-pay")
                decided = np.zeros(len(rows), dtype=bool)
                for vi, verdict in enumerate(step.verdicts):
                    if not len(rows) or decided.all():
                        break
                    c, e = ev.cond(verdict.when, rows)
                    live = ~decided & (err[rows] < 0)
                    if e is not None:
                        err[rows] = np.where(live & (e >= 0), e, err[rows])
                        live &= e < 0
                    hit = live & c
                    out[rows[hit]] = base + vi
                    decided |= hit
                base += len(step.verdicts)
        for kind in errors.kinds:
            if kind[0] == "param":
                raise missing_param(kind[1], self.policy)
        return out, err

    def may_pay(self, records: Any, params: dict) -> list[MayPayResult]:
        rows = validate_requests(records, self.policy)
        n = len(rows)
        types = {**V.REQUEST_FIELDS, **{k: t for k, (t, _) in self.policy.inputs.items()}}
        fields = {
            name: col_from_values(t, [r.get(name) for r in rows], self.policy.vocab)
            for name, t in types.items()
        }
        days = fields["on"].data if n else np.zeros(0, dtype=np.int64)
        verdicts, err = self._decisions_checked(fields, days, params, rows)
        out = []
        for i, r in enumerate(rows):
            vi = int(verdicts[i])
            verdict = self._verdicts[vi] if vi >= 0 else None
            reason = verdict.reason if verdict else "not_in_force"
            channel = None
            if verdict is not None and verdict.channel is not None:
                channel = _one_value(self, verdict.channel, fields, i, params)
            out.append(may_pay_result(r, verdict, reason, channel, self.tracing))
        return out

    def _decisions_checked(self, fields, days, params, rows):
        errors = _Errors()
        verdicts, err = self._decisions(fields, days, params, errors)
        problems = [
            InputProblem(
                i + 1,
                errors.kinds[err[i]][1],
                "is required by the rule that applies to this record",
                rows[i].get("psn_no"),
            )
            for i in np.flatnonzero(err >= 0).tolist()
        ]
        if problems:
            raise InputError(problems)
        return verdicts, err

    def credit(self, records: Any, params: dict) -> list[CreditResult]:
        rows = validate_persons(records, self.policy)
        n = len(rows)
        prog = self.policy.programs["credit"]
        types = {**V.PERSON_FIELDS, **{k: t for k, (t, _) in self.policy.inputs.items()}}
        fields = {
            name: col_from_values(t, [r.get(name) for r in rows], self.policy.vocab)
            for name, t in types.items()
        }
        errors = _Errors()
        ev = _Eval(
            lambda name, rs: fields[name].take(rs) if name in fields else None,
            lambda *_: None,
            params,
            self.policy.params,
            errors,
        )
        days = fields["on"].data if n else np.zeros(0, dtype=np.int64)
        blk = block_index(prog, days, params, self.policy)
        found = _Credits(n)
        for b, block in enumerate(prog.blocks):
            rows_b = np.flatnonzero(blk == b)
            for step in block.steps:
                if not isinstance(step, ir.CreditRules):
                    raise NotImplementedError(f"columnar: a {type(step).__name__} step in credit")
                _credit_rules(ev, step, rows_b, found)
        for code, kind in enumerate(errors.kinds):
            if kind[0] == "param" and (found.err == code).any():
                raise missing_param(kind[1], self.policy)
        problems: list[InputProblem] = []
        out: list[CreditResult] = []
        for i, r in enumerate(rows):
            got = self._credit_result(i, r, blk, found, errors)
            if isinstance(got, InputProblem):
                problems.append(got)
            else:
                out.append(got)
        if problems:
            raise InputError(problems)
        return out

    def _credit_result(
        self, i: int, r: dict, blk: Any, found: "_Credits", errors: _Errors
    ) -> CreditResult | InputProblem:
        """Person ``i``'s credit, or the problem of its record (a field a rule needs is absent,
        the rule that applies gives a negative credit)."""
        err = found.err
        if err[i] >= 0:
            return InputProblem(
                i + 1,
                errors.kinds[err[i]][1],
                "is required by the rule that applies to this record",
                r.get("psn_no"),
            )
        on = r["on"]
        rule = found.rules[found.rule_of[i]] if found.rule_of[i] >= 0 else None
        fen_i = found.value[i]  # set wherever a rule applies
        if rule is not None and fen_i is not None and fen_i < 0:
            return InputProblem(
                i + 1, "(record)", negative_credit(rule.name, fen_text(fen_i)), r.get("psn_no")
            )
        reason = "not_in_force" if blk[i] < 0 else ("credited" if rule is not None else "no_rule")
        credit = None if rule is None or fen_i is None else yuan(fen_i)
        trace = (
            (tr_credit(credit, rule.prov, found.exact[i]),)
            if self.tracing and rule is not None and credit is not None
            else ()
        )
        return credit_result(
            r["psn_no"],
            on,
            credit,
            reason,
            rule.name if rule else None,
            rule.prov.clause if rule else None,
            trace,
        )


class _Credits:
    """What the credit rules found per person: the rule that applies (an index into ``rules``,
    -1: none), the problem (a code, -1: none), the credit in fen and its exact amount."""

    def __init__(self, n: int) -> None:
        self.rule_of = np.full(n, -1, dtype=np.int64)
        self.err = np.full(n, -1, dtype=np.int32)
        self.value: list[int | None] = [None] * n
        self.exact: list = [None] * n
        self.rules: list = []


def _credit_rules(ev: _Eval, step: ir.CreditRules, rows_b: np.ndarray, found: _Credits) -> None:
    """The rules of one step over the persons of its version: the first whose condition holds
    gives each person's credit."""
    err = found.err
    decided = np.zeros(len(rows_b), dtype=bool)
    for rule in step.rules:
        if not len(rows_b) or decided.all():
            break
        c, e = ev.cond(rule.when, rows_b)
        live = ~decided & (err[rows_b] < 0)
        if e is not None:
            err[rows_b] = np.where(live & (e >= 0), e, err[rows_b])
            live &= e < 0
        hit = rows_b[live & c]
        decided |= live & c
        if len(hit):
            _credit_amounts(ev, step, rule, hit, found)


def _credit_amounts(
    ev: _Eval, step: ir.CreditRules, rule: Any, hit: np.ndarray, found: _Credits
) -> None:
    """A rule's amount for the persons it applies to, rounded by the step's rule to fen."""
    err = found.err
    qf = int(step.rounding.quantum.scaleb(2, CTX))
    rule_index = len(found.rules)
    found.rules.append(rule)
    col, e = ev.expr(rule.amount, hit)
    x = _full(col.data, len(hit))
    if e is not None:
        err[hit] = np.where(err[hit] < 0, e, err[hit])
    s = col.scale
    if s < 2:
        x, s = _up(x, 2 - s), 2
    fen = _mul(round_units(x, qf * 10 ** (s - 2), step.rounding.mode), qf)
    for j, i in enumerate(hit.tolist()):
        found.rule_of[i] = rule_index
        found.value[i] = int(fen[j])
        found.exact[i] = Decimal(int(x[j])).scaleb(-s, CTX)


def _one_value(eng: Columnar, v: Any, fields: dict, i: int, params: dict) -> Any:
    ev = _Eval(
        lambda name, rows: fields[name].take(rows) if name in fields else None,
        lambda *_: None,
        params,
        eng.policy.params,
        _Errors(),
        eng.policy.programs["may_pay"].optional,
    )
    col, _ = ev.value(v, np.array([i]))
    return (
        _const_value(col)
        if not isinstance(col.data, np.ndarray)
        else Col(col.kind, col.data, col.scale, col.cats).python(0)
    )


def _decimal_unsorted(
    run: _Run, values: Any, null: np.ndarray | None, scale: int, precision: int
) -> "pa.Array":
    """Values in execution order as a decimal128 column in input order, scattered straight into
    the column's buffer (every result fits in int64)."""
    n = run.n
    values = np.asarray(values, dtype=np.int64) if values.dtype == object else values
    words = np.zeros((n, 2), dtype=np.int64)
    words[run.order, 0] = values
    if len(values) and values.min() < 0:
        words[:, 1] = words[:, 0] >> 63
    validity, nulls = None, 0
    if null is not None and null.any():
        back = np.empty(n, dtype=bool)
        back[run.order] = null
        validity, nulls = pa.array(~back).buffers()[1], int(null.sum())
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), n, [validity, pa.py_buffer(words)], null_count=nulls
    )


def _results(run: _Run) -> dict:
    out = {}
    for name in MONEY_OUT + settle_funds(run.program):
        out[name] = run.unsorted(run.vars[name].everywhere()[0])[0]
    out["balc"], out["balc_null"] = run.unsorted(*run.vars["balc"].everywhere())
    out["ratio"], out["ratio_null"] = run.unsorted(*run.vars["ratio"].everywhere())
    back = np.empty(run.n, dtype=np.int8)
    back[run.order] = run.reason
    out["reason"] = back
    return out


def _message(args: tuple, pid: str, has_pooling: bool) -> Any:
    """The message as a function of the language (``VisitResult`` calls it when read)."""

    def render(lang: str = "en") -> str:
        reason, day, ratio_e4, remaining, raw, fund, banded = args
        return settle_message(
            reason,
            pid,
            has_pooling,
            dt.date.fromordinal(day + EPOCH),
            None if ratio_e4 is None else Decimal(ratio_e4).scaleb(-4, CTX),
            yuan(remaining),
            yuan(raw),
            yuan(fund),
            banded,
            lang,
        )

    return render
