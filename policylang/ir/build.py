"""Lower each section's rules (``core``) into a ``Program`` of steps.

This is where the order of settlement lives: bill split, version, coverage,
designated institutions, deductibles in the order written, ratio and
adjustments (or bands), the rounding point, caps charged together, the reason
priority, totals and the personal account.  Backends execute these steps; no
backend knows the order by itself.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Iterable, cast

from .. import vocab as V
from . import core as c
from . import program as p
from .demands import fields_read
from .text import cond_text

if TYPE_CHECKING:
    from ..vocabulary import Vocabulary

ZERO = Decimal("0.00")
MONEY = V.MONEY

# The reasons a fund pays nothing after the gates, in priority order (docs/settlement.md).
FUND = "hifp_pay"


def _var(name: str, t: str = MONEY) -> p.Var:
    return p.Var(name, t)


def _eq0(name: str) -> c.Cmp:
    return c.Cmp("=", _var(name), c.Const(ZERO, MONEY))


def _gt0(name: str) -> c.Cmp:
    return c.Cmp(">", _var(name), c.Const(ZERO, MONEY))


def _sub(*names: str) -> c.Expr:
    expr: c.Expr = c.Field(names[0], MONEY)
    for n in names[1:]:
        expr = c.Arith("-", expr, c.Field(n, MONEY), MONEY)
    return expr


def counter_id(acc: c.Accumulate, section: str = "pooling", fund: str = "hifp") -> str:
    if acc.name:
        return acc.name
    out = f"{section}.{fund}.{acc.kind}.{acc.period}"
    if acc.each:
        out += f".each={acc.each}"
    if acc.when != c.TRUE:
        out += f".when={cond_text(acc.when)}"
    return out


def bands_id(b: c.Bands, section: str = "pooling", fund: str = "hifp") -> str:
    return f"{section}.{fund}.bands.{b.period}" + (f".each={b.each}" if b.each else "")


def _start_key(block: p.Block) -> tuple:
    # literal dates in order; a block dated by a parameter keeps its place after them
    return (0, block.start) if isinstance(block.start, dt.date) else (1, dt.date.min)


def _ordered(blocks: list[p.Block]) -> tuple[p.Block, ...]:
    return tuple(sorted(blocks, key=_start_key))  # stable: equal dates keep the file's order


def _code_is(field: str, codes: Iterable[str]) -> c.Cond:
    """An absent code is taken as the scheme's own (a record that does not say)."""
    return c.AnyOf((c.Negate(c.Present(field)), c.InSet(c.Field(field, V.TEXT), frozenset(codes))))


def _insutype_prov(codes: Iterable[str]) -> c.Prov:
    return c.Prov(
        "insutype",
        unstated="general outpatient pooling settles the employees' basic medical "
        f"insurance (insutype {', '.join(codes)}) only",
    )


def _med_type_prov(codes: Iterable[str]) -> c.Prov:
    return c.Prov(
        "med_type",
        unstated="general outpatient pooling applies to general outpatient visits "
        f"(med_type {', '.join(codes)})",
    )


ACCOUNT_USED = c.AnyOf(
    (
        c.Negate(c.Present("acct_used_flag")),
        c.Cmp("!=", c.Field("acct_used_flag", V.TEXT), c.Const("0", V.TEXT)),
    )
)


def coverage_cond(r: c.PoolingRules, vocab: Vocabulary) -> c.Cond:
    """``psn_type`` is covered, and a flexible-employment participant only when
    ``flexible`` is covered too."""
    psn = c.InSet(
        c.Field("psn_type", "psn_type"), frozenset(r.covers & set(vocab.values("psn_type")))
    )
    if "flexible" in r.covers:
        return psn
    return c.AllOf(
        (psn, c.Negate(c.Cmp("=", c.Field("flxempe_flag", V.BOOL), c.Const(True, V.BOOL))))
    )


# ---- settle -----------------------------------------------------------------------


