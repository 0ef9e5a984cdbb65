"""Check: the AST-level passes.

Each pass walks the resolved policy and adds diagnostics; none stops at the
first problem.  Passes here need only the AST and the scope (names, types and
units, ranges of literals, structure, citations).  Passes that need to evaluate
the policy over its whole input domain (gaps and overlaps of decision tables,
ratios after uplifts, the parent's constraints) run on the IR in ``analysis``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import pairwise
from typing import Any, Callable, Collection, Iterable

import attrs

from . import nodes as n
from . import vocab as V
from .diagnostics import Diagnostic, Related
from .funds import check_section_funds, declared_results
from .inputs import MAX_DIGITS
from .resolve import Scope, suggest

STMT_NAMES = {
    n.Covers: ("'covers'", "覆盖范围"),
    n.DesignatedOnly: ("'designated_only'", "仅限定点"),
    n.Deductible: ("the deductible", "起付标准"),
    n.Cap: ("the cap", "最高支付限额"),
    n.CostCap: ("the cost cap", "政策范围内费用限额"),
    n.Ceiling: ("the total of the deductible", "起付标准累计上限"),
    n.Ratio: ("the payment ratio", "支付比例"),
    n.Uplift: ("the uplift", "提高比例"),
    n.Reduction: ("the reduction", "降低比例"),
    n.Exemption: ("the exemption", "除外情形"),
    n.RatioFloor: ("the floor on the ratio", "支付比例下限"),
    n.RatioCeiling: ("the ceiling on the ratio", "支付比例上限"),
    n.BillSplit: ("the bill split", "政策范围内费用的划分"),
    n.CreditRule: ("the credit rule", "计入规则"),
    n.Relations: ("'relations'", "共济亲属"),
    n.Allow: ("'allow'", "允许"),
    n.Planned: ("'planned'", "逐步探索"),
    n.Exclude: ("'exclude'", "不得用于"),
    n.Channel: ("'channel'", "结算方式"),
    n.Fund: ("the fund", "基金"),
    n.Version: ("the version", "版本"),
    n.ParamDecl: ("the parameter", "参数"),
    n.InputDecl: ("the input", "输入"),
    n.TierDecl: ("the tier", "档次"),
    n.RoundingDecl: ("the rounding rule", "舍入规则"),
    n.SettingDecl: ("the setting", "设置"),
    n.Diseases: ("the disease catalogue", "慢特病目录"),
    n.Requirement: ("the requirement", "要求"),
    n.LevelDecl: ("the level", "层级"),
    n.JurisdictionDecl: ("the jurisdiction", "辖区"),
    n.DocumentDecl: ("the document number", "文号"),
    n.BasisDecl: ("the basis", "上位文件"),
    n.ImplementsDecl: ("'implements'", "实施"),
    n.Example: ("the example", "示例"),
    n.EnumDecl: ("the enumeration", "枚举"),
    n.CodeList: ("the code list", "代码目录"),
    n.ImportDecl: ("the import", "引用"),
}

ALLOWED_IN = {
    "pooling": (
        n.Covers,
        n.DesignatedOnly,
        n.Deductible,
        n.Cap,
        n.CostCap,
        n.Ratio,
        n.Uplift,
        n.Reduction,
        n.RatioFloor,
        n.RatioCeiling,
        n.Fund,
    ),
    "crediting": (n.CreditRule,),
    "account_use": (n.Relations, n.Allow, n.Planned, n.Exclude, n.Channel),
}
# the self-paid parts of a bill on the platform (inputs.VISIT_SPEC): what may leave the
# in-policy amount, with the policy's own money inputs
BILL_PARTS = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")
SECTION_OF: dict[type, str] = {cls: kind for kind, classes in ALLOWED_IN.items() for cls in classes}

# Declared bounds of numeric literals: (digits before the point, decimal places).  Nothing
# beyond them is ever rounded: money is kept in fen; a ratio is kept to 4 decimals as a
# fraction (the platform's pool_prop_selfpay is decimal(5,4)), so 2 as a percentage, and so
# are percentage points.  Within these bounds every literal, and every fraction made from it,
# is exact in Decimal's 28 digits.
MONEY_BOUNDS = (MAX_DIGITS, 2)
BOUNDS = {
    n.PercentLit: (MAX_DIGITS, 2, "a percentage", "百分比"),
    n.PointsLit: (MAX_DIGITS, 2, "percentage points", "百分点"),
    n.NumberLit: (MAX_DIGITS, 6, "a number", "数值"),
}


def digits_of(d: Decimal) -> tuple[int, int]:
    """(digits before the point, decimal places) of the value of ``d``, trailing zeros
    after the point not counted (2000.50 -> (4, 1)).  Read from the digits themselves:
    exact, and independent of the decimal context."""
    _, digits, exp = d.as_tuple()
    if not isinstance(exp, int):  # NaN or infinity: never written in a policy
        return (MAX_DIGITS + 1, 0)
    end = len(digits)
    while end > 0 and exp < 0 and digits[end - 1] == 0:
        end -= 1
        exp += 1
    if end == 0 or not any(digits[:end]):
        return (0, 0)
    return (max(0, end + exp), max(0, -exp))


def within_bounds(lit: n.Literal) -> bool:
    """Whether a numeric literal is within its declared bounds (other literals always are)."""
    if isinstance(lit, n.MoneyLit):
        whole, places = MONEY_BOUNDS
        value = lit.amount
    elif isinstance(lit, (n.PercentLit, n.PointsLit, n.NumberLit)):  # the keys of BOUNDS
        whole, places = BOUNDS[type(lit)][:2]
        value = lit.value
    else:
        return True
    w, p = digits_of(value)
    return w <= whole and p <= places


def shown(d: Decimal) -> str:
    """A number as written, shortened when it is too long to read in a message."""
    text = format(d, "f")
    return text if len(text) <= 24 else f"{text[:12]}…{text[-4:]}"


def _tdesc(t: str, zh: bool = False) -> str:
    if zh:
        return V.TYPE_NAMES_ZH.get(t, t)
    return V.TYPE_NAMES_EN.get(t, f"a {t} value" if t else t)  # not a scalar type: an enumeration


def _what(node: n.Node) -> tuple[str, str]:
    return STMT_NAMES.get(type(node), (type(node).__name__, type(node).__name__))


# declarations a policy makes once (S604 on a second)
SINGLE_DECLS = (
    n.LevelDecl,
    n.JurisdictionDecl,
    n.DocumentDecl,
    n.ImplementsDecl,
    n.RoundingDecl,
    n.BillSplit,
)
NamedDecl = n.ParamDecl | n.InputDecl | n.TierDecl | n.Diseases | n.SettingDecl


@attrs.define
class _Declared:
    """What ``Checker.check_decls`` has met so far: the first declaration of each kind a
    policy makes once, of each section, of each name."""

    singles: dict[type, n.Node] = attrs.Factory(dict)
    sections: dict[str, n.Section] = attrs.Factory(dict)
    named: dict[tuple[str, str], n.Node] = attrs.Factory(dict)


class Checker:
    def __init__(self, scope: Scope):
        self.scope = scope
        self.vocab = scope.vocab
        self.enums = scope.vocab.enums  # the enumerations in force for this policy
        self.diags: list[Diagnostic] = []
        self.used_params: set[str] = set()

    # -- helpers
    def emit(self, code, span, **args):
        self.diags.append(Diagnostic(code, span, args))

    def unknown(
        self,
        name: n.Name,
        kind: str,
        kind_zh: str,
        candidates: Iterable[str],
        hint: str = "",
        hint_zh: str = "",
    ) -> None:
        s = suggest(name.value, candidates)
        self.emit(
            "N101",
            name.span,
            name=name.value,
            kind=kind,
            kind_zh=kind_zh,
            suggestion=f"; did you mean {s!r}?" if s else "",
            suggestion_zh=f";是否应为 {s!r}?" if s else "",
            hint=hint,
            hint_zh=hint_zh,
        )

    def enum_value(self, name: n.Name, enum: str, allow_tiers: bool = False) -> bool:
        values = list(self.enums[enum].values)
        if allow_tiers:
            values += list(self.scope.tiers)
        if name.value in values:
            return True
        zh = self.enums[enum].names_zh
        s = suggest(name.value, values)
        s_zh = suggest(name.value, [z for z in zh.values()]) or (zh.get(s) if s else None)
        self.emit(
            "N106",
            name.span,
            value=name.value,
            what=f"{enum} value",
            what_zh=self.enums[enum].label or enum,
            suggestion=f"; did you mean {s!r}?" if s else "",
            suggestion_zh=f";是否应为 {s_zh!r}?" if s_zh else "",
            known=", ".join(values),
            known_zh="、".join(f"{zh[v]}({v})" if v in zh else v for v in values),
        )
        return False

    def enum_values(self) -> dict[str, str]:
        """Enumeration value -> its enumeration: the names a parameter or input must not take
        (the enumerations whose values are written in conditions and tables)."""
        if not hasattr(self, "_enum_values"):
            order = ("hosp_lv", "psn_type", "category", "relation", "venue", "item", "channel")
            skip = ("period", "level", "rounding_mode", "account_covers")
            names = [k for k in self.enums if k not in order and k not in skip] + list(order)
            self._enum_values = {v: name for name in names for v in self.enums[name].values}
        return self._enum_values

    def need_cite(self, node, cite):
        if cite is None:
            what, what_zh = _what(node)
            self.emit("S601", node.span, what=what, what_zh=what_zh)

    # -- entry point
    def run(self) -> list[Diagnostic]:
        p = self.scope.policy
        self.check_numbers(p)
        self.check_decls(p)
        for d in p.decls:
            if isinstance(d, n.Section):
                self.check_section(d)
            elif isinstance(d, n.Diseases):
                self.check_diseases(d)
            elif isinstance(d, n.Constraints):
                self.check_constraints(d)
            elif isinstance(d, n.Example):
                self.check_example(d)
        self.check_required(p)
        inherited = _names_in(
            [sec for kind, (sec, owner) in self.scope.sections.items() if owner is not self.scope]
        )
        own = {id(d) for d in p.decls}  # identity: comparing nodes by value would be quadratic
        for name, decl in self.scope.params.items():
            if id(decl) in own and name not in self.used_params and name not in inherited:
                self.emit("N107", decl.name.span, name=name)
        return self.diags

    # -- numbers
    def check_numbers(self, p: n.Policy) -> None:
        """Every numeric literal of the policy, wherever it is written, is within its bounds.
        The other passes leave a literal outside them alone, so a huge or over-precise
        number gives this one diagnostic and nothing is computed with it."""
        units = {id(d.unit) for d in p.decls if isinstance(d, n.RoundingDecl)}  # R304 says more
        for lit in _numeric_literals(p):
            if within_bounds(lit) or id(lit) in units:
                continue
            if isinstance(lit, n.MoneyLit):
                self.emit("R305", lit.span, value=shown(lit.amount), digits=MONEY_BOUNDS[0])
            else:
                whole, places, what, what_zh = BOUNDS[type(lit)]
                text = {n.PercentLit: "{}%", n.PointsLit: "{} points", n.NumberLit: "{}"}[type(lit)]
                text_zh = {n.PercentLit: "{}%", n.PointsLit: "{} 个百分点", n.NumberLit: "{}"}[
                    type(lit)
                ]
                self.emit(
                    "R306",
                    lit.span,
                    value=text.format(shown(lit.value)),
                    value_zh=text_zh.format(shown(lit.value)),
                    what=what,
                    what_zh=what_zh,
                    digits=whole,
                    places=places,
                )

    # -- policy-level declarations
    def check_decls(self, p: n.Policy) -> None:
        """Each declaration in turn: first whether it may stand here (declared once, under a
        name of its own: ``DECL_ONCE``), then its own checks (``DECL_CHECKS``)."""
        seen = _Declared()
        for d in p.decls:
            once = DECL_ONCE.get(type(d))
            if once is not None:
                once(self, d, seen)
            check = DECL_CHECKS.get(type(d))
            if check is not None:
                check(self, d)

    def once_single(self, d: n.Node, seen: _Declared) -> None:
        """A declaration a policy makes once (its level, document, rounding rule...): a
        second is S604."""
        if type(d) in seen.singles:
            what, what_zh = _what(d)
            self.emit(
                "S604", d.span, what=what, what_zh=what_zh, first=str(seen.singles[type(d)].span)
            )
        else:
            seen.singles[type(d)] = d

    def once_section(self, d: n.Section, seen: _Declared) -> None:
        """One section of each kind (S604)."""
        if d.kind in seen.sections:
            self.emit(
                "S604",
                d.span,
                what=f"the {d.kind} section",
                what_zh=V.SECTION_NAMES_ZH[d.kind],
                first=str(seen.sections[d.kind].span),
            )
        else:
            seen.sections[d.kind] = d

    def once_named(
        self, d: NamedDecl, seen: _Declared, key: tuple[str, str], kind: str, kind_zh: str
    ) -> None:
        """A name declared once (N102): settings among settings, the other names (parameters,
        inputs, tiers, disease catalogues) among each other."""
        if key in seen.named:
            self.emit(
                "N102",
                d.name.span,
                kind=kind,
                kind_zh=kind_zh,
                name=d.name.value,
                first=str(seen.named[key].span),
            )
        else:
            seen.named[key] = d

    def once_setting(self, d: n.SettingDecl, seen: _Declared) -> None:
        self.once_named(d, seen, ("setting", d.name.value), "setting", "设置")

    def once_name(self, d: NamedDecl, seen: _Declared) -> None:
        what, what_zh = _what(d)
        self.once_named(d, seen, ("name", d.name.value), what.removeprefix("the "), what_zh)

    def once_param_or_input(self, d: n.ParamDecl | n.InputDecl, seen: _Declared) -> None:
        """A parameter's or input's name is not a value of an enumeration (N110), and is
        declared once."""
        if d.name.value in self.enum_values():
            enum = self.enum_values()[d.name.value]
            self.emit(
                "N110",
                d.name.span,
                name=d.name.value,
                taken=f"a value of {enum}",
                taken_zh=f"{self.enums[enum].label or enum}的取值",
            )
        self.once_name(d, seen)

    def check_level_decl(self, d: n.LevelDecl) -> None:
        self.enum_value(d.level, "level")
        self.check_parent_level(d)

    def check_param_decl(self, d: n.ParamDecl) -> None:
        self.check_type_ref(d.type)
        self.need_cite(d, d.cite)

    def check_input_decl(self, d: n.InputDecl) -> None:
        """An input: of a known type, not named as a built-in field, its default of its type."""
        self.check_type_ref(d.type)
        if (
            d.name.value in V.VISIT_FIELDS
            or d.name.value in V.PERSON_FIELDS
            or d.name.value in V.REQUEST_FIELDS
        ):
            self.emit(
                "N110",
                d.name.span,
                name=d.name.value,
                taken="a built-in input field",
                taken_zh="内置输入字段",
            )
        if d.default is not None:
            self.check_input_default(d, d.default)
        self.need_cite(d, d.cite)

    def check_input_default(self, d: n.InputDecl, default: n.Literal) -> None:
        t = self.literal_type(default)
        want = V.TYPE_ALIASES.get(d.type.value, d.type.value)
        if want in self.enums:  # an enumeration's default is written as text: "level1" or "一级"
            if not isinstance(default, n.TextLit):
                self.type_error(default, "the default", "默认值", want, t)
            elif self.enums[want].lookup(default.value) is None:
                self.enum_value(n.Name(default.value, span=default.span), want)
        elif t != want and want in V.SCALAR_TYPES:
            self.type_error(default, "the default", "默认值", want, t)

    def check_tier_decl(self, d: n.TierDecl) -> None:
        """A tier: not named as a hospital level, its members hospital levels."""
        if d.name.value in self.enums["hosp_lv"].values:
            self.emit(
                "N110",
                d.name.span,
                name=d.name.value,
                taken="a hospital level",
                taken_zh="医疗机构级别",
            )
        for m in d.members:
            self.enum_value(m, "hosp_lv")
        self.need_cite(d, d.cite)

    def check_rounding_decl(self, d: n.RoundingDecl) -> None:
        """A rounding rule: a known mode, to a unit that is a positive amount of whole fen."""
        self.enum_value(d.mode, "rounding_mode")
        if not isinstance(d.unit, n.MoneyLit):
            self.type_error(
                d.unit, "the rounding unit", "舍入单位", V.MONEY, self.literal_type(d.unit)
            )
        elif digits_of(d.unit.amount)[0] > MONEY_BOUNDS[0]:
            self.emit("R305", d.unit.span, value=shown(d.unit.amount), digits=MONEY_BOUNDS[0])
        elif d.unit.amount <= 0 or digits_of(d.unit.amount)[1] > MONEY_BOUNDS[1]:
            self.emit("R304", d.unit.span, value=shown(d.unit.amount))
        self.need_cite(d, d.cite)

    def check_cited_decl(self, d: n.EnumDecl | n.CodeList) -> None:
        self.need_cite(d, d.cite)  # a category or a code a policy adds is a rule of the notice

    def check_setting_decl(self, d: n.SettingDecl) -> None:
        """A setting: a known one, set to one of its values."""
        if d.name.value not in V.SETTINGS:
            s = suggest(d.name.value, V.SETTINGS)
            self.emit(
                "N105",
                d.name.span,
                name=d.name.value,
                known=", ".join(V.SETTINGS),
                suggestion=f"; did you mean {s!r}?" if s else "",
                suggestion_zh=f";是否应为 {s!r}?" if s else "",
            )
        else:
            self.enum_value(d.value, V.SETTINGS[d.name.value])
        self.need_cite(d, d.cite)

    def check_parent_level(self, d: n.LevelDecl) -> None:
        parent = self.scope.parent
        if parent is None:
            return
        plevel = parent.policy.first(n.LevelDecl)
        mine, theirs = (
            V.LEVEL_RANK.get(d.level.value),
            V.LEVEL_RANK.get(plevel.level.value) if plevel else None,
        )
        if mine and theirs and plevel is not None and theirs <= mine:
            impl = self.scope.policy.first(n.ImplementsDecl)
            zh = V.ENUMS["level"]
            self.emit(
                "N109",
                impl.span if impl else d.span,
                level=d.level.value,
                name=parent.id,
                parent_level=plevel.level.value,
                level_zh=zh[d.level.value],
                parent_level_zh=zh[plevel.level.value],
            )

    def check_type_ref(self, t: n.Name) -> None:
        v = V.TYPE_ALIASES.get(t.value, t.value)
        if v not in V.SCALAR_TYPES and v not in self.enums:
            self.unknown(t, "type", "类型", [*V.SCALAR_TYPES, *self.enums])

    def check_required(self, p: n.Policy) -> None:
        kinds = set(self.scope.sections)
        own = {d.kind for d in p.decls if isinstance(d, n.Section)}
        if kinds & {"pooling", "crediting"} and self.scope.rounding is None:
            self.emit(
                "S603",
                p.name.span,
                where="this policy",
                where_zh="本政策",
                what="a rounding rule",
                what_zh="舍入规则",
                hint=(
                    "money results must be rounded by a declared rule: rounding half_up to 0.01 "
                    "yuan"
                ),
                hint_zh="金额结果须按声明的规则舍入:舍入 四舍五入 精确到 0.01 元",
            )
        misspelt = any(
            isinstance(d, n.SettingDecl) and d.name.value not in V.SETTINGS for d in p.decls
        )
        if (
            {"pooling", "account_use"} <= kinds
            and (own & {"pooling", "account_use"})
            and "account_covers" not in self.scope.settings
            and not misspelt
        ):
            self.emit(
                "S603",
                p.name.span,
                where="this policy",
                where_zh="本政策",
                what="the setting account_covers",
                what_zh="设置 account_covers",
                hint=(
                    "say what the personal account may pay in a settlement: setting "
                    "account_covers = person_share"
                ),
                hint_zh="请声明个人账户在结算中可支付的范围:设置 account_covers = person_share",
            )

    # -- sections and versions
    def check_section(self, s: n.Section) -> None:
        fields = {
            **V.CONTEXT_FIELDS[s.kind],
            **{
                k: V.TYPE_ALIASES.get(d.type.value, d.type.value)
                for k, d in self.scope.inputs.items()
            },
        }
        for v in s.versions:
            self.check_version(s, v, fields)
            self.check_counters(v)
            self.check_cost_caps(v)
        self.check_counter_names(s)
        self.check_version_dates(s)
        check_section_funds(self, s, fields)

    # -- counters: deductibles and caps carry what was used across versions by identity
    def check_counters(self, v: n.Version) -> None:
        """Within one version, every deductible and cap needs its own counter: two with the
        same default identity (kind, period, each field, condition) need names (C412), and
        no two may take the same name (N102)."""
        counters = [st for st in v.body if isinstance(st, (n.Deductible, n.Cap, n.CostCap))]
        named: dict[str, n.Deductible | n.Cap | n.CostCap] = {}
        for i, st in enumerate(counters):
            if st.name is not None:
                first = named.setdefault(st.name.value, st)
                if first is not st:
                    self.emit(
                        "N102",
                        st.name.span,
                        kind="counter",
                        kind_zh="累计计数器",
                        name=st.name.value,
                        first=str(first.name.span if first.name else first.span),
                    )
                continue
            twin = next((o for o in counters[:i] if o.name is None and _same_counter(o, st)), None)
            if twin is not None:
                period = st.period.value
                self.diags.append(
                    Diagnostic(
                        "C412",
                        st.span,
                        {
                            "kinds": _KINDS[type(st)][0],
                            "kinds_zh": _KINDS[type(st)][1],
                            "period": period,
                            "period_zh": V.ENUMS["period"].get(period, period),
                        },
                        (Related(twin.span, "the other one", "另一条"),),
                    )
                )

    # -- limits composed: a deductible's total_at_most, caps on the costs counted
    def check_ceiling(self, st: n.Deductible, top: n.Ceiling, fields: dict) -> None:
        """``total_at_most``: on a deductible per visit (C420), over a longer period (C421),
        at least the largest deductible it sums (C422); money (T201), not negative (R302)."""
        self.check_quantity(
            top.amount, V.MONEY, "the total of the deductible", "起付标准累计上限", fields
        )
        if not self.enum_value(top.period, "period"):
            return
        period = _period(top.period)
        if _period(st.period) != "visit":
            self.emit("C420", top.span, **_period_args(_period(st.period)))
            return
        if period == "visit":
            self.emit("C421", top.period.span)
            return
        cap = _money_literal(top.amount)
        most = _largest_money(st.amount)
        if cap is not None and cap >= 0 and most is not None and most[0] > cap:
            self.emit(
                "C422",
                most[1].span,
                value=shown(most[0]),
                ceiling=shown(cap),
                **_period_args(period),
            )

    def check_cost_caps(self, v: n.Version) -> None:
        """A cost cap no larger than a deductible taken within its period leaves nothing
        above the deductible: the fund never pays (C423).  Only literal, unconditional
        amounts kept per person are compared."""
        plain = [
            st
            for st in v.body
            if isinstance(st, (n.Deductible, n.CostCap)) and st.when is None and st.each is None
        ]
        for cc in (st for st in plain if isinstance(st, n.CostCap)):
            cap = _money_literal(cc.amount)
            for d in (st for st in plain if isinstance(st, n.Deductible) and st.ceiling is None):
                low = _smallest_money(d.amount)
                if cap is None or low is None or low < cap:
                    continue
                if _RANK.get(_period(cc.period), -1) < _RANK.get(_period(d.period), 9):
                    continue
                self.diags.append(
                    Diagnostic(
                        "C423",
                        cc.span,
                        {"cap": shown(cap), "deductible": shown(low)},
                        (Related(d.span, "the deductible", "起付标准"),),
                    )
                )

    def check_counter_names(self, s: n.Section) -> None:
        """A counter's name stands for one kind of counter in every version of the section."""
        kinds: dict[str, tuple[n.Deductible | n.Cap | n.CostCap, n.Version]] = {}
        for v in s.versions:
            for st in v.body:
                if isinstance(st, (n.Deductible, n.Cap, n.CostCap)) and st.name is not None:
                    first, where = kinds.setdefault(st.name.value, (st, v))
                    if type(first) is not type(st) and where is not v:  # in one version: N102
                        self.diags.append(
                            Diagnostic(
                                "N112",
                                st.name.span,
                                {
                                    "name": st.name.value,
                                    "kind": _what(st)[0],
                                    "kind_zh": _what(st)[1],
                                    "other": _what(first)[0],
                                    "other_zh": _what(first)[1],
                                },
                                (
                                    Related(
                                        first.name.span if first.name else first.span,
                                        f"{st.name.value!r} names {_what(first)[0]} here",
                                        f"此处 {st.name.value!r} 是{_what(first)[1]}的名称",
                                    ),
                                ),
                            )
                        )

    def version_bounds(self, v: n.Version) -> tuple[dt.date | None, dt.date | None]:
        start = v.start.value if isinstance(v.start, n.DateLit) else None
        until = v.until.value if isinstance(v.until, n.DateLit) else None
        return start, until

    def check_version_dates(self, s: n.Section) -> None:
        """The versions of a section follow one another: each ends after it starts, and
        none overlaps another or leaves a gap before the next."""
        dated: list[tuple[dt.date, dt.date | str | None, n.Version]] = []
        for v in s.versions:
            for point in (v.start, v.until):
                if isinstance(point, n.Name):
                    self.check_date_param(point, "a version's start or end", "版本起止")
            entry = self.dated_version(v)
            if entry is not None:
                dated.append(entry)
        # Versions are in force by their dates, whatever their order in the file.  A version
        # that can never be in force either ends before it starts (C408) or overlaps another
        # (C403): on a shared start date at least one of the two is never used.
        dated.sort(key=lambda t: t[0])
        sec = (f"the {s.kind} section", V.SECTION_NAMES_ZH[s.kind])
        for a, b in pairwise(dated):
            self.check_version_follows(a, b, sec)
        self.check_shared_start_params(s, sec)

    def check_date_param(self, name: n.Name, what: str, what_zh: str) -> None:
        """A date given by a parameter's name (a version's start or end, a document's date):
        a declared parameter of type date."""
        self.used_params.add(name.value)
        decl = self.scope.params.get(name.value)
        if decl is None:
            self.unknown(name, "date parameter", "日期参数", self.scope.params)
            return
        t = V.TYPE_ALIASES.get(decl.type.value, decl.type.value)
        if t != V.DATE:
            self.type_error(name, what, what_zh, V.DATE, t)

    def dated_version(self, v: n.Version) -> tuple[dt.date, dt.date | str | None, n.Version] | None:
        """A version with a start date written out: (start, its end or "unknown" when the
        end is a parameter, the version); None when it starts on a parameter, or ends before
        it starts (C408)."""
        start, until = self.version_bounds(v)
        if start and until and until < start:
            self.emit(
                "C408", v.until.span if v.until else v.span, start=str(start), until=str(until)
            )
        elif start and not isinstance(v.until, n.Name):
            return (start, until, v)
        elif start:
            return (start, "unknown", v)
        return None

    def check_version_follows(
        self,
        earlier: tuple[dt.date, dt.date | str | None, n.Version],
        later: tuple[dt.date, dt.date | str | None, n.Version],
        sec: tuple[str, str],
    ) -> None:
        """The next version by start date begins after the earlier ends (C403) and no later
        than the day after (C404)."""
        (a_start, a_until, a), (b_start, _b_until, b) = earlier, later
        sec_en, sec_zh = sec
        if a_until == "unknown" and a_start != b_start:
            return  # ends on a date parameter: known only at evaluation time
        if a_until is None or isinstance(a_until, str) or a_until >= b_start:
            self.diags.append(
                Diagnostic(
                    "C403",
                    b.span,
                    {"section": sec_en, "section_zh": sec_zh, "date": str(b_start)},
                    (
                        Related(a.span, "the earlier version", "前一版本")
                        if a_start != b_start
                        else Related(
                            a.span, "the other version starting then", "同日开始的另一版本"
                        ),
                    ),
                )
            )
        elif a_until + dt.timedelta(days=1) < b_start:
            self.diags.append(
                Diagnostic(
                    "C404",
                    b.span,
                    {
                        "section": sec_en,
                        "section_zh": sec_zh,
                        "start": str(a_until + dt.timedelta(days=1)),
                        "end": str(b_start - dt.timedelta(days=1)),
                    },
                )
            )

    def check_shared_start_params(self, s: n.Section, sec: tuple[str, str]) -> None:
        """Two versions that start on the same date parameter overlap on that date, whatever
        it is (C403)."""
        sec_en, sec_zh = sec
        on_param: dict[str, n.Version] = {}
        for v in s.versions:
            if isinstance(v.start, n.Name):
                first = on_param.setdefault(v.start.value, v)
                if first is not v:
                    self.diags.append(
                        Diagnostic(
                            "C403",
                            v.span,
                            {"section": sec_en, "section_zh": sec_zh, "date": v.start.value},
                            (
                                Related(
                                    first.span,
                                    "the other version starting then",
                                    "同日开始的另一版本",
                                ),
                            ),
                        )
                    )

    def check_version(self, s: n.Section, v: n.Version, fields: dict) -> None:
        """A version: cited; each statement allowed in its section, cited, made once where a
        version has only one (``ONCE_IN_VERSION``), then checked by its type
        (``STMT_CHECKS``); then what every version of its section needs
        (``VERSION_CHECKS``)."""
        self.need_cite(v, v.cite)
        once: dict[type, n.Node] = {}
        rule_names: dict[str, n.CreditRule] = {}
        for st in v.body:
            if not isinstance(st, ALLOWED_IN[s.kind]):
                self.misplaced(st, s.kind)
                continue
            self.need_cite(st, st.cite)
            if isinstance(st, ONCE_IN_VERSION):
                self.once_in_version(st, once)
            elif isinstance(st, n.CreditRule):
                self.credit_rule_named_once(st, rule_names)
            check = STMT_CHECKS.get(type(st))
            if check is not None:
                check(self, st, fields)
        after = VERSION_CHECKS.get(s.kind)
        if after is not None:
            after(self, v)

    def misplaced(self, st: n.Node, kind: str) -> None:
        """A statement in a section it does not belong to (S602), with the one it does."""
        what, what_zh = _what(st)
        home = SECTION_OF.get(type(st))
        self.emit(
            "S602",
            st.span,
            what=what,
            what_zh=what_zh,
            section=kind,
            section_zh=V.SECTION_NAMES_ZH[kind],
            allowed=home or "?",
            allowed_zh=V.SECTION_NAMES_ZH.get(home or "", "?"),
        )

    def once_in_version(self, st: n.Node, once: dict[type, n.Node]) -> None:
        """A statement a version makes once (who is covered, the ratio...): a second is C405."""
        if type(st) in once:
            what, what_zh = _what(st)
            self.emit("C405", st.span, what=what, what_zh=what_zh, first=str(once[type(st)].span))
        else:
            once[type(st)] = st

    def credit_rule_named_once(self, st: n.CreditRule, names: dict[str, n.CreditRule]) -> None:
        """Two credit rules of a version do not share a name (N102, pointing at the one
        before)."""
        if st.name.value in names:
            self.emit(
                "N102",
                st.name.span,
                kind="credit rule",
                kind_zh="计入规则",
                name=st.name.value,
                first=str(names[st.name.value].span),
            )
        names[st.name.value] = st

    def check_enum_lists(self, st: n.Node, fields: dict) -> None:
        """The enumeration values a statement lists (``STMT_ENUMS``): categories covered,
        relations, items, venues, channels."""
        for attr, enum in STMT_ENUMS[type(st)]:
            for x in getattr(st, attr) or ():
                self.enum_value(x, enum)

    def check_pooling_statement(self, st: n.Stmt, fields: dict) -> None:
        what, what_zh = _what(st)
        self.check_fund_statement(st, what, what_zh, fields)

    def check_ratio_bound(self, st: n.RatioBound, fields: dict) -> None:
        what, what_zh = _what(st)
        self.check_quantity(st.value, V.PERCENT, what, what_zh, fields)

    def check_credit_rule(self, st: n.CreditRule, fields: dict) -> None:
        """A credit rule: its condition, and an amount of money."""
        self.check_cond(st.when, fields)
        t = self.expr_type(st.amount, fields)
        if t is not None and t != V.MONEY:
            self.type_error(st.amount, "a credit", "计入金额", V.MONEY, t)

    def check_pooling_version(self, v: n.Version) -> None:
        """A version of the pooling section: its ratio's bounds; says who is covered and the
        ratio (S603)."""
        self.check_ratio_bounds(v)
        for cls, what, what_zh in (
            (n.Covers, "a 'covers' statement (who is covered)", "覆盖范围"),
            (n.Ratio, "a payment ratio", "支付比例"),
        ):
            if not any(isinstance(st, cls) for st in v.body):
                self.emit(
                    "S603",
                    v.span,
                    where="this version of the pooling section",
                    where_zh="该统筹版本",
                    what=what,
                    what_zh=what_zh,
                    hint="",
                    hint_zh="",
                )

    def check_account_use_version(self, v: n.Version) -> None:
        """A version of the account_use section: allows nothing it excludes (C406); says
        which relations are eligible (S603)."""
        excluded = {i.value for st in v.body if isinstance(st, n.Exclude) for i in st.items}
        for st in v.body:
            if isinstance(st, (n.Allow, n.Planned)):
                self.allowed_not_excluded(st, excluded)
        if not any(isinstance(st, n.Relations) for st in v.body):
            self.emit(
                "S603",
                v.span,
                where="this version of the account_use section",
                where_zh="该账户使用版本",
                what="a 'relations' statement (the eligible relations)",
                what_zh="共济亲属",
                hint="",
                hint_zh="",
            )

    def allowed_not_excluded(self, st: n.Allow | n.Planned, excluded: set[str]) -> None:
        for i in st.items:
            if i.value in excluded:
                what, what_zh = _what(st)
                self.emit(
                    "C406",
                    i.span,
                    what=f"{what} {i.value}",
                    what_zh=f"{what_zh} {i.value}",
                    why=f"{i.value} is excluded in the same version",
                    why_zh=f"{i.value} 在同一版本中被列为不得用于",
                )

    # -- ratio adjustments and bounds
    def check_points(
        self, amount: n.Literal | n.Ref, what: str, what_zh: str, fields: dict
    ) -> None:
        """An adjustment's size: points (``5 points``), or a parameter of type points."""
        if isinstance(amount, n.Ref):
            t = self.ref_type(amount.name, fields)
            if t is not None and (t != V.POINTS or amount.name.value in fields):
                self.type_error(amount, what, what_zh, V.POINTS, t)
            return
        t = self.literal_type(amount)
        if t != V.POINTS:
            self.type_error(amount, what, what_zh, V.POINTS, t)

    def check_reduction(self, st: n.Reduction, fields: dict) -> None:
        self.check_points(st.points, "a reduction", "降低幅度", fields)
        if isinstance(st.points, n.PointsLit) and within_bounds(st.points) and st.points.value <= 0:
            self.emit("R331", st.points.span, value=shown(st.points.value))
        self.check_cond(st.when, fields)
        for ex in st.exemptions:
            self.need_cite(ex, ex.cite)
            self.check_cond(ex.when, fields)

    def check_ratio_bounds(self, v: n.Version) -> None:
        """A floor no higher than the ceiling; bounds on a ratio that is one number."""
        floor = next((st for st in v.body if isinstance(st, n.RatioFloor)), None)
        ceiling = next((st for st in v.body if isinstance(st, n.RatioCeiling)), None)
        ratio = next((st for st in v.body if isinstance(st, n.Ratio)), None)
        for bound in (floor, ceiling):
            if bound is not None and ratio is not None and isinstance(ratio.amount, n.Bands):
                what, what_zh = _what(bound)
                self.emit("S631", bound.span, what=what, what_zh=what_zh)
        if floor is None or ceiling is None:
            return
        low, high = floor.value, ceiling.value
        if (
            isinstance(low, n.PercentLit)
            and isinstance(high, n.PercentLit)
            and within_bounds(low)
            and within_bounds(high)
            and low.value > high.value
        ):
            self.diags.append(
                Diagnostic(
                    "C434",
                    low.span,
                    {"floor": f"{shown(low.value)}%", "ceiling": f"{shown(high.value)}%"},
                    (Related(ceiling.span, "the ceiling", "上限"),),
                )
            )

    def check_bill_split(self, d: n.BillSplit) -> None:
        """Each part that leaves the in-policy amount is a self-paid part of the bill or a
        declared money input, listed once."""
        self.need_cite(d, d.cite)
        seen: dict[str, n.Name] = {}
        inputs = {
            k: V.TYPE_ALIASES.get(x.type.value, x.type.value) for k, x in self.scope.inputs.items()
        }
        for part in d.parts:
            name = part.value
            if name in seen:
                self.emit("C435", part.span, name=name, first=str(seen[name].span))
                continue
            seen[name] = part
            if name in BILL_PARTS or inputs.get(name) == V.MONEY:
                continue
            if name in V.VISIT_FIELDS or name in inputs:
                found = inputs.get(name) or V.VISIT_FIELDS[name]
                self.emit(
                    "T231",
                    part.span,
                    name=name,
                    found=f"{_tdesc(found)}" if name != "medfee_sumamt" else "the total itself",
                    found_zh=f"{_tdesc(found, True)}"
                    if name != "medfee_sumamt"
                    else "费用总额本身",
                )
            else:
                self.unknown(
                    part,
                    "part of the bill",
                    "费用组成部分",
                    [*BILL_PARTS, *(k for k, t in inputs.items() if t == V.MONEY)],
                    hint="the self-paid parts: " + ", ".join(BILL_PARTS) + ", or a money input",
                    hint_zh="自付部分:" + ", ".join(BILL_PARTS) + ",或声明的金额输入",
                )

    def check_document_date(self, d: n.DocumentDecl) -> None:
        if isinstance(d.dated, n.Name):
            self.check_date_param(d.dated, "the document's date", "文件日期")

    def check_fund_statement(self, st: n.Stmt, what: str, what_zh: str, fields: dict) -> None:
        """A deductible, cap, cost cap, ratio or uplift: of the pooling fund, or of a ``fund``
        block."""
        if isinstance(st, (n.Deductible, n.Cap, n.CostCap)):
            self.check_quantity(st.amount, V.MONEY, what, what_zh, fields)
            self.enum_value(st.period, "period")
            if st.each is not None:
                self.check_field(st.each, fields, enum_only=True)
            if st.when is not None:
                self.check_cond(st.when, fields)
            if isinstance(st, n.Deductible) and st.ceiling is not None:
                self.check_ceiling(st, st.ceiling, fields)
        elif isinstance(st, n.Ratio):
            self.check_quantity(st.amount, V.PERCENT, what, what_zh, fields)
        elif isinstance(st, n.Uplift):
            self.check_points(st.points, "an uplift", "提高幅度", fields)
            self.check_cond(st.when, fields)

    # -- quantities, expressions, conditions
    def check_bands(self, q: n.Bands, want: str, what: str, what_zh: str, fields: dict) -> None:
        if want != V.PERCENT:
            self.emit(
                "T201",
                q.span,
                what=what,
                what_zh=what_zh,
                expected=_tdesc(want),
                expected_zh=_tdesc(want, True),
                found="bands of ratios",
                found_zh="分段比例",
                hint="bands are for the payment ratio",
                hint_zh="累计分段只用于支付比例",
            )
            return
        self.enum_value(q.period, "period")
        if q.each is not None:
            self.check_field(q.each, fields, enum_only=True)
        previous = None
        for i, band in enumerate(q.bands):
            self.check_literal(band.value, V.PERCENT, what, what_zh)
            if band.limit is None:
                for later in q.bands[i + 1 :]:
                    self.emit(
                        "C406",
                        later.span,
                        what="this band",
                        what_zh="该分段",
                        why="an earlier band already covers everything beyond",
                        why_zh="前面的 '以上' 分段已覆盖其余全部金额",
                    )
                break
            self.check_literal(band.limit, V.MONEY, "a band limit", "分段上限")
            if isinstance(band.limit, n.MoneyLit) and within_bounds(band.limit):
                if previous is not None and band.limit.amount <= previous:
                    self.emit(
                        "C411",
                        band.limit.span,
                        value=f"{band.limit.amount}",
                        previous=f"{previous}",
                    )
                previous = band.limit.amount
        if not q.bands or q.bands[-1].limit is not None:
            last = (
                q.bands[-1].limit.amount
                if q.bands and isinstance(q.bands[-1].limit, n.MoneyLit)
                else 0
            )
            self.emit(
                "C401",
                q.span,
                what="the list of bands",
                what_zh="累计分段",
                example=f"amounts beyond {last} yuan",
                example_zh=f"超过 {last} 元的金额",
            )

    def check_quantity(
        self, q: n.Quantity | n.Ref, want: str, what: str, what_zh: str, fields: dict
    ) -> None:
        """An amount, ratio or count as written: bands, a decision table, a parameter or a
        literal, of the type wanted."""
        if isinstance(q, n.Bands):
            self.check_bands(q, want, what, what_zh, fields)
        elif isinstance(q, n.Table):
            self.check_table(q, want, what, what_zh, fields)
        elif isinstance(q, n.Ref):
            t = self.ref_type(q.name, fields)
            if t is not None and t != want:
                self.type_error(q, what, what_zh, want, t)
        else:
            self.check_literal(q, want, what, what_zh)

    def check_table(self, q: n.Table, want: str, what: str, what_zh: str, fields: dict) -> None:
        """A decision table: keyed by fields with a fixed set of values; each row gives a
        pattern per key (T205), values of its key, and a cell of the type wanted."""
        key_types = [self.check_field(k, fields, enum_only=True) for k in q.keys]
        for row in q.rows:
            if len(row.patterns) != len(q.keys):
                keys = ", ".join(k.value for k in q.keys)
                self.emit("T205", row.span, found=len(row.patterns), count=len(q.keys), keys=keys)
                continue
            for alts, kt in zip(row.patterns, key_types, strict=True):
                if alts is not None and kt is not None:
                    self.check_patterns(alts, kt)
            if isinstance(row.value, n.Ref):  # a parameter in a cell: its type is checked
                self.check_quantity(row.value, want, what, what_zh, {})
            else:
                self.check_literal(row.value, want, what, what_zh)

    def check_patterns(self, alts: Iterable[n.Name], kt: str) -> None:
        """The values a row's pattern lists for one key: true/false, or values of the key's
        enumeration (a hospital level's also tiers)."""
        for pat in alts:
            if kt != V.BOOL:
                self.enum_value(pat, kt, allow_tiers=(kt == "hosp_lv"))
            elif pat.value not in ("true", "false", "是", "否"):
                self.not_true_or_false(pat)

    def not_true_or_false(self, name: n.Name) -> None:
        """N106 on a value written where true or false is wanted."""
        self.emit(
            "N106",
            name.span,
            value=name.value,
            what="true/false",
            what_zh="是/否",
            known="true, false",
            known_zh="是(true)、否(false)",
        )

    def check_literal(self, lit: n.Literal, want: str, what: str, what_zh: str) -> None:
        t = self.literal_type(lit)
        if t != want:
            self.type_error(lit, what, what_zh, want, t)
            return
        if not within_bounds(lit):
            return  # reported once, by check_numbers
        if isinstance(lit, n.PercentLit) and not (0 <= lit.value <= 100):
            self.emit("R301", lit.span, value=f"{lit.value}%", context="", context_zh="")
        if isinstance(lit, n.MoneyLit) and lit.amount < 0:
            self.emit(
                "R302",
                lit.span,
                what=what,
                what_zh=what_zh,
                value=f"{lit.amount} yuan",
                value_zh=f"{lit.amount} 元",
            )

    def type_error(self, node, what, what_zh, want, found):
        code = "T202" if {want, found} == {V.PERCENT, V.POINTS} else "T201"
        hint = ""
        hint_zh = ""
        if want == V.PERCENT and found == V.NUMBER:
            hint, hint_zh = "write a percentage with %, e.g. 75%", "百分比请带 %,例如 75%"
        elif want == V.MONEY and found == V.NUMBER:
            hint, hint_zh = "write the unit, e.g. 150 yuan (150 元)", "请写明单位,例如 150 元"
        elif want == V.POINTS and found == V.NUMBER:
            hint, hint_zh = "write 5 points (5 个百分点)", "请写作 5 个百分点"
        self.emit(
            code,
            node.span,
            what=what,
            what_zh=what_zh,
            expected=_tdesc(want),
            expected_zh=_tdesc(want, True),
            found=_tdesc(found) if found else "something else",
            found_zh=_tdesc(found, True) if found else "其他",
            hint=hint,
            hint_zh=hint_zh,
        )

    def not_of_type(
        self,
        span: n.Span | None,
        found: str,
        *,
        what: str,
        what_zh: str,
        expected: str,
        expected_zh: str,
        hint: str = "",
        hint_zh: str = "",
    ) -> None:
        """T201: ``what`` is of type ``found`` where something else (said in words) is
        expected."""
        self.emit(
            "T201",
            span,
            what=what,
            what_zh=what_zh,
            expected=expected,
            expected_zh=expected_zh,
            found=_tdesc(found),
            found_zh=_tdesc(found, True),
            hint=hint,
            hint_zh=hint_zh,
        )

    @staticmethod
    def literal_type(lit: n.Literal) -> str | None:
        return {
            n.MoneyLit: V.MONEY,
            n.PercentLit: V.PERCENT,
            n.PointsLit: V.POINTS,
            n.NumberLit: V.NUMBER,
            n.DateLit: V.DATE,
            n.TextLit: V.TEXT,
            n.BoolLit: V.BOOL,
        }.get(type(lit))

    def check_field(self, name: n.Name, fields: dict, enum_only: bool = False) -> str | None:
        if name.value in fields:
            t = fields[name.value]
            if enum_only and t not in self.enums and t != V.BOOL:
                self.not_of_type(
                    name.span,
                    t,
                    what=f"'{name.value}'",
                    what_zh=f"'{name.value}'",
                    expected="a field with a fixed set of values (such as hosp_lv)",
                    expected_zh="取值有限的字段(如 hosp_lv)",
                )
                return None
            return t
        self.unknown(
            name,
            "field",
            "字段",
            fields,
            hint="fields here: " + ", ".join(sorted(fields)),
            hint_zh="可用字段:" + ", ".join(sorted(fields)),
        )
        return None

    def ref_type(self, name: n.Name, fields: dict) -> str | None:
        v = name.value
        if v in fields:
            return fields[v]
        if v in self.scope.params:
            self.used_params.add(v)
            d = self.scope.params[v]
            return V.TYPE_ALIASES.get(d.type.value, d.type.value)
        self.unknown(name, "name", "名称", [*fields, *self.scope.params])
        return None

    def expr_type(self, e: n.Expr, fields: dict) -> str | None:
        if isinstance(e, n.Ref):
            return self.ref_type(e.name, fields)
        if isinstance(e, n.BinOp):
            lt, rt = self.expr_type(e.left, fields), self.expr_type(e.right, fields)
            if lt is None or rt is None:
                return None
            if e.op == "*":
                if {lt, rt} == {V.MONEY, V.PERCENT}:
                    return V.MONEY
                if {lt, rt} == {V.MONEY, V.NUMBER}:
                    return V.MONEY
                if lt == rt == V.NUMBER:
                    return V.NUMBER
            elif lt == rt and lt in (V.MONEY, V.NUMBER, V.POINTS):
                return lt
            elif {lt, rt} == {V.PERCENT, V.POINTS}:
                return V.PERCENT
            op = {"*": "multiply", "+": "add", "-": "subtract"}[e.op]
            op_zh = {"*": "乘法", "+": "加法", "-": "减法"}[e.op]
            self.emit(
                "T203",
                e.span,
                op=op,
                op_zh=op_zh,
                left=_tdesc(lt),
                right=_tdesc(rt),
                left_zh=_tdesc(lt, True),
                right_zh=_tdesc(rt, True),
                hint="a credit is an amount times a percentage: contribution_base × 2%",
                hint_zh="计入金额为金额乘以百分比:contribution_base × 2%",
            )
            return None
        return self.literal_type(e)

    def check_cond(self, c: n.Cond | None, fields: dict) -> None:
        """A condition, by the type of its node (``COND_CHECKS``); no condition is fine."""
        check = COND_CHECKS.get(type(c))
        if check is not None:
            check(self, c, fields)

    def check_both(self, c: n.And | n.Or, fields: dict) -> None:
        self.check_cond(c.left, fields)
        self.check_cond(c.right, fields)

    def check_not(self, c: n.Not, fields: dict) -> None:
        self.check_cond(c.operand, fields)

    def check_flag(self, c: n.Flag, fields: dict) -> None:
        """A name used as a condition is a true/false field or parameter."""
        t = self.ref_type(c.name, fields)
        if t is not None and t != V.BOOL:
            self.not_of_type(
                c.span,
                t,
                what=f"'{c.name.value}' used as a condition",
                what_zh=f"作为条件的 '{c.name.value}'",
                expected=_tdesc(V.BOOL),
                expected_zh=_tdesc(V.BOOL, True),
                hint="compare it: psn_type = retiree",
                hint_zh="请写成比较:psn_type = retiree",
            )

    def check_member(self, c: n.Member, fields: dict) -> None:
        """``x in (a, b)``: x has a fixed set of values, and a, b are among them."""
        t = self.expr_type(c.operand, fields)
        if t is not None and t in self.enums:
            for v in c.values:
                self.enum_value(v, t, allow_tiers=(t == "hosp_lv"))
        elif t is not None:
            self.not_of_type(
                c.operand.span,
                t,
                what="'in'",
                what_zh="'属于'",
                expected="a field with a fixed set of values",
                expected_zh="取值有限的字段",
            )

    def check_member_of(self, c: n.MemberOf, fields: dict) -> None:
        """A tier test: a declared tier, of a hospital level."""
        t = self.expr_type(c.operand, fields)
        if c.group.value not in self.scope.tiers:
            self.unknown(c.group, "tier", "档次", self.scope.tiers)
        elif t is not None and t != "hosp_lv":
            self.not_of_type(
                c.operand.span,
                t,
                what="a tier test",
                what_zh="档次判断",
                expected="hosp_lv",
                expected_zh="hosp_lv",
            )

    def check_compare(self, c: n.Compare, fields: dict) -> None:
        """A comparison: a field against one of its values, or two sides of one type,
        ordered (<, >=) only where the type has an order."""
        left, right = c.left, c.right
        if (
            isinstance(left, n.Ref)
            and isinstance(right, n.Ref)
            and right.name.value not in fields
            and right.name.value not in self.scope.params
        ):
            self.check_value_compare(c, left, right, fields)
            return
        lt, rt = self.expr_type(left, fields), self.expr_type(right, fields)
        if lt is None or rt is None:
            return
        if lt != rt:
            self.emit(
                "T203",
                c.span,
                op="compare",
                op_zh="比较",
                left=_tdesc(lt),
                right=_tdesc(rt),
                left_zh=_tdesc(lt, True),
                right_zh=_tdesc(rt, True),
                hint="",
                hint_zh="",
            )
        elif lt in self.enums or lt in (V.BOOL, V.TEXT):
            if c.op not in ("=", "!="):
                self.emit("T204", c.span, field=_tdesc(lt), op=c.op)

    def check_value_compare(self, c: n.Compare, left: n.Ref, right: n.Ref, fields: dict) -> None:
        """``field = value`` where the value is a name that is neither a field nor a
        parameter: a value of the field's enumeration, or true/false; = and != only."""
        t = self.ref_type(left.name, fields)
        if t is not None and t in self.enums:
            if c.op not in ("=", "!="):
                self.emit("T204", c.span, field=left.name.value, op=c.op)
            self.enum_value(right.name, t, allow_tiers=(t == "hosp_lv"))
        elif t == V.BOOL:
            if right.name.value not in ("true", "false"):
                self.not_true_or_false(right.name)
        elif t is not None:
            self.ref_type(right.name, fields)

    # -- diseases and constraints
    def check_diseases(self, d: n.Diseases) -> None:
        if d.cite is None and d.total_cite is None:
            self.need_cite(d, None)
        counts: list[int | None] = []
        seen: dict[str, n.DiseasePart] = {}
        for part in d.parts:
            counts.append(self.check_count(part.count))
            if part.name.value in seen:
                self.emit(
                    "N102",
                    part.name.span,
                    kind="disease part",
                    kind_zh="病种部分",
                    name=part.name.value,
                    first=str(seen[part.name.value].span),
                )
            seen.setdefault(part.name.value, part)
        if d.total is None:
            return
        total = self.check_count(d.total)
        known = [c for c in counts if c is not None]
        if total is not None and d.parts and len(known) == len(counts) and sum(known) != total:
            self.emit("C407", d.total.span, sum=str(sum(known)), total=str(total))

    def check_count(self, lit: n.NumberLit) -> int | None:
        if not within_bounds(lit):
            return None  # reported by check_numbers
        if digits_of(lit.value)[1] or lit.value < 0:
            self.emit("R303", lit.span, what="a count", what_zh="数量", value=str(lit.value))
            return None
        return int(lit.value)

    def check_constraints(self, c: n.Constraints) -> None:
        fields = {
            **V.VISIT_FIELDS,
            **{
                k: V.TYPE_ALIASES.get(d.type.value, d.type.value)
                for k, d in self.scope.inputs.items()
            },
        }
        for r in c.requirements:
            self.need_cite(r, r.cite)
            types: list[str | None] = []
            for side in (r.left, r.right):
                if isinstance(side, n.Measure):
                    if side.quantity.value not in V.MEASURES:
                        self.unknown(side.quantity, "quantity", "指标", V.MEASURES)
                        types.append(None)
                    else:
                        types.append(V.MEASURES[side.quantity.value])
                    if side.where is not None:
                        self.check_cond(side.where, fields)
                else:
                    types.append(self.literal_type(side.value))
            lt, rt = types
            if (lt == V.BOOL or rt == V.BOOL) and r.op not in ("=", "!="):
                self.emit("T204", r.span, field="true/false", op=r.op)
            if lt and rt and lt != rt:
                bad = r.right if isinstance(r.right, n.Bound) else r.left
                self.type_error(
                    bad,
                    "the other side of the requirement",
                    "要求的另一侧",
                    lt if bad is r.right else rt,
                    rt if bad is r.right else lt,
                )

    # -- worked examples (read by `policylang test`, never compiled)
    def check_example(self, ex: n.Example) -> None:
        """A worked example: cited; its records, of one kind, with what they expect; its
        parameters; each record's fields and expectations."""
        self.need_cite(ex, ex.cite)
        self.check_example_has_records(ex)
        self.check_example_record_kinds(ex.records)
        self.check_example_params(ex.params)
        inputs = {
            k: V.TYPE_ALIASES.get(d.type.value, d.type.value) for k, d in self.scope.inputs.items()
        }
        for r in ex.records:
            self.check_example_record(r, inputs)

    def check_example_has_records(self, ex: n.Example) -> None:
        """An example has records (S603), and expects something of one of them (S603)."""
        if not ex.records:
            self.emit(
                "S603",
                ex.span,
                where="this example",
                where_zh="该示例",
                what="a record: settle { ... }, credit { ... } or may_pay { ... }",
                what_zh="记录:结算 { ... }、计入 { ... } 或 可否支付 { ... }",
                hint=(
                    "an example gives the records of the notice's case and what it expects of them"
                ),
                hint_zh="示例给出通知中案例的记录及其预期结果",
            )
        elif all(r.expect is None for r in ex.records):
            self.emit(
                "S603",
                ex.span,
                where="this example",
                where_zh="该示例",
                what="an expect { ... }",
                what_zh="预期 { ... }",
                hint=(
                    "after a record, write what the notice says its result is: expect { hifp_pay: "
                    "187.50 yuan }"
                ),
                hint_zh="请在记录之后写出通知所述的结果:预期 { hifp_pay: 187.50 元 }",
            )

    def check_example_record_kinds(self, records: tuple[n.ExampleRecord, ...]) -> None:
        """The records of an example are of one kind, the first's (S605)."""
        from .examples import KIND_WORDS

        if not records:
            return
        first = records[0]
        for r in records[1:]:
            if r.kind != first.kind:
                self.diags.append(
                    Diagnostic(
                        "S605",
                        r.span,
                        {"kind": KIND_WORDS[r.kind], "first": KIND_WORDS[first.kind]},
                        (Related(first.span, "the example's first record", "示例的第一条记录"),),
                    )
                )

    def check_example_params(self, params: tuple[n.ExampleParam, ...]) -> None:
        """An example's parameters: each given once (N102), declared by the policy (N101),
        with a value of its type."""
        seen: dict[str, n.ExampleParam] = {}
        for prm in params:
            if prm.name.value in seen:
                self.emit(
                    "N102",
                    prm.name.span,
                    kind="parameter",
                    kind_zh="参数",
                    name=prm.name.value,
                    first=str(seen[prm.name.value].name.span),
                )
                continue
            seen[prm.name.value] = prm
            decl = self.scope.params.get(prm.name.value)
            if decl is None:
                self.unknown(prm.name, "parameter", "参数", self.scope.params)
            else:
                self.check_example_param(prm, V.TYPE_ALIASES.get(decl.type.value, decl.type.value))

    def check_example_param(self, prm: n.ExampleParam, want: str) -> None:
        """A parameter's value in an example: of its type; an enumeration's value written as
        text, a value or a code of the enumeration."""
        from .examples import literal_type

        if want in self.enums:
            ok = (
                isinstance(prm.value, n.TextLit)
                and self.enums[want].lookup(prm.value.value.strip()) is not None
            )
        else:
            ok = literal_type(prm.value) == want
        if not ok:
            self.type_error(
                prm.value,
                f"the parameter {prm.name.value}",
                f"参数 {prm.name.value}",
                want,
                literal_type(prm.value),
            )

    def check_example_record(self, r: n.ExampleRecord, inputs: dict[str, str]) -> None:
        """A record: the fields of its kind and the policy's inputs, each of its type, those
        required given; then what it expects, among the results of its kind."""
        from .examples import EXAMPLE_DEFAULTS, INPUT_SPECS, KIND_WORDS, REASONS, RESULT_FIELDS

        spec = {name: (fs.type, fs.required) for name, fs in INPUT_SPECS[r.kind].items()}
        spec.update({name: (t, False) for name, t in inputs.items()})
        for name in EXAMPLE_DEFAULTS[r.kind]:
            spec[name] = (spec[name][0], False)
        word = KIND_WORDS[r.kind]
        given = self.check_example_fields(
            r.fields,
            {k: (t, False) for k, (t, _) in spec.items()},
            f"field of a {word} record",
            f"{word} 记录的字段",
            record=True,
        )
        self.check_required_fields(r, spec, given, word)
        if r.expect is not None:
            results = declared_results(RESULT_FIELDS[r.kind], self.scope)
            self.check_example_fields(
                r.expect,
                results,
                f"result field of {word}",
                f"{word} 结果字段",
                reasons=REASONS[r.kind],
            )

    def check_required_fields(
        self, r: n.ExampleRecord, spec: dict[str, tuple[str, bool]], given: set[str], word: str
    ) -> None:
        """Every field a record of its kind requires is given (S603)."""
        for name, (_, required) in spec.items():
            if required and name not in given:
                self.emit(
                    "S603",
                    r.span,
                    where=f"this {word} record",
                    where_zh=f"该 {word} 记录",
                    what=f"the field {name}",
                    what_zh=f"字段 {name}",
                    hint=f"the fields a {word} record needs: "
                    + ", ".join(k for k, (_, req) in spec.items() if req),
                    hint_zh=f"{word} 记录必需的字段:"
                    + "、".join(k for k, (_, req) in spec.items() if req),
                )

    def check_example_fields(
        self,
        fields: Iterable[n.ExampleField],
        spec: dict,
        kind: str,
        kind_zh: str,
        reasons: tuple[str, str, Collection[str]] | None = None,
        record: bool = False,
    ) -> set[str]:
        """Names and types of the fields of a record or an expectation; the names given.  In
        a record, an enumeration field may also be given as the text a JSON record would
        carry: a platform code of the vocabulary in force (``psn_type: "1103"``)."""
        seen: dict[str, n.ExampleField] = {}
        for f in fields:
            name = f.name.value
            if name in seen:
                self.emit(
                    "N102",
                    f.name.span,
                    kind="field",
                    kind_zh="字段",
                    name=name,
                    first=str(seen[name].name.span),
                )
                continue
            seen[name] = f
            if name not in spec:
                self.unknown(
                    f.name,
                    kind,
                    kind_zh,
                    spec,
                    hint="fields here: " + ", ".join(spec),
                    hint_zh="可用字段:" + ", ".join(spec),
                )
                continue
            want, nullable = spec[name]
            self.check_example_value(f, want, nullable, reasons, record)
        return set(seen)

    def check_example_value(
        self,
        f: n.ExampleField,
        want: str,
        nullable: bool,
        reasons: tuple[str, str, Collection[str]] | None,
        record: bool,
    ) -> None:
        """The value of a known field of a record or an expectation: ``none`` only where the
        field may have no value; of the field's type; an enumeration's value or a reason
        code among those known."""
        from .examples import fits, literal_type

        got = literal_type(f.value)
        if got == "none":
            if not nullable:
                self.example_type_error(f, want, got, "", "")
        elif record and want in self.enums and isinstance(f.value, n.TextLit):
            if self.enums[want].lookup(f.value.value.strip()) is None:
                self.enum_value(n.Name(f.value.value, span=f.value.span), want)
        elif not fits(want, f.value, self.enums):
            self.example_misfit(f, want, got)
        elif want in self.enums and isinstance(f.value, n.Name):  # fits: a name
            self.enum_value(f.value, want)
        elif want == "reason" and reasons is not None and isinstance(f.value, n.Name):
            self.check_reason(f.value, reasons)  # fits: a name

    def example_misfit(self, f: n.ExampleField, want: str, got: str | None) -> None:
        """A value not of its field's type: T201/T202 between two scalar types, else T201
        with a hint to write a name."""
        from .examples import spec_example

        if want in V.SCALAR_TYPES and got in V.SCALAR_TYPES:
            name = f.name.value
            self.type_error(f.value, f"the field {name}", f"字段 {name}", want, got)
        elif got != "name":
            self.example_type_error(
                f,
                want,
                got,
                f"write a name such as {spec_example(want, self.enums)}",
                f"请写名称,例如 {spec_example(want, self.enums)}",
            )
        else:
            self.example_type_error(f, want, got, "", "")

    def example_type_error(
        self, f: n.ExampleField, want: str, got: str | None, hint: str, hint_zh: str
    ) -> None:
        name = f.name.value
        self.emit(
            "T201",
            f.value.span,
            what=f"the field {name}",
            what_zh=f"字段 {name}",
            expected=_example_type(want),
            expected_zh=_example_type(want, True),
            found=_example_type(got),
            found_zh=_example_type(got, True),
            hint=hint,
            hint_zh=hint_zh,
        )

    def check_reason(self, value: n.Name, reasons: tuple[str, str, Collection[str]]) -> None:
        """An expected reason is one of the codes of its kind of record (N106)."""
        what, what_zh, known = reasons
        if value.value in known:
            return
        s = suggest(value.value, known)
        self.emit(
            "N106",
            value.span,
            value=value.value,
            what=what,
            what_zh=what_zh,
            suggestion=f"; did you mean {s!r}?" if s else "",
            suggestion_zh=f";是否应为 {s!r}?" if s else "",
            known=", ".join(known),
            known_zh="、".join(known),
        )


