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

import contextvars
from decimal import Decimal
import datetime as dt
from typing import TYPE_CHECKING, Any, Callable, Iterator

import attrs

from . import ir
from . import vocab as V
from .backends.common import block_at, bucket, settle_order, visit_date
from .ir import evaluate as E
from .ir.evaluate import CTX
from .ir.text import cond_text
from .messages import MESSAGES, parse, text as words, vocabulary_names
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
    # the further funds' names as the policy declares them (fund hifob "职工大额医疗费用补助")
    fund_names: dict[str, str] = attrs.Factory(dict)
    # the policy's vocabulary: the Chinese names of the values it adds (veteran -> 离休)
    vocab: Any = None
    # the tiers' names as the policy declares them (tier primary "一级及以下")
    tier_labels: dict[str, str] = attrs.Factory(dict)

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
    compiled: CompiledPolicy,
    records: list,
    params: dict,
    kind: str,
    selected: list[int],
    lang: str = "en",
) -> list[Explanation]:
    """Evaluate every record, explain those at ``selected`` (0-based indexes), in ``lang``
    (the explanations; ``what`` stays the English key the JSON contract names)."""
    from .inputs import validate_params, validate_persons, validate_requests, validate_visits

    policy: ir.Policy = compiled.ir
    # settle, credit or may_pay
    method: Callable[[list, dict], list[Any]] = getattr(compiled, kind)
    results = method(records, params)
    values = validate_params(params, policy, source="params")
    rows = {"settle": validate_visits, "credit": validate_persons, "may_pay": validate_requests}[
        kind
    ](records, policy)
    program = policy.programs[kind]
    with vocabulary_names(policy.vocab):
        return [
            _explain_one(policy, program, kind, rows, results, i, values, lang) for i in selected
        ]


def _explain_one(
    policy: ir.Policy,
    program: ir.Program,
    kind: str,
    rows: list,
    results: list,
    i: int,
    values: dict,
    lang: str,
) -> Explanation:
    """The explanation of record ``i`` (0-based)."""
    result = results[i]
    shown = result.to_json(trace=False, lang=lang)
    steps = [_version_step(program, rows[i], values, kind, lang)]
    if kind == "settle":
        steps += _settle_steps(result, program, rows, results, i, values, lang)
    elif kind == "credit":
        steps += _credit_steps(result, program, rows[i], values, lang)
    else:
        steps += _may_pay_steps(result, lang)
    _in_language(steps, kind, result.reason, shown.get("message"), lang)
    return Explanation(
        i + 1, kind, shown, steps, declared_fund_names(policy), policy.vocab, policy.tier_labels
    )


def declared_fund_names(policy: ir.Policy) -> dict[str, str]:
    """fund -> the name its declaration gives it, over the pooling section's versions."""
    section = policy.sections.get("pooling")
    versions = section.versions if section is not None else ()
    return {f.name: f.title for v in versions for f in v.rules.funds if f.title}


def _in_language(
    steps: list[Step], kind: str, reason: str | None, message: str | None, lang: str = "en"
) -> None:
    """The result's message in the language asked for (the result's own is English)."""
    if message is None:
        return
    for step in steps[1:]:
        if step.what == "outcome":
            step.explanation = message
        elif kind == "may_pay" and step.what != "channel":
            step.explanation = f"{reason}: {message}" if lang == "en" else message


# ---- the steps ---------------------------------------------------------------------------


