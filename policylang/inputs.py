"""Validate evaluation input (visits, persons, account-use requests, parameters).

Every problem in every record is collected; nothing is evaluated while any
remains.  Each error names the record (its position and psn_no) and the field.
Field names are those of the national platform (see docs/json-contract.md).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

if TYPE_CHECKING:
    from .vocabulary import Code, Enumeration, Vocabulary

import attrs

from .errors import PolicylangError
from . import ir
from . import vocab as V
from .ir.evaluate import CTX
from .resolve import suggest

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
PARAMS = "params"  # the source of a problem with a parameter (the command line says --param)


@attrs.frozen
class InputProblem:
    record: int | None  # 1-based; None for parameters
    field: str
    message: str
    psn_no: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        """One line: every value from the input is escaped (a line break cannot forge a
        line) and cut short (a huge value is not echoed whole)."""
        where = f"{self.source}: " if self.source else ""
        if self.record is not None:
            who = f" (psn_no {short(self.psn_no, raw=True)})" if self.psn_no else ""
            where += f"record {self.record}{who}: "
        return f"{where}field '{short(self.field, 60, raw=True)}': {escape(self.message)}"

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "record": self.record,
            "psn_no": self.psn_no,
            "field": self.field,
            "message": self.message,
        }


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
PLATFORM_FIELDS = (
    "setl_id",
    "mdtrt_id",
    "insutype",
    "med_type",
    "acct_used_flag",
    "mdtrt_cert_type",
    "chrg_bchno",
    "psn_setlway",
)
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
ENUM_WORDS = {
    "hosp_lv": "hospital level",
    "psn_type": "person type",
    "relation": "relation",
    "venue": "venue",
    "item": "item",
}


class Reason(str):
    """An input problem's reason: the English text itself (what ``str()``, the Python API
    and JSON see, unchanged), carrying its catalogue id and arguments so that the command
    line can say it in the language spoken (``said``).  An argument may itself be a Reason
    (a word or an example sentence), said in the same language."""

    msg_id: str
    params: dict[str, Any]

    def __new__(cls, msg_id: str, **params: Any) -> Reason:
        from .messages import text

        self = super().__new__(cls, text(msg_id, "en", **params))
        self.msg_id, self.params = msg_id, params
        return self

    def said(self, lang: str) -> str:
        from .messages import text

        args = {
            k: v.said(lang) if isinstance(v, (Reason, Allowed)) else v
            for k, v in self.params.items()
        }
        return text(self.msg_id, lang, **args)


class Allowed(str):
    """The values an enumeration allows, as a reason lists them: the English is the canonical
    names (``active, retiree``); in Chinese each value's Chinese name with the name a record
    may give (``在职(active)、退休(retiree)``), as diagnostics list them."""

    names_zh: dict[str, str]

    def __new__(cls, values: Iterable[str], names_zh: Mapping[str, str]) -> Allowed:
        values = list(values)
        self = super().__new__(cls, ", ".join(values))
        self.names_zh = {v: names_zh.get(v, "") for v in values}
        return self

    def said(self, lang: str) -> str:
        if lang != "zh":
            return str(self)
        return "、".join(f"{zh}({v})" if zh else v for v, zh in self.names_zh.items())


def said(message: str, lang: str) -> str:
    """An input problem's message in ``lang`` (a plain string is said as it is)."""
    return message.said(lang) if isinstance(message, Reason) else message


def _type_word(t: str) -> str:
    """A parameter's type as a reason names it (money / 金额)."""
    from .messages import MESSAGES

    return Reason(f"input.type.{t}") if f"input.type.{t}" in MESSAGES else t


def _did(s: str | None) -> str:
    return Reason("input.did_you_mean", name=repr(s)) if s else ""


class _Bad(Exception):
    """A value's problem; ``reason`` is its Reason (``str()`` is the English)."""

    @property
    def reason(self) -> str:
        return self.args[0]


def escape(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, controls, bidi
    marks, lone surrogates) written as a Python escape, so it shows on one line as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


_JSON_NAMES: dict[type, str] = {dict: "an object", list: "an array", tuple: "an array"}


