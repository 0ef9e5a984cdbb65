"""The lowering of an IR program to SQL: a sqlglot expression tree, generated per dialect.

One lowering serves every SQL engine; ``duckdb.py`` runs it, ``spark.py`` runs the same
tree generated for Spark.  The numbers are the scalar backend's: integers end to end
(money in fen, ratios and points in 1/10000, numbers in 1/1000000, a product at the sum
of its scales), rounded by the policy's rule with integer division on non-negative
values.  No DECIMAL division, no float, no ROUND.  A value that may pass 2**63 is
computed in the wide integer type (HUGEINT, Spark DECIMAL(38, 0)) and narrowed back to
BIGINT where the rule bounds it (a deductible taken, a share rounded).

**Rows and order.**  One row per visit; the window of a counter is partitioned by its
ledger key (person, period bucket, ``each`` value) and ordered by the settlement order
(``setl_date``, then ``setl_time`` with a date alone first, then ``row_no``, the input
row) with a running frame, so each row sees exactly the visits settled before it.

**Closed forms.**  Where the running amount of a counter is a function of a running sum,
the counter is one window:

* a deductible whose amount is constant within its key (a literal, a parameter, a table
  on the ``each`` field) takes ``LEAST(D, P + S) - LEAST(D, P + S - base)`` where ``S``
  is the running sum of the bases charged to it and ``P`` what an earlier call used;
* a cap that is the only cap with a period on its payment, constant within its key, pays
  ``LEAST(C, P + S) - LEAST(C, P + S - v)`` of a non-negative ``v``;
* a banded ratio is charged the whole base, so what came before is a running sum;
* the personal account: a given ``acct_balc`` starts a segment of the person's visits;
  within it the balance after a visit is ``GREATEST(0, B - S)`` with ``S`` the running
  sum of what the account may pay (0 where it may not), so it is a window over
  (person, segment) after one counting window.

Per-visit counters have no state at all.

**The sequential step.**  Two caps on one payment (a yearly and a daily cap), and an
amount that varies within its key (a cap raised by a later version within a year), have
no closed form: the lowering then emits a *kernel* stage, a function over each person's
visits in settlement order (``sequential.py``), between two SQL stages.  A plan with a
kernel is not one query; ``Plan.sql`` refuses it, naming the step.

**Errors.**  A value the reference would fail on (a field absent that a rule reads, no
row of a table, a ratio outside 0..100%, a negative credit) becomes a code in the
``err`` column, in the order the reference would meet it; the runner turns it into the
same ``InputProblem``.  Where the lowering proves it cannot happen (a table that covers
its enumeration, a ratio whose range is within 0..100%) no column is made.
"""

from __future__ import annotations

from collections import Counter
import datetime as dt
from decimal import Decimal
import itertools
from typing import Any, Callable, Generator, Iterable

import attrs
from sqlglot import exp

from ... import ir
from ... import vocab as V
from ...inputs import PLATFORM_FIELDS, VISIT_SPEC, PERSON_SPEC, REQUEST_SPEC
from ...ir import evaluate as E
from ...ir.demands import fields_read, params_read
from ...ir.evaluate import CTX
from ...runtime import SETTLED_AMOUNTS
from ..common import NotSupported, settle_funds

SCALE = {V.MONEY: 2, V.PERCENT: 4, V.POINTS: 4, V.NUMBER: 6}
INT64 = 2**63 - 1
MONEY_MAX = 10**17  # 15 digits of yuan (inputs.MAX_DIGITS), in fen
DIALECTS = ("duckdb", "spark")
BIGINT = exp.DataType.build("BIGINT")
WIDE = exp.DataType.build(
    "HUGEINT", dialect="duckdb"
)  # INT128; DECIMAL(38, 0) for Spark (see to_sql)
VARCHAR = exp.DataType.build("VARCHAR")

# ---- values ------------------------------------------------------------------------------


class Val:
    """A value of the lowering: a constant (``node`` None) or an SQL expression, with
    its scale (numbers) and what is known of its range (``lo``/``hi``, None: unbounded)."""

    __slots__ = ("node", "const", "scale", "lo", "hi", "wide", "absent", "domain", "arms")

    def __init__(
        self,
        node=None,
        const=None,
        scale=None,
        lo=None,
        hi=None,
        wide=False,
        absent=False,
        domain=None,
        arms=None,
    ):
        self.node, self.const, self.scale, self.lo, self.hi = node, const, scale, lo, hi
        self.wide = wide  # computed in the wide integer type
        self.absent = absent  # NULL means ABSENT (equal to nothing), not an error
        self.domain = domain  # the values an enumeration field can take (validated input)
        self.arms = (
            arms  # a CASE with constant values: ([(cond, value)], default), to distribute over
        )

    @property
    def is_const(self) -> bool:
        return self.node is None

    def bound(self):
        if self.lo is None or self.hi is None:
            return None
        return max(abs(self.lo), abs(self.hi))

    def sql(self) -> exp.Expression:
        return self.node.copy() if self.node is not None else literal(self.const)

    def like(self, node: Any) -> "Val":
        return Val(
            node, None, self.scale, self.lo, self.hi, self.wide, self.absent, self.domain, self.arms
        )

    def __repr__(self):
        return (
            f"Val({self.const!r})"
            if self.is_const
            else f"Val({self.node.sql()!r}, scale={self.scale})"
        )


