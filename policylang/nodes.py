"""The abstract syntax tree: frozen attrs nodes.

Every node carries a ``span`` (where it came from in the source).  Spans do not
take part in equality or hashing, so two parses of the same policy written with
English or Chinese keywords, or laid out differently, compare equal.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any, TypeVar, Union, cast

import attrs


D = TypeVar("D")  # a kind of declaration, for ``Policy.find``
T = TypeVar("T")  # whatever ``replace_names`` is given: it returns the same kind


@attrs.frozen
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@attrs.frozen
class Comment:
    """A comment (``# ...`` or ``// ...``, to the end of the line, trailing white space
    removed).  Not part of the AST: ``parser.parse_with_comments`` returns them beside it."""

    text: str
    span: Span

    @property
    def pos(self) -> int:
        return self.span.start


@attrs.frozen
class Node:
    # where the node came from; left out of equality, hashing and repr (see the module doc)
    span: Span | None = attrs.field(default=None, eq=False, hash=False, repr=False, kw_only=True)


# ---- names and citations ----------------------------------------------------------


@attrs.frozen
class Name(Node):
    value: str = ""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Citation(Node):
    """``cite 二(一) "quoted sentence"`` — the clause of the notice a rule comes from."""

    clause: str = ""
    quote: str | None = None


@attrs.frozen
class Unstated(Node):
    """``unstated "why"`` — the notice is silent; the choice is the policy author's, declared."""

    reason: str = ""


Cite = Union[Citation, Unstated, None]

# ---- literals ---------------------------------------------------------------------


@attrs.frozen
class MoneyLit(Node):
    amount: Decimal = Decimal(0)


@attrs.frozen
class PercentLit(Node):
    """A percentage such as 75% (stored as written: 75)."""

    value: Decimal = Decimal(0)


@attrs.frozen
class PointsLit(Node):
    """A percentage-point adjustment such as +5 points (stored as written: 5)."""

    value: Decimal = Decimal(0)


@attrs.frozen
class NumberLit(Node):
    value: Decimal = Decimal(0)


@attrs.frozen
class DateLit(Node):
    value: _dt.date = _dt.date(1970, 1, 1)


@attrs.frozen
class TextLit(Node):
    value: str = ""


@attrs.frozen
class BoolLit(Node):
    value: bool = False


Literal = Union[MoneyLit, PercentLit, PointsLit, NumberLit, DateLit, TextLit, BoolLit]

# ---- expressions and conditions ---------------------------------------------------


@attrs.frozen
class Ref(Node):
    name: Name = Name()


@attrs.frozen
class BinOp(Node):
    op: str = "+"  # + - *
    left: "Expr" = attrs.field(kw_only=True)
    right: "Expr" = attrs.field(kw_only=True)


@attrs.frozen
class Compare(Node):
    op: str = "="  # = != < <= > >=
    left: "Expr" = attrs.field(kw_only=True)
    right: "Expr" = attrs.field(kw_only=True)


@attrs.frozen
class Member(Node):
    operand: "Expr" = attrs.field(kw_only=True)
    values: tuple[Name, ...] = ()


@attrs.frozen
class MemberOf(Node):
    """``hosp_lv in primary`` where ``primary`` is a declared tier."""

    operand: "Expr" = attrs.field(kw_only=True)
    group: Name = Name()


@attrs.frozen
class Flag(Node):
    name: Name = Name()


@attrs.frozen
class And(Node):
    left: "Cond" = attrs.field(kw_only=True)
    right: "Cond" = attrs.field(kw_only=True)


@attrs.frozen
class Or(Node):
    left: "Cond" = attrs.field(kw_only=True)
    right: "Cond" = attrs.field(kw_only=True)


@attrs.frozen
class Not(Node):
    operand: "Cond" = attrs.field(kw_only=True)


Expr = Union[Literal, Ref, BinOp]
Cond = Union[Compare, Member, MemberOf, Flag, And, Or, Not]

# ---- decision tables --------------------------------------------------------------


@attrs.frozen
class Row(Node):
    patterns: tuple[
        tuple[Name, ...] | None, ...
    ] = ()  # per key: alternatives (a | b), or None for `*`
    value: Literal | Ref = attrs.field(kw_only=True)  # a literal, or a declared parameter
    cite: Cite = None


@attrs.frozen
class Table(Node):
    keys: tuple[Name, ...] = ()
    rows: tuple[Row, ...] = ()


@attrs.frozen
class Band(Node):
    """One band: ``until 1000 yuan: 70%``; the last is ``beyond: 80%`` (limit None)."""

    limit: Literal | None = None
    value: Literal = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class Bands(Node):
    """A ratio banded by the amount accumulated in the period (per year, ...)."""

    period: Name = Name()
    each: Name | None = None
    bands: tuple[Band, ...] = ()


