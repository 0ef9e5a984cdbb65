"""Analysis: checks that evaluate the compiled policy over its whole input domain.

Decision tables and conditions range over finite enumerations (hospital level,
person type, flags) and numeric thresholds, so the domain that matters is small:
every combination of the enumerated fields a section reads, and for each numeric
field the values on either side of each threshold it is compared with.  Over
that domain we prove that every input gets exactly one ratio, that ratios stay
within 0..100% after every uplift, that credit rules do not overlap, and that a
city policy meets every requirement of the policies it implements.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from decimal import Decimal
from typing import Any, Callable

import attrs

from . import ir
from . import vocab as V
from .diagnostics import Diagnostic, Related
from .nodes import Span
from .ir import evaluate as E
from .ir.evaluate import MissingValue, NoRow
from .ir.index import TableIndex
from .runtime import percent
from .vocabulary import Vocabulary

Env = dict[str, Any]  # a profile's fields and, under ``$params``, the parameters
Profile = dict[str, Any]

MAX_PROFILES = 20000
BASE_FIELDS = {
    "pooling": ("hosp_lv", "psn_type", "flxempe_flag"),
    "crediting": ("psn_type", "flxempe_flag", "contribution_years_met"),
    "account_use": (),
}


# ---- the input domain -------------------------------------------------------------


def _walk_cond(c: ir.Cond, out_fields: dict[str, str], thresholds: dict[str, set]) -> None:
    if isinstance(c, ir.Cmp):
        for side, other in ((c.left, c.right), (c.right, c.left)):
            if isinstance(side, ir.Field):
                out_fields[side.name] = side.type
                if isinstance(other, ir.Const) and side.type in (V.MONEY, V.NUMBER, V.DATE):
                    thresholds.setdefault(side.name, set()).add(other.value)
    elif isinstance(c, ir.InSet):
        if isinstance(c.operand, ir.Field):
            out_fields[c.operand.name] = c.operand.type
    elif isinstance(c, (ir.AllOf, ir.AnyOf)):
        for x in c.items:
            _walk_cond(x, out_fields, thresholds)
    elif isinstance(c, ir.Negate):
        _walk_cond(c.item, out_fields, thresholds)


TABLE_NAMES = {
    "deductible": ("the deductible table", "起付标准表"),
    "cap": ("the cap table", "最高支付限额表"),
    "cost_cap": ("the cost cap table", "政策范围内费用限额表"),
}


def _conds_of(rules: ir.Rules) -> list[ir.Cond]:
    out: list[ir.Cond] = []
    if isinstance(rules, ir.PoolingRules):
        limits = rules.deductibles + rules.caps + rules.cost_caps
        for v in [rules.ratio, *(a.amount for a in limits)]:
            if isinstance(v, ir.Decide):
                out.extend(a.when for a in v.arms)
        out.extend(a.when for a in rules.adjustments)
        out.extend(a.when for a in limits)
        for fund in rules.funds:  # what a further fund's statements read counts too
            out.extend(_conds_of(rules.as_fund(fund)))
    elif isinstance(rules, ir.CreditingRules):
        out.extend(r.when for r in rules.rules)
    return out


def _values_for(t: str, points: set | None, vocab: Vocabulary) -> list:
    """Representative values: every enumeration value (those the policy's vocabulary adds
    included); for numbers and dates, each threshold, one step beyond the outermost ones,
    and a value between neighbours."""
    if t in vocab.enums:
        return list(vocab.values(t))
    if t == V.BOOL:
        return [False, True]
    if not points:
        return [None]
    ordered = sorted(points)
    vals = set(ordered)
    if t == V.DATE:
        day = dt.timedelta(days=1)
        if ordered[0] > dt.date.min:
            vals.add(ordered[0] - day)
        if ordered[-1] < dt.date.max:
            vals.add(ordered[-1] + day)
        vals.update(a + (b - a) / 2 for a, b in itertools.pairwise(ordered) if (b - a).days > 1)
    else:
        vals.update({ordered[0] - 1, ordered[-1] + 1})
        vals.update((a + b) / 2 for a, b in itertools.pairwise(ordered))
    return sorted(vals)


def domain(
    kind: str, extra_conds: list[ir.Cond], policy: ir.Policy, rules: ir.Rules | None = None
) -> tuple[list[Profile], bool]:
    """The profiles to evaluate, and whether the domain had to be cut short."""
    fields: dict[str, str] = {}
    thresholds: dict[str, set] = {}
    ctx = {**V.CONTEXT_FIELDS[kind], **{k: t for k, (t, _) in policy.inputs.items()}}
    for f in BASE_FIELDS[kind]:
        fields[f] = ctx[f]
    for c in (_conds_of(rules) if rules is not None else []) + extra_conds:
        _walk_cond(c, fields, thresholds)
    base = BASE_FIELDS[kind]
    names = sorted(fields, key=lambda f: (base.index(f) if f in base else len(base), f))
    choices = [_values_for(fields[f], thresholds.get(f), policy.vocab) for f in names]
    out: list[Profile] = []
    for combo in itertools.product(*choices):
        out.append(dict(zip(names, combo, strict=True)))
        if len(out) >= MAX_PROFILES:
            return out, True
    return out, False


def fields_of(conds: list[ir.Cond]) -> set[str]:
    found: dict[str, str] = {}
    for c in conds:
        _walk_cond(c, found, {})
    return set(found)


def describe(
    profile: dict, only: set[str] | None = None, lang: str = "en", names_zh: dict | None = None
) -> str:
    """``hosp_lv=level3, psn_type=active`` — only the fields that matter, when known."""
    names_zh = V.ZH_OF_VALUE if names_zh is None else names_zh

    def show(v: object) -> str:
        if isinstance(v, bool):
            return ("是" if v else "否") if lang == "zh" else ("true" if v else "false")
        if lang == "zh" and isinstance(v, str):
            return names_zh.get(v, v)
        return str(v)

    items = [(k, v) for k, v in profile.items() if v is not None and (only is None or k in only)]
    if not items:
        return "every input" if lang == "en" else "任何输入"
    return ("," if lang == "zh" else ", ").join(f"{k}={show(v)}" for k, v in items)


# ---- the pooling rules of one version, read through the IR's semantics ---------------


def compile_cond(c: ir.Cond) -> Callable[[Env], bool]:
    """``env -> bool``: ``env`` holds the profile's fields and, under ``$params``, the
    parameters."""
    return lambda env: E.cond(c, env, env.get("$params", {}))


Valued = Callable[[Env], tuple[Any, "ir.Prov | None"]]  # a value and the row it comes from


def _pooling(version: ir.Version) -> ir.PoolingRules:
    if not isinstance(version.rules, ir.PoolingRules):
        raise TypeError(version.rules)
    return version.rules


def _crediting(version: ir.Version) -> ir.CreditingRules:
    if not isinstance(version.rules, ir.CreditingRules):
        raise TypeError(version.rules)
    return version.rules


def _span(prov: ir.Prov | None) -> Span | None:
    return prov.span if prov is not None else None


class _CompiledPooling:
    def __init__(self, rules: ir.PoolingRules):
        self.rules = rules
        self.bands = rules.ratio if isinstance(rules.ratio, ir.Bands) else None
        self._ratio: Valued | None = None
        self.adjustments = [(compile_cond(a.when), a) for a in rules.adjustments]
        self.deductibles = [
            (self._value(a.amount), compile_cond(a.when), a) for a in rules.deductibles
        ]
        self.caps = [(self._value(a.amount), compile_cond(a.when), a) for a in rules.caps]

    @staticmethod
    def _value(v: ir.Value | ir.Bands) -> Valued:
        if isinstance(v, ir.Bands):  # a banded ratio is read band by band (band_ratios)
            raise TypeError(v)
        index = TableIndex.of(v) if isinstance(v, ir.Decide) else None
        if index is None:
            return lambda env: E.value(v, env, env.get("$params", {}))

        def looked_up(env: Env) -> tuple[Any, ir.Prov | None]:
            arm = index.first(env)
            if arm is None:
                raise NoRow()
            return E.expr(arm.value, env, env.get("$params", {})), arm.prov

        return looked_up

    def ratio(self, env: Env) -> tuple[Any, ir.Prov | None]:
        if self._ratio is None:
            self._ratio = self._value(self.rules.ratio)
        return self._ratio(env)

    def uplift(self, env: Env) -> tuple[Decimal, list[ir.Adjust]]:
        applied = [adj for cond, adj in self.adjustments if cond(env)]
        return E.points(applied, env.get("$params", {})), applied

    def bounded(self, value: Decimal, env: dict[str, Any]) -> Decimal:
        """The ratio after the version's floor and ceiling."""
        for b in self.rules.bounds:
            value = E.bound(value, b, env, env.get("$params", {}))
        return value

    def band_ratios(self, env: Env) -> list[Decimal]:
        """Each band's ratio with the uplifts that apply (banded ratios only)."""
        if self.bands is None:
            raise TypeError(self.rules.ratio)
        points, _ = self.uplift(env)
        return [v + points for v in self.bands.values]