def K(value: Any, scale: int | None = None) -> Val:
    """A constant."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Val(None, value, scale, value, value)
    return Val(None, value, scale)


TRUE, FALSE, NULL = K(True), K(False), K(None)


def null_const(v: Val) -> bool:
    """The constant NULL: a variable no step assigned on this path (every step after a gate
    that always stops, as in a pooling that covers no person type).  Arithmetic on it is
    NULL, as in SQL; the reference never computes it, and no output reads it unguarded."""
    return v.is_const and v.const is None


def literal(v: Any) -> exp.Expression:
    if v is None:
        return exp.Null()
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, int):
        node = exp.Literal.number(abs(v))
        return exp.Paren(this=exp.Neg(this=node)) if v < 0 else node
    if isinstance(v, str):
        return exp.Literal.string(v)
    if isinstance(v, dt.date):
        return exp.Cast(this=exp.Literal.string(v.isoformat()), to=exp.DataType.build("DATE"))
    raise TypeError(v)


_ATOMS = (
    exp.Column,
    exp.Literal,
    exp.Paren,
    exp.Func,
    exp.Window,
    exp.Null,
    exp.Boolean,
    exp.Placeholder,
)


def _w(node: exp.Expression) -> exp.Expression:
    """Parenthesise an operand unless it is atomic: sqlglot prints the tree as built, with
    no precedence of its own (and ``exp.And`` is a ``Func`` as well as a ``Binary``)."""
    if isinstance(node, _ATOMS) and not isinstance(node, (exp.Binary, exp.Unary, exp.Predicate)):
        return node
    return exp.Paren(this=node)


def _opt(a, b, f):
    return None if a is None or b is None else f(a, b)


def _neg_iv(v: Val) -> tuple[Any, Any]:
    return (None if v.hi is None else -v.hi), (None if v.lo is None else -v.lo)


def rescale(v: Val, scale: int, what: str = "a value") -> Val:
    if v.scale is None or v.scale == scale:
        return v
    if v.scale > scale:
        raise NotSupported(
            f"{what} has more decimals than its type allows (scale {v.scale} > {scale}); "
            "the SQL backend computes in exact integers"
        )
    return arith("*", v, K(10 ** (scale - v.scale), 0))


def cast_wide(node):
    return exp.Cast(this=node, to=WIDE.copy())


def narrow(v: Val) -> Val:
    """Back to BIGINT when the range allows it."""
    b = v.bound()
    if not v.wide or v.is_const or b is None or b > INT64:
        return v
    return Val(exp.Cast(this=v.sql(), to=BIGINT.copy()), None, v.scale, v.lo, v.hi, False)


def arith(op: str, a: Val, b: Val) -> Val:
    if op in "+-" and a.scale is not None and b.scale is not None and a.scale != b.scale:
        s = max(a.scale, b.scale)
        a, b = rescale(a, s), rescale(b, s)
    scale = (
        (a.scale or 0) + (b.scale or 0)
        if op == "*"
        else (a.scale if a.scale is not None else b.scale)
    )
    folded = _arith_folded(op, a, b, scale)
    if folded is not None:
        return folded
    lo, hi = _ARITH_RANGE[op](a, b)
    na, nb, wide = _operands(a, b, lo, hi)
    node = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}[op](this=_w(na), expression=_w(nb))
    return Val(node, None, scale, lo, hi, wide)


def _arith_folded(op: str, a: Val, b: Val, scale: int | None) -> Val | None:
    """The result when it needs no SQL: NULL with NULL, a constant of constants, an operand
    (plus or minus 0, times 1) or 0 (times 0); else None."""
    if null_const(a) or null_const(b):
        return K(None, scale)
    if a.is_const and b.is_const:
        x, y = a.const, b.const
        return K(x + y if op == "+" else x - y if op == "-" else x * y, scale)
    return _IDENTITY[op](a, b, scale)


def _is_const(v: Val, value: int) -> bool:
    return v.is_const and v.const == value


def _plus_identity(a: Val, b: Val, scale: int | None) -> Val | None:
    if _is_const(b, 0):
        return _with_scale(a, scale)
    if _is_const(a, 0):
        return _with_scale(b, scale)
    return None


def _minus_identity(a: Val, b: Val, scale: int | None) -> Val | None:
    return _with_scale(a, scale) if _is_const(b, 0) else None


def _times_identity(a: Val, b: Val, scale: int | None) -> Val | None:
    for one, other in ((a, b), (b, a)):
        if _is_const(one, 1):
            return _with_scale(other, scale)
        if _is_const(one, 0):
            return K(0, scale)
    return None


_IDENTITY: dict[str, Callable[[Val, Val, int | None], Val | None]] = {
    "+": _plus_identity,
    "-": _minus_identity,
    "*": _times_identity,
}


def _sum_range(a: Val, b: Val) -> tuple[Any, Any]:
    return _opt(a.lo, b.lo, int.__add__), _opt(a.hi, b.hi, int.__add__)


def _difference_range(a: Val, b: Val) -> tuple[Any, Any]:
    return _opt(a.lo, b.hi, int.__sub__), _opt(a.hi, b.lo, int.__sub__)


def _product_range(a: Val, b: Val) -> tuple[Any, Any]:
    if None in (a.lo, a.hi, b.lo, b.hi):
        return None, None
    ps = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return min(ps), max(ps)


# the range (lo, hi; None: unbounded) of a result from its operands', by operator
_ARITH_RANGE: dict[str, Callable[[Val, Val], tuple[Any, Any]]] = {
    "+": _sum_range,
    "-": _difference_range,
    "*": _product_range,
}


def _operands(a: Val, b: Val, lo: Any, hi: Any) -> tuple[exp.Expression, exp.Expression, bool]:
    """(left, right, wide): a result that may pass BIGINT is computed in the wide type, one
    operand (not a constant) cast to it."""
    wide = a.wide or b.wide
    na, nb = a.sql(), b.sql()
    bound = None if lo is None or hi is None else max(abs(lo), abs(hi))
    if not wide and (bound is None or bound > INT64):
        if not a.is_const:
            na = cast_wide(na)
        else:
            nb = cast_wide(nb)
        wide = True
    return na, nb, wide


def _with_scale(v: Val, scale: int | None) -> Val:
    if v.scale == scale:
        return v
    out = v.like(v.node) if not v.is_const else K(v.const, scale)
    out.scale = scale
    return out


def int_div(a: Val, u: int) -> Val:
    """``a // u`` for ``a >= 0`` and ``u > 0`` (truncation and floor agree)."""
    if u == 1:
        return a
    if a.is_const:
        return K(None if a.const is None else a.const // u, a.scale)
    lo = None if a.lo is None else a.lo // u
    hi = None if a.hi is None else a.hi // u
    return Val(
        exp.IntDiv(this=_w(a.sql()), expression=exp.Literal.number(u)),
        None,
        a.scale,
        lo,
        hi,
        a.wide,
    )


def least(a: Val, b: Val) -> Val:
    return _extreme(a, b, min, exp.Least)


def greatest(a: Val, b: Val) -> Val:
    return _extreme(a, b, max, exp.Greatest)


def _extreme(a: Val, b: Val, f: Callable[[Any, Any], Any], node_cls: Any) -> Val:
    if a.scale is not None and b.scale is not None and a.scale != b.scale:
        s = max(a.scale, b.scale)
        a, b = rescale(a, s), rescale(b, s)
    if null_const(a) or null_const(b):
        return K(None, a.scale if a.scale is not None else b.scale)
    if a.is_const and b.is_const:
        return K(f(a.const, b.const), a.scale)
    # a range decides it
    if f is min:
        if a.hi is not None and b.lo is not None and a.hi <= b.lo:
            return a
        if b.hi is not None and a.lo is not None and b.hi <= a.lo:
            return b
        lo = _opt(a.lo, b.lo, min)
        hi = a.hi if b.hi is None else b.hi if a.hi is None else min(a.hi, b.hi)
    else:
        if a.lo is not None and b.hi is not None and a.lo >= b.hi:
            return a
        if b.lo is not None and a.hi is not None and b.lo >= a.hi:
            return b
        lo = a.lo if b.lo is None else b.lo if a.lo is None else max(a.lo, b.lo)
        hi = _opt(a.hi, b.hi, max)
    node = node_cls(this=a.sql(), expressions=[b.sql()], ignore_nulls=True)
    return Val(node, None, a.scale if a.scale is not None else b.scale, lo, hi, a.wide or b.wide)


_CMP = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_PY_CMP = {
    "=": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def compare(op: str, a: Val, b: Val) -> Val:
    if a.scale is not None and b.scale is not None and a.scale != b.scale:
        s = max(a.scale, b.scale)
        a, b = rescale(a, s), rescale(b, s)
    if a.is_const and b.is_const:
        if a.const is None or b.const is None:
            return K(op == "!=" and (a.const is None) != (b.const is None))
        return K(_PY_CMP[op](a.const, b.const))
    if a.is_const:  # the column on the left: setl_date >= DATE '2023-01-01'
        a, b, op = b, a, _FLIP[op]
    if b.is_const and a.arms is not None:  # CASE WHEN c THEN 'x' ... END = 'y': decided per arm
        branches, default = a.arms
        return case([(c, compare(op, v, b)) for c, v in branches], compare(op, default, b))
    if b.is_const and a.domain is not None and op in ("=", "!=") and b.const not in a.domain:
        return K(op == "!=")
    if b.is_const and isinstance(b.const, bool) and op in ("=", "!=") and not a.absent:
        return a if (op == "=") == b.const else not_(a)
    known = _cmp_by_range(op, a, b)
    if known is not None and not a.absent and not b.absent:
        return K(known)
    node = _CMP[op](this=_w(a.sql()), expression=_w(b.sql()))
    if a.absent or b.absent:  # ABSENT equals nothing: NULL = x is false, NULL != x is true
        return Val(exp.Coalesce(this=node, expressions=[exp.Boolean(this=op == "!=")]))
    return Val(node)


def _cmp_by_range(op: str, a: Val, b: Val) -> bool | None:
    if a.scale is None or None in (a.lo, a.hi, b.lo, b.hi):
        return None
    if op in (">=", ">", "<", "<="):
        if op in ("<", "<="):
            a, b = b, a
            op = ">" if op == "<" else ">="
        if (op == ">=" and a.lo >= b.hi) or (op == ">" and a.lo > b.hi):
            return True
        if (op == ">=" and a.hi < b.lo) or (op == ">" and a.hi <= b.lo):
            return False
    if op == "=" and (a.hi < b.lo or b.hi < a.lo):
        return False
    if op == "!=" and (a.hi < b.lo or b.hi < a.lo):
        return True
    return None


def and_(*vals: Val) -> Val:
    items = []
    for v in vals:
        if v.is_const:
            if not v.const:
                return FALSE
            continue
        items.append(v)
    if not items:
        return TRUE
    node = items[0].sql()
    for v in items[1:]:
        node = exp.And(this=_w(node), expression=_w(v.sql()))
    return Val(node) if len(items) > 1 else items[0]


def or_(*vals: Val) -> Val:
    items = []
    for v in vals:
        if v.is_const:
            if v.const:
                return TRUE
            continue
        items.append(v)
    if not items:
        return FALSE
    node = items[0].sql()
    for v in items[1:]:
        node = exp.Or(this=_w(node), expression=_w(v.sql()))
    return Val(node) if len(items) > 1 else items[0]


def not_(v: Val) -> Val:
    if v.is_const:
        return K(not v.const)
    return Val(exp.Not(this=_w(v.sql())))


def is_null(v: Val) -> Val:
    if v.is_const:
        return K(v.const is None)
    return Val(exp.Is(this=_w(v.sql()), expression=exp.Null()))


def _same(a: Val, b: Val) -> bool:
    return a is b or (
        a.is_const
        and b.is_const
        and type(a.const) is type(b.const)
        and a.const == b.const
        and a.scale == b.scale
    )


def as_cond(c: Val) -> Val:
    """``CASE WHEN x THEN TRUE ELSE FALSE END`` is ``x`` where only truth matters (a WHEN)."""
    if c.arms is not None:
        branches, default = c.arms
        if len(branches) == 1 and _same(branches[0][1], TRUE) and _same(default, FALSE):
            return branches[0][0]
    return c


def case(branches: list[tuple[Val, Val]], default: Val = NULL) -> Val:
    """``CASE WHEN c THEN v ... ELSE default END``, folded where the conditions are known."""
    kept, default = _case_arms(branches, default)
    values = [v for _, v in kept] + [default]
    if not kept or _one_value(values, default):
        return default
    scales = {v.scale for v in values if v.scale is not None}
    if len(scales) > 1:
        s = max(scales)
        kept = [(c, rescale(v, s) if v.scale is not None else v) for c, v in kept]
        default = rescale(default, s) if default.scale is not None else default
        values = [v for _, v in kept] + [default]
    lo, hi = _case_range(values)
    wide = any(v.wide for v in values)
    scale = next((v.scale for v in values if v.scale is not None), None)
    ifs = [exp.If(this=c.sql(), true=_wide_if(v, wide)) for c, v in kept]
    node = exp.Case(
        ifs=ifs,
        default=None if default.is_const and default.const is None else _wide_if(default, wide),
    )
    arms = (kept, default) if all(v.is_const for v in values) else None
    return Val(node, None, scale, lo, hi, wide, any(v.absent for v in values), arms=arms)


def _case_arms(branches: list[tuple[Val, Val]], default: Val) -> tuple[list[tuple[Val, Val]], Val]:
    """(the arms that can matter, the default): an arm whose condition is false goes, one that
    is true becomes the default (the arms after it go), neighbours with one value are one arm,
    and trailing arms with the default's value go."""
    kept: list[tuple[Val, Val]] = []
    for c, v in branches:
        c = as_cond(c)
        if c.is_const:
            if c.const:
                default = v
                break
            continue
        if kept and _same(kept[-1][1], v):  # WHEN a THEN x WHEN b THEN x: WHEN a OR b THEN x
            kept[-1] = (or_(kept[-1][0], c), v)
            continue
        kept.append((c, v))
    while kept and _same(kept[-1][1], default):
        kept.pop()
    return kept, default


def _one_value(values: list[Val], default: Val) -> bool:
    """Every arm gives the default, or the same constant."""
    return all(v is default for v in values) or (
        all(v.is_const for v in values) and len({(type(v.const), v.const) for v in values}) == 1
    )


def _case_range(values: list[Val]) -> tuple[Any, Any]:
    """The range of a CASE of numbers: of its values (NULL aside), where each is bounded."""
    numeric = [
        v
        for v in values
        if v.scale is not None or isinstance(v.const, int) and not isinstance(v.const, bool)
    ]
    lo = hi = None
    if numeric and all(v.lo is not None for v in values if not (v.is_const and v.const is None)):
        present = [v for v in values if not (v.is_const and v.const is None)]
        lo = min(v.lo for v in present)
    if numeric and all(v.hi is not None for v in values if not (v.is_const and v.const is None)):
        present = [v for v in values if not (v.is_const and v.const is None)]
        hi = max(v.hi for v in present)
    return lo, hi


def _wide_if(v: Val, wide: bool) -> exp.Expression:
    return cast_wide(v.sql()) if wide and not v.wide and not v.is_const else v.sql()


def text_of(v: Val) -> exp.Expression:
    return exp.Cast(this=v.sql(), to=VARCHAR.copy())


# ---- errors: a VARCHAR code per record, NULL when none -----------------------------------
# M:<field>  a field is absent that a rule reads        N  no row of a decision table applies
# R:<e4>     a ratio outside 0..100% (in 1/10000)       C:<fen>  a negative credit
# F:<field>  an amount in the table finer than a fen


def err_first(*errs: Any) -> Any:
    found = [e for e in errs if e is not None]
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return exp.Coalesce(this=found[0].copy(), expressions=[e.copy() for e in found[1:]])


def err_when(cond: Val, e: Any) -> Any:
    if e is None or (cond.is_const and not cond.const):
        return None
    if cond.is_const:
        return e
    return exp.Case(ifs=[exp.If(this=cond.sql(), true=e.copy())])


def err_code(code: str, value: Val | None = None) -> exp.Expression:
    if value is None:
        return exp.Literal.string(code)
    return exp.DPipe(this=exp.Literal.string(code + ":"), expression=text_of(value), safe=True)


def _case_err(ifs: list, default: Any) -> Any:
    """``CASE WHEN c THEN e ... ELSE default END`` over errors (None: no error), folded."""
    kept = []
    for c, e in ifs:
        if c.is_const:
            if c.const:
                default = e
                break
            continue
        kept.append((c, e))
    if all(e is None for _, e in kept) and default is None:
        return None
    if not kept:
        return default
    return exp.Case(
        ifs=[exp.If(this=c.sql(), true=e.copy() if e is not None else exp.Null()) for c, e in kept],
        default=default.copy() if default is not None else None,
    )


def _err_chain(items: list, stop_when: bool) -> Any:
    """The first error of conditions evaluated left to right until one is ``stop_when``
    (``and`` stops at false, ``or`` at true), as Python's short circuit does."""
    out = None
    for v, e in reversed(items):
        ifs = []
        if e is not None:
            ifs.append((Val(exp.Not(this=exp.Is(this=e.copy(), expression=exp.Null()))), e))
        ifs.append((v if stop_when else not_(v), None))
        out = _case_err(ifs, out)
    return out


# ---- the dialect --------------------------------------------------------------------------


def to_sql(tree: exp.Expression, dialect: str, pretty: bool = True) -> str:
    """The tree as SQL text.  Spark has no HUGEINT (DECIMAL(38, 0) instead) and its
    SUM(BIGINT) is a BIGINT that may wrap: its running sums are taken in DECIMAL(38, 0)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r} (known: {', '.join(DIALECTS)})")
    if dialect == "spark":

        def fix(node):
            if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
                return exp.DataType.build("DECIMAL(38, 0)")
            if isinstance(node, exp.Sum):
                return exp.Sum(
                    this=exp.Cast(this=node.this.copy(), to=exp.DataType.build("DECIMAL(38, 0)"))
                )
            return node

        tree = tree.transform(fix)
    return tree.sql(dialect=dialect, pretty=pretty)


# ---- reading fields, parameters, constants --------------------------------------------------


@attrs.frozen
class FieldRef:
    val: Val
    nullable: bool = False  # NULL: the field is absent (reading it is an error in the record)


def const_val(value: Any, t: str | None) -> Val:
    """An IR constant as the lowering holds it."""
    if t in SCALE:
        scale = SCALE[t]
        if t == V.NUMBER:
            scale = max(0, -value.as_tuple().exponent)
        x = value.scaleb(scale, CTX)
        if x != x.to_integral_value(context=CTX):
            raise NotSupported(f"the constant {value} has more decimals than a {t} allows")
        return K(int(x), scale)
    if isinstance(value, dt.datetime):
        return K(value.date())
    return K(value)


def type_range(t: str, nonneg: bool) -> tuple[Any, Any]:
    if t == V.MONEY:
        return (0 if nonneg else -MONEY_MAX), MONEY_MAX
    if t == V.PERCENT:
        return 0, 10**4
    if t == V.POINTS:
        return -(10**4), 10**4
    if t == V.NUMBER:
        return -(10**21), 10**21
    return None, None


def param_val(name: str, t: str, params: dict | None) -> Val:
    """A parameter: its value inlined (``params`` given) or a placeholder ``$name`` bound by the
    caller in the units of its type (fen, 1/10000, 1/1000000, DATE, BOOLEAN)."""
    if params is not None and params.get(name) is not None:
        value = params[name]
        if t in SCALE:
            scale = SCALE[t]
            x = value.scaleb(scale, CTX)
            if x != x.to_integral_value(context=CTX):
                raise NotSupported(
                    f"parameter {name} has more decimals than the SQL backend keeps ({scale})"
                )
            return K(int(x), scale)
        return K(value)
    sql_type = {V.DATE: "DATE", V.BOOL: "BOOLEAN", V.TEXT: "VARCHAR"}.get(
        t, "BIGINT" if t in SCALE else "VARCHAR"
    )
    node = exp.Cast(this=exp.Placeholder(this=name), to=exp.DataType.build(sql_type))
    lo, hi = type_range(t, True)
    return Val(node, None, SCALE.get(t), lo, hi)


def column(name: str) -> exp.Column:
    return exp.column(name)


# ---- lowering of expressions, conditions and tables ----------------------------------------


class Lowering:
    """Expressions, conditions and decision tables of the IR as ``Val``s plus errors.

    ``fields`` maps a field name to a ``FieldRef``; variables are read from the env
    passed in; parameters are inlined or placeholders."""

    def __init__(self, policy: ir.Policy, params: dict | None):
        self.policy = policy
        self.params = params

    # -- expressions: (Val, err)
    def expr(self, e: ir.Expr, env: Any) -> tuple[Val, Any]:
        if type(e) is ir.Const:
            return const_val(e.value, e.type), None
        if type(e) is ir.Field:
            ref = env.fields.get(e.name)
            if ref is None:
                raise NotSupported(f"the SQL backend does not read the field {e.name}")
            if ref.nullable:
                return ref.val, err_when(is_null(ref.val), err_code("M:" + e.name))
            return ref.val, None
        if type(e) is ir.Var:
            return env.vars[e.name], None
        if type(e) is ir.Param:
            return param_val(e.name, self.policy.params.get(e.name, e.type), self.params), None
        if type(e) is ir.Arith:
            (a, ea), (b, eb) = self.expr(e.left, env), self.expr(e.right, env)
            return arith(e.op, a, b), err_first(ea, eb)
        raise TypeError(e)

    def cond(self, c: ir.Cond, env: Any) -> tuple[Val, Any]:
        if type(c) is ir.Cmp:
            (a, ea), (b, eb) = self.expr(c.left, env), self.expr(c.right, env)
            return compare(c.op, a, b), err_first(ea, eb)
        if type(c) is ir.InSet:
            return self.in_set(c, env)
        if type(c) is ir.AllOf:
            items = [self.cond(i, env) for i in c.items]
            return and_(*(v for v, _ in items)), _err_chain(items, stop_when=False)
        if type(c) is ir.AnyOf:
            items = [self.cond(i, env) for i in c.items]
            return or_(*(v for v, _ in items)), _err_chain(items, stop_when=True)
        if type(c) is ir.Negate:
            v, e = self.cond(c.item, env)
            return not_(v), e
        if type(c) is ir.Present:  # the record has a value for an optional field: IS NOT NULL
            ref = env.fields.get(c.field)
            if ref is None:
                raise NotSupported(f"the SQL backend does not read the field {c.field}")
            return not_(is_null(ref.val)), None
        raise TypeError(c)

    def in_set(self, c: ir.InSet, env: Any) -> tuple[Val, Any]:
        """Membership: a constant when the operand is one (or a case of constants), TRUE when
        its domain is covered, else ``=`` or ``IN`` (NULL-safe when the value may be absent)."""
        o, eo = self.expr(c.operand, env)
        values = []
        for x in sorted(c.values, key=repr):
            cv = (
                const_val(x, getattr(c.operand, "type", None))
                if not isinstance(x, (str, bool))
                else K(x)
            )
            values.append(
                rescale(cv, o.scale)
                if o.scale is not None and cv.scale is not None and cv.scale < o.scale
                else cv
            )
        if o.is_const:
            return K(any(o.const == v.const for v in values)), eo
        if o.arms is not None:
            branches, default = o.arms
            return case(
                [(when, K(any(x.const == v.const for v in values))) for when, x in branches],
                K(any(default.const == v.const for v in values)),
            ), eo
        if o.domain is not None:
            values = [v for v in values if v.const in o.domain]
            if {v.const for v in values} >= set(o.domain):
                return TRUE, eo
        if not values:
            return FALSE, eo
        if len(values) == 1:
            return compare("=", o, values[0]), eo
        node: exp.Expression = exp.In(this=_w(o.sql()), expressions=[v.sql() for v in values])
        if o.absent:
            node = exp.Coalesce(this=node, expressions=[exp.Boolean(this=False)])
        return Val(node), eo

    def value(self, v: ir.Value, env: Any) -> tuple[Val, Any]:
        """A value or a decision table (unique hit: the first arm that holds)."""
        if not isinstance(v, ir.Decide):
            return self.expr(v, env)
        covered = self._covers(v, env)
        arms = []
        for arm in v.arms:
            c, ce = self.cond(arm.when, env)
            val, ve = self.expr(arm.value, env)
            arms.append((c, ce, val, ve))
        if covered:
            value = case([(c, val) for c, _, val, _ in arms[:-1]], arms[-1][2])
        else:
            value = case([(c, val) for c, _, val, _ in arms])
        # the first error met: an arm's condition fails to evaluate, or the value of the arm
        # that holds does, or no arm holds
        err = None if covered else err_code("N")
        for c, ce, _val, ve in reversed(arms):
            ifs = []
            if ce is not None:
                ifs.append((Val(exp.Not(this=exp.Is(this=ce.copy(), expression=exp.Null()))), ce))
            ifs.append((c, ve))
            err = _case_err(ifs, err)
        return value, err

    def _covers(self, d: ir.Decide, env: Any) -> bool:
        """Whether some arm holds for every record: proven by enumerating the fields the
        arms read when all are enumerations or booleans (a table on hosp_lv and psn_type)."""
        if any(params_read(a.when) for a in d.arms):
            return False
        names = _arm_fields(d)
        if names is None:
            return True
        domains = []
        for name in names:
            dom = self._domain(name, env)
            if dom is None:
                return False
            domains.append(dom)
        total = 1
        for dom in domains:
            total *= len(dom)
        if total > 5000:
            return False
        for point in itertools.product(*domains):
            record = dict(zip(names, point, strict=True))
            if not any(E.cond(a.when, record, {}) for a in d.arms):
                return False
        return True

    def _domain(self, name: str, env: Any) -> list | None:
        """Every value the field ``name`` can take in a record (a constant: itself), or None
        when they cannot be listed (absent, nullable, neither an enumeration nor a bool)."""
        ref = env.fields.get(name)
        if ref is None:
            return None
        if ref.val.is_const and isinstance(ref.val.const, (str, bool)):
            return [ref.val.const]
        t = env.types.get(name)
        if ref.nullable or ref.val.absent:
            return None
        if t in self.policy.vocab.enums:  # the policy's vocabulary: its own categories too
            return list(self.policy.vocab.values(t))
        if t == V.BOOL:
            return [True, False]
        return None

    # -- blocks in force
    def date_point(self, point: dt.date | str | None) -> Val:
        if point is None or isinstance(point, dt.date):
            return K(point)
        return param_val(point, V.DATE, self.params)

    def block_choice(self, program: ir.Program, day: Val) -> Val:
        """The index of the block in force on ``day`` (``common.block_at``), -1 for none:
        among the blocks whose dates contain it, the latest start, ties to the later."""
        points = [(self.date_point(b.start), self.date_point(b.until)) for b in program.blocks]

        def contains(i):
            start, until = points[i]
            c = compare("<=", start, day)
            if not (until.is_const and until.const is None):
                c = and_(c, compare("<=", day, until))
            return c

        if all(s.is_const for s, _ in points):
            order = sorted(range(len(points)), key=lambda i: (points[i][0].const, i), reverse=True)
            return case([(contains(i), K(i, 0)) for i in order], K(-1, 0))
        branches = []
        for i in range(len(points)):
            beaten = []
            for j in range(len(points)):
                if j == i:
                    continue
                later = compare(">", points[j][0], points[i][0])
                if j > i:
                    later = or_(later, compare("=", points[j][0], points[i][0]))
                beaten.append(and_(contains(j), later))
            branches.append((and_(contains(i), not_(or_(*beaten))), K(i, 0)))
        return case(branches, K(-1, 0))

    # -- may-pay: the first verdict that holds, in the block in force
    def decision(self, program: ir.Program, env: Any, day: Val) -> tuple[Val, Val, list]:
        """(verdict index, channel) over ``env``; indexes into the returned list of verdicts
        (-1: no verdict holds, -2: no block in force)."""
        verdicts: list = []
        blk = self.block_choice(program, day)
        per_block, channels = [], []
        for b, block in enumerate(program.blocks):
            arms, chans = [], []
            for step in block.steps:
                if not isinstance(step, ir.Decision):
                    raise NotSupported(
                        f"the SQL backend runs only Decision steps in {program.kind}"
                    )
                for verdict in step.verdicts:
                    c, ce = self.cond(verdict.when, env)
                    if ce is not None:
                        raise NotSupported(
                            "an account-use condition reads a field that may be absent"
                        )
                    verdicts.append(verdict)
                    arms.append((c, K(len(verdicts) - 1, 0)))
                    if verdict.channel is not None:
                        ch, che = self.value(verdict.channel, env)
                        if che is not None:
                            raise NotSupported(
                                "an account-use channel reads a field that may be absent"
                            )
                        chans.append((c, ch))
                    else:
                        chans.append((c, NULL))
            per_block.append((compare("=", blk, K(b, 0)), case(arms, K(-1, 0))))
            channels.append((compare("=", blk, K(b, 0)), case(chans, NULL)))
        return case(per_block, K(-2, 0)), case(channels, NULL), verdicts

    def allowed(self, program: ir.Program, env: Any, day: Val) -> Val:
        """Whether may-pay permits the request described by ``env`` (settle's account step):
        the first verdict that holds in the block in force, else no."""
        blk = self.block_choice(program, day)
        per_block = []
        for b, block in enumerate(program.blocks):
            arms = []
            for step in block.steps:
                if not isinstance(step, ir.Decision):
                    raise NotSupported(
                        f"the SQL backend runs only Decision steps in {program.kind}"
                    )
                for verdict in step.verdicts:
                    c, ce = self.cond(verdict.when, env)
                    if ce is not None:
                        raise NotSupported(
                            "an account-use condition reads a field that may be absent"
                        )
                    arms.append((c, K(bool(verdict.allowed))))
            per_block.append((compare("=", blk, K(b, 0)), case(arms, FALSE)))
        return case(per_block, FALSE)


# ---- environments of the symbolic execution -------------------------------------------------


def _arm_fields(d: ir.Decide) -> list[str] | None:
    """The fields the arms' conditions read, in order of first reading, up to an arm that
    always holds (None: there is one, so the table covers every record)."""
    names: list[str] = []
    for a in d.arms:
        if a.when == ir.TRUE:
            return None
        for f in fields_read(a.when):
            if f not in names:
                names.append(f)
    return names


class Env:
    """What a record's execution has computed so far, per dated version: variables,
    whether the version's steps still run (``live``: no gate has failed), the reason,
    the first error; ``here`` is "this record is in this version"."""

    def __init__(self, fields: dict, types: dict, vars_: dict, here: Val = TRUE):
        self.fields, self.types, self.vars = fields, types, dict(vars_)
        self.live: Val = TRUE
        self.reason: Val = NULL
        self.err = None
        self.here = here

    def fork(self, here: Val) -> "Env":
        out = Env(self.fields, self.types, self.vars, here)
        out.live, out.reason, out.err = self.live, self.reason, self.err
        return out


@attrs.frozen
class Request:
    """A step needs the running state of a counter group: the lowering resolves it when
    every version that charges the group has asked."""

    group: str
    payload: dict


@attrs.define
class Group:
    """Counters resolved together: one closed-form counter, or the counters of a
    sequential (kernel) step."""

    id: str
    kind: str  # consume | cap | bands | seq
    counters: list
    blocks: set
    mode: str = ""  # seq: consume | limit
    why: str = ""  # seq: why no closed form


# ---- plans: stages of SQL and kernels --------------------------------------------------------


@attrs.frozen
class KernelSpec:
    """A sequential step: ``sequential.run`` over each person's visits in settlement
    order.  ``inputs``: the value, then per counter its applies / bucket / each / amount
    columns; ``outputs``: the result, then (state kept) per counter the amount used after."""

    name: str
    mode: str  # consume | limit
    counters: tuple
    inputs: tuple
    outputs: tuple
    why: str


@attrs.frozen
class Stage:
    kind: str  # sql | kernel
    name: str
    select: Any = None  # sql: a SELECT over the stage before it
    kernel: KernelSpec | None = None  # kernel: reads the stage ``reads``
    reads: str | None = None


@attrs.frozen
class Plan:
    """A lowered program: ``stages`` of SQL (each a SELECT over the previous one) and
    kernels, then ``final`` (the output columns, over the last stage)."""

    kind: str
    stages: tuple
    final: Any
    outputs: tuple  # output column names, in order
    params: tuple  # names of the parameters bound as placeholders
    # (counter id, used, bucket, each) output columns, when state is kept
    state_counters: tuple = ()

    @property
    def kernels(self) -> tuple:
        return tuple(s.kernel for s in self.stages if s.kind == "kernel")

    def tree(self, ordered: bool = True) -> exp.Select:
        """The whole program as one query (WITH ... SELECT ..., ORDER BY row_no when
        ``ordered``); refused (``NotSupported``) when a step needs the sequential step."""
        if self.kernels:
            raise NotSupported(self.kernels[0].why)
        query = self.final.copy()
        for st in self.stages:
            query = query.with_(st.name, as_=st.select.copy())
        return query.order_by(column("row_no")) if ordered else query

    def sql(self, dialect: str = "duckdb", pretty: bool = True, ordered: bool = True) -> str:
        return to_sql(self.tree(ordered), dialect, pretty)


@attrs.define
class Def:
    name: str
    node: Any  # exp; None for a kernel output
    deps: set
    kernel: KernelSpec | None = None
    colocate: str | None = (
        None  # computed in the same stage as this column (one sort for two windows)
    )


class Columns:
    """The columns a lowering defines, each an expression over earlier ones; ``stages``
    puts each in the first stage after everything it reads (windows over windows need
    a stage each; columns of one depth share one SELECT)."""

    def __init__(self, base: set):
        self.base = set(base)
        self.defs: dict[str, Def] = {}
        self.n = 0

    def fresh(self, hint: str) -> str:
        self.n += 1
        return f"{hint}_{self.n}"

    def add(self, v: Val, hint: str, colocate: str | None = None) -> Val:
        if v.is_const or (isinstance(v.node, exp.Column) and colocate is None):
            return v
        name = self.fresh(hint)
        self.defs[name] = Def(
            name, v.node, {c.name for c in v.node.find_all(exp.Column)}, colocate=colocate
        )
        return v.like(column(name))

    def kernel(self, spec: KernelSpec) -> None:
        for o in spec.outputs:
            self.defs[o] = Def(o, None, set(spec.inputs), kernel=spec)

    def inline(self, roots: list[str]) -> None:
        """Put a column that one expression reads once, and that holds no window, into that
        expression: fewer stages for the engine to bind and optimise, the same values."""
        while True:
            uses = self._uses(roots)
            done = True
            for name, d in list(self.defs.items()):
                if self._inline(name, d, uses):
                    done = False
            if done:
                return

    def _uses(self, roots: list[str]) -> Counter[str]:
        """How often each column is read: 2 (never inlined) for an output, a column a window
        shares its sort with, a kernel's input and a qualified reference; else 1 per read."""
        uses: Counter[str] = Counter()
        for r in roots:
            uses[r] += 2  # an output stays a column
        for d in self.defs.values():
            if d.colocate:  # windows sharing a sort stay where they are
                uses[d.colocate] += 2
                uses[d.name] += 2
            if d.node is None:  # a kernel reads its inputs as columns
                for dep in d.deps:
                    uses[dep] += 2
            else:
                for c in d.node.find_all(exp.Column):
                    uses[c.name] += 1 if c.table == "" else 2
        return uses

    def _inline(self, name: str, d: Def, uses: Counter[str]) -> bool:
        """Put ``name`` into the one expression that reads it, when it is read once and holds
        no window; whether it was."""
        if uses.get(name) != 1 or d.kernel is not None or d.node is None or d.node.find(exp.Window):
            return False
        reader = next(
            (r for r in self.defs.values() if r.node is not None and name in r.deps), None
        )
        if reader is None:
            return False
        for c in list(reader.node.find_all(exp.Column)):
            if c.name == name and c.table == "":
                replacement = _w(d.node.copy())
                if c is reader.node:
                    reader.node = replacement
                else:
                    c.replace(replacement)
        reader.deps = (reader.deps - {name}) | d.deps
        del self.defs[name]
        return True

    def stages(self, first: Stage, roots: list[str]) -> list[Stage]:
        """The stages after ``first`` that compute ``roots``: per depth, the kernels of that
        depth, then one SELECT of the previous stage (joined with their outputs) and the
        columns of that depth."""
        self.inline(roots)
        levels = self._levels(self._needed(roots))
        stages, prev = [first], first.name
        for level in sorted(levels):
            names = levels[level]
            kernels = []
            for n in names:
                k = self.defs[n].kernel
                if k is not None and k not in kernels:
                    kernels.append(k)
            for k in kernels:
                stages.append(Stage("kernel", k.name, kernel=k, reads=prev))
            select = self._stage_select(prev, names, kernels)
            prev = f"s{level}"
            stages.append(Stage("sql", prev, select))
        return stages

    def _needed(self, roots: list[str]) -> set[str]:
        """The columns ``roots`` read, directly or through others (and the columns their
        windows share a sort with)."""
        needed, stack = set(), list(roots)
        while stack:
            n = stack.pop()
            if n in needed or n not in self.defs:
                continue
            needed.add(n)
            stack.extend(self.defs[n].deps)
            colocate = self.defs[n].colocate
            if colocate:
                stack.append(colocate)
        return needed

    def _levels(self, needed: set[str]) -> dict[int, list[str]]:
        """The needed columns by depth (1 + the deepest column read; a column sharing a sort
        at least as deep as its partner), each in definition order."""
        depth: dict[str, int] = {}

        def depth_of(name: str) -> int:
            if name in self.base or name not in self.defs:
                return 0
            if name not in depth:
                d = self.defs[name]
                depth[name] = -1  # a cycle would be a bug of the lowering
                own = 1 + max((depth_of(x) for x in d.deps), default=0)
                if d.colocate is not None:
                    own = max(own, depth_of(d.colocate))
                depth[name] = own
            return depth[name]

        levels: dict[int, list[str]] = {}
        for name in self.defs:  # definition order
            if name in needed:
                levels.setdefault(depth_of(name), []).append(name)
        return levels

    def _stage_select(self, prev: str, names: list[str], kernels: list) -> exp.Select:
        """One stage's SELECT: every column of ``prev`` (joined with the kernels' outputs on
        row_no), then the columns ``names`` computed here."""
        if kernels:
            select = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(prev))).from_(
                prev
            )
            for k in kernels:
                select = select.join(exp.to_table(k.name), using=["row_no"])
                select = select.select(
                    *[exp.column(o, table=k.name) for o in k.outputs], append=True
                )
        else:
            select = exp.select(exp.Star()).from_(prev)
        for n in names:
            if self.defs[n].kernel is None:
                select = select.select(exp.alias_(self.defs[n].node.copy(), n), append=True)
        return select


def order_by() -> exp.Order:
    return exp.Order(
        expressions=[
            exp.Ordered(this=column("setl_date"), nulls_first=False),
            exp.Ordered(this=column("setl_time"), nulls_first=True),
            exp.Ordered(this=column("row_no"), nulls_first=False),
        ]
    )


def running(func: exp.Expression, partition: list) -> exp.Window:
    """``func OVER (PARTITION BY ... ORDER BY settlement order ROWS BETWEEN UNBOUNDED
    PRECEDING AND CURRENT ROW)``: this visit and every one settled before it."""
    return exp.Window(
        this=func,
        partition_by=partition,
        order=order_by(),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )


# ---- the input table ----------------------------------------------------------------------


def sql_type(t: str) -> str:
    if t in (V.MONEY, V.PERCENT, V.POINTS):
        return "BIGINT"
    if t == V.NUMBER:
        return "HUGEINT"
    return {V.BOOL: "BOOLEAN", V.DATE: "DATE", V.TEXT: "VARCHAR"}.get(t, "VARCHAR")


def visit_columns(policy: ir.Policy) -> list[tuple[str, str, str]]:
    """(column, IR type, SQL type) of the visits table the settle query reads.  Money in
    fen; ``setl_date`` the day and ``setl_time`` the moment (NULL: a date only);
    ``row_no`` the input row (the tiebreak of the settlement order); the platform's
    optional codes and identifiers (``inputs.PLATFORM_FIELDS``, NULL: not given); then
    the policy's declared inputs (numbers in millionths)."""
    out = [
        ("row_no", "row", "BIGINT"),
        ("psn_no", V.TEXT, "VARCHAR"),
        ("psn_type", "psn_type", "VARCHAR"),
        ("flxempe_flag", V.BOOL, "BOOLEAN"),
        ("setl_date", V.DATE, "DATE"),
        ("setl_time", "time", "TIMESTAMP"),
        ("hosp_lv", "hosp_lv", "VARCHAR"),
        ("designated", V.BOOL, "BOOLEAN"),
    ]
    for f in (
        "medfee_sumamt",
        "fulamt_ownpay_amt",
        "overlmt_selfpay",
        "preselfpay_amt",
        "acct_balc",
    ):
        out.append((f, V.MONEY, "BIGINT"))
    for f in PLATFORM_FIELDS:
        out.append((f, V.TEXT, "VARCHAR"))
    for name, (t, _) in policy.inputs.items():
        if name not in VISIT_SPEC:
            out.append((name, t, sql_type(t)))
    return out


def _adapt(name: str, t: str, decimal: bool, default: Any) -> exp.Expression:
    """A column of the source table in the lowering's form: a DECIMAL amount in yuan
    becomes integer fen (exactly: DECIMAL times a power of ten, never a division), an
    absent optional field its default."""
    node: exp.Expression = exp.column(name, table="v")
    if t in SCALE and decimal:
        scale = SCALE[t]
        node = exp.Cast(
            this=exp.Mul(
                this=exp.Cast(this=node, to=exp.DataType.build(f"DECIMAL(38, {scale})")),
                expression=exp.Literal.number(10**scale),
            ),
            to=exp.DataType.build(sql_type(t), dialect="duckdb"),
        )
    if default is not None:
        d = const_val(default, t) if t in SCALE else K(default)
        node = exp.Coalesce(this=node, expressions=[d.sql()])
    return node


def source_select(columns: list, source: str, decimal_columns: dict, defaults: dict) -> exp.Select:
    """The first stage: the source table's columns in the lowering's form.  ``decimal_columns``
    maps a DECIMAL column to its scale; one finer than its unit (a fen) is an error in
    the record (``src_err``)."""
    cols = [
        exp.alias_(_adapt(name, t, name in decimal_columns, defaults.get(name)), name)
        for name, t, _ in columns
    ]
    select = exp.select(*cols).from_(exp.alias_(exp.to_table(source), "v", table=True))
    errs = []
    for name, t, _ in columns:
        if t in SCALE and decimal_columns.get(name, 0) > SCALE[t]:
            src = exp.column(name, table="v")
            finer = exp.NEQ(
                this=src.copy(),
                expression=exp.Cast(
                    this=src.copy(), to=exp.DataType.build(f"DECIMAL(38, {SCALE[t]})")
                ),
            )
            errs.append(exp.Case(ifs=[exp.If(this=finer, true=exp.Literal.string("F:" + name))]))
    if errs:
        select = select.select(exp.alias_(err_first(*errs), "src_err"), append=True)
    return select


def _defaults(spec: dict, policy: ir.Policy) -> dict:
    out = {k: fs.default for k, fs in spec.items() if fs.default is not None}
    out.update({k: d for k, (_, d) in policy.inputs.items() if d is not None and k not in spec})
    return out


# ---- settle --------------------------------------------------------------------------------

MONEY_OUTPUTS = (*SETTLED_AMOUNTS, "balc")
SETTLE_OUTPUTS = (
    "inscp_scp_amt",
    "act_pay_dedc",
    "pool_prop_selfpay",
    "hifp_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
    "reason",
)
EXTRA_OUTPUTS = ("remaining", "hifp_raw", "blk", "err")


def settle_outputs(program: ir.Program) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every output, the money outputs) of the settle program: ``SETTLE_OUTPUTS`` with the
    further funds the program pays (e.g. ``hifob_pay``) after ``hifp_pay``."""
    funds = settle_funds(program)
    at = SETTLE_OUTPUTS.index("hifp_pay") + 1
    return SETTLE_OUTPUTS[:at] + funds + SETTLE_OUTPUTS[at:], MONEY_OUTPUTS + funds


class SettleLowering(Lowering):
    """The settle program as a plan over the visits table (``visit_columns``).

    ``params`` None: parameters are placeholders; ``state``: read what earlier calls used
    (tables ``pl_state``: psn_no, counter, bucket, each_v, used; ``pl_balances``: psn_no,
    balc) and output what this call leaves; ``decimal_columns``: {column: scale} of money
    columns given as DECIMAL yuan; ``extras``: the columns the runner needs for messages
    and errors (``EXTRA_OUTPUTS``); ``balances`` False: no visit gives ``acct_balc`` (the
    account pays nothing and no balance is known, without the windows that follow one)."""

    def __init__(
        self,
        policy: ir.Policy,
        params: dict | None = None,
        *,
        source: str = "visits",
        state: bool = False,
        extras: bool = True,
        decimal_columns: dict | None = None,
        balances: bool = True,
    ):
        super().__init__(policy, params)
        self.program = policy.programs["settle"]
        self.source, self.state, self.extras = source, state, extras
        self.balances = balances or state
        self.decimal_columns = dict(decimal_columns or {})
        self.columns_in = visit_columns(policy)
        self.counters = {c.id: c for c in self.program.counters}
        base = {name for name, _, _ in self.columns_in} | {"src_err"}
        self.cols = Columns(base)
        self.priors: list = []  # (column, counter) read from pl_state
        self.state_counters: list = []
        self.groups: dict[str, Group] = {}
        self.group_of: dict[str, str] = {}
        self._buckets: dict[str, Val] = {}
        self._limited: dict[str, str] = {}  # a Limit's output -> the variable it limits
        self._analyse()
        self.plan = self._build()

    def col(self, v: Val, hint: str, colocate: str | None = None) -> Val:
        return self.cols.add(v, hint, colocate)

    # -- analysis: which counters have a closed form
    def _analyse(self) -> None:
        """Group the counters: each with a closed form is a group of its own; those without
        one, with the counters charged together with them (interacting caps), form one
        sequential group per connected set."""
        for part in (self.program.prelude, self.program.otherwise, self.program.postlude):
            for step in part:
                if isinstance(step, (ir.Consume, ir.BandShare, ir.Limit)):
                    raise NotSupported(f"a {type(step).__name__} step outside a dated version")
        sites = self._sites()
        parent: dict[str, str] = {}
        seq: dict[str, list[str]] = {}  # counter -> why it has no closed form
        for cid, ss in sites.items():
            self._classify(cid, ss, parent, seq)
        comps: dict[str, list] = {}
        for cid in seq:
            comps.setdefault(_root(parent, cid), []).append(cid)
        for component in comps.values():
            self._sequential_group(component, sites, seq)

    def _sites(self) -> dict[str, list]:
        """Counter -> where it is charged: [(block, kind of step, step, amount or None)], in
        program order."""
        sites: dict[str, list] = {}
        for b, block in enumerate(self.program.blocks):
            for step in block.steps:
                charges = _CHARGES.get(type(step))
                if charges is None:
                    continue
                for counter, kind, amount in charges(step):
                    sites.setdefault(counter, []).append((b, kind, step, amount))
        return sites

    def _classify(self, cid: str, ss: list, parent: dict[str, str], seq: dict) -> None:
        """A counter kept across visits gets a closed-form group of its own, or goes in ``seq``
        with why not (joined in ``parent`` to the caps it is charged together with)."""
        counter = self.counters[cid]
        kind, blocks = _site_kind(cid, ss)
        if counter.period == "visit":
            return  # no state: each visit its own key
        if kind == "bands":
            self._group("bands", [cid], set(blocks))
            return
        whys = self._amount_whys(cid, ss, blocks)
        if kind == "cap":
            whys += self._interacting(cid, ss, parent)
        if whys:
            seq[cid] = whys
            parent.setdefault(cid, cid)
        else:
            self._group(kind, [cid], set(blocks))

    def _amount_whys(self, cid: str, ss: list, blocks: list) -> list[str]:
        """Why the amount charged to ``cid`` is not constant within its ledger key (none: it
        is)."""
        counter = self.counters[cid]
        if len({_normal(a) for _, _, _, a in ss}) > 1:
            return [
                f"the amount of the {counter.kind} {cid} differs between the versions "
                f"{' and '.join(self._version(b) for b in blocks)}, which share its counter"
            ]
        outside = [f for f in fields_read(ss[0][3]) if f != counter.each]
        if outside:
            return [
                f"the amount of the {counter.kind} {cid} depends on {', '.join(outside)}, "
                "which its "
                "counter does not keep apart (it varies within one ledger key)"
            ]
        return []

    def _interacting(self, cid: str, ss: list, parent: dict[str, str]) -> list[str]:
        """The versions that charge the cap ``cid`` together with another cap that carries: why
        each has no closed form; the caps are joined in ``parent``."""
        whys = []
        for b, _, step, _ in ss:
            stateful = [c.counter for c in step.caps if self.counters[c.counter].period != "visit"]
            if len(stateful) > 1:
                whys.append(
                    f"the version {self._version(b)} charges the caps "
                    f"{' and '.join(stateful)} "
                    "together on one payment (interacting caps)"
                )
                for other in stateful:
                    parent.setdefault(other, other)
                    parent[_root(parent, other)] = _root(parent, cid) if cid in parent else other
                    parent.setdefault(cid, _root(parent, other))
        return whys

    def _sequential_group(self, component: list, sites: dict[str, list], seq: dict) -> None:
        """One sequential group of the counters of ``component`` (program order); a counter
        joined to an interacting cap is settled with it, whatever its own form."""
        members = [c for c in self.counters if c in component]  # program order
        for c in members:
            gid = self.group_of.pop(c, None)
            if gid is not None:
                self.groups.pop(gid, None)
        kinds = {k for c in members for _, k, _, _ in sites[c]}
        steps_per_block: dict[int, set] = {}
        for c in members:
            for b, _, step, _ in sites[c]:
                steps_per_block.setdefault(b, set()).add(id(step))
        if any(len(s) > 1 for s in steps_per_block.values()):
            raise NotSupported(
                f"the counters {', '.join(members)} are charged by two steps of one version"
            )
        g = self._group("seq", members, set(steps_per_block))
        g.mode = "consume" if kinds == {"consume"} else "limit"
        g.why = "; ".join(dict.fromkeys(w for c in members for w in seq.get(c, ())))

    def _group(self, kind: str, counters: list, blocks: set) -> Group:
        g = Group(f"g{len(self.groups)}_{kind}", kind, counters, blocks)
        self.groups[g.id] = g
        for c in counters:
            self.group_of[c] = g.id
        return g

    def _version(self, b: int) -> str:
        start = self.program.blocks[b].start
        return f"from {start.isoformat() if isinstance(start, dt.date) else start}"

    @property
    def sequential(self) -> list[str]:
        """Why some step has no closed form (empty: the plan is one query)."""
        return [g.why for g in self.groups.values() if g.kind == "seq"]

    # -- the plan
    def _build(self) -> Plan:
        program = self.program
        types = dict(V.VISIT_FIELDS)
        types.update({k: t for k, (t, _) in self.policy.inputs.items()})
        fields = {}
        for name, t, _ in self.columns_in:
            if name in ("row_no", "setl_time"):
                continue
            lo, hi = type_range(t, name in VISIT_SPEC)
            nullable = name == "acct_balc" or (
                name in self.policy.inputs
                and name not in VISIT_SPEC
                and self.policy.inputs[name][1] is None
            )
            vocab = self.policy.vocab
            domain = tuple(vocab.values(t)) if t in vocab.enums else None
            # a platform code not given is absent: it equals nothing (the program asks Present
            # first)
            absent = name in PLATFORM_FIELDS
            fields[name] = FieldRef(
                Val(column(name), None, SCALE.get(t), lo, hi, absent=absent, domain=domain),
                nullable,
            )
        fields["setl_time"] = fields["setl_date"]  # conditions see the day
        self.fields = fields
        self.blk = self.col(self.block_choice(program, fields["setl_date"].val), "blk")
        variables = {
            name: (NULL if init is None else const_val(init, t))
            for name, t, init in program.variables
        }
        root = Env(fields, types, variables)
        self._run_plain(program.prelude, root)
        # the dated versions run side by side; a counter resolves when every version that
        # charges it has asked (the generators wait at their counter steps)
        envs = {b: root.fork(compare("=", self.blk, K(b, 0))) for b in range(len(program.blocks))}
        gens = {b: self._steps(block.steps, envs[b]) for b, block in enumerate(program.blocks)}
        pending: dict[str, dict] = {}

        def advance(b, sent):
            try:
                req = gens[b].send(sent)
            except StopIteration:
                return
            pending.setdefault(req.group, {})[b] = req

        for b in gens:
            advance(b, None)
        while pending:
            ready = next(
                (g for g, got in pending.items() if set(got) == self.groups[g].blocks), None
            )
            if ready is None:
                names = sorted(c for g in pending for c in self.groups[g].counters)
                raise NotSupported(
                    f"the counters {', '.join(names)} are charged in a different order by two "
                    "versions; no order of windows computes them"
                )
            got = pending.pop(ready)
            results = self._resolve(self.groups[ready], got)
            for b in got:
                advance(b, results[b])
        other = root.fork(compare("=", self.blk, K(-1, 0)))
        self._run_plain(program.otherwise, other)
        other.reason = K("not_in_force")
        # the record's values: those of the version in force
        merged = Env(fields, types, {})
        which = [(compare("=", self.blk, K(b, 0)), e) for b, e in envs.items()]
        for name in variables:
            merged.vars[name] = self.col(
                case([(c, e.vars[name]) for c, e in which], other.vars[name]), name
            )
        merged.reason = self.col(case([(c, e.reason) for c, e in which], other.reason), "reason")
        errs = [(c, e.err) for c, e in which + [(TRUE, other)] if e.err is not None]
        merged.err = _case_err(errs, None) if errs else None
        self._run_plain(program.postlude, merged)
        return self._assemble(merged)

    def _run_plain(self, steps: Iterable[Any], env: Env) -> None:
        for req in self._steps(steps, env):
            raise NotSupported(f"a counter step outside a dated version ({req.group})")

    def _steps(self, steps: Iterable[Any], env: Env) -> Generator[Request, Any, None]:
        for step in steps:
            handler = HANDLERS.get(type(step))
            if handler is None:
                raise NotSupported(
                    f"the SQL backend has no handler for the step {type(step).__name__}"
                )
            got = handler(self, step, env)
            if got is not None:
                yield from got

    def _assign(self, env: Env, var: str, v: Val) -> None:
        old = env.vars.get(var, NULL)
        new = v if (env.live.is_const and env.live.const) else case([(env.live, v)], old)
        env.vars[var] = self.col(new, var)

    def _fail(self, env: Env, err: Any) -> None:
        """An error the reference would raise at this point of the record's execution."""
        env.err = err_first(env.err, err_when(env.live, err))

    # -- step handlers (generators where a counter's running state is needed)
    def let(self, step: ir.Let, env: Env) -> None:
        v, e = self.expr(step.expr, env)
        self._fail(env, e)
        declared = self.policy.bill_split[0] if self.policy.bill_split else ()
        if _is_bill_split(step.expr, declared):  # validated visits: parts never exceed the total
            v = _bounded(v, 0, v.hi)
        elif _gives_back(step.expr, self._limited, env):
            v = _bounded(v, 0, v.hi)
        self._assign(env, step.var, narrow(v))

    def gate(self, step: ir.Gate, env: Env) -> None:
        c, e = self.cond(step.cond, env)
        self._fail(env, e)
        env.reason = self.col(
            case([(and_(env.live, not_(c)), K(step.reason))], env.reason), "reason"
        )
        env.live = self.col(and_(env.live, c), "live")

    def consume(self, step: ir.Consume, env: Env) -> Generator[Request, Any, None]:
        when, ew = self.cond(step.when, env)
        amount, ea = self.value(step.amount, env)
        self._fail(env, err_first(ew, err_when(when, ea)))
        amount = rescale(amount, 2, "a deductible")
        applies = self.col(and_(env.here, env.live, when), "applies")
        base = env.vars[step.base]
        if self.counters[step.counter].period == "visit":
            take = case([(applies, greatest(K(0, 2), least(base, amount)))], K(0, 2))
        else:
            take = yield Request(
                self.group_of[step.counter],
                {"counter": step.counter, "applies": applies, "v": base, "amount": amount},
            )
        take = self.col(narrow(take), "take")
        rest = arith("-", base, take)
        if base.lo is not None and base.lo >= 0:  # take <= base
            rest = _bounded(rest, 0, base.hi)
        env.vars[step.base] = self.col(rest, step.base)
        env.vars[step.out] = self.col(arith("+", env.vars[step.out], take), step.out)

    def ratio(self, step: ir.Ratio, env: Env) -> None:
        value, e = self.value(step.value, env)
        errs = [e]
        value = rescale(value, 4, "a ratio")
        for adj in step.adjustments:
            c, ce = self.cond(adj.when, env)
            pts, pe = self._points(adj, env)
            errs += [ce, pe]
            value = arith("+", value, case([(c, pts)], K(0, 4)))
        value = self.col(value, "ratio")
        errs.append(_ratio_check(value))
        self._fail(env, err_first(*errs))
        value = _bounded(value, 0, 10**4)  # beyond: an error in the record
        for b in step.bounds:  # a floor raises the ratio to it, a ceiling lowers it to it
            lim, le = self.value(b.value, env)
            self._fail(env, le)
            lim = rescale(lim, 4, "a bound on the ratio")
            value = greatest(value, lim) if b.kind == "floor" else least(value, lim)
            value = self.col(_bounded(value, 0, 10**4), "ratio")
        self._assign(env, step.out, value)

    def _points(self, adj: ir.Adjust, env: Env) -> tuple[Val, Any]:
        """An adjustment's points in 1/10000: a constant, or its expression over parameters."""
        if isinstance(adj.points, Decimal):
            return const_val(adj.points, V.POINTS), None
        v, e = self.expr(adj.points, env)
        return rescale(v, 4, "points"), e

    def band_share(self, step: ir.BandShare, env: Env) -> Generator[Request, Any, None]:
        bands = step.bands
        pts, errs = K(0, 4), []
        for adj in step.adjustments:
            c, ce = self.cond(adj.when, env)
            p, pe = self._points(adj, env)
            errs += [ce, pe]
            pts = arith("+", pts, case([(c, p)], K(0, 4)))
        pts = self.col(pts, "pts")
        base = env.vars[step.base]
        applies = self.col(and_(env.here, env.live), "applies")
        if self.counters[step.counter].period == "visit":
            prior = K(0, 2)
        else:
            prior = yield Request(
                self.group_of[step.counter],
                {"counter": step.counter, "applies": applies, "v": base},
            )
        end = self.col(arith("+", prior, base), "band_end")
        limits = [None if x is None else const_val(x, V.MONEY) for x in bands.limits]
        for a, b in itertools.pairwise(limits):
            if a is None or (b is not None and b.const <= a.const):
                raise NotSupported("band limits that do not increase")
        low, parts = K(0, 2), []
        for limit in limits:
            high = end if limit is None else least(limit, end)
            part = greatest(K(0, 2), arith("-", high, greatest(low, prior)))
            cap = base.hi if limit is None else _opt(base.hi, limit.const - low.const, min)
            parts.append(self.col(narrow(_bounded(part, 0, cap)), "band_part"))
            if limit is not None:
                low = limit
        rs = [
            self.col(arith("+", const_val(x, V.PERCENT), pts), "band_ratio") for x in bands.values
        ]
        exact = K(0, 6)
        for part, r in zip(parts, rs, strict=True):
            exact = arith("+", exact, arith("*", part, r))
        last = case(
            [(compare(">", parts[i], K(0, 2)), rs[i]) for i in reversed(range(1, len(parts)))],
            rs[0],
        )
        # the reference checks each band's ratio as it applies it, then the last band's
        checks = [
            (and_(compare(">", part, K(0, 2)), _ratio_bad(r)), r)
            for part, r in zip(parts, rs, strict=True)
        ]
        checks.append((_ratio_bad(last), last))
        errs.append(_case_err([(c, err_code("R", r)) for c, r in checks], None))
        self._fail(env, err_first(*errs))
        self._assign(env, step.exact, narrow(exact))
        self._assign(env, step.ratio, _bounded(last, 0, 10**4))

    def share(self, step: ir.Share, env: Env) -> None:
        x = (
            env.vars[step.exact]
            if step.exact
            else arith("*", env.vars[step.base], env.vars[step.ratio])
        )
        self._assign(env, step.out, narrow(round_money(x, step.rounding)))

    def limit(self, step: ir.Limit, env: Env) -> Generator[Request, Any, None]:
        self._limited[step.out] = step.value  # out <= value, whatever the caps
        fund = env.vars[step.value]
        errs, stateful = [], []
        for cap in step.caps:
            when, ew = self.cond(cap.when, env)
            amount, ea = self.value(cap.amount, env)
            errs.append(err_first(ew, err_when(when, ea)))
            amount = rescale(amount, 2, "a cap")
            applies = and_(env.here, env.live, when)
            if self.counters[cap.counter].period == "visit":  # no state: the room is the amount
                fund = case([(applies, least(fund, greatest(K(0, 2), amount)))], fund)
            else:
                stateful.append((cap.counter, self.col(applies, "applies"), amount))
        self._fail(env, err_first(*errs))
        fund = self.col(narrow(fund), "fund")
        if stateful:
            groups = {self.group_of[c] for c, _, _ in stateful}
            if len(groups) != 1:
                raise NotSupported(
                    "caps of one payment in different counter groups"
                )  # analysis prevents it
            payload = {"v": fund, "caps": {c: (a, m) for c, a, m in stateful}}
            if len(stateful) == 1:
                payload.update(
                    counter=stateful[0][0], applies=stateful[0][1], amount=stateful[0][2]
                )
            fund = yield Request(groups.pop(), payload)
            fund = self.col(narrow(fund), "fund")
        self._assign(env, step.out, fund)

    def outcome(self, step: ir.Outcome, env: Env) -> None:
        fund = env.vars[step.fund]
        reasons = []
        for reason, c in step.reasons:
            v, e = self.cond(c, env)
            if e is not None:
                raise NotSupported("a reason's condition reads a field that may be absent")
            reasons.append((v, K(reason)))
        paid_nothing = and_(env.live, compare("=", fund, K(0, fund.scale)))
        env.reason = self.col(
            case([(paid_nothing, case(reasons, env.reason))], env.reason), "reason"
        )

    def account_pay(self, step: ir.AccountPay, env: Env) -> None:
        """A given acct_balc starts a segment of the person's visits; within it the balance
        after a visit is GREATEST(0, B - S), S the running sum of what the account may pay
        (0 where the record asks not to use the account: ``step.used`` false)."""
        if not self.balances:  # no balance known: B is NULL, the account pays 0
            env.vars[step.out], env.vars[step.balance] = K(0, 2), NULL
            return
        given = self.fields["acct_balc"].val
        day = self.fields["setl_date"].val
        seg = self.col(
            Val(running(exp.Count(this=given.sql()), [column("psn_no")]), None, 0, 0, None),
            "acct_seg",
        )
        used, ue = self.cond(step.used, env)
        if ue is not None:
            raise NotSupported("whether the account is used reads a field that may be absent")
        if step.payable is None or (used.is_const and not used.const):
            may = K(0, 2)
        else:
            request = {}
            for name, value in step.request:
                v, e = self.value(value, env)
                if e is not None:
                    raise NotSupported("the account request reads a field that may be absent")
                request[name] = FieldRef(v)
            request["on"] = FieldRef(day)
            req_env = Env(request, dict(V.REQUEST_FIELDS), {})
            allowed = self.allowed(self.policy.programs["may_pay"], req_env, day)
            payable, e = self.expr(step.payable, env)
            if e is not None:
                raise NotSupported("the account's payable amount reads a field that may be absent")
            may = case(
                [
                    (
                        and_(used, allowed),
                        greatest(K(0, 2), rescale(payable, 2, "the payable amount")),
                    )
                ],
                K(0, 2),
            )
        may = self.col(narrow(may), "acct_may")
        segment = [column("psn_no"), seg.sql()]
        total = self.col(
            Val(running(exp.Sum(this=may.sql()), segment), None, 2, 0, None, True), "acct_sum"
        )
        start = self.col(
            Val(running(exp.Max(this=given.sql()), segment), None, 2, 0, MONEY_MAX),
            "acct_start",
            colocate=total.node.name,
        )
        if self.state:  # before any acct_balc of this call: the balance an earlier call left
            start = self.col(
                case(
                    [
                        (
                            compare("=", seg, K(0, 0)),
                            Val(column("prior_balance"), None, 2, 0, MONEY_MAX),
                        )
                    ],
                    start,
                ),
                "acct_start",
            )
        known = not_(is_null(start))
        after = self.col(
            narrow(_bounded(greatest(K(0, 2), arith("-", start, total)), 0, MONEY_MAX)),
            "acct_after",
        )
        before = narrow(
            _bounded(greatest(K(0, 2), arith("+", arith("-", start, total), may)), 0, MONEY_MAX)
        )
        env.vars[step.out] = self.col(
            _bounded(case([(known, arith("-", before, after))], K(0, 2)), 0, MONEY_MAX), step.out
        )
        env.vars[step.balance] = self.col(case([(known, after)], NULL), step.balance)

    # -- resolving a counter group: a window, or a kernel
    def _resolve(self, g: Group, got: dict[int, Request]) -> dict[int, Val]:
        counter = self.counters[g.counters[0]]
        if g.kind == "cap" and not all(
            r.payload["v"].lo is not None and r.payload["v"].lo >= 0 for r in got.values()
        ):
            g.kind, g.mode = "seq", "limit"
            g.why = f"the payment the cap {counter.id} limits may be negative"
        if g.kind in ("consume", "cap"):
            charge = self.col(
                narrow(
                    case(
                        [
                            (r.payload["applies"], greatest(K(0, 2), r.payload["v"]))
                            for r in got.values()
                        ],
                        K(0, 2),
                    )
                ),
                "charge",
            )
            amount = next(iter(got.values())).payload[
                "amount"
            ]  # one amount, constant within the key
            total = self.col(
                Val(
                    running(exp.Sum(this=charge.sql()), self._key(counter)), None, 2, 0, None, True
                ),
                "used_sum",
            )
            if self.state:
                total = self.col(arith("+", total, self._prior(counter)), "used_sum")
            after = least(amount, total)
            before = least(amount, arith("-", total, charge))
            used = self.col(narrow(_bounded(arith("-", after, before), 0, charge.hi)), "used")
            self._keep(counter, got, after)
            if g.kind == "consume":
                return {b: used for b in got}
            return {b: case([(r.payload["applies"], used)], r.payload["v"]) for b, r in got.items()}
        if g.kind == "bands":
            charge = self.col(
                case([(r.payload["applies"], r.payload["v"]) for r in got.values()], K(0, 2)),
                "charge",
            )
            total = self.col(
                Val(
                    running(exp.Sum(this=charge.sql()), self._key(counter)),
                    None,
                    2,
                    None,
                    None,
                    True,
                ),
                "band_sum",
            )
            if self.state:
                total = self.col(arith("+", total, self._prior(counter)), "band_sum")
            self._keep(counter, got, total)
            return {b: self.col(arith("-", total, charge), "band_prior") for b in got}
        return self._kernel(g, got)

    def _kernel(self, g: Group, got: dict[int, Request]) -> dict[int, Val]:
        v = self.col(
            narrow(case([(self._here(b), r.payload["v"]) for b, r in got.items()], K(0, 2))), "k_v"
        )
        inputs = [self._typed(v, "BIGINT", "k_v")]
        for cid in g.counters:
            counter = self.counters[cid]
            applies, amounts = [], []
            for b, r in got.items():
                p = r.payload
                site = (
                    p["caps"].get(cid)
                    if "caps" in p
                    else ((p["applies"], p["amount"]) if p.get("counter") == cid else None)
                )
                if site is not None:
                    applies.append(site[0])
                    amounts.append((self._here(b), site[1]))
            a = or_(*applies)
            m = narrow(case([(a, case(amounts, K(0, 2)))], K(0, 2)))
            inputs += [
                self._typed(a, "BOOLEAN", "k_applies"),
                self._typed(self._bucket(counter), "BIGINT", "k_bucket"),
                self._typed(self._each_text(counter), "VARCHAR", "k_each"),
                self._typed(m, "BIGINT", "k_amount"),
            ]
        name = self.cols.fresh("kernel")
        outs = [f"{name}_out"] + (
            [f"{name}_used{j}" for j in range(len(g.counters))] if self.state else []
        )
        spec = KernelSpec(
            name,
            g.mode,
            tuple(g.counters),
            tuple(inputs),
            tuple(outs),
            f"no closed form: {g.why}; settling it needs the sequential step (a function over each "
            "person's visits in settlement order)",
        )
        self.cols.kernel(spec)
        if self.state:
            for j, cid in enumerate(g.counters):
                self.state_counters.append((cid, outs[1 + j], inputs[2 + 4 * j], inputs[3 + 4 * j]))
        lo = 0 if g.mode == "consume" else min(0, v.lo if v.lo is not None else 0)
        out = Val(column(outs[0]), None, 2, lo, v.hi)
        return {b: out for b in got}

    def _typed(self, v: Val, t: str, hint: str) -> str:
        """A kernel input: always a column of a known type (constants too)."""
        if v.is_const or not isinstance(v.node, exp.Column):
            v = Val(exp.Cast(this=v.sql(), to=exp.DataType.build(t)), None, v.scale, v.lo, v.hi)
            name = self.cols.fresh(hint)
            self.cols.defs[name] = Def(name, v.node, {c.name for c in v.node.find_all(exp.Column)})
            return name
        return v.node.name

    def _here(self, b: int) -> Val:
        return compare("=", self.blk, K(b, 0))

    def _bucket(self, counter: ir.Counter, table: str | None = None) -> Val:
        """The period bucket as an integer: the year, year*100+month, year*10000+month*100+day,
        or the visit's row."""
        d = exp.column("setl_date", table=table)
        year = Val(exp.Year(this=d.copy()), None, 0, 1, 9999)
        month = Val(exp.Month(this=d.copy()), None, 0, 1, 12)
        if counter.period == "year":
            v = year
        elif counter.period == "month":
            v = arith("+", arith("*", year, K(100, 0)), month)
        elif counter.period == "day":
            v = arith(
                "+",
                arith("+", arith("*", year, K(10000, 0)), arith("*", month, K(100, 0))),
                Val(exp.Day(this=d.copy()), None, 0, 1, 31),
            )
        else:
            return Val(exp.column("row_no", table=table), None, 0, 0, None)
        if table:
            return v
        if counter.period not in self._buckets:
            self._buckets[counter.period] = self.col(v, f"bk_{counter.period}")
        return self._buckets[counter.period]

    def _each_text(self, counter: ir.Counter, table: str | None = None) -> Val:
        if not counter.each:
            return NULL
        return Val(exp.Cast(this=exp.column(counter.each, table=table), to=VARCHAR.copy()))

    def _key(self, counter: ir.Counter) -> list:
        key = [column("psn_no"), self._bucket(counter).sql()]
        if counter.each:
            key.append(self.fields[counter.each].val.sql())
        return key

    def _prior(self, counter: ir.Counter) -> Val:
        """What earlier calls used of this counter's key (joined from ``pl_state``)."""
        name = self.cols.fresh("prior")
        self.priors.append((name, counter))
        self.cols.base.add(name)
        return Val(column(name), None, 2, 0, None, True)

    def _keep(self, counter: ir.Counter, got: dict, used_after: Val) -> None:
        """With state: what the counter has used after each visit that charges it."""
        if not self.state:
            return
        applies = or_(*(r.payload["applies"] for r in got.values()))
        after = self._typed(
            self.col(case([(applies, used_after)], NULL), "used_after"), "HUGEINT", "used_after"
        )
        self.state_counters.append(
            (
                counter.id,
                after,
                self._typed(self._bucket(counter), "BIGINT", "k_bucket"),
                self._typed(self._each_text(counter), "VARCHAR", "k_each"),
            )
        )

    # -- assembling the stages
    def _assemble(self, env: Env) -> Plan:
        values = {**env.vars, "pool_prop_selfpay": env.vars["ratio"], "reason": env.reason}
        names, money = settle_outputs(self.program)
        outputs: dict[str, Val] = {name: values[name] for name in names}  # the documented order
        for k in money:
            if outputs[k].scale is not None:
                outputs[k] = narrow(rescale(outputs[k], 2, k))
        if outputs["pool_prop_selfpay"].scale is not None:
            outputs["pool_prop_selfpay"] = rescale(outputs["pool_prop_selfpay"], 4, "the ratio")
        if self.extras:
            outputs["remaining"] = narrow(rescale(env.vars["remaining"], 2, "remaining"))
            outputs["hifp_raw"] = narrow(rescale(env.vars["hifp_raw"], 2, "hifp_raw"))
            outputs["blk"] = self.blk
            err = env.err
            if self.decimal_columns and any(
                self.decimal_columns.get(n, 0) > SCALE.get(t, 99) for n, t, _ in self.columns_in
            ):
                err = err_first(column("src_err"), err)
            outputs["err"] = Val(err) if err is not None else NULL
        final_cols = {}
        for name, v in outputs.items():
            node = v.sql()
            if v.is_const:
                node = exp.Cast(
                    this=node,
                    to=exp.DataType.build("VARCHAR" if name in ("reason", "err") else "BIGINT"),
                )
            final_cols[name] = (
                self.col(Val(node), "out_" + name).node.name
                if not isinstance(node, exp.Column)
                else node.name
            )
        state_cols = {}
        for i, (_cid, used, bucket, each) in enumerate(self.state_counters):
            state_cols.update({f"st{i}_used": used, f"st{i}_bucket": bucket, f"st{i}_each": each})
        roots = list(final_cols.values()) + list(state_cols.values())
        first = Stage(
            "sql",
            "src",
            source_select(
                self.columns_in,
                self.source,
                self.decimal_columns,
                _defaults(VISIT_SPEC, self.policy),
            ),
        )
        stages = [first]
        if self.state:
            stages.append(Stage("sql", "prior", self._prior_select()))
            first = stages[-1]
        stages += self.cols.stages(first, roots)[1:]
        final = exp.select(
            column("row_no"),
            *[exp.alias_(column(src), name) for name, src in final_cols.items()],
            *[exp.alias_(column(src), name) for name, src in state_cols.items()],
        ).from_(stages[-1].name)
        placeholders = sorted(
            {
                p.name
                for st in stages
                if st.select is not None
                for p in st.select.find_all(exp.Placeholder)
            }
        )
        return Plan(
            "settle",
            tuple(stages),
            final,
            ("row_no", *final_cols, *state_cols),
            tuple(placeholders),
            tuple(
                (cid, f"st{i}_used", f"st{i}_bucket", f"st{i}_each")
                for i, (cid, *_rest) in enumerate(self.state_counters)
            ),
        )

    def _prior_select(self) -> exp.Select:
        """What earlier calls left: the amount used of each counter's key, each person's balance."""
        select = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("src"))).from_(
            "src"
        )
        for i, (name, counter) in enumerate(self.priors):
            alias = f"p{i}"
            on: list[exp.Expression] = [
                exp.EQ(
                    this=exp.column("psn_no", table=alias),
                    expression=exp.column("psn_no", table="src"),
                ),
                exp.EQ(
                    this=exp.column("counter", table=alias),
                    expression=exp.Literal.string(counter.id),
                ),
                exp.EQ(
                    this=exp.column("bucket", table=alias),
                    expression=_w(self._bucket(counter, "src").sql()),
                ),
            ]
            each = self._each_text(counter, "src")
            on.append(exp.NullSafeEQ(this=exp.column("each_v", table=alias), expression=each.sql()))
            select = select.join(
                exp.alias_(exp.to_table("pl_state"), alias, table=True),
                on=exp.and_(*on),
                join_type="left",
            )
            select = select.select(
                exp.alias_(
                    exp.Coalesce(
                        this=exp.column("used", table=alias), expressions=[exp.Literal.number(0)]
                    ),
                    name,
                ),
                append=True,
            )
        select = select.join(
            exp.alias_(exp.to_table("pl_balances"), "pb", table=True),
            on=exp.EQ(
                this=exp.column("psn_no", table="pb"), expression=exp.column("psn_no", table="src")
            ),
            join_type="left",
        )
        return select.select(
            exp.alias_(exp.column("balc", table="pb"), "prior_balance"), append=True
        )