def _example_type(t: str | None, zh: bool = False) -> str:
    if t == "datetime":
        return "日期(或带时间的文字)" if zh else "a date (or a text with a time)"
    if t == "reason":
        return "原因代码" if zh else "a reason code"
    if t == "name":
        return "名称" if zh else "a name"
    if t == "none":
        return "无" if zh else "none"
    if t is None:
        return "其他" if zh else "something else"
    return _tdesc(t, zh)


_KINDS = {
    n.Deductible: ("deductibles", "起付标准"),
    n.Cap: ("caps", "最高支付限额"),
    n.CostCap: ("cost caps", "政策范围内费用限额"),
}
_RANK = {"visit": 0, "day": 1, "month": 2, "year": 3}


def _period(name: n.Name) -> str:
    """The period's canonical name (a Chinese spelling, 年, means year)."""
    for key, zh in V.ENUMS["period"].items():
        if name.value in (key, zh):
            return key
    return name.value


def _period_args(period: str) -> dict:
    return {"period": period, "period_zh": V.ENUMS["period"].get(period, period)}


def _money_literal(q: object) -> Decimal | None:
    return q.amount if isinstance(q, n.MoneyLit) else None


def _money_values(q: object) -> list:
    """The literal money amounts a quantity may take, with their nodes (a parameter: none)."""
    if isinstance(q, n.MoneyLit):
        return [(q.amount, q)]
    if isinstance(q, n.Table):
        rows = [(r.value.amount, r.value) for r in q.rows if isinstance(r.value, n.MoneyLit)]
        return rows if len(rows) == len(q.rows) else []
    return []


