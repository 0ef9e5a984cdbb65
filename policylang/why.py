"""``policylang why``: the calculation of one visit (or credit, or decision), step by step.

Every step comes from the result's trace (``VisitResult.trace``: the IR program's steps
as a backend executed them) with its clause, the quoted sentence and the inputs it read.
Two things a trace does not record are read from the IR program itself:

- the version in force: the program's block whose dates contain the record's date;
- the room left under a cap that did not cut the payment (a trace step is written only when
  a cap cuts it): what the person's earlier records of this call charged to the cap's counter
  (its identity, period and ``each`` value), each the fund's payment of that record, exactly
  as the ledger charges it.

The whole input is evaluated -- deductibles and caps depend on a person's earlier visits --
and the selected records are explained.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterator

import attrs

from . import ir
from . import vocab as V
from .backends.common import block_at, bucket, settle_order, visit_date
from .ir import evaluate as E
from .ir.evaluate import CTX
from .ir.text import cond_text
from .runtime import CreditResult, MayPayResult, TraceStep, VisitResult, money, with_provenance

if TYPE_CHECKING:
    from .api import CompiledPolicy

KINDS = ("settle", "credit", "may_pay")
DATE_FIELD = {"settle": "setl_time", "credit": "on", "may_pay": "on"}


@attrs.define
class Step:
    """One line of the explanation."""

    what: str  # what the step settles, for people: "version in force", "deductible", ...
    field: str | None  # the result field (or trace field) it explains
    value: str | None
    rule: str | None = None
    explanation: str | None = None  # the arithmetic or the reason, in words
    clause: str | None = None
    quote: str | None = None
    unstated: str | None = None
    inputs: dict[str, Any] = attrs.Factory(dict)
    formula: str | None = None

    def to_json(self) -> dict[str, Any]:
        head: dict[str, Any] = {
            "what": self.what,
            "field": self.field,
            "value": self.value,
            "rule": self.rule,
            "explanation": self.explanation,
            "clause": self.clause,
        }
        return with_provenance(head, self)


@attrs.define
class Explanation:
    record: int  # 1-based
    kind: str
    result: dict  # the result's JSON, without the trace
    steps: list[Step]

    def to_json(self) -> dict:
        return {
            "record": self.record,
            "kind": self.kind,
            "result": self.result,
            "steps": [s.to_json() for s in self.steps],
        }


def detect_kind(records: list) -> str | None:
    """settle, credit or may_pay, from the fields of the records (None: cannot tell)."""
    keys = set()
    for r in records:
        if isinstance(r, dict):
            keys |= set(r)
    if keys & {"setl_time", "medfee_sumamt", "hosp_lv"}:
        return "settle"
    if keys & {"relation", "item", "venue"}:
        return "may_pay"
    if keys & {"on", "contribution_base", "contribution_years_met"}:
        return "credit"
    return None


def explain(
    compiled: CompiledPolicy, records: list, params: dict, kind: str, selected: list[int]
) -> list[Explanation]:
    """Evaluate every record, explain those at ``selected`` (0-based indexes)."""
    from .inputs import validate_params, validate_persons, validate_requests, validate_visits

    policy: ir.Policy = compiled.ir
    # settle, credit or may_pay
    method: Callable[[list[dict], dict[str, Any]], list[Any]] = getattr(compiled, kind)
    results = method(records, params)
    values = validate_params(params, policy, source="params")
    rows = {"settle": validate_visits, "credit": validate_persons, "may_pay": validate_requests}[
        kind
    ](records, policy)
    program = policy.programs[kind]
    out = []
    for i in selected:
        result = results[i]
        steps = [_version_step(program, rows[i], values, kind)]
        if kind == "settle":
            steps += _settle_steps(result, program, rows, results, i, values)
        elif kind == "credit":
            steps += _credit_steps(result, program, rows[i], values)
        else:
            steps += _may_pay_steps(result)
        out.append(Explanation(i + 1, kind, result.to_json(trace=False), steps))
    return out


# ---- the steps ---------------------------------------------------------------------------


def _version_step(program: ir.Program, row: dict, params: dict, kind: str) -> Step:
    field = program.date_field
    when = visit_date(row[field])
    block = block_at(program, when, params)
    read = {field: when.isoformat()}
    if block is None:
        if program.section is None:
            return Step(
                "version in force",
                None,
                "none",
                explanation=f"the policy has no {_section(kind)} section",
                inputs=read,
            )
        return Step(
            "version in force",
            None,
            "none",
            explanation=f"no version of the {_section(kind)} section is in force on "
            f"{when.isoformat()}: the result is not_in_force",
            inputs=read,
        )
    start = _point(block.start, params)
    until = f" until {_point(block.until, params)}" if block.until is not None else ""
    prov = block.prov or ir.Prov("version")
    return Step(
        "version in force",
        None,
        f"from {start}{until}",
        "version",
        explanation=f"the version in force on {when.isoformat()}",
        clause=prov.clause,
        quote=prov.quote,
        unstated=prov.unstated,
        inputs=read,
    )


def _section(kind: str) -> str:
    return {"settle": "pooling", "credit": "crediting", "may_pay": "account_use"}[kind]


def _point(p: dt.date | str, params: dict) -> str:
    if isinstance(p, str):
        value = params.get(p)
        return f"{p} = {value.isoformat()}" if value is not None else p
    return p.isoformat()


WHAT = {
    "inscp_scp_amt": "in-policy amount",
    "inscp_counted": "costs counted",
    "act_pay_dedc": "deductible",
    "ratio": "ratio",
    "hifp_pay": "fund pays",
    "fund_pay_sumamt": "all funds pay",
    "psn_part_amt": "the person's share",
    "acct_pay": "personal account",
    "psn_cash_pay": "cash",
    "credit": "credit",
    "allowed": "decision",
}


def _what(field: str) -> str:
    """The label of a trace step's field; a further fund's steps (``hifob_dedc``,
    ``hifob_ratio``, ``hifob_pay``) are named after the fund."""
    if field in WHAT:
        return WHAT[field]
    fund, _, kind = field.rpartition("_")
    if fund in V.FUNDS and kind in FUND_WHAT:
        return f"{fund} {FUND_WHAT[kind]}"
    return field


FUND_WHAT = {"dedc": "deductible", "ratio": "ratio", "pay": "pays"}


def _kind(field: str) -> str:
    """The field whose words explain a trace step, the same for every fund: a further
    fund's deductible (hifob_dedc) as act_pay_dedc, its ratio (hifob_ratio) as ratio, its
    payment (hifob_pay) as hifp_pay."""
    fund, _, kind = field.rpartition("_")
    if fund in V.FUNDS and fund != V.POOLING_FUND:
        return FUND_KIND.get(kind, field)
    return field


FUND_KIND = {"dedc": "act_pay_dedc", "ratio": "ratio", "pay": "hifp_pay"}


def _from_trace(t: TraceStep) -> Step:
    return Step(
        _what(t.field),
        t.field,
        t.value,
        t.rule,
        _words(t),
        t.clause,
        t.quote,
        t.unstated,
        dict(t.inputs),
        t.formula,
    )


def _words(t: TraceStep) -> str | None:
    """The arithmetic of a trace step, in words."""
    if t.formula:
        return f"{t.formula} = {t.value}"
    words = _WORDS.get(_kind(t.field))
    return words(t, t.inputs) if words is not None else None


def _deductible_words(t: TraceStep, x: dict[str, Any]) -> str | None:
    if "deductible" not in x:
        return _total_words(t, x)  # a deductible's total_at_most cut it
    left = Decimal(x["deductible"]) - Decimal(x["consumed_before"])
    return (
        f"{x['deductible']} for the period, {x['consumed_before']} used before this visit, "
        f"{money(max(left, Decimal(0)))} left: takes {t.value} of the in-policy "
        f"{x['in_policy']}"
    )


def _ratio_words(t: TraceStep, x: dict[str, Any]) -> str:
    if "base" in x and "points" in x:
        why = ", ".join(f"{k} = {_plain(v)}" for k, v in x.items() if k not in ("base", "points"))
        points = str(x["points"])
        change = f"- {points[1:]}" if points.startswith("-") else f"+ {points}"
        return f"{x['base']} {change} points = {t.value}" + (f", because {why}" if why else "")
    if "band_part" in x:
        return (
            f"{x['band_part']} of this visit falls in the band at {t.value} "
            f"({x['accumulated_before']} accumulated before, uplift {x['uplift']} points)"
        )
    if t.value and t.value.endswith(" points"):
        return f"adds {t.value} to every band"
    read = ", ".join(f"{k} = {_plain(v)}" for k, v in x.items())
    return f"{t.value}" + (f" for {read}" if read else "")


def _fund_words(t: TraceStep, x: dict[str, Any]) -> str | None:
    if "exact" in x:
        ratio = x["ratio"]
        product = f"{x['base']} × {ratio}" if ratio != "by bands" else f"{x['base']} by bands"
        return f"{product} = {x['exact']}, rounded to {t.value}"
    if "cap" in x:
        room = Decimal(x["cap"]) - Decimal(x["paid_before"])
        return (
            f"{x['cap']} for the period, {x['paid_before']} paid before this visit, "
            f"{money(max(room, Decimal(0)))} left: {x['uncapped']} is cut to {t.value}"
        )
    return None


def _total_words(t: TraceStep, x: dict[str, Any]) -> str | None:
    """A total that cut the step: a deductible's total_at_most, or a cost cap."""
    if "cap" not in x:
        return None
    used = "taken_before" if t.field == "act_pay_dedc" else "counted_before"
    room = Decimal(x["cap"]) - Decimal(x[used])
    what = "taken" if t.field == "act_pay_dedc" else "counted"
    return (
        f"{x['cap']} in total for the period, {x[used]} {what} before this visit, "
        f"{money(max(room, Decimal(0)))} left: {x['uncapped']} is cut to {t.value}"
    )