def _bounded(v: Val, lo: Any, hi: Any) -> Val:
    """``v`` with a range the lowering knows from the rule (not from its arithmetic)."""
    if v.is_const:
        return v
    return Val(v.node, None, v.scale, lo, hi, v.wide)


def _ratio_bad(r: Val) -> Val:
    return or_(compare("<", r, K(0, 4)), compare(">", r, K(10**4, 4)))


def _ratio_check(r: Val) -> Any:
    return err_when(_ratio_bad(r), err_code("R", r))


def _is_bill_split(e: ir.Expr, declared: tuple[str, ...] = ()) -> bool:
    """``medfee_sumamt - parts``: never negative in a validated visit (inputs._bill_split; a
    policy's declared parts, inputs._declared_split)."""
    parts = []
    while isinstance(e, ir.Arith) and e.op == "-":
        if not isinstance(e.right, ir.Field):
            return False
        parts.append(e.right.name)
        e = e.left
    return (
        isinstance(e, ir.Field)
        and e.name == "medfee_sumamt"
        and bool(parts)
        and len(set(parts)) == len(parts)
        and (
            set(parts) <= {"fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt"}
            or set(parts) == set(declared)
        )
    )


def _gives_back(e: ir.Expr, limited: dict, env: Env) -> bool:
    """``a + d - k`` where ``k`` is a Limit of ``d`` (so ``k <= d``) and ``a >= 0``: what a
    deductible's ``total_at_most`` waives goes back to the amount left; never negative."""
    if not (isinstance(e, ir.Arith) and e.op == "-" and isinstance(e.right, ir.Var)):
        return False
    left = e.left
    if not (isinstance(left, ir.Arith) and left.op == "+"):
        return False
    a, d = left.left, left.right
    if not (isinstance(a, ir.Var) and isinstance(d, ir.Var)):
        return False
    if limited.get(e.right.name) != d.name:
        return False
    base = env.vars.get(a.name)
    return base is not None and base.lo is not None and base.lo >= 0


