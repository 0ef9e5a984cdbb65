"""Reading the IR for people: conditions, amounts and rules in words (English or
Chinese, from the message catalogue), and the effective ratio of each kind of
visit, computed by evaluating the IR's decision table and uplifts
(``ir.evaluate``).  Shared by ``render`` and ``diff``; it reads only the IR.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .vocabulary import Vocabulary

import attrs

from . import ir
from . import vocab as V
from .ir import evaluate as E
from .ir.evaluate import CTX, MissingValue, NoRow
from .messages import text, value as shown, values as shown_all
from .runtime import percent, points_text

_ENUMS: dict[str, dict[str, str]] = (
    V.ENUMS
)  # typed here: mypy cannot see through vocab's lazy table
LEVELS = tuple(_ENUMS["hosp_lv"])  # unrated, level1, level2, level3 (the shipped vocabulary's)
# person categories of pooling: (psn_type, flxempe_flag) and the catalogue id of its name
CATEGORIES = (
    (("active", False), "cat.active"),
    (("retiree", False), "cat.retiree"),
    (("active", True), "cat.flexible_active"),
    (("retiree", True), "cat.flexible_retiree"),
)
PROFILE_FIELDS = ("hosp_lv", "psn_type", "flxempe_flag")


@attrs.frozen
class Axes:
    """The values render and diff go through, in the vocabulary's order: hospital levels,
    psn_type values (each a person category, and again in flexible employment), the
    categories ``covers`` lists, and the account's items, relations and venues.  A policy's
    vocabulary may add to them (``enum psn_type { veteran "离休" ... }``)."""

    levels: tuple[str, ...]
    psn_types: tuple[str, ...]
    covers: tuple[str, ...]
    items: tuple[str, ...]
    relations: tuple[str, ...]
    venues: tuple[str, ...]

    @classmethod
    def of(cls, vocab: Vocabulary | None = None) -> "Axes":
        """The axes of a vocabulary (``ir.Policy.vocab``; None: the shipped one)."""
        if vocab is None:
            from .vocabulary import shipped

            vocab = shipped()
        values = {
            name: vocab.enums[name].values
            for name in ("hosp_lv", "psn_type", "category", "item", "relation", "venue")
        }
        return cls(
            values["hosp_lv"],
            values["psn_type"],
            values["category"],
            values["item"],
            values["relation"],
            values["venue"],
        )

    @property
    def categories(self) -> tuple[tuple[str, bool], ...]:
        """(psn_type, flxempe_flag): every psn_type value, then each in flexible employment."""
        return tuple((p, False) for p in self.psn_types) + tuple((p, True) for p in self.psn_types)

    def union(self, other: "Axes") -> "Axes":
        """Both policies' values (what a diff of their meaning goes through)."""
        return Axes(
            *(
                tuple(dict.fromkeys(a + b))
                for a, b in zip(
                    attrs.astuple(self, recurse=False),
                    attrs.astuple(other, recurse=False),
                    strict=True,
                )
            )
        )

    def common(self, other: "Axes") -> "Axes":
        """The values both policies know (what a visit settled under both may carry)."""
        return Axes(
            *(
                tuple(x for x in a if x in b)
                for a, b in zip(
                    attrs.astuple(self, recurse=False),
                    attrs.astuple(other, recurse=False),
                    strict=True,
                )
            )
        )


def axes_of(policy: ir.Policy) -> Axes:
    return Axes.of(policy.vocab)


# ---- words for values, expressions and conditions ------------------------------------


def yuan(amount: Decimal, lang: str) -> str:
    """150 -> "150 yuan" / "150 元"; 0.5 -> "0.50 yuan"."""
    if amount == amount.to_integral_value():
        number = format(amount.quantize(Decimal(1), context=CTX), "f")
    else:
        number = format(amount.quantize(Decimal("0.01"), context=CTX), "f")
    return text("word.yuan", lang, amount=number)