Quantity = Union[Literal, Table, Bands]

# ---- statements inside a dated version --------------------------------------------


@attrs.frozen
class Covers(Node):
    categories: tuple[Name, ...] = ()
    cite: Cite = None


@attrs.frozen
class DesignatedOnly(Node):
    cite: Cite = None


@attrs.frozen
class Ceiling(Node):
    """``total_at_most 300 yuan per year`` on a deductible: the most its takes add up to
    in the (longer) period."""

    amount: Quantity = attrs.field(kw_only=True)
    period: Name = Name()


@attrs.frozen
class Deductible(Node):
    amount: Quantity = attrs.field(kw_only=True)
    period: Name = Name()
    each: Name | None = None
    when: Cond | None = None
    name: Name | None = None  # `named NAME`: the counter's identity across versions
    cite: Cite = None
    ceiling: Ceiling | None = None  # `total_at_most ... per year`


@attrs.frozen
class CostCap(Node):
    """``cost_cap 5000 yuan per year``: a cap on the in-policy costs counted, not on the
    payment; costs beyond it leave the amount the deductible and the ratio apply to."""

    amount: Quantity = attrs.field(kw_only=True)
    period: Name = Name()
    each: Name | None = None
    when: Cond | None = None
    name: Name | None = None
    cite: Cite = None


@attrs.frozen
class Cap(Node):
    amount: Quantity = attrs.field(kw_only=True)
    period: Name = Name()
    each: Name | None = None
    when: Cond | None = None
    name: Name | None = None  # `named NAME`: the counter's identity across versions
    cite: Cite = None


@attrs.frozen
class Ratio(Node):
    amount: Quantity = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class Uplift(Node):
    points: Literal | Ref = attrs.field(kw_only=True)  # points, or a parameter of type points
    when: Cond = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class CreditRule(Node):
    name: Name = Name()
    when: Cond = attrs.field(kw_only=True)
    amount: Expr = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class Relations(Node):
    relations: tuple[Name, ...] = ()
    cite: Cite = None


@attrs.frozen
class Allow(Node):
    items: tuple[Name, ...] = ()
    venues: tuple[Name, ...] | None = None
    relations: tuple[Name, ...] | None = None
    cite: Cite = None


@attrs.frozen
class Planned(Node):
    items: tuple[Name, ...] = ()
    venues: tuple[Name, ...] | None = None
    relations: tuple[Name, ...] | None = None
    cite: Cite = None


@attrs.frozen
class Exclude(Node):
    items: tuple[Name, ...] = ()
    cite: Cite = None


@attrs.frozen
class Channel(Node):
    channels: tuple[Name, ...] = ()
    cite: Cite = None


@attrs.frozen
class Exemption(Node):
    """``except CONDITION cite ...``: visits for which a reduction does not apply."""

    when: Cond = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class Reduction(Node):
    """``reduce 10 points when not referred cite ... except emergency cite ...``: points off
    the ratio when the condition holds, unless one of the exemptions does."""

    points: Literal | Ref = attrs.field(kw_only=True)
    when: Cond = attrs.field(kw_only=True)
    cite: Cite = None
    exemptions: tuple[Exemption, ...] = ()


@attrs.frozen
class RatioBound(Node):
    """A bound on the ratio after every adjustment: a literal percentage or a parameter."""

    value: Literal | Ref = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class RatioFloor(RatioBound):
    """``ratio at_least 50%``: the ratio after every adjustment is raised to this."""


@attrs.frozen
class RatioCeiling(RatioBound):
    """``ratio at_most 90%``: the ratio after every adjustment is lowered to this."""


@attrs.frozen
class Fund(Node):
    """A further fund of the visit, settled after the pooling fund (and after the funds
    written before it): ``fund hifob "大额医疗费用补助" { deductible ... ratio ... cap ... }``.
    ``name`` is the platform's fund prefix (``hifob`` -> ``hifob_pay``)."""

    name: Name = Name()
    title: str | None = None
    cite: Cite = None
    body: tuple[Deductible | Cap | Ratio | Uplift, ...] = ()
    above_cap: bool = False  # its band starts where the pooling fund's annual cap is reached


Stmt = Union[
    Covers,
    DesignatedOnly,
    Deductible,
    Cap,
    CostCap,
    Ratio,
    Uplift,
    CreditRule,
    Relations,
    Allow,
    Planned,
    Exclude,
    Channel,
    Reduction,
    RatioFloor,
    RatioCeiling,
    Fund,
]


