"""Parse policy source into the AST.

``grammar/policy.lark`` is parsed with Lark's LALR parser and contextual lexer
(``propagate_positions=True``); a Transformer then builds frozen attrs nodes with
source spans.  Lark's exceptions never escape: they become diagnostics worded
for a policy officer ("expected a percentage such as 75% ..."), using
``UnexpectedInput.match_examples`` for the common mistakes.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

import lark
from lark import Transformer, v_args

from . import nodes as n
from .diagnostics import Diagnostic, PolicyError
from .source import normalize
from .vocab import canonical

GRAMMAR_FILE = "policy.lark"


def grammar_text() -> str:
    """The grammar shipped inside the package (``policylang/grammar``), or the
    repository's ``grammar/`` when running from a source checkout."""
    try:
        res = resources.files("policylang").joinpath("grammar").joinpath(GRAMMAR_FILE)
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):  # pragma: no cover
        pass
    return (Path(__file__).resolve().parent.parent / "grammar" / GRAMMAR_FILE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=False)


@functools.lru_cache(maxsize=1)
def keyword_pairs() -> dict[str, tuple[str, str]]:
    """keyword rule name -> (English spelling, Chinese spelling), read from the grammar."""
    pairs = {}
    for m in re.finditer(r'^_kw_(\w+): "([^"]+)" \| "([^"]+)"', grammar_text(), re.M):
        pairs[m.group(1)] = (m.group(2), m.group(3))
    return pairs


def _span(meta_or_tok, file: str) -> n.Span:
    m = meta_or_tok
    if isinstance(m, lark.Token):
        return n.Span(file, m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)
    if getattr(m, "empty", True):
        return None
    return n.Span(file, m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)


def _unquote(tok: str) -> str:
    if tok.startswith("“"):
        return tok[1:-1]
    body = tok[1:-1]
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _DateError(Exception):
    def __init__(self, token):
        self.token = token


def _parse_date(tok: lark.Token) -> dt.date:
    m = re.fullmatch(r"(\d{4})(?:-|年)(\d{1,2})(?:-|月)(\d{1,2})日?", str(tok))
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except (ValueError, AttributeError):
        raise _DateError(tok) from None