def _pooling_block(
    v: c.Version, vocab: Vocabulary, rounding: c.Rounding
) -> tuple[p.Block, list[p.Counter]]:
    """A pooling version's settle block (its shares rounded by ``rounding``, the program's)
    and the counters it uses."""
    r = v.rules
    if not isinstance(r, c.PoolingRules):
        raise TypeError(r)
    counters: list[p.Counter] = []
    # which insutype and med_type codes pooling settles: the code lists marked `pooled`
    insutypes, med_types = vocab.pooled("insutype"), vocab.pooled("med_type")
    steps: list = [
        p.Gate(
            "other_scheme",
            _code_is("insutype", insutypes),
            _insutype_prov(insutypes),
            ("insutype",),
        ),
        p.Gate(
            "other_med_type",
            _code_is("med_type", med_types),
            _med_type_prov(med_types),
            ("med_type",),
        ),
        p.Gate("not_covered", coverage_cond(r, vocab), r.covers_prov, ("psn_type", "flxempe_flag")),
    ]
    if r.designated_only is not None:
        steps.append(
            p.Gate(
                "not_designated",
                c.Cmp("=", c.Field("designated", V.BOOL), c.Const(True, V.BOOL)),
                r.designated_only,
                ("designated",),
            )
        )
    steps.append(p.Let("remaining", _var("inscp_scp_amt"), None))
    steps += _cost_caps(r, counters)
    for acc in r.deductibles:
        cid = counter_id(acc)
        counters.append(p.Counter(cid, "deductible", acc.period, acc.each))
        if acc.ceiling is None:
            steps.append(
                p.Consume(cid, acc.amount, acc.when, "remaining", "act_pay_dedc", acc.prov)
            )
        else:
            steps += _deductible_with_ceiling(acc, cid, counters)
    if isinstance(r.ratio, c.Bands):
        cid = bands_id(r.ratio)
        counters.append(p.Counter(cid, "bands", r.ratio.period, r.ratio.each))
        steps.append(p.BandShare("exact", "ratio", "remaining", cid, r.ratio, r.adjustments))
        exact = "exact"
    else:
        steps.append(
            p.Ratio("ratio", r.ratio, r.adjustments, r.ratio_prov, fields_read(r.ratio), r.bounds)
        )
        exact = None
    steps.append(p.Share("hifp_raw", "remaining", "ratio", exact, rounding))
    caps = []
    for acc in r.caps:
        cid = counter_id(acc)
        counters.append(p.Counter(cid, "cap", acc.period, acc.each))
        caps.append(p.CapUse(cid, acc.amount, acc.when, acc.prov))
    steps.append(p.Limit(FUND, "hifp_raw", tuple(caps)))
    steps.append(
        p.Outcome(
            FUND,
            (
                ("no_in_policy_amount", _eq0("inscp_scp_amt")),
                *((("cost_cap_reached", _eq0(COUNTED)),) if r.cost_caps else ()),
                ("within_deductible", _eq0("remaining")),
                ("cap_reached", _gt0("hifp_raw")),
                (
                    "zero_ratio",
                    c.Cmp("=", _var("ratio", V.PERCENT), c.Const(Decimal(0), V.PERCENT)),
                ),
                ("rounds_to_zero", c.TRUE),
            ),
        )
    )
    for fund in r.funds:
        fund_steps, fund_counters = _fund_steps(fund, rounding)
        steps += fund_steps
        counters += fund_counters
    return p.Block(v.start, v.until, v.prov, tuple(steps)), counters


# variables only a program that uses them declares (so every other program is unchanged)
COUNTED = "inscp_counted"  # the in-policy amount the cost caps let count
DEDC_DUE, DEDC_KEPT = "dedc_due", "dedc_kept"  # a deductible before and after its ceiling
OPTIONAL_VARIABLES = ((COUNTED, MONEY), (DEDC_DUE, MONEY), (DEDC_KEPT, MONEY))


def _cost_caps(r: c.PoolingRules, counters: list) -> list:
    """``cost_cap``: the in-policy amount counted is cut to the room of every cost cap that
    applies (one Limit, the caps charged together with what is counted); the deductibles
    and the ratio apply to what is counted."""
    if not r.cost_caps:
        return []
    caps = []
    for acc in r.cost_caps:
        cid = counter_id(acc)
        counters.append(p.Counter(cid, "cost_cap", acc.period, acc.each))
        caps.append(p.CapUse(cid, acc.amount, acc.when, acc.prov))
    return [p.Limit(COUNTED, "remaining", tuple(caps)), p.Let("remaining", _expr(COUNTED), None)]


def ceiling_id(cid: str, top: c.Accumulate) -> str:
    return f"{cid}.total_at_most.{top.period}"