# the counters a step charges: (counter id, kind of step, amount or None), by step type
_CHARGES: dict[type, Callable[[Any], list[tuple[str, str, Any]]]] = {
    ir.Consume: lambda step: [(step.counter, "consume", step.amount)],
    ir.BandShare: lambda step: [(step.counter, "bands", None)],
    ir.Limit: lambda step: [(cap.counter, "cap", cap.amount) for cap in step.caps],
}


def _root(parent: dict[str, str], x: str) -> str:
    while parent.get(x, x) != x:
        x = parent[x]
    return x


def _site_kind(cid: str, ss: list) -> tuple[str, list[int]]:
    """(the one kind of step that charges ``cid``, the blocks that do, each once)."""
    step_kinds = sorted({k for _, k, _, _ in ss})
    if len(step_kinds) > 1:
        raise NotSupported(
            f"counter {cid} is charged both as a {step_kinds[0]} and as a {step_kinds[1]}"
        )
    blocks = [b for b, _, _, _ in ss]
    if len(blocks) != len(set(blocks)):
        raise NotSupported(f"counter {cid} is charged twice by one version")
    return step_kinds[0], blocks


def _normal(v):
    """A value without provenance: two versions stating the same amount agree."""
    if type(v) is ir.Decide:
        return ("decide", tuple((a.when, a.value) for a in v.arms), v.type)
    return v


