"""The reference interpreter: executes an IR program one step at a time.

Small and plainly correct; speed is no concern.  It is the oracle every other
backend is tested against (tests/test_backends.py).  Money is ``Decimal`` yuan,
ratios ``Decimal`` fractions; all arithmetic is in the IR's private context
(``ir.evaluate.CTX``).  One handler per step type, in ``HANDLERS``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, DecimalException
from functools import partial
from typing import Any, Callable, Iterable

from .. import ir
from ..inputs import (
    InputError,
    InputProblem,
    missing_param,
    validate_persons,
    validate_requests,
    validate_visits,
)
from ..ir import evaluate as E
from ..ir.demands import counter_reads, deciding, fields_read
from ..ir.serial import content_hash
from ..ir.evaluate import CTX, MissingValue, NoRow
from ..runtime import (
    SETTLED_AMOUNTS,
    ZERO,
    CreditResult,
    fen,
    yuan,
    MayPayResult,
    TraceStep,
    VisitResult,
    credit_result,
    negative_credit,
    finish_settle_trace,
    may_pay_result,
    money,
    percent,
    round_money,
    settle_message,
    tr_account_not_used,
    tr_account_pay,
    tr_account_refused,
    tr_account_unknown,
    tr_adjust,
    tr_band,
    tr_band_adjust,
    tr_bound,
    tr_cap,
    tr_consume,
    tr_credit,
    tr_let,
    tr_ratio,
    tr_share,
    tr_stopped,
    trace_field,
)
from .common import BadValue, settle_funds, block_at, bucket, settle_order, split_bands, visit_date

STOP = object()  # a handler's result that ends the block (a gate that failed)


class State:
    """What one record's execution reads and writes."""

    def __init__(
        self,
        program: ir.Program,
        record: dict,
        index: int,
        params: dict,
        ledger: "Ledger",
        tracing: bool,
    ):
        self.env: dict[str, Any] = {name: init for name, _, init in program.variables}
        self.env.update(record)
        for name in program.optional:
            if self.env.get(name) is None:
                self.env[name] = E.ABSENT
        self.index, self.params, self.ledger = index, params, ledger
        self.trace: list[TraceStep] | None = [] if tracing else None
        self.reason: str | None = None
        self.extra: dict[str, Any] = {}

    def note(self, *steps: TraceStep) -> None:
        if self.trace is not None:
            self.trace.extend(steps)


class Ledger:
    """The state one settle call leaves for the next (the same for every backend):
    ``used`` maps a ledger key ``(psn_no, counter id, period bucket, each value)`` to the
    fen used; ``balances`` maps a person to the fen left in the account."""

    def __init__(self) -> None:
        self.used: dict[tuple, int] = {}
        self.balances: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.journal: list | None = None
        self.visit_used: dict[tuple, Decimal] = {}  # counters per visit: never kept

    def get(self, key: tuple) -> Decimal:
        if key[2] == "visit":
            return self.visit_used.get(key, ZERO)
        return yuan(self.used.get(key, 0))

    def charge(self, key: tuple, before: Decimal, amount: Decimal, index: int) -> None:
        if key[2] == "visit":
            self.visit_used[key] = CTX.add(before, amount)
            return
        self.used[key] = fen(CTX.add(before, amount))
        if self.journal is not None:
            self.journal.append((index, key, fen(amount)))


def _key(state: State, counter: ir.Counter) -> tuple:
    env = state.env
    period = (
        "visit"
        if counter.period == "visit"
        else bucket(counter.period, env["setl_time"], state.index)
    )
    return (env["psn_no"], counter.id, period, env.get(counter.each) if counter.each else None)


