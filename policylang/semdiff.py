"""``policylang diff OLD NEW``: what changed in meaning between two policies.

Two parts, both read from the compiled policies, never from their text:

**Values.**  Each section's rules are reduced to *facts* that carry meaning -- who is
covered, each deductible and cap by its counter identity, the effective ratio of
every hospital level and person category (table and uplifts evaluated), the
uplifts that depend on other inputs, ratio bands, each crediting rule, and for
account use the answer for every item and relation -- and compared date by date:
the dates where either policy starts or ends a version cut the calendar into
spans, and in each span the version in force in OLD is compared with the one in
force in NEW.  Neighbouring spans with the same change are reported as one.
Layout, keyword language, citations and how a rule is split into versions do not
count; a changed number does, with the dates it changes on.

**Visits.**  Candidate visits are built on the boundaries the two policies
distinguish: every version date (±1 day), every hospital level and person
category, the flexible flag, designated or not when a policy asks, the values of
declared inputs and the thresholds their conditions compare with, amounts just
below, at and above each deductible and each cap's threshold (the bill at which
the fund's share reaches it, at the ratio each policy gives), and pairs of visits
in one year where the first reaches a deductible or a cap.  Each candidate is one
person; all are settled in one batch by each policy through the public API
(``CompiledPolicy.settle``) and those whose settlement differs are reported.

**Parameters.**  A parameter the user does not give is the *same unknown* on both
sides: where a policy reads it, both policies get the same stand-in value and the
report says so.  A difference found is therefore real for that value; one that
only shows for other values of an unsupplied parameter can be missed (give
``--param`` to explore it).  In the values part, a parameter stays a name.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence

import attrs

if TYPE_CHECKING:
    from .api import CompiledPolicy

from . import ir
from . import vocab as V
from .describe import (
    BOUND_WORDS,
    Axes,
    account_matrix,
    accumulate_terms,
    axes_of,
    block_of,
    category_name,
    cond_words,
    conditional_adjustments,
    expr_words,
    field_name,
    ratio_cell,
    span_words,
    value_words,
    venue_name,
    yuan,
)
from .ir import evaluate as E
from .ir.build import counter_id
from .ir.demands import demands
from .ir.evaluate import CTX, MissingValue, NoRow
from .messages import text, value as shown, values as shown_all, vocabulary_names

DAY = dt.timedelta(days=1)
CENT = Decimal("0.01")
# a visit settles differently when an amount or the reason differs (a ratio that differs where
# the fund pays nothing anyway, within the deductible, is shown beside a difference, not one)
COMPARED = (
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
    "balc",
    "reason",
)
MAX_SEQUENCES = 200_000
# a balance the account never runs out of: account payments show, not the balance's end
BALANCE = "100000.00"


# ---- facts: the meaning of a version, key -> words -----------------------------------------


@attrs.frozen
class Fact:
    label: str
    value: str
    prov: ir.Prov | None = None


def _pooling_facts(r: ir.PoolingRules, lang: str, axes: Axes) -> dict[tuple, Fact]:
    out: dict[tuple, Fact] = {
        ("covers",): Fact(
            text("fact.covers", lang), shown_all(r.covers, lang, axes.covers), r.covers_prov
        ),
        ("designated_only",): Fact(
            text("fact.designated_only", lang),
            text("fact.yes" if r.designated_only else "fact.no", lang),
            r.designated_only,
        ),
    }
    for kind, accs in (("deductible", r.deductibles), ("cap", r.caps), ("cost_cap", r.cost_caps)):
        for acc in accs:
            # the label names the statement; a deductible's total is a fact of its own
            what = accumulate_terms(attrs.evolve(acc, ceiling=None), lang)
            out[(kind, counter_id(acc))] = Fact(
                text(f"fact.{kind}", lang, what=what),
                value_words(acc.amount, lang),
                acc.prov,
            )
            if acc.ceiling is not None:  # a deductible's total_at_most
                top = acc.ceiling
                per = text("word.per", lang, period=text(f"period.{top.period}", lang))
                out[("total_at_most", counter_id(acc))] = Fact(
                    text("fact.total_at_most", lang, what=what, per=per),
                    value_words(top.amount, lang),
                    top.prov,
                )
    for lv in axes.levels:
        for cat in axes.categories:
            cell = ratio_cell(r, lv, cat, lang=lang)
            out[("ratio", lv, cat)] = Fact(
                text(
                    "fact.ratio_cell",
                    lang,
                    level=shown(lv, lang),
                    category=category_name(cat, lang),
                ),
                cell.words(lang),
                cell.arm,
            )
    for a in conditional_adjustments(r, axes=axes):
        out[("uplift", cond_words(a.when, "en"))] = Fact(
            text(_adjustment_fact(a), lang, cond=cond_words(a.when, lang)),
            text("word.points", lang, points=_points(a.points)),
            a.prov,
        )
    if isinstance(r.ratio, ir.Bands):
        for i, (limit, value, prov) in enumerate(
            zip(r.ratio.limits, r.ratio.values, r.ratio.provs, strict=True), start=1
        ):
            bound = (
                text("word.beyond", lang)
                if limit is None
                else text("word.until_band", lang, limit=yuan(limit, lang))
            )
            out[("band", i)] = Fact(text("fact.band", lang, n=i), f"{bound}: {_pct(value)}", prov)
    for b in r.bounds:  # a floor or a ceiling on the ratio
        out[("ratio_bound", b.kind)] = Fact(
            text(BOUND_WORDS[b.kind], lang), value_words(b.value, lang), b.prov
        )
    return out


def _points(p: Decimal | ir.Expr) -> str:
    from .runtime import points_text

    if isinstance(p, Decimal):
        return points_text(p)
    from .describe import points_param

    sign, name = points_param(p)
    return name if sign > 0 else f"-{name}"


def _pct(p: Decimal) -> str:
    from .runtime import percent

    return percent(p)


def _crediting_facts(r: ir.CreditingRules, lang: str) -> dict[tuple, Fact]:
    return {
        ("credit_rule", rule.name): Fact(
            text("fact.credit_rule", lang, name=rule.name),
            f"{cond_words(rule.when, lang)}: {expr_words(rule.amount, lang)}",
            rule.prov,
        )
        for rule in r.rules
    }


def _account_facts(policy: ir.Policy, v: ir.Version, lang: str, axes: Axes) -> dict[tuple, Fact]:
    r = v.rules
    assert isinstance(r, ir.AccountRules)
    out: dict[tuple, Fact] = {
        ("channels",): Fact(
            text("fact.channels", lang),
            shown_all([c for c, _ in r.channels], lang) or text("word.any", lang),
        ),
    }
    program = policy.programs["may_pay"]
    block = block_of(program, v)
    if block is None:
        return out
    for (item, relation), got in account_matrix(program, block, axes).items():
        if isinstance(got, list):
            words = ("、" if lang == "zh" else ", ").join(venue_name(x, lang) for x in got) or text(
                "account.yes", lang
            )
        else:
            from .messages import reason

            words = reason(got, lang)
        out[("may_pay", item, relation)] = Fact(
            text("fact.may_pay", lang, item=shown(item, lang), relations=shown(relation, lang)),
            words,
        )
    return out


def _merge_cells(changes: list[Change], lang: str, axes: Axes) -> list[Change]:
    """Ratio cells that change the same way on the same dates: one row naming the levels
    and person categories."""
    out: list[Change] = []
    groups: dict[tuple, list[Change]] = {}
    for ch in changes:
        if ch.key[0] != "ratio" or len(ch.key) != 3:
            out.append(ch)
            continue
        group = (ch.section, ch.start, ch.until, ch.before, ch.after)
        if group not in groups:
            groups[group] = []
            out.append(ch)  # its place; replaced below
        groups[group].append(ch)
    merged = []
    for ch in out:
        group = (ch.section, ch.start, ch.until, ch.before, ch.after)
        if ch.key[0] != "ratio" or len(ch.key) != 3:
            merged.append(ch)
            continue
        cells = groups[group]
        levels = [lv for lv in axes.levels if any(c.key[1] == lv for c in cells)]
        cats = [cat for cat in axes.categories if any(c.key[2] == cat for c in cells)]
        names = []
        for psn in axes.psn_types:
            have = {flex for (p, flex) in cats if p == psn}
            if have == {False, True}:
                names.append(
                    text("diff.either_flexible", lang, person=category_name((psn, False), lang))
                )
            elif have:
                names.append(category_name((psn, have.pop()), lang))
        label = text(
            "fact.ratio_cell",
            lang,
            level=shown_all(levels, lang, axes.levels),
            category=("、" if lang == "zh" else "; ").join(names),
        )
        merged.append(attrs.evolve(ch, key=("ratio", tuple(levels), tuple(cats)), label=label))
    return merged


def _merge_relations(changes: list[Change], lang: str, axes: Axes) -> list[Change]:
    """Account-use changes of one item that are the same for several relations: one row."""
    out: list[Change] = []
    index: dict[tuple, int] = {}
    for ch in _merge_cells(changes, lang, axes):
        if ch.key[0] != "may_pay":
            out.append(ch)
            continue
        group = (ch.section, ch.start, ch.until, ch.key[1], ch.before, ch.after)
        if group in index:
            first = out[index[group]]
            relations = (*first.key[2:], ch.key[2])
            out[index[group]] = attrs.evolve(
                first,
                key=("may_pay", ch.key[1], *relations),
                label=text(
                    "fact.may_pay",
                    lang,
                    item=shown(ch.key[1], lang),
                    relations=shown_all(relations, lang, axes.relations),
                ),
            )
        else:
            index[group] = len(out)
            out.append(ch)
    return out


def _fund_facts(r: ir.PoolingRules, lang: str, axes: Axes) -> dict[tuple, Fact]:
    """Each further fund's deductibles, caps, ratios and uplifts, named after the fund."""
    out: dict[tuple, Fact] = {}
    for fund in r.funds:
        for key, fact in _pooling_facts(r.as_fund(fund), lang, axes).items():
            if key[0] not in ("covers", "designated_only"):  # the version's, not the fund's
                label = text("fact.fund", lang, fund=fund.name, what=fact.label)
                out[("fund", fund.name, *key)] = Fact(label, fact.value, fact.prov)
    return out


