"""Worked examples: records and the results a notice says they must get.

Two sources, one runner (``policylang test``):

- **in a policy**: ``example "title" cite CLAUSE { settle { ... } expect { ... } ... }``
  (see docs/language.md, Examples).  The checker validates the records (fields, types)
  with the rest of the policy; the compiler never sees them, so they take no part in
  the IR or its hash.
- **JSON files** in the layout of ``tests/examples/``: ``{"title", "params", "input",
  "expected"}``, the kind (settle, credit, may-pay) from the folder or a ``"kind"`` key,
  the policy from a ``"policy"`` key or the folder ``<name>/<kind>/`` (a policy whose id
  is ``<name>`` or starts with ``<name>_``).

An example's records are evaluated together, in one call, so a deductible or a cap used by
one visit carries to the next visit of the same person.  Only the fields an ``expect``
names are compared.
"""

from __future__ import annotations

import contextvars
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

import attrs

from . import nodes as n
from . import vocab as V
from .inputs import PERSON_SPEC, REQUEST_SPEC, VISIT_SPEC
from .ir.evaluate import CTX
from .runtime import SETTLE_REASONS, TraceStep, ratio

if TYPE_CHECKING:
    from .api import CompiledPolicy
    from .diagnostics import Diagnostic
    from .ir import Policy
    from .resolve import Unit, Workspace
    from .vocabulary import Enumeration

KINDS = ("settle", "credit", "may_pay")
KIND_WORDS = {
    "settle": "settle",
    "credit": "credit",
    "may_pay": "may-pay",
}  # as the commands are named
INPUT_SPECS = {"settle": VISIT_SPEC, "credit": PERSON_SPEC, "may_pay": REQUEST_SPEC}
# In an example, a settle or credit record that does not say psn_no is person "A" (so the
# records of one example are one person's unless they say otherwise), and one that does not
# say flxempe_flag is not a flexible-employment participant.  (The JSON input requires both.)
EXAMPLE_DEFAULTS = {
    "settle": {"psn_no": "A", "flxempe_flag": False},
    "credit": {"psn_no": "A", "flxempe_flag": False},
    "may_pay": {},
}

REASONS = {  # kind -> (what it is called, in Chinese, the reason codes)
    "settle": ("settle reason", "结算原因代码", sorted({*SETTLE_REASONS, "not_in_force"})),
    "credit": ("credit reason", "计入原因代码", ["credited", "no_rule", "not_in_force"]),
    "may_pay": (
        "may-pay reason",
        "账户支付原因代码",
        [
            "not_in_force",
            "excluded",
            "relation_not_eligible",
            "planned",
            "not_designated",
            "permitted",
            "no_channel",
            "item_not_allowed",
        ],
    ),
}
MONEY_RESULTS = (
    "medfee_sumamt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "hifp_pay",
    *V.FURTHER_FUND_FIELDS,  # a result has those of the funds its policy declares
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "acct_mulaid_pay",
    "psn_cash_pay",
    "balc",
)
# result field -> (type, may it be none)
RESULT_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "settle": {
        "psn_no": (V.TEXT, False),
        "setl_time": ("datetime", False),
        **{f: (V.MONEY, f == "balc") for f in MONEY_RESULTS},
        "pool_prop_selfpay": (V.PERCENT, True),
        "reason": ("reason", True),
        "message": (V.TEXT, False),
    },
    "credit": {
        "psn_no": (V.TEXT, False),
        "on": (V.DATE, False),
        "credit": (V.MONEY, True),
        "reason": ("reason", False),
        "rule": ("name", True),
        "clause": (V.TEXT, True),
        "message": (V.TEXT, False),
    },
    "may_pay": {
        "psn_no": (V.TEXT, True),
        "relation": ("relation", False),
        "item": ("item", False),
        "venue": ("venue", True),
        "on": (V.DATE, False),
        "allowed": (V.BOOL, False),
        "reason": ("reason", False),
        "channel": ("channel", True),
        "clause": (V.TEXT, True),
        "message": (V.TEXT, False),
    },
}
# The trace field that explains a result field.
TRACE_FIELD = {"pool_prop_selfpay": "ratio"}

