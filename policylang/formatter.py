"""Format an AST back into canonical policy source, keeping the comments.

``format_policy(parse(src))`` parses to an AST equal to ``parse(src)``, and
formatting is idempotent; the tests check both for every policy and fixture in
the repository, in both languages, and that every comment is kept in order.
``lang="zh"`` writes the Chinese spelling of every keyword, type name and
enumeration value.

**Layout.** Two spaces per level.  A statement is written on one line when it
fits in ``WIDTH`` columns (a CJK character counts two).  Otherwise it breaks:
its first clause stays on the first line, later clauses (``at``, ``for``,
``each``, ``when``, ``named``, ``credit``, ...) follow, filling continuation
lines indented two more; the citation always starts its own line; a quoted
sentence that does not fit after its clause goes on a line of its own (a string
is never split, so that line may be longer than ``WIDTH``).  A clause that is
too long by itself wraps between its items, indented four more.  Tables, bands,
disease parts, requirements, example records and the values and codes of an
``enum`` or ``code_list`` have one entry per line.  A blank line sets off each
section, disease catalogue, constraints block, example, ``enum`` and ``code_list``
from what is around it.  A vocabulary file (``vocabulary NAME { enum ... }``) is
laid out and keeps its comments the same way.

**Comments** are attached to the layout items of the file -- a declaration or
statement, a table row, a band, a block's opening line (``pooling {``), a
block's closing line (``} cite ...``) -- and printed with their item:

- a comment at the end of a line, after the last token of an item, stays at the
  end of that item's last line (two spaces before the ``#``);
- a comment on a line of its own goes above the next item, at its indentation;
  before a closing ``}`` that is the closing line, so the comment stays inside
  the block, indented as the block's contents;
- a comment inside an item (between two of its tokens: in the middle of a
  statement that spans several lines, or inside an example record) goes above
  that item;
- comments after the policy's (or vocabulary's) closing ``}`` stay at the end of the file;
- a blank line right after a comment is kept (one at most); the text of a
  comment is kept as written, without trailing white space.
"""

from __future__ import annotations

import bisect
import json
import unicodedata
from typing import Any, Callable, Iterable
from decimal import Decimal

import attrs

from . import nodes as n
from . import vocab as V
from .parser import keyword_pairs, own_aliases

ACCUMULATOR_WORDS = {n.Deductible: "deductible", n.Cap: "cap", n.CostCap: "cost_cap"}

INDENT = "  "
WIDTH = 100

# How a type name is written in Chinese (the parser reads each of these, and the
# other aliases of vocab.TYPE_ALIASES, as the English name).
TYPE_ZH = {
    V.MONEY: "金额",
    V.PERCENT: "比例",
    V.POINTS: "百分点",
    V.NUMBER: "数值",
    V.DATE: "日期",
    V.BOOL: "布尔",
    V.TEXT: "文本",
}
MEASURE_ZH = {en: zh for zh, en in V.MEASURE_ALIASES.items()}


