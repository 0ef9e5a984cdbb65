"""Validate evaluation input (visits, persons, account-use requests, parameters).

Every problem in every record is collected; nothing is evaluated while any
remains.  Each error names the record (its position and psn_no) and the field.
Field names are those of the national platform (see docs/json-contract.md).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from .errors import PolicylangError
from . import ir
from . import vocab as V
from .ir.evaluate import CTX
from .resolve import suggest

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


@attrs.frozen
class InputProblem:
    record: int | None  # 1-based; None for parameters
    field: str
    message: str
    psn_no: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        if self.record is not None:
            who = f" (psn_no {self.psn_no})" if self.psn_no else ""
            where += f"record {self.record}{who}: "
        return f"{where}field '{self.field}': {self.message}"

    def to_json(self) -> dict:
        return {"source": self.source, "record": self.record, "psn_no": self.psn_no, "field": self.field,
                "message": self.message}


class InputError(PolicylangError):
    """Bad evaluation input; carries every problem found."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@attrs.frozen
class FieldSpec:
    type: str  # a scalar type or an enumeration name
    required: bool = True
    default: Any = None
    nonnegative: bool = True


VISIT_SPEC = {
    "psn_no": FieldSpec(V.TEXT),
    "psn_type": FieldSpec("psn_type"),
    "flxempe_flag": FieldSpec(V.BOOL),
    "setl_time": FieldSpec("datetime"),
    "hosp_lv": FieldSpec("hosp_lv"),
    "designated": FieldSpec(V.BOOL, False, True),
    "medfee_sumamt": FieldSpec(V.MONEY),
    "fulamt_ownpay_amt": FieldSpec(V.MONEY, False, Decimal("0.00")),
    "overlmt_selfpay": FieldSpec(V.MONEY, False, Decimal("0.00")),
    "preselfpay_amt": FieldSpec(V.MONEY, False, Decimal("0.00")),
    "acct_balc": FieldSpec(V.MONEY, False, None),
    # the national platform's settlement (2207) fields: echoed (setl_id, mdtrt_id) or applied
    # (insutype, med_type, acct_used_flag); codes are text ("310", "11", "0"/"1")
    "setl_id": FieldSpec(V.TEXT, False, None),
    "mdtrt_id": FieldSpec(V.TEXT, False, None),
    "insutype": FieldSpec(V.TEXT, False, None),
    "med_type": FieldSpec(V.TEXT, False, None),
    "acct_used_flag": FieldSpec(V.TEXT, False, None),
    "mdtrt_cert_type": FieldSpec(V.TEXT, False, None),
    "chrg_bchno": FieldSpec(V.TEXT, False, None),
    "psn_setlway": FieldSpec(V.TEXT, False, None),
}
# the fields of VISIT_SPEC that are plain optional codes and identifiers
PLATFORM_FIELDS = ("setl_id", "mdtrt_id", "insutype", "med_type", "acct_used_flag", "mdtrt_cert_type", "chrg_bchno",
                   "psn_setlway")
PERSON_SPEC = {
    "psn_no": FieldSpec(V.TEXT),
    "psn_type": FieldSpec("psn_type"),
    "flxempe_flag": FieldSpec(V.BOOL),
    "on": FieldSpec(V.DATE),
    "contribution_years_met": FieldSpec(V.BOOL, False, None),
    "contribution_base": FieldSpec(V.MONEY, False, None),
}
REQUEST_SPEC = {
    "relation": FieldSpec("relation"),
    "venue": FieldSpec("venue", False, None),
    "item": FieldSpec("item"),
    "on": FieldSpec(V.DATE),
    "networked": FieldSpec(V.BOOL, False, True),
    "psn_no": FieldSpec(V.TEXT, False, None),
}
ENUM_WORDS = {"hosp_lv": "hospital level", "psn_type": "person type", "relation": "relation", "venue": "venue",
              "item": "item"}


class _Bad(Exception):
    pass