_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?")


def literal_type(v: object) -> str | None:
    """The type of an example value: a scalar type, ``name`` or ``none``."""
    if isinstance(v, n.Name):
        return "name"
    if isinstance(v, n.NoneLit):
        return "none"
    return {
        n.MoneyLit: V.MONEY,
        n.PercentLit: V.PERCENT,
        n.PointsLit: V.POINTS,
        n.NumberLit: V.NUMBER,
        n.DateLit: V.DATE,
        n.TextLit: V.TEXT,
        n.BoolLit: V.BOOL,
    }.get(type(v))


def fits(want: str, v: object, enums: Mapping[str, Enumeration] | None = None) -> bool:
    """Whether the value ``v`` is of type ``want`` (enumeration values are checked apart;
    ``enums``: the enumerations in force, by default the shipped ones)."""
    got = literal_type(v)
    if want in (V.ENUMS if enums is None else enums) or want in ("reason", "name"):
        return got == "name"
    if want == "datetime":
        return got == V.DATE or (
            got == V.TEXT
            and isinstance(v, n.TextLit)
            and bool(_DATETIME.fullmatch(v.value.strip()))
        )
    return got == want


def spec_example(want: str, enums: Mapping[str, Enumeration] | None = None) -> str:
    """A value of an enumeration (or reason, or name) to show in a hint."""
    if enums is not None and want in enums:
        return enums[want].values[0]
    if want in V.ENUMS:
        return next(iter(V.ENUMS[want]))
    return {"reason": "within_deductible", "name": "active_employee"}.get(want, want)


# ---- AST -> records and expectations -------------------------------------------------


def input_value(v: object) -> Any:
    """An example value as the JSON input would give it."""
    if isinstance(v, n.MoneyLit):
        return format(v.amount, "f")
    if isinstance(v, n.PercentLit):
        return f"{format(v.value, 'f')}%"
    if isinstance(v, (n.PointsLit, n.NumberLit)):
        return format(v.value, "f")
    if isinstance(v, n.DateLit):
        return v.value.isoformat()
    if isinstance(v, (n.TextLit, n.Name)):
        return v.value
    if isinstance(v, n.BoolLit):
        return v.value
    return None


def expected_value(v: object) -> Any:
    """An expected value as the result's JSON gives it (money with two decimals, a ratio as
    a fraction); compared with ``same``."""
    if isinstance(v, n.MoneyLit):
        return f"{v.amount:.2f}"
    if isinstance(v, n.PercentLit):
        return ratio(CTX.divide(v.value, Decimal(100)))  # "0.75", as pool_prop_selfpay is written
    return input_value(v)


def param_value(v: object) -> str:
    """An example's parameter as it is typed on the command line (``--param NAME=VALUE``)."""
    value = input_value(v)
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def same(field: str, want: Any, got: Any) -> bool:
    """Whether a result field has the expected value: amounts and ratios by value."""
    if want is None or got is None or isinstance(want, bool) or isinstance(got, bool):
        return want is got or want == got and type(want) is type(got)
    if field in MONEY_RESULTS or field in ("credit", "pool_prop_selfpay"):
        try:
            return Decimal(str(want)) == Decimal(str(got))
        except InvalidOperation:
            return False
    return str(want) == str(got)


# ---- cases -----------------------------------------------------------------------------