@v_args(meta=True)
class _Builder(Transformer):
    def __init__(self, file: str):
        super().__init__(visit_tokens=True)
        self.file = file
        self.bad_dates: list[lark.Token] = []

    # -- tokens
    def NAME(self, tok):
        return n.Name(canonical(str(tok)), span=_span(tok, self.file))

    def STRING(self, tok):
        return _Str(_unquote(str(tok)), _span(tok, self.file))

    def CLAUSE(self, tok):
        return _Str(str(tok), _span(tok, self.file))

    def DATE(self, tok):
        try:
            return n.DateLit(_parse_date(tok), span=_span(tok, self.file))
        except _DateError:
            self.bad_dates.append(tok)
            return n.DateLit(dt.date(1970, 1, 1), span=_span(tok, self.file))

    def NUMBER(self, tok):
        return _Num(Decimal(str(tok)), _span(tok, self.file))

    def CMP(self, tok):
        return {"≥": ">=", "≤": "<=", "≠": "!="}.get(str(tok), str(tok))

    def MUL(self, tok):
        return "*"

    # -- helpers
    def _s(self, meta):
        return _span(meta, self.file)

    @staticmethod
    def _split(children):
        """Separate a trailing citation from the other children."""
        if children and isinstance(children[-1], (n.Citation, n.Unstated)):
            return list(children[:-1]), children[-1]
        return list(children), None

    @staticmethod
    def _opt_str(children, cls=None):
        for c in children:
            if isinstance(c, _Str):
                return c.value
        return None

    # -- structure
    def start(self, meta, children):
        return children[0]

    def policy(self, meta, children):
        name, rest = children[0], children[1:]
        title = None
        if rest and isinstance(rest[0], _Str):
            title, rest = rest[0].value, rest[1:]
        return n.Policy(name=name, title=title, decls=tuple(rest), span=self._s(meta))

    def cite(self, meta, children):
        clause = children[0].value
        quote = children[1].value if len(children) > 1 else None
        return n.Citation(clause=clause, quote=quote, span=self._s(meta))

    def unstated(self, meta, children):
        return n.Unstated(reason=children[0].value, span=self._s(meta))

    def name_list(self, meta, children):
        return tuple(children)

    def level_decl(self, meta, children):
        c, cite = self._split(children)
        return n.LevelDecl(level=c[0], cite=cite, span=self._s(meta))

    def jurisdiction_decl(self, meta, children):
        c, cite = self._split(children)
        return n.JurisdictionDecl(text=c[0].value, cite=cite, span=self._s(meta))

    def document_decl(self, meta, children):
        c, cite = self._split(children)
        return n.DocumentDecl(number=c[0].value, dated=c[1], cite=cite, span=self._s(meta))

    def basis_decl(self, meta, children):
        c, cite = self._split(children)
        return n.BasisDecl(text=c[0].value, dated=c[1] if len(c) > 1 else None, cite=cite, span=self._s(meta))

    def implements_decl(self, meta, children):
        c, cite = self._split(children)
        return n.ImplementsDecl(parent=c[0], cite=cite, span=self._s(meta))

    def type_ref(self, meta, children):
        return children[0]

    def param_decl(self, meta, children):
        c, cite = self._split(children)
        return n.ParamDecl(name=c[0], type=c[1], label=self._opt_str(c[2:]), cite=cite, span=self._s(meta))

    def input_decl(self, meta, children):
        c, cite = self._split(children)
        default = next((x for x in c[2:] if not isinstance(x, _Str)), None)
        label = c[-1].value if len(c) > 2 and isinstance(c[-1], _Str) else None
        return n.InputDecl(name=c[0], type=c[1], default=default, label=label, cite=cite, span=self._s(meta))

    def tier_decl(self, meta, children):
        c, cite = self._split(children)
        label = c[1].value if isinstance(c[1], _Str) else None
        return n.TierDecl(name=c[0], label=label, members=c[-1], cite=cite, span=self._s(meta))

    def rounding_decl(self, meta, children):
        c, cite = self._split(children)
        return n.RoundingDecl(mode=c[0], unit=c[1], cite=cite, span=self._s(meta))

    def setting_decl(self, meta, children):
        c, cite = self._split(children)
        return n.SettingDecl(name=c[0], value=c[1], cite=cite, span=self._s(meta))

    # -- sections
    def pooling(self, meta, children):
        return "pooling"

    def crediting(self, meta, children):
        return "crediting"

    def account_use(self, meta, children):
        return "account_use"

    def section(self, meta, children):
        kind, rest = children[0], children[1:]
        title = None
        if rest and isinstance(rest[0], _Str):
            title, rest = rest[0].value, rest[1:]
        return n.Section(kind=kind, title=title, versions=tuple(rest), span=self._s(meta))

    def version(self, meta, children):
        start = children[0]
        i = 1
        until = None
        if i < len(children) and isinstance(children[i], (n.DateLit, n.Name)):
            until = children[i]
            i += 1
        cite = None
        if i < len(children) and isinstance(children[i], (n.Citation, n.Unstated)):
            cite = children[i]
            i += 1
        return n.Version(start=start, until=until, cite=cite, body=tuple(children[i:]), span=self._s(meta))

    def covers(self, meta, children):
        c, cite = self._split(children)
        return n.Covers(categories=c[0], cite=cite, span=self._s(meta))

    def designated_only(self, meta, children):
        _, cite = self._split(children)
        return n.DesignatedOnly(cite=cite, span=self._s(meta))

    def _accumulator(self, cls, meta, children):
        c, cite = self._split(children)
        amount, period = c[0], c[1]
        each = when = None
        for x in c[2:]:
            if isinstance(x, n.Name) and each is None and when is None:
                each = x
            else:
                when = x
        return cls(amount=amount, period=period, each=each, when=when, cite=cite, span=self._s(meta))

    def deductible(self, meta, children):
        return self._accumulator(n.Deductible, meta, children)

    def cap(self, meta, children):
        return self._accumulator(n.Cap, meta, children)

    def ratio(self, meta, children):
        c, cite = self._split(children)
        return n.Ratio(amount=c[0], cite=cite, span=self._s(meta))

    def uplift(self, meta, children):
        c, cite = self._split(children)
        return n.Uplift(points=c[0], when=c[1], cite=cite, span=self._s(meta))

    def credit_rule(self, meta, children):
        c, cite = self._split(children)
        return n.CreditRule(name=c[0], when=c[1], amount=c[2], cite=cite, span=self._s(meta))

    def relations(self, meta, children):
        c, cite = self._split(children)
        return n.Relations(relations=c[0], cite=cite, span=self._s(meta))

    def at_clause(self, meta, children):
        return ("at", children[0])

    def for_clause(self, meta, children):
        return ("for", children[0])

    def _permission(self, cls, meta, children):
        c, cite = self._split(children)
        opts = dict(x for x in c[1:])
        return cls(items=c[0], venues=opts.get("at"), relations=opts.get("for"), cite=cite, span=self._s(meta))

    def allow(self, meta, children):
        return self._permission(n.Allow, meta, children)

    def planned(self, meta, children):
        return self._permission(n.Planned, meta, children)

    def exclude(self, meta, children):
        c, cite = self._split(children)
        return n.Exclude(items=c[0], cite=cite, span=self._s(meta))

    def channel(self, meta, children):
        c, cite = self._split(children)
        return n.Channel(channels=c[0], cite=cite, span=self._s(meta))

    def table(self, meta, children):
        return n.Table(keys=children[0], rows=tuple(children[1:]), span=self._s(meta))

    def row(self, meta, children):
        c, cite = self._split(children)
        return n.Row(patterns=tuple(c[:-1]), value=c[-1], cite=cite, span=self._s(meta))

    def pattern(self, meta, children):
        return tuple(children)

    def wildcard(self, meta, children):
        return None

    # -- diseases, constraints
    def diseases(self, meta, children):
        name, rest = children[0], list(children[1:])
        title = None
        if rest and isinstance(rest[0], _Str):
            title = rest.pop(0).value
        cite = None
        if rest and isinstance(rest[0], (n.Citation, n.Unstated)):
            cite = rest.pop(0)
        total = total_cite = None
        parts = []
        for x in rest:
            if isinstance(x, tuple):
                total, total_cite = x
            else:
                parts.append(x)
        return n.Diseases(name=name, title=title, cite=cite, total=total, total_cite=total_cite,
                          parts=tuple(parts), span=self._s(meta))

    def disease_total(self, meta, children):
        c, cite = self._split(children)
        return (n.NumberLit(c[0].value, span=c[0].span), cite)

    def disease_part(self, meta, children):
        c, cite = self._split(children)
        return n.DiseasePart(name=c[0], count=n.NumberLit(c[1].value, span=c[1].span),
                             catalogue=c[2].value if len(c) > 2 else None, cite=cite, span=self._s(meta))

    def constraints(self, meta, children):
        title = None
        rest = list(children)
        if rest and isinstance(rest[0], _Str):
            title = rest.pop(0).value
        return n.Constraints(title=title, requirements=tuple(rest), span=self._s(meta))

    def requirement(self, meta, children):
        c, cite = self._split(children)
        return n.Requirement(name=c[0], left=c[1], op=c[2], right=c[3], cite=cite, span=self._s(meta))

    def measure(self, meta, children):
        return n.Measure(quantity=children[0], where=children[1] if len(children) > 1 else None, span=self._s(meta))

    def bound(self, meta, children):
        return n.Bound(value=children[0], span=self._s(meta))

    # -- expressions
    def ref(self, meta, children):
        return n.Ref(name=children[0], span=self._s(meta))

    def add(self, meta, children):
        return n.BinOp(op="+", left=children[0], right=children[1], span=self._s(meta))

    def sub(self, meta, children):
        return n.BinOp(op="-", left=children[0], right=children[1], span=self._s(meta))

    def mul(self, meta, children):
        return n.BinOp(op="*", left=children[0], right=children[2], span=self._s(meta))

    def compare(self, meta, children):
        return n.Compare(op=children[1], left=children[0], right=children[2], span=self._s(meta))

    def member(self, meta, children):
        return n.Member(operand=children[0], values=children[1], span=self._s(meta))

    def member_of(self, meta, children):
        return n.MemberOf(operand=children[0], group=children[1], span=self._s(meta))

    def flag(self, meta, children):
        return n.Flag(name=children[0], span=self._s(meta))

    def and_(self, meta, children):
        return n.And(left=children[0], right=children[1], span=self._s(meta))

    def or_(self, meta, children):
        return n.Or(left=children[0], right=children[1], span=self._s(meta))

    def not_(self, meta, children):
        return n.Not(operand=children[0], span=self._s(meta))

    # -- literals
    def money(self, meta, c):
        return n.MoneyLit(amount=c[0].value, span=self._s(meta))

    def percent(self, meta, c):
        return n.PercentLit(value=c[0].value, span=self._s(meta))

    def points(self, meta, c):
        return n.PointsLit(value=c[0].value, span=self._s(meta))

    def number(self, meta, c):
        return n.NumberLit(value=c[0].value, span=self._s(meta))

    def date(self, meta, c):
        return c[0]

    def text(self, meta, c):
        return n.TextLit(value=c[0].value, span=self._s(meta))

    def true(self, meta, c):
        return n.BoolLit(value=True, span=self._s(meta))

    def false(self, meta, c):
        return n.BoolLit(value=False, span=self._s(meta))