def _largest_money(q):
    values = _money_values(q)
    return max(values, key=lambda x: x[0]) if values else None


def _smallest_money(q: object) -> Decimal | None:
    values = _money_values(q)
    return min(v for v, _ in values) if values else None


def _same_counter(a: Any, b: Any) -> bool:
    """Whether two deductibles or caps have the same default identity (AST equality ignores
    spans)."""
    return type(a) is type(b) and a.period == b.period and a.each == b.each and a.when == b.when


def _numeric_literals(node):
    """Every money, percent, points and number literal inside ``node``, in no set order."""
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, (n.MoneyLit, n.PercentLit, n.PointsLit, n.NumberLit)):
            yield x
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, n.Node):
            stack.extend(getattr(x, f.name) for f in attrs.fields(type(x)) if f.name != "span")


def _names_in(node: object) -> set[str]:
    """Every name used anywhere inside ``node`` (AST nodes, tuples, lists)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, n.Name):
            out.add(x.value)
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, n.Node):
            stack.extend(getattr(x, f.name) for f in attrs.fields(type(x)) if f.name != "span")
    return out


# Statements a version makes once (C405 on a second)
ONCE_IN_VERSION = (
    n.Covers,
    n.DesignatedOnly,
    n.Ratio,
    n.Relations,
    n.Exclude,
    n.RatioFloor,
    n.RatioCeiling,
)

# The enumeration values a statement lists: (its field, the enumeration), in order
STMT_ENUMS: dict[type, tuple[tuple[str, str], ...]] = {
    n.Covers: (("categories", "category"),),
    n.Relations: (("relations", "relation"),),
    n.Allow: (("items", "item"), ("venues", "venue"), ("relations", "relation")),
    n.Planned: (("items", "item"), ("venues", "venue"), ("relations", "relation")),
    n.Exclude: (("items", "item"),),
    n.Channel: (("channels", "channel"),),
}

# Each statement of a version, by type, once it is known to belong to its section (a fund
# block is checked with the section: funds.check_section_funds)
STMT_CHECKS: dict[type, Callable[[Checker, Any, dict], None]] = {
    **{cls: Checker.check_enum_lists for cls in STMT_ENUMS},
    **{
        cls: Checker.check_pooling_statement
        for cls in (n.Deductible, n.Cap, n.CostCap, n.Ratio, n.Uplift)
    },
    n.Reduction: Checker.check_reduction,
    n.RatioFloor: Checker.check_ratio_bound,
    n.RatioCeiling: Checker.check_ratio_bound,
    n.CreditRule: Checker.check_credit_rule,
}

# What every version of a section of this kind needs, after its statements
VERSION_CHECKS: dict[str, Callable[[Checker, n.Version], None]] = {
    "pooling": Checker.check_pooling_version,
    "account_use": Checker.check_account_use_version,
}

# Each kind of condition, by type
COND_CHECKS: dict[type, Callable[[Checker, Any, dict], None]] = {
    n.And: Checker.check_both,
    n.Or: Checker.check_both,
    n.Not: Checker.check_not,
    n.Flag: Checker.check_flag,
    n.Member: Checker.check_member,
    n.MemberOf: Checker.check_member_of,
    n.Compare: Checker.check_compare,
}

# Whether a declaration may stand where it is, by type: once in a policy, under a name of its
# own (the first step of ``Checker.check_decls``)
DECL_ONCE: dict[type, Callable[[Checker, Any, _Declared], None]] = {
    **{cls: Checker.once_single for cls in SINGLE_DECLS},
    n.Section: Checker.once_section,
    n.SettingDecl: Checker.once_setting,
    n.ParamDecl: Checker.once_param_or_input,
    n.InputDecl: Checker.once_param_or_input,
    n.TierDecl: Checker.once_name,
    n.Diseases: Checker.once_name,
}

# Each declaration's own checks, by type (the second step of ``Checker.check_decls``); the
# sections, disease catalogues, constraints and examples are checked after all of these
DECL_CHECKS: dict[type, Callable[[Checker, Any], None]] = {
    n.LevelDecl: Checker.check_level_decl,
    n.BillSplit: Checker.check_bill_split,
    n.DocumentDecl: Checker.check_document_date,
    n.ParamDecl: Checker.check_param_decl,
    n.InputDecl: Checker.check_input_decl,
    n.TierDecl: Checker.check_tier_decl,
    n.RoundingDecl: Checker.check_rounding_decl,
    n.EnumDecl: Checker.check_cited_decl,
    n.CodeList: Checker.check_cited_decl,
    n.SettingDecl: Checker.check_setting_decl,
}


def check(scope: Scope) -> list[Diagnostic]:
    return Checker(scope).run()