def _account_words(t: TraceStep, x: dict[str, Any]) -> str | None:
    if "payable" not in x:
        return None
    return f"balance {x['balance_before']}, payable {x['payable']}: the account pays {t.value}"


def _credit_words(t: TraceStep, x: dict[str, Any]) -> str | None:
    return f"{x['exact']}, rounded to {t.value}" if "exact" in x else None


# the words of a trace step, by the field it sets (a step with a formula shows the formula)
_WORDS: dict[str, Callable[[TraceStep, dict[str, Any]], str | None]] = {
    "act_pay_dedc": _deductible_words,
    "inscp_counted": _total_words,
    "ratio": _ratio_words,
    "hifp_pay": _fund_words,
    "acct_pay": _account_words,
    "credit": _credit_words,
}


def _settle_steps(
    result: VisitResult, program: ir.Program, rows: list[dict], results: list, i: int, params: dict
) -> list[Step]:
    trace = list(result.trace)
    steps: list[Step] = []
    capped = any(t.field == "hifp_pay" and "cap" in t.inputs for t in trace)
    for t in trace:
        step = _from_trace(t)
        steps.append(step)
        if t.field == "hifp_pay" and "exact" in t.inputs and not capped:
            assert t.value is not None  # the fund's share is a number
            steps += _cap_steps(program, rows, results, i, params, Decimal(t.value))
    if result.reason is not None:
        steps.append(Step("outcome", "reason", result.reason, explanation=result.message))
    return steps