class _Str:
    __slots__ = ("value", "span")

    def __init__(self, value, span):
        self.value, self.span = value, span


class _Num:
    __slots__ = ("value", "span")

    def __init__(self, value, span):
        self.value, self.span = value, span


# ---- syntax errors in plain words ---------------------------------------------------

# Terminal -> how to describe it to a policy officer.
_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "DATE": "a date such as 2023-01-01", "STRING": 'a quoted text "..."',
    "CLAUSE": "a clause reference such as 二(一)", "CMP": "a comparison (>=, <=, =, ...)", "MUL": "'×'",
    "LBRACE": "'{'", "RBRACE": "'}'", "COLON": "':'", "COMMA": "','", "LPAR": "'('", "RPAR": "')'",
    "PERCENT": "'%'", "EQUAL": "'='", "LSQB": "'['", "RSQB": "']'", "STAR": "'*'", "PLUS": "'+'", "MINUS": "'-'",
    "$END": "the end of the file",
}

# Known mistakes, recognised with UnexpectedInput.match_examples.
_EXAMPLES = {
    "ratio_needs_percent": [
        "policy p { pooling { from 2023-01-01 { ratio 75 } } }",
        "policy p { pooling { from 2023-01-01 { ratio 0.75 } } }",
        "policy p { pooling { from 2023-01-01 { ratio yuan } } }",
    ],
    "amount_needs_unit": [
        "policy p { pooling { from 2023-01-01 { deductible 150 per year } } }",
        "policy p { pooling { from 2023-01-01 { cap 2000 per year } } }",
    ],
    "per_period": [
        "policy p { pooling { from 2023-01-01 { deductible 150 yuan } } }",
        "policy p { pooling { from 2023-01-01 { cap 2000 yuan } } }",
        "policy p { pooling { from 2023-01-01 { deductible 150 yuan year } } }",
    ],
    "uplift_needs_when": [
        "policy p { pooling { from 2023-01-01 { uplift 5 points } } }",
        "policy p { pooling { from 2023-01-01 { uplift 5 points cite 二 } } }",
    ],
    "version_needs_from": [
        "policy p { pooling { deductible 150 yuan per year } }",
        "policy p { pooling { ratio 75% } }",
        "policy p { crediting { rule a when x: credit 1 yuan } }",
    ],
    "cite_needs_clause": [
        'policy p { level city cite "quote" }',
        'policy p { pooling { from 2023-01-01 { deductible 150 yuan per year cite } } }',
    ],
}

