"""The scalar backend: evaluates the IR one record at a time, exactly (Decimal),
recording a trace step for every number it produces.

IR expressions are compiled once into Python closures, so evaluating a visit
does not walk the IR."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, DecimalException
from typing import Any, Callable

from .. import ir
from .. import vocab as V
from ..inputs import InputError, InputProblem, missing_param
from ..runtime import (
    ZERO, CreditResult, Ledger, MayPayResult, TraceStep, VisitResult, money, percent, period_bucket, round_money,
)

Env = dict


class BadValue(Exception):
    """A parameter made a computed value impossible (a ratio above 100%, an amount too large)."""


class NoRow(Exception):
    """No row of a decision table matched (the checker proves this cannot happen
    for the inputs it can enumerate; a parameter-dependent table may still miss)."""


class MissingValue(Exception):
    def __init__(self, name: str, is_param: bool):
        self.name, self.is_param = name, is_param


def _get_field(name):
    def get(env):
        v = env.get(name)
        if v is None:
            raise MissingValue(name, False)
        return v
    return get


def _get_param(name):
    def get(env):
        v = env["$params"].get(name)
        if v is None:
            raise MissingValue(name, True)
        return v
    return get


_CMP = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def compile_expr(e: ir.Expr) -> Callable[[Env], Any]:
    if isinstance(e, ir.Const):
        v = e.value
        return lambda env: v
    if isinstance(e, ir.Field):
        return _get_field(e.name)
    if isinstance(e, ir.Param):
        return _get_param(e.name)
    if isinstance(e, ir.Arith):
        lf, rf = compile_expr(e.left), compile_expr(e.right)
        if e.op == "+":
            return lambda env: lf(env) + rf(env)
        if e.op == "-":
            return lambda env: lf(env) - rf(env)
        return lambda env: lf(env) * rf(env)
    raise TypeError(e)


def compile_cond(c: ir.Cond) -> Callable[[Env], bool]:
    if isinstance(c, ir.Cmp):
        lf, rf, op = compile_expr(c.left), compile_expr(c.right), _CMP[c.op]
        return lambda env: op(lf(env), rf(env))
    if isinstance(c, ir.InSet):
        f, values = compile_expr(c.operand), c.values
        return lambda env: f(env) in values
    if isinstance(c, ir.AllOf):
        parts = [compile_cond(x) for x in c.items]
        if not parts:
            return lambda env: True
        return lambda env: all(p(env) for p in parts)
    if isinstance(c, ir.AnyOf):
        parts = [compile_cond(x) for x in c.items]
        return lambda env: any(p(env) for p in parts)
    if isinstance(c, ir.Negate):
        inner = compile_cond(c.item)
        return lambda env: not inner(env)
    raise TypeError(c)


def compile_value(v: ir.Value) -> Callable[[Env], tuple[Any, ir.Prov | None]]:
    """A value with the provenance of the decision-table row that produced it."""
    if isinstance(v, ir.Decide):
        arms = [(compile_cond(a.when), a.value.value, a.prov) for a in v.arms]

        def decide(env):
            for cond, value, prov in arms:
                if cond(env):
                    return value, prov
            raise NoRow()
        return decide
    f = compile_expr(v)
    return lambda env: (f(env), None)


def in_force(version: ir.Version, when: dt.date, params: dict) -> bool:
    start = version.start if isinstance(version.start, dt.date) else params.get(version.start)
    until = version.until if version.until is None or isinstance(version.until, dt.date) else params.get(version.until)
    if start is None:
        raise MissingValue(version.start, True)
    if version.until is not None and until is None:
        raise MissingValue(version.until, True)
    return start <= when and (until is None or when <= until)


def version_at(section: ir.Section | None, when: dt.date, params: dict) -> ir.Version | None:
    if section is None:
        return None
    for v in section.versions:
        if in_force(v, when, params):
            return v
    return None


def _date(d) -> dt.date:
    return d.date() if isinstance(d, dt.datetime) else d


def split_bands(bands: ir.Bands, prior: Decimal, amount: Decimal) -> list[tuple[int, Decimal]]:
    """The parts of ``amount`` (accumulated on top of ``prior``) in each band."""
    parts = []
    low = ZERO
    end = prior + amount
    for i, limit in enumerate(bands.limits):
        high = end if limit is None else min(limit, end)
        part = high - max(low, prior)
        if part > 0:
            parts.append((i, part))
        if limit is None or limit >= end:
            break
        low = limit
    return parts


class _CompiledPooling:
    def __init__(self, rules: ir.PoolingRules):
        self.rules = rules
        self.bands = rules.ratio if isinstance(rules.ratio, ir.Bands) else None
        self.ratio = compile_value(rules.ratio) if self.bands is None else None
        self.adjustments = [(compile_cond(a.when), a) for a in rules.adjustments]
        self.deductibles = [(compile_value(a.amount), compile_cond(a.when), a) for a in rules.deductibles]
        self.caps = [(compile_value(a.amount), compile_cond(a.when), a) for a in rules.caps]

    def uplift(self, env) -> tuple[Decimal, list[ir.Adjust]]:
        applied = [adj for cond, adj in self.adjustments if cond(env)]
        return sum((a.points for a in applied), ZERO), applied

    def band_ratios(self, env) -> list[Decimal]:
        """Each band's ratio with the uplifts that apply (for analysis)."""
        points, _ = self.uplift(env)
        return [v + points for v in self.bands.values]

    def effective_ratio(self, env, tracing: bool = True) -> tuple[Decimal | None, list[TraceStep]]:
        base, row_prov = self.ratio(env)
        steps = []
        if base is None:
            return None, steps
        if tracing:
            steps.append(TraceStep.of("ratio", percent(base), row_prov or self.rules.ratio_prov,
                                      hosp_lv=env.get("hosp_lv"), psn_type=env.get("psn_type")))
        value = base
        for cond, adj in self.adjustments:
            if cond(env):
                value = value + adj.points
                if tracing:
                    steps.append(TraceStep.of("ratio", percent(value), adj.prov, base=percent(value - adj.points),
                                              points=format((adj.points * 100).normalize(), "f")))
        return value, steps