# ---- passes -----------------------------------------------------------------------


class Analyzer:
    def __init__(self, policy: ir.Policy, own_sections: set[str]):
        self.policy = policy
        self.own = own_sections
        self.diags: list[Diagnostic] = []
        self.params: dict[str, Any] = {}
        self._truncated: set[Span | None] = set()

    def describe(self, profile: dict, only: set[str] | None = None, lang: str = "en") -> str:
        return describe(profile, only, lang, self.policy.vocab.names_zh())

    def view_for(self, owner: ir.Policy) -> Callable[[Profile], Profile]:
        """``profile -> profile`` as ``owner`` (an ancestor) reads it: a value of an
        enumeration that ``owner``'s vocabulary does not have is read as the value it
        counts as (``veteran counts_as retiree`` makes a veteran a retiree to a province
        that requires ``ratio[psn_type = retiree] >= ...``)."""
        mine, theirs = self.policy.vocab, owner.vocab
        types = {**V.VISIT_FIELDS, **{k: t for k, (t, _) in self.policy.inputs.items()}}
        mapped: dict[str, dict[str, str]] = {}
        for field, t in types.items():
            enum = mine.enums.get(t)
            if enum is None or not enum.counts_as:
                continue
            known = set(theirs.values(t)) if t in theirs.enums else set()
            table = {v: enum.base(v, known) for v in enum.values if v not in known}
            if any(a != b for a, b in table.items()):
                mapped[field] = table
        if not mapped:
            return lambda prof: prof

        def view(prof: dict) -> dict:
            out = dict(prof)
            for field, table in mapped.items():
                v = out.get(field)
                if v in table:
                    out[field] = table[v]
            return out

        return view

    def run(self) -> list[Diagnostic]:
        for kind in self.own:
            section = self.policy.sections.get(kind)
            if section is None:
                continue
            for version in section.versions:
                if kind == "pooling":
                    self.pooling_version(version)
                elif kind == "crediting":
                    self.crediting_version(version)
        self.requirements()
        return self.diags

    def _env(self, profile: dict) -> dict:
        return {**profile, "$params": self.params}

    def _domain(
        self, kind: str, extra: list[ir.Cond], rules: ir.Rules, span: Span | None
    ) -> list[Profile]:
        profiles, truncated = domain(kind, extra, self.policy, rules)
        if truncated and span not in self._truncated:
            self._truncated.add(span)
            self.diags.append(Diagnostic("C410", span, {"count": MAX_PROFILES}))
        return profiles

    def check_decide(
        self,
        decide: ir.Decide,
        when: ir.Cond,
        prov: ir.Prov,
        profiles: list[Profile],
        what: str,
        what_zh: str,
    ) -> None:
        """Unique hit: every input the statement applies to matches exactly one row."""
        index = TableIndex.of(decide)
        arms = [(compile_cond(a.when), a) for a in decide.arms]
        applies = compile_cond(when)
        relevant = fields_of([a.when for a in decide.arms])
        gap_reported = False
        overlaps: set[tuple[int, int]] = set()
        for prof in profiles:
            env = self._env(prof)
            try:
                if not applies(env):
                    continue
                hits = index.matches(env) if index is not None else [a for f, a in arms if f(env)]
            except (MissingValue, NoRow):
                continue
            if not hits and not gap_reported:
                gap_reported = True
                self.diags.append(
                    Diagnostic(
                        "C401",
                        prov.span,
                        {
                            "what": what,
                            "what_zh": what_zh,
                            "example": describe(prof, relevant),
                            "example_zh": self.describe(prof, relevant, "zh"),
                        },
                    )
                )
            if len(hits) > 1:
                first, second = hits[0], hits[1]
                key = (id(first), id(second))
                if key in overlaps:
                    continue
                overlaps.add(key)
                if first.value == second.value:
                    self.diags.append(
                        Diagnostic(
                            "C405",
                            second.prov.span,
                            {
                                "what": f"the row for {describe(prof, relevant)}",
                                "what_zh": f"{self.describe(prof, relevant, 'zh')} 的行",
                                "first": str(first.prov.span),
                            },
                        )
                    )
                else:
                    self.diags.append(
                        Diagnostic(
                            "C402",
                            second.prov.span,
                            {
                                "what": what,
                                "what_zh": what_zh,
                                "example": describe(prof, relevant),
                                "example_zh": self.describe(prof, relevant, "zh"),
                                "first": _show_row(decide, first),
                                "second": _show_row(decide, second),
                            },
                            (Related(first.prov.span, "the other row", "另一行"),),
                        )
                    )

    def pooling_version(self, version: ir.Version) -> None:
        rules = _pooling(version)
        compiled = _CompiledPooling(rules)
        everyone = self._domain("pooling", [], rules, _span(version.prov))
        # what matters is what the fund pays: visits it does not cover or pay at all are left out
        profiles = [p for p in everyone if _paid(rules, p)]
        if isinstance(rules.ratio, ir.Decide):
            self.check_decide(
                rules.ratio, ir.TRUE, rules.ratio_prov, profiles, "the ratio table", "支付比例表"
            )
        for acc in rules.deductibles + rules.caps + rules.cost_caps:
            if isinstance(acc.amount, ir.Decide):
                what, what_zh = TABLE_NAMES[acc.kind]
                self.check_decide(acc.amount, acc.when, acc.prov, profiles, what, what_zh)
        self.check_uplifts_apply(compiled, everyone, profiles)
        self.check_ratio_ranges(compiled, profiles)
        for fund in rules.funds:  # each further fund's tables and ratios, checked alike
            self.pooling_version(attrs.evolve(version, rules=rules.as_fund(fund)))

    def check_uplifts_apply(
        self, compiled: _CompiledPooling, everyone: list[Profile], paid: list[Profile]
    ) -> None:
        """C406 for an uplift no paid visit gets: none at all, or only visits the fund never
        pays."""
        for cond, adj in compiled.adjustments:
            try:
                if any(cond(self._env(p)) for p in paid):
                    continue
                unpaid_only = any(cond(self._env(p)) for p in everyone)
            except MissingValue:  # depends on a parameter: not analysable
                continue
            if unpaid_only:
                why = (
                    "it holds only for visits the fund does not pay (see covers and "
                    "designated_only)"
                )
                why_zh = "其条件只对统筹基金不支付的就诊成立(见覆盖范围与仅限定点)"
            else:
                why, why_zh = "no input satisfies its condition", "没有任何输入满足其条件"
            self.diags.append(
                Diagnostic(
                    "C406",
                    adj.prov.span,
                    {**_adjustment_words(adj), "why": why, "why_zh": why_zh},
                )
            )

    def check_ratio_ranges(self, compiled: _CompiledPooling, profiles: list[Profile]) -> None:
        """R301: every ratio (each band's, for banded ratios) stays within 0..100% after the
        uplifts; reported once, at the statement that takes it out of range."""
        rules = compiled.rules
        relevant = fields_of(_conds_of(rules))
        for prof in profiles:
            env = self._env(prof)
            try:
                _, applied = compiled.uplift(env)
                bases: list[tuple[Any, ir.Prov | None]]
                if compiled.bands is not None:
                    bases = list(zip(compiled.bands.values, compiled.bands.provs, strict=True))
                else:
                    base, row = compiled.ratio(env)
                    bases = [(base, row or rules.ratio_prov)]
            except (MissingValue, NoRow):
                continue
            try:
                pts = [E.adjust_points(adj, env.get("$params", {})) for adj in applied]
            except MissingValue:
                continue
            for value, culprit in bases:
                if 0 <= value <= 1:
                    culprit = None
                for adj, p in zip(applied, pts, strict=True):
                    value += p
                    if culprit is None and not (0 <= value <= 1):
                        culprit = adj.prov
                if culprit is not None:
                    self.diags.append(
                        Diagnostic(
                            "R301",
                            culprit.span,
                            {
                                "value": percent(value),
                                "context": f" for {describe(prof, relevant)} after uplifts",
                                "context_zh": f"({self.describe(prof, relevant, 'zh')},含上浮)",
                            },
                        )
                    )
                    return

    def crediting_version(self, version: ir.Version) -> None:
        rules = _crediting(version)
        compiled = [(compile_cond(r.when), r) for r in rules.rules]
        profiles = self._domain("crediting", [], rules, _span(version.prov))
        relevant = fields_of([r.when for r in rules.rules])
        seen_pairs: set[tuple[str, str]] = set()
        fired: set[str] = set()
        unevaluable = False
        for prof in profiles:
            env = self._env(prof)
            hits = []
            for f, r in compiled:
                try:
                    if f(env):
                        hits.append(r)
                except (MissingValue, NoRow):
                    unevaluable = True
                    continue
            for r in hits:
                fired.add(r.name)
            if len(hits) > 1 and (hits[0].name, hits[1].name) not in seen_pairs:
                seen_pairs.add((hits[0].name, hits[1].name))
                self.diags.append(
                    Diagnostic(
                        "C409",
                        hits[1].prov.span,
                        {
                            "first": hits[0].name,
                            "second": hits[1].name,
                            "example": describe(prof, relevant),
                            "example_zh": self.describe(prof, relevant, "zh"),
                        },
                        (
                            Related(
                                hits[0].prov.span, f"rule {hits[0].name}", f"规则 {hits[0].name}"
                            ),
                        ),
                    )
                )
        if not unevaluable:
            for _, r in compiled:
                if r.name not in fired:
                    self.diags.append(
                        Diagnostic(
                            "C406",
                            r.prov.span,
                            {
                                "what": f"credit rule {r.name!r}",
                                "what_zh": f"计入规则 {r.name!r}",
                                "why": "no person satisfies its condition",
                                "why_zh": "没有任何人员满足其条件",
                            },
                        )
                    )

    # ---- requirements of the policies this one implements
    def requirements(self) -> None:
        section = self.policy.sections.get("pooling")
        if section is None or "pooling" not in self.own:
            return
        ancestor = self.policy.parent
        while ancestor is not None:
            for req in ancestor.requirements:
                if any(
                    isinstance(s, ir.Measure) and s.quantity == "start"
                    for s in (req.left, req.right)
                ):
                    self.check_start(ancestor, req, section)
                    continue
                for version in section.versions:
                    self.check_requirement(ancestor, req, version)
            ancestor = ancestor.parent

    def check_start(self, owner: ir.Policy, req: ir.Requirement, section: ir.Section) -> None:
        """``start``: the first day this policy's pooling is in force (literal dates only)."""
        dated = [v for v in section.versions if isinstance(v.start, dt.date)]
        if not dated:
            return
        first = min(dated, key=lambda v: v.start)
        sides = [first.start if isinstance(s, ir.Measure) else s for s in (req.left, req.right)]
        if not _OPS[req.op](sides[0], sides[1]):
            clause = req.prov.clause or ""
            self.diags.append(
                Diagnostic(
                    "H501",
                    _span(first.prov),
                    {
                        "detail": f"pooling starts on {first.start}",
                        "detail_zh": f"普通门诊统筹自 {first.start} 起实施",
                        "policy": owner.id,
                        "name": req.name,
                        "requirement": req.text,
                        "clause": clause,
                        "quote": f'"{req.prov.quote}"' if req.prov.quote else req.text,
                    },
                    (
                        Related(
                            req.prov.span,
                            f"{owner.id} requires {req.text}" + (f" ({clause})" if clause else ""),
                            f"{owner.id} 要求 {req.text}" + (f"({clause})" if clause else ""),
                        ),
                    ),
                )
            )

    def _measure(self, compiled: _CompiledPooling, quantity: str, env: Env) -> tuple[Any, Any]:
        """The value of ``quantity`` for ``env`` and the rule it comes from (None, None: the
        quantity does not apply); a banded ratio: the ratio and the rule of each band.  A
        further fund's quantity is measured on that fund's own statements."""
        if quantity in V.FUND_MEASURES:
            fund, quantity = V.FUND_MEASURES[quantity]
            rules = compiled.rules
            declared = next((f for f in rules.funds if f.name == fund), None)
            if declared is None:  # the city declares no such fund: nothing to hold
                return None, None
            compiled = _CompiledPooling(rules.as_fund(declared))
        return self._pooling_measure(compiled, quantity, env)

    def _pooling_measure(
        self, compiled: _CompiledPooling, quantity: str, env: Env
    ) -> tuple[Any, Any]:
        if quantity == "covered":
            r = compiled.rules
            covered = r.covered(env["psn_type"], env.get("flxempe_flag"))
            return covered, r.covers_prov
        if quantity == "ratio" and compiled.bands is not None:
            return compiled.band_ratios(env), compiled.bands.provs
        if (
            quantity == "ratio"
        ):  # the ratio after uplifts, blamed on the last uplift that applies, else the row
            base, row = compiled.ratio(env)
            points, applied = compiled.uplift(env)
            value = base + points
            bounded = compiled.bounded(value, env)
            if bounded != value:  # a floor or a ceiling decided it
                params = env.get("$params", {})
                bound = next(
                    b for b in compiled.rules.bounds if E.bound(value, b, env, params) != value
                )
                return bounded, bound.prov
            return value, (applied[-1].prov if applied else row or compiled.rules.ratio_prov)
        accs = compiled.deductibles if quantity == "deductible" else compiled.caps
        for amount_fn, cond, acc in accs:
            if cond(env):
                value, row = amount_fn(env)
                return value, row or acc.prov
        return None, None

    def check_requirement(self, owner: ir.Policy, req: ir.Requirement, version: ir.Version) -> None:
        rules = _pooling(version)
        sides = [s for s in (req.left, req.right) if isinstance(s, ir.Measure)]
        varied: dict[str, str] = {}
        for s in sides:
            _walk_cond(s.where, varied, {})
        profiles = self._domain("pooling", [s.where for s in sides], rules, _span(version.prov))
        if not any(s.quantity == "covered" for s in sides):
            profiles = [p for p in profiles if _paid(rules, p)]
        measure = _Sides(self, _CompiledPooling(rules), req, owner)
        op = _OPS[req.op]

        def unvaried(p: Profile) -> tuple:
            return tuple((k, v) for k, v in p.items() if k not in varied)

        groups: dict[tuple, list[Profile]] = {}
        for p in profiles:  # inputs that agree on every field the requirement does not vary
            groups.setdefault(unvaried(p), []).append(p)
        for prof in profiles:
            lv, lprov = measure.value(0, prof)
            if lv is None:
                continue
            partners = groups[unvaried(prof)] if isinstance(req.right, ir.Measure) else [prof]
            for other in partners:
                rv, rprov = measure.value(1, other)
                if rv is None:
                    continue
                failed = _failure(op, _pairs(lv, lprov), _pairs(rv, rprov))
                if failed is not None:
                    (a, ap), (b, bp) = failed
                    self.report(owner, req, version, prof, a, ap, other, b, bp)
                    return

    def report(
        self,
        owner: ir.Policy,
        req: ir.Requirement,
        version: ir.Version,
        lprof: Profile,
        lv: Any,
        lprov: ir.Prov | None,
        rprof: Profile,
        rv: Any,
        rprov: ir.Prov | None,
    ) -> None:
        zh_q = {
            "ratio": "支付比例",
            "deductible": "起付标准",
            "cap": "最高支付限额",
            "covered": "是否纳入统筹",
        }
        rules = version.rules
        relevant = fields_of(_conds_of(rules)) | fields_of(
            [s.where for s in (req.left, req.right) if isinstance(s, ir.Measure)]
        )

        def show(v: Any, q: str | None, lang: str = "en") -> str:
            q = V.FUND_MEASURES.get(q or "", (None, q))[1]  # a fund's ratio shows as a ratio
            if isinstance(v, bool):
                return ("是" if v else "否") if lang == "zh" else ("true" if v else "false")
            return percent(v) if q == "ratio" else (f"{v} 元" if lang == "zh" else f"{v} yuan")

        lq = req.left.quantity if isinstance(req.left, ir.Measure) else None
        rq = req.right.quantity if isinstance(req.right, ir.Measure) else lq
        if lq == "covered":
            relevant = {"psn_type", "flxempe_flag"}
        ld, ld_zh = describe(lprof, relevant), self.describe(lprof, relevant, "zh")
        if lq == "covered" and not isinstance(req.right, ir.Measure):
            detail, detail_zh = f"visits with {ld} are not covered", f"{ld_zh} 的就诊未纳入统筹"
        elif isinstance(req.right, ir.Measure):
            rd, rd_zh = describe(rprof, relevant), self.describe(rprof, relevant, "zh")
            detail = f"the {lq} is {show(lv, lq)} for {ld} and {show(rv, rq)} for {rd}"
            detail_zh = (
                f"{ld_zh} 的{zh_q.get(lq or '', lq)}为 {show(lv, lq, 'zh')},{rd_zh} 的为 "
                f"{show(rv, rq, 'zh')}"
            )
        else:
            detail = f"the {lq} is {show(lv, lq)} for {ld}"
            detail_zh = f"{ld_zh} 的{zh_q.get(lq or '', lq)}为 {show(lv, lq, 'zh')}"
        seen_as = self.view_for(owner)
        names_zh = self.policy.vocab.names_zh()
        for prof in (lprof, rprof) if isinstance(req.right, ir.Measure) else (lprof,):
            for field, value in prof.items():
                base = seen_as(prof).get(field)
                if base != value and f"{value} counts as {base}" not in detail:
                    detail += f" ({value} counts as {base})"
                    detail_zh += f"({names_zh.get(value, value)} 视同 {names_zh.get(base, base)})"
        detail += f" (version from {version.start})"
        detail_zh += f"(自 {version.start} 起的版本)"
        span = (lprov.span if lprov else None) or (rprov.span if rprov else None)
        clause = req.prov.clause or ""
        quote = f'"{req.prov.quote}"' if req.prov.quote else req.text
        related = [
            Related(
                req.prov.span,
                f"{owner.id} requires {req.text}" + (f" ({clause})" if clause else ""),
                f"{owner.id} 要求 {req.text}" + (f"({clause})" if clause else ""),
            )
        ]
        if rprov is not None and rprov.span is not None and rprov.span != span:
            related.append(Related(rprov.span, "the value it is compared with", "与之比较的取值"))
        self.diags.append(
            Diagnostic(
                "H501",
                span,
                {
                    "detail": detail,
                    "detail_zh": detail_zh,
                    "policy": owner.id,
                    "name": req.name,
                    "requirement": req.text,
                    "clause": clause,
                    "quote": quote,
                },
                tuple(related),
            )
        )