def _facts(policy: ir.Policy, kind: str, v: ir.Version, lang: str, axes: Axes) -> dict[tuple, Fact]:
    if kind == "pooling":
        assert isinstance(v.rules, ir.PoolingRules)
        return {**_pooling_facts(v.rules, lang, axes), **_fund_facts(v.rules, lang, axes)}
    if kind == "crediting":
        assert isinstance(v.rules, ir.CreditingRules)
        return _crediting_facts(v.rules, lang)
    return _account_facts(policy, v, lang, axes)


def _point_text(d: dt.date | str) -> str:
    """A date, or the name of the date parameter that gives it (to be announced)."""
    return d if isinstance(d, str) else d.isoformat()


def _adjustment_fact(a: ir.Adjust) -> str:
    """An uplift, a reduction, or an exemption from a reduction (by the rule it comes from)."""
    if a.prov.rule.endswith(": exempt"):
        return "fact.exemption"
    return "fact.reduction" if a.prov.rule.startswith("reduce") else "fact.uplift"


def _bill_split_facts(p: ir.Policy, lang: str) -> dict[tuple, Fact]:
    if p.bill_split is None:
        return {}
    parts, prov = p.bill_split
    return {("bill_split",): Fact(text("fact.bill_split", lang), ", ".join(parts), prov)}


def _policy_facts(p: ir.Policy, lang: str) -> dict[tuple, Fact]:
    out = _header_facts(p, lang)
    for name, (val, prov) in p.settings.items():
        out[("setting", name)] = Fact(text("fact.setting", lang, name=name), shown(val, lang), prov)
    for name, t in p.params.items():
        out[("param", name)] = Fact(
            text("fact.param", lang, name=name),
            text(f"type.{t}", lang) if f"type.{t}" in _MESSAGES else t,
        )
    for name, (t, default) in p.inputs.items():
        out[("input", name)] = Fact(
            text("fact.input", lang, name=name),
            f"{t}" + ("" if default is None else f" = {shown(default, lang)}"),
        )
    for d in p.diseases:
        parts = ", ".join(f"{catalogue or name} {count}" for name, count, catalogue in d.parts)
        out[("diseases", d.name)] = Fact(
            text("fact.diseases", lang, name=d.name),
            f"{d.total}" + (f" ({parts})" if parts else ""),
            d.prov,
        )
    for q in p.requirements:
        out[("requirement", q.name)] = Fact(
            text("fact.requirement", lang, name=q.name), q.text, q.prov
        )
    return out


