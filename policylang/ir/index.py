"""Decision tables looked up by field instead of row by row.

A table lowers to arms whose conditions are ``AllOf(InSet(Field f, values), ...)``
(a row's patterns).  ``TableIndex`` keeps, for each field the table reads, a bit
mask of the arms each value satisfies (and of the arms that do not constrain the
field), so the arms a record matches are the AND of one mask per field: work
proportional to the number of fields, not of rows.  The meaning is that of
``ir.evaluate.value`` (the first matching arm wins); ``TableIndex.of`` returns None
for a table of any other shape, and the caller evaluates it row by row."""

from __future__ import annotations

from . import core as c
from .evaluate import MissingValue


class TableIndex:
    def __init__(
        self, arms: tuple, fields: list[str], any_mask: dict[str, int], masks: dict[str, dict]
    ):
        self.arms = arms
        self.fields, self.any_mask, self.masks = fields, any_mask, masks
        self.all = (1 << len(arms)) - 1
        self.work = 0  # mask operations done: lets tests check the cost is per field, not per row

    @classmethod
    def of(cls, decide: c.Decide) -> "TableIndex | None":
        constraints: list[dict[str, frozenset]] = []
        for arm in decide.arms:
            items = arm.when.items if type(arm.when) is c.AllOf else (arm.when,)
            by_field: dict[str, frozenset] = {}
            for item in items:
                if (
                    type(item) is not c.InSet
                    or type(item.operand) is not c.Field
                    or item.operand.name in by_field
                ):
                    return None
                by_field[item.operand.name] = item.values
            constraints.append(by_field)
        fields = sorted({f for cons in constraints for f in cons})
        any_mask = {f: 0 for f in fields}
        masks: dict[str, dict] = {f: {} for f in fields}
        for i, cons in enumerate(constraints):
            bit = 1 << i
            for f in fields:
                if f not in cons:
                    any_mask[f] |= bit
                else:
                    for v in cons[f]:
                        masks[f][v] = masks[f].get(v, 0) | bit
        return cls(decide.arms, fields, any_mask, masks)

    def mask(self, env: dict) -> int:
        m = self.all
        for f in self.fields:
            v = env.get(f)
            if v is None:
                if self.any_mask[f] & m == m:
                    continue  # no arm still in play reads it
                raise MissingValue(f, False)
            m &= self.masks[f].get(v, 0) | self.any_mask[f]
            self.work += 1
            if not m:
                break
        return m

    def matches(self, env: dict) -> list:
        """The arms ``env`` satisfies, in order."""
        m = self.mask(env)
        out = []
        while m:
            low = m & -m
            out.append(self.arms[low.bit_length() - 1])
            m ^= low
        return out

    def first(self, env: dict) -> c.Arm | None:
        """The arm that decides (the first that matches), or None."""
        i = self.first_index(env)
        return None if i is None else self.arms[i]

    def first_index(self, env: dict) -> int | None:
        m = self.mask(env)
        return (m & -m).bit_length() - 1 if m else None