def _version_step(program: ir.Program, row: dict, params: dict, kind: str, lang: str) -> Step:
    field = program.date_field
    when = visit_date(row[field])
    block = block_at(program, when, params)
    read = {field: when.isoformat()}
    section = _section(kind) if lang == "en" else words(f"section.{_section(kind)}", lang)
    if block is None:
        said = (
            words("why.no_section", lang, section=section)
            if program.section is None
            else words("why.none_in_force", lang, section=section, date=when.isoformat())
        )
        return Step(
            "version in force", None, words("why.none", lang), explanation=said, inputs=read
        )
    start = _point(block.start, params)
    span = (
        words("why.from", lang, start=start)
        if block.until is None
        else words("why.from_until", lang, start=start, until=_point(block.until, params))
    )
    prov = block.prov or ir.Prov("version")
    return Step(
        "version in force",
        None,
        span,
        "version",
        explanation=words("why.in_force", lang, date=when.isoformat()),
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


def field_label(field: str, lang: str) -> str:
    """A trace step's field as a person reads it: a platform field by its name (hifp_pay),
    a step of the program by what it settles (ratio: 支付比例 in Chinese)."""
    if lang == "en" or f"col.{field}" in MESSAGES:
        return field
    what = _what(field)
    return label(what, lang) if what != field or f"why.what.{what}" in MESSAGES else field


def _kind(field: str) -> str:
    """The field whose words explain a trace step, the same for every fund: a further
    fund's deductible (hifob_dedc) as act_pay_dedc, its ratio (hifob_ratio) as ratio, its
    payment (hifob_pay) as hifp_pay."""
    fund, _, kind = field.rpartition("_")
    if fund in V.FUNDS and fund != V.POOLING_FUND:
        return FUND_KIND.get(kind, field)
    return field


FUND_KIND = {"dedc": "act_pay_dedc", "ratio": "ratio", "pay": "hifp_pay"}


def _from_trace(t: TraceStep, lang: str) -> Step:
    return Step(
        _what(t.field),
        t.field,
        t.value,
        t.rule,
        _words(t, lang),
        t.clause,
        t.quote,
        t.unstated,
        dict(t.inputs),
        t.formula,
    )


def _words(t: TraceStep, lang: str = "en") -> str | None:
    """The arithmetic of a trace step, in words."""
    x = t.inputs
    if t.formula:
        return f"{t.formula} = {t.value}"
    for test, say in _WORDS.get(_kind(t.field), ()):
        if test(t, x):
            return say(t, x, lang)
    return None


def _deductible_words(t, x, lang):
    left = Decimal(x["deductible"]) - Decimal(x["consumed_before"])
    return words(
        "why.deductible",
        lang,
        deductible=x["deductible"],
        before=x["consumed_before"],
        left=money(max(left, Decimal(0))),
        value=t.value,
        in_policy=x["in_policy"],
    )


def _uplift_words(t, x, lang):
    why = _decided_by(x, lang)
    points = str(x["points"])
    change = f"- {points[1:]}" if points.startswith("-") else f"+ {points}"
    said = words("why.uplift", lang, base=x["base"], change=change, value=t.value)
    return said + (words("why.because", lang, why=why) if why else "")


def _band_words(t, x, lang):
    return words(
        "why.band",
        lang,
        part=x["band_part"],
        value=t.value,
        before=x["accumulated_before"],
        uplift=x["uplift"],
    )


def _decided_by(x: dict, lang: str) -> str:
    """The fields that decided an adjustment, ``psn_type = retiree`` (in Chinese with the
    values' names: ``psn_type = 退休``)."""
    return ", ".join(
        f"{k} = {_plain(v, lang)}" for k, v in x.items() if k not in ("base", "points")
    )


def _ratio_words(t, x, lang):
    read = ", ".join(f"{k} = {_plain(v, lang)}" for k, v in x.items())
    return words("why.ratio_for", lang, value=t.value, read=read) if read else f"{t.value}"


def _bound_words(t, x, lang):
    """A floor raised the ratio, or a ceiling lowered it."""
    key = "why.floor" if "floor" in x else "why.ceiling"
    return words(key, lang, before=x["before"], value=t.value)


def _exempt_words(t, x, lang):
    """An exemption spared the visit a reduction: the fields that decided it."""
    why = _decided_by(x, lang)
    said = words("why.exempt", lang, base=x["base"], value=t.value)
    return said + (words("why.because", lang, why=why) if why else "")


def _rounded_words(t, x, lang):
    ratio = x["ratio"]
    product = (
        f"{x['base']} × {ratio}"
        if ratio != "by bands"
        else words("why.by_bands", lang, base=x["base"])
    )
    return words("why.rounded", lang, exact=f"{product} = {x['exact']}", value=t.value)


def _cap_cut_words(t, x, lang):
    room = Decimal(x["cap"]) - Decimal(x["paid_before"])
    return words(
        "why.cap_cut",
        lang,
        cap=x["cap"],
        before=x["paid_before"],
        left=money(max(room, Decimal(0))),
        uncapped=x["uncapped"],
        value=t.value,
    )


def _total_words(t, x, lang):
    """A total the policy caps (a deductible's total, the costs counted): what was left of it."""
    taken = _kind(t.field) == "act_pay_dedc"
    used = "taken_before" if taken else "counted_before"
    room = Decimal(x["cap"]) - Decimal(x[used])
    return words(
        "why.total_taken" if taken else "why.total_counted",
        lang,
        cap=x["cap"],
        before=x[used],
        left=money(max(room, Decimal(0))),
        uncapped=x["uncapped"],
        value=t.value,
    )


_WORDS = {
    "act_pay_dedc": [
        (lambda t, x: "deductible" in x, _deductible_words),
        (lambda t, x: "cap" in x, _total_words),
    ],
    "inscp_counted": [(lambda t, x: "cap" in x, _total_words)],
    "ratio": [
        (lambda t, x: "before" in x and ("floor" in x or "ceiling" in x), _bound_words),
        (
            lambda t, x: str(x.get("points")) == "0" and t.rule.endswith(": exempt"),
            _exempt_words,
        ),
        (lambda t, x: "base" in x and "points" in x, _uplift_words),
        (lambda t, x: "band_part" in x, _band_words),
        (
            lambda t, x: bool(t.value) and t.value.endswith(" points"),
            lambda t, x, lang: words("why.every_band", lang, value=t.value),
        ),
        (lambda t, x: True, _ratio_words),
    ],
    "hifp_pay": [
        (lambda t, x: "exact" in x, _rounded_words),
        (lambda t, x: "cap" in x, _cap_cut_words),
    ],
    "acct_pay": [
        (
            lambda t, x: "payable" in x,
            lambda t, x, lang: words(
                "why.account",
                lang,
                balance=x["balance_before"],
                payable=x["payable"],
                value=t.value,
            ),
        )
    ],
    "credit": [
        (
            lambda t, x: "exact" in x,
            lambda t, x, lang: words("why.rounded", lang, exact=x["exact"], value=t.value),
        )
    ],
}


def _settle_steps(
    result: VisitResult,
    program: ir.Program,
    rows: list[dict],
    results: list,
    i: int,
    params: dict,
    lang: str,
) -> list[Step]:
    trace = list(result.trace)
    steps: list[Step] = []
    capped = any(t.field == "hifp_pay" and "cap" in t.inputs for t in trace)
    for t in trace:
        step = _from_trace(t, lang)
        steps.append(step)
        if t.field == "hifp_pay" and "exact" in t.inputs and not capped:
            assert t.value is not None  # the fund's share is a number
            steps += _cap_steps(program, rows, results, i, params, Decimal(t.value), lang)
    if result.reason is not None:
        steps.append(Step("outcome", "reason", result.reason, explanation=result.message))
    return steps


def _cap_steps(
    program: ir.Program,
    rows: list[dict],
    results: list,
    i: int,
    params: dict,
    share: Decimal,
    lang: str = "en",
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
                words(
                    "why.cap_fits",
                    lang,
                    cap=money(amount),
                    before=money(before),
                    room=money(room),
                    share=money(share),
                    after=money(CTX.subtract(room, share)),
                ),
                prov.clause,
                prov.quote,
                prov.unstated,
                {"cap": money(amount), "paid_before": money(before), "uncapped": money(share)},
            )
        )
    return out