def _header_facts(p: ir.Policy, lang: str) -> dict[tuple, Fact]:
    """The policy's title, level, document, parent and rounding, those it states."""
    out: dict[tuple, Fact] = {}
    if p.title:
        out[("title",)] = Fact(text("fact.title", lang), p.title)
    if p.level:
        out[("level",)] = Fact(text("fact.level", lang), text(f"level.{p.level}", lang))
    if p.document:
        out[("document",)] = Fact(
            text("fact.document", lang),
            p.document + (f" ({_point_text(p.document_date)})" if p.document_date else ""),
        )
    out.update(_bill_split_facts(p, lang))
    if p.parent is not None:
        out[("parent",)] = Fact(text("fact.parent", lang), p.parent.id)
    if p.rounding is not None:
        out[("rounding",)] = Fact(
            text("fact.rounding", lang),
            text(
                "render.rounding_value",
                lang,
                mode=shown(p.rounding.mode, lang),
                unit=format(p.rounding.quantum.normalize(), "f"),
            ),
            p.rounding.prov,
        )
    return out


from .messages import MESSAGES as _MESSAGES  # noqa: E402


@attrs.frozen
class Change:
    section: str | None  # None: the policy as a whole
    start: Any  # the first day the change holds (a date, a parameter's name) or None: every date
    until: Any  # the last day, or None: open
    key: tuple
    label: str
    before: str | None  # None: absent
    after: str | None
    before_prov: ir.Prov | None = None
    after_prov: ir.Prov | None = None

    def to_json(self, lang: str) -> dict:
        def when(d):
            return d.isoformat() if isinstance(d, dt.date) else d

        return {
            "section": self.section,
            "from": when(self.start),
            "until": when(self.until),
            "key": _plain_json(self.key),
            "what": self.label,
            "before": self.before,
            "after": self.after,
            "before_clause": _clause_json(self.before_prov),
            "after_clause": _clause_json(self.after_prov),
        }


def _plain_json(x):
    """Tuples as lists, dates as text: a key as JSON."""
    if isinstance(x, (tuple, list)):
        return [_plain_json(i) for i in x]
    if isinstance(x, dt.date):
        return x.isoformat()
    return x


def _clause_json(prov: ir.Prov | None) -> dict[str, str] | None:
    if prov is None:
        return None
    return {
        k: v
        for k, v in (("clause", prov.clause), ("quote", prov.quote), ("unstated", prov.unstated))
        if v
    }


def _compare(
    a: dict[tuple, Fact],
    b: dict[tuple, Fact],
    a_en: dict[tuple, Fact],
    b_en: dict[tuple, Fact],
    section: str | None,
    start: DateRef | None,
    until: DateRef | None,
) -> list[Change]:
    out = []
    for key in list(dict.fromkeys([*a_en, *b_en])):
        x, y = a_en.get(key), b_en.get(key)
        if (x.value if x else None) == (y.value if y else None):
            continue
        fa, fb = a.get(key), b.get(key)
        either = fa or fb
        assert either is not None  # the key is in a_en or b_en, so in a or b
        out.append(
            Change(
                section,
                start,
                until,
                key,
                either.label,
                fa.value if fa else None,
                fb.value if fb else None,
                fa.prov if fa else None,
                fb.prov if fb else None,
            )
        )
    return out


DateRef = dt.date | str  # a date, or the name of a date parameter


def _literal(d: DateRef | None, params: dict[str, Any]) -> dt.date | None:
    if d is None or isinstance(d, dt.date):
        return d
    return params.get(d)


def _in_force(
    versions: Sequence[ir.Version], day: dt.date, params: dict[str, Any]
) -> ir.Version | None:
    found, found_start = None, None
    for v in versions:
        start, until = _literal(v.start, params), _literal(v.until, params)
        if start is None or (v.until is not None and until is None):
            continue
        if (
            start <= day
            and (until is None or day <= until)
            and (found_start is None or start >= found_start)
        ):
            found, found_start = v, start
    return found


def value_changes(
    old: ir.Policy, new: ir.Policy, lang: str = "en", params: dict | None = None
) -> list[Change]:
    """The facts that differ, with the dates they differ on.  ``params``: the date
    parameters the user gave (others stay names, compared version by version).  The ratio
    cells and the account's items go through the values of both policies' vocabularies (a
    category only one of them knows is not covered by the other)."""
    params = params or {}
    axes = axes_of(old).union(axes_of(new))
    with vocabulary_names(old.vocab, new.vocab):
        changes = _compare(
            _policy_facts(old, lang),
            _policy_facts(new, lang),
            _policy_facts(old, "en"),
            _policy_facts(new, "en"),
            None,
            None,
            None,
        )
        for kind in ("pooling", "crediting", "account_use"):
            so, sn = old.sections.get(kind), new.sections.get(kind)
            vo = so.versions if so else ()
            vn = sn.versions if sn else ()
            changes += _section_changes(old, new, kind, vo, vn, lang, params, axes)
        return _merge_relations(changes, lang, axes)


def _section_changes(
    old: ir.Policy,
    new: ir.Policy,
    kind: str,
    vo: Sequence[ir.Version],
    vn: Sequence[ir.Version],
    lang: str,
    params: dict[str, Any],
    axes: Axes,
) -> list[Change]:
    d = _SectionDiff(old, new, kind, lang, params, axes)
    points = d.points(vo, vn)
    spans: list[list[Change]] = []
    for i, p in enumerate(points):
        end = points[i + 1] - DAY if i + 1 < len(points) else None
        spans.append(d.changes(_in_force(vo, p, params), _in_force(vn, p, params), p, end))
    merged = _merge_spans(spans, kind)
    # versions on a parameter the user did not give: compared by their dates' names
    undated_o = {(v.start, v.until): v for v in vo if v not in d.dated(vo)}
    undated_n = {(v.start, v.until): v for v in vn if v not in d.dated(vn)}
    for key in dict.fromkeys([*undated_o, *undated_n]):
        merged += d.changes(undated_o.get(key), undated_n.get(key), key[0], key[1], dated=False)
    return merged


