"""Runtime values shared by every backend: exact money, rounding, the ledger of
what a person has used this period, and results that explain every number.

Money is ``decimal.Decimal`` yuan with two places; ratios and percentage points
are ``Decimal`` fractions.  No float is ever created."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from functools import partial
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import attrs

from . import ir
from . import vocab as V

from .ir.evaluate import CTX
from .messages import text as _msg

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal(1)
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
}


def round_money(amount: Decimal, rounding: ir.Rounding) -> Decimal:
    """Round to the policy's declared unit with its declared mode; always shown to the
    fen.  Computed in the IR's private context: the caller's never matters."""
    q = rounding.quantum
    units = CTX.divide(amount, q).quantize(ONE, rounding=ROUNDING_MODES[rounding.mode], context=CTX)
    return CTX.multiply(units, q).quantize(CENT, context=CTX)


def money(amount: Decimal | int | None) -> str | None:
    """Two decimals; an ``int`` is a count of fen (the generated backend's unit)."""
    if amount is None:
        return None
    if isinstance(amount, int):
        return fen_text(amount)
    text = str(amount.quantize(CENT, context=CTX))
    return text[1:] if text == "-0.00" else text


def _plain(value: Decimal) -> Decimal:
    """Normalised, and a negative zero made zero: "-0" is never shown."""
    value = value.normalize(CTX)
    return value.copy_abs() if value.is_zero() else value


def ratio(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(_plain(value), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return text


def percent(value: Decimal) -> str:
    return format(_plain(CTX.multiply(value, HUNDRED)), "f") + "%"


def points_text(value: Decimal) -> str:
    """0.05 -> "5" (percentage points)."""
    return format(_plain(CTX.multiply(value, HUNDRED)), "f")


HUNDRED = Decimal(100)


_NO_INPUTS: dict[str, Any] = {}


class TraceStep(NamedTuple):
    """One number and where it came from.  A named tuple: cheap to build, immutable
    (treat ``inputs`` as read-only)."""

    field: str
    value: str | None
    rule: str
    clause: str | None = None
    quote: str | None = None
    unstated: str | None = None
    inputs: dict[str, Any] = _NO_INPUTS
    formula: str | None = None

    @classmethod
    def of(cls, field: str, value: str | None, prov: ir.Prov | None, **inputs: Any) -> "TraceStep":
        shown = {k: _s(v) for k, v in inputs.items()}
        if prov is None:
            return cls(field, value, "computed", None, None, None, shown)
        return cls(field, value, prov.rule, prov.clause, prov.quote, prov.unstated, shown)

    def to_json(self) -> dict[str, Any]:
        head: dict[str, Any] = {
            "field": self.field,
            "value": self.value,
            "rule": self.rule,
            "clause": self.clause,
        }
        return with_provenance(head, self)


def with_provenance(out: dict[str, Any], step: Any) -> dict[str, Any]:
    """``out`` followed by what a step (a trace step, or a line of ``why``) says of where its
    number came from: ``quote``, ``unstated`` and ``formula`` when it has them, then its
    ``inputs`` (the one layout of both)."""
    if step.quote:
        out["quote"] = step.quote
    if step.unstated:
        out["unstated"] = step.unstated
    if step.formula:
        out["formula"] = step.formula
    out["inputs"] = step.inputs
    return out


def _s(v: object) -> object:
    if isinstance(
        v, Decimal
    ):  # a number read from the record, shown as written without trailing zeros
        return format(_plain(v), "f")
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


MONEY_FIELDS = (
    "medfee_sumamt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "psn_cash_pay",
)
# the amounts a settlement computes, after the bill it was given, in VisitResult's order
SETTLED_AMOUNTS = MONEY_FIELDS[1:]


def fen(amount: Decimal) -> int:
    """Exact yuan (at most two decimals) -> integer fen."""
    return int(amount.scaleb(2, CTX))


def yuan(f: int) -> Decimal:
    """Integer fen -> Decimal yuan with two places (context-free)."""
    return Decimal(f).scaleb(-2, CTX)


def _fen_text(f: int) -> str:
    if f < 0:
        return "-" + _fen_text(-f)
    return "%d.%02d" % divmod(f, 100)


_FEN_TEXTS: dict[int, str] = {}  # amounts recur (deductibles, caps, zero): each is formatted once


def fen_text(f: int) -> str:
    """Integer fen as yuan text with two decimals (-1 -> "-0.01")."""
    got = _FEN_TEXTS.get(f)
    if got is None:
        got = _fen_text(f)
        if len(_FEN_TEXTS) < 200_000:
            _FEN_TEXTS[f] = got
    return got


TraceBuilder = Callable[[Any], Iterable[TraceStep]]
_TRACE_BUILDERS: list[TraceBuilder] = []


def register_trace_builder(build: TraceBuilder) -> int:
    """A backend that records traces as numbers registers how to build them; results
    carry ``(id, *recorded)`` (the builder is given all of it).  Entries stay for the life
    of the process (one per compiled program)."""
    _TRACE_BUILDERS.append(build)
    return len(_TRACE_BUILDERS) - 1


class VisitResult:
    """One settled visit.  Amounts are held as integer fen and read as ``Decimal``
    yuan; the message and the trace are built when first read, so a bulk run that
    never reads them does not pay for them.  Immutable."""

    __slots__ = (
        "psn_no",
        "setl_time",
        "_fen",
        "_balc",
        "_ratio",
        "reason",
        "_message",
        "_text",
        "_trace",
        "_meta",
        "_stamp",
        "_funds",
    )
    psn_no: str
    setl_time: str
    _fen: tuple[int, ...]
    _balc: int | None
    _ratio: int | None
    reason: str | None
    _message: str | Callable[[str], str]
    _text: str | None
    _trace: Sequence[Any]
    _meta: tuple[Any, ...]
    _stamp: tuple[Any, ...]
    _funds: tuple[str, ...]

    def __init__(
        self,
        psn_no: str,
        setl_time: str,
        amounts: tuple[int, ...],
        balc: int | None,
        ratio_e4: int | None,
        reason: str | None,
        message: str | Callable[[str], str],
        trace: Sequence[Any] = (),
        meta: tuple[Any, ...] = (None, None, None, "settle"),
        stamp: tuple[Any, ...] = (None, None),
        funds: tuple[str, ...] = (),
    ) -> None:
        """``amounts``: fen of MONEY_FIELDS in order; ``ratio_e4``: the ratio in 1/10000;
        ``message``: English text, or a function of the language (``"en"``, ``"zh"``) giving
        it; ``trace``: steps, or ``(builder id, *recorded numbers)``; ``meta``: (setl_id,
        mdtrt_id, seq, op); ``stamp``: (policy id, IR hash) — what an auditor needs to trace
        and replay the settlement.  ``funds``: the result fields of the further funds the
        policy declares (e.g. ``hifob_pay``), whose fen follow MONEY_FIELDS in ``amounts``."""
        setattr_ = object.__setattr__
        setattr_(self, "_funds", funds)
        setattr_(self, "_meta", meta)
        setattr_(self, "_stamp", stamp)
        setattr_(self, "psn_no", psn_no)
        setattr_(self, "setl_time", setl_time)
        setattr_(self, "_fen", amounts)
        setattr_(self, "_balc", balc)
        setattr_(self, "_ratio", ratio_e4)
        setattr_(self, "reason", reason)
        setattr_(self, "_message", message)
        setattr_(self, "_text", message if isinstance(message, str) else None)
        setattr_(self, "_trace", trace)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"VisitResult is immutable (cannot set {name})")

    @property
    def message(self) -> str:
        """The message in English (the JSON contract's ``message``)."""
        m = self._text
        if m is None:
            assert not isinstance(self._message, str)  # a text is kept in _text as given
            m = self._message("en")
            object.__setattr__(self, "_text", m)
        return m

    def message_in(self, lang: str = "en") -> str:
        """The message in ``lang`` (en or zh), from the message catalogue."""
        if lang == "en" or isinstance(self._message, str):
            return self.message
        return self._message(lang)

    @property
    def trace(self) -> tuple[TraceStep, ...]:
        t = self._trace
        if t and type(t[0]) is int:  # recorded numbers: built on each read, nothing more kept
            return tuple(_TRACE_BUILDERS[t[0]](t))
        return tuple(t)

    setl_id = property(
        lambda self: self._meta[0], doc="the settlement id (given, or assigned by the ledger)"
    )
    mdtrt_id = property(lambda self: self._meta[1], doc="the visit id (就诊ID), echoed")
    seq = property(lambda self: self._meta[2], doc="the person's operation sequence in the ledger")
    op = property(lambda self: self._meta[3], doc="settle, or reverse for a reversal")
    policy = property(lambda self: self._stamp[0], doc="the id of the policy that settled it")
    ir_hash = property(
        lambda self: self._stamp[1], doc="the content hash of the IR that settled it"
    )

    def with_meta(self, **changes: Any) -> "VisitResult":
        """A copy with other audit fields (setl_id, mdtrt_id, seq, op)."""
        meta = dict(zip(("setl_id", "mdtrt_id", "seq", "op"), self._meta, strict=True), **changes)
        return VisitResult(
            self.psn_no,
            self.setl_time,
            self._fen,
            self._balc,
            self._ratio,
            self.reason,
            self._message,
            self._trace,
            (meta["setl_id"], meta["mdtrt_id"], meta["seq"], meta["op"]),
            self._stamp,
            self._funds,
        )

    @property
    def funds(self) -> dict[str, Decimal]:
        """Each declared fund's payment in yuan, in the platform's order (``hifp_pay``, then
        the further funds the policy declares, e.g. ``hifob_pay``)."""
        a = self._fen
        out = {"hifp_pay": yuan(a[3])}
        for i, name in enumerate(self._funds):
            out[name] = yuan(a[len(MONEY_FIELDS) + i])
        return out

    @property
    def balc(self) -> Decimal | None:
        return None if self._balc is None else yuan(self._balc)

    @property
    def pool_prop_selfpay(self) -> Decimal | None:
        return None if self._ratio is None else Decimal(self._ratio).scaleb(-4, CTX).normalize(CTX)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VisitResult):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"VisitResult({self.to_json(trace=False)!r})"

    def to_json(self, trace: bool = True, lang: str = "en") -> dict[str, Any]:
        """The JSON contract's record; ``lang="zh"`` gives the message in Chinese."""
        a = self._fen
        out: dict[str, Any] = {
            "psn_no": self.psn_no,
            "setl_time": self.setl_time,
            "medfee_sumamt": fen_text(a[0]),
            "inscp_scp_amt": fen_text(a[1]),
            "act_pay_dedc": fen_text(a[2]),
            "pool_prop_selfpay": ratio(self.pool_prop_selfpay),
            "hifp_pay": fen_text(a[3]),
            **{f: fen_text(a[len(MONEY_FIELDS) + i]) for i, f in enumerate(self._funds)},
            "fund_pay_sumamt": fen_text(a[4]),
            "psn_part_amt": fen_text(a[5]),
            "acct_pay": fen_text(a[6]),
            # paying from a relative's account at the counter is not modelled: always 0
            "acct_mulaid_pay": "0.00",
            "psn_cash_pay": fen_text(a[7]),
            "balc": None if self._balc is None else fen_text(self._balc),
            "reason": self.reason,
            "message": self.message_in(lang),
            "setl_id": self._meta[0],
            "mdtrt_id": self._meta[1],
            "op": self._meta[3],
            "seq": self._meta[2],
            "policy": self._stamp[0],
            "ir_hash": self._stamp[1],
        }
        if trace:
            out["trace"] = [t.to_json() for t in self.trace]
        return out


def _money_property(i: int) -> property:
    return property(lambda self: yuan(self._fen[i]), doc=f"{MONEY_FIELDS[i]} in yuan")


for _i, _name in enumerate(MONEY_FIELDS):
    setattr(VisitResult, _name, _money_property(_i))


@attrs.frozen
class CreditResult:
    psn_no: str
    on: str
    credit: Decimal | None
    reason: str
    rule: str | None
    clause: str | None
    message: str
    trace: tuple[TraceStep, ...] = ()
    # the message in another language: a function of the language (not part of the value)
    render: Any = attrs.field(default=None, eq=False, repr=False)

    def message_in(self, lang: str = "en") -> str:
        return self.message if lang == "en" or self.render is None else self.render(lang)

    def to_json(self, trace: bool = True, lang: str = "en") -> dict[str, Any]:
        out: dict[str, Any] = {
            "psn_no": self.psn_no,
            "on": self.on,
            "credit": money(self.credit),
            "reason": self.reason,
            "rule": self.rule,
            "clause": self.clause,
            "message": self.message_in(lang),
        }
        if trace:
            out["trace"] = [t.to_json() for t in self.trace]
        return out


@attrs.frozen
class MayPayResult:
    psn_no: str | None
    relation: str
    item: str
    venue: str | None
    on: str
    allowed: bool
    reason: str
    channel: str | None
    clause: str | None
    message: str
    trace: tuple[TraceStep, ...] = ()
    render: Any = attrs.field(default=None, eq=False, repr=False)  # as in CreditResult

    def message_in(self, lang: str = "en") -> str:
        return self.message if lang == "en" or self.render is None else self.render(lang)

    def to_json(self, trace: bool = True, lang: str = "en") -> dict[str, Any]:
        out: dict[str, Any] = {
            "psn_no": self.psn_no,
            "relation": self.relation,
            "item": self.item,
            "venue": self.venue,
            "on": self.on,
            "allowed": self.allowed,
            "reason": self.reason,
            "channel": self.channel,
            "clause": self.clause,
            "message": self.message_in(lang),
        }
        if trace:
            out["trace"] = [t.to_json() for t in self.trace]
        return out


def exact_text(value: Decimal) -> str:
    """An unrounded amount: every decimal it has, but at least two (212.5125, 7.05)."""
    d = _plain(value)
    if d.as_tuple().exponent > -2:  # type: ignore[operator]
        d = d.quantize(CENT, context=CTX)
    return format(d, "f")


# ---- trace entries: one builder per step, shared by every backend --------------------
# A backend calls these with exact Decimal values (money in yuan, ratios as fractions),
# so the same settlement gives the same trace whichever backend computed it.


def tr_let(var: str, value: Decimal, prov: ir.Prov, formula: str | None, inputs: dict) -> TraceStep:
    return TraceStep(
        var,
        money(value),
        prov.rule,
        prov.clause,
        prov.quote,
        prov.unstated,
        {k: money(v) for k, v in inputs.items()},
        formula,
    )


def tr_let_fen(
    var: str,
    value: int,
    prov: ir.Prov,
    formula: str | None,
    names: Sequence[str],
    values: Sequence[int],
) -> TraceStep:
    """``tr_let`` for amounts in fen (the generated backend): the same step, fewer conversions."""
    return TraceStep(
        var,
        fen_text(value),
        prov.rule,
        prov.clause,
        prov.quote,
        prov.unstated,
        dict(zip(names, map(fen_text, values), strict=True)),
        formula,
    )


def tr_stopped(reason: str | None, prov: ir.Prov | None, inputs: dict) -> list[TraceStep]:
    """The fund pays nothing: no deductible applies, and why (a gate, or no version)."""
    steps = [TraceStep("act_pay_dedc", money(ZERO), f"no deductible applies ({reason})")]
    if prov is None:
        steps.append(
            TraceStep(
                "hifp_pay",
                money(ZERO),
                "not in force",
                inputs={k: _s(v) for k, v in inputs.items()},
            )
        )
    else:
        steps.append(TraceStep.of("hifp_pay", money(ZERO), prov, **inputs))
    return steps


def tr_no_deductible() -> TraceStep:
    return TraceStep("act_pay_dedc", money(ZERO), "no deductible applies to this visit")


def trace_field(var: str) -> str:
    """The field a trace step shows for a step writing ``var``: a fund's share before its
    caps (``hifp_raw``, ``hifob_raw``) explains the fund's payment; a further fund's own
    deductible and ratio (``hifob_dedc``, ``hifob_ratio``) show as themselves; any other
    deductible taken (``dedc_due``, before a total cuts it) explains ``act_pay_dedc``."""
    fund, _, kind = var.rpartition("_")
    if fund in V.FUNDS and kind == "raw":
        return V.FUNDS[fund][0]
    if fund in V.FUNDS and kind in ("dedc", "ratio"):
        return var
    return TRACE_FIELDS.get(var, var)


TRACE_FIELDS = {"dedc_due": "act_pay_dedc"}


def tr_consume(
    take: Decimal,
    prov: ir.Prov,
    amount: Decimal,
    before: Decimal,
    in_policy: Decimal,
    field: str = "act_pay_dedc",
    reads: dict = _NO_INPUTS,
) -> TraceStep:
    """``reads``: the fields that decided the deductible (its table, condition, each field);
    ``field``: the field the step explains (a further fund's deductible: ``hifob_dedc``)."""
    return TraceStep(
        field,
        money(take),
        prov.rule,
        prov.clause,
        prov.quote,
        prov.unstated,
        {
            "deductible": money(amount),
            "consumed_before": money(before),
            "in_policy": money(in_policy),
            **{k: _s(v) for k, v in reads.items()},
        },
    )


def _step(field: str, value: str | None, prov: ir.Prov, inputs: dict) -> TraceStep:
    return TraceStep(field, value, prov.rule, prov.clause, prov.quote, prov.unstated, inputs)


def tr_ratio(value: Decimal, prov: ir.Prov, reads: dict, field: str = "ratio") -> TraceStep:
    return _step(field, percent(value), prov, {k: _s(v) for k, v in reads.items()})


def tr_adjust(
    value: Decimal, adj: ir.Adjust, reads: dict, pts: Decimal, field: str = "ratio"
) -> TraceStep:
    """``pts``: the adjustment's points (a parameter's value, when it names one); ``field``:
    the ratio adjusted (a further fund's: ``hifob_ratio``)."""
    return TraceStep.of(
        field,
        percent(value),
        adj.prov,
        base=percent(CTX.subtract(value, pts)),
        points=points_text(pts),
        **reads,
    )


def tr_bound(value: Decimal, bound: ir.RatioBound, before: Decimal) -> TraceStep:
    """A floor raised the ratio, or a ceiling lowered it, to ``value``."""
    return TraceStep.of(
        "ratio", percent(value), bound.prov, before=percent(before), **{bound.kind: percent(value)}
    )


def tr_band(
    ratio_value: Decimal, prov: ir.Prov, part: Decimal, prior: Decimal, pts: Decimal
) -> TraceStep:
    return TraceStep.of(
        "ratio",
        percent(ratio_value),
        prov,
        band_part=money(part),
        accumulated_before=money(prior),
        uplift=points_text(pts),
    )


def tr_band_adjust(adj: ir.Adjust, pts: Decimal, reads: dict = _NO_INPUTS) -> TraceStep:
    """An uplift or a reduction added to every band; ``reads``: what its condition read."""
    return TraceStep.of("ratio", points_text(pts) + " points", adj.prov, **reads)


def tr_share(
    raw: Decimal,
    prov: ir.Prov,
    base: Decimal,
    ratio_value: Decimal | None,
    exact: Decimal,
    field: str = "hifp_pay",
) -> TraceStep:
    return _step(
        field,
        money(raw),
        prov,
        {
            "base": money(base),
            "ratio": percent(ratio_value) if ratio_value is not None else "by bands",
            "exact": exact_text(exact),
        },
    )


# what a Limit step limits, by the variable it writes: the fund's payment (a cap), the
# deductible kept under its total_at_most, the in-policy costs counted (a cost_cap)
CAP_TRACE = {
    "hifp_pay": ("hifp_pay", "paid_before"),
    "dedc_kept": ("act_pay_dedc", "taken_before"),
    "inscp_counted": ("inscp_counted", "counted_before"),
}
# a further fund's caps, as the pooling fund's: what it paid before
CAP_TRACE.update({f: (f, "paid_before") for f in V.FURTHER_FUND_FIELDS})


def tr_cap(
    fund: Decimal,
    prov: ir.Prov,
    amount: Decimal,
    before: Decimal,
    raw: Decimal,
    out: str = "hifp_pay",
    reads: dict = _NO_INPUTS,
) -> TraceStep:
    """``out``: the field the cap limits; ``reads``: the fields that decided the cap (its
    table, condition, each field)."""
    field, used = CAP_TRACE.get(out, (out, "used_before"))
    return _step(
        field,
        money(fund),
        prov,
        {
            "cap": money(amount),
            used: money(before),
            "uncapped": money(raw),
            **{k: _s(v) for k, v in reads.items()},
        },
    )


def tr_account_unknown() -> TraceStep:
    return TraceStep("acct_pay", money(ZERO), "no account balance given (acct_balc)")


def tr_account_not_used() -> TraceStep:
    return TraceStep(
        "acct_pay",
        money(ZERO),
        "the record asks not to use the account (acct_used_flag 0)",
        inputs={"acct_used_flag": "0"},
    )


def tr_account_refused(why: str, clause: str | None, venue: str, balance: Decimal) -> TraceStep:
    return TraceStep(
        "acct_pay",
        money(ZERO),
        f"account may not pay: {why}",
        clause=clause,
        inputs={"venue": venue, "balance": money(balance)},
    )


def tr_account_pay(pay: Decimal, prov: ir.Prov, before: Decimal, payable: Decimal) -> TraceStep:
    return _step(
        "acct_pay", money(pay), prov, {"balance_before": money(before), "payable": money(payable)}
    )


def tr_credit(value: Decimal, prov: ir.Prov, exact: Decimal) -> TraceStep:
    return TraceStep.of("credit", money(value), prov, exact=exact_text(exact))


def tr_allowed(allowed: bool, prov: ir.Prov | None, request: dict) -> TraceStep:
    return TraceStep.of(
        "allowed",
        "true" if allowed else "false",
        prov,
        relation=request["relation"],
        item=request["item"],
        venue=request.get("venue"),
        on=request["on"],
    )


# ---- messages: from the reason and the values, the same for every backend -------------
# The texts are in the message catalogue (``messages``), in English and Chinese; a
# result's ``message`` is the English one, ``message_in(lang)`` either.

SETTLE_REASONS = (
    "no_in_policy_amount",
    "within_deductible",
    "cap_reached",
    "zero_ratio",
    "rounds_to_zero",
    "not_covered",
    "not_designated",
    "other_scheme",
    "other_med_type",
    "cost_cap_reached",
)


def settle_message(
    reason: str | None,
    policy_id: str,
    has_pooling: bool,
    when: dt.date,
    ratio_value: Decimal | None,
    remaining: Decimal,
    raw: Decimal,
    fund: Decimal,
    banded: bool,
    lang: str = "en",
) -> str:
    if reason == "not_in_force":
        if not has_pooling:
            return _msg("settle.no_pooling", lang, policy=policy_id)
        return _msg("settle.not_in_force", lang, date=when.isoformat())
    if reason is not None:
        return _msg(f"settle.{reason}", lang)
    if banded:
        text = _msg("settle.paid_bands", lang, raw=money(raw), base=money(remaining))
    else:
        assert ratio_value is not None  # a paid visit has one ratio unless it is banded
        text = _msg("settle.paid", lang, ratio=percent(ratio_value), base=money(remaining))
    return text + (_msg("settle.up_to_cap", lang) if fund < raw else "")


def may_pay_result(
    request: dict, verdict: Any, reason: str, channel: str | None, tracing: bool
) -> "MayPayResult":
    """One may-pay answer from the verdict a backend found (``None``: no verdict applies), the
    reason it settled on and the channel: the same fields, message and trace on every backend."""
    allowed = verdict.allowed if verdict else False
    prov = verdict.prov if verdict else None
    words = partial(
        may_pay_message, reason, request, dict(verdict.args) if verdict else {}, channel
    )
    trace = (tr_allowed(allowed, prov, request),) if tracing else ()
    return MayPayResult(
        request.get("psn_no"),
        request["relation"],
        request["item"],
        request.get("venue"),
        request["on"].isoformat(),
        allowed,
        reason,
        channel,
        prov.clause if prov else None,
        words(),
        trace,
        words,
    )


def may_pay_message(
    reason: str, request: dict, args: dict, channel: str | None, lang: str = "en"
) -> str:
    from .messages import value as shown

    item, relation, venue, on = (
        request["item"],
        request["relation"],
        request.get("venue"),
        request["on"],
    )
    at = _msg("may_pay.at", lang, venue=shown(venue, lang)) if venue else ""
    fill = {
        "item": shown(item, lang),
        "relation": shown(relation, lang),
        "at": at,
        "date": on.isoformat() if hasattr(on, "isoformat") else on,
    }
    if reason == "relation_not_eligible":
        names = [x for x in str(args.get("relations", "")).split(", ") if x]
        fill["relations"] = ("、" if lang == "zh" else ", ").join(shown(x, lang) for x in names)
    elif reason == "no_channel":
        fill["channel"] = shown(args.get("channel"), lang)
    return _msg(f"may_pay.{reason}", lang, **fill)


def credit_result(
    psn_no: str,
    on: dt.date,
    credit: Decimal | None,
    reason: str,
    rule: str | None,
    clause: str | None,
    trace: tuple[TraceStep, ...],
) -> CreditResult:
    """One credit answer from what a backend found: the same fields and message on every
    backend (the message said again in another language on demand)."""
    words = partial(credit_message, reason, on, rule)
    return CreditResult(psn_no, on.isoformat(), credit, reason, rule, clause, words(), trace, words)


def negative_credit(rule: str, amount: str) -> str:
    """The problem of a record whose credit rule gives a negative amount."""
    return f"credit rule {rule} gives a negative credit ({amount}); check the parameters and inputs"


def credit_message(reason: str, on: dt.date, rule: str | None, lang: str = "en") -> str:
    if reason == "credited":
        return _msg("credit.credited", lang, rule=rule)
    if reason == "not_in_force":
        return _msg("credit.not_in_force", lang, date=on.isoformat())
    return _msg("credit.no_rule", lang)


def finish_settle_trace(trace: list[TraceStep]) -> None:
    """Every settlement's trace explains act_pay_dedc, right after the bill split."""
    if not any(t.field == "act_pay_dedc" for t in trace):
        trace.insert(1, tr_no_deductible())