_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _adjustment_words(adj: ir.Adjust) -> dict:
    """An uplift, a reduction or an exemption from one, for a diagnostic (by its rule)."""
    if adj.prov.rule.endswith(": exempt"):
        return {"what": "this exemption", "what_zh": "该除外情形"}
    if adj.prov.rule.startswith("reduce"):
        return {"what": "this reduction", "what_zh": "该降低"}
    return {"what": "this uplift", "what_zh": "该上浮"}


def _paid(rules: ir.PoolingRules, prof: dict) -> bool:
    """Whether the fund pays anything at all for visits like ``prof``."""
    if not rules.covered(prof.get("psn_type"), prof.get("flxempe_flag")):
        return False
    return not (rules.designated_only is not None and prof.get("designated") is False)


def _pairs(value: Any, prov: Any) -> list[tuple[Any, Any]]:
    """A side's value and rule as pairs: one, or a banded ratio's one per band."""
    if isinstance(value, list):
        return list(zip(value, prov, strict=True))
    return [(value, prov)]


def _show_row(decide: ir.Decide, arm: ir.Arm) -> str:
    """A table row's value as a diagnostic shows it (a table's rows hold constants)."""
    value = arm.value.value if isinstance(arm.value, ir.Const) else arm.value
    if decide.type == V.PERCENT and isinstance(value, Decimal):
        return percent(value)
    return f"{value} yuan"