class _SectionDiff:
    """How one section's versions differ between two policies, span by span."""

    def __init__(
        self,
        old: ir.Policy,
        new: ir.Policy,
        kind: str,
        lang: str,
        params: dict[str, Any],
        axes: Axes,
    ) -> None:
        self.old, self.new, self.kind = old, new, kind
        self.lang, self.params, self.axes = lang, params, axes

    def dated(self, vs: Sequence[ir.Version]) -> list[ir.Version]:
        """The versions whose dates are known (a date parameter's when it is given)."""
        return [
            v
            for v in vs
            if _literal(v.start, self.params) is not None
            and (v.until is None or _literal(v.until, self.params) is not None)
        ]

    def points(self, vo: Sequence[ir.Version], vn: Sequence[ir.Version]) -> list[dt.date]:
        """The days on which a version of either policy starts or follows one that ends."""
        found: set[dt.date] = set()
        for v in (*self.dated(vo), *self.dated(vn)):
            start, until = _literal(v.start, self.params), _literal(v.until, self.params)
            assert start is not None  # dated: both ends known
            found.add(start)
            if until is not None:
                found.add(until + DAY)
        return sorted(found)

    def changes(
        self,
        a: ir.Version | None,
        b: ir.Version | None,
        start: DateRef | None,
        until: DateRef | None,
        dated: bool = True,
    ) -> list[Change]:
        """What differs between version ``a`` of the old policy and ``b`` of the new one
        from ``start`` to ``until``: one only in force is a change of versions."""
        if a is None and b is None:
            return []
        if a is None or b is None:
            have = a or b
            assert have is not None  # not both: checked above
            words = text(
                "render.version", self.lang, span=span_words(have.start, have.until, self.lang)
            )
            provs = (a.prov if a else None, b.prov if b else None) if dated else (None, None)
            return [
                Change(
                    self.kind,
                    start,
                    until,
                    ("in_force",),
                    text("diff.versions", self.lang),
                    words if a else None,
                    words if b else None,
                    *provs,
                )
            ]
        return _compare(
            _facts(self.old, self.kind, a, self.lang, self.axes),
            _facts(self.new, self.kind, b, self.lang, self.axes),
            _facts(self.old, self.kind, a, "en", self.axes),
            _facts(self.new, self.kind, b, "en", self.axes),
            self.kind,
            start,
            until,
        )


def _merge_spans(spans: list[list[Change]], kind: str) -> list[Change]:
    """The changes of consecutive spans, one change where the same one continues."""
    merged: list[Change] = []
    for span in spans:
        for ch in span:
            last = next(
                (m for m in reversed(merged) if m.key == ch.key and m.section == kind), None
            )
            if (
                last is not None
                and last.until is not None
                and last.until + DAY == ch.start
                and (last.before, last.after) == (ch.before, ch.after)
            ):
                merged[merged.index(last)] = attrs.evolve(last, until=ch.until)
            else:
                merged.append(ch)
    return merged


# ---- parameters: the same value on both sides --------------------------------------------------


def stand_in(t: str, policies: list[ir.Policy]) -> str:
    """The value used for a parameter nobody gave (the same for both policies)."""
    if t == V.DATE:
        starts = [
            v.start
            for p in policies
            for s in p.sections.values()
            for v in s.versions
            if isinstance(v.start, dt.date)
        ]
        return min(starts).isoformat() if starts else "2023-01-01"
    scalar = {
        V.MONEY: "1000.00",
        V.PERCENT: "50%",
        V.POINTS: "0 points",
        V.NUMBER: "0",
        V.BOOL: "false",
        V.TEXT: "x",
    }
    if t in scalar:
        return scalar[t]
    known = [p.vocab.enums[t].values for p in policies if t in p.vocab.enums]  # an enumeration
    both = [x for x in known[0] if all(x in k for k in known)] if known else []
    return both[0] if both else "x"


@attrs.frozen
class Param:
    name: str
    value: str
    assumed: bool


def choose_params(
    old: CompiledPolicy, new: CompiledPolicy, given: dict[str, str], with_balance: bool
) -> list[Param]:
    """Every parameter either policy's settlement reads: the user's value, or a stand-in."""
    wanted: list[str] = []
    for c in (old, new):
        wanted += demands(c.ir.programs["settle"]).params
        if with_balance:
            wanted += demands(c.ir.programs["may_pay"]).params
    out = []
    for name in dict.fromkeys([*given, *wanted]):
        if name in given:
            out.append(Param(name, given[name], False))
        else:
            t = old.ir.params.get(name) or new.ir.params[name]
            out.append(Param(name, stand_in(t, [old.ir, new.ir]), True))
    return out


class UnknownParam(Exception):
    pass


def _typed(compiled: CompiledPolicy, params: list[Param]) -> dict[str, Any]:
    from .inputs import validate_params

    mine = {p.name: p.value for p in params if p.name in compiled.ir.params}
    return validate_params(mine, compiled.ir)


# ---- candidate visits ------------------------------------------------------------------------


def _walk(c: ir.Cond, fields: dict[str, str], thresholds: dict[str, set]) -> None:
    if isinstance(c, ir.Cmp):
        for side, other in ((c.left, c.right), (c.right, c.left)):
            if isinstance(side, ir.Field):
                fields[side.name] = side.type
                if isinstance(other, ir.Const) and side.type in (V.MONEY, V.NUMBER, V.DATE):
                    thresholds.setdefault(side.name, set()).add(other.value)
    elif isinstance(c, ir.InSet) and isinstance(c.operand, ir.Field):
        fields[c.operand.name] = c.operand.type
    elif isinstance(c, (ir.AllOf, ir.AnyOf)):
        for x in c.items:
            _walk(x, fields, thresholds)
    elif isinstance(c, ir.Negate):
        _walk(c.item, fields, thresholds)


def _pooling_conds(r: ir.PoolingRules) -> list[ir.Cond]:
    out: list[ir.Cond] = []
    for v in [r.ratio, *(a.amount for a in r.deductibles + r.caps)]:
        if isinstance(v, ir.Decide):
            out.extend(a.when for a in v.arms)
    out += [a.when for a in r.adjustments] + [a.when for a in r.deductibles + r.caps]
    return out


def _date_points(policies: list[ir.Policy], params: list[dict]) -> list[dt.date]:
    out: set[dt.date] = set()
    for p, typed in zip(policies, params, strict=True):
        for kind in ("pooling", "account_use"):
            section = p.sections.get(kind)
            for v in section.versions if section else ():
                until = _literal(v.until, typed)
                for b in (_literal(v.start, typed), until + DAY if until is not None else None):
                    if b is not None:
                        out.update({b - DAY, b, b + DAY})
    return sorted(out)


