"""Runtime values shared by every backend: exact money, rounding, the ledger of
what a person has used this period, and results that explain every number.

Money is ``decimal.Decimal`` yuan with two places; ratios and percentage points
are ``Decimal`` fractions.  No float is ever created."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Any

import attrs

from . import ir

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN, "up": ROUND_UP}


def round_money(amount: Decimal, rounding: ir.Rounding) -> Decimal:
    """Round to the policy's declared unit with its declared mode; always shown to the fen."""
    q = rounding.quantum
    rounded = (amount / q).quantize(Decimal(1), rounding=ROUNDING_MODES[rounding.mode]) * q
    return rounded.quantize(CENT)


def money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(CENT))


def ratio(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    return text


def percent(value: Decimal) -> str:
    text = format((value * 100).normalize(), "f")
    return text + "%"


class Ledger:
    """What each person has consumed of each deductible and cap, per period.

    Keys are (person, kind, index, period bucket, separate-by value); buckets are
    the calendar year, month or day, or the visit itself, so the deductible and
    the cap reset on 1 January with no special case."""

    def __init__(self):
        self._used: dict[tuple, Decimal] = {}
        self.balances: dict[str, Decimal] = {}

    def used(self, key: tuple) -> Decimal:
        return self._used.get(key, ZERO)

    def add(self, key: tuple, amount: Decimal) -> None:
        self._used[key] = self._used.get(key, ZERO) + amount


def period_bucket(period: str, when: dt.date, visit_index: int):
    if period == "year":
        return when.year
    if period == "month":
        return (when.year, when.month)
    if period == "day":
        return when
    return ("visit", visit_index)


@attrs.frozen
class TraceStep:
    """One number and where it came from."""

    field: str
    value: str | None
    rule: str
    clause: str | None = None
    quote: str | None = None
    unstated: str | None = None
    inputs: dict[str, Any] = attrs.Factory(dict)
    formula: str | None = None

    @classmethod
    def of(cls, field: str, value, prov: ir.Prov | None, **inputs) -> "TraceStep":
        if prov is None:
            return cls(field, value, "computed", inputs={k: _s(v) for k, v in inputs.items()})
        return cls(field, value, prov.rule, prov.clause, prov.quote, prov.unstated,
                   {k: _s(v) for k, v in inputs.items()})

    def to_json(self) -> dict:
        out = {"field": self.field, "value": self.value, "rule": self.rule, "clause": self.clause}
        if self.quote:
            out["quote"] = self.quote
        if self.unstated:
            out["unstated"] = self.unstated
        if self.formula:
            out["formula"] = self.formula
        out["inputs"] = self.inputs
        return out


def _s(v):
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


@attrs.frozen
class VisitResult:
    psn_no: str
    setl_time: str
    medfee_sumamt: Decimal
    inscp_scp_amt: Decimal
    act_pay_dedc: Decimal
    pool_prop_selfpay: Decimal | None
    hifp_pay: Decimal
    fund_pay_sumamt: Decimal
    psn_part_amt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    balc: Decimal | None
    reason: str | None
    message: str
    trace: tuple[TraceStep, ...] = ()

    def to_json(self, trace: bool = True) -> dict:
        out = {
            "psn_no": self.psn_no, "setl_time": self.setl_time,
            "medfee_sumamt": money(self.medfee_sumamt), "inscp_scp_amt": money(self.inscp_scp_amt),
            "act_pay_dedc": money(self.act_pay_dedc), "pool_prop_selfpay": ratio(self.pool_prop_selfpay),
            "hifp_pay": money(self.hifp_pay), "fund_pay_sumamt": money(self.fund_pay_sumamt),
            "psn_part_amt": money(self.psn_part_amt), "acct_pay": money(self.acct_pay),
            # paying from a relative's account at the counter is not modelled: always 0
            "acct_mulaid_pay": money(ZERO),
            "psn_cash_pay": money(self.psn_cash_pay), "balc": money(self.balc),
            "reason": self.reason, "message": self.message,
        }
        if trace:
            out["trace"] = [t.to_json() for t in self.trace]
        return out


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

    def to_json(self, trace: bool = True) -> dict:
        out = {"psn_no": self.psn_no, "on": self.on, "credit": money(self.credit), "reason": self.reason,
               "rule": self.rule, "clause": self.clause, "message": self.message}
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

    def to_json(self, trace: bool = True) -> dict:
        out = {"psn_no": self.psn_no, "relation": self.relation, "item": self.item, "venue": self.venue, "on": self.on,
               "allowed": self.allowed, "reason": self.reason, "channel": self.channel, "clause": self.clause,
               "message": self.message}
        if trace:
            out["trace"] = [t.to_json() for t in self.trace]
        return out