def cap_rooms(
    program: ir.Program, rows: list[dict], results: list, target: int, params: dict
) -> list[tuple[Any, Decimal, Decimal]]:
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
) -> Iterator[tuple[Any, Decimal, tuple]]:
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


def _credit_steps(
    result: CreditResult, program: ir.Program, row: dict, params: dict, lang: str
) -> list[Step]:
    steps = []
    rule = _credit_rule(program, result.rule)
    for t in result.trace:
        step = _from_trace(t, lang)
        step.what = "credit"
        if rule is not None:
            step.explanation = words(
                "why.credit_rule",
                lang,
                rule=rule.name,
                cond=cond_text(rule.when) if lang == "en" else _cond_words(rule.when, lang),
                amount=_amount_text(rule.amount),
                value=step.explanation,
            )
            step.inputs = {**_reads(rule, row, params), **step.inputs}
        steps.append(step)
    if result.reason != "credited":
        steps.append(Step("outcome", "reason", result.reason, explanation=result.message))
    return steps


def _cond_words(cond: Any, lang: str) -> str:
    """A condition in the language's words, as ``render`` writes it."""
    from .describe import cond_words

    return cond_words(cond, lang)


def _credit_rule(program: ir.Program, name: str | None) -> Any:
    for block in program.blocks:
        for step in block.steps:
            if isinstance(step, ir.CreditRules):
                for rule in step.rules:
                    if rule.name == name:
                        return rule
    return None


