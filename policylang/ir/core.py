"""The backend-neutral intermediate representation.

The IR is what every backend consumes: the scalar evaluator today, the columnar,
SQL and generated-Python backends on the roadmap.  It is fully resolved (no
names left to look up but fields and parameters), typed, and carries the
provenance (rule, clause, quoted sentence) of every value so that any backend
can explain its numbers.  Percentages and percentage points are stored as
fractions (75% -> 0.75, 5 points -> 0.05).  Nodes are frozen attrs classes;
backends pattern-match on them and never see the AST.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Union

import attrs

from ..nodes import Span


@attrs.frozen
class Prov:
    """Where a value comes from: the rule, the clause of the notice, its sentence."""

    rule: str
    clause: str | None = None
    quote: str | None = None
    unstated: str | None = None
    policy: str | None = None
    span: Span | None = attrs.field(default=None, eq=False, hash=False, repr=False)

    def to_json(self) -> dict:
        out = {"rule": self.rule, "clause": self.clause}
        if self.quote:
            out["quote"] = self.quote
        if self.unstated:
            out["unstated"] = self.unstated
        if self.policy:
            out["policy"] = self.policy
        return out


# ---- expressions ------------------------------------------------------------------


@attrs.frozen
class Const:
    value: object  # Decimal | str | bool | date
    type: str


@attrs.frozen
class Field:
    name: str
    type: str


@attrs.frozen
class Param:
    name: str
    type: str


@attrs.frozen
class Arith:
    op: str  # + - *
    left: "Expr"
    right: "Expr"
    type: str


@attrs.frozen
class Var:
    """The value of a program variable (set by an earlier step of an ``ir.program``; the
    rules themselves never hold one)."""

    name: str
    type: str


Expr = Union[Const, Field, Param, Arith, Var]


@attrs.frozen
class Cmp:
    op: str  # = != < <= > >=
    left: Expr
    right: Expr


@attrs.frozen
class InSet:
    operand: Expr
    values: frozenset


@attrs.frozen
class AllOf:
    items: tuple["Cond", ...]


@attrs.frozen
class AnyOf:
    items: tuple["Cond", ...]


@attrs.frozen
class Negate:
    item: "Cond"


@attrs.frozen
class Present:
    """The record has a value for this (optional) field."""

    field: str


TRUE = AllOf(())

Cond = Union[Cmp, InSet, AllOf, AnyOf, Negate, Present]


@attrs.frozen
class Arm:
    when: Cond
    value: Expr
    prov: Prov


@attrs.frozen
class Decide:
    """A decision table with the unique hit policy: exactly one arm matches
    (the checker proves it over the whole input domain)."""

    arms: tuple[Arm, ...]
    type: str


Value = Union[Expr, Decide]


@attrs.frozen
class Bands:
    """A ratio banded by the amount the ratio applies to (in-policy amount above
    the deductible), accumulated per period: the part of a visit that falls in
    each band gets that band's ratio."""

    period: str
    each: str | None
    limits: (
        tuple  # upper limit of each band (Decimal, cumulative); None for the last, unbounded one
    )
    values: tuple  # ratio of each band (fractions)
    provs: tuple  # Prov of each band
    type: str = "percent"


# ---- rules ------------------------------------------------------------------------


@attrs.frozen
class Accumulate:
    """A deductible or a cap: an amount per period (year, month, day, visit),
    optionally counted separately for each value of a field."""

    kind: str  # deductible | cap
    amount: Value
    period: str
    each: str | None
    when: Cond
    prov: Prov
    # the name the policy gives the counter (``named``); by default the counter is
    # identified by section, fund, kind, period, each field and condition (ir.build)
    name: str | None = None
    # a deductible's ``total_at_most``: the most its takes add up to in a longer period
    # (kind ``ceiling``, the deductible's condition, no ``each``)
    ceiling: "Accumulate | None" = None


@attrs.frozen
class Adjust:
    """Points added to the ratio when ``when`` holds (an uplift; a reduction has negative
    points; an exemption from a reduction is an adjustment of 0 points, so that the trace
    shows the clause that spared the visit)."""

    # a fraction (5 points -> 0.05), or an expression of type points over parameters (a
    # parameter, or 0 minus a parameter for a reduction by a parameter's points)
    points: "Decimal | Expr"
    when: Cond
    prov: Prov


@attrs.frozen
class RatioBound:
    """``ratio at_least 50%`` (a floor) or ``ratio at_most 90%`` (a ceiling) on the ratio
    after every adjustment."""

    kind: str  # floor | ceiling
    value: "Value"
    prov: Prov


@attrs.frozen
class FundRules:
    """A further fund (``fund hifob { ... }``): its deductible is where its band of the
    year's in-policy costs starts; it pays its ratio of the costs above, up to its caps."""

    name: str  # the platform's fund prefix: hifob -> hifob_pay
    title: str | None
    prov: Prov
    deductibles: tuple[Accumulate, ...]
    caps: tuple[Accumulate, ...]
    ratio: "Value | Bands"  # a fund's ratio may be banded, as the pooling fund's
    ratio_prov: Prov
    adjustments: tuple[Adjust, ...]
    above_cap: bool = False  # it pays only above the pooling fund's annual cap