def short(value: Any, limit: int = 40, raw: bool = False) -> str:
    """A value quoted in a message: escaped, and cut to a short prefix.  Text is quoted
    (``'abc'``, unless ``raw``); numbers are written as numbers (never ``Decimal('1.5')``);
    ``True``/``None`` as JSON spells them; anything else by its kind (``an object``)."""
    if isinstance(value, str):
        cut = escape(value[:limit])
        more = "…" if len(value) > limit else ""
        return cut + more if raw else "'" + cut.replace("'", "\\'") + "'" + more
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        if value.bit_length() > 3.33 * limit:  # str() of a huge int is slow, even refused
            return f"an integer of about {int(value.bit_length() / 3.3219)} digits"
        text = str(value)
    elif isinstance(value, Decimal):
        text = str(value)
    elif type(value).__name__ == "float":
        text = repr(value)
    elif isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
    else:
        return _JSON_NAMES.get(type(value)) or f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "…"


_short = short


def psn_shown(psn: Any) -> str | None:
    """The ``psn_no`` named in messages: a text or an integer, trimmed; None otherwise."""
    if isinstance(psn, str):
        return psn.strip() or None
    if isinstance(psn, int) and not isinstance(psn, bool):
        return short(psn)
    return None


MAX_DIGITS = 15  # up to 10**15 yuan; keeps every sum exact within Decimal's 28 digits
NUMBER_PLACES = (
    6  # a number has at most six decimals (the evaluators compute numbers in millionths)
)
NUMBER_UNIT = Decimal(1).scaleb(-NUMBER_PLACES)
MAX_TEXT = 40  # a number or date written longer than this is refused before it is parsed
MAX_INT_TEXT = 10**20  # an integer given for a text field (psn_no: 7) has at most 20 digits


_MONEY_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_SETL_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?"
)
_OFFSET = re.compile(r"(?:[ T][0-9:.]+)(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$", re.I)
_FRACTION = re.compile(r"[ T][0-9]{2}:[0-9]{2}:[0-9]{2}[.,][0-9]+$")


def plain_text(value: str) -> str:
    """Text that is parsed as a number, amount or date: trimmed, with full-width digits and
    punctuation (and the other compatibility forms) read as ASCII (Unicode NFKC).  A
    superscript, circled or fraction digit (category No) is not a digit: such text is left
    as it is, to be refused."""
    if (
        not value.isascii()
        and len(value) <= 4 * MAX_TEXT
        and not any(unicodedata.category(c) == "No" for c in value)
    ):
        value = unicodedata.normalize("NFKC", value)
    return value.strip()


def parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise _Bad(Reason("input.amount", value=short(value)))
    if isinstance(value, (int, Decimal)):
        d = Decimal(value)
    elif isinstance(value, str):
        text = plain_text(value)
        if len(text) > MAX_TEXT or not _MONEY_TEXT.fullmatch(text):
            raise _Bad(Reason("input.amount", value=short(value)))
        d = Decimal(text)
    elif type(value).__name__ == "float":
        # JSON readers should use parse_float=Decimal; a float from Python code is
        # taken by its shortest decimal spelling, never computed with.
        d = Decimal(repr(value))
    else:
        raise _Bad(Reason("input.amount", value=short(value)))
    if not d.is_finite():
        raise _Bad(Reason("input.finite_amount", value=short(value)))
    if d.adjusted() >= MAX_DIGITS:
        raise _Bad(
            Reason("input.amount_too_large", value=short(value, raw=True), digits=MAX_DIGITS)
        )
    if d != d.quantize(CENT, rounding="ROUND_DOWN", context=CTX):
        raise _Bad(Reason("input.amount_places", value=short(value, raw=True)))
    d = d.quantize(CENT, context=CTX)
    return d.copy_abs() if d.is_zero() else d  # no "-0.00"


def setl_time_of(text: str) -> dt.date | dt.datetime:
    """``YYYY-MM-DD``, or that with `` HH:MM``, `` HH:MM:SS`` (or ``T`` for the space), exactly:
    a date or a datetime.  ValueError for any other text (the caller trims and normalises);
    shared by every input path, so that they all accept the same texts with the same values."""
    m = _SETL_TEXT.fullmatch(text)
    if m is None:
        raise ValueError("form")
    y, mo, d, h, mi, sec = m.groups()
    if h is None:
        return dt.date(int(y), int(mo), int(d))
    return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0))


def setl_time_text(t: dt.date | dt.datetime) -> str:
    """The normalised spelling echoed in results: "2023-03-01" or "2023-03-01 10:30:00"."""
    return t.isoformat(sep=" ") if isinstance(t, dt.datetime) else t.isoformat()


_DATE_EXAMPLE = Reason("input.date_example")
_TIME_EXAMPLE = Reason("input.time_example")


