"""What a program reads: the record fields and the parameters.

``fields_read`` / ``params_read`` walk any IR node (steps, values, conditions).
Validation uses ``demands`` so that a missing parameter is reported before the
first result is computed, and traces use ``fields_read`` to show the inputs a
step looked at."""

from __future__ import annotations

import attrs

from . import core as c
from . import program as p


def _walk(node: object, out_fields: list, out_params: list) -> None:
    t = type(node)
    if type(node) is c.Field:
        if node.name not in out_fields:
            out_fields.append(node.name)
        return
    if type(node) is c.Param:
        if node.name not in out_params:
            out_params.append(node.name)
        return
    if isinstance(node, (tuple, list)):
        for x in node:
            _walk(x, out_fields, out_params)
        return
    if isinstance(node, c.Prov) or not attrs.has(t):
        return
    for f in attrs.fields(t):
        _walk(getattr(node, f.name), out_fields, out_params)


def fields_read(node: object) -> tuple[str, ...]:
    fields: list[str] = []
    _walk(node, fields, [])
    return tuple(fields)


def params_read(node: object) -> tuple[str, ...]:
    params: list[str] = []
    _walk(node, [], params)
    return tuple(params)


def deciding(step: p.Ratio) -> tuple[str, ...]:
    """Every field that decides a ratio, shown in its trace: those the table reads, then
    those each adjustment's condition and each bound read, whether it applied or not."""
    out = list(step.reads)
    for f in fields_read((step.adjustments, step.bounds)):
        if f not in out:
            out.append(f)
    return tuple(out)


def counter_reads(amount: object, when: object, each: str | None) -> tuple[str, ...]:
    """The fields that decide a deductible's or a cap's amount for a visit: those its table
    and its condition read, and the field it is counted separately for (shown in its trace)."""
    out = list(fields_read((amount, when)))
    if each is not None and each not in out:
        out.append(each)
    return tuple(out)


@attrs.frozen
class Demands:
    fields: tuple[str, ...]
    params: tuple[str, ...]  # read by some step, or naming a block's start or end


def demands(program: p.Program, others: tuple[p.Program, ...] = ()) -> Demands:
    """``others``: programs this one consults (settle asks may-pay about the account)."""
    fields: list[str] = []
    params: list[str] = []
    for prog in (program, *others):
        _walk(
            (prog.prelude, prog.otherwise, prog.postlude, [b.steps for b in prog.blocks]),
            fields,
            params,
        )
        for b in prog.blocks:
            for point in (b.start, b.until):
                if isinstance(point, str) and point not in params:
                    params.append(point)
    return Demands(tuple(fields), tuple(params))
