"""Parse policy source into the AST.

``grammar/policy.lark`` is parsed with Lark's LALR parser and contextual lexer
(``propagate_positions=True``); a Transformer then builds frozen attrs nodes with
source spans.  Lark's exceptions never escape: they become diagnostics worded
for a policy officer ("expected a percentage such as 75% ..."), using
``UnexpectedInput.match_examples`` for the common mistakes.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import hashlib
import os
import re
import sys
from decimal import Decimal
from importlib import resources
from typing import Any, Callable
from pathlib import Path

import lark
from lark import Transformer, v_args
from lark.tree import Meta

from . import nodes as n
from .diagnostics import Diagnostic, Related
from .source import normalize
from . import vocab as V
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
    return (Path(__file__).resolve().parent.parent / "grammar" / GRAMMAR_FILE).read_text(
        encoding="utf-8"
    )


_LARK_OPTIONS = dict(
    parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False
)

# Comments are ignored by the grammar; the lexer hands each one to this callback, which
# keeps it when a parse asked for them (``parse_with_comments``).  The callback is not part
# of the cached parser file: it is given again each time the parser is built or loaded.
_COMMENT_SINK: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "policylang_comments", default=None
)


def _on_comment(tok: lark.Token) -> lark.Token:
    sink = _COMMENT_SINK.get()
    if sink is not None:
        sink.append(tok)
    return tok


_CALLBACKS = {"COMMENT": _on_comment}


def _cache_file(grammar: str) -> Path:
    """Where the built parser is kept: $POLICYLANG_CACHE_DIR, else $XDG_CACHE_HOME/policylang,
    else ~/.cache/policylang (site-packages may be read-only).  The name carries a hash of
    everything the parser is built from, so a changed grammar or lark never reads a stale file."""
    given = os.environ.get("POLICYLANG_CACHE_DIR")
    if given:
        folder = Path(given)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        folder = Path(xdg if os.path.isabs(xdg) else Path.home() / ".cache") / "policylang"
    key = "\0".join(
        [
            grammar,
            lark.__version__,
            repr(sorted(_LARK_OPTIONS.items())),
            "%d.%d" % sys.version_info[:2],
        ]
    )
    return folder / f"parser-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pickle"


def _save_atomically(parser: lark.Lark, path: Path) -> None:
    """Write to a temporary file beside ``path`` and rename it into place, so that a
    process reading the cache never sees a half-written file."""
    from .atomic import replace_file

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, lambda f: parser.save(f, exclude_options=("lexer_callbacks",)), binary=True)


@functools.lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    """The LALR parser, loaded from the user's cache (about 10x faster than building it)
    or built and cached there.  Lark's ``cache=`` option writes its file in place, which a
    racing process could read half-written, so its save/load are used with an atomic
    rename instead.  Any failure (no home, read-only or full disk, corrupt file) only
    means the parser is built in memory."""
    grammar = grammar_text()
    try:
        path = _cache_file(grammar)
    except Exception:  # noqa: BLE001 - no home directory to put a cache in
        path = None
    if path is not None:
        try:
            with open(path, "rb") as f:
                # Lark.load with options that are not stored in the file (what Lark's own
                # cache= does): the comment callback.
                return lark.Lark.__new__(lark.Lark)._load(f, lexer_callbacks=_CALLBACKS)
        except Exception:  # noqa: BLE001 - missing, unreadable or corrupt: build it
            pass
    parser = lark.Lark(grammar, lexer_callbacks=_CALLBACKS, **_LARK_OPTIONS)
    if path is not None:
        try:
            _save_atomically(parser, path)
        except Exception:  # noqa: BLE001 - a cache that cannot be written is no error
            pass
    return parser


@functools.lru_cache(maxsize=1)
def keyword_pairs() -> dict[str, tuple[str, str]]:
    """keyword rule name -> (English spelling, Chinese spelling), read from the grammar."""
    pairs = {}
    for m in re.finditer(
        r'^_kw_(\w+): "([^"]+)" \| "([^"]+)"', grammar_text(), re.M
    ):  # first two spellings
        pairs[m.group(1)] = (m.group(2), m.group(3))
    return pairs


def _span(meta_or_tok: lark.Token | Meta, file: str) -> n.Span | None:
    """Where a token or a tree is in the text (None: an empty tree, which has no place)."""
    m = meta_or_tok
    if isinstance(m, lark.Token):
        return _token_span(m, file)
    if getattr(m, "empty", True):
        return None
    return n.Span(file, m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)


def _token_span(tok: lark.Token, file: str) -> n.Span:
    """Where a token is: the lexer gives each its place (and so does ``_syntax_diagnostic``,
    for the token it makes)."""
    return n.Span(
        file,
        _at(tok.line),
        _at(tok.column),
        _at(tok.end_line),
        _at(tok.end_column),
        _at(tok.start_pos),
        _at(tok.end_pos),
    )


def _at(position: int | None) -> int:
    if position is None:
        raise ValueError("a token without its place in the text")  # pragma: no cover
    return position


def _unquote(tok: str) -> str:
    if tok.startswith("“"):
        return tok[1:-1]
    body = tok[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _DateError(Exception):
    def __init__(self, token):
        self.token = token


def _parse_date(tok: lark.Token) -> dt.date:
    m = re.fullmatch(r"(\d{4})(?:-|年)(\d{1,2})(?:-|月)(\d{1,2})日?", str(tok))
    if m is None:
        raise _DateError(tok)
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except (ValueError, AttributeError):
        raise _DateError(tok) from None


@v_args(meta=True)
class _Builder(Transformer):
    def __init__(self, file: str, canon: Callable[[str], str] = canonical):
        super().__init__(visit_tokens=True)
        self.file = file
        self.canon = canon
        self.bad_dates: list[lark.Token] = []
        # lark's v_args wraps each method anew at every look-up (once per tree node); bound
        # once here, the instance's own attributes are found first
        for cls in reversed(type(self).__mro__):
            for name, attr in vars(cls).items():
                if hasattr(attr, "visit_wrapper"):
                    self.__dict__[name] = getattr(self, name)

    # -- tokens
    def NAME(self, tok):
        return n.Name(self.canon(str(tok)), span=_span(tok, self.file))

    def STRING(self, tok):
        return _Str(_unquote(str(tok)), _span(tok, self.file))

    def PER_PERIOD(self, tok):
        return n.Name(self.canon(str(tok)[1:]), span=_span(tok, self.file))

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
    def _opt_str(children):
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
        return n.BasisDecl(
            text=c[0].value, dated=c[1] if len(c) > 1 else None, cite=cite, span=self._s(meta)
        )

    def implements_decl(self, meta, children):
        c, cite = self._split(children)
        return n.ImplementsDecl(parent=c[0], cite=cite, span=self._s(meta))

    def type_ref(self, meta, children):
        name = children[0]  # 金额, 比例, count ... are the type they name
        return n.Name(V.TYPE_ALIASES.get(name.value, name.value), span=name.span)

    def param_decl(self, meta, children):
        c, cite = self._split(children)
        return n.ParamDecl(
            name=c[0], type=c[1], label=self._opt_str(c[2:]), cite=cite, span=self._s(meta)
        )

    def input_decl(self, meta, children):
        c, cite = self._split(children)
        default = next((x for x in c[2:] if not isinstance(x, _Str)), None)
        label = c[-1].value if len(c) > 2 and isinstance(c[-1], _Str) else None
        return n.InputDecl(
            name=c[0], type=c[1], default=default, label=label, cite=cite, span=self._s(meta)
        )

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
        return n.Version(
            start=start, until=until, cite=cite, body=tuple(children[i:]), span=self._s(meta)
        )

    def covers(self, meta, children):
        c, cite = self._split(children)
        return n.Covers(categories=c[0], cite=cite, span=self._s(meta))

    def designated_only(self, meta, children):
        _, cite = self._split(children)
        return n.DesignatedOnly(cite=cite, span=self._s(meta))

    def _accumulator(self, cls, meta, children):
        c, cite = self._split(children)
        amount, period = c[0], c[1]
        each = when = name = None
        extra = {}
        for x in c[2:]:
            if isinstance(x, _Named):
                name = x.name
            elif isinstance(x, n.Ceiling):
                extra["ceiling"] = x
            elif isinstance(x, n.Name) and each is None and when is None:
                each = x
            else:
                when = x
        return cls(
            amount=amount,
            period=period,
            each=each,
            when=when,
            name=name,
            cite=cite,
            span=self._s(meta),
            **extra,
        )

    def ceiling(self, meta, children):
        return n.Ceiling(amount=children[0], period=children[1], span=self._s(meta))

    def cost_cap(self, meta, children):
        return self._accumulator(n.CostCap, meta, children)

    def counter_name(self, meta, children):
        return _Named(children[0])

    def deductible(self, meta, children):
        return self._accumulator(n.Deductible, meta, children)

    def cap(self, meta, children):
        return self._accumulator(n.Cap, meta, children)

    def ratio(self, meta, children):
        c, cite = self._split(children)
        return n.Ratio(amount=c[0], cite=cite, span=self._s(meta))

    def fund(self, meta, children):
        title = next((c.value for c in children if isinstance(c, _Str)), None)
        above = any(c is _ABOVE_CAP for c in children)
        rest = [c for c in children if not isinstance(c, _Str) and c is not _ABOVE_CAP]
        cite = next((c for c in rest[1:] if isinstance(c, (n.Citation, n.Unstated))), None)
        body = tuple(c for c in rest[1:] if c is not cite)
        return n.Fund(
            name=rest[0], title=title, cite=cite, body=body, above_cap=above, span=self._s(meta)
        )

    def fund_above_cap(self, meta, children):
        return _ABOVE_CAP

    def uplift(self, meta, children):
        c, cite = self._split(children)
        return n.Uplift(points=c[0], when=c[1], cite=cite, span=self._s(meta))

    def reduction(self, meta, children):
        c, cite = self._split([x for x in children if not isinstance(x, n.Exemption)])
        exemptions = tuple(x for x in children if isinstance(x, n.Exemption))
        return n.Reduction(
            points=c[0], when=c[1], cite=cite, exemptions=exemptions, span=self._s(meta)
        )

    def exemption(self, meta, children):
        c, cite = self._split(children)
        return n.Exemption(when=c[0], cite=cite, span=self._s(meta))

    def ratio_floor(self, meta, children):
        c, cite = self._split(children)
        return n.RatioFloor(value=c[0], cite=cite, span=self._s(meta))

    def ratio_ceiling(self, meta, children):
        c, cite = self._split(children)
        return n.RatioCeiling(value=c[0], cite=cite, span=self._s(meta))

    def bill_split(self, meta, children):
        c, cite = self._split(children)
        return n.BillSplit(parts=c[0], cite=cite, span=self._s(meta))

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
        return cls(
            items=c[0],
            venues=opts.get("at"),
            relations=opts.get("for"),
            cite=cite,
            span=self._s(meta),
        )

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

    def bands(self, meta, children):
        period = children[0]
        rest = list(children[1:])
        each = rest.pop(0) if rest and isinstance(rest[0], n.Name) else None
        return n.Bands(period=period, each=each, bands=tuple(rest), span=self._s(meta))

    def band(self, meta, children):
        c, cite = self._split(children)
        return n.Band(limit=c[0], value=c[1], cite=cite, span=self._s(meta))

    def band_rest(self, meta, children):
        c, cite = self._split(children)
        return n.Band(limit=None, value=c[0], cite=cite, span=self._s(meta))

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
        return n.Diseases(
            name=name,
            title=title,
            cite=cite,
            total=total,
            total_cite=total_cite,
            parts=tuple(parts),
            span=self._s(meta),
        )

    def disease_total(self, meta, children):
        c, cite = self._split(children)
        return (n.NumberLit(c[0].value, span=c[0].span), cite)

    def disease_part(self, meta, children):
        c, cite = self._split(children)
        return n.DiseasePart(
            name=c[0],
            count=n.NumberLit(c[1].value, span=c[1].span),
            catalogue=c[2].value if len(c) > 2 else None,
            cite=cite,
            span=self._s(meta),
        )

    def constraints(self, meta, children):
        title = None
        rest = list(children)
        if rest and isinstance(rest[0], _Str):
            title = rest.pop(0).value
        return n.Constraints(title=title, requirements=tuple(rest), span=self._s(meta))

    def requirement(self, meta, children):
        c, cite = self._split(children)
        return n.Requirement(
            name=c[0], left=c[1], op=c[2], right=c[3], cite=cite, span=self._s(meta)
        )

    def measure(self, meta, children):
        q = children[0]
        q = n.Name(V.MEASURE_ALIASES.get(q.value, q.value), span=q.span)
        return n.Measure(
            quantity=q, where=children[1] if len(children) > 1 else None, span=self._s(meta)
        )

    def bound(self, meta, children):
        return n.Bound(value=children[0], span=self._s(meta))

    # -- worked examples
    def example(self, meta, children):
        title = children[0].value
        rest = list(children[1:])
        cite = rest.pop(0) if rest and isinstance(rest[0], (n.Citation, n.Unstated)) else None
        return n.Example(title=title, cite=cite, items=tuple(rest), span=self._s(meta))

    def example_param(self, meta, children):
        return n.ExampleParam(name=children[0], value=children[1], span=self._s(meta))

    def example_record(self, meta, children):
        kind, fields = children[0], children[1]
        expect = children[2] if len(children) > 2 else None
        return n.ExampleRecord(kind=kind, fields=fields, expect=expect, span=self._s(meta))

    def settle_kind(self, meta, children):
        return "settle"

    def credit_kind(self, meta, children):
        return "credit"

    def may_pay_kind(self, meta, children):
        return "may_pay"

    def record_fields(self, meta, children):
        return tuple(children)

    def record_field(self, meta, children):
        return n.ExampleField(name=children[0], value=children[1], span=self._s(meta))

    def name_value(self, meta, children):
        return children[0]

    def none_value(self, meta, children):
        return n.NoneLit(span=self._s(meta))

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

    # -- vocabularies
    def vocabulary(self, meta, children):
        name, rest = children[0], list(children[1:])
        title = rest.pop(0).value if rest and isinstance(rest[0], _Str) else None
        return n.Vocabulary(name=name, title=title, decls=tuple(rest), span=self._s(meta))

    def enum_decl(self, meta, children):
        name, rest = children[0], list(children[1:])
        label = rest.pop(0).value if rest and isinstance(rest[0], _Str) else None
        fixed = bool(rest) and rest[0] == "fixed"
        if fixed:
            rest.pop(0)
        cite = rest.pop(0) if rest and isinstance(rest[0], (n.Citation, n.Unstated)) else None
        return n.EnumDecl(
            name=name, label=label, fixed=fixed, cite=cite, items=tuple(rest), span=self._s(meta)
        )

    def enum_fixed(self, meta, children):
        return "fixed"

    def enum_value(self, meta, children):
        c, cite = self._split(children)
        aliases = tuple(x.value for x in c[1:] if isinstance(x, _Str))
        opts: dict[str, Any] = dict(x for x in c[1:] if isinstance(x, tuple))
        return n.EnumValue(
            name=c[0],
            aliases=aliases,
            codes=opts.get("codes", ()),
            counts_as=opts.get("base"),
            cite=cite,
            span=self._s(meta),
        )

    def enum_codes(self, meta, children):
        return ("codes", tuple(n.TextLit(value=x.value, span=x.span) for x in children))

    def enum_base(self, meta, children):
        return ("base", children[0])

    def enum_code(self, meta, children):
        c, cite = self._split(children)
        code, means, rest = c[0], c[1], c[2:]
        implies = next((x for x in rest if isinstance(x, tuple)), ())
        label = next((x.value for x in rest if isinstance(x, _Str)), None)
        return n.EnumCode(
            code=n.TextLit(value=code.value, span=code.span),
            means=means,
            implies=implies,
            label=label,
            cite=cite,
            span=self._s(meta),
        )

    def enum_implies(self, meta, children):
        return tuple(children)

    def implication(self, meta, children):
        return n.Implication(field=children[0], value=children[1], span=self._s(meta))

    def code_list(self, meta, children):
        name, rest = children[0], list(children[1:])
        label = rest.pop(0).value if rest and isinstance(rest[0], _Str) else None
        cite = rest.pop(0) if rest and isinstance(rest[0], (n.Citation, n.Unstated)) else None
        return n.CodeList(name=name, label=label, cite=cite, items=tuple(rest), span=self._s(meta))

    def code_item(self, meta, children):
        c, cite = self._split(children)
        label = c[1].value if len(c) > 1 and isinstance(c[1], _Str) else None
        return n.CodeItem(
            code=n.TextLit(value=c[0].value, span=c[0].span),
            label=label,
            pooled=any(x == "pooled" for x in c[1:]),
            cite=cite,
            span=self._s(meta),
        )

    def code_pooled(self, meta, children):
        return "pooled"

    def import_decl(self, meta, children):
        c, cite = self._split(children)
        source = c[0]
        if isinstance(source, _Str):
            source = n.TextLit(value=source.value, span=source.span)
        return n.ImportDecl(source=source, cite=cite, span=self._s(meta))


_ABOVE_CAP = object()  # the `above_cap` marker of a fund block


class _Str:
    __slots__ = ("value", "span")

    def __init__(self, value, span):
        self.value, self.span = value, span


class _Named:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Num:
    __slots__ = ("value", "span")

    def __init__(self, value, span):
        self.value, self.span = value, span


# ---- syntax errors in plain words ---------------------------------------------------

# Terminal -> how to describe it to a policy officer (en, zh).
_TERMINAL_WORDS = {
    "NAME": ("a name", "名称"),
    "NUMBER": ("a number", "数字"),
    "DATE": ("a date such as 2023-01-01", "日期(如 2023-01-01)"),
    "STRING": ('a quoted text "..."', '带引号的文字 "..."'),
    "CLAUSE": ("a clause reference such as 二(一)", "条款编号(如 二(一))"),
    "CMP": ("a comparison (>=, <=, =, ...)", "比较符(>=、<=、= 等)"),
    "MUL": ("'×'", "'×'"),
    "$END": ("the end of the file", "文件结尾"),
    "PER_PERIOD": ("'每年', '每月', '每日' or '每次'", "'每年'、'每月'、'每日' 或 '每次'"),
}
_SYMBOLS = {
    "RBRACE": "}",
    "LBRACE": "{",
    "COLON": ":",
    "COMMA": ",",
    "LPAR": "(",
    "RPAR": ")",
    "PERCENT": "%",
    "EQUAL": "=",
    "LSQB": "[",
    "RSQB": "]",
    "STAR": "*",
    "PLUS": "+",
    "MINUS": "-",
    "VBAR": "|",
}

# Known mistakes, recognised with UnexpectedInput.match_examples (exact parser states) ...
_EXAMPLES = {
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
        "policy p { pooling { from 2023-01-01 { deductible 150 yuan per year cite } } }",
    ],
}
# ... and, where the state differs (a title, earlier statements), by what was expected.
_HINTS = {
    "per_period": (
        "expected the period after the amount, such as 'per year' (每 年)",
        "金额之后应写期间,例如 '每 年'(per year)",
    ),
    "uplift_needs_when": (
        "an uplift needs a condition: 'uplift 5 points when psn_type = retiree'",
        "提高比例需要条件:'提高 5 个百分点 当 psn_type = 退休'",
    ),
    "rule_needs_when": (
        "a credit rule needs a condition: 'rule name when psn_type = active: credit ...'",
        "计入规则需要条件:'规则 名称 当 psn_type = 在职: 计入 ...'",
    ),
    "version_needs_from": (
        "rules go inside a dated version: 'from 2023-01-01 { ... }' (自 2023-01-01 { ... })",
        "规则须写在带日期的版本内:'自 2023-01-01 { ... }'",
    ),
    "cite_needs_clause": (
        "expected the clause after 'cite', such as cite 二(一) \"quoted sentence\"",
        "'依据' 之后应写条款,例如 依据 二(一) \"原文\"",
    ),
    "statement_needs_section": (
        "rules go inside a section and a dated version: pooling { from 2023-01-01 { ... } }",
        "规则须写在章节及带日期的版本内:普通门诊统筹 { 自 2023-01-01 { ... } }",
    ),
    "missing_brace": ("a '}' may be missing before this line", "此行之前可能缺少 '}'"),
    "currency_sign": (
        "write amounts with their unit after the number: 2000 yuan (2000 元)",
        "金额请把单位写在数字之后:2000 元",
    ),
}
# Words officers write for a keyword (from notices and other systems) -> the keyword.
_SYNONYMS = {
    "起付线": "deductible",
    "起付金额": "deductible",
    "门槛费": "deductible",
    "threshold": "deductible",
    "封顶线": "cap",
    "最高限额": "cap",
    "支付限额": "cap",
    "ceiling": "cap",
    "limit": "cap",
    "报销比例": "ratio",
    "统筹支付比例": "ratio",
    "rate": "ratio",
}


def _common_mistake(
    tok: lark.Token, expected: set[str], kw: set[str], text: str
) -> tuple[str, str] | None:
    """A hint for a mistake officers often make: == for =, commas between table rows, a
    synonym of a keyword (起付线 for 起付标准)."""
    value = str(tok) if tok.type != "$END" else ""
    if value == "=" and text[: tok.start_pos].rstrip().endswith("="):
        return ("compare with a single '=': psn_type = retiree", "比较请用一个 '=':psn_type = 退休")
    if (
        value in (",", "，")
        and "RBRACE" in expected
        and ("STAR" in expected or {"until", "beyond"} & kw)
    ):
        return (
            "rows of a table (and bands) are separated by line breaks, not commas: put each row "
            "on its own line",
            "表格各行(及各分段)之间不用逗号分隔:每行单独写一行",
        )
    if tok.type in ("NAME", "CLAUSE") and value in _SYNONYMS and _SYNONYMS[value] in kw:
        en, zh = keyword_pairs()[_SYNONYMS[value]]
        return (
            f"'{value}' is written '{en}' (or '{zh}') in a policy",
            f"'{value}' 在政策中写作 '{zh}'(或 '{en}')",
        )
    return None


_STATEMENT_WORDS = {
    "covers",
    "designated_only",
    "deductible",
    "cap",
    "cost_cap",
    "ratio",
    "uplift",
    "rule",
    "relations",
    "allow",
    "planned",
    "exclude",
    "channel",
}
_SECTION_WORDS = {
    "pooling",
    "crediting",
    "account_use",
    "diseases",
    "constraints",
    "param",
    "input",
    "tier",
    "rounding",
    "setting",
    "level",
    "jurisdiction",
    "document",
    "basis",
    "implements",
    "example",
    "enum",
    "code_list",
    "import",
}


def _expected_words(expected: set[str]) -> tuple[list[str], list[str], set[str]]:
    """(English words, Chinese words, English keyword spellings) for a set of terminal names."""
    by_name = {t.name: t for t in _lark().terminals}
    zh_of = {en: zh for en, zh in keyword_pairs().values()}
    en_of = {zh: en for en, zh in keyword_pairs().values()}
    symbols, keywords, others, kw_en = [], [], [], set()
    for name in expected:
        if name in _SYMBOLS:
            symbols.append((f"'{_SYMBOLS[name]}'",) * 2)
        elif name in _TERMINAL_WORDS:
            others.append(_TERMINAL_WORDS[name])
        else:
            term = by_name.get(name)
            if term is not None and term.pattern.type == "str":
                value = term.pattern.value
                en = en_of.get(value, value)
                kw_en.add(en)
                keywords.append((f"'{en}'", f"'{zh_of.get(en, en)}'"))
                continue
            if term is not None:
                symbols.append((f"'{term.pattern.value}'",) * 2)
            else:
                others.append((name.lower(), name.lower()))
    symbols.sort(key=lambda w: (w[0] != "'}'", w))
    words = symbols + sorted(set(keywords)) + sorted(set(others))
    if len(words) > 10:
        words = words[:10] + [("...", "……")]
    return [w[0] for w in words], [w[1] for w in words], kw_en


def _describe_token(tok: lark.Token, lang: str = "en") -> str:
    if tok.type == "$END":
        return "the end of the file" if lang == "en" else "文件结尾"
    kinds = {
        "NAME": ("name", "名称"),
        "NUMBER": ("number", "数字"),
        "STRING": ("text", "文字"),
        "DATE": ("date", "日期"),
    }
    kind = kinds.get(tok.type)
    if kind:
        return f"{kind[0]} '{tok}'" if lang == "en" else f"{kind[1]}“{tok}”"
    return f"'{tok}'" if lang == "en" else f"“{tok}”"


def _previous_words(text: str, pos: int, n: int = 6) -> list[str]:
    line_start = text.rfind("\n", 0, pos) + 1
    return re.findall(r"[^\W\d]\w*", text[line_start:pos])[-n:]


def _heuristic_hint(
    expected_kw: set[str], expected: set[str], tok: lark.Token, text: str
) -> str | None:
    before = {
        canonical_keyword(w)
        for w in _previous_words(text, _at(tok.start_pos) if tok.type != "$END" else len(text))
    }
    word = canonical_keyword(str(tok)) if tok.type != "$END" else None
    if expected == {"CLAUSE"}:
        return "cite_needs_clause"
    if expected_kw == {"per"} or (
        "per" in expected_kw and len(expected_kw) <= 2 and word in (None, "year", "visit")
    ):
        return "per_period"
    if "when" in expected_kw and expected_kw <= {"when"} | {"points", "yuan"}:
        return (
            "uplift_needs_when"
            if "uplift" in before
            else ("rule_needs_when" if "rule" in before else None)
        )
    if word in _STATEMENT_WORDS and "from" in expected_kw:
        return "version_needs_from"
    if word in _STATEMENT_WORDS and "pooling" in expected_kw:
        return "statement_needs_section"
    if word in _SECTION_WORDS | {"from"} and "RBRACE" in expected:
        return "missing_brace"
    return None


@functools.lru_cache(maxsize=1)
def _keyword_canon() -> dict[str, str]:
    out = {}
    for en, zh in keyword_pairs().values():
        out[en] = en
        out[zh] = en
    return out


def canonical_keyword(word: str) -> str:
    return _keyword_canon().get(word, word)


def _close_keyword(word: str, expected_en: set[str]) -> tuple[str, str] | None:
    """The expected keyword (en, zh) a misspelt word is closest to."""
    import difflib

    zh_of = {en: zh for en, zh in keyword_pairs().values()}
    spellings = {s: en for en in expected_en if en in zh_of for s in (en, zh_of[en])}
    close = difflib.get_close_matches(word, list(spellings), n=1, cutoff=0.6)
    if not close:
        return None
    en = spellings[close[0]]
    return en, zh_of[en]


def _char_name(ch: str) -> str:
    import unicodedata

    return unicodedata.name(ch, f"U+{ord(ch):04X}")


def _eof_args(err: lark.UnexpectedEOF | lark.UnexpectedToken) -> dict:
    expected = set(err.expected)
    en, zh, kw = _expected_words(expected)
    if "policy" in kw:
        hint = 'a policy file holds one policy: policy ID "title" { ... }'
        hint_zh = '政策文件包含一个政策:政策 编号 "标题" { ... }'
    else:
        hint, hint_zh = "a '{' may be missing its '}'", "可能缺少与 '{' 配对的 '}'"
    return {
        "expected": ", ".join(en),
        "expected_zh": "、".join(zh),
        "hint": hint,
        "hint_zh": hint_zh,
    }


def _unclosed_brace(text: str, file: str) -> n.Span | None:
    """The '{' most likely left open (outside strings and comments).

    Braces alone cannot tell which block lacks its '}', as each '}' closes the
    innermost open block; layout can: a '}' less indented than the line of the
    '{' it closes shows that that '{' was left open."""
    stack: list[tuple[n.Span, int]] = []
    suspect = None
    line, col, i, size = 1, 1, 0, len(text)
    line_start = 0
    while i < size:
        ch = text[i]
        if ch in ('"', "“"):
            close = '"' if ch == '"' else "”"
            j = i + 1
            while j < size and text[j] != close and text[j] != "\n":
                j += 2 if (text[j] == "\\" and close == '"') else 1
            col += j - i
            i = j
        elif ch == "#" or text.startswith("//", i):
            j = text.find("\n", i)
            j = size if j == -1 else j
            col += j - i
            i = j
            continue
        elif ch == "{":
            indent = len(text[line_start:i]) - len(text[line_start:i].lstrip())
            stack.append((n.Span(file, line, col, line, col + 1, i, i + 1), indent))
        elif ch == "}" and stack:
            opener, indent = stack.pop()
            before = text[line_start:i]
            if suspect is None and not before.strip() and len(before) < indent:
                suspect = opener
        if i < size and text[i] == "\n":
            line, col = line + 1, 1
            line_start = i + 1
        else:
            col += 1
        i += 1
    return suspect or (stack[-1][0] if stack else None)


def _eof_span(text: str, file: str) -> n.Span:
    lines = text.split("\n")
    return n.Span(
        file, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2, len(text), len(text)
    )


def _unexpected_char(
    file: str, text: str, pos: int, line: int, col: int, expected: set[str]
) -> Diagnostic:
    span = n.Span(file, line, col, line, col + 1, pos, pos + 1)
    ch = text[pos] if pos < len(text) else ""
    if ch in ('"', "“"):
        return Diagnostic("P004", span)
    en, zh, _ = _expected_words(expected) if expected else ([], [], set())
    hint = hint_zh = ""
    if ch in "¥￥$":
        hint, hint_zh = _HINTS["currency_sign"]
    elif ch in "\uff02＂":
        hint, hint_zh = ('quote text with " or “…”', '文字请用 " 或 “…” 括起')
    return Diagnostic(
        "P001",
        span,
        {
            "char": ch,
            "name": _char_name(ch),
            "context": f"; expected {', '.join(en)}" if en else "",
            "context_zh": f";应为 {'、'.join(zh)}" if zh else "",
            "hint": hint,
            "hint_zh": hint_zh,
        },
    )


def _syntax_diagnostic(err: lark.UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(err, lark.UnexpectedCharacters):
        return _unexpected_char(
            file,
            text,
            _at(err.pos_in_stream),
            err.line,
            err.column,
            set(getattr(err, "allowed", None) or ()),
        )
    if isinstance(err, lark.UnexpectedEOF) or (
        isinstance(err, lark.UnexpectedToken) and err.token.type == "$END"
    ):
        opened = _unclosed_brace(text, file)
        related = (
            (Related(opened, "the '{' that is probably not closed", "可能未闭合的 '{'"),)
            if opened
            else ()
        )
        return Diagnostic("P003", _eof_span(text, file), _eof_args(err), related)
    assert isinstance(err, lark.UnexpectedToken)
    tok = err.token
    expected = set(err.expected)
    if tok.type == "CLAUSE" and "CLAUSE" not in expected:
        # The contextual lexer found nothing it expected here and the catch-all clause
        # terminal swallowed the run: see whether it starts with a word or a number.
        rest = text[tok.start_pos :]
        m = re.match(r"[^\W\d]\w*", rest) or re.match(r"\d+(\.\d+)?", rest)
        if not m:
            return _unexpected_char(file, text, tok.start_pos, tok.line, tok.column, expected)
        tok = lark.Token(
            "NAME" if not m.group()[0].isdigit() else "NUMBER",
            m.group(),
            tok.start_pos,
            tok.line,
            tok.column,
            tok.line,
            tok.column + len(m.group()),
            tok.start_pos + len(m.group()),
        )
    try:
        label = err.match_examples(_lark().parse, _EXAMPLES, use_accepts=True)
    except Exception:  # noqa: BLE001 - matching is a nicety; never let it hide the real error
        label = None
    en, zh, kw = _expected_words(expected)
    label = label or _heuristic_hint(kw, expected, tok, text)
    hint, hint_zh = _HINTS.get(label or "", ("", ""))
    mistake = _common_mistake(tok, expected, kw, text)
    if mistake:
        hint, hint_zh = mistake
    if tok.type == "NAME" and not hint:
        close = _close_keyword(str(tok), kw)
        if close:
            hint, hint_zh = f"did you mean '{close[0]}'?", f"是否应为 '{close[1]}'?"
    related = ()
    if label == "missing_brace":
        opened = _unclosed_brace(text[: tok.start_pos], file)
        related = (
            (Related(opened, "the '{' that is probably not closed", "可能未闭合的 '{'"),)
            if opened
            else ()
        )
    return Diagnostic(
        "P002",
        _span(tok, file),
        {
            "found": _describe_token(tok),
            "found_zh": _describe_token(tok, "zh"),
            "expected": ", ".join(en),
            "expected_zh": "、".join(zh),
            "hint": hint,
            "hint_zh": hint_zh,
        },
        related,
    )


def _syntax_errors(
    first: lark.UnexpectedInput, text: str, file: str, limit: int = 10
) -> list[Diagnostic]:
    """The first syntax error, and further ones found by blanking out the statement
    that failed (from its line to the next line that starts a statement) and parsing
    again.  Blanking keeps every position; a region with unbalanced braces is never
    blanked, and an error right after a blanked region is not reported (it would
    likely be a consequence of the first), so what is reported stands on its own."""
    found = [_syntax_diagnostic(first, text, file)]
    starts = _statement_starts()
    err = first
    current = text
    while len(found) < limit:
        line = getattr(err, "line", None)
        if not isinstance(line, int) or line < 1:
            break
        lines = current.split("\n")
        end = line  # 0-based index of the first line after the statement
        while end < len(lines) and not starts.match(lines[end]):
            end += 1
        if end >= len(lines):
            break
        region = "\n".join(lines[line - 1 : end])
        if _brace_balance(region) != 0:
            break
        lines[line - 1 : end] = [" " * len(x) for x in lines[line - 1 : end]]
        current = "\n".join(lines)
        try:
            _lark().parse(current)
            break
        except lark.UnexpectedInput as again:
            if getattr(again, "line", 0) <= end + 1:  # right after the blanked part: a consequence
                break
            err = again
            found.append(_syntax_diagnostic(again, current, file))
    return found


@functools.lru_cache(maxsize=1)
def _statement_starts() -> re.Pattern:
    names = (
        "covers",
        "designated_only",
        "deductible",
        "cap",
        "cost_cap",
        "ratio",
        "uplift",
        "rule",
        "relations",
        "allow",
        "planned",
        "exclude",
        "channel",
        "level",
        "jurisdiction",
        "document",
        "basis",
        "implements",
        "param",
        "input",
        "tier",
        "rounding",
        "setting",
        "require",
        "total",
        "part",
        "example",
        "enum",
        "code_list",
        "import",
        "code",
    )
    words = sorted(
        {w for name, pair in keyword_pairs().items() if name in names for w in pair},
        key=len,
        reverse=True,
    )
    return re.compile(r"\s*(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")


def _brace_balance(region: str) -> int:
    region = re.sub(r'"(?:[^"\\\n]|\\.)*"|“[^”\n]*”|#[^\n]*|//[^\n]*', "", region)
    return region.count("{") - region.count("}")


def parse(
    text: str, file: str = "<string>", canonicalise: bool = True
) -> tuple[n.Policy | n.Vocabulary | None, list[Diagnostic]]:
    """Parse one policy (or a vocabulary file).  Returns the AST (None when the text
    does not parse) and the diagnostics found so far (text hygiene and syntax).

    Enumeration aliases are read as their canonical values: the built-in ones, and
    those the file declares itself (``veteran "离休"`` makes ``离休`` read ``veteran``).
    ``canonicalise=False`` reads every name as written (the shipped vocabularies are
    read so, before the built-in aliases are known)."""
    policy, diags, _ = parse_with_comments(text, file, canonicalise)
    return policy, diags


def parse_with_comments(
    text: str, file: str = "<string>", canonicalise: bool = True
) -> tuple[n.Policy | n.Vocabulary | None, list[Diagnostic], list[n.Comment]]:
    """``parse``, and the comments of the text in order (as the lexer found them: never
    inside a string)."""
    clean, diags = normalize(text, file)
    sink: list[lark.Token] = []
    reset = _COMMENT_SINK.set(sink)
    sinking = True
    try:
        tree = _lark().parse(clean)
    except lark.UnexpectedInput as err:
        _COMMENT_SINK.reset(reset)
        sinking = False
        for syntax in _syntax_errors(err, clean, file):
            # A character already reported by the hygiene pass (1,500 or 150。5) is not reported
            # twice.
            if not any(
                d.span
                and syntax.span
                and d.span.line == syntax.span.line
                and 0 <= syntax.span.col - d.span.col <= 1
                for d in diags
            ):
                diags.append(syntax)
        return None, diags, []
    finally:
        if sinking:
            _COMMENT_SINK.reset(reset)
    comments = [n.Comment(str(t).rstrip(), _token_span(t, file)) for t in sink]
    builder = _Builder(file) if canonicalise else _Builder(file, str)
    try:
        policy = builder.transform(tree)
        if canonicalise:
            policy = n.replace_names(policy, own_aliases(policy))
    except RecursionError:
        # Point at the policy's own keyword, where the parse tree says it starts (a search of
        # the text for the word found it in a comment or string above).
        first = tree.children[0] if tree.children else None
        policy_tree = first if isinstance(first, lark.Tree) else tree
        meta = policy_tree.meta if not getattr(policy_tree.meta, "empty", True) else tree.meta
        pos = getattr(meta, "start_pos", 0)
        line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
        m = re.match(r"policy|政策|vocabulary|词表", clean[pos:])
        width = len(m.group()) if m else 1
        diags.append(
            Diagnostic("P005", n.Span(file, line, col, line, col + width, pos, pos + width))
        )
        return None, diags, comments
    except lark.exceptions.VisitError as err:
        raise err.orig_exc from None  # pragma: no cover - a builder bug, not user input
    for tok in builder.bad_dates:
        diags.append(Diagnostic("P014", _span(tok, file), {"text": str(tok)}))
    return policy, diags, comments


def own_aliases(root: n.Policy | n.Vocabulary) -> dict[str, str]:
    """Alias -> value for the values a file's own ``enum`` declarations name, beyond the
    built-in aliases (which the parser applies as it reads each name)."""
    out: dict[str, str] = {}
    for d in root.decls:
        if isinstance(d, n.EnumDecl):
            for item in d.items:
                if isinstance(item, n.EnumValue):
                    for alias in item.aliases:
                        if alias not in V.ALIASES and alias != item.name.value:
                            out.setdefault(alias, item.name.value)
    return out


def detect_language(text: str) -> str:
    """'zh' when the file is written mostly with Chinese keywords, else 'en'."""
    en = zh = 0
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"|“[^”\n]*”|#[^\n]*|//[^\n]*', " ", text)
    for e, z in keyword_pairs().values():
        en += len(re.findall(rf"(?<![\w]){re.escape(e)}(?![\w])", text))
        zh += text.count(z)
    return "zh" if zh > en else "en"
