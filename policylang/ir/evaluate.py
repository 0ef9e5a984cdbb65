"""The meaning of IR expressions, conditions and decision tables, as plain
functions over ``Decimal`` values.

Used by the reference interpreter and by the analyses that explore a policy's
input domain.  All arithmetic goes through one private ``decimal.Context``
(``CTX``), so the caller's decimal context never changes a value.

``env`` maps field and variable names to values; ``params`` maps parameter
names to values.  A value that is needed but absent raises ``MissingValue``;
a decision table with no matching row raises ``NoRow``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any, Iterable

from . import core as c

# Money has at most 15 integer digits and 2 decimals, ratios 4 decimals; a product
# of two has at most 36 significant digits.  60 leaves room for sums of products.
CTX = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999,
    Emin=-999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)


class MissingValue(Exception):
    def __init__(self, name: str, is_param: bool):
        super().__init__(name)
        self.name, self.is_param = name, is_param


class NoRow(Exception):
    """No row of a decision table matched (the checker proves this cannot happen
    for the inputs it can enumerate; a parameter-dependent table may still miss)."""


class _Absent:
    """The value of an optional field a record lacks: equal to nothing, in no set."""

    __slots__ = ()

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    def __hash__(self):
        return 0

    def __repr__(self):
        return "ABSENT"


ABSENT = _Absent()

_ARITH = {"+": CTX.add, "-": CTX.subtract, "*": CTX.multiply}
_CMP = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def expr(e: c.Expr, env: dict, params: dict) -> Any:
    if type(e) is c.Const:
        return e.value
    if type(e) is c.Field or type(e) is c.Var:
        v = env.get(e.name)
        if v is None:
            raise MissingValue(e.name, False)
        return v
    if type(e) is c.Param:
        v = params.get(e.name)
        if v is None:
            raise MissingValue(e.name, True)
        return v
    if type(e) is c.Arith:
        return _ARITH[e.op](expr(e.left, env, params), expr(e.right, env, params))
    raise TypeError(e)


def cond(x: c.Cond, env: dict, params: dict) -> bool:
    if type(x) is c.Cmp:
        return _CMP[x.op](expr(x.left, env, params), expr(x.right, env, params))
    if type(x) is c.InSet:
        return expr(x.operand, env, params) in x.values
    if type(x) is c.AllOf:
        return all(cond(i, env, params) for i in x.items)
    if type(x) is c.AnyOf:
        return any(cond(i, env, params) for i in x.items)
    if type(x) is c.Negate:
        return not cond(x.item, env, params)
    if type(x) is c.Present:
        v = env.get(x.field)
        return v is not None and v is not ABSENT
    raise TypeError(x)


def value(v: c.Value, env: dict, params: dict) -> tuple[Any, c.Prov | None]:
    """A value with the provenance of the decision-table row that produced it."""
    if isinstance(v, c.Decide):
        for arm in v.arms:
            if cond(arm.when, env, params):
                return expr(arm.value, env, params), arm.prov
        raise NoRow()
    return expr(v, env, params), None


def adjustments(adjs: Iterable[c.Adjust], env: dict, params: dict) -> list[c.Adjust]:
    """The adjustments (uplifts) whose condition holds, in order."""
    return [a for a in adjs if cond(a.when, env, params)]


def adjust_points(adj: c.Adjust, params: dict[str, Any]) -> Decimal:
    """The points of an adjustment: a literal's, or its expression over parameters."""
    pts = adj.points
    return pts if isinstance(pts, Decimal) else expr(pts, {}, params)


def points(applied: Iterable[c.Adjust], params: dict[str, Any] | None = None) -> Decimal:
    total = Decimal(0)
    for a in applied:
        total = CTX.add(total, adjust_points(a, params or {}))
    return total


def bound(ratio: Decimal, b: c.RatioBound, env: dict, params: dict) -> Decimal:
    """The ratio after a floor (raised to it) or a ceiling (lowered to it)."""
    limit = value(b.value, env, params)[0]
    if b.kind == "floor":
        return limit if ratio < limit else ratio
    return limit if ratio > limit else ratio