def _amount_text(e: Any, top: bool = True) -> str:
    """An IR expression as the policy writes it: percentages as 2%, × for times."""
    from .ir.text import value_text
    from .runtime import percent

    if isinstance(e, ir.Const):
        return percent(Decimal(str(e.value))) if e.type == "percent" else value_text(e.value)
    if isinstance(e, ir.Arith):
        op = "×" if e.op == "*" else e.op
        text = f"{_amount_text(e.left, False)} {op} {_amount_text(e.right, False)}"
        return text if top else f"({text})"
    return e.name


def _names(e: Any) -> set[str]:
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


def _reads(rule: Any, row: dict, params: dict) -> dict:
    """The fields and parameters a credit rule read, with their values."""
    out = {}
    for name in sorted(_names(rule.when) | _names(rule.amount)):
        if name in row:
            out[name] = _shown(row[name])
        elif name in params:
            out[name] = _shown(params[name])
    return out


def _shown(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v.normalize(CTX), "f")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _may_pay_steps(result: MayPayResult, lang: str) -> list[Step]:
    steps = []
    for t in result.trace:
        step = _from_trace(t, lang)
        step.explanation = f"{result.reason}: {result.message}"
        steps.append(step)
    if result.allowed:
        steps.append(
            Step("channel", "channel", result.channel, explanation=words("why.channel", lang))
        )
    return steps


# ---- rendering ---------------------------------------------------------------------------------


def _head(ex: Explanation, policy_id: str, policy_file: str, lang: str) -> str:
    r = ex.result
    if ex.kind == "settle":
        head = words("why.head_visit", lang, n=ex.record, psn=r["psn_no"], date=r["setl_time"])
    elif ex.kind == "credit":
        head = words("why.head_credit", lang, n=ex.record, psn=r["psn_no"], date=r["on"])
    else:
        from .messages import value

        who = words("why.who", lang, psn=r["psn_no"]) if r.get("psn_no") else ""
        venue = words("why.at", lang, venue=value(r["venue"], lang)) if r.get("venue") else ""
        head = words(
            "why.head_request",
            lang,
            n=ex.record,
            who=who,
            relation=value(r["relation"], lang),
            item=value(r["item"], lang),
            at=venue,
            date=r["on"],
        )
    return head + words("why.policy", lang, id=policy_id, file=policy_file)


def shown_value(value: str | None, lang: str, what: str | None = None) -> str:
    """A step's value: yes/no for a decision in Chinese, an outcome's reason in words, else
    as the trace has it."""
    if lang == "zh" and what == "outcome" and value:
        from .messages import reason

        return reason(value, lang)
    if lang == "zh" and value in ("true", "false"):
        return words(f"value.{value}", lang)
    if lang == "zh" and value in ("direct", "reimbursement"):  # a channel
        from .messages import value as named

        return named(value, lang)
    return value or ""


def rule_label(rule: str, lang: str) -> str:
    """The rule of a step: the policy's own words, or the catalogue's for the steps every
    program has (the bill split, the rounding, computed fields).  A further fund's rule
    (``hifob deductible per year``) is named after the fund, in Chinese by its name."""
    key = f"why.rule.{rule}"
    from .messages import MESSAGES

    if key in MESSAGES:
        return words(key, lang)
    if lang != "zh":
        return rule
    because = parse("why.rule.no_deductible_because", rule)
    if because is not None:
        from .messages import reason

        return words("why.rule.no_deductible_because", lang, reason=reason(because["reason"], lang))
    refused = parse("why.rule.account_refused", rule)
    if refused is not None:
        return words("why.rule.account_refused", lang, why=_refusal(refused["why"], lang))
    exempt = parse("why.rule.exempt", rule)
    if exempt is not None:
        return words("why.rule.exempt", lang, rule=rule_label(exempt["rule"], lang))
    fund, _, rest = rule.partition(" ")
    if fund in V.FUNDS and rest:
        return f"{fund_name(fund)} {_rule_in_chinese(rest)}"
    return _rule_in_chinese(rule)