def parse_date(value: Any, with_time: bool = False) -> dt.date:
    example = _TIME_EXAMPLE if with_time else _DATE_EXAMPLE
    if isinstance(value, dt.datetime):
        return _typed_datetime(value, with_time, example)
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise _Bad(Reason("input.example_got", example=example, value=short(value)))
    text = plain_text(value)
    if len(text) > MAX_TEXT or not (_SETL_TEXT if with_time else _DATE_TEXT).fullmatch(text):
        raise _malformed_time(value, text, with_time, example)
    try:
        return setl_time_of(text)
    except ValueError:
        what = Reason("input.word_datetime" if len(text) > 10 else "input.word_date")
        raise _Bad(
            Reason("input.not_real", example=example, value=short(value), what=what)
        ) from None


def _typed_datetime(value: dt.datetime, with_time: bool, example: str) -> dt.datetime:
    """A ``datetime`` given as such (the columnar path): local, to the second."""
    if not with_time:
        raise _Bad(Reason("input.got_datetime", example=example, value=short(value)))
    if value.tzinfo is not None:
        raise _Bad(Reason("input.utc_offset", value=short(value)))
    if value.microsecond:
        raise _Bad(Reason("input.fraction_seconds", value=short(value)))
    return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second)


def _malformed_time(value: str, text: str, with_time: bool, example: str) -> _Bad:
    """What is wrong with a date or time text that is not in a documented form."""
    if with_time and len(text) <= MAX_TEXT:
        if _OFFSET.search(text) and text[:10].count("-") == 2:
            return _Bad(Reason("input.utc_offset", value=short(value)))
        if _FRACTION.search(text):
            return _Bad(Reason("input.fraction_seconds", value=short(value)))
    return _Bad(Reason("input.example_got", example=example, value=short(value)))


def _places(d: Decimal) -> int:
    """The decimals a finite number is written with (``5.00`` -> 2)."""
    exponent = d.as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 0