def _cap_steps(
    program: ir.Program, rows: list[dict], results: list, i: int, params: dict, share: Decimal
) -> list[Step]:
    """Each cap that applies to the visit and did not cut its share: the room it had."""
    out = []
    for cap, amount, before in cap_rooms(program, rows, results, i, params):
        room = max(CTX.subtract(amount, before), Decimal(0))
        prov = cap.prov
        out.append(
            Step(
                "cap",
                "hifp_pay",
                money(share),
                prov.rule,
                f"{money(amount)} for the period, {money(before)} paid before this visit, "
                f"{money(room)} left: "
                f"{money(share)} fits, {money(CTX.subtract(room, share))} left after this visit",
                prov.clause,
                prov.quote,
                prov.unstated,
                {"cap": money(amount), "paid_before": money(before), "uncapped": money(share)},
            )
        )
    return out


def cap_rooms(
    program: ir.Program, rows: list[dict], results: list, target: int, params: dict
) -> list[tuple[ir.CapUse, Decimal, Decimal]]:
    """(cap, amount, paid before) for each cap that applies to the visit ``target``: what the
    same person's earlier visits (in execution order) charged to its counter this period."""
    counters = {c.id: c for c in program.counters}
    psn = rows[target]["psn_no"]
    used: dict[tuple, Decimal] = {}
    for j in settle_order(rows):
        row = rows[j]
        if row["psn_no"] != psn:
            continue
        applying = list(_applying_caps(program, row, j, params, counters))
        if j == target:
            return [(cap, amount, used.get(key, Decimal(0))) for cap, amount, key in applying]
        fund = results[j].hifp_pay
        for _, _, key in applying:
            used[key] = CTX.add(used.get(key, Decimal(0)), fund)
    return []  # pragma: no cover - target is among the rows