class Reference:
    name = "reference"

    def __init__(self, policy: ir.Policy, tracing: bool = True):
        self.policy = policy
        self.tracing = tracing
        self.programs: dict[str, ir.Program] = policy.programs
        self.counters = {c.id: c for c in self.programs["settle"].counters}
        self.stamp = (policy.id, content_hash(policy))
        self._reads: dict[int, tuple[str, ...]] = {}  # by step: the program outlives the dict
        self.funds = settle_funds(self.programs["settle"])

    # ---- running a program over one record --------------------------------------------
    def run(self, program: ir.Program, state: State) -> None:
        for step in program.prelude:
            HANDLERS[type(step)](self, step, state)
        block = block_at(program, state.env[program.date_field], state.params)
        if block is None:
            for step in program.otherwise:
                HANDLERS[type(step)](self, step, state)
            state.reason = "not_in_force"
        else:
            state.extra["block"] = block
            for step in block.steps:
                if HANDLERS[type(step)](self, step, state) is STOP:
                    break
        for step in program.postlude:
            HANDLERS[type(step)](self, step, state)

    # ---- settle ---------------------------------------------------------------------
    def new_state(self) -> dict:
        return {"used": {}, "balances": {}, "seq": {}}

    def settle(
        self,
        records: Any,
        params: dict,
        state: dict | None = None,
        journal: list | None = None,
    ) -> list[VisitResult]:
        visits = validate_visits(records, self.policy)
        program = self.programs["settle"]
        ledger = Ledger()
        if state is not None:
            ledger.used, ledger.balances, ledger.seq = (
                state["used"],
                state["balances"],
                state["seq"],
            )
        ledger.journal = journal
        results: list[Any] = [None] * len(visits)
        self._each(
            visits,
            lambda v, i: self._settle_one(program, v, i, params, ledger),
            settle_order(visits),
            results,
        )
        return results

    def _settle_one(
        self, program: ir.Program, v: dict, index: int, params: dict, ledger: Ledger
    ) -> VisitResult:
        when = visit_date(v["setl_time"])
        ledger.visit_used = {}  # counters per visit start afresh
        state = State(program, {**v, "setl_time": when}, index, params, ledger, self.tracing)
        self.run(program, state)
        env = state.env
        if state.trace is not None:
            finish_settle_trace(state.trace)
        block = state.extra.get("block")
        banded = (
            env.get("exact") is not None
            and block is not None
            and any(isinstance(s, ir.BandShare) for s in block.steps)
        )
        message = partial(
            settle_message,
            state.reason,
            self.policy.id,
            program.section is not None,
            when,
            env["ratio"],
            env["remaining"],
            env["hifp_raw"],
            env["hifp_pay"],
            banded,
        )
        amounts = tuple(fen(env[f]) for f in (*SETTLED_AMOUNTS, *self.funds))
        ratio_e4 = None if env["ratio"] is None else int(env["ratio"].scaleb(4, CTX))
        balc = None if env["balc"] is None else fen(env["balc"])
        seq = ledger.seq[v["psn_no"]] = ledger.seq.get(v["psn_no"], 0) + 1
        return VisitResult(
            v["psn_no"],
            v.get("$setl_time_text") or _iso(v["setl_time"]),
            (fen(v["medfee_sumamt"]), *amounts),
            balc,
            ratio_e4,
            state.reason,
            message,
            tuple(state.trace or ()),
            (v.get("setl_id"), v.get("mdtrt_id"), seq, "settle"),
            self.stamp,
            self.funds,
        )

    def _missing(self, e: MissingValue, i: int, psn_no: Any) -> InputProblem:
        if e.is_param:  # the same for every record: report it once, at once
            raise missing_param(e.name, self.policy)
        return InputProblem(
            i + 1, e.name, "is required by the rule that applies to this record", psn_no
        )

    def reads_of(self, step: ir.Ratio | ir.Consume | ir.CapUse) -> tuple[str, ...]:
        """The fields a trace step shows as what decided it (found once per step): every
        field that decides a ratio; the fields that decide a deductible's or a cap's amount."""
        got = self._reads.get(id(step))
        if got is None:
            if isinstance(step, ir.Ratio):
                got = deciding(step)
            else:
                got = counter_reads(step.amount, step.when, self.counters[step.counter].each)
            self._reads[id(step)] = got
        return got

    # ---- step handlers ----------------------------------------------------------------
    def let(self, step: ir.Let, s: State) -> None:
        value = E.expr(step.expr, s.env, s.params)
        s.env[step.var] = value
        if step.prov is not None and s.trace is not None:
            s.trace.append(
                tr_let(
                    step.var,
                    value,
                    step.prov,
                    step.formula,
                    {n: s.env[n] for n in _names(step.expr)},
                )
            )

    def gate(self, step: ir.Gate, s: State) -> object:
        if E.cond(step.cond, s.env, s.params):
            return None
        s.reason = step.reason
        s.note(*tr_stopped(step.reason, step.prov, {f: s.env.get(f) for f in step.reads}))
        return STOP

    def consume(self, step: ir.Consume, s: State) -> None:
        if not E.cond(step.when, s.env, s.params):
            return
        amount, row = E.value(step.amount, s.env, s.params)
        key = _key(s, self.counters[step.counter])
        before = s.ledger.get(key)
        base = s.env[step.base]
        take = max(ZERO, min(base, CTX.subtract(amount, before)))
        s.ledger.charge(key, before, take, s.index)
        s.env[step.base] = CTX.subtract(base, take)
        s.env[step.out] = CTX.add(s.env[step.out], take)
        reads = self.reads_of(step)
        s.note(
            tr_consume(
                take,
                row or step.prov,
                amount,
                before,
                s.env["inscp_scp_amt"],
                trace_field(step.out),
                {f: s.env.get(f) for f in reads},
            )
        )

    def ratio(self, step: ir.Ratio, s: State) -> None:
        base, row = E.value(step.value, s.env, s.params)
        reads = {f: s.env.get(f) for f in self.reads_of(step)}
        s.note(tr_ratio(base, row or step.prov, reads, step.out))
        value = base
        for adj in E.adjustments(step.adjustments, s.env, s.params):
            pts = E.adjust_points(adj, s.params)
            value = CTX.add(value, pts)
            reads = {f: s.env.get(f) for f in fields_read(adj.when)}
            s.note(tr_adjust(value, adj, reads, pts, step.out))
        _check_ratio(value)
        for b in step.bounds:
            bounded = E.bound(value, b, s.env, s.params)
            if bounded != value:
                s.note(tr_bound(bounded, b, value))
                value = bounded
        s.env[step.out] = value

    def band_share(self, step: ir.BandShare, s: State) -> None:
        bands = step.bands
        key = _key(s, self.counters[step.counter])
        prior = s.ledger.get(key)
        applied = E.adjustments(step.adjustments, s.env, s.params)
        pts = E.points(applied, s.params)
        remaining = s.env[step.base]
        exact = ZERO
        last = CTX.add(bands.values[0], pts)
        for i, part in split_bands(bands.limits, prior, remaining, CTX.add, CTX.subtract, ZERO):
            r = CTX.add(bands.values[i], pts)
            _check_ratio(r)
            exact = CTX.add(exact, CTX.multiply(part, r))
            last = r
            s.note(tr_band(r, bands.provs[i], part, prior, pts))
        for adj in applied:
            reads = {f: s.env.get(f) for f in fields_read(adj.when)}
            s.note(tr_band_adjust(adj, E.adjust_points(adj, s.params), reads))
        _check_ratio(last)
        s.ledger.charge(key, prior, remaining, s.index)
        s.env[step.exact], s.env[step.ratio] = exact, last

    def share(self, step: ir.Share, s: State) -> None:
        base = s.env[step.base]
        exact = s.env[step.exact] if step.exact else CTX.multiply(base, s.env[step.ratio])
        raw = round_money(exact, step.rounding)
        s.env[step.out] = raw
        s.note(
            tr_share(
                raw,
                step.rounding.prov,
                base,
                None if step.exact else s.env[step.ratio],
                exact,
                trace_field(step.out),
            )
        )

    def limit(self, step: ir.Limit, s: State) -> None:
        raw = fund = s.env[step.value]
        applying = []
        for cap in step.caps:
            if not E.cond(cap.when, s.env, s.params):
                continue
            amount, row = E.value(cap.amount, s.env, s.params)
            key = _key(s, self.counters[cap.counter])
            before = s.ledger.get(key)
            room = max(ZERO, CTX.subtract(amount, before))
            applying.append((key, before))
            if fund > room:
                fund = room
                reads = {f: s.env.get(f) for f in self.reads_of(cap)}
                s.note(tr_cap(fund, row or cap.prov, amount, before, raw, step.out, reads))
        for key, before in applying:
            s.ledger.charge(key, before, fund, s.index)
        s.env[step.out] = fund

    def outcome(self, step: ir.Outcome, s: State) -> None:
        if s.env[step.fund] != 0:
            return
        for reason, cond in step.reasons:
            if E.cond(cond, s.env, s.params):
                s.reason = reason
                return

    def account_pay(self, step: ir.AccountPay, s: State) -> None:
        env, psn = s.env, s.env["psn_no"]
        if env.get("acct_balc") is not None:
            s.ledger.balances[psn] = fen(env["acct_balc"])
        known = s.ledger.balances.get(psn)
        balance = None if known is None else yuan(known)
        env[step.out], env[step.balance] = ZERO, balance
        if balance is None:
            s.note(tr_account_unknown())
            return
        if not E.cond(step.used, env, s.params):
            s.note(tr_account_not_used())
            return
        request = {name: E.value(v, env, s.params)[0] for name, v in step.request}
        request["on"] = env["setl_time"]
        decision = self._may_pay_one(request, s.params)
        if not decision.allowed or step.payable is None or step.prov is None:
            why = (
                decision.reason
                if not decision.allowed
                else "the policy declares no account_covers setting"
            )
            s.note(tr_account_refused(why, decision.clause, request["venue"], balance))
            return
        payable = E.expr(step.payable, env, s.params)
        pay = min(balance, max(ZERO, payable))
        env[step.balance] = CTX.subtract(balance, pay)
        s.ledger.balances[psn] = fen(env[step.balance])
        env[step.out] = pay
        s.note(tr_account_pay(pay, step.prov, balance, payable))

    # ---- credit -------------------------------------------------------------------------
    def credit(self, records: Any, params: dict) -> list[CreditResult]:
        rows = validate_persons(records, self.policy)
        return self._each(
            rows, lambda r, i: self._credit_one(r, params), range(len(rows)), [None] * len(rows)
        )

    def _credit_one(self, person: dict, params: dict) -> CreditResult:
        state = State(self.programs["credit"], person, 0, params, Ledger(), self.tracing)
        self.run(self.programs["credit"], state)
        x = state.extra
        on = person["on"]
        return credit_result(
            person["psn_no"],
            on,
            x.get("credit"),
            state.reason or "no_rule",
            x.get("rule"),
            x.get("clause"),
            tuple(state.trace or ()),
        )

    def credit_rules(self, step: ir.CreditRules, s: State) -> None:
        for rule in step.rules:
            if E.cond(rule.when, s.env, s.params):
                exact = E.expr(rule.amount, s.env, s.params)
                value = round_money(exact, step.rounding)
                if value < 0:
                    raise BadValue(negative_credit(rule.name, money(value) or ""))
                s.reason = "credited"
                s.extra.update(credit=value, rule=rule.name, clause=rule.prov.clause)
                s.note(tr_credit(value, rule.prov, exact))
                return

    # ---- may-pay ------------------------------------------------------------------------
    def may_pay(self, records: Any, params: dict) -> list[MayPayResult]:
        rows = validate_requests(records, self.policy)
        return self._each(
            rows, lambda r, i: self._may_pay_one(r, params), range(len(rows)), [None] * len(rows)
        )

    def _may_pay_one(self, request: dict, params: dict) -> MayPayResult:
        state = State(self.programs["may_pay"], request, 0, params, Ledger(), self.tracing)
        self.run(self.programs["may_pay"], state)
        x = state.extra
        verdict: ir.Verdict | None = x.get("verdict")
        reason = state.reason or "item_not_allowed"
        return may_pay_result(request, verdict, reason, x.get("channel"), self.tracing)

    def decision(self, step: ir.Decision, s: State) -> None:
        for verdict in step.verdicts:
            if E.cond(verdict.when, s.env, s.params):
                s.reason = verdict.reason
                s.extra["verdict"] = verdict
                if verdict.channel is not None:
                    s.extra["channel"] = E.value(verdict.channel, s.env, s.params)[0]
                return

    def _each(
        self,
        records: list[dict],
        one: Callable[[dict, int], Any],
        order: Iterable[int],
        out: list,
    ) -> list:
        """``out[i] = one(records[i], i)`` in ``order``; every problem in every record is
        collected and raised together."""
        problems = []
        for i in order:
            rec = records[i]
            try:
                out[i] = one(rec, i)
            except MissingValue as e:
                problems.append(self._missing(e, i, rec.get("psn_no")))
            except NoRow:
                problems.append(
                    InputProblem(
                        i + 1,
                        "(record)",
                        "no row of a decision table of the policy applies to this record",
                        rec.get("psn_no"),
                    )
                )
            except BadValue as e:
                problems.append(InputProblem(i + 1, "(record)", str(e), rec.get("psn_no")))
            except DecimalException:
                problems.append(
                    InputProblem(
                        i + 1,
                        "(record)",
                        "a value is too large to compute exactly; check the amounts and parameters",
                        rec.get("psn_no"),
                    )
                )
        if problems:
            raise InputError(sorted(problems, key=lambda p: p.record or 0))
        return out


HANDLERS: dict[type, Callable[[Reference, Any, State], Any]] = {
    ir.Let: Reference.let,
    ir.Gate: Reference.gate,
    ir.Consume: Reference.consume,
    ir.Ratio: Reference.ratio,
    ir.BandShare: Reference.band_share,
    ir.Share: Reference.share,
    ir.Limit: Reference.limit,
    ir.Outcome: Reference.outcome,
    ir.AccountPay: Reference.account_pay,
    ir.CreditRules: Reference.credit_rules,
    ir.Decision: Reference.decision,
}


def _check_ratio(value: Decimal) -> None:
    if not (0 <= value <= 1):  # only a parameter can do this: the checker proves literals
        raise BadValue(
            f"the ratio that applies comes to {percent(value)}, outside 0%..100%; check the "
            "parameters"
        )


def _names(e: ir.Expr) -> list[str]:
    if isinstance(e, ir.Arith):
        return _names(e.left) + [n for n in _names(e.right) if n not in _names(e.left)]
    if isinstance(e, (ir.Field, ir.Var)):
        return [e.name]
    return []


def _iso(t: dt.date) -> str:
    return t.isoformat(sep=" ") if isinstance(t, dt.datetime) else t.isoformat()