def field_name(name: str, lang: str) -> str:
    key = f"field.{name}"
    from .messages import MESSAGES

    return text(key, lang) if key in MESSAGES else name


def const_words(value: Any, t: str, lang: str) -> str:
    if isinstance(value, bool) or t == V.BOOL:
        return shown(bool(value), lang)
    if t == V.MONEY:
        return yuan(value, lang)
    if t == V.PERCENT:
        return percent(value)
    if t == V.POINTS:
        return text("word.points", lang, points=points_text(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(CTX), "f")
    return shown(value, lang)


def requirement_words(q: ir.Requirement, lang: str) -> str:
    """A province's requirement as the policy writes it (``ratio[psn_type = retiree] >=
    ratio[psn_type = active]``), in Chinese with the measures, fields and values named in
    Chinese (``支付比例[人员类别 = 退休] >= 支付比例[人员类别 = 在职]``)."""
    if lang != "zh":
        return q.text
    measured = next((s.quantity for s in (q.left, q.right) if isinstance(s, ir.Measure)), "")
    return f"{_requirement_side(q.left, measured)} {q.op} {_requirement_side(q.right, measured)}"


def _requirement_side(side: object, measured: str) -> str:
    """A measure (its name, and the visits it is measured on), or a bound of the type of the
    measure it is compared with."""
    if isinstance(side, ir.Measure):
        name = {en: zh for zh, en in V.MEASURE_ALIASES.items()}.get(side.quantity, side.quantity)
        where = side.where
        if isinstance(where, ir.AllOf) and not where.items:
            return name
        return f"{name}[{cond_words(where, 'zh')}]"
    return const_words(side, V.MEASURES.get(measured, ""), "zh")


def expr_words(e: ir.Value, lang: str) -> str:
    if isinstance(e, ir.Const):
        return const_words(e.value, e.type, lang)
    if isinstance(e, ir.Field):
        return field_name(e.name, lang)
    if isinstance(e, ir.Param):
        return e.name
    if isinstance(e, ir.Arith):
        op = {"*": "×", "+": "+", "-": "−"}[e.op]
        return f"{_operand(e.left, e.op, lang)} {op} {_operand(e.right, e.op, lang)}"
    return getattr(e, "name", str(e))


def _operand(e: ir.Expr, op: str, lang: str) -> str:
    words = expr_words(e, lang)
    return f"({words})" if isinstance(e, ir.Arith) and e.op in "+-" and op == "*" else words


def _is_bool_test(x: ir.Cond) -> tuple[str, bool] | None:
    """``flag = true`` / ``flag = false`` on a bool field: (field, value)."""
    if (
        isinstance(x, ir.Cmp)
        and x.op in ("=", "!=")
        and isinstance(x.left, ir.Field)
        and x.left.type == V.BOOL
        and isinstance(x.right, ir.Const)
        and isinstance(x.right.value, bool)
    ):
        return x.left.name, (x.right.value if x.op == "=" else not x.right.value)
    return None


def cond_words(x: ir.Cond, lang: str) -> str:
    """A condition as a reader says it: ``person type = retiree and not flexible employment``."""
    flag = _is_bool_test(x)
    if flag is not None:
        name, holds = flag
        return (
            field_name(name, lang)
            if holds
            else f"{text('word.not', lang)} {field_name(name, lang)}"
        )
    if isinstance(x, ir.Cmp):
        right = (
            const_words(x.right.value, x.right.type, lang)
            if isinstance(x.right, ir.Const)
            else expr_words(x.right, lang)
        )
        return f"{expr_words(x.left, lang)} {x.op} {right}"
    if isinstance(x, ir.InSet) and len(x.values) == 1:
        [only] = x.values
        return f"{expr_words(x.operand, lang)} = {shown(only, lang)}"
    if isinstance(x, ir.InSet):
        order = V.ENUMS.get(
            getattr(x.operand, "type", ""), None
        )  # values a vocabulary adds go last
        return (
            f"{expr_words(x.operand, lang)} {text('word.in', lang)} "
            f"{{{shown_all(x.values, lang, order)}}}"
        )
    if isinstance(x, (ir.AllOf, ir.AnyOf)):
        if not x.items:
            return text("word.any", lang)
        word = text("word.and" if isinstance(x, ir.AllOf) else "word.or", lang)
        return f" {word} ".join(_paren(i, lang) for i in _flat(x))
    if isinstance(x, ir.Negate):
        inner = x.item
        test = _is_bool_test(inner)
        if test is not None:
            name, holds = test
            return cond_words(
                ir.Cmp("=", ir.Field(name, V.BOOL), ir.Const(not holds, V.BOOL)), lang
            )
        return f"{text('word.not', lang)} {_paren(inner, lang)}"
    raise TypeError(x)


def _flat(x: ir.AllOf | ir.AnyOf) -> list[ir.Cond]:
    """``(a and b) and c`` is ``a and b and c``."""
    out = []
    for i in x.items:
        out.extend(_flat(i) if type(i) is type(x) else [i])
    return out


def _paren(x: ir.Cond, lang: str) -> str:
    words = cond_words(x, lang)
    return f"({words})" if isinstance(x, (ir.AllOf, ir.AnyOf)) and len(x.items) > 1 else words


def value_words(v: ir.Value, lang: str) -> str:
    """An amount or ratio: a literal, a parameter, or a decision table's rows."""
    if isinstance(v, ir.Decide):
        return "; ".join(f"{cond_words(a.when, lang)}: {expr_words(a.value, lang)}" for a in v.arms)
    if isinstance(v, ir.Param):
        return text("word.param", lang, name=v.name)
    return expr_words(v, lang)


def accumulate_terms(acc: ir.Accumulate, lang: str) -> str:
    """What a deductible or cap applies to, without its amount: ``per year, when ...``."""
    parts = [text("word.per", lang, period=text(f"period.{acc.period}", lang))]
    if acc.each:
        parts.append(text("word.each", lang, field=field_name(acc.each, lang)))
    if acc.when != ir.TRUE:
        parts.append(text("word.when", lang, cond=cond_words(acc.when, lang)))
    if acc.ceiling is not None:
        top = acc.ceiling
        parts.append(
            text(
                "word.total_at_most",
                lang,
                amount=value_words(top.amount, lang),
                period=text(f"period.{top.period}", lang),
            )
        )
    if acc.name:
        parts.append(text("word.named", lang, name=acc.name))
    return ("," if lang == "zh" else ", ").join(parts)


def accumulate_words(acc: ir.Accumulate, lang: str) -> str:
    """``150 yuan per year``, with its separation, condition and name."""
    amount, terms = value_words(acc.amount, lang), accumulate_terms(acc, lang)
    if lang == "zh":  # 每年 150 元,按医疗机构级别分别计算
        head, _, rest = terms.partition(",")
        return f"{head} {amount}" + (f",{rest}" if rest else "")
    head, _, rest = terms.partition(", ")
    return f"{amount} {head}" + (f", {rest}" if rest else "")


def date_words(d: dt.date | str, lang: str) -> str:
    return d.isoformat() if isinstance(d, dt.date) else text("word.param", lang, name=d)


def span_words(start: dt.date | str, until: dt.date | str | None, lang: str) -> str:
    if until is None:
        return text("render.from", lang, start=date_words(start, lang))
    return text(
        "render.from_until", lang, start=date_words(start, lang), until=date_words(until, lang)
    )


def category_name(key: tuple[str, bool], lang: str) -> str:
    """A person category as a column or a row names it: the catalogue's words for the
    shipped ones, the value's name (its Chinese name in zh) for one a vocabulary adds."""
    known = dict(CATEGORIES)
    if key in known:
        return text(known[key], lang)
    person = shown(key[0], lang)
    return text("cat.flexible_other", lang, person=person) if key[1] else person


# ---- the effective ratio of each kind of visit -----------------------------------------


@attrs.frozen
class Cell:
    """The ratio for one hospital level and person category, uplifts applied."""

    covered: bool
    ratio: (
        Decimal | None
    )  # None: not a number without more inputs (a parameter, another field, bands)
    base: str  # the ratio in words when ``ratio`` is None
    arm: ir.Prov | None  # the table row that gave the ratio
    applied: tuple[ir.Adjust, ...]  # the uplifts included
    points: Decimal  # their sum

    def words(self, lang: str) -> str:
        if not self.covered:
            return text("render.not_covered", lang)
        if self.ratio is not None:
            return percent(self.ratio)
        if self.points:
            sign = "+" if self.points > 0 else "−"
            return (
                f"{self.base} {sign} "
                f"{text('word.points', lang, points=points_text(abs(self.points)))}"
            )
        return self.base


def profile_env(level: str, category: tuple[str, bool]) -> dict:
    return {"hosp_lv": level, "psn_type": category[0], "flxempe_flag": category[1]}


def ratio_cell(
    rules: ir.PoolingRules,
    level: str,
    category: tuple[str, bool],
    params: dict | None = None,
    lang: str = "en",
) -> Cell:
    """Evaluate the version's ratio (table, literal or parameter) and every uplift whose
    condition the profile decides; uplifts that need other inputs are left out
    (``conditional_adjustments`` lists them)."""
    params = params or {}
    env = profile_env(level, category)
    if not rules.covered(category[0], category[1]):
        return Cell(False, None, "", None, (), Decimal(0))
    applied = tuple(a for a in rules.adjustments if _decided(a.when, env, params) is True)
    try:
        points = E.points(applied, params)
    except MissingValue as e:  # an uplift by a parameter not given
        return Cell(True, None, text("word.param", lang, name=e.name), None, applied, Decimal(0))
    if isinstance(rules.ratio, ir.Bands):
        return Cell(
            True,
            None,
            text("render.bands_cell", lang, points="").strip(),
            rules.ratio_prov,
            applied,
            points,
        )
    try:
        base, arm = E.value(rules.ratio, env, params)
    except MissingValue as e:
        base_words = (
            text("word.param", lang, name=e.name)
            if e.is_param
            else text("render.cell_depends", lang, names=field_name(e.name, lang))
        )
        return Cell(True, None, base_words, None, applied, points)
    except NoRow:
        return Cell(True, None, "?", None, applied, points)
    ratio, prov = CTX.add(base, points), arm or rules.ratio_prov
    for b in rules.bounds:  # a floor or a ceiling
        try:
            bounded = E.bound(ratio, b, env, params)
        except MissingValue as e:
            return Cell(True, None, text("word.param", lang, name=e.name), None, applied, points)
        if bounded != ratio:
            ratio, prov = bounded, b.prov
    return Cell(True, ratio, "", prov, applied, points)


# a floor or a ceiling on the ratio, in words (message ids)
BOUND_WORDS = {"floor": "render.ratio_floor", "ceiling": "render.ratio_ceiling"}


def signed_points(points: Decimal | ir.Expr, lang: str) -> str:
    """An adjustment's points in words: +5 points, −10 points, or + / − a parameter."""
    if isinstance(points, Decimal):
        mark = "+" if points > 0 else "−" if points < 0 else "±"
        return mark + text("word.points", lang, points=points_text(abs(points)))
    sign, name = points_param(points)
    return ("−" if sign < 0 else "+") + text("word.param", lang, name=name)


def points_param(points: ir.Expr) -> tuple[int, str]:
    """An adjustment's points given by a parameter: (sign, parameter name); a reduction by a
    parameter is ``0 - parameter``."""
    if isinstance(points, ir.Param):
        return 1, points.name
    if isinstance(points, ir.Arith) and isinstance(points.right, ir.Param):
        return -1, points.right.name
    return 1, "?"


def _decided(cond: ir.Cond, env: dict, params: dict) -> bool | None:
    """Whether the profile alone decides the condition (None: it needs other inputs)."""
    try:
        return E.cond(cond, env, params)
    except MissingValue:
        return None


def conditional_adjustments(
    rules: ir.PoolingRules, params: dict | None = None, axes: Axes | None = None
) -> list[ir.Adjust]:
    """Uplifts that some profile cannot decide without other inputs or parameters."""
    params = params or {}
    axes = axes or Axes.of()
    out = []
    for a in rules.adjustments:
        if any(
            _decided(a.when, profile_env(lv, cat), params) is None
            for lv in axes.levels
            for cat in axes.categories
        ):
            out.append(a)
    return out


def ratio_matrix(
    rules: ir.PoolingRules, params: dict | None = None, lang: str = "en", axes: Axes | None = None
) -> tuple[list[tuple[str, bool]], list[tuple[list[str], list[Cell]]], bool]:
    """Columns (person categories), rows (hospital levels merged where every cell is
    the same) and whether flexible-employment columns were folded into their person
    type's (they are the same for every level).  ``axes``: the levels and categories of
    the policy's vocabulary (None: the shipped one)."""
    axes = axes or Axes.of()
    categories = axes.categories
    half = len(axes.psn_types)
    full = {
        lv: [ratio_cell(rules, lv, cat, params, lang) for cat in categories] for lv in axes.levels
    }
    folded = all(cells[:half] == cells[half:] for cells in full.values())
    columns = list(categories[:half] if folded else categories)
    rows: list[tuple[list[str], list[Cell]]] = []
    for lv in axes.levels:
        cells = full[lv][: len(columns)]
        if rows and rows[-1][1] == cells:
            rows[-1][0].append(lv)
        else:
            rows.append(([lv], cells))
    return columns, rows, folded


def account_matrix(
    program: ir.Program, block: ir.Block, axes: Axes | None = None
) -> dict[tuple[str, str], list[str] | str]:
    """For each (item, relation): the venues where the account may pay, or the reason
    it may not (``planned``, ``excluded``, ...), by evaluating the block's decision."""
    axes = axes or Axes.of()
    decision = next(s for s in block.steps if isinstance(s, ir.Decision))
    out: dict[tuple[str, str], Any] = {}
    for item in axes.items:
        for relation in axes.relations:
            # a contribution has no venue (the vocabulary's rule: its name ends in _contribution)
            venues = [E.ABSENT] if item.endswith("_contribution") else list(axes.venues)
            permitted, refusals = [], []
            for venue in venues:
                env = {
                    "item": item,
                    "relation": relation,
                    "venue": venue,
                    "networked": True,
                    "on": block.start,
                }
                verdict = _first(decision, env)
                if verdict is not None and verdict.allowed:
                    permitted.append(venue)
                elif verdict is not None:
                    refusals.append(verdict.reason)
            if permitted:
                out[(item, relation)] = [v for v in permitted if v is not E.ABSENT]
            else:
                out[(item, relation)] = _strongest(refusals)
    return out


def _first(decision: ir.Decision, env: dict) -> ir.Verdict | None:
    for v in decision.verdicts:
        try:
            if E.cond(v.when, env, {}):
                return v
        except MissingValue:
            continue
    return None


def _strongest(reasons: list[str]) -> str:
    for r in (
        "excluded",
        "relation_not_eligible",
        "planned",
        "no_channel",
        "item_not_allowed",
        "not_designated",
    ):
        if r in reasons:
            return r
    return "item_not_allowed"


def venue_name(venue: str, lang: str) -> str:
    """A venue where the account may pay, in a cell: the catalogue's short word, or the
    name of a venue a vocabulary adds."""
    from .messages import MESSAGES

    return text(f"venue.{venue}", lang) if f"venue.{venue}" in MESSAGES else shown(venue, lang)


def block_of(program: ir.Program, version: ir.Version) -> ir.Block | None:
    return next(
        (b for b in program.blocks if b.start == version.start and b.until == version.until), None
    )