def _applying_caps(
    program: ir.Program, row: dict, index: int, params: dict, counters: dict
) -> Iterator[tuple[ir.CapUse, Decimal, tuple]]:
    when = visit_date(row["setl_time"])
    block = block_at(program, when, params)
    if block is None:
        return
    env = {**row, "setl_time": when}
    for name in program.optional:
        if env.get(name) is None:
            env[name] = E.ABSENT
    for step in block.steps:
        if isinstance(step, ir.Limit) and step.out == "hifp_pay":  # the fund's caps
            for cap in step.caps:
                if E.cond(cap.when, env, params):
                    amount = E.value(cap.amount, env, params)[0]
                    counter = counters[cap.counter]
                    key = (
                        cap.counter,
                        bucket(counter.period, when, index),
                        env.get(counter.each) if counter.each else None,
                    )
                    yield cap, amount, key


def _credit_steps(result: CreditResult, program: ir.Program, row: dict, params: dict) -> list[Step]:
    steps = []
    rule = _credit_rule(program, result.rule)
    for t in result.trace:
        step = _from_trace(t)
        step.what = "credit"
        if rule is not None:
            step.explanation = (
                f"rule {rule.name} applies (when {cond_text(rule.when)}): "
                f"{_amount_text(rule.amount)} = {step.explanation}"
            )
            step.inputs = {**_reads(rule, row, params), **step.inputs}
        steps.append(step)
    if result.reason != "credited":
        steps.append(Step("outcome", "reason", result.reason, explanation=result.message))
    return steps


def _credit_rule(program: ir.Program, name: str | None) -> ir.CreditRule | None:
    for block in program.blocks:
        for step in block.steps:
            if isinstance(step, ir.CreditRules):
                for rule in step.rules:
                    if rule.name == name:
                        return rule
    return None


def _amount_text(e: ir.Expr, top: bool = True) -> str:
    """An IR expression as the policy writes it: percentages as 2%, × for times."""
    from .ir.text import value_text
    from .runtime import percent

    if isinstance(e, ir.Const):
        if e.type == "percent" and isinstance(e.value, Decimal):
            return percent(e.value)
        return value_text(e.value)
    if isinstance(e, ir.Arith):
        op = "×" if e.op == "*" else e.op
        text = f"{_amount_text(e.left, False)} {op} {_amount_text(e.right, False)}"
        return text if top else f"({text})"
    return e.name


def _names(e: ir.Expr | ir.Cond) -> set[str]:
    if isinstance(e, ir.Arith):
        return _names(e.left) | _names(e.right)
    if isinstance(e, (ir.Field, ir.Param)):
        return {e.name}
    if isinstance(e, (ir.AllOf, ir.AnyOf)):
        return set().union(*(_names(i) for i in e.items)) if e.items else set()
    if isinstance(e, ir.Negate):
        return _names(e.item)
    if isinstance(e, ir.Cmp):
        return _names(e.left) | _names(e.right)
    if isinstance(e, ir.InSet):
        return _names(e.operand)
    return set()


def _reads(rule: ir.CreditRule, row: dict, params: dict) -> dict:
    """The fields and parameters a credit rule read, with their values."""
    out = {}
    for name in sorted(_names(rule.when) | _names(rule.amount)):
        if name in row:
            out[name] = _shown(row[name])
        elif name in params:
            out[name] = _shown(params[name])
    return out