def _short(value: Any, limit: int = 40) -> str:
    """A value quoted in a message: escaped, and cut to a short prefix."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


MAX_DIGITS = 15  # up to 10**15 yuan; keeps every sum exact within Decimal's 28 digits


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise _Bad(f"expected an amount such as \"230.00\", got {value!r}")
    if isinstance(value, (int, Decimal)):
        d = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
            raise _Bad(f"expected an amount such as \"230.00\", got {value!r}")
        d = Decimal(text)
    elif type(value).__name__ == "float":
        # JSON readers should use parse_float=Decimal; a float from Python code is
        # taken by its shortest decimal spelling, never computed with.
        d = Decimal(repr(value))
    else:
        raise _Bad(f"expected an amount such as \"230.00\", got {value!r}")
    if not d.is_finite():
        raise _Bad(f"expected a finite amount, got {value!r}")
    if d.adjusted() >= MAX_DIGITS:
        raise _Bad(f"{value} is too large for an amount (at most {MAX_DIGITS} digits before the decimal point)")
    if d != d.quantize(CENT, rounding="ROUND_DOWN", context=CTX):
        raise _Bad(f"{value} has more than two decimal places (amounts are in fen)")
    d = d.quantize(CENT, context=CTX)
    return d.copy_abs() if d.is_zero() else d  # no "-0.00"


def parse_date(value: Any, with_time: bool = False):
    if isinstance(value, dt.datetime) and with_time:
        text = value.isoformat()
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    elif not isinstance(value, str):
        raise _Bad(f"expected a date such as \"2023-03-01\", got {value!r}")
    else:
        text = value.strip()
    try:
        if with_time and len(text) > 10:
            moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
            if moment.tzinfo is not None:
                raise _Bad(f"{value!r} has a UTC offset; give the local settlement time without one")
            return moment
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _Bad(f"expected a date such as \"2023-03-01\", got {value!r}") from None


def _shipped_vocab():
    from .vocabulary import shipped

    return shipped()


def parse_enum(enum, value: Any):
    """(canonical value, the code's meaning or None) for a value, an alias or a code of
    the enumeration ``enum`` (a ``vocabulary.Enumeration``)."""
    if isinstance(value, str):
        found = enum.lookup(value.strip())
        if found is not None:
            return found
    word = ENUM_WORDS.get(enum.name, enum.name)
    expected = ", ".join(enum.values)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        code = value.strip()
        raise _Bad(f"unknown {word} {value!r}: no vocabulary maps this code to a {enum.name} value (a policy can: "
                   f"enum {enum.name} {{ NAME \"名称\" codes \"{code}\" }}); expected one of: {expected}, or a "
                   f"code such as {', '.join(repr(c) for c in list(enum.codes)[:3]) or 'none'}")
    s = suggest(str(value), [*enum.values, *enum.names_zh.values()]) if isinstance(value, str) else None
    did = f"; did you mean {s!r}?" if s else ""
    raise _Bad(f"unknown {word} {value!r}{did} (expected one of: {expected})")


def parse_value(spec_type: str, value: Any, nonnegative: bool = True, from_text: bool = False, vocab=None):
    """``from_text``: the value was typed on a command line (``--param flag=true``).
    ``vocab``: the vocabulary in force (``ir.Policy.vocab``; by default the shipped one)."""
    if spec_type == V.MONEY:
        d = parse_money(value)
        if nonnegative and d < 0:
            raise _Bad(f"amount cannot be negative ({value})")
        return d
    if spec_type == V.PERCENT:
        # a percentage is written with its sign ("60%"); a bare 60 or 0.6 is ambiguous
        if not isinstance(value, str) or not re.fullmatch(r"\s*\d{1,3}(\.\d{1,2})?\s*%\s*", value):
            raise _Bad(f"expected a percentage such as \"60%\" (at most two decimals: 4 as a fraction), got "
                       f"{_short(value)}")
        d = Decimal(value.strip().rstrip("%").strip())
        if d > 100:
            raise _Bad(f"a percentage must be within 0%..100%, got {value!r}")
        return CTX.divide(d, HUNDRED)
    if spec_type == V.POINTS:
        # percentage points, written as the number of points ("5" for 5 points)
        try:
            d = Decimal(str(value).strip()) if not isinstance(value, (bool, float)) else None
        except (InvalidOperation, ValueError):
            d = None
        if d is None or not d.is_finite() or abs(d) > 100 or d.as_tuple().exponent < -2:
            raise _Bad("expected a number of percentage points within -100..100 with at most two decimals such as "
                       f"\"5\", got {_short(value)}")
        return CTX.divide(d, HUNDRED)
    if spec_type == V.NUMBER:
        if isinstance(value, bool):
            raise _Bad(f"expected a number, got {value!r}")
        try:
            d = Decimal(value) if isinstance(value, (int, Decimal)) else Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise _Bad(f"expected a number, got {value!r}") from None
        if not d.is_finite() or (d and d.adjusted() >= MAX_DIGITS):
            raise _Bad(f"expected a number with at most {MAX_DIGITS} digits before the decimal point, got {value!r}")
        return d
    if spec_type == V.DATE:
        return parse_date(value)
    if spec_type == "datetime":
        return parse_date(value, with_time=True)
    if spec_type == V.BOOL:
        if isinstance(value, str) and from_text and value.strip().lower() in ("true", "false", "是", "否"):
            return value.strip().lower() in ("true", "是")
        if not isinstance(value, bool):
            raise _Bad(f"expected true or false, got {value!r}")
        return value
    if spec_type == V.TEXT:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise _Bad(f"expected a non-empty text, got {value!r}")
        return value
    vocab = vocab if vocab is not None else _shipped_vocab()
    if spec_type in vocab.enums:
        return parse_enum(vocab.enums[spec_type], value)[0]
    raise _Bad(f"unsupported type {spec_type}")  # pragma: no cover


def _records(data: Any, what: str, source: str | None) -> list:
    """A list of records: a JSON array, or from Python any sequence or iterable of dicts."""
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise InputError([InputProblem(None, "(top level)", f"expected a JSON array of {what}", source=source)])
    return list(data)


def _validate(data, spec: dict, what: str, source: str | None, extra: dict | None = None,
              record_check=None, vocab=None) -> list[dict]:
    """Validate every record; ``record_check(row)`` returns (field, message) pairs for
    problems across fields, checked on every record whose fields it reads are valid.

    An enumeration field may hold a platform code (``"psn_type": "1103"``); a code that
    implies another field's value (``flxempe_flag`` true) supplies it when the record
    does not, and contradicting it is a problem of that field."""
    vocab = vocab if vocab is not None else _shipped_vocab()
    enums = vocab.enums
    spec = dict(spec)
    for name, (t, default) in (extra or {}).items():
        # optional here: a rule that reads it and finds none says so, naming the record
        spec[name] = FieldSpec(t, False, default, nonnegative=False)
    problems: list[InputProblem] = []
    out = []
    for i, rec in enumerate(_records(data, what, source), start=1):
        if not isinstance(rec, dict):
            problems.append(InputProblem(i, "(record)", f"expected an object, got {type(rec).__name__}", source=source))
            continue
        psn = rec.get("psn_no") if isinstance(rec.get("psn_no"), (str, int)) else None
        row: dict[str, Any] = {}
        for key in rec:
            if key not in spec:
                s = suggest(key, spec)
                did = f"; did you mean {s!r}?" if s else ""
                problems.append(InputProblem(i, key, f"unknown field{did}", psn, source))
        missing: dict[str, InputProblem] = {}
        bad: set[str] = set()
        coded = []
        for name, fs in spec.items():
            if name not in rec or rec[name] is None:
                if fs.required:
                    missing[name] = InputProblem(i, name, "is required but missing", psn, source)
                    problems.append(missing[name])
                else:
                    row[name] = fs.default
                continue
            try:
                if fs.type in enums:
                    row[name], code = parse_enum(enums[fs.type], rec[name])
                    if code is not None and code.implies:
                        coded.append((name, code))
                else:
                    row[name] = parse_value(fs.type, rec[name], fs.nonnegative, vocab=vocab)
                if fs.type == "datetime" and isinstance(rec[name], str):
                    row["$setl_time_text"] = rec[name].strip()  # echoed as given
            except _Bad as e:
                bad.add(name)
                problems.append(InputProblem(i, name, str(e), psn, source))
        for name, code in coded:
            for field, want in code.implies:
                if field not in spec or field in bad:
                    continue
                if field in missing:  # the code says it
                    problems.remove(missing.pop(field))
                    row[field] = want
                elif field in rec and rec[field] is not None and row.get(field) != want:
                    said = rec[name].strip() if isinstance(rec[name], str) else rec[name]
                    label = f" ({code.label})" if code.label else ""
                    given = _json_word(rec[field]) if isinstance(rec[field], bool) else _short(rec[field])
                    problems.append(InputProblem(i, field, f"{given} contradicts {name} {said!r}{label}, "
                                                           f"which means {code.value} with {field} = "
                                                           f"{_json_word(want)}", psn, source))
        if record_check is not None:
            for field, message in record_check(row):
                problems.append(InputProblem(i, field, message, psn, source))
        out.append(row)
    if problems:
        raise InputError(problems)
    return out


def _extra_inputs(policy: ir.Policy) -> dict:
    return dict(policy.inputs)


def _json_word(v) -> str:
    return "true" if v is True else "false" if v is False else str(v)


def _visit_rules(r: dict):
    yield from _bill_split(r)
    if r.get("acct_used_flag") not in (None, "0", "1"):
        yield ("acct_used_flag", f"expected \"0\" (the account is not to be used) or \"1\", got "
                                 f"{_short(r['acct_used_flag'])}")


def _bill_split(r: dict):
    amounts = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")
    if all(isinstance(r.get(k), Decimal) for k in amounts):
        parts = r["fulamt_ownpay_amt"] + r["overlmt_selfpay"] + r["preselfpay_amt"]
        if parts > r["medfee_sumamt"]:
            yield ("medfee_sumamt", f"the self-paid parts (fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt "
                                    f"= {parts}) exceed the total {r['medfee_sumamt']}")


def _venue_rule(r: dict):
    item = r.get("item")
    if item is None:
        return
    contribution = item.endswith("_contribution")  # the vocabulary's rule: builtin.pol, enum item
    if contribution and r.get("venue") is not None:
        yield ("venue", f"a contribution ({item}) has no venue; leave it out")
    if not contribution and r.get("venue") is None and "venue" in r:
        yield ("venue", f"is required for {item}")


def validate_visits(data, policy: ir.Policy, source: str | None = None) -> list[dict]:
    return _validate(data, VISIT_SPEC, "visits", source, _extra_inputs(policy), _visit_rules, policy.vocab)


def validate_persons(data, policy: ir.Policy, source: str | None = None) -> list[dict]:
    return _validate(data, PERSON_SPEC, "persons", source, _extra_inputs(policy), vocab=policy.vocab)


def validate_requests(data, policy: ir.Policy, source: str | None = None) -> list[dict]:
    return _validate(data, REQUEST_SPEC, "requests", source, _extra_inputs(policy), _venue_rule, policy.vocab)


def validate_params(values: dict[str, Any], policy: ir.Policy, source: str | None = "--param") -> dict[str, Any]:
    """Parameters the policy declares, typed by their declaration; every one is required."""
    problems = []
    out = {}
    for name in values:
        if name not in policy.params:
            s = suggest(name, policy.params)
            did = f"; did you mean {s!r}?" if s else ""
            known = ", ".join(policy.params) or "none"
            problems.append(InputProblem(None, name, f"this policy declares no such parameter{did} (declared: {known})",
                                         source=source))
    for name, t in policy.params.items():
        if name not in values:
            continue
        try:
            out[name] = parse_value(t, values[name], nonnegative=True, from_text=True, vocab=policy.vocab)
        except _Bad as e:
            problems.append(InputProblem(None, name, str(e), source=source))
    if problems:
        raise InputError(problems)
    return out


def missing_param(name: str, policy: ir.Policy) -> InputError:
    t = policy.params.get(name, "value")
    return InputError([InputProblem(None, name, f"this policy needs the parameter {name} ({t}), which the notice "
                                                f"does not give; supply it (command line: --param {name}=...; "
                                                f"Python: params={{'{name}': ...}})",
                                    source="parameters")])
