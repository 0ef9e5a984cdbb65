"""Lower a checked, resolved policy (AST + scope) into the IR.

Only called on policies the checker passed: names are known and types agree.
Enumeration aliases were canonicalised by the parser; tiers are expanded here
into the hospital levels they group; tables become unique-hit decisions.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any, Callable

import attrs

from . import ir
from . import nodes as n
from . import vocab as V
from .ir.evaluate import CTX
from .nodes import Span
from .resolve import Scope

HUNDRED = Decimal(100)


ACCUMULATOR_KINDS = {n.Deductible: "deductible", n.Cap: "cap", n.CostCap: "cost_cap"}


def prov(rule: str, cite: n.Cite, policy: str | None = None, span: Span | None = None) -> ir.Prov:
    if isinstance(cite, n.Citation):
        return ir.Prov(rule, cite.clause, cite.quote, None, policy, span=span or cite.span)
    if isinstance(cite, n.Unstated):
        return ir.Prov(rule, None, None, cite.reason, policy, span=span or cite.span)
    return ir.Prov(rule, None, None, None, policy, span=span)


def literal_value(lit: n.Literal) -> tuple[object, str]:
    if isinstance(lit, n.MoneyLit):
        return lit.amount, V.MONEY
    if isinstance(lit, n.PercentLit):
        return lit.value / HUNDRED, V.PERCENT
    if isinstance(lit, n.PointsLit):
        return lit.value / HUNDRED, V.POINTS
    if isinstance(lit, n.NumberLit):
        return lit.value, V.NUMBER
    if isinstance(lit, n.DateLit):
        return lit.value, V.DATE
    if isinstance(lit, n.TextLit):
        return lit.value, V.TEXT
    if isinstance(lit, n.BoolLit):
        return lit.value, V.BOOL
    raise TypeError(lit)


def decimal_value(lit: n.Literal) -> Decimal:
    """The fraction a percentage or points literal stands for (5 points: 0.05)."""
    value = literal_value(lit)[0]
    if not isinstance(value, Decimal):
        raise TypeError(lit)
    return value


def _money(lit: n.Literal) -> Decimal:
    if not isinstance(lit, n.MoneyLit):  # the checker allows money only here
        raise TypeError(lit)
    return lit.amount


def _band_label(b: n.Band) -> str:
    if b.limit is None:
        return "beyond"
    return f"until {_money(b.limit)}"


# a fund's deductibles, caps, adjustments, ratio, the ratio's provenance and cost caps
_FundTerms = tuple[
    list[ir.Accumulate],
    list[ir.Accumulate],
    list[ir.Adjust],
    "ir.Value | ir.Bands",
    ir.Prov,
    list[ir.Accumulate],
]


class Lowering:
    def __init__(self, scope: Scope):
        self.scope = scope
        self.fields: dict[str, str] = {}

    def type_of(self, t: n.Name) -> str:
        return V.TYPE_ALIASES.get(t.value, t.value)

    def tier_values(self, name: str) -> frozenset:
        if name in self.scope.tiers:
            return frozenset(m.value for m in self.scope.tiers[name].members)
        return frozenset({name})

    # -- expressions
    def expr(self, e: n.Expr) -> ir.Expr:
        if isinstance(e, n.Ref):
            name = e.name.value
            if name in self.fields:
                return ir.Field(name, self.fields[name])
            d = self.scope.params[name]
            return ir.Param(name, self.type_of(d.type))
        if isinstance(e, n.BinOp):
            left, right = self.expr(e.left), self.expr(e.right)
            types = {left.type, right.type}
            if e.op == "*":
                t = V.MONEY if V.MONEY in types else V.NUMBER
            elif V.PERCENT in types:
                t = V.PERCENT
            else:
                t = left.type
            return ir.Arith(e.op, left, right, t)
        value, t = literal_value(e)
        return ir.Const(value, t)

    def cond(self, c: n.Cond | None) -> ir.Cond:
        if c is None:
            return ir.TRUE
        lower = _COND_LOWERING.get(type(c))
        if lower is None:
            raise TypeError(c)
        return lower(self, c)

    def _and(self, c: n.And) -> ir.Cond:
        return ir.AllOf((self.cond(c.left), self.cond(c.right)))

    def _or(self, c: n.Or) -> ir.Cond:
        return ir.AnyOf((self.cond(c.left), self.cond(c.right)))

    def _not(self, c: n.Not) -> ir.Cond:
        return ir.Negate(self.cond(c.operand))

    def _flag(self, c: n.Flag) -> ir.Cond:
        return ir.Cmp("=", self.expr(n.Ref(name=c.name)), ir.Const(True, V.BOOL))

    def _member(self, c: n.Member) -> ir.Cond:
        values: frozenset[str] = frozenset().union(*(self.tier_values(v.value) for v in c.values))
        return ir.InSet(self.expr(c.operand), values)

    def _member_of(self, c: n.MemberOf) -> ir.Cond:
        return ir.InSet(self.expr(c.operand), self.tier_values(c.group.value))

    def _compare(self, c: n.Compare) -> ir.Cond:
        left = self.expr(c.left)
        if (
            isinstance(c.right, n.Ref)
            and c.right.name.value not in self.fields
            and c.right.name.value not in self.scope.params
        ):
            return self._compare_value(c, left, c.right.name.value)
        return ir.Cmp(c.op, left, self.expr(c.right))

    def _compare_value(self, c: n.Compare, left: ir.Expr, value: str) -> ir.Cond:
        """``left op value`` where ``value`` names no field nor parameter: ``true``/``false``,
        a tier of hospital levels (membership), or a value of ``left``'s enumeration."""
        if left.type == V.BOOL:
            return ir.Cmp(c.op, left, ir.Const(value == "true", V.BOOL))
        if left.type == "hosp_lv" and value in self.scope.tiers:
            s = ir.InSet(left, self.tier_values(value))
            return s if c.op == "=" else ir.Negate(s)
        return ir.Cmp(c.op, left, ir.Const(value, left.type))

    def ratio(
        self, q: n.Quantity | n.Ref, rule: str, cite: n.Cite, policy: str
    ) -> ir.Value | ir.Bands:
        """A ratio: a quantity, or bands by what has accumulated (only a ratio has bands)."""
        if isinstance(q, n.Bands):
            return self.bands(q, rule, cite, policy)
        return self.quantity(q, rule, cite, policy)

    def bands(self, q: n.Bands, rule: str, cite: n.Cite, policy: str) -> ir.Bands:
        limits = tuple(None if b.limit is None else literal_value(b.limit)[0] for b in q.bands)
        values = tuple(literal_value(b.value)[0] for b in q.bands)
        provs = tuple(
            prov(f"{rule} band " + _band_label(b), b.cite or cite, policy, b.span) for b in q.bands
        )
        return ir.Bands(q.period.value, q.each.value if q.each else None, limits, values, provs)

    def quantity(self, q: n.Quantity | n.Ref, rule: str, cite: n.Cite, policy: str) -> ir.Value:
        if isinstance(q, n.Ref):
            return self.expr(q)
        if isinstance(q, n.Bands):  # the checker allows bands for a ratio only (T201)
            raise TypeError(q)
        if isinstance(q, n.Table):
            return self.table(q, rule, cite, policy)
        value, t = literal_value(q)
        return ir.Const(value, t)

    def table(self, q: n.Table, rule: str, cite: n.Cite, policy: str) -> ir.Decide:
        arms = []
        t = None
        for row in q.rows:
            if isinstance(row.value, n.Ref):  # a parameter: its value is given at evaluation
                cell: ir.Expr = self.expr(row.value)
                t = cell.type
            else:
                value, t = literal_value(row.value)
                cell = ir.Const(value, t)
            label = ", ".join(
                "*" if p is None else " | ".join(x.value for x in p) for p in row.patterns
            )
            arms.append(
                ir.Arm(
                    ir.AllOf(self.row_conds(q, row)),
                    cell,
                    prov(f"{rule} [{label}]", row.cite or cite, policy, row.span),
                )
            )
        return ir.Decide(tuple(arms), t or V.PERCENT)

    def row_conds(self, q: n.Table, row: n.Row) -> tuple[ir.Cond, ...]:
        """What a row of a table asks of the visit: one membership per key it constrains."""
        conds: list[ir.Cond] = []
        for key, alts in zip(q.keys, row.patterns, strict=True):
            if alts is None:
                continue
            ktype = self.fields[key.value]
            values: frozenset[object]
            if ktype == V.BOOL:
                values = frozenset(p.value in ("true", "是") for p in alts)
            else:
                values = frozenset().union(*(self.tier_values(p.value) for p in alts))
            conds.append(ir.InSet(ir.Field(key.value, ktype), values))
        return tuple(conds)

    # -- sections
    def section(self, s: n.Section, owner: Scope) -> ir.Section:
        saved = self.scope
        self.scope = owner
        self.fields = {
            **V.CONTEXT_FIELDS[s.kind],
            **{k: self.type_of(d.type) for k, d in self.scope.inputs.items()},
        }
        versions = []
        for v in s.versions:
            start = v.start.value  # a date, or the name of a date parameter
            until = (
                None
                if v.until is None
                else (v.until.value if isinstance(v.until, n.DateLit) else v.until.value)
            )
            rules = getattr(self, f"rules_{s.kind}")(v.body, owner.id)
            versions.append(
                ir.Version(
                    start, until, prov(f"{s.kind} from {start}", v.cite, owner.id, v.span), rules
                )
            )
        self.scope = saved
        return ir.Section(s.kind, s.title, owner.id, tuple(versions))

    def rules_pooling(self, body: tuple[n.Stmt, ...], pid: str) -> ir.PoolingRules:
        covers: frozenset[str] = frozenset()
        covers_prov = prov("covers", None, pid)
        designated = None
        deductibles, caps, adjustments, ratio, ratio_prov, cost_caps = self.fund_terms(body, pid)
        bounds: list[ir.RatioBound] = []
        for st in body:
            if isinstance(st, n.Covers):
                covers = frozenset(c.value for c in st.categories)
                covers_prov = prov("covers", st.cite, pid, st.span)
            elif isinstance(st, n.DesignatedOnly):
                designated = prov("designated_only", st.cite, pid, st.span)
            elif isinstance(st, (n.RatioFloor, n.RatioCeiling)):
                bounds.append(self.ratio_bound(st, pid))
        bounds.sort(key=lambda b: b.kind != "floor")  # the floor first, then the ceiling
        return ir.PoolingRules(
            covers,
            covers_prov,
            designated,
            tuple(deductibles),
            tuple(caps),
            ratio,
            ratio_prov,
            tuple(adjustments),
            bounds=tuple(bounds),
            cost_caps=tuple(cost_caps),
            funds=tuple(self.fund_rules(st, pid) for st in body if isinstance(st, n.Fund)),
        )

    def fund_rules(self, f: n.Fund, pid: str) -> ir.FundRules:
        deductibles, caps, adjustments, ratio, ratio_prov, _ = self.fund_terms(
            f.body, pid, f"{f.name.value} "
        )
        return ir.FundRules(
            f.name.value,
            f.title,
            prov(f"fund {f.name.value}", f.cite, pid, f.span),
            tuple(deductibles),
            tuple(caps),
            ratio,
            ratio_prov,
            tuple(adjustments),
            f.above_cap,
        )

    def fund_terms(self, body: tuple[n.Stmt, ...], pid: str, fund: str = "") -> _FundTerms:
        """A fund's deductibles, caps, adjustments, ratio and cost caps, from the statements
        of a pooling version (the pooling fund) or of a ``fund`` block (``fund``: the prefix
        of its rules' names, e.g. "hifob ")."""
        deductibles: list[ir.Accumulate] = []
        caps: list[ir.Accumulate] = []
        adjustments: list[ir.Adjust] = []
        cost_caps: list[ir.Accumulate] = []
        ratio: ir.Value | ir.Bands = ir.Const(Decimal(0), V.PERCENT)
        ratio_prov = prov("ratio", None, pid)
        for st in body:
            if isinstance(st, (n.Deductible, n.Cap, n.CostCap)):
                kind = ACCUMULATOR_KINDS[type(st)]
                target = {"deductible": deductibles, "cap": caps, "cost_cap": cost_caps}[kind]
                target.append(self.accumulate(st, kind, pid, fund))
            elif isinstance(st, n.Ratio):
                ratio = self.ratio(st.amount, f"{fund}ratio", st.cite, pid)
                ratio_prov = prov(f"{fund}ratio", st.cite, pid, st.span)
            elif isinstance(st, n.Uplift):
                adjustments.append(
                    ir.Adjust(
                        self.points(st.points),
                        self.cond(st.when),
                        prov(f"{fund}uplift", st.cite, pid, st.span),
                    )
                )
            elif isinstance(st, n.Reduction):  # the pooling fund's only (S602 in a fund)
                adjustments.extend(self.reduction(st, pid))
        return deductibles, caps, adjustments, ratio, ratio_prov, cost_caps

    def accumulate(
        self, st: n.Deductible | n.Cap | n.CostCap, kind: str, pid: str, fund: str = ""
    ) -> ir.Accumulate:
        """A deductible, a cap or a cost cap; a deductible's ``total_at_most`` becomes its
        ``ceiling`` (kind ``ceiling``: the deductible's condition, no ``each``)."""
        label = f"{fund}{kind} per {st.period.value}" + (
            f" each {st.each.value}" if st.each else ""
        )
        when = self.cond(st.when)
        ceiling = None
        top = getattr(st, "ceiling", None)
        if top is not None:
            ceiling = ir.Accumulate(
                "ceiling",
                self.quantity(top.amount, "ceiling", st.cite, pid),
                top.period.value,
                None,
                when,
                prov(f"{label} total_at_most per {top.period.value}", st.cite, pid, top.span),
            )
        name = st.name
        return ir.Accumulate(
            kind,
            self.quantity(st.amount, kind, st.cite, pid),
            st.period.value,
            st.each.value if st.each else None,
            when,
            prov(label, st.cite, pid, st.span),
            name.value if name is not None else None,
            ceiling,
        )

    def points(self, amount: n.Literal | n.Ref, negate: bool = False) -> ir.Expr | Decimal:
        """An adjustment's points: a fraction, or an expression over a parameter."""
        if isinstance(amount, n.Ref):
            e = self.expr(amount)
            return ir.Arith("-", ir.Const(Decimal(0), V.POINTS), e, V.POINTS) if negate else e
        value, _ = literal_value(amount)
        assert isinstance(value, Decimal)  # points: the checker proved it
        return CTX.minus(value) if negate else value

    def reduction(self, st: n.Reduction, pid: str) -> list[ir.Adjust]:
        """Points off when the condition holds and no exemption does.  Each exemption is an
        adjustment of 0 points, ahead of the reduction, that holds when the reduction's
        condition and the exemption do (and no earlier exemption): the trace names the
        clause that spared the visit."""
        when = self.cond(st.when)
        label = f"reduce {_points_label(st.points)}"
        out: list[ir.Adjust] = []
        spared: list[ir.Cond] = []
        for ex in st.exemptions:
            cond = self.cond(ex.when)
            out.append(
                ir.Adjust(
                    Decimal(0),
                    ir.AllOf((when, *(ir.Negate(x) for x in spared), cond)),
                    prov(f"{label}: exempt", ex.cite or st.cite, pid, ex.span),
                )
            )
            spared.append(cond)
        out.append(
            ir.Adjust(
                self.points(st.points, negate=True),
                ir.AllOf((when, *(ir.Negate(x) for x in spared))) if spared else when,
                prov(label, st.cite, pid, st.span),
            )
        )
        return out

    def ratio_bound(self, st: n.RatioFloor | n.RatioCeiling, pid: str) -> ir.RatioBound:
        kind = "floor" if isinstance(st, n.RatioFloor) else "ceiling"
        rule = "ratio at_least" if kind == "floor" else "ratio at_most"
        if isinstance(st.value, n.Ref):
            value = self.expr(st.value)
        else:
            value = ir.Const(literal_value(st.value)[0], V.PERCENT)
        return ir.RatioBound(kind, value, prov(rule, st.cite, pid, st.span))

    def rules_crediting(self, body: tuple[n.Stmt, ...], pid: str) -> ir.CreditingRules:
        rules = []
        for st in body:
            if isinstance(st, n.CreditRule):
                rules.append(
                    ir.CreditRule(
                        st.name.value,
                        self.cond(st.when),
                        self.expr(st.amount),
                        prov(st.name.value, st.cite, pid, st.span),
                    )
                )
        return ir.CreditingRules(tuple(rules))

    def rules_account_use(self, body: tuple[n.Stmt, ...], pid: str) -> ir.AccountRules:
        relations: frozenset[str] = frozenset()
        relations_prov = None
        allows: list[ir.Permission] = []
        planned: list[ir.Permission] = []
        excludes: frozenset[str] = frozenset()
        excludes_prov = None
        channels = []
        for st in body:
            if isinstance(st, n.Relations):
                relations = frozenset(r.value for r in st.relations)
                relations_prov = prov("relations", st.cite, pid, st.span)
            elif isinstance(st, (n.Allow, n.Planned)):
                perm = ir.Permission(
                    frozenset(i.value for i in st.items),
                    None if st.venues is None else frozenset(v.value for v in st.venues),
                    None if st.relations is None else frozenset(r.value for r in st.relations),
                    prov("allow" if isinstance(st, n.Allow) else "planned", st.cite, pid, st.span),
                )
                (allows if isinstance(st, n.Allow) else planned).append(perm)
            elif isinstance(st, n.Exclude):
                excludes = frozenset(i.value for i in st.items)
                excludes_prov = prov("exclude", st.cite, pid, st.span)
            elif isinstance(st, n.Channel):
                for c in st.channels:
                    channels.append((c.value, prov(f"channel {c.value}", st.cite, pid, st.span)))
        return ir.AccountRules(
            relations,
            relations_prov,
            tuple(allows),
            tuple(planned),
            excludes,
            excludes_prov,
            tuple(channels),
        )

    # -- the whole policy
    def policy(self) -> ir.Policy:
        scope = self.scope
        p = scope.policy
        level = p.first(n.LevelDecl)
        doc = p.first(n.DocumentDecl)
        rounding = None
        if scope.rounding is not None:
            r = scope.rounding
            rounding = ir.Rounding(
                r.mode.value, _money(r.unit), prov("rounding", r.cite, scope.id, r.span)
            )
        settings = {
            k: (d.value.value, prov(f"setting {k}", d.cite, scope.id, d.span))
            for k, d in scope.settings.items()
        }
        sections = {kind: self.section(sec, owner) for kind, (sec, owner) in scope.sections.items()}
        self.scope = scope
        self.fields = {
            **V.VISIT_FIELDS,
            **{k: self.type_of(d.type) for k, d in scope.inputs.items()},
        }
        diseases = []
        reqs = []
        for d in p.decls:
            if isinstance(d, n.Diseases):
                diseases.append(
                    ir.DiseaseCatalogue(
                        d.name.value,
                        d.title,
                        int(d.total.value) if d.total is not None else None,
                        tuple((pt.name.value, int(pt.count.value), pt.catalogue) for pt in d.parts),
                        prov(d.name.value, d.cite or d.total_cite, scope.id, d.span),
                    )
                )
            elif isinstance(d, n.Constraints):
                for req in d.requirements:
                    reqs.append(
                        ir.Requirement(
                            req.name.value,
                            self.side(req.left),
                            req.op,
                            self.side(req.right),
                            prov(req.name.value, req.cite, scope.id, req.span),
                            self.req_text(req),
                        )
                    )
        parent = Lowering(scope.parent).policy() if scope.parent is not None else None
        return ir.Policy(
            id=scope.id,
            title=p.title,
            level=level.level.value if level else None,
            document=doc.number if doc else None,
            document_date=doc.dated.value if doc else None,  # a date, or a date parameter
            bill_split=self.bill_split(p, scope),
            file=scope.file,
            params={k: self.type_of(d.type) for k, d in scope.params.items()},
            inputs={k: (self.type_of(d.type), self.default_of(d)) for k, d in scope.inputs.items()},
            rounding=rounding,
            settings=settings,
            sections=sections,
            diseases=tuple(diseases),
            requirements=tuple(reqs),
            parent=parent,
            vocabulary=scope.vocab,
            tier_labels={k: d.label for k, d in scope.tiers.items() if d.label},
        )

    def bill_split(self, p: n.Policy, scope: Scope) -> tuple[tuple[str, ...], ir.Prov] | None:
        d = p.first(n.BillSplit)
        if d is None:
            return None
        return tuple(x.value for x in d.parts), prov("in_policy excludes", d.cite, scope.id, d.span)

    def default_of(self, d: n.InputDecl) -> object:
        if d.default is None:
            return None
        value = literal_value(d.default)[0]
        enum = self.scope.vocab.enums.get(self.type_of(d.type))
        return enum.lookup(value)[0] if enum is not None else value

    def side(self, side: n.Measure | n.Bound) -> ir.Measure | object:
        if isinstance(side, n.Bound):
            return literal_value(side.value)[0]
        return ir.Measure(side.quantity.value, self.cond(side.where))

    def req_text(self, r: n.Requirement) -> str:
        from .formatter import format_requirement

        return format_requirement(r).split(": ", 1)[1]


def _points_label(amount: n.Literal | n.Ref) -> str:
    if isinstance(amount, n.Ref):
        return amount.name.value
    return f"{amount.value} points" if isinstance(amount, n.PointsLit) else "?"


def lower(scope: Scope) -> ir.Policy:
    """The IR of a checked policy: its rules (``ir.core``) and, built from them, the
    program of each kind of evaluation (``ir.program``)."""
    from .ir.build import build

    with decimal.localcontext(CTX):  # the caller's decimal context never changes a value
        policy = Lowering(scope).policy()
        return attrs.evolve(policy, programs=build(policy))


# how each kind of condition is lowered (``Lowering.cond``)
_COND_LOWERING: dict[type, Callable[[Lowering, Any], ir.Cond]] = {
    n.And: Lowering._and,
    n.Or: Lowering._or,
    n.Not: Lowering._not,
    n.Flag: Lowering._flag,
    n.Member: Lowering._member,
    n.MemberOf: Lowering._member_of,
    n.Compare: Lowering._compare,
}