@attrs.define
class Case:
    """One example to run: records of one kind, evaluated together under a policy."""

    source: str  # the file it was written in
    line: int | None  # its line in a policy, None for a JSON file
    title: str
    kind: str  # settle | credit | may_pay
    policy: str | None  # the policy's file (None: not found; ``problem`` says why)
    params: dict[str, str]
    records: list[dict]
    expected: list[dict | None]  # per record: field -> expected value; None: nothing expected
    clause: str | None = None
    problem: str | None = None  # why the case cannot run (an error)
    # per record: the fields the example's defaults supplied (EXAMPLE_DEFAULTS), which give
    # way to what a platform code in the record implies (psn_type: "1103": flxempe_flag true)
    defaulted: list[frozenset] = attrs.Factory(list)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


def cases_in_policy(policy: n.Policy, file: str) -> list[Case]:
    out = []
    for ex in policy.find(n.Example):
        records = ex.records
        kind = records[0].kind if records else "settle"
        params = {p.name.value: param_value(p.value) for p in ex.params}
        rows, expected, defaulted = [], [], []
        for r in records:
            row = dict(EXAMPLE_DEFAULTS.get(r.kind, {}))
            given = {f.name.value: input_value(f.value) for f in r.fields}
            defaulted.append(frozenset(row) - frozenset(given))
            row.update(given)
            rows.append(row)
            expected.append(
                None
                if r.expect is None
                else {f.name.value: expected_value(f.value) for f in r.expect}
            )
        clause = ex.cite.clause if isinstance(ex.cite, n.Citation) else None
        out.append(
            Case(
                file,
                ex.span.line if ex.span else None,
                ex.title,
                kind,
                file,
                params,
                rows,
                expected,
                clause,
                defaulted=defaulted,
            )
        )
    return out


def json_case(
    path: Path, data: dict, find_policy: Callable[[str, Path], tuple[str | None, str | None]]
) -> Case:
    """A case from a JSON example file; ``find_policy(name, path)`` returns the policy file
    for the folder name (or an error message as ``(None, message)``)."""
    title = str(data.get("title") or path.stem)
    kind = data.get("kind") or path.parent.name
    kind = {"may-pay": "may_pay"}.get(kind, kind)
    clauses = data.get("clauses")
    clause = (
        clauses[0]
        if isinstance(clauses, list) and clauses and isinstance(clauses[0], str)
        else None
    )
    params = {
        str(k): str(v) if not isinstance(v, bool) else ("true" if v else "false")
        for k, v in (data.get("params") or {}).items()
    }
    records, expected = data.get("input"), data.get("expected")
    case = Case(
        str(path),
        None,
        title,
        kind,
        None,
        params,
        records if isinstance(records, list) else [],
        expected if isinstance(expected, list) else [],
        clause,
    )
    if kind not in KINDS:
        case.problem = _say("test.no_kind")
    elif (
        not isinstance(records, list)
        or not isinstance(expected, list)
        or len(records) != len(expected)
    ):
        case.problem = _say("test.not_arrays")
    else:
        name = data.get("policy") or path.parent.parent.name
        case.policy, problem = find_policy(str(name), path)
        case.problem = problem
    return case


def is_example_json(data: Any) -> bool:
    return isinstance(data, dict) and "input" in data and "expected" in data


# ---- running ------------------------------------------------------------------------------


@attrs.define
class Mismatch:
    record: int  # 1-based
    field: str
    expected: Any
    actual: Any
    trace: list = attrs.Factory(list)  # the TraceSteps that explain the actual value


@attrs.define
class Outcome:
    case: Case
    status: str  # PASS | FAIL | ERROR
    mismatches: list[Mismatch] = attrs.Factory(list)
    error: str | None = None
    who: dict[int, str] = attrs.Factory(dict)  # record -> "psn_no A, 2023-03-01"