def round_money(x: Val, rounding: ir.Rounding) -> Val:
    """``x`` (at its scale) rounded to the policy's unit by its mode, in fen; integer
    division on non-negative values only (a negative one is rounded as its opposite)."""
    q = rounding.quantum.scaleb(2, CTX)
    if q != q.to_integral_value(context=CTX) or q <= 0:
        raise NotSupported("rounding to less than a fen")
    qf = int(q)
    if null_const(x):
        return K(None, 2)
    if x.scale < 2:
        x = rescale(x, 2)
    u = qf * 10 ** (x.scale - 2)
    if u == 1:
        return _with_scale(x, 2)
    if x.lo is not None and x.lo >= 0:
        units = _round_nonneg(x, u, rounding.mode)
    else:
        neg = Val(exp.Neg(this=_w(x.sql())), None, x.scale, *_neg_iv(x), x.wide)
        up = _round_nonneg(_bounded(x, 0, x.hi), u, rounding.mode)
        down = _round_nonneg(_bounded(neg, 0, neg.hi), u, rounding.mode)
        units = case(
            [
                (
                    compare("<", x, K(0, x.scale)),
                    Val(exp.Neg(this=_w(down.sql())), None, down.scale, *_neg_iv(down), down.wide),
                )
            ],
            up,
        )
    return _with_scale(arith("*", _with_scale(units, 0), K(qf, 0)), 2)


