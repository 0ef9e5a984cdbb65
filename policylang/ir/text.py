"""Canonical text of IR expressions and conditions (for counter identities and
messages): independent of the source's layout and keyword language."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from . import core as c


def value_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def expr_text(e: c.Expr) -> str:
    if isinstance(e, c.Const):
        return value_text(e.value)
    if isinstance(e, c.Arith):
        return f"({expr_text(e.left)} {e.op} {expr_text(e.right)})"
    return e.name  # Field, Param, Var


def cond_text(x: c.Cond) -> str:
    if isinstance(x, c.Cmp):
        return f"{expr_text(x.left)} {x.op} {expr_text(x.right)}"
    if isinstance(x, c.InSet):
        return f"{expr_text(x.operand)} in {{{', '.join(sorted(value_text(v) for v in x.values))}}}"
    if isinstance(x, c.AllOf):
        return "true" if not x.items else " and ".join(_paren(i) for i in x.items)
    if isinstance(x, c.AnyOf):
        return " or ".join(_paren(i) for i in x.items)
    if isinstance(x, c.Negate):
        return f"not {_paren(x.item)}"
    if isinstance(x, c.Present):
        return f"{x.field} given"
    raise TypeError(x)


def _paren(x: c.Cond) -> str:
    text = cond_text(x)
    return f"({text})" if isinstance(x, (c.AllOf, c.AnyOf)) and len(x.items) > 1 else text