def run_case(case: Case, compiled: CompiledPolicy) -> Outcome:
    """Evaluate the case's records under ``compiled`` (a ``CompiledPolicy``) and compare."""
    from .inputs import InputError

    # settle, credit or may_pay (a case's kind is one of them)
    method: Callable[[list[dict], dict[str, Any]], list[Any]] = getattr(compiled, case.kind)
    try:
        results = method(_records(case, compiled.ir), case.params)
    except InputError as e:
        return Outcome(case, "ERROR", error="\n".join(str(p) for p in e.problems))
    out = Outcome(case, "PASS")
    for i, (want, result) in enumerate(zip(case.expected, results, strict=True), start=1):
        if not want:
            continue
        got = result.to_json(trace=False)
        out.who[i] = _who(case.kind, got)
        for field, value in want.items():
            if field not in got:
                out.mismatches.append(Mismatch(i, field, value, "(no such field)"))
            elif not same(field, value, got[field]):
                steps = [s for s in result.trace if s.field == TRACE_FIELD.get(field, field)]
                out.mismatches.append(Mismatch(i, field, value, got[field], steps))
    if out.mismatches:
        out.status = "FAIL"
    return out


def _records(case: Case, policy: Policy) -> list[dict]:
    """The case's records, without a default that a platform code in the record overrides:
    ``psn_type: "1103"`` says flxempe_flag is true, so the example's default (false) is not
    given.  Which codes imply what is the policy's vocabulary's (``ir.Policy.vocab``)."""
    if not any(case.defaulted):
        return case.records
    enums = policy.vocab.enums
    spec = {name: fs.type for name, fs in INPUT_SPECS[case.kind].items()}
    spec.update({name: t for name, (t, _) in policy.inputs.items()})
    out = []
    # ``defaulted`` may be shorter than the records: padded, then cut to their length
    padded = [*case.defaulted, *[frozenset()] * len(case.records)]
    for row, defaulted in zip(case.records, padded, strict=False):
        implied: set[str] = set()
        for name, value in row.items():
            t = spec.get(name)
            if t in enums and isinstance(value, str):
                found = enums[t].lookup(value.strip())
                if found is not None and found[1] is not None:
                    implied.update(field for field, _ in found[1].implies)
        out.append({k: v for k, v in row.items() if not (k in defaulted and k in implied)})
    return out


def _who(kind: str, got: dict) -> str:
    parts = []
    if got.get("psn_no") is not None:
        parts.append(f"psn_no {got['psn_no']}")
    if kind == "settle":
        parts.append(str(got.get("setl_time")))
    elif kind == "credit":
        parts.append(str(got.get("on")))
    else:
        parts.append(
            " ".join(
                str(got[k]) for k in ("relation", "item", "venue", "on") if got.get(k) is not None
            )
        )
    return ", ".join(parts)


# ---- the report ------------------------------------------------------------------------------


def shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def step_text(step: TraceStep, lang: str = "en") -> str:
    """One trace step on one line: value, rule, clause, and the inputs it read."""
    from .messages import text as words

    rule, field = step.rule, step.field
    if lang != "en":
        from .why import field_label, rule_label

        rule, field = rule_label(rule, lang) if rule else rule, field_label(field, lang)
    text = words("test.step", lang, field=field, value=step.value, rule=rule)
    if step.clause:
        text += f" ({step.clause})"
    if step.inputs:
        if lang == "en":
            read = ", ".join(f"{k} {shown(v)}" for k, v in step.inputs.items())
        else:
            from .why import read_text

            read = read_text(step.inputs, lang)
        text += words("test.step_from", lang, read=read)
    if step.formula:
        text += f"  [{step.formula}]"
    return text