def _failure(
    op: Callable[[Any, Any], bool], left: list[tuple[Any, Any]], right: list[tuple[Any, Any]]
) -> tuple[tuple[Any, Any], tuple[Any, Any]] | None:
    """The first pair of (value, rule) on either side that fails ``op``; banded ratios compare
    band by band."""
    combos = (
        zip(left, right, strict=True) if len(left) == len(right) else itertools.product(left, right)
    )
    for (a, ap), (b, bp) in combos:
        if not op(a, b):
            return (a, ap), (b, bp)
    return None


class _Sides:
    """The values of a requirement's two sides for a profile, read from one pooling version
    (a bound is itself; a measure whose condition the profile does not meet, or that depends
    on a parameter, has none)."""

    def __init__(
        self, analyzer: Analyzer, compiled: _CompiledPooling, req: ir.Requirement, owner: ir.Policy
    ):
        self.analyzer = analyzer
        self.compiled = compiled
        self.sides = (req.left, req.right)
        self.conds = [
            compile_cond(s.where) if isinstance(s, ir.Measure) else None for s in self.sides
        ]
        # the requirement's conditions read the profile as owner knows it
        self.seen_as = analyzer.view_for(owner)

    def value(self, i: int, prof: Profile) -> tuple[Any, Any]:
        side, cond = self.sides[i], self.conds[i]
        if not isinstance(side, ir.Measure) or cond is None:
            return side, None
        a = self.analyzer
        try:
            if not cond(a._env(self.seen_as(prof))):
                return None, None
            return a._measure(self.compiled, side.quantity, a._env(prof))
        except (MissingValue, NoRow):  # depends on a parameter: not analysable
            return None, None


def analyze(policy: ir.Policy, own_sections: set[str]) -> list[Diagnostic]:
    with decimal.localcontext(E.CTX):  # the caller's decimal context never changes a verdict
        return Analyzer(policy, own_sections).run()
