"""The program layer of the IR: how each kind of evaluation executes.

A ``Program`` is an immutable list of steps over named variables and declared
counters.  It holds every settlement rule -- the order of the steps, the bill
split, the coverage gates and their reasons, deductibles consumed in sequence,
ratios with their adjustments, bands, the rounding point, caps charged
together, the reasons in priority order, which ledger key a counter uses, the
account payment -- so that a backend is a handler per step type and nothing
more.  ``backends/reference.py`` is the plain interpreter every other backend
is tested against.

Variables hold money (yuan, two places), ratios (fractions) or values of the
record's fields.  A step reads variables, fields and parameters through the
expressions of ``core`` plus ``Var``; it writes the variables it names.

Adding a statement: lower it in ``compiler`` / ``ir.build`` to existing steps,
or add a step class here and one handler per backend (each backend keeps a
dispatch table keyed by step class; a missing handler fails at import time in
the backend's self-check test).
"""

from __future__ import annotations

import datetime as dt
from typing import Union

import attrs

from .core import Adjust, Bands, Cond, Expr, Prov, RatioBound, Rounding, Value
from .core import Var as Var  # a program variable: defined with the expressions it extends

# ---- counters ---------------------------------------------------------------------


@attrs.frozen
class Counter:
    """An amount a person uses up over a period: a deductible, a cap, the
    accumulation a banded ratio is measured on.

    ``id`` is the counter's identity: the name the policy gives it (``named``),
    or by default ``section.fund.kind.period[.each=FIELD][.when=CONDITION]``.
    What was used this period carries from one version to the next by identity.
    The ledger key of a counter for a visit is ``(psn_no, id, bucket, each value)``
    where bucket is the year, (year, month), the date, or the visit itself."""

    id: str
    kind: str  # deductible | cap | bands
    period: str  # year | month | day | visit
    each: str | None = None


# ---- expressions over program variables -------------------------------------------


# ---- steps ------------------------------------------------------------------------


@attrs.frozen
class Let:
    """``var := expr``."""

    var: str
    expr: Expr
    prov: Prov | None  # None: an intermediate value, not shown in the trace
    formula: str | None = None  # shown in the trace, e.g. "medfee_sumamt - fund_pay_sumamt"


@attrs.frozen
class Gate:
    """Unless ``cond`` holds, the fund pays nothing for this visit, for ``reason``:
    the rest of the version's steps are skipped (no counter is touched)."""

    reason: str
    cond: Cond
    prov: Prov | None  # None: no rule is in force (the trace says so)
    reads: tuple[str, ...]  # the fields shown in the trace


@attrs.frozen
class Consume:
    """A deductible: ``take = max(0, min(base, amount - used))``; ``base -= take``;
    ``out += take``; the counter is charged ``take``.  Skipped unless ``when`` holds."""

    counter: str
    amount: Value
    when: Cond
    base: str
    out: str
    prov: Prov


@attrs.frozen
class Ratio:
    """``out := value + the points of every adjustment whose condition holds`` (in
    order); a result outside 0..1 is an error in the record (only a parameter can
    cause it: the checker proves literal ratios).  Then each bound in order: a floor
    raises the ratio to it, a ceiling lowers it to it (the trace shows a bound that
    changed the ratio)."""

    out: str
    value: Value
    adjustments: tuple[Adjust, ...]
    prov: Prov
    reads: tuple[str, ...]  # the fields the ratio table reads (shown in the trace)
    # (written in the IR only when there are some: a policy without bounds keeps its hash)
    bounds: tuple[RatioBound, ...] = attrs.field(default=(), metadata={"omit_default": True})


@attrs.frozen
class BandShare:
    """A ratio banded by what has accumulated in the counter: the part of ``base``
    that falls in each band gets that band's ratio (plus adjustments).
    ``exact := sum(part × ratio)`` unrounded; ``ratio :=`` the ratio of the band
    the visit ends in; the counter is charged ``base``."""

    exact: str
    ratio: str
    base: str
    counter: str
    bands: Bands
    adjustments: tuple[Adjust, ...]