def _mismatch_lines(o: Outcome, lang: str) -> list[str]:
    from .formatter import cell_width
    from .messages import text as words

    lines = []
    for record in sorted({m.record for m in o.mismatches}):
        ms = [m for m in o.mismatches if m.record == record]
        who = o.who.get(record)
        lines.append(
            "      " + words("test.record", lang, n=record, who=f" ({who})" if who else "")
        )
        head = [words(f"test.{h}", lang) for h in ("field", "expected", "actual")]
        rows = [[m.field, shown(m.expected), shown(m.actual)] for m in ms]
        width = [max(cell_width(r[i]) for r in [head, *rows]) for i in range(2)]
        for r in [head, *rows]:
            cells = [r[i] + " " * (width[i] - cell_width(r[i])) for i in range(2)]
            lines.append(f"        {cells[0]}  {cells[1]}  {r[2]}")
        for m in ms:
            if m.trace:
                lines.append(
                    "        " + words("test.how", lang, field=m.field, value=shown(m.actual))
                )
                lines += [f"          {step_text(s, lang)}" for s in m.trace]
    return lines


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    return {
        "examples": len(outcomes),
        "passed": sum(o.status == "PASS" for o in outcomes),
        "failed": sum(o.status == "FAIL" for o in outcomes),
        "errors": sum(o.status == "ERROR" for o in outcomes),
    }


def report(outcomes: list[Outcome], lang: str = "en") -> str:
    """The report for people: one line per example (PASS, FAIL or ERROR), and for a failure
    each differing field, expected against actual, with the trace of the actual number."""
    from .formatter import cell_width
    from .messages import text as words

    lines = []
    for o in outcomes:
        c = o.case
        status = words(f"test.status.{o.status}", lang)
        head = f"{status}{' ' * (5 - cell_width(status))} {c.where}  {c.title}"
        if c.clause:
            head += f" ({c.clause})"
        lines.append(head)
        if o.status == "ERROR":
            lines += ["      " + x for x in (o.error or "").split("\n")]
        lines += _mismatch_lines(o, lang)
    counts = summary(outcomes)
    said = words("test.summary", lang, total=counts["examples"], **counts)
    if counts["errors"]:
        said += words("test.summary_errors", lang, errors=counts["errors"])
    lines += ["", said]
    return "\n".join(lines)


def _json_value(v: Any) -> Any:
    return str(v) if isinstance(v, Decimal) else v


def outcome_json(o: Outcome) -> dict:
    c = o.case
    return {
        "status": o.status,
        "file": c.source,
        "line": c.line,
        "title": c.title,
        "clause": c.clause,
        "kind": c.kind,
        "policy": c.policy,
        "error": o.error,
        "mismatches": [
            {
                "record": m.record,
                "who": o.who.get(m.record),
                "field": m.field,
                "expected": _json_value(m.expected),
                "actual": _json_value(m.actual),
                "trace": [s.to_json() for s in m.trace],
            }
            for m in o.mismatches
        ],
    }


def to_json(outcomes: list[Outcome]) -> dict:
    """``test --format json``: ``{"summary": {...}, "examples": [...]}``."""
    return {"summary": summary(outcomes), "examples": [outcome_json(o) for o in outcomes]}


def exit_code(outcomes: list[Outcome]) -> int:
    if any(o.status == "ERROR" for o in outcomes):
        return 2
    return 1 if any(o.status == "FAIL" for o in outcomes) else 0


# ---- finding and running everything ----------------------------------------------------------

_SKIP_DIRS = {"node_modules", "__pycache__", "venv", "build", "dist"}


def _walk(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.iterdir()):
        if p.is_dir():
            if not p.name.startswith(".") and p.name not in _SKIP_DIRS:
                yield from _walk(p)
        elif p.suffix in (".pol", ".json"):
            yield p


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


# The language of the runner's own messages (``collect_and_run(..., lang=)``).
_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("policylang_test_lang", default="en")


def _say(msg_id: str, **args: Any) -> str:
    from .messages import text

    return text(msg_id, _LANG.get(), **args)


def _error_outcome(file: str, title: str, policy: str | None, error: str) -> Outcome:
    """A file that cannot be run as examples, reported as a case in error."""
    return Outcome(Case(file, None, title, "settle", policy, {}, [], []), "ERROR", error=error)