_EXAMPLE_MESSAGES = {
    "ratio_needs_percent": "expected a percentage such as 75% after 'ratio' (支付比例)",
    "amount_needs_unit": "expected an amount with its unit, such as 150 yuan (150 元)",
    "per_period": "expected the period after the amount, such as 'per year' (每 年)",
    "uplift_needs_when": "an uplift needs a condition: 'uplift 5 points when psn_type = retiree'",
    "version_needs_from": "rules go inside a dated version: 'from 2023-01-01 { ... }' (自 2023-01-01 { ... })",
    "cite_needs_clause": "expected the clause after 'cite', such as cite 二(一) \"quoted sentence\"",
}


def _describe_expected(expected: set[str]) -> str:
    parser = _lark()
    by_name = {t.name: t for t in parser.terminals}
    words = []
    zh_to_en = {zh: en for en, zh in keyword_pairs().values()}
    for name in sorted(expected):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        term = by_name.get(name)
        if term is not None and term.pattern.type == "str":
            value = term.pattern.value
            value = zh_to_en.get(value, value)
            words.append(f"'{value}'")
        else:
            words.append(name.lower())
    words = sorted(set(words), key=lambda w: (not w.startswith("'"), w))
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words) if words else "something else"


def _describe_token(tok: lark.Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    kind = {"NAME": "name", "NUMBER": "number", "STRING": "text", "DATE": "date"}.get(tok.type)
    return f"{kind} '{tok}'" if kind else f"'{tok}'"


def _eof_args(err) -> dict:
    expected = set(err.expected)
    if any(_lark().get_terminal(t).pattern.value in ("policy", "政策") for t in expected
           if t in {x.name for x in _lark().terminals} and _lark().get_terminal(t).pattern.type == "str"):
        hint = 'a policy file holds one policy: policy <id> "title" { ... }'
        hint_zh = '政策文件包含一个政策:政策 <编号> "标题" { ... }'
    else:
        hint = "a '{' may be missing its '}'"
        hint_zh = "可能缺少与 '{' 配对的 '}'"
    return {"expected": _describe_expected(expected), "hint": hint, "hint_zh": hint_zh}


def _syntax_diagnostic(err: lark.UnexpectedInput, text: str, file: str) -> Diagnostic:
    label = None
    try:
        label = err.match_examples(_lark().parse, _EXAMPLES, use_accepts=True)
    except Exception:  # noqa: BLE001 - matching is a nicety; never let it hide the real error
        label = None
    hint = _EXAMPLE_MESSAGES.get(label, "") if label else ""
    if isinstance(err, lark.UnexpectedCharacters):
        span = n.Span(file, err.line, err.column, err.line, err.column + 1, err.pos_in_stream, err.pos_in_stream + 1)
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        if ch in ('"', "“"):
            return Diagnostic("P004", span)
        allowed = getattr(err, "allowed", None) or set()
        ctx = f"; expected {_describe_expected(allowed)}" if allowed else ""
        return Diagnostic("P001", span, {"char": ch, "context": ctx, "hint": hint})
    if isinstance(err, lark.UnexpectedEOF):
        lines = text.splitlines() or [""]
        span = n.Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2, len(text), len(text))
        return Diagnostic("P003", span, _eof_args(err))
    assert isinstance(err, lark.UnexpectedToken)
    tok = err.token
    if tok.type == "$END":
        lines = text.splitlines() or [""]
        span = n.Span(file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2, len(text), len(text))
        return Diagnostic("P003", span, _eof_args(err))
    span = _span(tok, file)
    return Diagnostic("P002", span, {"found": _describe_token(tok), "expected": _describe_expected(set(err.expected)),
                                     "hint": hint})