# the names of the further funds while an explanation is shown (``render_lines``)
_FUND_NAMES: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "policylang_why_fund_names", default=None
)
# and of the tiers (``tier primary "一级及以下"``)
_TIER_LABELS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "policylang_why_tier_labels", default=None
)


def fund_name(fund: str) -> str:
    """A further fund's Chinese name: the policy's declaration's, else the platform's."""
    return (_FUND_NAMES.get() or {}).get(fund) or V.FUNDS[fund][1]


def _rule_in_chinese(rule: str) -> str:
    """A rule as the policy states it (``deductible per year``, ``ratio [level2]``) with the
    language's keywords, periods and values: 起付标准 每 年, 支付比例 [二级].  Names the policy
    gave (a rule, a tier, a setting) stay as written."""
    import re

    from .messages import value
    from .parser import keyword_pairs

    keywords = {en: zh for en, zh in keyword_pairs().values()}
    periods = {p: words(f"period.{p}", "zh") for p in ("year", "month", "day", "visit")}
    head, bracket, rest = rule.partition("[")
    tokens = head.split(" ")
    if not tokens or tokens[0] not in keywords:
        return rule
    said = " ".join(keywords.get(t, periods.get(t, t)) for t in tokens)
    if bracket:
        inside, close, tail = rest.partition("]")
        tiers = _TIER_LABELS.get() or {}
        said += "[" + re.sub(
            r"[A-Za-z_][\w]*", lambda m: tiers.get(m.group(0)) or value(m.group(0), "zh"), inside
        )
        said += close + tail
    return said


def label(what: str, lang: str) -> str:
    """A step's name, as a person reads it (``what`` is the English)."""
    key = f"why.what.{what}"
    from .messages import MESSAGES

    if key in MESSAGES:
        return words(key, lang)
    fund, _, kind = what.partition(" ")
    if lang == "zh" and fund in V.FUNDS and kind in FUND_LABEL:
        return words(FUND_LABEL[kind], lang, fund=fund_name(fund))
    return what


FUND_LABEL = {
    "deductible": "why.fund_step.deductible",
    "ratio": "why.fund_step.ratio",
    "pays": "why.fund_step.pays",
}


def _step_lines(n: int, s: Step, what_w: int, value_w: int, lang: str) -> list[tuple[str, str]]:
    """(text, style) lines of one step."""
    from .formatter import cell_width

    name = label(s.what, lang)
    value = shown_value(s.value, lang, s.what)
    version = s.what == "version in force"
    aligned = value if version else f"{' ' * (value_w - cell_width(value))}{value}"
    line = f"{n:>3}. {name}{' ' * (what_w - cell_width(name))}  {aligned}"
    if s.rule and not version:
        line += f"  {rule_label(s.rule, lang)}"
    out = [(line.rstrip(), "bold")]
    pad = " " * 7
    if s.explanation:
        out.append((f"{pad}{s.explanation}", ""))
    if s.clause or s.quote:
        cite = s.clause or ""
        if s.quote:
            cite += f" “{s.quote}”" if cite else f"“{s.quote}”"
        out.append((f"{pad}{cite}", "cyan"))
    if s.unstated:
        out.append(
            (f"{pad}{words('why.unstated', lang, text=unstated(s.unstated, lang))}", "yellow")
        )
    if s.inputs:
        read = read_text(s.inputs, lang)
        out.append((f"{pad}{words('why.read', lang, read=read)}", "dim"))
    return out


def render_lines(
    policy_id: str, policy_file: str, explanations: list[Explanation], lang: str = "en"
) -> list[tuple[str, str]]:
    """The explanation for a terminal: (text, rich style) lines."""
    out: list[tuple[str, str]] = []
    for ex in explanations:
        named = _FUND_NAMES.set(ex.fund_names)
        tiers = _TIER_LABELS.set(ex.tier_labels)
        try:
            with vocabulary_names(ex.vocab):
                out += _explanation_lines(ex, policy_id, policy_file, lang)
        finally:
            _TIER_LABELS.reset(tiers)
            _FUND_NAMES.reset(named)
    while out and not out[-1][0]:
        out.pop()
    return out