def _gather(
    paths: list[str], outcomes: list[Outcome]
) -> tuple[list[tuple[Path, bool]], list[tuple[Path, Any]]]:
    """The policy files (with whether each was named) and the JSON example files (with their
    data) in ``paths``; a named JSON file that is no example is an error outcome."""
    pol_files: list[tuple[Path, bool]] = []
    json_files: list[tuple[Path, Any]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in _walk(p):
                if f.suffix == ".pol":
                    pol_files.append((f, False))
                elif is_example_json(data := _read_json(f)):
                    json_files.append((f, data))
        elif p.suffix == ".json" or raw.endswith(".jsonl"):
            data = _read_json(p)
            if is_example_json(data):
                json_files.append((p, data))
            else:
                outcomes.append(
                    _error_outcome(
                        raw,
                        _say("test.not_example"),
                        None,
                        _say("test.not_example_why"),
                    )
                )
        else:
            pol_files.append((p, True))
    return pol_files, json_files


def _load_units(
    ws: Workspace, pol_files: list[tuple[Path, bool]], outcomes: list[Outcome]
) -> dict[str, Unit]:
    """Each policy file read into ``ws``; a named one that is a vocabulary, or that does not
    parse, is an error outcome."""
    units = {}
    for f, named in pol_files:
        unit = ws.add_file(f)
        units[str(f)] = unit
        if not named:
            continue
        if unit.vocabulary is not None:
            outcomes.append(
                _error_outcome(
                    str(f),
                    _say("test.vocabulary"),
                    str(f),
                    _say("test.vocabulary_why", file=f),
                )
            )
        elif unit.policy is None:
            outcomes.append(
                _error_outcome(
                    str(f),
                    _say("test.no_parse"),
                    str(f),
                    _errors_text(unit.diagnostics, ws),
                )
            )
    return units


class _Compiler:
    """Policies compiled as ``settle POLICY`` compiles them: their parents looked for beside
    them and in ``search``; each once.  A policy with errors gives the errors' text."""

    def __init__(self, search: tuple) -> None:
        self.search = search
        self.compiled: dict[str, CompiledPolicy | str] = {}

    def __call__(self, file: str) -> CompiledPolicy | str:
        from .api import CompiledPolicy, check_unit, policy_files
        from .resolve import Workspace

        if file not in self.compiled:
            own = Workspace()
            for f in policy_files(self.search):
                own.add_file(f)
            result = check_unit(own.add_file(file), own)
            if result.ok:
                assert result.ir is not None  # a policy without errors is compiled
                self.compiled[file] = CompiledPolicy(result.ir)
            else:
                self.compiled[file] = _errors_text(result.diagnostics, own)
        return self.compiled[file]


class _PolicyFinder:
    """The policy of a JSON example: a .pol path, or a policy id or the folder name looked
    up in turn among the policies named on the command line, the nearest policies/ folder
    above the file, and the other policies found; in each, an exact id before ids that
    start with NAME_."""

    def __init__(
        self, ws: Workspace, units: dict[str, Unit], pol_files: list[tuple[Path, bool]]
    ) -> None:
        self.ws = ws
        self.named = [units[str(f)] for f, explicit in pol_files if explicit]
        self.found_in_folders = [units[str(f)] for f, explicit in pol_files if not explicit]

    def __call__(self, name: str, path: Path) -> tuple[str | None, str | None]:
        if name.endswith(".pol"):
            given = path.parent / name
            if given.is_file():
                return str(given), None
            return None, _say("test.no_policy_file", file=given)
        for pool in (self.named, self._nearest(path), self.found_in_folders):
            ids = {u.file: u.policy.name.value for u in pool if u.policy is not None}
            found = _match_id(name, ids)
            if found is not None:
                return found
        return None, _say("test.no_policy", name=repr(name))

    def _nearest(self, path: Path) -> list[Unit]:
        for parent in path.resolve().parents:
            folder = parent / "policies"
            if folder.is_dir():
                return [self.ws.add_file(pf) for pf in sorted(folder.glob("*.pol"))]
        return []


def _match_id(name: str, ids: dict[str, str]) -> tuple[str | None, str | None] | None:
    """The one file whose policy id is ``name`` (else starts with ``name_``), an error when
    several match, None when none does."""
    for match in (lambda i: i == name, lambda i: i.startswith(name + "_")):
        files = sorted({f for f, i in ids.items() if match(i)})
        if len(files) == 1:
            return files[0], None
        if len(files) > 1:
            shown_files = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
            return None, _say("test.several", name=repr(name), files=shown_files)
    return None


def _run(case: Case, compile_policy: _Compiler) -> Outcome:
    if case.problem:
        return Outcome(case, "ERROR", error=case.problem)
    assert case.policy is not None  # a case without its policy has a problem
    policy = compile_policy(case.policy)
    if isinstance(policy, str):
        said = _say("test.policy_errors", policy=case.policy)
        return Outcome(case, "ERROR", error=f"{said}\n{policy}")
    return run_case(case, policy)


CONFIG = "pyproject.toml"


class ConfigError(Exception):
    """``[tool.policylang]`` in pyproject.toml is not as documented (the message says how)."""


def configured_paths(folder: Path, lang: str = "en") -> list[str] | None:
    """The paths ``policylang test`` runs when given none, from ``test-paths`` under
    ``[tool.policylang]`` in ``folder``'s pyproject.toml (as pytest's ``testpaths``: read only
    in the folder it is run from); None when there is no such setting.  ``lang``: the language
    of a ConfigError."""
    reset = _LANG.set(lang)
    try:
        return _configured_paths(folder)
    finally:
        _LANG.reset(reset)


def _configured_paths(folder: Path) -> list[str] | None:
    config = folder / CONFIG
    if not config.is_file():
        return None
    import tomllib

    try:
        table = tomllib.loads(config.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(_say("test.config_unreadable", file=str(config), why=str(e))) from None
    tool = table.get("tool", {}).get("policylang", {})
    if "test-paths" not in tool:
        return None
    paths = tool["test-paths"]
    if not isinstance(paths, list) or not paths or not all(isinstance(x, str) for x in paths):
        raise ConfigError(_say("test.config_not_paths", file=str(config)))
    missing = [x for x in paths if not (folder / x).exists()]
    if missing:
        raise ConfigError(_say("test.config_missing", file=str(config), paths=", ".join(missing)))
    return [str(folder / x) if folder != Path(".") else x for x in paths]


def collect_and_run(paths: list[str], search: tuple = (), lang: str = "en") -> list[Outcome]:
    """Every example in ``paths`` (files or folders; .pol files and JSON example files),
    run.  A file named on the command line that holds no example is an error; files found
    in folders are looked at only for examples.  ``lang``: the language of the runner's
    messages and of the policies' diagnostics."""
    reset = _LANG.set(lang)
    try:
        return _collect_and_run(paths, search)
    finally:
        _LANG.reset(reset)


def _collect_and_run(paths: list[str], search: tuple) -> list[Outcome]:
    from .api import policy_files
    from .resolve import Workspace

    ws = Workspace()
    for f in policy_files(search):
        ws.add_file(f)
    outcomes: list[Outcome] = []
    pol_files, json_files = _gather(paths, outcomes)
    units = _load_units(ws, pol_files, outcomes)
    cases: list[Case] = []
    for f, _ in pol_files:
        unit = units[str(f)]
        if unit.policy is not None:
            cases += cases_in_policy(unit.policy, unit.file)
    find_policy = _PolicyFinder(ws, units, pol_files)
    cases += [json_case(f, data, find_policy) for f, data in json_files]
    compile_policy = _Compiler(search)
    outcomes += [_run(case, compile_policy) for case in cases]
    return outcomes


def _errors_text(diags: list[Diagnostic], ws: Workspace) -> str:
    from .diagnostics import ERROR, render

    lang = _LANG.get()
    return "\n".join(render(d, ws.sources, lang) for d in diags if d.severity == ERROR)