def parse(text: str, file: str = "<string>") -> tuple[n.Policy | None, list[Diagnostic]]:
    """Parse one policy.  Returns the AST (None when the text does not parse) and
    the diagnostics found so far (text hygiene and syntax)."""
    clean, diags = normalize(text, file)
    try:
        tree = _lark().parse(clean)
    except lark.UnexpectedInput as err:
        diags.append(_syntax_diagnostic(err, clean, file))
        return None, diags
    builder = _Builder(file)
    try:
        policy = builder.transform(tree)
    except lark.exceptions.VisitError as err:  # pragma: no cover - a builder bug, not user input
        raise err.orig_exc from None
    for tok in builder.bad_dates:
        diags.append(Diagnostic("P014", _span(tok, file), {"text": str(tok)}))
    return policy, diags


def parse_or_raise(text: str, file: str = "<string>") -> n.Policy:
    policy, diags = parse(text, file)
    if policy is None or any(d.severity == "error" for d in diags):
        raise PolicyError(diags, {file: text})
    return policy


def detect_language(text: str) -> str:
    """'zh' when the file is written mostly with Chinese keywords, else 'en'."""
    en = zh = 0
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"|“[^”\n]*”|#[^\n]*|//[^\n]*', " ", text)
    for e, z in keyword_pairs().values():
        en += len(re.findall(rf"(?<![\w]){re.escape(e)}(?![\w])", text))
        zh += text.count(z)
    return "zh" if zh > en else "en"