def _profiles(policies: list[ir.Policy]) -> list[dict]:
    """Every hospital level and person category, designated or not where a policy asks,
    and the values of the inputs and fields the pooling conditions read: the values every
    policy's vocabulary knows (a visit is settled under each)."""
    fields, thresholds = _condition_fields(policies)
    choices: dict[str, list] = {}
    for name, t in sorted(fields.items()):
        if name in ("hosp_lv", "psn_type", "flxempe_flag", "setl_time") or (
            name in V.VISIT_FIELDS and V.VISIT_FIELDS[name] == V.MONEY
        ):
            continue  # the profile's own axes, dates and amounts are explored on their own
        values = _choice(name, t, policies, thresholds)
        if values is not None:
            choices[name] = values
    names = list(choices)
    axes = axes_of(policies[0])
    for p in policies[1:]:
        axes = axes.common(axes_of(p))
    out = []
    for lv in axes.levels:
        for cat in axes.categories:
            for combo in itertools.product(*(choices[n] for n in names)):
                out.append(
                    {
                        "hosp_lv": lv,
                        "psn_type": cat[0],
                        "flxempe_flag": cat[1],
                        **dict(zip(names, combo, strict=True)),
                    }
                )
    return out


def _condition_fields(policies: list[ir.Policy]) -> tuple[dict[str, str], dict[str, set]]:
    """The fields the pooling conditions read (with ``designated`` when a policy pays
    designated places only), and the values they are compared with."""
    fields: dict[str, str] = {}
    thresholds: dict[str, set] = {}
    designated = False
    for p in policies:
        section = p.sections.get("pooling")
        for v in section.versions if section else ():
            for c in _pooling_conds(v.rules):
                _walk(c, fields, thresholds)
            designated = designated or v.rules.designated_only is not None
    if designated:
        fields["designated"] = V.BOOL
    return fields, thresholds


def _choice(
    name: str, t: str, policies: list[ir.Policy], thresholds: dict[str, set]
) -> list | None:
    """The values a profile tries for a field: every policy's common enumeration values,
    both bools, or each threshold and its neighbours; None: the field is not varied."""
    if all(t in p.vocab.enums for p in policies):
        return [
            x
            for x in policies[0].vocab.enums[t].values
            if all(x in p.vocab.enums[t].values for p in policies)
        ]
    if t == V.BOOL:
        return [True, False]
    if name in thresholds:
        pts = sorted(thresholds[name])
        return sorted({x for p_ in pts for x in (p_ - 1, p_, p_ + 1)})
    return None


def _ceil_cent(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_CEILING, context=CTX)


def _thresholds(policy: ir.Policy, profile: dict, day: dt.date, params: dict) -> tuple[set, set]:
    """Bills at which this policy's deductibles are used up and its caps reached, for
    the profile on that day: (deductible points, cap points)."""
    section = policy.sections.get("pooling")
    v = _in_force(section.versions, day, params) if section else None
    if v is None:
        return set(), set()
    r = v.rules
    assert isinstance(r, ir.PoolingRules)
    env = {
        **{k: val for k, val in profile.items()},
        "setl_time": day,
        "designated": profile.get("designated", True),
        "medfee_sumamt": Decimal(0),
        "inscp_scp_amt": Decimal(0),
    }
    deductibles, total = set(), Decimal(0)
    for acc in r.deductibles:
        try:
            if not E.cond(acc.when, env, params):
                continue
            amount, _ = E.value(acc.amount, env, params)
        except (MissingValue, NoRow):
            continue
        total = CTX.add(total, amount)
        deductibles.add(amount)
        deductibles.add(total)
    caps = set()
    ratio = _ratio_of(r, env, params)
    for acc in r.caps:
        try:
            amount, _ = E.value(acc.amount, env, params)
        except (MissingValue, NoRow):
            continue
        if ratio and ratio > 0:
            caps.add(_ceil_cent(CTX.add(total, CTX.divide(amount, ratio))))
    caps |= _limit_points(r, env, params)
    return deductibles, caps


def _ratio_of(r: ir.PoolingRules, env: dict, params: dict) -> Decimal | None:
    """The ratio for a profile, after uplifts, reductions and bounds (None: not known)."""
    try:
        if isinstance(r.ratio, ir.Bands):
            ratio = max(r.ratio.values)
        else:
            ratio, _ = E.value(r.ratio, env, params)
        ratio = CTX.add(
            ratio, E.points((a for a in r.adjustments if _holds(a.when, env, params)), params)
        )
        for b in r.bounds:
            ratio = E.bound(ratio, b, env, params)
    except (MissingValue, NoRow):
        return None
    return ratio


def _limit_points(r: ir.PoolingRules, env: dict, params: dict) -> set[Decimal]:
    """Bills at which a cost cap is reached (the costs themselves) and a deductible's
    total_at_most (that much in-policy cost)."""
    out = set()
    for top in [*r.cost_caps, *(a.ceiling for a in r.deductibles if a.ceiling is not None)]:
        try:
            out.add(E.value(top.amount, env, params)[0])
        except (MissingValue, NoRow):
            continue
    return out


def _holds(cond: ir.Cond, env: dict[str, Any], params: dict[str, Any]) -> bool:
    try:
        return E.cond(cond, env, params)
    except MissingValue:
        return False


@attrs.frozen
class Candidate:
    visits: tuple[dict, ...]


def candidates(
    old: CompiledPolicy, new: CompiledPolicy, typed_old: dict, typed_new: dict
) -> list[Candidate]:
    policies = [old.ir, new.ir]
    days = _date_points(policies, [typed_old, typed_new])
    if not days:
        return []
    sides = ((old.ir, typed_old), (new.ir, typed_new))
    money_points = _money_points(policies)
    segment = {day: tuple(_version_key(p, day, typed) for p, typed in sides) for day in days}
    out: list[Candidate] = []
    for prof in _profiles(policies):
        per_day: dict[dt.date, tuple[list[Decimal], list[Decimal]]] = {}
        for day in days:
            per_day[day] = _day_thresholds(sides, prof, day)
            out += [
                Candidate((_visit(prof, day, a),))
                for a in _single_amounts(*per_day[day], money_points)
            ]
        out += _pairs(prof, days, segment, per_day)
        if len(out) > MAX_SEQUENCES:
            break
    return out