@attrs.frozen
class Version(Node):
    start: DateLit | Name = attrs.field(kw_only=True)  # a date, or the name of a date parameter
    until: DateLit | Name | None = None  # last day in force (inclusive)
    cite: Cite = None
    body: tuple[Stmt, ...] = ()


@attrs.frozen
class Section(Node):
    kind: str = ""  # pooling | crediting | account_use
    title: str | None = None
    versions: tuple[Version, ...] = ()


# ---- chronic diseases and constraints ---------------------------------------------


@attrs.frozen
class DiseasePart(Node):
    name: Name = Name()
    count: NumberLit = attrs.field(kw_only=True)
    catalogue: str | None = None
    cite: Cite = None


@attrs.frozen
class Diseases(Node):
    name: Name = Name()
    title: str | None = None
    cite: Cite = None
    total: NumberLit | None = None
    total_cite: Cite = None
    parts: tuple[DiseasePart, ...] = ()


@attrs.frozen
class Measure(Node):
    quantity: Name = Name()
    where: Cond | None = None


@attrs.frozen
class Bound(Node):
    value: Literal = attrs.field(kw_only=True)


@attrs.frozen
class Requirement(Node):
    name: Name = Name()
    left: Measure | Bound = attrs.field(kw_only=True)
    op: str = ">="
    right: Measure | Bound = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class Constraints(Node):
    title: str | None = None
    requirements: tuple[Requirement, ...] = ()


# ---- worked examples ----------------------------------------------------------------
# Examples are read by `policylang test` and the checker, never by the compiler: they
# take no part in the IR or its hash.


@attrs.frozen
class NoneLit(Node):
    """``none`` (无): an expected field that has no value (``reason: none``)."""


@attrs.frozen
class ExampleField(Node):
    """``name: value`` in a record or an expectation; the value is a literal, a name (an
    enumeration value, a rule name) or ``none``."""

    name: Name = Name()
    value: "Literal | Name | NoneLit" = attrs.field(kw_only=True)


@attrs.frozen
class ExampleRecord(Node):
    """``settle { ... }`` (or ``credit``, ``may_pay``) and what is expected of its result."""

    kind: str = "settle"  # settle | credit | may_pay
    fields: tuple[ExampleField, ...] = ()
    expect: tuple[ExampleField, ...] | None = None


@attrs.frozen
class ExampleParam(Node):
    """``param NAME = VALUE``: a parameter the example's records are evaluated with."""

    name: Name = Name()
    value: Literal = attrs.field(kw_only=True)


@attrs.frozen
class Example(Node):
    """``example "title" cite ... { ... }``: records evaluated together, in one call."""

    title: str = ""
    cite: Cite = None
    items: tuple[ExampleParam | ExampleRecord, ...] = ()

    @property
    def params(self) -> tuple[ExampleParam, ...]:
        return tuple(x for x in self.items if isinstance(x, ExampleParam))

    @property
    def records(self) -> tuple[ExampleRecord, ...]:
        return tuple(x for x in self.items if isinstance(x, ExampleRecord))


# ---- policy-level declarations ----------------------------------------------------


@attrs.frozen
class LevelDecl(Node):
    level: Name = Name()
    cite: Cite = None


@attrs.frozen
class JurisdictionDecl(Node):
    text: str = ""
    cite: Cite = None


@attrs.frozen
class DocumentDecl(Node):
    number: str = ""
    dated: DateLit | Name = attrs.field(
        kw_only=True
    )  # a date, or a date parameter (to be announced)
    cite: Cite = None


@attrs.frozen
class BasisDecl(Node):
    text: str = ""
    dated: DateLit | None = None
    cite: Cite = None


@attrs.frozen
class ImplementsDecl(Node):
    parent: Name = Name()
    cite: Cite = None


@attrs.frozen
class ParamDecl(Node):
    name: Name = Name()
    type: Name = Name()
    label: str | None = None
    cite: Cite = None


@attrs.frozen
class InputDecl(Node):
    name: Name = Name()
    type: Name = Name()
    default: Literal | None = None
    label: str | None = None
    cite: Cite = None


@attrs.frozen
class TierDecl(Node):
    name: Name = Name()
    label: str | None = None
    members: tuple[Name, ...] = ()
    cite: Cite = None


@attrs.frozen
class RoundingDecl(Node):
    mode: Name = Name()
    unit: Literal = attrs.field(kw_only=True)
    cite: Cite = None


@attrs.frozen
class SettingDecl(Node):
    name: Name = Name()
    value: Name = Name()
    cite: Cite = None


@attrs.frozen
class BillSplit(Node):
    """``in_policy excludes fulamt_ownpay_amt, overlmt_selfpay, other_paid``: the parts of
    the bill that leave the in-policy amount (money fields of the visit or declared money
    inputs).  Without it: ``fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt``."""

    parts: tuple[Name, ...] = ()
    cite: Cite = None