def cell_width(text: str) -> int:
    """Columns on a terminal: wide and full-width characters (CJK) count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@attrs.define
class Seg:
    """A clause of a statement: its atoms are joined by spaces, and it breaks between
    them only when it does not fit on a line by itself."""

    atoms: list[str]
    own_line: bool = False  # when the statement breaks, this clause starts a line
    quote: str | None = (
        None  # a citation's quoted sentence: on a line of its own when it does not fit
    )

    def text(self) -> str:
        return " ".join(self.atoms + ([self.quote] if self.quote is not None else []))


# ---- comments: attached to the layout items of the source -----------------------


@attrs.define
class _Item:
    key: tuple
    start: int
    end: int
    start_line: int
    end_line: int


@attrs.define
class _Attached:
    comment: n.Comment
    blank_after: bool = False


@attrs.define
class Comments:
    leading: dict[tuple, list[_Attached]] = attrs.Factory(dict)
    trailing: dict[tuple, list[_Attached]] = attrs.Factory(dict)
    trailer: list[_Attached] = attrs.Factory(list)


def _skip_to_brace(text: str, pos: int, comments: dict[int, int]) -> int:
    """The position of the first ``{`` at or after ``pos`` outside strings and comments.
    ``comments`` maps where each comment starts to where it ends, as the lexer found them (a
    ``#`` inside a clause such as ``二#1`` is no comment)."""
    i, size = pos, len(text)
    while i < size:
        ch = text[i]
        if i in comments:
            i = comments[i]
            continue
        if ch == '"':
            i += 1
            while i < size and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif ch == "“":
            i = text.find("”", i + 1)
            if i == -1:
                break
        elif ch == "{":
            return i
        i += 1
    raise ValueError(f"no '{{' after offset {pos}")  # pragma: no cover - the text parsed


def _word_before(text: str, pos: int) -> int:
    """The start of the word before ``pos`` (white space skipped): the keyword of ``total``."""
    i = pos
    while i > 0 and text[i - 1].isspace():
        i -= 1
    while i > 0 and not text[i - 1].isspace():
        i -= 1
    return i


class _ItemWalker:
    """The layout items of a parsed policy in source order, with their extents."""

    def __init__(self, text: str, comments: Iterable[n.Comment] = ()):
        self.text = text
        self.comments = {c.span.start: c.span.end for c in comments}
        self.items: list[_Item] = []
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self._newlines, pos - 1) + 1

    def add(self, key: tuple, start: int, end: int) -> None:
        self.items.append(
            _Item(key, start, end, self.line_of(start), self.line_of(max(start, end - 1)))
        )

    def simple(self, node: n.Node, start: int | None = None) -> None:
        span = _placed(node)
        self.add(("item", id(node)), span.start if start is None else start, span.end)

    def block(
        self,
        node: n.Node,
        inner: Callable[[Any], None],
        children: Iterable[Any],
        opener_from: int | None = None,
        closer: int | None = None,
    ) -> None:
        """``node`` opens a block at its first ``{`` (from ``opener_from``) and closes it at
        ``closer`` (default: its last character); ``children`` are walked in between."""
        span = _placed(node)
        brace = _skip_to_brace(
            self.text, span.start if opener_from is None else opener_from, self.comments
        )
        self.add(("open", id(node)), span.start, brace + 1)
        for child in children:
            inner(child)
        close = span.end - 1 if closer is None else closer
        self.add(("close", id(node)), close, span.end)

    def policy(self, p: n.Policy | n.Vocabulary) -> None:
        self.block(p, self.decl, p.decls)

    def decl(self, d):
        if isinstance(d, n.Section):
            self.block(d, self.version, d.versions)
        elif isinstance(d, n.Diseases):
            self.block(d, self.disease_item, _disease_items(d))
        elif isinstance(d, n.Constraints):
            self.block(d, self.simple, d.requirements)
        elif isinstance(d, n.Example):
            self.block(d, self.simple, d.items)
        elif isinstance(d, (n.EnumDecl, n.CodeList)):
            self.block(d, self.simple, d.items)
        else:
            self.simple(d)

    def disease_item(self, x):
        if isinstance(x, n.NumberLit):  # the total: its span starts at the number
            self.simple(x, _word_before(self.text, _placed(x).start))
        else:
            self.simple(x)

    def version(self, v: n.Version) -> None:
        self.block(v, self.stmt, v.body)

    def stmt(self, st):
        amount = getattr(st, "amount", None)
        if isinstance(st, n.Fund):
            self.block(st, self.stmt, st.body)
        elif isinstance(amount, n.Table):
            self.block(
                st,
                self.simple,
                amount.rows,
                opener_from=_placed(amount).start,
                closer=_placed(amount).end - 1,
            )
        elif isinstance(amount, n.Bands):
            self.block(
                st,
                self.simple,
                amount.bands,
                opener_from=_placed(amount).start,
                closer=_placed(amount).end - 1,
            )
        else:
            self.simple(st)


def _placed(node: n.Node) -> n.Span:
    """Where a parsed node is (comments are attached only to what was parsed from text)."""
    if node.span is None:
        raise ValueError(f"{type(node).__name__} has no source position to attach comments to")
    return node.span


def _disease_items(d: n.Diseases) -> list[n.NumberLit | n.DiseasePart]:
    """The total and the parts, in the order they were written (the total first when the
    nodes have no source positions), so that their comments keep their order."""
    items = ([d.total] if d.total is not None else []) + list(d.parts)
    if all(x.span is not None for x in items):
        items.sort(key=lambda x: _placed(x).start)
    return items


def attach_comments(
    policy: n.Policy | n.Vocabulary, text: str, comments: list[n.Comment]
) -> Comments:
    """Attach each comment to a layout item (the rules are in the module's docstring)."""
    out = Comments()
    if not comments:
        return out
    walker = _ItemWalker(text, comments)
    walker.policy(policy)
    items = sorted(walker.items, key=lambda it: it.start)
    starts = [it.start for it in items]
    lines = text.split("\n")
    for c in comments:
        pos, line = c.span.start, c.span.line
        own_line = not text[pos - (c.span.col - 1) : pos].strip()
        i = bisect.bisect_left(starts, pos) - 1  # the last item starting before the comment
        prev = items[i] if i >= 0 else None
        blank_after = (
            line < len(lines) and not lines[line].strip() and any(x.strip() for x in lines[line:])
        )
        attached = _Attached(c, blank_after)
        if prev is not None and pos < prev.end:
            out.leading.setdefault(prev.key, []).append(attached)
        elif prev is not None and not own_line and prev.end_line == line:
            attached.blank_after = False
            out.trailing.setdefault(prev.key, []).append(attached)
        elif i + 1 < len(items):
            out.leading.setdefault(items[i + 1].key, []).append(attached)
        else:
            out.trailer.append(attached)
    return out


# ---- the formatter ------------------------------------------------------------------


class Formatter:
    def __init__(
        self,
        lang: str = "en",
        comments: Comments | None = None,
        root: n.Policy | n.Vocabulary | None = None,
    ):
        self.zh = lang == "zh"
        self.kw_map = keyword_pairs()
        self.comments = comments or Comments()
        self.lines: list[str] = []
        # Chinese names of values: the built-in ones, and those the file declares itself
        # (which the parser reads back as their values)
        self.zh_values = dict(V.ZH_OF_VALUE)
        if root is not None:
            for alias, value in own_aliases(root).items():
                self.zh_values.setdefault(value, alias)

    def kw(self, name: str) -> str:
        en, zh = self.kw_map[name]
        return zh if self.zh else en

    # -- small pieces
    @staticmethod
    def string(s: str) -> str:
        return json.dumps(s, ensure_ascii=False)

    @staticmethod
    def num(d: Decimal) -> str:
        return format(d, "f")

    def literal(self, lit: n.Literal) -> str:
        if isinstance(lit, n.MoneyLit):
            return f"{self.num(lit.amount)} {self.kw('yuan')}"
        if isinstance(lit, n.PercentLit):
            return f"{self.num(lit.value)}%"
        if isinstance(lit, n.PointsLit):
            return f"{self.num(lit.value)} {self.kw('points')}"
        if isinstance(lit, n.NumberLit):
            return self.num(lit.value)
        if isinstance(lit, n.DateLit):
            return lit.value.isoformat()
        if isinstance(lit, n.TextLit):
            return self.string(lit.value)
        if isinstance(lit, n.BoolLit):
            return self.kw("true") if lit.value else self.kw("false")
        raise TypeError(lit)

    def cite_seg(self, c: n.Cite) -> list[Seg]:
        if c is None:
            return []
        if isinstance(c, n.Unstated):
            return [Seg([self.kw("unstated")], own_line=True, quote=self.string(c.reason))]
        return [
            Seg(
                [self.kw("cite"), c.clause],
                own_line=True,
                quote=self.string(c.quote) if c.quote is not None else None,
            )
        ]

    def cite(self, c: n.Cite) -> str:
        """A citation on one line (as part of a one-line text)."""
        return "".join(" " + s.text() for s in self.cite_seg(c))

    def nm(self, name: n.Name | str) -> str:
        """A name as written: enumeration values take their Chinese alias in zh."""
        value = name.value if hasattr(name, "value") else name
        return self.zh_values.get(value, value) if self.zh else value

    def type_name(self, t: n.Name) -> str:
        return TYPE_ZH.get(t.value, t.value) if self.zh else t.value

    def names(self, items: Iterable[n.Name]) -> str:
        return ", ".join(self.nm(x) for x in items)

    def name_atoms(self, items: Iterable[n.Name]) -> list[str]:
        words = [self.nm(x) for x in items]
        return [w + "," for w in words[:-1]] + words[-1:]

    def expr(self, e: n.Expr, parent_prec: int = 0) -> str:
        if isinstance(e, n.Ref):
            return self.nm(e.name)
        if isinstance(e, n.BinOp):
            prec = 2 if e.op == "*" else 1
            op = "×" if e.op == "*" else e.op
            right_prec = prec + 1
            text = f"{self.expr(e.left, prec)} {op} {self.expr(e.right, right_prec)}"
            return f"({text})" if prec < parent_prec else text
        return self.literal(e)

    def cond(self, c: n.Cond, parent_prec: int = 0) -> str:
        return " ".join(self.cond_atoms(c, parent_prec))

    def cond_atoms(self, c: n.Cond, parent_prec: int = 0) -> list[str]:
        """A condition as atoms that may be put on separate lines: broken before each
        ``and`` / ``or`` of the outermost level."""
        if isinstance(c, (n.Or, n.And)):
            prec, word = (1, "or") if isinstance(c, n.Or) else (2, "and")
            left = self.cond_atoms(c.left, prec)
            right = self.cond_atoms(c.right, prec + 1)
            atoms = left + [f"{self.kw(word)} {right[0]}"] + right[1:]
            if parent_prec > prec:
                return ["(" + " ".join(atoms) + ")"]
            return atoms
        if isinstance(c, n.Not):
            return [f"{self.kw('not')} {self.cond(c.operand, 3)}"]
        if isinstance(c, n.Flag):
            return [c.name.value]
        if isinstance(c, n.Compare):
            return [f"{self.expr(c.left)} {c.op} {self.expr(c.right)}"]
        if isinstance(c, n.Member):
            return [f"{self.expr(c.operand)} {self.kw('in')} {{{self.names(c.values)}}}"]
        if isinstance(c, n.MemberOf):
            return [f"{self.expr(c.operand)} {self.kw('in')} {c.group.value}"]
        raise TypeError(c)

    # -- layout
    def layout(
        self, ind: str, segs: list[Seg], opener: bool = False, cont: str | None = None
    ) -> list[str]:
        """The lines of one statement: its clauses on one line when they fit, else broken
        (later clauses at ``cont``, by default indented two more)."""
        suffix = " {" if opener else ""
        one = ind + " ".join(s.text() for s in segs) + suffix
        if cell_width(one) <= WIDTH:
            return [one]
        cont = ind + INDENT if cont is None else cont
        lines = self.wrap(ind, segs[0].atoms, ind + INDENT * 2)
        joinable = (
            len(lines) == 1
        )  # a clause may join the line before it, unless that line is a wrapped first clause
        for seg in segs[1:]:
            if seg.quote is not None:
                head = " ".join(seg.atoms)
                if seg.own_line or not joinable:
                    lines.append(cont + head)
                else:
                    lines[-1] += " " + head
                joinable = True
                if cell_width(lines[-1] + " " + seg.quote) <= WIDTH:
                    lines[-1] += " " + seg.quote
                else:
                    lines.append(cont + INDENT + seg.quote)
                continue
            text = " ".join(seg.atoms)
            if joinable and not seg.own_line and cell_width(lines[-1] + " " + text) <= WIDTH:
                lines[-1] += " " + text
            else:
                wrapped = self.wrap(cont, seg.atoms, cont + INDENT * 2)
                lines += wrapped
                joinable = len(wrapped) == 1
        lines[-1] += suffix
        return lines

    @staticmethod
    def wrap(ind: str, atoms: list[str], cont: str) -> list[str]:
        """Atoms filled into lines: the first at ``ind``, the rest at ``cont``."""
        lines = [ind + atoms[0]]
        for atom in atoms[1:]:
            if cell_width(lines[-1] + " " + atom) <= WIDTH:
                lines[-1] += " " + atom
            else:
                lines.append(cont + atom)
        return lines

    def put(self, key: tuple, ind: str, lines: list[str]) -> None:
        """Write an item's lines, with the comments attached to it."""
        self.leading(key, ind)
        self.lines.extend(lines)
        self.trailing(key, ind)

    def leading(self, key: tuple, ind: str) -> None:
        for a in self.comments.leading.get(key, ()):
            self.lines.append(ind + a.comment.text)
            if a.blank_after:
                self.lines.append("")

    def trailing(self, key: tuple, ind: str) -> None:
        extra = self.comments.trailing.get(key, ())
        for i, a in enumerate(extra):
            if i == 0:
                self.lines[-1] += "  " + a.comment.text
            # a comment ends its line, so an item has at most one trailing comment
            else:  # pragma: no cover
                self.lines.append(ind + a.comment.text)

    def open(self, node: n.Node, ind: str, segs: list[Seg]) -> None:
        self.put(("open", id(node)), ind, self.layout(ind, segs, opener=True))

    def close(self, node: n.Node, ind: str, tail: Iterable[Seg] = ()) -> None:
        self.leading(("close", id(node)), ind + INDENT)
        self.lines.extend(self.layout(ind, [Seg(["}"]), *tail]))
        self.trailing(("close", id(node)), ind)

    def simple(self, node: n.Node, ind: str, segs: list[Seg]) -> None:
        self.put(("item", id(node)), ind, self.layout(ind, segs))

    # -- statements
    def fund(self, st: n.Fund, ind: str) -> None:
        """``fund hifob "大额医疗费用补助" cite ... {``, its statements, ``}``."""
        above = [self.kw("above_cap")] if st.above_cap else []
        head = Seg([self.kw("fund"), st.name.value, *self.title(st.title), *above])
        self.open(st, ind, [head, *self.cite_seg(st.cite)])
        for inner in st.body:
            self.statement(inner, ind + INDENT)
        self.close(st, ind)

    def statement(self, st: n.Stmt, ind: str) -> None:
        write = _STATEMENTS.get(type(st))
        if write is None:
            raise TypeError(st)
        write(self, st, ind)

    def _stmt_covers(self, st: n.Covers, ind: str) -> None:
        k = self.kw
        self.simple(
            st,
            ind,
            [Seg([k("covers"), *self.name_atoms(st.categories)]), *self.cite_seg(st.cite)],
        )

    def _stmt_designated_only(self, st: n.DesignatedOnly, ind: str) -> None:
        k = self.kw
        self.simple(st, ind, [Seg([k("designated_only")]), *self.cite_seg(st.cite)])

    def _stmt_accumulator(self, st: n.Deductible | n.Cap | n.CostCap, ind: str) -> None:
        k = self.kw
        word = k(ACCUMULATOR_WORDS[type(st)])
        tail = [Seg([k("per"), self.nm(st.period)])]
        if st.each is not None:
            tail.append(Seg([k("each"), st.each.value]))
        if st.when is not None:
            atoms = self.cond_atoms(st.when)
            tail.append(Seg([f"{k('when')} {atoms[0]}", *atoms[1:]]))
        top = getattr(st, "ceiling", None)
        if top is not None:
            amount = top.amount.name.value if isinstance(top.amount, n.Ref) else None
            tail.append(
                Seg(
                    [
                        k("total_at_most"),
                        amount or self.literal(top.amount),
                        k("per"),
                        self.nm(top.period),
                    ]
                )
            )
        if st.name is not None:
            tail.append(Seg([k("named"), st.name.value]))
        self.quantity_statement(st, ind, word, st.amount, tail + self.cite_seg(st.cite))

    def _stmt_ratio(self, st: n.Ratio, ind: str) -> None:
        k = self.kw
        self.quantity_statement(st, ind, k("ratio"), st.amount, self.cite_seg(st.cite))

    def _stmt_uplift(self, st: n.Uplift, ind: str) -> None:
        k = self.kw
        atoms = self.cond_atoms(st.when)
        self.simple(
            st,
            ind,
            [
                Seg([k("uplift"), self.param_value(st.points)]),
                Seg([f"{k('when')} {atoms[0]}", *atoms[1:]]),
                *self.cite_seg(st.cite),
            ],
        )

    def _stmt_composed(self, st: n.Reduction | n.RatioFloor | n.RatioCeiling, ind: str) -> None:
        """A statement of a composed ratio (issue 11): a reduction, a floor or a ceiling."""
        segs = self.reduction_segs(st) if isinstance(st, n.Reduction) else self.bound_segs(st)
        self.simple(st, ind, segs)

    def param_value(self, v: n.Literal | n.Ref) -> str:
        """A literal, or the name of a parameter."""
        return v.name.value if isinstance(v, n.Ref) else self.literal(v)

    def bound_segs(self, st: n.RatioFloor | n.RatioCeiling) -> list[Seg]:
        """``ratio at_least PCT`` / ``ratio at_most PCT``."""
        word = self.kw("at_least") if isinstance(st, n.RatioFloor) else self.kw("at_most")
        return [
            Seg([self.kw("ratio"), word, self.param_value(st.value)]),
            *self.cite_seg(st.cite),
        ]

    def reduction_segs(self, st: n.Reduction) -> list[Seg]:
        """``reduce N points when ... cite ...``, then each ``except ... cite ...`` on a line
        of its own when the statement breaks."""
        k = self.kw
        atoms = self.cond_atoms(st.when)
        segs = [
            Seg([k("reduce"), self.param_value(st.points)]),
            Seg([f"{k('when')} {atoms[0]}", *atoms[1:]]),
            *self.cite_seg(st.cite),
        ]
        for ex in st.exemptions:  # the exemption and its citation start a line together
            atoms = self.cond_atoms(ex.when)
            cite = self.cite_seg(ex.cite)
            tail = cite[0].atoms if cite else []
            quote = cite[0].quote if cite else None
            segs.append(
                Seg([f"{k('except')} {atoms[0]}", *atoms[1:], *tail], own_line=True, quote=quote)
            )
        return segs

    def _stmt_credit_rule(self, st: n.CreditRule, ind: str) -> None:
        k = self.kw
        atoms = self.cond_atoms(st.when)
        atoms[-1] += ":"
        segs = [
            Seg([k("rule"), st.name.value]),
            Seg([f"{k('when')} {atoms[0]}", *atoms[1:]]),
            Seg([k("credit"), self.expr(st.amount)], own_line=True),
            *self.cite_seg(st.cite),
        ]
        # the credit always starts a line of its own, below its rule's condition
        head = self.layout(ind, segs[:2])
        rest = self.layout(ind + INDENT, segs[2:], cont=ind + INDENT)
        self.put(("item", id(st)), ind, head + rest)

    def _stmt_relations(self, st: n.Relations, ind: str) -> None:
        k = self.kw
        self.simple(
            st,
            ind,
            [Seg([k("relations"), *self.name_atoms(st.relations)]), *self.cite_seg(st.cite)],
        )

    def _stmt_allow(self, st: n.Allow | n.Planned, ind: str) -> None:
        k = self.kw
        word = k("allow") if isinstance(st, n.Allow) else k("planned")
        segs = [Seg([word, *self.name_atoms(st.items)])]
        if st.venues is not None:
            segs.append(Seg([k("at"), *self.name_atoms(st.venues)]))
        if st.relations is not None:
            segs.append(Seg([k("for"), *self.name_atoms(st.relations)]))
        self.simple(st, ind, segs + self.cite_seg(st.cite))

    def _stmt_exclude(self, st: n.Exclude, ind: str) -> None:
        k = self.kw
        self.simple(
            st, ind, [Seg([k("exclude"), *self.name_atoms(st.items)]), *self.cite_seg(st.cite)]
        )

    def _stmt_channel(self, st: n.Channel, ind: str) -> None:
        k = self.kw
        self.simple(
            st,
            ind,
            [Seg([k("channel"), *self.name_atoms(st.channels)]), *self.cite_seg(st.cite)],
        )

    def quantity_statement(
        self, st: n.Node, ind: str, word: str, q: n.Quantity | n.Ref, tail: list[Seg]
    ) -> None:
        """``deductible``, ``cap`` and ``ratio``: a literal or a parameter on one line; a table
        or bands as a block, the clauses after it on its closing line."""
        if isinstance(q, n.Table):
            self.open(st, ind, [Seg([word, self.kw("by"), *self.name_atoms(q.keys)])])
            for row in q.rows:
                pats = ", ".join(
                    "*" if p is None else " | ".join(self.nm(x) for x in p) for p in row.patterns
                )
                self.simple(
                    row,
                    ind + INDENT,
                    [Seg([f"{pats}: {self.param_value(row.value)}"]), *self.cite_seg(row.cite)],
                )
            return self.close(st, ind, tail)
        if isinstance(q, n.Bands):
            head = [word, self.kw("bands"), self.kw("per"), self.nm(q.period)]
            if q.each is not None:
                head += [self.kw("each"), q.each.value]
            self.open(st, ind, [Seg(head)])
            for b in q.bands:
                limit = (
                    f"{self.kw('until')} {self.literal(b.limit)}"
                    if b.limit is not None
                    else self.kw("beyond")
                )
                self.simple(
                    b,
                    ind + INDENT,
                    [Seg([f"{limit}: {self.literal(b.value)}"]), *self.cite_seg(b.cite)],
                )
            return self.close(st, ind, tail)
        amount = q.name.value if isinstance(q, n.Ref) else self.literal(q)
        self.simple(st, ind, [Seg([word, amount]), *tail])

    def point(self, p: n.DateLit | n.Name) -> str:
        return p.value.isoformat() if isinstance(p, n.DateLit) else p.value

    def version(self, v: n.Version, ind: str) -> None:
        segs = [Seg([self.kw("from"), self.point(v.start)])]
        if v.until is not None:
            segs.append(Seg([self.kw("until"), self.point(v.until)]))
        self.open(v, ind, segs + self.cite_seg(v.cite))
        for st in v.body:
            self.statement(st, ind + INDENT)
        self.close(v, ind)

    def side(self, s: n.Measure | n.Bound) -> str:
        if isinstance(s, n.Bound):
            return self.literal(s.value)
        q = s.quantity.value
        q = MEASURE_ZH.get(q, q) if self.zh else q
        return q + (f"[{self.cond(s.where)}]" if s.where is not None else "")

    def requirement(self, r: n.Requirement) -> str:
        return (
            f"{self.kw('require')} {r.name.value}: {self.side(r.left)} {r.op} {self.side(r.right)}"
        )

    def title(self, t: str | None) -> list[str]:
        return [self.string(t)] if t is not None else []

    def decl(self, d: n.Decl | n.VocabDecl, ind: str) -> None:
        write = _DECLARATIONS.get(type(d))
        if write is None:
            raise TypeError(d)
        write(self, d, ind)

    def _decl_level(self, d: n.LevelDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(d, ind, [Seg([k("level"), self.nm(d.level)]), *cite])

    def _decl_jurisdiction(self, d: n.JurisdictionDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(d, ind, [Seg([k("jurisdiction"), self.string(d.text)]), *cite])

    def _decl_document(self, d: n.DocumentDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(
            d,
            ind,
            [
                Seg([k("document"), self.string(d.number)]),
                Seg([k("dated"), self.point(d.dated)]),
                *cite,
            ],
        )

    def _decl_basis(self, d: n.BasisDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        dated = [Seg([k("dated"), d.dated.value.isoformat()])] if d.dated is not None else []
        self.simple(d, ind, [Seg([k("basis"), self.string(d.text)]), *dated, *cite])

    def _decl_implements(self, d: n.ImplementsDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(d, ind, [Seg([k("implements"), d.parent.value]), *cite])

    def _decl_bill_split(self, d: n.BillSplit, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(
            d, ind, [Seg([k("in_policy"), k("excludes"), *self.name_atoms(d.parts)]), *cite]
        )

    def _decl_param(self, d: n.ParamDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(
            d,
            ind,
            [
                Seg([k("param"), f"{d.name.value}: {self.type_name(d.type)}"]),
                *([Seg(self.title(d.label))] if d.label is not None else []),
                *cite,
            ],
        )

    def _decl_input(self, d: n.InputDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        segs = [Seg([k("input"), f"{d.name.value}: {self.type_name(d.type)}"])]
        if d.default is not None:
            segs.append(Seg([k("default"), self.literal(d.default)]))
        if d.label is not None:
            segs.append(Seg(self.title(d.label)))
        self.simple(d, ind, segs + cite)

    def _decl_tier(self, d: n.TierDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(
            d,
            ind,
            [
                Seg(
                    [
                        k("tier"),
                        d.name.value,
                        *self.title(d.label),
                        "=",
                        *self.name_atoms(d.members),
                    ]
                ),
                *cite,
            ],
        )

    def _decl_rounding(self, d: n.RoundingDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(
            d,
            ind,
            [Seg([k("rounding"), self.nm(d.mode), k("to"), self.literal(d.unit)]), *cite],
        )

    def _decl_setting(self, d: n.SettingDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.simple(d, ind, [Seg([k("setting"), d.name.value, "=", self.nm(d.value)]), *cite])

    def _decl_section(self, d: n.Section, ind: str) -> None:
        k = self.kw
        self.open(d, ind, [Seg([k(d.kind), *self.title(d.title)])])
        for v in d.versions:
            self.version(v, ind + INDENT)
        self.close(d, ind)

    def _decl_diseases(self, d: n.Diseases, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.open(d, ind, [Seg([k("diseases"), d.name.value, *self.title(d.title)]), *cite])
        inner = ind + INDENT
        for p in _disease_items(d):
            if isinstance(p, n.NumberLit):  # the total
                self.simple(
                    p,
                    inner,
                    [Seg([k("total"), self.num(p.value)]), *self.cite_seg(d.total_cite)],
                )
                continue
            cat = (
                [Seg([k("catalogue"), self.string(p.catalogue)])] if p.catalogue is not None else []
            )
            self.simple(
                p,
                inner,
                [
                    Seg([k("part"), p.name.value, self.num(p.count.value)]),
                    *cat,
                    *self.cite_seg(p.cite),
                ],
            )
        self.close(d, ind)

    def _decl_constraints(self, d: n.Constraints, ind: str) -> None:
        k = self.kw
        self.open(d, ind, [Seg([k("constraints"), *self.title(d.title)])])
        for r in d.requirements:
            head = f"{k('require')} {r.name.value}: {self.side(r.left)}"
            self.simple(
                r,
                ind + INDENT,
                [Seg([head, f"{r.op} {self.side(r.right)}"]), *self.cite_seg(r.cite)],
            )
        self.close(d, ind)

    def _decl_example(self, d: n.Example, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.open(d, ind, [Seg([k("example"), self.string(d.title)]), *cite])
        inner = ind + INDENT
        for x in d.items:
            if isinstance(x, n.ExampleParam):
                self.simple(x, inner, [Seg([k("param"), x.name.value, "=", self.literal(x.value)])])
                continue
            lines = self.fields(inner, k(x.kind), x.fields)
            if x.expect is not None:
                lines += self.fields(inner, k("expect"), x.expect)
            self.put(("item", id(x)), inner, lines)
        self.close(d, ind)

    def _decl_enum(self, d: n.EnumDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        head = [k("enum"), d.name.value, *self.title(d.label)] + ([k("fixed")] if d.fixed else [])
        self.open(d, ind, [Seg(head), *cite])
        for item in d.items:
            self.simple(item, ind + INDENT, self.enum_item(item))
        self.close(d, ind)

    def _decl_code_list(self, d: n.CodeList, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        self.open(d, ind, [Seg([k("code_list"), d.name.value, *self.title(d.label)]), *cite])
        for item in d.items:
            words = [k("code"), self.string(item.code.value), *self.title(item.label)]
            self.simple(
                item,
                ind + INDENT,
                [
                    Seg(words + ([k("pooled")] if item.pooled else [])),
                    *self.cite_seg(item.cite),
                ],
            )
        self.close(d, ind)

    def _decl_import(self, d: n.ImportDecl, ind: str) -> None:
        k = self.kw
        cite = self.cite_seg(getattr(d, "cite", None))
        src = d.source.value if isinstance(d.source, n.Name) else self.string(d.source.value)
        self.simple(d, ind, [Seg([k("import"), k("vocabulary"), src]), *cite])

    def enum_item(self, item: n.EnumValue | n.EnumCode) -> list[Seg]:
        """A value of an enumeration (``veteran "离休" codes "13" counts_as retiree``) or a
        code (``code "1103" means active with flxempe_flag = true "灵活就业在职"``)."""
        k = self.kw
        if isinstance(item, n.EnumValue):
            segs = [Seg([item.name.value, *(self.string(a) for a in item.aliases)])]
            if item.codes:
                codes = [self.string(c.value) for c in item.codes]
                segs.append(Seg([k("codes"), *(c + "," for c in codes[:-1]), codes[-1]]))
            if item.counts_as is not None:
                segs.append(Seg([k("counts_as"), self.nm(item.counts_as)]))
            return segs + self.cite_seg(item.cite)
        segs = [Seg([k("code"), self.string(item.code.value), k("means"), self.nm(item.means)])]
        if item.implies:
            parts = [f"{imp.field.value} = {self.expr(imp.value)}" for imp in item.implies]
            segs.append(Seg([k("with"), *(x + "," for x in parts[:-1]), parts[-1]]))
        if item.label is not None:
            segs.append(Seg([self.string(item.label)]))
        return segs + self.cite_seg(item.cite)

    def field_value(self, v: n.Literal | n.Name | n.NoneLit) -> str:
        if isinstance(v, n.NoneLit):
            return self.kw("none")
        if isinstance(v, n.Name):
            return self.nm(v)
        return self.literal(v)

    def fields(self, ind: str, word: str, fields: Iterable[n.ExampleField]) -> list[str]:
        """``word { name: value, ... }`` on one line, or its fields filled into lines below it."""
        atoms = [f"{f.name.value}: {self.field_value(f.value)}" for f in fields]
        one = f"{ind}{word} {{ {', '.join(atoms)} }}" if atoms else f"{ind}{word} {{}}"
        if cell_width(one) <= WIDTH:
            return [one]
        items = [a + "," for a in atoms[:-1]] + atoms[-1:]
        return [f"{ind}{word} {{", *self.wrap(ind + INDENT, items, ind + INDENT), f"{ind}}}"]

    @staticmethod
    def is_block(d: n.Decl) -> bool:
        return isinstance(
            d, (n.Section, n.Diseases, n.Constraints, n.Example, n.EnumDecl, n.CodeList)
        )

    def vocabulary(self, v: n.Vocabulary) -> str:
        """A vocabulary file: its enumerations and code lists, a blank line between them."""
        self.open(v, "", [Seg([self.kw("vocabulary"), v.name.value, *self.title(v.title)])])
        for i, d in enumerate(v.decls):
            if i:
                self.lines.append("")
            self.decl(d, INDENT)
        return self.finish(v)

    def policy(self, p: n.Policy) -> str:
        self.open(p, "", [Seg([self.kw("policy"), p.name.value, *self.title(p.title)])])
        prev = None
        for d in p.decls:
            block = self.is_block(d)
            if prev is not None and (block or prev):
                self.lines.append("")
            self.decl(d, INDENT)
            prev = block
        return self.finish(p)

    def finish(self, root: n.Policy | n.Vocabulary) -> str:
        """The root's closing line and the comments after it: the text."""
        self.close(root, "")
        for a in self.comments.trailer:
            self.lines.append(a.comment.text)
            if a.blank_after:
                self.lines.append("")
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


# how each kind of statement is written (``Formatter.statement``)
_STATEMENTS: dict[type, Callable[[Formatter, Any, str], None]] = {
    n.Fund: Formatter.fund,
    n.Covers: Formatter._stmt_covers,
    n.DesignatedOnly: Formatter._stmt_designated_only,
    n.Deductible: Formatter._stmt_accumulator,
    n.Cap: Formatter._stmt_accumulator,
    n.CostCap: Formatter._stmt_accumulator,
    n.Ratio: Formatter._stmt_ratio,
    n.Uplift: Formatter._stmt_uplift,
    n.Reduction: Formatter._stmt_composed,
    n.RatioFloor: Formatter._stmt_composed,
    n.RatioCeiling: Formatter._stmt_composed,
    n.CreditRule: Formatter._stmt_credit_rule,
    n.Relations: Formatter._stmt_relations,
    n.Allow: Formatter._stmt_allow,
    n.Planned: Formatter._stmt_allow,
    n.Exclude: Formatter._stmt_exclude,
    n.Channel: Formatter._stmt_channel,
}


# how each kind of declaration is written (``Formatter.decl``)
_DECLARATIONS: dict[type, Callable[[Formatter, Any, str], None]] = {
    n.LevelDecl: Formatter._decl_level,
    n.JurisdictionDecl: Formatter._decl_jurisdiction,
    n.DocumentDecl: Formatter._decl_document,
    n.BasisDecl: Formatter._decl_basis,
    n.ImplementsDecl: Formatter._decl_implements,
    n.BillSplit: Formatter._decl_bill_split,
    n.ParamDecl: Formatter._decl_param,
    n.InputDecl: Formatter._decl_input,
    n.TierDecl: Formatter._decl_tier,
    n.RoundingDecl: Formatter._decl_rounding,
    n.SettingDecl: Formatter._decl_setting,
    n.Section: Formatter._decl_section,
    n.Diseases: Formatter._decl_diseases,
    n.Constraints: Formatter._decl_constraints,
    n.Example: Formatter._decl_example,
    n.EnumDecl: Formatter._decl_enum,
    n.CodeList: Formatter._decl_code_list,
    n.ImportDecl: Formatter._decl_import,
}


def format_policy(
    policy: n.Policy | n.Vocabulary,
    lang: str = "en",
    comments: Iterable[n.Comment] = (),
    text: str | None = None,
) -> str:
    """Canonical source of ``policy`` (or of a vocabulary file).  To keep comments, give
    them with the ``text`` they were parsed from (``parser.parse_with_comments``)."""
    attached = (
        attach_comments(policy, text, list(comments)) if comments and text is not None else None
    )
    f = Formatter(lang, attached, policy)
    return f.vocabulary(policy) if isinstance(policy, n.Vocabulary) else f.policy(policy)


class FormatProblem(Exception):
    """A file that cannot be formatted: it does not parse, is not a policy, or (a bug) the
    formatted text would not say the same.  The message is ready to show."""


def format_source(text: str, file: str = "<string>", lang: str | None = None) -> str:
    """Parse ``text`` (a policy or a vocabulary file) and format it with its comments
    (``lang`` None: the language the file mostly uses).  Raises ``FormatProblem`` when the
    text does not parse, and when the result would not parse to the same policy with the
    same comments (which would be a bug in the formatter: nothing is written then)."""
    from .diagnostics import ERROR, render
    from .parser import detect_language, parse_with_comments

    policy, diags, comments = parse_with_comments(text, file)
    errors = [d for d in diags if d.severity == ERROR]
    if policy is None or errors:
        lang_msgs = detect_language(text)
        shown = "\n".join(render(d, {file: text}, lang_msgs) for d in errors)
        raise FormatProblem(f"{shown}\n{file}: not formatted: it has {len(errors)} syntax error(s)")
    out = format_policy(policy, lang or detect_language(text), comments, _clean(text, file))
    again, diags, kept = parse_with_comments(out, file)
    if again != policy or [c.text for c in kept] != [c.text for c in comments] or diags:
        raise FormatProblem(
            f"{file}: not formatted: the formatted text would not say the same as the file "
            "(a bug in policylang's formatter; please report it with the file)"
        )
    return out


def format_file(path: str, lang: str | None = None) -> tuple[str, str]:
    """(the text of the file, its formatted text); ``-`` is standard input."""
    import sys

    from pathlib import Path

    from .diagnostics import render
    from .resolve import decode, read_bytes

    name = "<stdin>" if path == "-" else path
    try:
        raw = (
            sys.stdin.buffer.read() if path == "-" else read_bytes(Path(path))
        )  # regular files only
    except OSError as e:
        raise FormatProblem(f"{name}: {e.strerror or e}") from None
    text, problems = decode(raw.removeprefix(b"\xef\xbb\xbf"), name)
    if problems:  # not UTF-8: P015 at the first bad byte
        raise FormatProblem("\n".join(render(d, {name: text}) for d in problems))
    if path.endswith((".json", ".jsonl")) or text.lstrip()[:1] in ("[", "{"):
        raise FormatProblem(f"{name}: this looks like JSON input, not a policy (.pol) file")
    return text, format_source(text, name, lang)


def _clean(text: str, file: str) -> str:
    """The text the parser read (positions are those of the original, one character for one)."""
    from .source import normalize

    return normalize(text, file)[0]


def format_requirement(r: n.Requirement, lang: str = "en") -> str:
    return Formatter(lang).requirement(r)