@attrs.frozen
class Share:
    """``out := round(exact)`` where ``exact = base × ratio`` (or the variable
    ``exact`` when a previous step computed it, for bands)."""

    out: str
    base: str
    ratio: str
    exact: str | None
    rounding: Rounding


@attrs.frozen
class CapUse:
    counter: str
    amount: Value
    when: Cond
    prov: Prov


@attrs.frozen
class Limit:
    """Caps charged together: ``out := min(value, room of every cap that applies)``,
    then every applicable cap is charged ``out``."""

    out: str
    value: str
    caps: tuple[CapUse, ...]


@attrs.frozen
class Outcome:
    """When the fund pays nothing (``fund`` is 0) the first reason whose condition
    (over variables) holds is the result's reason; otherwise there is none."""

    fund: str
    reasons: tuple[tuple[str, Cond], ...]


@attrs.frozen
class AccountPay:
    """The personal account pays ``min(balance, max(0, payable))`` when the
    account-use program permits ``request`` (evaluated like ``may-pay``); the
    balance is the record's ``acct_balc`` if given, else the person's balance after
    their previous visit.  ``payable`` None: the policy declares no
    ``account_covers``, and the account pays nothing."""

    out: str
    balance: str
    payable: Expr | None
    used: Cond  # the record lets the account be used (acct_used_flag is not "0")
    request: tuple[tuple[str, Value], ...]  # relation, item, venue, networked
    prov: Prov | None


@attrs.frozen
class CreditRules:
    """The first rule whose condition holds credits its amount, rounded."""

    rules: tuple  # of core.CreditRule
    rounding: Rounding


@attrs.frozen
class Verdict:
    when: Cond
    allowed: bool
    reason: str
    prov: Prov | None
    channel: Value | None = None
    args: tuple[tuple[str, str], ...] = ()  # for the message


@attrs.frozen
class Decision:
    """The first verdict whose condition holds decides (account use)."""

    verdicts: tuple[Verdict, ...]


Step = Union[
    Let, Gate, Consume, Ratio, BandShare, Share, Limit, Outcome, AccountPay, CreditRules, Decision
]

# ---- programs ---------------------------------------------------------------------


@attrs.frozen
class Block:
    """The steps of one dated version.  ``start``/``until`` are dates or the names
    of date parameters; ``until`` is inclusive."""

    start: dt.date | str
    until: dt.date | str | None
    prov: Prov | None
    steps: tuple[Step, ...]


@attrs.frozen
class Program:
    """One kind of evaluation (``settle``, ``credit``, ``may_pay``).

    Execution of a record: run ``prelude``; choose the block in force on the
    record's date -- among the blocks whose dates contain it, the one with the
    latest start (blocks are ordered by start date; for literal dates the checker
    proves at most one is in force); run its steps (a failing ``Gate`` ends the
    block), or, when none is in force, record the reason ``not_in_force``; run
    ``postlude``.  Records of one person are executed in ``setl_time`` order (a
    date alone before any time that day), records at the same time in input order.
    """

    kind: str
    section: str | None  # the policy section it comes from (None: the policy has none)
    variables: tuple[tuple[str, str, object], ...]  # (name, type, initial value) of every variable
    counters: tuple[Counter, ...]
    prelude: tuple[Step, ...]
    blocks: tuple[Block, ...]
    otherwise: tuple[Step, ...]  # when no block is in force (after it, the reason is not_in_force)
    postlude: tuple[Step, ...]
    date_field: str  # the field that chooses the block
    optional: tuple[str, ...] = ()  # fields a record may lack: absent, they equal nothing


STEP_TYPES: tuple[type, ...] = (
    Let,
    Gate,
    Consume,
    Ratio,
    BandShare,
    Share,
    Limit,
    Outcome,
    AccountPay,
    CreditRules,
    Decision,
)