def _explanation_lines(
    ex: Explanation, policy_id: str, policy_file: str, lang: str
) -> list[tuple[str, str]]:
    from .formatter import cell_width

    out = [(_head(ex, policy_id, policy_file, lang), "bold underline")]
    names = [label(s.what, lang) for s in ex.steps]
    what_w = max(cell_width(x) for x in names)
    value_w = max(
        [
            cell_width(shown_value(s.value, lang, s.what))
            for s in ex.steps
            if s.what != "version in force"
        ]
        or [0]
    )
    for n, s in enumerate(ex.steps, start=1):
        out += _step_lines(n, s, what_w, value_w, lang)
    out.append(("     " + words("why.result", lang, summary=_summary(ex, lang)), "bold"))
    out.append(("", ""))
    return out


def render_text(
    policy_id: str, policy_file: str, explanations: list[Explanation], lang: str = "en"
) -> str:
    return "\n".join(t for t, _ in render_lines(policy_id, policy_file, explanations, lang)) + "\n"


def _plain(v: Any, lang: str = "en") -> str:
    """A value a step read: as the trace has it in English; in Chinese an enumeration value,
    a yes/no or nothing by its Chinese name (level2 -> 二级, true -> 是, none -> 无)."""
    if lang == "zh":
        if v is None or v == "none":
            return words("why.none", lang)
        if isinstance(v, bool) or v in ("true", "false"):
            return words(f"value.{str(v).lower()}", lang)
        from .messages import value

        return value(v, lang) if isinstance(v, str) else str(v)
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _refusal(why: str, lang: str) -> str:
    """Why the account may not pay: a may-pay reason, or that the policy says nothing."""
    from .messages import reason

    if f"reason.{why}" in MESSAGES:
        return reason(why, lang)
    return words("why.rule.no_account_covers", lang)


def unstated(said: str, lang: str) -> str:
    """Why a step is not in the notice: the policy's own words as written, or the platform
    vocabulary's (``why.builtin.*``) in the language spoken."""
    if lang == "en":
        return said
    for msg_id in ("why.builtin.insutype", "why.builtin.med_type"):
        args = parse(msg_id, said)
        if args is not None:
            return words(msg_id, lang, **args)
    return said


def read_text(inputs: dict[str, Any], lang: str) -> str:
    """The inputs a step read, each named and valued as a person reads them."""
    return ", ".join(f"{input_name(k, lang)} {_plain(v, lang)}" for k, v in inputs.items())


def input_name(name: str, lang: str) -> str:
    """What a step read, by name: a field as the platform names it, else the catalogue's word
    for it (``consumed_before`` -> 此前已计入起付标准)."""
    key = f"why.input.{name}"
    return words(key, lang) if key in MESSAGES else name


def _further_funds(result: dict) -> tuple[str, ...]:
    """The declared further funds' fields and their total, when the result has any."""
    funds = tuple(f for f in V.FURTHER_FUND_FIELDS if f in result)
    return (*funds, "fund_pay_sumamt") if funds else ()


def _summary(ex: Explanation, lang: str = "en") -> str:
    r = ex.result
    if ex.kind == "settle":
        fields: tuple[str, ...] = (
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
    if lang == "en":
        return ", ".join(f"{f} {_plain(r[f])}" for f in fields)
    from .messages import reason, value

    def shown(f):
        if r[f] is None and f != "reason":
            return words("why.none", lang)
        if f == "reason":
            return reason(r[f], lang) if ex.kind == "settle" or r[f] else words("why.none", lang)
        if isinstance(r[f], bool) or f == "channel":
            return value(r[f], lang) if r[f] is not None else words("why.none", lang)
        return _plain(r[f])

    from .messages import MESSAGES

    def name(f: str) -> str:
        return words(f"col.{f}", lang) if f"col.{f}" in MESSAGES else f

    return ",".join(f"{name(f)} {shown(f)}" for f in fields)


def to_json(
    policy_id: str, policy_file: str, policy_hash: str, explanations: list[Explanation]
) -> dict:
    return {
        "policy": policy_id,
        "file": policy_file,
        "hash": policy_hash,
        "records": [e.to_json() for e in explanations],
    }