def _deductible_with_ceiling(acc: c.Accumulate, cid: str, counters: list) -> list:
    """A per-visit deductible with ``total_at_most``: the deductible due this visit
    (Consume), cut to the ceiling's room (Limit, the ceiling charged what is kept); what the
    ceiling waives goes back to the amount the ratio applies to.  The deductible's counter is
    per visit (the checker requires it), so nothing it records outlives the visit."""
    top = acc.ceiling
    assert top is not None
    tid = ceiling_id(cid, top)
    counters.append(p.Counter(tid, "ceiling", top.period, None))
    zero = c.Const(ZERO, MONEY)
    back = c.Arith("+", _expr("remaining"), _expr(DEDC_DUE), MONEY)
    return [
        p.Let(DEDC_DUE, zero, None),
        p.Consume(cid, acc.amount, acc.when, "remaining", DEDC_DUE, acc.prov),
        p.Limit(DEDC_KEPT, DEDC_DUE, (p.CapUse(tid, top.amount, top.when, top.prov),)),
        p.Let("remaining", c.Arith("-", back, _expr(DEDC_KEPT), MONEY), None),
        p.Let("act_pay_dedc", c.Arith("+", _expr("act_pay_dedc"), _expr(DEDC_KEPT), MONEY), None),
    ]


def _expr(name: str) -> c.Expr:
    """A program variable where core's expressions stand (the program layer adds ``Var``)."""
    return cast(c.Expr, _var(name))


# ---- further funds ------------------------------------------------------------------------


def fund_vars(name: str) -> dict[str, str]:
    """The program variables of a further fund ``name`` (e.g. hifob): its base, what its
    deductible took, its ratio, its share before and after its caps (``hifob_pay``)."""
    return {
        "base": f"{name}_base",
        "dedc": f"{name}_dedc",
        "ratio": f"{name}_ratio",
        "raw": f"{name}_raw",
        "pay": V.FUNDS[name][0],
    }


def _fund_steps(f: c.FundRules, rounding: c.Rounding) -> tuple[list, list[p.Counter]]:
    """A further fund: the year's in-policy costs above its deductible (its own counter),
    times its ratio, rounded, limited by its caps (its own counters).  No reason: the
    result's reason is the pooling fund's."""
    x = fund_vars(f.name)
    counters: list[p.Counter] = []
    steps: list = [p.Let(x["base"], _expr("inscp_scp_amt"), None)]
    for acc in f.deductibles:
        cid = counter_id(acc, fund=f.name)
        counters.append(p.Counter(cid, "deductible", acc.period, acc.each))
        steps.append(p.Consume(cid, acc.amount, acc.when, x["base"], x["dedc"], acc.prov))
    if isinstance(f.ratio, c.Bands):
        # a further fund has no banded share yet, and the checker does not refuse one either
        # (a known gap, reported with #10): say so rather than lower a wrong program
        raise TypeError(f"fund {f.name}: a banded ratio is not supported in a fund")
    steps.append(p.Ratio(x["ratio"], f.ratio, f.adjustments, f.ratio_prov, fields_read(f.ratio)))
    steps.append(p.Share(x["raw"], x["base"], x["ratio"], None, rounding))
    caps = []
    for acc in f.caps:
        cid = counter_id(acc, fund=f.name)
        counters.append(p.Counter(cid, "cap", acc.period, acc.each))
        caps.append(p.CapUse(cid, acc.amount, acc.when, acc.prov))
    steps.append(p.Limit(x["pay"], x["raw"], tuple(caps)))
    return steps, counters


def declared_funds(policy: c.Policy) -> tuple[str, ...]:
    """The further funds any pooling version declares, in the platform's order."""
    section = policy.sections.get("pooling")
    names = {f.name for v in (section.versions if section else ()) for f in v.rules.funds}
    return tuple(k for k in V.FUNDS if k in names)