def _round_nonneg(x: Val, u: int, mode: str) -> Val:
    if mode == "down":
        return int_div(x, u)
    if mode == "up":
        return int_div(arith("+", x, K(u - 1, x.scale)), u)
    if mode == "half_up":
        if u % 2 == 0:
            return int_div(arith("+", x, K(u // 2, x.scale)), u)
        return int_div(arith("+", arith("*", x, K(2, 0)), K(u, x.scale)), 2 * u)
    if mode == "half_even":
        q = int_div(x, u)
        twice = arith("*", arith("-", x, arith("*", q, K(u, 0))), K(2, 0))
        odd = compare(
            "=",
            Val(exp.Mod(this=_w(q.sql()), expression=exp.Literal.number(2)), None, 0, 0, 1),
            K(1, 0),
        )
        up = or_(
            compare(">", twice, K(u, twice.scale)),
            and_(compare("=", twice, K(u, twice.scale)), odd),
        )
        return arith("+", q, case([(up, K(1, q.scale))], K(0, q.scale)))
    raise NotSupported(f"the rounding mode {mode}")


HANDLERS: dict[type, Callable] = {
    ir.Let: SettleLowering.let,
    ir.Gate: SettleLowering.gate,
    ir.Consume: SettleLowering.consume,
    ir.Ratio: SettleLowering.ratio,
    ir.BandShare: SettleLowering.band_share,
    ir.Share: SettleLowering.share,
    ir.Limit: SettleLowering.limit,
    ir.Outcome: SettleLowering.outcome,
    ir.AccountPay: SettleLowering.account_pay,
}


# ---- may-pay and credit: one row per request or person, no state ----------------------------


def request_columns(policy: ir.Policy) -> list[tuple[str, str, str]]:
    """The requests table of the may-pay query (``venue`` NULL: none given)."""
    return [
        ("row_no", "row", "BIGINT"),
        ("relation", "relation", "VARCHAR"),
        ("item", "item", "VARCHAR"),
        ("venue", "venue", "VARCHAR"),
        ("networked", V.BOOL, "BOOLEAN"),
        ("on", V.DATE, "DATE"),
    ]


def person_columns(policy: ir.Policy) -> list[tuple[str, str, str]]:
    """The persons table of the credit query (money in fen; NULL: not given)."""
    out = [("row_no", "row", "BIGINT")]
    out += [(name, t, sql_type(t)) for name, t in V.PERSON_FIELDS.items()]
    out += [
        (name, t, sql_type(t)) for name, (t, _) in policy.inputs.items() if name not in PERSON_SPEC
    ]
    return out


def _row_fields(
    policy: ir.Policy, columns: list, spec: dict, optional: tuple = ()
) -> tuple[dict, dict]:
    types, fields = {}, {}
    for name, t, _ in columns:
        if name == "row_no":
            continue
        types[name] = t
        in_spec = name in spec
        lo, hi = type_range(t, in_spec)
        nullable = (in_spec and not spec[name].required and spec[name].default is None) or (
            not in_spec and policy.inputs.get(name, (None, 0))[1] is None
        )
        domain = tuple(policy.vocab.values(t)) if t in policy.vocab.enums else None
        absent = name in optional
        fields[name] = FieldRef(
            Val(column(name), None, SCALE.get(t), lo, hi, absent=absent, domain=domain),
            nullable and not absent,
        )
    return fields, types


class MayPayLowering(Lowering):
    """The may-pay program over the requests table: ``verdict`` (an index into
    ``self.verdicts``; -1 none holds, -2 no version in force) and ``channel``."""

    def __init__(self, policy: ir.Policy, params: dict | None = None, source: str = "pl_requests"):
        super().__init__(policy, params)
        program = policy.programs["may_pay"]
        cols = request_columns(policy)
        fields, types = _row_fields(policy, cols, REQUEST_SPEC, program.optional)
        env = Env(fields, types, {})
        verdict, channel, self.verdicts = self.decision(program, env, fields["on"].val)
        src = Stage("sql", "src", source_select(cols, source, {}, _defaults(REQUEST_SPEC, policy)))
        final = exp.select(
            column("row_no"),
            exp.alias_(_typed_sql(verdict, "BIGINT"), "verdict"),
            exp.alias_(_typed_sql(channel, "VARCHAR"), "channel"),
        ).from_("src")
        self.plan = Plan(
            "may_pay", (src,), final, ("row_no", "verdict", "channel"), _placeholders(src, final)
        )


class CreditLowering(Lowering):
    """The credit program over the persons table: ``rule`` (an index into ``self.rules``;
    -1 none applies, -2 no version in force), ``credit`` in fen, and ``err``."""

    def __init__(self, policy: ir.Policy, params: dict | None = None, source: str = "pl_persons"):
        super().__init__(policy, params)
        program = policy.programs["credit"]
        cols = person_columns(policy)
        fields, types = _row_fields(policy, cols, PERSON_SPEC)
        env = Env(fields, types, {})
        blk = self.block_choice(program, fields["on"].val)
        self.rules: list = []
        rule_arms, credit_arms, err_arms = [], [], []
        for b, block in enumerate(program.blocks):
            here = compare("=", blk, K(b, 0))
            arms, credits, err = [], [], None
            pieces = []
            for step in block.steps:
                if not isinstance(step, ir.CreditRules):
                    raise NotSupported(
                        f"the SQL backend runs only CreditRules steps in credit, not "
                        f"{type(step).__name__}"
                    )
                for rule in step.rules:
                    c, ce = self.cond(rule.when, env)
                    amount, ae = self.expr(rule.amount, env)
                    value = narrow(round_money(amount, step.rounding))
                    self.rules.append(rule)
                    index = len(self.rules) - 1
                    arms.append((c, K(index, 0)))
                    credits.append((c, value))
                    negative = err_when(
                        compare("<", value, K(0, 2)),
                        exp.DPipe(
                            this=exp.Literal.string(f"C:{index}:"),
                            expression=text_of(value),
                            safe=True,
                        ),
                    )
                    pieces.append((c, ce, err_first(ae, negative)))
            for c, ce, e in reversed(pieces):  # the first rule whose condition holds, in order
                ifs = []
                if ce is not None:
                    ifs.append(
                        (Val(exp.Not(this=exp.Is(this=ce.copy(), expression=exp.Null()))), ce)
                    )
                ifs.append((c, e))
                err = _case_err(ifs, err)
            rule_arms.append((here, case(arms, K(-1, 0))))
            credit_arms.append((here, case(credits, NULL)))
            err_arms.append((here, err))
        rule = case(rule_arms, K(-2, 0))
        credit = case(credit_arms, NULL)
        err = _case_err([(c, e) for c, e in err_arms], None)
        src = Stage("sql", "src", source_select(cols, source, {}, _defaults(PERSON_SPEC, policy)))
        final = exp.select(
            column("row_no"),
            exp.alias_(_typed_sql(rule, "BIGINT"), "rule"),
            exp.alias_(_typed_sql(credit, "BIGINT"), "credit"),
            exp.alias_(err if err is not None else _typed_sql(NULL, "VARCHAR"), "err"),
        ).from_("src")
        self.plan = Plan(
            "credit", (src,), final, ("row_no", "rule", "credit", "err"), _placeholders(src, final)
        )


def _typed_sql(v: Val, t: str) -> exp.Expression:
    return exp.Cast(this=v.sql(), to=exp.DataType.build(t)) if v.is_const else v.sql()


def _placeholders(*parts: Any) -> tuple:
    found = set()
    for p in parts:
        tree = p.select if isinstance(p, Stage) else p
        found |= {x.name for x in tree.find_all(exp.Placeholder)}
    return tuple(sorted(found))


# ---- the query as text, with its contract ---------------------------------------------------

UNITS = {V.MONEY: "fen", V.PERCENT: "1/10000", V.POINTS: "1/10000", V.NUMBER: "1/1000000"}


def settle_sql(
    policy: ir.Policy, dialect: str = "duckdb", source: str = "visits", ir_hash: str | None = None
) -> str:
    """The settle program as one query in ``dialect``, after a comment that states what it
    reads and returns (``compile --emit sql``).  ``NotSupported`` when a step has no closed
    form there (the message names it)."""
    lowering = SettleLowering(policy, source=source, extras=False)
    query = lowering.plan.sql(dialect)
    marker = "$" if dialect == "duckdb" else ":"
    lines = [
        f"-- policylang: the settle program of policy {policy.id}"
        + (f" ({ir_hash})" if ir_hash else "")
        + f", as one {dialect} query",
        f"-- reads {source}, one row per visit:",
    ]
    for name, t, sql in visit_columns(policy):
        note = {
            "row_no": "the input row: settlement order's tiebreak",
            "setl_date": "the day of setl_time",
            "setl_time": "the moment; NULL when only a date is given",
            "acct_balc": "fen; NULL: no balance given",
        }.get(name, "NULL: not given" if name in PLATFORM_FIELDS else UNITS.get(t, ""))
        lines.append(f"--   {name} {sql}" + (f"  ({note})" if note else ""))
    for name in lowering.plan.params:
        t = policy.params[name]
        lines.append(
            f"-- parameter {marker}{name}: {t}" + (f" in {UNITS[t]}" if t in UNITS else "")
        )
    lines.append(
        "-- returns row_no, "
        + ", ".join(settle_outputs(policy.programs["settle"])[0])
        + " (money in fen, pool_prop_selfpay in 1/10000)"
    )
    return "\n".join(lines) + "\n" + query + "\n"