Decl = Union[
    BillSplit,
    LevelDecl,
    JurisdictionDecl,
    DocumentDecl,
    BasisDecl,
    ImplementsDecl,
    ParamDecl,
    InputDecl,
    TierDecl,
    RoundingDecl,
    SettingDecl,
    Section,
    Diseases,
    Constraints,
    Example,
]


@attrs.frozen
class Policy(Node):
    name: Name = Name()
    title: str | None = None
    decls: tuple[Decl, ...] = ()

    def find(self, cls: type[D]) -> list[D]:
        return [d for d in self.decls if isinstance(d, cls)]

    def first(self, cls: type[D]) -> D | None:
        found = self.find(cls)
        return found[0] if found else None

    def section(self, kind: str) -> Section | None:
        for d in self.decls:
            if isinstance(d, Section) and d.kind == kind:
                return d
        return None


# ---- vocabularies: enumerations and code lists --------------------------------------
#
# A vocabulary file holds a ``Vocabulary``; a policy may carry ``EnumDecl`` and
# ``CodeList`` declarations (extending the vocabulary in force) and ``ImportDecl``s.


@attrs.frozen
class EnumValue(Node):
    """``veteran "离休" codes "13" counts_as retiree``: a value, its Chinese aliases (the
    first is its Chinese name), the platform codes that mean it, and the value it counts
    as where a policy that does not know it is checked."""

    name: Name = Name()
    aliases: tuple[str, ...] = ()
    codes: tuple[TextLit, ...] = ()
    counts_as: Name | None = None
    cite: Cite = None


@attrs.frozen
class Implication(Node):
    """``flxempe_flag = true`` in ``code "1103" means active with flxempe_flag = true``."""

    field: Name = Name()
    value: "Expr" = attrs.field(kw_only=True)


@attrs.frozen
class EnumCode(Node):
    """``code "1103" means active with flxempe_flag = true "灵活就业在职"``."""

    code: TextLit = attrs.field(kw_only=True)
    means: Name = Name()
    implies: tuple[Implication, ...] = ()
    label: str | None = None
    cite: Cite = None


@attrs.frozen
class EnumDecl(Node):
    name: Name = Name()
    label: str | None = None
    fixed: bool = False  # the language gives each value a meaning: no value can be added
    cite: Cite = None
    items: tuple[Union[EnumValue, EnumCode], ...] = ()


@attrs.frozen
class CodeItem(Node):
    """``code "310" "职工基本医疗保险" pooled``: one code of a text field's code list."""

    code: TextLit = attrs.field(kw_only=True)
    label: str | None = None
    pooled: bool = False  # general outpatient pooling settles visits with this code
    cite: Cite = None


@attrs.frozen
class CodeList(Node):
    name: Name = Name()  # the record field the codes are for (insutype, med_type)
    label: str | None = None
    cite: Cite = None
    items: tuple[CodeItem, ...] = ()


@attrs.frozen
class ImportDecl(Node):
    """``import vocabulary "city-codes.pol"`` (a file, beside the policy) or
    ``import vocabulary national`` (a shipped vocabulary, by name)."""

    source: Union[TextLit, Name] = attrs.field(kw_only=True)
    cite: Cite = None


VocabDecl = Union[EnumDecl, CodeList]


@attrs.frozen
class Vocabulary(Node):
    """A vocabulary file: enumerations and code lists, no rules."""

    name: Name = Name()
    title: str | None = None
    decls: tuple[VocabDecl, ...] = ()

    def find(self, cls: type[D]) -> list[D]:
        return [d for d in self.decls if isinstance(d, cls)]


def replace_names(node: T, mapping: dict[str, str]) -> T:
    """``node`` with every ``Name`` whose value is a key of ``mapping`` replaced by one
    with the mapped value (and the same span): the aliases of a vocabulary, applied
    the way the parser applies the built-in ones.  Unchanged parts are shared."""
    if not mapping:
        return node
    if isinstance(node, Name):
        value = mapping.get(node.value)
        return node if value is None else cast(T, Name(value, span=node.span))
    if isinstance(node, tuple):
        items = tuple(replace_names(x, mapping) for x in node)
        same = all(a is b for a, b in zip(items, node, strict=True))
        return node if same else cast(T, items)
    if isinstance(node, Node):
        changes: dict[str, Any] = {}
        for f in attrs.fields(type(node)):
            if f.name == "span":
                continue
            old = getattr(node, f.name)
            new = replace_names(old, mapping)
            if new is not old:
                changes[f.name] = new
        return attrs.evolve(node, **changes) if changes else node
    return node