class ScalarEvaluator:
    """Evaluates one compiled policy.  Stateless between calls: ``settle`` starts a
    new ledger each time, so the result does not depend on earlier calls."""

    def __init__(self, policy: ir.Policy, tracing: bool = True):
        self.policy = policy
        self.tracing = tracing
        self.pooling = policy.sections.get("pooling")
        self.crediting = policy.sections.get("crediting")
        self.account = policy.sections.get("account_use")
        self._pool = {id(v): _CompiledPooling(v.rules) for v in (self.pooling.versions if self.pooling else ())}
        self._credit = {id(v): [(compile_cond(r.when), compile_expr(r.amount), r) for r in v.rules.rules]
                        for v in (self.crediting.versions if self.crediting else ())}
        covers = policy.settings.get("account_covers")
        self.account_covers = covers[0] if covers else None
        self.account_covers_prov = covers[1] if covers else None

    def _round(self, amount: Decimal) -> Decimal:
        return round_money(amount, self.policy.rounding)

    # ---- settlement ------------------------------------------------------------
    def settle(self, visits: list[dict], params: dict) -> list[VisitResult]:
        order = sorted(range(len(visits)), key=lambda i: (_sort_key(visits[i]["setl_time"]), i))
        ledger = Ledger()
        results: list[VisitResult | None] = [None] * len(visits)
        problems = []
        for i in order:
            try:
                results[i] = self._settle_one(visits[i], i, ledger, params)
            except MissingValue as e:
                problems.append(self._missing(e, i, visits[i].get("psn_no")))
            except NoRow:
                problems.append(InputProblem(i + 1, "(record)", "no row of a decision table of the policy applies "
                                             "to this record", visits[i].get("psn_no")))
            except (BadValue, DecimalException) as e:
                problems.append(InputProblem(i + 1, "(record)", str(e) if isinstance(e, BadValue) else
                                             "a value is too large to compute exactly; check the amounts and "
                                             "parameters", visits[i].get("psn_no")))
        if problems:
            raise InputError(problems)
        return results

    def _missing(self, e: MissingValue, i: int, psn_no) -> InputProblem:
        if e.is_param:  # the same for every record: report it once, at once
            raise missing_param(e.name, self.policy)
        return InputProblem(i + 1, e.name, "is required by the rule that applies to this record", psn_no)

    def _settle_one(self, v: dict, index: int, ledger: Ledger, params: dict) -> VisitResult:
        when = _date(v["setl_time"])
        psn = v["psn_no"]
        total = v["medfee_sumamt"]
        trace: list[TraceStep] | None = [] if self.tracing else None
        inscp = total - v["fulamt_ownpay_amt"] - v["overlmt_selfpay"] - v["preselfpay_amt"]
        if trace is not None:
            trace.append(TraceStep(
                "inscp_scp_amt", money(inscp), "bill split",
                formula="medfee_sumamt - fulamt_ownpay_amt - overlmt_selfpay - preselfpay_amt",
                inputs={"medfee_sumamt": money(total), "fulamt_ownpay_amt": money(v["fulamt_ownpay_amt"]),
                        "overlmt_selfpay": money(v["overlmt_selfpay"]),
                        "preselfpay_amt": money(v["preselfpay_amt"])}))
        dedc = fund = ZERO
        ratio_value = None
        reason = None
        message = ""
        version = version_at(self.pooling, when, params)
        env = {**v, "setl_time": when, "$params": params}
        if version is None:
            reason = "not_in_force"
            if self.pooling is None:
                message = f"policy {self.policy.id} states no general outpatient pooling"
            else:
                message = f"general outpatient pooling is not in force on {when.isoformat()}"
            if trace is not None:
                trace.append(TraceStep("hifp_pay", money(ZERO), "not in force",
                                       inputs={"setl_time": when.isoformat()}))
        else:
            rules: _CompiledPooling = self._pool[id(version)]
            r = rules.rules
            category_ok = r.covered(v["psn_type"], v["flxempe_flag"])
            if not category_ok:
                reason = "not_covered"
                message = "this person's category is not covered by general outpatient pooling"
                if trace is not None:
                    trace.append(TraceStep.of("hifp_pay", money(ZERO), r.covers_prov, psn_type=v["psn_type"],
                                              flxempe_flag=v["flxempe_flag"]))
            elif r.designated_only is not None and not v["designated"]:
                reason = "not_designated"
                message = "the fund pays only at designated institutions"
                if trace is not None:
                    trace.append(TraceStep.of("hifp_pay", money(ZERO), r.designated_only, designated=False))
            else:
                remaining = inscp
                for amount_fn, cond, acc in rules.deductibles:
                    if not cond(env):
                        continue
                    amount, row = amount_fn(env)
                    key = _counter(psn, acc, when, index, env)
                    before = ledger.used(key)
                    take = max(ZERO, min(remaining, amount - before))
                    ledger.add(key, take)
                    remaining -= take
                    dedc += take
                    if trace is not None:
                        trace.append(TraceStep.of("act_pay_dedc", money(take), row or acc.prov, deductible=money(amount),
                                                  consumed_before=money(before), in_policy=money(inscp)))
                if rules.bands is None:
                    ratio_value, steps = rules.effective_ratio(env, trace is not None)
                    if trace is not None:
                        trace.extend(steps)
                    exact = remaining * ratio_value
                else:
                    ratio_value, exact = self._banded(rules, env, psn, when, index, remaining, ledger, trace)
                if not (0 <= ratio_value <= 1):  # only a parameter can do this: the checker proves literals
                    raise BadValue(f"the ratio that applies comes to {percent(ratio_value)}, outside 0%..100%; "
                                   "check the parameters")
                raw = self._round(exact)
                if trace is not None:
                    trace.append(TraceStep.of("hifp_pay", money(raw), self.policy.rounding.prov,
                                              base=money(remaining),
                                              ratio=percent(ratio_value) if rules.bands is None else "by bands",
                                              exact=str(exact)))
                fund = raw
                for amount_fn, cond, acc in rules.caps:
                    if not cond(env):
                        continue
                    amount, row = amount_fn(env)
                    key = _counter(psn, acc, when, index, env)
                    before = ledger.used(key)
                    room = max(ZERO, amount - before)
                    if fund > room:
                        fund = room
                        if trace is not None:
                            trace.append(TraceStep.of("hifp_pay", money(fund), row or acc.prov, cap=money(amount),
                                                      paid_before=money(before), uncapped=money(raw)))
                for amount_fn, cond, acc in rules.caps:
                    if cond(env):
                        key = _counter(psn, acc, when, index, env)
                        ledger.add(key, fund)
                if fund == ZERO:
                    if inscp == ZERO:
                        reason, message = "no_in_policy_amount", "nothing in this bill is within the policy scope"
                    elif remaining == ZERO:
                        reason, message = "within_deductible", "the in-policy amount went to the deductible"
                    elif raw > ZERO:
                        reason, message = "cap_reached", "the cap has been reached"
                    elif ratio_value == 0:
                        reason, message = "zero_ratio", "the ratio that applies is 0%"
                    else:
                        reason, message = "rounds_to_zero", "the fund's share rounds to less than the rounding unit"
                else:
                    message = (f"the fund pays {percent(ratio_value)} of {money(remaining)}" if rules.bands is None
                               else f"the fund pays {money(raw)} of {money(remaining)} by bands")
                    if fund < raw:
                        message += " up to the cap"
        part = total - fund
        if trace is not None:
            if not any(t.field == "act_pay_dedc" for t in trace):
                why = f"no deductible applies ({reason})" if reason else "this version states no deductible"
                trace.insert(1, TraceStep("act_pay_dedc", money(ZERO), why))
            trace.append(TraceStep("fund_pay_sumamt", money(fund), "computed", formula="hifp_pay",
                                   inputs={"hifp_pay": money(fund)}))
            trace.append(TraceStep("psn_part_amt", money(part), "computed", formula="medfee_sumamt - fund_pay_sumamt",
                                   inputs={"medfee_sumamt": money(total), "fund_pay_sumamt": money(fund)}))
        acct, balance = self._account(v, when, part, fund, ledger, params, trace)
        cash = part - acct
        if trace is not None:
            trace.append(TraceStep("psn_cash_pay", money(cash), "computed", formula="psn_part_amt - acct_pay",
                                   inputs={"psn_part_amt": money(part), "acct_pay": money(acct)}))
        return VisitResult(psn, v.get("$setl_time_text") or _iso(v["setl_time"]), total, inscp, dedc, ratio_value, fund, fund, part, acct, cash,
                           balance, reason, message, tuple(trace or ()))

    def _banded(self, rules: _CompiledPooling, env, psn, when, index, remaining, ledger: Ledger, trace):
        """The fund's exact share of ``remaining`` under banded ratios; returns the
        ratio of the band the visit ends in (reported as pool_prop_selfpay)."""
        bands = rules.bands
        key = (psn, "bands", bands.period, period_bucket(bands.period, when, index), bands.each,
               env.get(bands.each) if bands.each else None)
        prior = ledger.used(key)
        points, applied = rules.uplift(env)
        exact = ZERO
        last = bands.values[0] + points
        for i, part in split_bands(bands, prior, remaining):
            ratio = bands.values[i] + points
            exact += part * ratio
            last = ratio
            if trace is not None:
                trace.append(TraceStep.of("ratio", percent(ratio), bands.provs[i], band_part=money(part),
                                          accumulated_before=money(prior),
                                          uplift=format((points * 100).normalize(), "f")))
        if trace is not None:
            for adj in applied:
                trace.append(TraceStep.of("ratio", format((adj.points * 100).normalize(), "f") + " points", adj.prov))
        ledger.add(key, remaining)
        return last, exact

    def _account(self, v, when, part, fund, ledger: Ledger, params, trace) -> tuple[Decimal, Decimal | None]:
        psn = v["psn_no"]
        if v.get("acct_balc") is not None:
            ledger.balances[psn] = v["acct_balc"]
        balance = ledger.balances.get(psn)
        if balance is None:
            if trace is not None:
                trace.append(TraceStep("acct_pay", money(ZERO), "no account balance given (acct_balc)"))
            return ZERO, None
        venue = "designated_institution" if v["designated"] else "non_designated"
        decision = self._may_pay_one({"relation": "self", "venue": venue, "item": "medical_service", "on": when,
                                      "networked": True}, params)
        if not decision.allowed or self.account_covers is None:
            why = decision.reason if not decision.allowed else "the policy declares no account_covers setting"
            if trace is not None:
                trace.append(TraceStep("acct_pay", money(ZERO), f"account may not pay: {why}",
                                       clause=decision.clause, inputs={"venue": venue, "balance": money(balance)}))
            return ZERO, balance
        payable = part if self.account_covers == "person_share" else part - v["fulamt_ownpay_amt"] - v["overlmt_selfpay"]
        pay = min(balance, max(ZERO, payable))
        balance = balance - pay
        ledger.balances[psn] = balance
        if trace is not None:
            trace.append(TraceStep.of("acct_pay", money(pay), self.account_covers_prov, balance_before=money(pay + balance),
                                      payable=money(payable)))
        return pay, balance

    # ---- crediting -------------------------------------------------------------
    def _each(self, records: list[dict], one, params: dict) -> list:
        """``one(record, params)`` for every record, collecting missing values as input problems."""
        out, problems = [], []
        for i, rec in enumerate(records):
            try:
                out.append(one(rec, params))
            except MissingValue as e:
                problems.append(self._missing(e, i, rec.get("psn_no")))
            except DecimalException:
                problems.append(InputProblem(i + 1, "(record)", "a value is too large to compute exactly; check the "
                                             "amounts and parameters", rec.get("psn_no")))
        if problems:
            raise InputError(problems)
        return out

    def credit(self, persons: list[dict], params: dict) -> list[CreditResult]:
        return self._each(persons, self._credit_one, params)

    def _credit_one(self, p: dict, params: dict) -> CreditResult:
        on = p["on"]
        version = version_at(self.crediting, on, params)
        if version is None:
            return CreditResult(p["psn_no"], on.isoformat(), None, "not_in_force", None, None,
                                f"no crediting rule of this policy is in force on {on.isoformat()}")
        env = {**p, "$params": params}
        for cond, amount_fn, rule in self._credit[id(version)]:
            if cond(env):
                exact = amount_fn(env)
                value = self._round(exact)
                trace = (TraceStep.of("credit", money(value), rule.prov, exact=str(exact)),) if self.tracing else ()
                return CreditResult(p["psn_no"], on.isoformat(), value, "credited", rule.name, rule.prov.clause,
                                    f"credited by rule {rule.name}", trace)
        return CreditResult(p["psn_no"], on.isoformat(), None, "no_rule", None, None,
                            "no crediting rule of this policy applies to this person")

    # ---- account use -----------------------------------------------------------
    def may_pay(self, requests: list[dict], params: dict) -> list[MayPayResult]:
        return self._each(requests, self._may_pay_one, params)

    def _may_pay_one(self, r: dict, params: dict) -> MayPayResult:
        on, relation, item, venue = r["on"], r["relation"], r["item"], r.get("venue")

        def result(allowed, reason, prov: ir.Prov | None, message, channel=None):
            step = self.tracing and TraceStep.of("allowed", "true" if allowed else "false", prov, relation=relation, item=item,
                                venue=venue, on=on)
            return MayPayResult(r.get("psn_no"), relation, item, venue, on.isoformat(), allowed, reason, channel,
                                prov.clause if prov else None, message, (step,) if step else ())

        version = version_at(self.account, on, params)
        if version is None:
            return result(False, "not_in_force", None, f"no account-use rule of this policy is in force on {on}")
        rules: ir.AccountRules = version.rules
        if item in rules.excludes:
            return result(False, "excluded", rules.excludes_prov, f"the personal account may never pay for {item}")
        if relation not in rules.relations:
            return result(False, "relation_not_eligible", rules.relations_prov,
                          f"{relation} is not among the eligible relations ({', '.join(sorted(rules.relations))})")
        for perm in rules.planned:
            if item in perm.items and (perm.relations is None or relation in perm.relations) \
                    and (perm.venues is None or venue in perm.venues):
                return result(False, "planned", perm.prov,
                              f"{item} for {relation} is only to be explored (逐步探索), not yet in force")
        venue_prov = next((p.prov for p in rules.allows if p.venues), rules.relations_prov)
        if item not in V.CONTRIBUTION_ITEMS and venue == "non_designated":
            return result(False, "not_designated", venue_prov,
                          "the personal account pays only at designated institutions and pharmacies")
        for perm in rules.allows:
            if item in perm.items and (perm.venues is None or venue in perm.venues) \
                    and (perm.relations is None or relation in perm.relations):
                channels = dict(rules.channels)
                want = "direct" if r.get("networked", True) else "reimbursement"
                if channels and want not in channels:
                    return result(False, "no_channel", perm.prov,
                                  f"this policy provides no {want} settlement for this use")
                return result(True, "permitted", perm.prov, f"the personal account may pay for {item}"
                              + (f" at {venue}" if venue else "") + f" for {relation}",
                              channel=want)
        where = f" at {venue}" if venue else ""
        at_venue = next((p.prov for p in rules.allows if p.venues and venue in p.venues), venue_prov)
        return result(False, "item_not_allowed", at_venue if venue else rules.relations_prov,
                      f"this policy does not let the account pay for {item}{where} for {relation}")


def _counter(psn: str, acc: ir.Accumulate, when: dt.date, index: int, env: dict) -> tuple:
    """What one person has used of one deductible or cap in the current period (see ir.Accumulate)."""
    return (psn, acc.kind, acc.index, acc.period, period_bucket(acc.period, when, index), acc.each,
            env.get(acc.each) if acc.each else None)


def _sort_key(t):
    """A visit with a date only comes before every visit with a time on that day."""
    if isinstance(t, dt.datetime):
        return (t.date(), 1, t.time())
    return (t, 0, dt.time.min)


def _iso(t) -> str:
    return t.isoformat(sep=" ") if isinstance(t, dt.datetime) else t.isoformat()