def _number(value: Any) -> Decimal | None:
    """A number given as a JSON number or as text; None when it is neither.  A negative
    zero is zero (it would otherwise be shown as "-0")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        d = Decimal(value)
    elif type(value).__name__ == "float":
        d = Decimal(repr(value))
    elif isinstance(value, str):
        text = plain_text(value)
        if len(text) > MAX_TEXT or not _MONEY_TEXT.fullmatch(text):
            return None
        d = Decimal(text)
    else:
        return None
    return d.copy_abs() if d.is_zero() else d


def _shipped_vocab():
    from .vocabulary import shipped

    return shipped()


def parse_enum(enum: Enumeration, value: Any) -> tuple[str, Code | None]:
    """(canonical value, the code's meaning or None) for a value, an alias or a code of
    the enumeration ``enum`` (a ``vocabulary.Enumeration``).  Text is trimmed; a code
    may be written with full-width digits (``"１１０３"``), as numbers may."""
    if isinstance(value, str):
        text = value.strip()
        found = enum.lookup(text)
        if found is not None:
            return found
        digits = plain_text(text)
        coded = enum.lookup(digits) if digits != text and digits in enum.codes else None
        if coded is not None:
            return coded
    word = Reason(f"input.word.{enum.name}") if enum.name in ENUM_WORDS else enum.name
    expected = Allowed(enum.values, enum.names_zh)
    if isinstance(value, str) and plain_text(value).isascii() and plain_text(value).isdigit():
        code = short(plain_text(value), raw=True)
        examples = ", ".join(repr(c) for c in list(enum.codes)[:3]) or "none"
        raise _Bad(
            Reason(
                "input.unknown_code",
                word=word,
                value=short(value),
                enum=enum.name,
                code=code,
                expected=expected,
                examples=examples,
            )
        )
    s = suggest(value, [*enum.values, *enum.names_zh.values()]) if isinstance(value, str) else None
    raise _Bad(
        Reason("input.unknown_value", word=word, value=short(value), did=_did(s), expected=expected)
    )


_POINTS_TEXT = re.compile(r"([+-]?[0-9]{1,3}(?:\.[0-9]{1,2})?)\s*(?:points|个百分点|百分点)")


def _points(value: Any) -> Decimal:
    """Percentage points, written with their unit ("5 points", "5 个百分点"): a bare 5 or
    0.05 is refused, as a bare percentage is (0.05 would read as 0.05 points, not 5)."""
    text = plain_text(value) if isinstance(value, str) else ""
    m = _POINTS_TEXT.fullmatch(text) if len(text) <= MAX_TEXT else None
    d = Decimal(m.group(1)) if m else None
    if d is None or abs(d) > 100:
        raise _Bad(Reason("input.points", value=short(value)))
    return CTX.divide(d, HUNDRED) if d else Decimal(0)


def _money_value(value: Any, nonnegative: bool, from_text: bool) -> Decimal:
    d = parse_money(value)
    if nonnegative and d < 0:
        raise _Bad(Reason("input.negative", value=short(value, raw=True)))
    return d


def _percent_value(value: Any, nonnegative: bool, from_text: bool) -> Decimal:
    # a percentage is written with its sign ("60%"); a bare 60 or 0.6 is ambiguous
    text = plain_text(value) if isinstance(value, str) else ""
    if len(text) > MAX_TEXT or not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?\s*%", text):
        raise _Bad(Reason("input.percent", value=short(value)))
    d = Decimal(text.rstrip("%").strip())
    if d > 100:
        raise _Bad(Reason("input.percent_range", value=short(value)))
    return CTX.divide(d, HUNDRED)


def _points_value(value: Any, nonnegative: bool, from_text: bool) -> Decimal:
    return _points(value)


def _number_value(value: Any, nonnegative: bool, from_text: bool) -> Decimal:
    number = _number(value)
    if number is None:
        raise _Bad(Reason("input.number", value=short(value)))
    if (
        not number.is_finite()
        or (number and number.adjusted() >= MAX_DIGITS)
        or number != number.quantize(NUMBER_UNIT, rounding="ROUND_DOWN", context=CTX)
    ):
        raise _Bad(
            Reason(
                "input.number_digits", digits=MAX_DIGITS, places=NUMBER_PLACES, value=short(value)
            )
        )
    return number


def _bool_value(value: Any, nonnegative: bool, from_text: bool) -> bool:
    if (
        isinstance(value, str)
        and from_text
        and plain_text(value).lower() in ("true", "false", "是", "否")
    ):
        return plain_text(value).lower() in ("true", "是")
    if not isinstance(value, bool):
        raise _Bad(Reason("input.bool", value=short(value)))
    return value


def _text_value(value: Any, nonnegative: bool, from_text: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < MAX_INT_TEXT:
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(Reason("input.text", value=short(value)))
    return value.strip()  # "A " and "A" are one person


# how a value of each scalar type is read: (value, nonnegative, from_text) -> the value
_PARSERS: dict[str, Callable[[Any, bool, bool], Any]] = {
    V.MONEY: _money_value,
    V.PERCENT: _percent_value,
    V.POINTS: _points_value,
    V.NUMBER: _number_value,
    V.DATE: lambda value, nonnegative, from_text: parse_date(value),
    "datetime": lambda value, nonnegative, from_text: parse_date(value, with_time=True),
    V.BOOL: _bool_value,
    V.TEXT: _text_value,
}


def parse_value(
    spec_type: str,
    value: Any,
    nonnegative: bool = True,
    from_text: bool = False,
    vocab: Vocabulary | None = None,
) -> Any:
    """``from_text``: the value was typed on a command line (``--param flag=true``).
    ``vocab``: the vocabulary in force (``ir.Policy.vocab``; by default the shipped one)."""
    parse = _PARSERS.get(spec_type)
    if parse is not None:
        return parse(value, nonnegative, from_text)
    vocab = vocab if vocab is not None else _shipped_vocab()
    if spec_type in vocab.enums:
        return parse_enum(vocab.enums[spec_type], value)[0]
    raise _Bad(f"unsupported type {spec_type}")  # pragma: no cover


def _records(data: Any, what: str, source: str | None) -> list:
    """A list of records: a JSON array, or from Python any sequence or iterable of dicts."""
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise InputError(
            [
                InputProblem(
                    None,
                    "(top level)",
                    Reason("input.top_level", what=Reason(f"input.word.{what}")),
                    source=source,
                )
            ]
        )
    return list(data)


RecordCheck = Callable[[dict], Iterator[tuple[str, str]]]


def _validate(
    data: object,
    spec: dict,
    what: str,
    source: str | None,
    extra: dict | None = None,
    record_check: RecordCheck | None = None,
    vocab: Vocabulary | None = None,
) -> list[dict]:
    """Validate every record; ``record_check(row)`` returns (field, message) pairs for
    problems across fields, checked on every record whose fields it reads are valid.

    An enumeration field may hold a platform code (``"psn_type": "1103"``); a code that
    implies another field's value (``flxempe_flag`` true) supplies it when the record
    does not, and contradicting it is a problem of that field."""
    vocab = vocab if vocab is not None else _shipped_vocab()
    spec = dict(spec)
    for name, (t, default) in (extra or {}).items():
        # optional here: a rule that reads it and finds none says so, naming the record
        spec[name] = FieldSpec(t, False, default, nonnegative=False)
    reader = _RecordReader(spec, vocab, source)
    out = []
    for i, rec in enumerate(_records(data, what, source), start=1):
        if not isinstance(rec, dict):
            reader.problems.append(
                InputProblem(
                    i, "(record)", Reason("input.not_object", value=short(rec)), source=source
                )
            )
            continue
        row = reader.read(i, rec)
        if record_check is not None:
            psn = psn_shown(rec.get("psn_no"))
            for field, message in record_check(row):
                reader.problems.append(InputProblem(i, field, message, psn, source))
        out.append(row)
    if reader.problems:
        raise InputError(reader.problems)
    return out


class _RecordReader:
    """Reads records field by field against ``spec``, collecting every problem."""

    def __init__(self, spec: dict, vocab: Vocabulary, source: str | None) -> None:
        self.spec = spec
        self.vocab = vocab
        self.enums = vocab.enums
        self.source = source
        self.problems: list[InputProblem] = []

    def read(self, i: int, rec: dict) -> dict[str, Any]:
        """The record ``i`` (1-based) read; its problems are added to ``problems``."""
        psn = psn_shown(rec.get("psn_no"))
        self._keys(i, rec, psn)
        row: dict[str, Any] = {}
        missing: dict[str, InputProblem] = {}
        bad: set[str] = set()
        coded: list[tuple[str, Code]] = []
        for name, fs in self.spec.items():
            if name not in rec or rec[name] is None:
                if fs.required:
                    missing[name] = InputProblem(
                        i, name, Reason("input.required"), psn, self.source
                    )
                    self.problems.append(missing[name])
                else:
                    row[name] = fs.default
                continue
            try:
                row[name] = self._value(name, fs, rec[name], coded)
            except _Bad as e:
                bad.add(name)
                self.problems.append(InputProblem(i, name, e.reason, psn, self.source))
        for name, code in coded:
            self._implied(i, rec, psn, row, name, code, missing, bad)
        return row

    def _keys(self, i: int, rec: dict, psn: str | None) -> None:
        for key in rec:
            if not isinstance(key, str):  # only from Python: JSON keys are text
                self.problems.append(
                    InputProblem(
                        i,
                        short(key),
                        Reason("input.key_not_text", value=short(key)),
                        psn,
                        self.source,
                    )
                )
            elif key not in self.spec:
                s = suggest(key, self.spec)
                reason = Reason("input.unknown_field", did=_did(s))
                self.problems.append(InputProblem(i, key, reason, psn, self.source))

    def _value(self, name: str, fs: FieldSpec, given: Any, coded: list[tuple[str, Code]]) -> Any:
        """One field's value; a platform code that implies other fields goes on ``coded``."""
        if fs.type not in self.enums:
            return parse_value(fs.type, given, fs.nonnegative, vocab=self.vocab)
        value, code = parse_enum(self.enums[fs.type], given)
        if code is not None and code.implies:
            coded.append((name, code))
        return value

    def _implied(
        self,
        i: int,
        rec: dict,
        psn: str | None,
        row: dict[str, Any],
        name: str,
        code: Code,
        missing: dict[str, InputProblem],
        bad: set[str],
    ) -> None:
        """The fields the code in ``name`` implies: supplied when missing, a problem when the
        record says otherwise."""
        for field, want in code.implies:
            if field not in self.spec or field in bad:
                continue
            if field in missing:  # the code says it
                self.problems.remove(missing.pop(field))
                row[field] = want
            elif field in rec and rec[field] is not None and row.get(field) != want:
                self.problems.append(
                    InputProblem(
                        i,
                        field,
                        contradiction(name, rec[name], code, field, rec[field], want),
                        psn,
                        self.source,
                    )
                )


def _extra_inputs(policy: ir.Policy) -> dict:
    return dict(policy.inputs)


def _json_word(v: object) -> str:
    return "true" if v is True else "false" if v is False else str(v)


def contradiction(name: str, said: Any, code: Code, field: str, given: Any, want: Any) -> str:
    """What is wrong with a record whose ``field`` (as given) contradicts the platform code
    ``said`` in ``name`` (``code``: its meaning), which implies ``field`` = ``want``."""
    said = said.strip() if isinstance(said, str) else said
    label = f" ({code.label})" if code.label else ""
    given = _json_word(given) if isinstance(given, bool) else _short(given)
    return Reason(
        "input.contradiction",
        given=given,
        name=name,
        said=short(said),
        label=label,
        value=code.value,
        field=field,
        want=_json_word(want),
    )


def _visit_rules(r: dict) -> Iterator[tuple[str, str]]:
    yield from _bill_split(r)
    if r.get("acct_used_flag") not in (None, "0", "1"):
        yield ("acct_used_flag", Reason("input.acct_used_flag", value=_short(r["acct_used_flag"])))


def _bill_split(r: dict) -> Iterator[tuple[str, str]]:
    amounts = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")
    if all(isinstance(r.get(k), Decimal) for k in amounts):
        parts = r["fulamt_ownpay_amt"] + r["overlmt_selfpay"] + r["preselfpay_amt"]
        if parts > r["medfee_sumamt"]:
            yield (
                "medfee_sumamt",
                Reason("input.bill_split", parts=parts, total=r["medfee_sumamt"]),
            )


def _declared_split(parts: tuple[str, ...]) -> Callable[[dict], Iterator[tuple[str, str]]]:
    """The policy's bill split (``in_policy excludes``): the parts it takes off the total may
    not exceed it, or the in-policy amount would be negative."""

    def rules(r: dict) -> Iterator[tuple[str, str]]:
        yield from _visit_rules(r)
        if all(isinstance(r.get(k), Decimal) for k in ("medfee_sumamt", *parts)):
            total = sum((r[k] for k in parts), Decimal(0))
            if total > r["medfee_sumamt"] and (
                total != r["fulamt_ownpay_amt"] + r["overlmt_selfpay"] + r["preselfpay_amt"]
            ):
                yield (
                    "medfee_sumamt",
                    f"the parts that leave the in-policy amount ({' + '.join(parts)} = {total}) "
                    f"exceed the total {r['medfee_sumamt']}",
                )

    return rules


def _venue_rule(r: dict) -> Iterator[tuple[str, str]]:
    item = r.get("item")
    if item is None:
        return
    contribution = item.endswith("_contribution")  # the vocabulary's rule: builtin.pol, enum item
    if contribution and r.get("venue") is not None:
        yield ("venue", Reason("input.contribution_venue", item=item))
    if not contribution and r.get("venue") is None and "venue" in r:
        yield ("venue", Reason("input.venue_required", item=item))


def validate_visits(data: object, policy: ir.Policy, source: str | None = None) -> list[dict]:
    split = getattr(policy, "bill_split", None)
    rules = _visit_rules if split is None else _declared_split(split[0])
    return _validate(data, VISIT_SPEC, "visits", source, _extra_inputs(policy), rules, policy.vocab)


def validate_persons(data: object, policy: ir.Policy, source: str | None = None) -> list[dict]:
    return _validate(
        data, PERSON_SPEC, "persons", source, _extra_inputs(policy), vocab=policy.vocab
    )


def validate_requests(data: object, policy: ir.Policy, source: str | None = None) -> list[dict]:
    return _validate(
        data, REQUEST_SPEC, "requests", source, _extra_inputs(policy), _venue_rule, policy.vocab
    )


def validate_params(
    values: dict[str, Any], policy: ir.Policy, source: str | None = PARAMS
) -> dict[str, Any]:
    """Parameters the policy declares, typed by their declaration; every one is required."""
    problems = []
    out = {}
    for name in values:
        if name not in policy.params:
            s = suggest(name, policy.params)
            known = ", ".join(policy.params) or Reason("input.none")
            problems.append(
                InputProblem(
                    None,
                    name,
                    Reason("input.unknown_param", did=_did(s), known=known),
                    source=source,
                )
            )
    for name, t in policy.params.items():
        if name not in values:
            continue
        try:
            out[name] = parse_value(
                t, values[name], nonnegative=True, from_text=True, vocab=policy.vocab
            )
        except _Bad as e:
            problems.append(InputProblem(None, name, e.reason, source=source))
    if problems:
        raise InputError(problems)
    return out


def missing_param(name: str, policy: ir.Policy) -> InputError:
    t = policy.params.get(name, "value")
    return InputError(
        [
            InputProblem(
                None,
                name,
                Reason("input.missing_param", name=name, type=_type_word(t)),
                source=PARAMS,
            )
        ]
    )