def _shown(v: object) -> Any:
    if isinstance(v, Decimal):
        return format(v.normalize(CTX), "f")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _may_pay_steps(result: MayPayResult) -> list[Step]:
    steps = []
    for t in result.trace:
        step = _from_trace(t)
        step.explanation = f"{result.reason}: {result.message}"
        steps.append(step)
    if result.allowed:
        steps.append(
            Step(
                "channel",
                "channel",
                result.channel,
                explanation="direct when the venue settles over the network (networked), "
                "else reimbursement",
            )
        )
    return steps


# ---- rendering ---------------------------------------------------------------------------------


def render_text(policy_id: str, policy_file: str, explanations: list[Explanation]) -> str:
    out = []
    for ex in explanations:
        out.append(f"{_head(ex)}  (policy {policy_id}, {policy_file})")
        out += _step_lines(ex.steps)
        out.append("     result: " + _summary(ex))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _head(ex: Explanation) -> str:
    r = ex.result
    if ex.kind == "settle":
        return f"visit {ex.record}: psn_no {r['psn_no']}, setl_time {r['setl_time']}"
    if ex.kind == "credit":
        return f"credit {ex.record}: psn_no {r['psn_no']}, on {r['on']}"
    who = f"psn_no {r['psn_no']}, " if r.get("psn_no") else ""
    venue = f" at {r['venue']}" if r.get("venue") else ""
    return f"request {ex.record}: {who}{r['relation']}, {r['item']}{venue}, on {r['on']}"


def _step_lines(steps: list[Step]) -> list[str]:
    """Each step numbered, its value aligned (but the version's), then its explanation,
    citation and what it read on lines of their own."""
    from .formatter import cell_width

    what_w = max(cell_width(s.what) for s in steps)
    value_w = max([cell_width(s.value or "") for s in steps if s.what != "version in force"] or [0])
    out = []
    for n, s in enumerate(steps, start=1):
        value = s.value or ""
        aligned = (
            value
            if s.what == "version in force"
            else f"{' ' * (value_w - cell_width(value))}{value}"
        )
        line = f"{n:>3}. {s.what}{' ' * (what_w - cell_width(s.what))}  {aligned}"
        if s.rule and s.what != "version in force":
            line += f"  {s.rule}"
        out.append(line.rstrip())
        out += [f"{' ' * 7}{text}" for text in _step_notes(s)]
    return out


def _step_notes(s: Step) -> list[str]:
    notes = []
    if s.explanation:
        notes.append(s.explanation)
    if s.clause or s.quote:
        cite = s.clause or ""
        if s.quote:
            cite += f" “{s.quote}”" if cite else f"“{s.quote}”"
        notes.append(cite)
    if s.unstated:
        notes.append(f"unstated: {s.unstated}")
    if s.inputs:
        notes.append("read: " + ", ".join(f"{k} {_plain(v)}" for k, v in s.inputs.items()))
    return notes


def _plain(v: object) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _further_funds(result: dict) -> tuple[str, ...]:
    """The declared further funds' fields and their total, when the result has any."""
    funds = tuple(f for f in V.FURTHER_FUND_FIELDS if f in result)
    return (*funds, "fund_pay_sumamt") if funds else ()


def _summary(ex: Explanation) -> str:
    r = ex.result
    fields: tuple[str, ...]
    if ex.kind == "settle":
        fields = (
            "inscp_scp_amt",
            "act_pay_dedc",
            "pool_prop_selfpay",
            "hifp_pay",
            *_further_funds(r),
            "psn_part_amt",
            "acct_pay",
            "psn_cash_pay",
            "balc",
            "reason",
        )
    elif ex.kind == "credit":
        fields = ("credit", "reason", "rule", "clause")
    else:
        fields = ("allowed", "reason", "channel", "clause")
    return ", ".join(f"{f} {_plain(r[f])}" for f in fields)


def to_json(
    policy_id: str, policy_file: str, policy_hash: str, explanations: list[Explanation]
) -> dict:
    return {
        "policy": policy_id,
        "file": policy_file,
        "hash": policy_hash,
        "records": [e.to_json() for e in explanations],
    }
