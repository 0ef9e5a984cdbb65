"""Several funds in one policy: the checks of ``fund`` blocks.

A pooling version may declare further funds after its own (the pooling fund, ``hifp``):

    fund hifob "大额医疗费用补助" above_cap cite 三(二) "..." {
      deductible 6000 yuan per year cite 三(二)
      ratio 80% cite 三(二)
      cap 20000 yuan per year cite 三(二)
    }

The fund's deductible is where its band of the year's in-policy costs starts; it pays its
ratio of the in-policy costs above that, up to its own cap, with its own counters.  A fund
not marked ``above_cap`` pays alongside the pooling fund (e.g. a civil servants' subsidy).  Funds
settle in the order written, after the pooling fund.  What is checked here (the statements
inside a fund are checked as the pooling statements are):

- the fund is one the platform names (``vocab.FUNDS``), not the pooling fund itself, and
  declared once per version (N101, N102);
- a fund has a ratio (S603); ``reduce``, ``ratio at_least`` and ``ratio at_most`` are the
  pooling fund's only (S602 in a fund block, where a cut is a negative uplift);
- a fund marked ``above_cap`` (the notice: 超过统筹基金最高支付限额以上的部分) starts its band
  where the pooling fund's annual cap is reached: at the lowest ratio the
  pooling version can apply, the pooling fund has paid its cap once the year's in-policy
  costs reach deductible + cap / ratio; a band starting before that lets both funds pay on
  the same costs (C430); one starting a fen or more after it leaves costs that neither fund
  shares (C431, a warning).  The ratios count every uplift and reduction, then the floor and
  the ceiling.  Checked when the amounts, ratios, points and bounds are literal;
- a fund not marked ``above_cap`` pays on the same costs as the pooling fund: their highest
  ratios together stay within 100% (C433);
- a counter's name stands for one fund's counter (C432);
- an example expects a fund's field only when the policy declares the fund (N101).
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from . import nodes as n
from . import vocab as V
from .diagnostics import Diagnostic, Related

if TYPE_CHECKING:  # pragma: no cover
    from .check import Checker
    from .resolve import Scope

HUNDRED = Decimal(100)


def declared_funds(version: n.Version) -> list[n.Fund]:
    return [st for st in version.body if isinstance(st, n.Fund)]


# ---- checks ---------------------------------------------------------------------------


def check_section_funds(ck: "Checker", s: n.Section, fields: dict) -> None:
    """Every fund block of a pooling section (elsewhere a fund is S602)."""
    if s.kind != "pooling":
        return
    for v in s.versions:
        check_funds(ck, v, fields)
    check_fund_counter_names(ck, s)


def check_funds(ck: "Checker", v: n.Version, fields: dict) -> None:
    """Every fund block of one pooling version (see the module's docstring)."""
    seen: dict[str, n.Fund] = {}
    for fund in declared_funds(v):
        if not _known_fund(ck, fund):
            continue
        first = seen.setdefault(fund.name.value, fund)
        if first is not fund:
            ck.emit(
                "N102",
                fund.name.span,
                kind="fund",
                kind_zh="基金",
                name=fund.name.value,
                first=str(first.name.span),
            )
            continue
        _check_body(ck, fund, fields)
        if fund.above_cap:
            _check_band(ck, v, fund)
    _check_alongside(ck, v)


def _known_fund(ck: "Checker", fund: n.Fund) -> bool:
    name = fund.name.value
    others = [k for k in V.FUNDS if k != V.POOLING_FUND]
    if name in others:
        return True
    own = name == V.POOLING_FUND
    ck.unknown(
        fund.name,
        "fund",
        "基金",
        () if own else others,
        hint=(
            "hifp is the pooling fund this section settles itself; a further fund is one of: "
            if own
            else "a further fund is one the platform names: "
        )
        + ", ".join(others),
        hint_zh=(
            "hifp 即本统筹章节结算的统筹基金;其他基金为:" if own else "其他基金须为平台所列之一:"
        )
        + "、".join(others),
    )
    return False


def _check_body(ck: "Checker", fund: n.Fund, fields: dict) -> None:
    ratio: n.Ratio | None = None
    for st in fund.body:
        if type(st) in POOLING_ONLY:
            _pooling_only(ck, st)
            continue
        what, what_zh = STMT_WHAT[type(st)]
        ck.need_cite(st, st.cite)
        ck.check_fund_statement(st, what, what_zh, fields)
        if isinstance(st, n.Deductible) and st.ceiling is not None:
            _refuse(
                ck,
                st.ceiling.span,
                ("a total on the deductibles (total_at_most)", "起付标准累计上限(累计不超过)"),
                ("a per-visit deductible of the pooling fund", "统筹基金的每次起付标准"),
            )
        if isinstance(st, n.Ratio) and isinstance(st.amount, n.Bands):
            _refuse(  # a fund pays one ratio of its band; bands are the pooling fund's
                ck,
                st.amount.span,
                ("a ratio banded by accumulated spending", "按累计金额分段的支付比例"),
                (
                    "the pooling fund's ratio (a fund block pays one ratio, or a ratio table)",
                    "统筹基金的支付比例(基金块只支付一个比例,或使用比例表)",
                ),
            )
        if isinstance(st, n.Ratio):
            if ratio is not None:
                ck.emit("C405", st.span, what=what, what_zh=what_zh, first=str(ratio.span))
            ratio = ratio or st
    ck.check_counters(fund)  # type: ignore[arg-type]  # reads .body only
    if ratio is None:
        ck.emit(
            "S603",
            fund.span,
            where=f"the fund {fund.name.value}",
            where_zh=f"基金 {fund.name.value}",
            what="a payment ratio",
            what_zh="支付比例",
            hint="say what share of the costs in its band the fund pays: ratio 80%",
            hint_zh="请写明该基金对其分段内费用的支付比例:支付比例 80%",
        )


# the pooling fund's statements a fund block refuses (S602): what each is, and where it goes
_AROUND = ("the pooling version around the fund block", "基金块所在的统筹版本")
POOLING_ONLY = {
    n.Reduction: (
        "a reduction (reduce)",
        "降低支付比例(降低)",
        _AROUND[0] + " (in a fund block, a cut is a negative uplift: uplift -5 points when ...)",
        _AROUND[1] + "(基金块内的降低请写作负的提高:提高 -5 个百分点 当 ...)",
    ),
    n.RatioFloor: ("a floor on the ratio (ratio at_least)", "支付比例下限(不低于)", *_AROUND),
    n.RatioCeiling: ("a ceiling on the ratio (ratio at_most)", "支付比例上限(不高于)", *_AROUND),
}


def _pooling_only(ck: "Checker", st: n.Stmt) -> None:
    """``reduce`` and the ratio's bounds belong to the pooling fund (a fund block's cut is a
    negative uplift)."""
    what, what_zh, allowed, allowed_zh = POOLING_ONLY[type(st)]
    _refuse(ck, st.span, (what, what_zh), (allowed, allowed_zh))


def _refuse(
    ck: "Checker", span: n.Span | None, what: tuple[str, str], allowed: tuple[str, str]
) -> None:
    """S602: ``what`` (en, zh) is not allowed in a fund block; ``allowed`` says where it goes."""
    ck.emit(
        "S602",
        span,
        what=what[0],
        what_zh=what[1],
        section="fund",
        section_zh="基金",
        allowed=allowed[0],
        allowed_zh=allowed[1],
    )


STMT_WHAT = {
    n.Deductible: ("the fund's deductible", "基金起付标准"),
    n.Cap: ("the fund's cap", "基金最高支付限额"),
    n.Ratio: ("the fund's payment ratio", "基金支付比例"),
    n.Uplift: ("the fund's uplift", "基金提高比例"),
}


# ---- where the fund's band starts, against where the pooling cap is reached ------------


def _yearly_money(
    stmts: Iterable[object], cls: type[n.Deductible] | type[n.Cap]
) -> list[Decimal] | None:
    """The literal amounts of the unconditional yearly statements of ``cls`` (None: one is
    a parameter or a table, so nothing can be proved)."""
    out = []
    for st in stmts:
        if not isinstance(st, (n.Deductible, n.Cap)) or not isinstance(st, cls):
            continue
        if st.when is not None or st.period.value != "year":
            continue
        if not isinstance(st.amount, n.MoneyLit):
            return None
        out.append(st.amount.amount)
    return out


def _ratio_values(stmts: Iterable[object]) -> list[Decimal] | None:
    """The percentages the ``ratio`` statement among ``stmts`` can give (None: not literal)."""
    ratio = next((st for st in stmts if isinstance(st, n.Ratio)), None)
    amount = ratio.amount if ratio is not None else None
    if isinstance(amount, n.PercentLit):
        return [amount.value]
    if isinstance(amount, n.Table):
        cells = [r.value for r in amount.rows]
        if cells and all(isinstance(x, n.PercentLit) for x in cells):
            return [x.value for x in cells if isinstance(x, n.PercentLit)]
    return None


def _uplift_points(stmts: Iterable[object]) -> list[Decimal] | None:
    """The signed points of every uplift and reduction (a reduction's are negative); None
    when one is a parameter, so nothing can be proved."""
    out = []
    for st in stmts:
        if not isinstance(st, (n.Uplift, n.Reduction)):
            continue
        if not isinstance(st.points, n.PointsLit):
            return None
        out.append(st.points.value if isinstance(st, n.Uplift) else -st.points.value)
    return out


def _bounded(value: Decimal, stmts: Iterable[object]) -> Decimal | None:
    """A ratio in percent after the floor and the ceiling among ``stmts`` (None: a bound is
    a parameter)."""
    for st in stmts:
        if not isinstance(st, (n.RatioFloor, n.RatioCeiling)):
            continue
        if not isinstance(st.value, n.PercentLit):
            return None
        pick = max if isinstance(st, n.RatioFloor) else min
        value = pick(value, st.value.value)
    return value


def _lowest_ratio(v: n.Version) -> Decimal | None:
    """The lowest ratio the pooling version can apply, as a fraction: the lowest of its
    values with every cut (a negative uplift) applied; None when it is not literal."""
    values = _ratio_values(v.body)
    points = _uplift_points(v.body)
    if values is None or points is None:
        return None
    cuts = sum((x for x in points if x < 0), Decimal(0))
    # a floor is applied before a ceiling; both are monotone, so the lowest stays the lowest
    low = _bounded(max(min(values) + cuts, Decimal(0)), [st for st in v.body if _floor(st)])
    low = _bounded(low, [st for st in v.body if not _floor(st)]) if low is not None else None
    return low / HUNDRED if low is not None and low > 0 else None


def _floor(st: object) -> bool:
    return isinstance(st, n.RatioFloor)


def _band_facts(v: n.Version, fund: n.Fund) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
    """(pooling deductible, pooling cap, lowest ratio, fund band start) or None."""
    ded = _yearly_money(v.body, n.Deductible)
    caps = _yearly_money(v.body, n.Cap)
    start = _yearly_money(fund.body, n.Deductible)
    low = _lowest_ratio(v)
    if ded is None or not caps or start is None or low is None:
        return None
    return sum(ded, Decimal(0)), min(caps), low, sum(start, Decimal(0))


FEN = Decimal("0.01")


def _check_band(ck: "Checker", v: n.Version, fund: n.Fund) -> None:
    """Where the pooling fund has paid its cap for a person whose visits all get the
    lowest ratio -- the latest point, d1 + cap / ratio -- the fund's band must start: before
    it both funds could pay on the same costs (C430); a fen or more after it, no person's
    costs run on from one fund to the other (C431).  Compared exactly: (d2 - d1) x ratio
    against the cap."""
    facts = _band_facts(v, fund)
    if facts is None:
        return
    d1, cap, low, d2 = facts
    span = next((st.span for st in fund.body if isinstance(st, n.Deductible)), fund.name.span)
    reached = (d1 + cap / low).quantize(FEN, rounding=ROUND_UP)
    args = {"fund": fund.name.value, "start": f"{d2}", "reached": f"{reached}"}
    related = (Related(v.span, "the pooling fund's version", "统筹基金所在版本"),)
    if (d2 - d1) * low < cap:
        ck.diags.append(Diagnostic("C430", span, args, related))
    elif (d2 - d1 - FEN) * low >= cap:
        ck.diags.append(Diagnostic("C431", span, args, related))


# ---- funds that pay alongside the pooling fund ------------------------------------------


def _highest_ratio(stmts: Iterable[object]) -> Decimal | None:
    """The highest ratio the statements can apply, every raise (a positive uplift) added, as
    a fraction; None when it is not literal."""
    stmts = list(stmts)
    values = _ratio_values(stmts)
    points = _uplift_points(stmts)
    if values is None or points is None:
        return None
    raises = sum((x for x in points if x > 0), Decimal(0))
    high = _bounded(max(values) + raises, [st for st in stmts if _floor(st)])
    high = _bounded(high, [st for st in stmts if not _floor(st)]) if high is not None else None
    return high / HUNDRED if high is not None else None


def _check_alongside(ck: "Checker", v: n.Version) -> None:
    """Funds not marked ``above_cap`` may pay on the same costs as the pooling fund: their
    highest ratios together must not pass 100%, or the funds could pay more than the costs
    (C433).  Checked when every ratio involved is literal."""
    alongside = [f for f in declared_funds(v) if not f.above_cap and f.name.value in V.FUNDS]
    if not alongside:
        return
    highs = [_highest_ratio(v.body), *(_highest_ratio(f.body) for f in alongside)]
    known = [h for h in highs if h is not None]
    if len(known) < len(highs):
        return
    total = sum(known, Decimal(0))
    if total > 1:
        names = ", ".join(f.name.value for f in alongside)
        ck.diags.append(
            Diagnostic(
                "C433",
                alongside[-1].span,
                {"funds": names, "total": f"{(total * HUNDRED).normalize():f}%"},
                (Related(v.span, "the pooling fund's version", "统筹基金所在版本"),),
            )
        )


# ---- counters belong to one fund --------------------------------------------------------


def _named(stmts: Iterable[object], fund: str) -> Iterator[tuple[n.Name, str]]:
    for st in stmts:
        if isinstance(st, (n.Deductible, n.Cap)) and st.name is not None:
            yield st.name, fund
        elif isinstance(st, n.Fund):
            yield from _named(st.body, st.name.value)


def check_fund_counter_names(ck: "Checker", s: n.Section) -> None:
    """A counter's name stands for one fund's counter in every version (C432)."""
    owner: dict[str, tuple[n.Name, str]] = {}
    for v in s.versions:
        for name, fund in _named(v.body, V.POOLING_FUND):
            first, first_fund = owner.setdefault(name.value, (name, fund))
            if first_fund != fund:
                ck.diags.append(
                    Diagnostic(
                        "C432",
                        name.span,
                        {"name": name.value, "fund": fund, "other": first_fund},
                        (Related(first.span, "the other fund's counter", "另一基金的计数器"),),
                    )
                )


# ---- results -----------------------------------------------------------------------------


def declared_results(spec: dict, scope: "Scope") -> dict:
    """The result fields an example may expect: a further fund's only when the pooling
    section in force for the policy (its own or inherited) declares that fund."""
    got = scope.sections.get("pooling")
    declared = {
        V.FUNDS[f.name.value][0]
        for v in (got[0].versions if got else ())
        for f in declared_funds(v)
        if f.name.value in V.FUNDS
    }
    return {k: t for k, t in spec.items() if k not in V.FURTHER_FUND_FIELDS or k in declared}