@attrs.frozen
class PoolingRules:
    covers: frozenset  # of active | retiree | flexible
    covers_prov: Prov
    designated_only: Prov | None
    deductibles: tuple[Accumulate, ...]
    caps: tuple[Accumulate, ...]
    ratio: "Value | Bands"
    ratio_prov: Prov
    adjustments: tuple[Adjust, ...]
    # floor, then ceiling (written in the IR only when there are some)
    bounds: tuple[RatioBound, ...] = attrs.field(default=(), metadata={"omit_default": True})
    # caps on the in-policy costs counted (``cost_cap``), applied before the deductibles
    cost_caps: tuple[Accumulate, ...] = ()
    # the further funds of the visit, in the order they settle (after the pooling fund)
    funds: tuple["FundRules", ...] = ()

    def as_fund(self, fund: "FundRules") -> "PoolingRules":
        """The same version's rules with a further fund's deductibles, caps and ratio in
        place of the pooling fund's: what the analyses check of that fund (it covers the
        same visits)."""
        return attrs.evolve(
            self,
            deductibles=fund.deductibles,
            caps=fund.caps,
            ratio=fund.ratio,
            ratio_prov=fund.ratio_prov,
            adjustments=fund.adjustments,
            bounds=(),
            cost_caps=(),
            funds=(),
        )

    def covered(self, psn_type: str | None, flexible: bool | None) -> bool:
        """Whether pooling covers this kind of person (None: not known, not excluded)."""
        if psn_type is not None and psn_type not in self.covers:
            return False
        return not flexible or "flexible" in self.covers


@attrs.frozen
class CreditRule:
    name: str
    when: Cond
    amount: Expr
    prov: Prov


@attrs.frozen
class CreditingRules:
    rules: tuple[CreditRule, ...]


@attrs.frozen
class Permission:
    items: frozenset
    venues: frozenset | None  # None: any venue (contributions have none)
    relations: frozenset | None  # None: every eligible relation
    prov: Prov


@attrs.frozen
class AccountRules:
    relations: frozenset
    relations_prov: Prov | None
    allows: tuple[Permission, ...]
    planned: tuple[Permission, ...]
    excludes: frozenset
    excludes_prov: Prov | None
    channels: tuple[tuple[str, Prov], ...]


Rules = Union[PoolingRules, CreditingRules, AccountRules]


@attrs.frozen
class Version:
    start: dt.date | str  # a date, or the name of a date parameter
    until: dt.date | str | None  # inclusive
    prov: Prov | None
    rules: Rules


@attrs.frozen
class Section:
    kind: str
    title: str | None
    policy: str  # the id of the policy that states it (a parent's, when inherited)
    versions: tuple[Version, ...]


@attrs.frozen
class Rounding:
    mode: str  # half_up | half_even | down | up
    quantum: Decimal
    prov: Prov


@attrs.frozen
class Requirement:
    name: str
    left: "Measure | object"  # a measure, or a bound: a literal's value (Decimal, date, ...)
    op: str
    right: "Measure | object"
    prov: Prov
    text: str


@attrs.frozen
class Measure:
    quantity: str  # ratio | deductible | cap
    where: Cond


@attrs.frozen
class DiseaseCatalogue:
    name: str
    title: str | None
    total: int | None
    parts: tuple[tuple[str, int, str | None], ...]
    prov: Prov


@attrs.frozen
class Policy:
    id: str
    title: str | None
    level: str | None
    document: str | None
    document_date: dt.date | str | None  # a date, or a date parameter (to be announced)
    file: str = attrs.field(eq=False)  # where it was read: not part of its meaning
    params: dict  # name -> type
    inputs: dict  # name -> (type, default)
    rounding: Rounding | None
    settings: dict  # name -> (value, Prov)
    sections: dict  # kind -> Section
    diseases: tuple[DiseaseCatalogue, ...]
    requirements: tuple[Requirement, ...]
    parent: "Policy | None" = None
    # the parts of the bill that leave the in-policy amount (``in_policy excludes``): money
    # fields of the visit or declared money inputs; None: the platform's three self-paid parts
    bill_split: tuple[tuple[str, ...], Prov] | None = attrs.field(
        default=None, eq=False, repr=False
    )  # (the settle program's prelude says it: part of the meaning there)
    # kind (settle | credit | may_pay) -> ir.program.Program, built from the sections
    programs: dict = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    # tier -> the name its declaration gives it (``tier primary "一级及以下" = ...``): how a
    # rule of the tier is named to a reader, not part of what the policy means (not hashed)
    tier_labels: dict = attrs.field(factory=dict, eq=False, hash=False, repr=False)
    # the enumerations and code lists in force (policylang.vocabulary.Vocabulary); None: the
    # shipped ones (builtin and national) alone
    vocabulary: Any = attrs.field(default=None, repr=False)

    @property
    def vocab(self):
        """The vocabulary in force: what records may say, what tables range over."""
        if self.vocabulary is None:
            from ..vocabulary import shipped

            return shipped()
        return self.vocabulary