def _money_points(policies: list[ir.Policy]) -> set[Decimal]:
    """The amounts the pooling conditions compare money fields with."""
    money_points: set[Decimal] = set()
    for p in policies:
        section = p.sections.get("pooling")
        for v in section.versions if section else ():
            th: dict = {}
            for c in _pooling_conds(v.rules):
                _walk(c, {}, th)
            for name, pts in th.items():
                if V.VISIT_FIELDS.get(name) == V.MONEY:
                    money_points |= {x for x in pts}
    return money_points


def _day_thresholds(
    sides: tuple[tuple[ir.Policy, dict], ...], prof: dict, day: dt.date
) -> tuple[list[Decimal], list[Decimal]]:
    """The deductible and cap points of either policy for the profile on that day."""
    ded: set[Decimal] = set()
    cap: set[Decimal] = set()
    for pol, typed in sides:
        more_ded, more_cap = _thresholds(pol, prof, day, typed)
        ded |= more_ded
        cap |= more_cap
    return sorted(ded), sorted(cap)


def _single_amounts(
    ded: list[Decimal], cap: list[Decimal], money_points: set[Decimal]
) -> list[Decimal]:
    """The bills a single visit tries: around each threshold, and beyond the caps."""
    amounts = {Decimal("0.00"), Decimal("100.00")}
    for x in {*ded, *cap, *money_points}:
        amounts |= {x - CENT, x, x + CENT}
    if cap:
        amounts.add(_ceil_cent(max(cap) * 2))
    return sorted(a for a in amounts if a >= 0)


def _pairs(
    prof: dict,
    days: list[dt.date],
    segment: dict[dt.date, tuple],
    per_day: dict[dt.date, tuple[list[Decimal], list[Decimal]]],
) -> list[Candidate]:
    """Pairs in one year: the first visit uses up a deductible or reaches a cap, on the same
    day or under other versions than the second (what carries across them)."""
    out = []
    for d1, d2 in itertools.combinations_with_replacement(days, 2):
        if d1.year != d2.year or (d1 != d2 and segment[d1] == segment[d2]):
            continue
        ded_1, cap_1 = per_day[d1]
        firsts = sorted(set(ded_1) | set(cap_1))
        seconds = sorted(
            {
                Decimal("100.00"),
                *(x + CENT for x in per_day[d2][0][-1:]),
                *(_ceil_cent(x * 2) for x in per_day[d2][1][-1:]),
            }
        )
        for a1 in firsts:
            for a2 in seconds:
                out.append(Candidate((_visit(prof, d1, a1), _visit(prof, d2, a2))))
    return out


def _version_key(p: ir.Policy, day: dt.date, typed: dict) -> tuple:
    versions = []
    for kind in ("pooling", "account_use"):
        s = p.sections.get(kind)
        v = _in_force(s.versions, day, typed) if s else None
        versions.append(None if v is None else (str(v.start), str(v.until)))
    return tuple(versions)


def _visit(profile: dict, day: dt.date, amount: Decimal) -> dict:
    v = {
        "psn_type": profile["psn_type"],
        "flxempe_flag": profile["flxempe_flag"],
        "setl_time": day.isoformat(),
        "hosp_lv": profile["hosp_lv"],
        "medfee_sumamt": format(amount.quantize(CENT, context=CTX), "f"),
    }
    for k, val in profile.items():
        if k not in v:
            v[k] = format(val, "f") if isinstance(val, Decimal) else val
    return v


# ---- settling both sides ----------------------------------------------------------------------


@attrs.frozen
class VisitDiff:
    visit: dict
    earlier: tuple[dict, ...]
    before: dict
    after: dict
    # the (hosp_lv, flxempe_flag) of every visit that settles the same way (the visit's own first)
    same_for: tuple[tuple[str, bool], ...] = ()

    @property
    def fund_difference(self) -> Decimal:
        # every fund's payments: the pooling fund's alone when the policy declares no other
        return Decimal(self.after["fund_pay_sumamt"]) - Decimal(self.before["fund_pay_sumamt"])


def _known_fields(compiled: CompiledPolicy) -> set[str]:
    return set(V.VISIT_FIELDS) | set(compiled.ir.inputs)


def settle_both(
    old: CompiledPolicy,
    new: CompiledPolicy,
    cands: list[Candidate],
    text_old: dict,
    text_new: dict,
    with_balance: bool,
    lang: str = "en",
) -> list[VisitDiff]:
    """Settle every candidate under both policies (one person each, one batch per
    policy) and keep those whose settlement differs, at their first differing visit.
    ``text_old``, ``text_new``: the parameters as given (settle types them: a typed
    percentage or points would be read again as written)."""
    rows_old, rows_new, where = [], [], []
    keep_old, keep_new = _known_fields(old), _known_fields(new)
    for n, cand in enumerate(cands):
        for i, v in enumerate(cand.visits):
            v = {"psn_no": f"D{n}", **v}
            if with_balance and i == 0:
                v["acct_balc"] = BALANCE
            rows_old.append({k: x for k, x in v.items() if k in keep_old})
            rows_new.append({k: x for k, x in v.items() if k in keep_new})
            where.append((n, i))
    before = old.settle(rows_old, text_old, trace=False)
    after = new.settle(rows_new, text_new, trace=False)
    out: list[VisitDiff] = []
    seen: set[int] = set()
    for (n, i), b, a in zip(where, before, after, strict=True):
        if n in seen:
            continue
        if any(getattr(b, f) != getattr(a, f) for f in COMPARED):
            seen.add(n)
            visit = _plain(cands[n].visits[i], with_balance and i == 0)
            earlier = tuple(_plain(cands[n].visits[j], with_balance and j == 0) for j in range(i))
            out.append(
                VisitDiff(
                    visit,
                    earlier,
                    _shown_result(b.to_json(trace=False, lang=lang)),
                    _shown_result(a.to_json(trace=False, lang=lang)),
                )
            )
    return out


def _plain(v: dict, balance: bool) -> dict:
    return {**v, "acct_balc": BALANCE} if balance else dict(v)


def _shown_result(j: dict) -> dict:
    return {
        k: j[k]
        for k in (
            "setl_time",
            "medfee_sumamt",
            "inscp_scp_amt",
            "act_pay_dedc",
            "pool_prop_selfpay",
            "hifp_pay",
            *(f for f in V.FURTHER_FUND_FIELDS if f in j),  # the funds the policy declares
            "fund_pay_sumamt",
            "psn_part_amt",
            "acct_pay",
            "psn_cash_pay",
            "reason",
            "message",
        )
    }