def _fund_variables(funds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name in funds:
        x = fund_vars(name)
        out += [(x["base"], MONEY), (x["dedc"], MONEY), (x["ratio"], V.PERCENT)]
        out += [(x["raw"], MONEY), (x["pay"], MONEY)]
    return tuple(out)


def _fund_total(funds: tuple[str, ...]) -> p.Let:
    """``fund_pay_sumamt`` is the sum of the funds' payments (the pooling fund's alone when
    the policy declares no other: the step every existing policy has)."""
    names = (FUND, *(fund_vars(f)["pay"] for f in funds))
    expr = _expr(FUND)
    for name in names[1:]:
        expr = c.Arith("+", expr, _expr(name), MONEY)
    return p.Let("fund_pay_sumamt", expr, c.Prov("computed"), " + ".join(names))


VENUE_OF_VISIT = c.Decide(
    (
        c.Arm(
            c.Cmp("=", c.Field("designated", V.BOOL), c.Const(True, V.BOOL)),
            c.Const("designated_institution", "venue"),
            c.Prov("designated institution"),
        ),
        c.Arm(c.TRUE, c.Const("non_designated", "venue"), c.Prov("not a designated institution")),
    ),
    "venue",
)


def settle_program(policy: c.Policy) -> p.Program:
    section = policy.sections.get("pooling")
    rounding = policy.rounding or DEFAULT_ROUNDING
    prelude = (bill_split(policy),)
    blocks, counters = [], []
    seen: dict[str, p.Counter] = {}
    for v in section.versions if section else ():
        block, cs = _pooling_block(v, policy.vocab, rounding)
        blocks.append(block)
        for ctr in cs:
            seen.setdefault(ctr.id, ctr)
    counters = list(seen.values())
    covers = policy.settings.get("account_covers")
    payable: c.Expr | None
    if covers is None:
        payable, acct_prov = None, None
    elif covers[0] == "person_share":
        payable, acct_prov = _var("psn_part_amt"), covers[1]
    else:  # in_policy_selfpay
        payable = c.Arith(
            "-",
            c.Arith("-", _var("psn_part_amt"), c.Field("fulamt_ownpay_amt", MONEY), MONEY),
            c.Field("overlmt_selfpay", MONEY),
            MONEY,
        )
        acct_prov = covers[1]
    funds = declared_funds(policy)
    postlude = (
        _fund_total(funds),
        p.Let(
            "psn_part_amt",
            c.Arith("-", c.Field("medfee_sumamt", MONEY), _var("fund_pay_sumamt"), MONEY),
            c.Prov("computed"),
            "medfee_sumamt - fund_pay_sumamt",
        ),
        p.AccountPay(
            "acct_pay",
            "balc",
            payable,
            ACCOUNT_USED,
            (
                ("relation", c.Const("self", "relation")),
                ("item", c.Const("medical_service", "item")),
                ("venue", VENUE_OF_VISIT),
                ("networked", c.Const(True, V.BOOL)),
            ),
            acct_prov,
        ),
        p.Let(
            "psn_cash_pay",
            c.Arith("-", _var("psn_part_amt"), _var("acct_pay"), MONEY),
            c.Prov("computed"),
            "psn_part_amt - acct_pay",
        ),
    )
    used = {ctr.kind for ctr in counters}
    extra = (() if "cost_cap" not in used else OPTIONAL_VARIABLES[:1]) + (
        () if "ceiling" not in used else OPTIONAL_VARIABLES[1:]
    )
    variables = tuple(
        (name, t, None if t == V.PERCENT or name == "balc" else ZERO)
        for name, t in SETTLE_VARIABLES + extra + _fund_variables(funds)
    )
    otherwise = (p.Gate("not_in_force", c.AnyOf(()), None, ("setl_time",)),)
    return p.Program(
        "settle",
        "pooling" if section else None,
        variables,
        tuple(counters),
        prelude,
        _ordered(blocks),
        otherwise,
        postlude,
        "setl_time",
    )


DEFAULT_BILL_SPLIT = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")


def bill_split(policy: c.Policy) -> p.Let:
    """``inscp_scp_amt := medfee_sumamt - each part that leaves the in-policy amount``: the
    parts the policy declares (``in_policy excludes``), else the platform's three."""
    parts, prov = policy.bill_split or (DEFAULT_BILL_SPLIT, c.Prov("bill split"))
    return p.Let(
        "inscp_scp_amt",
        _sub("medfee_sumamt", *parts),
        prov,
        " - ".join(("medfee_sumamt", *parts)),
    )


# every variable of the settle program: (name, type); money starts at 0.00, the ratio unknown
SETTLE_VARIABLES = (
    ("inscp_scp_amt", MONEY),
    ("remaining", MONEY),
    ("act_pay_dedc", MONEY),
    ("ratio", V.PERCENT),
    ("exact", MONEY),
    ("hifp_raw", MONEY),
    (FUND, MONEY),
    ("fund_pay_sumamt", MONEY),
    ("psn_part_amt", MONEY),
    ("acct_pay", MONEY),
    ("balc", MONEY),
    ("psn_cash_pay", MONEY),
)


DEFAULT_ROUNDING = c.Rounding(
    "half_up", Decimal("0.01"), c.Prov("rounding", unstated="no rounding declared")
)


# ---- credit -----------------------------------------------------------------------


def credit_program(policy: c.Policy) -> p.Program:
    section = policy.sections.get("crediting")
    rounding = policy.rounding or DEFAULT_ROUNDING
    blocks = [
        p.Block(v.start, v.until, v.prov, (p.CreditRules(v.rules.rules, rounding),))
        for v in (section.versions if section else ())
    ]
    return p.Program(
        "credit", "crediting" if section else None, (), (), (), _ordered(blocks), (), (), "on"
    )


# ---- may-pay ----------------------------------------------------------------------


def _in(field: str, values: Iterable[str], t: str) -> c.Cond:
    return c.InSet(c.Field(field, t), frozenset(values))


def _permission_cond(perm: c.Permission) -> c.Cond:
    parts = [_in("item", perm.items, "item")]
    if perm.relations is not None:
        parts.append(_in("relation", perm.relations, "relation"))
    if perm.venues is not None:
        parts.append(_in("venue", perm.venues, "venue"))
    return c.AllOf(tuple(parts))


NETWORKED = c.Cmp("=", c.Field("networked", V.BOOL), c.Const(True, V.BOOL))
CHANNEL = c.Decide(
    (
        c.Arm(NETWORKED, c.Const("direct", "channel"), c.Prov("direct")),
        c.Arm(c.TRUE, c.Const("reimbursement", "channel"), c.Prov("reimbursement")),
    ),
    "channel",
)


def _account_verdicts(r: c.AccountRules, vocab: Vocabulary) -> tuple[p.Verdict, ...]:
    out = [
        p.Verdict(_in("item", r.excludes, "item"), False, "excluded", r.excludes_prov),
        p.Verdict(
            c.Negate(_in("relation", r.relations, "relation")),
            False,
            "relation_not_eligible",
            r.relations_prov,
            args=(("relations", ", ".join(sorted(r.relations))),),
        ),
    ]
    for perm in r.planned:
        out.append(p.Verdict(_permission_cond(perm), False, "planned", perm.prov))
    venue_prov = next((a.prov for a in r.allows if a.venues), r.relations_prov)
    contributions = frozenset(i for i in vocab.values("item") if i.endswith("_contribution"))
    out.append(
        p.Verdict(
            c.AllOf(
                (
                    c.Negate(_in("item", contributions, "item")),
                    c.Cmp("=", c.Field("venue", "venue"), c.Const("non_designated", "venue")),
                )
            ),
            False,
            "not_designated",
            venue_prov,
        )
    )
    channels = {name for name, _ in r.channels}
    for perm in r.allows:
        cond = _permission_cond(perm)
        if channels:
            for want, when in (("direct", NETWORKED), ("reimbursement", c.Negate(NETWORKED))):
                if want not in channels:
                    out.append(
                        p.Verdict(
                            c.AllOf((cond, when)),
                            False,
                            "no_channel",
                            perm.prov,
                            args=(("channel", want),),
                        )
                    )
        out.append(p.Verdict(cond, True, "permitted", perm.prov, CHANNEL))
    # nothing allows it: blame the allow statement for that venue, if any
    for venue in vocab.values("venue"):
        at = next((a.prov for a in r.allows if a.venues and venue in a.venues), venue_prov)
        out.append(
            p.Verdict(
                c.Cmp("=", c.Field("venue", "venue"), c.Const(venue, "venue")),
                False,
                "item_not_allowed",
                at,
            )
        )
    out.append(p.Verdict(c.TRUE, False, "item_not_allowed", r.relations_prov))
    return tuple(out)


def may_pay_program(policy: c.Policy) -> p.Program:
    section = policy.sections.get("account_use")
    blocks = [
        p.Block(v.start, v.until, v.prov, (p.Decision(_account_verdicts(v.rules, policy.vocab)),))
        for v in (section.versions if section else ())
    ]
    return p.Program(
        "may_pay",
        "account_use" if section else None,
        (),
        (),
        (),
        _ordered(blocks),
        (),
        (),
        "on",
        optional=("venue",),
    )


def build(policy: c.Policy) -> dict[str, p.Program]:
    return {
        "settle": settle_program(policy),
        "credit": credit_program(policy),
        "may_pay": may_pay_program(policy),
    }