def _group_key(
    d: VisitDiff, old: ir.Policy, new: ir.Policy, typed_old: dict, typed_new: dict
) -> tuple:
    """Visits that tell the same story: the same versions in force, the same kind of
    person and visit, the same reasons before and after."""
    day = dt.date.fromisoformat(d.visit["setl_time"][:10])

    def version(p: ir.Policy, typed: dict) -> tuple[str, str] | None:
        s = p.sections.get("pooling")
        v = _in_force(s.versions, day, typed) if s else None
        return None if v is None else (str(v.start), str(v.until))

    profile = tuple(
        sorted(
            (k, str(x))
            for k, x in d.visit.items()
            if k not in ("setl_time", "medfee_sumamt", "acct_balc")
        )
    )
    return (
        version(old, typed_old),
        version(new, typed_new),
        profile,
        d.before["reason"],
        d.after["reason"],
    )


def _rank(d: VisitDiff) -> tuple:
    # one visit before two; the largest change of the fund; the smallest bill; the earliest date
    return (
        len(d.earlier),
        -abs(d.fund_difference),
        Decimal(d.visit["medfee_sumamt"]),
        d.visit["setl_time"],
    )


def pick(
    diffs: list[VisitDiff],
    old: ir.Policy,
    new: ir.Policy,
    typed_old: dict,
    typed_new: dict,
) -> list[VisitDiff]:
    """One visit per story (``_group_key``), then visits that differ only in hospital
    level or the flexible flag, with the same amounts before and after, shown once."""
    best: dict[tuple, VisitDiff] = {}
    for d in diffs:
        key = _group_key(d, old, new, typed_old, typed_new)
        if key not in best or _rank(d) < _rank(best[key]):
            best[key] = d
    return fold(sorted(best.values(), key=_order_in(axes_of(old).union(axes_of(new)))))


def fold(diffs: list[VisitDiff]) -> list[VisitDiff]:
    folded: dict[tuple, VisitDiff] = {}
    for d in diffs:
        key = (
            tuple(
                sorted(
                    (k, str(x))
                    for k, x in d.visit.items()
                    if k not in ("hosp_lv", "flxempe_flag", "acct_balc")
                )
            ),
            tuple(
                tuple(
                    sorted(
                        (k, str(x)) for k, x in e.items() if k not in ("hosp_lv", "flxempe_flag")
                    )
                )
                for e in d.earlier
            ),
            tuple(sorted((k, str(x)) for k, x in d.before.items() if k != "message")),
            tuple(sorted((k, str(x)) for k, x in d.after.items() if k != "message")),
        )
        if key in folded:
            first = folded[key]
            folded[key] = attrs.evolve(
                first, same_for=(*first.same_for, (d.visit["hosp_lv"], d.visit["flxempe_flag"]))
            )
        else:
            folded[key] = attrs.evolve(d, same_for=((d.visit["hosp_lv"], d.visit["flxempe_flag"]),))
    return list(folded.values())


def _order_in(axes: Axes) -> Callable[[VisitDiff], tuple]:
    """The order visits are shown in: by date, then level and category as the vocabularies
    list them."""
    levels, categories = list(axes.levels), list(axes.categories)

    def key(d: VisitDiff) -> tuple:
        return (
            d.visit["setl_time"],
            len(d.earlier),
            levels.index(d.visit["hosp_lv"]),
            categories.index((d.visit["psn_type"], d.visit["flxempe_flag"])),
            sorted((k, str(v)) for k, v in d.visit.items()),
            Decimal(d.visit["medfee_sumamt"]),
        )

    return key


# ---- the whole comparison
# -------------------------------------------------------------------------


@attrs.frozen
class Report:
    old_path: str
    new_path: str
    params: tuple[Param, ...]
    values: tuple[Change, ...]
    visits: tuple[VisitDiff, ...]  # shown
    differing: int  # all differing sequences
    tried_sequences: int
    tried_visits: int
    # the levels and categories of both policies' vocabularies, and the vocabularies (whose
    # names the report shows in Chinese)
    axes: Axes = attrs.field(factory=Axes.of, repr=False, eq=False)
    vocabularies: tuple = attrs.field(default=(), repr=False, eq=False)

    @property
    def identical(self) -> bool:
        return self.differing == 0


def compare(
    old: CompiledPolicy,
    new: CompiledPolicy,
    old_path: str,
    new_path: str,
    given: dict[str, str],
    lang: str = "en",
    every: bool = False,
) -> Report:
    """``old``, ``new``: compiled policies (``policylang.load``); ``given``: --param values."""
    unknown = [n for n in given if n not in old.ir.params and n not in new.ir.params]
    if unknown:
        raise UnknownParam(", ".join(unknown))
    with_balance = any("account_use" in c.ir.sections for c in (old, new))
    params = choose_params(old, new, given, with_balance)
    typed_old, typed_new = _typed(old, params), _typed(new, params)
    given_dates = {
        k: v for k, v in {**typed_old, **typed_new}.items() if isinstance(v, dt.date) and k in given
    }
    values = value_changes(old.ir, new.ir, lang, given_dates)
    cands = candidates(old, new, typed_old, typed_new)
    text_old, text_new = (
        {p.name: p.value for p in params if p.name in c.ir.params} for c in (old, new)
    )
    diffs = settle_both(old, new, cands, text_old, text_new, with_balance, lang) if cands else []
    axes = axes_of(old.ir).union(axes_of(new.ir))
    shown_ = (
        sorted(diffs, key=_order_in(axes))
        if every
        else pick(diffs, old.ir, new.ir, typed_old, typed_new)
    )
    used = [
        p
        for p in params
        if p.name in given
        or any(
            p.name in demands(c.ir.programs["settle"]).params
            or (with_balance and p.name in demands(c.ir.programs["may_pay"]).params)
            for c in (old, new)
        )
    ]
    return Report(
        old_path,
        new_path,
        tuple(used),
        tuple(values),
        tuple(shown_),
        len(diffs),
        len(cands),
        sum(len(c.visits) for c in cands),
        axes,
        (old.ir.vocab, new.ir.vocab),
    )


# ---- output
# ---------------------------------------------------------------------------------------


def _when(ch: Change, lang: str) -> str:
    if ch.start is None:
        return text("diff.always", lang)
    if ch.until is None:
        return text("render.from", lang, start=_date_text(ch.start, lang))
    return text(
        "render.from_until",
        lang,
        start=_date_text(ch.start, lang),
        until=_date_text(ch.until, lang),
    )


def _date_text(d, lang):
    return d.isoformat() if isinstance(d, dt.date) else text("word.param", lang, name=d)


def _with_clause(value: str | None, prov: ir.Prov | None, lang: str) -> str:
    if value is None:
        return text("diff.absent", lang)
    if prov is not None and prov.clause:
        return f"{value} [{prov.clause}]"
    return value


def _sign(d: Decimal) -> str:
    from .runtime import money

    return ("+" if d > 0 else "") + (money(d) or "")


def _levels(d: VisitDiff, lang: str, axes: Axes) -> str:
    levels = [lv for lv in axes.levels if any(x == lv for x, _ in d.same_for)] or [
        d.visit["hosp_lv"]
    ]
    return shown_all(levels, lang, axes.levels)


def _person(d: VisitDiff, lang: str) -> str:
    v = d.visit
    flags = {f for _, f in d.same_for} or {v["flxempe_flag"]}
    if flags == {True, False}:
        words = text(
            "diff.either_flexible", lang, person=category_name((v["psn_type"], False), lang)
        )
    else:
        words = category_name((v["psn_type"], v["flxempe_flag"]), lang)
    extra = []
    for k, x in v.items():
        if k in ("psn_type", "flxempe_flag", "setl_time", "hosp_lv", "medfee_sumamt", "acct_balc"):
            continue
        if k == "designated":
            if x is False:
                extra.append(text("diff.not_designated", lang))
            continue
        extra.append(f"{field_name(k, lang)}={shown(x, lang) if isinstance(x, (bool, str)) else x}")
    return words + (f" ({', '.join(extra)})" if extra else "")


def to_text(report: Report, lang: str = "en") -> str:
    with vocabulary_names(*report.vocabularies):
        return _to_text(report, lang)


def _to_text(report: Report, lang: str) -> str:
    from .tables import text_table

    out = [f"--- {report.old_path}", f"+++ {report.new_path}", ""]
    for p in report.params:
        key = "diff.param_assumed" if p.assumed else "diff.param_given"
        out.append(text(key, lang, name=p.name, value=p.value))
    if report.params:
        out.append("")
    out.append(text("diff.values", lang))
    if report.values:
        rows = []
        for ch in report.values:
            section = (
                text(f"section.{ch.section}", lang) if ch.section else text("diff.metadata", lang)
            )
            rows.append(
                [
                    _when(ch, lang),
                    f"{section}{':' if lang == 'zh' else ': '}{ch.label}",
                    _with_clause(ch.before, ch.before_prov, lang),
                    _with_clause(ch.after, ch.after_prov, lang),
                ]
            )
        out.append(
            _indent(
                text_table(
                    [
                        text("diff.when", lang),
                        text("diff.what", lang),
                        text("diff.before", lang),
                        text("diff.after", lang),
                    ],
                    rows,
                )
            )
        )
    else:
        out.append("  " + text("diff.no_values", lang))
    out += ["", text("diff.visits", lang)]
    if not report.visits:
        out.append(
            "  "
            + text(
                "diff.no_visits", lang, count=report.tried_visits, sequences=report.tried_sequences
            )
        )
        return "\n".join(out) + "\n"
    rows = []
    for d in report.visits:
        earlier = "; ".join(f"{e['setl_time']} {e['medfee_sumamt']}" for e in d.earlier)
        also = []
        if d.before["reason"] != d.after["reason"]:
            from .messages import reason

            also.append(f"{reason(d.before['reason'], lang)} → {reason(d.after['reason'], lang)}")
        fields = ["act_pay_dedc", "pool_prop_selfpay"] + (
            ["acct_pay"] if not d.fund_difference else []
        )
        also += [
            f"{text('col.' + f, lang)}: {_fmt(d.before[f], f)} → {_fmt(d.after[f], f)}"
            for f in fields
            if d.before[f] != d.after[f]
        ]
        rows.append(
            [
                d.visit["setl_time"],
                _levels(d, lang, report.axes),
                _person(d, lang),
                d.visit["medfee_sumamt"],
                earlier,
                d.before["fund_pay_sumamt"],
                d.after["fund_pay_sumamt"],
                _sign(d.fund_difference),
                "; ".join(also),
            ]
        )
    header = [
        text("diff.visit", lang),
        text("diff.level", lang),
        text("diff.profile", lang),
        text("diff.bill", lang),
        text("diff.earlier_col", lang),
        text("diff.fund_before", lang),
        text("diff.fund_after", lang),
        text("diff.fund_difference", lang),
        text("diff.other_fields", lang),
    ]
    keep = [i for i in range(len(header)) if i not in (4, 8) or any(r[i] for r in rows)]
    out.append(
        _indent(
            text_table(
                [header[i] for i in keep],
                [[r[i] for i in keep] for r in rows],
                {keep.index(i) for i in (3, 5, 6, 7)},
            )
        )
    )
    key = "diff.visits_all" if len(report.visits) == report.differing else "diff.visits_found"
    out.append(
        "  "
        + text(
            key,
            lang,
            shown=len(report.visits),
            found=report.differing,
            count=report.tried_visits,
            sequences=report.tried_sequences,
        )
    )
    return "\n".join(out) + "\n"


def _fmt(value: object, field: str) -> str:
    if value is None:
        return "—"
    if field == "pool_prop_selfpay":
        return _pct(Decimal(str(value)))
    return str(value)


def _indent(block: str) -> str:
    return "\n".join("  " + line if line else line for line in block.split("\n"))


def to_json(report: Report, lang: str = "en") -> dict:
    return {
        "old": report.old_path,
        "new": report.new_path,
        "params": [{"name": p.name, "value": p.value, "assumed": p.assumed} for p in report.params],
        "values": [ch.to_json(lang) for ch in report.values],
        "visits": [
            {
                "visit": d.visit,
                "earlier": list(d.earlier),
                "same_for": [{"hosp_lv": lv, "flxempe_flag": f} for lv, f in d.same_for],
                "before": d.before,
                "after": d.after,
                "fund_difference": _sign(d.fund_difference),
            }
            for d in report.visits
        ],
        "differing": report.differing,
        "explored": {"sequences": report.tried_sequences, "visits": report.tried_visits},
    }
