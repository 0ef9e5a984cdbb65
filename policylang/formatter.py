"""Format an AST back into canonical policy source.

``format_policy(parse(src))`` parses to an AST equal to ``parse(src)``, and
formatting is idempotent; the test corpus checks both for every shipped policy
and every fixture.  ``lang="zh"`` writes the Chinese keyword spellings.
"""

from __future__ import annotations

import json
from decimal import Decimal

from . import nodes as n
from . import vocab as V
from .parser import keyword_pairs, own_aliases

INDENT = "  "


class Formatter:
    def __init__(self, lang: str = "en", root=None):
        self.zh = lang == "zh"
        self.kw_map = keyword_pairs()
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
        text = format(d, "f")
        return text

    def literal(self, lit) -> str:
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

    def cite(self, c) -> str:
        if c is None:
            return ""
        if isinstance(c, n.Unstated):
            return f" {self.kw('unstated')} {self.string(c.reason)}"
        quote = f" {self.string(c.quote)}" if c.quote is not None else ""
        return f" {self.kw('cite')} {c.clause}{quote}"

    def nm(self, name) -> str:
        """A name as written: enumeration values take their Chinese alias in zh."""
        value = name.value if hasattr(name, "value") else name
        return self.zh_values.get(value, value) if self.zh else value

    def names(self, items) -> str:
        return ", ".join(self.nm(x) for x in items)

    def expr(self, e, parent_prec: int = 0) -> str:
        if isinstance(e, n.Ref):
            return self.nm(e.name)
        if isinstance(e, n.BinOp):
            prec = 2 if e.op == "*" else 1
            op = "×" if e.op == "*" else e.op
            right_prec = prec + 1
            text = f"{self.expr(e.left, prec)} {op} {self.expr(e.right, right_prec)}"
            return f"({text})" if prec < parent_prec else text
        return self.literal(e)

    def cond(self, c, parent_prec: int = 0) -> str:
        if isinstance(c, n.Or):
            text = f"{self.cond(c.left, 1)} {self.kw('or')} {self.cond(c.right, 2)}"
            return f"({text})" if parent_prec > 1 else text
        if isinstance(c, n.And):
            text = f"{self.cond(c.left, 2)} {self.kw('and')} {self.cond(c.right, 3)}"
            return f"({text})" if parent_prec > 2 else text
        if isinstance(c, n.Not):
            return f"{self.kw('not')} {self.cond(c.operand, 3)}"
        if isinstance(c, n.Flag):
            return c.name.value
        if isinstance(c, n.Compare):
            return f"{self.expr(c.left)} {c.op} {self.expr(c.right)}"
        if isinstance(c, n.Member):
            return f"{self.expr(c.operand)} {self.kw('in')} {{{self.names(c.values)}}}"
        if isinstance(c, n.MemberOf):
            return f"{self.expr(c.operand)} {self.kw('in')} {c.group.value}"
        raise TypeError(c)

    def quantity(self, q, indent: str) -> str:
        if isinstance(q, n.Ref):
            return q.name.value
        if isinstance(q, n.Bands):
            each = f" {self.kw('each')} {q.each.value}" if q.each is not None else ""
            lines = [f"{self.kw('bands')} {self.kw('per')} {self.nm(q.period)}{each} {{"]
            for b in q.bands:
                head = f"{self.kw('until')} {self.literal(b.limit)}" if b.limit is not None else self.kw("beyond")
                lines.append(f"{indent}{INDENT}{head}: {self.literal(b.value)}{self.cite(b.cite)}")
            lines.append(f"{indent}}}")
            return "\n".join(lines)
        if not isinstance(q, n.Table):
            return self.literal(q)
        lines = [f"{self.kw('by')} {self.names(q.keys)} {{"]
        for row in q.rows:
            pats = ", ".join("*" if p is None else " | ".join(self.nm(x) for x in p) for p in row.patterns)
            lines.append(f"{indent}{INDENT}{pats}: {self.literal(row.value)}{self.cite(row.cite)}")
        lines.append(f"{indent}}}")
        return "\n".join(lines)

    # -- statements
    def stmt(self, st, ind: str) -> str:
        k = self.kw
        if isinstance(st, n.Covers):
            return f"{ind}{k('covers')} {self.names(st.categories)}{self.cite(st.cite)}"
        if isinstance(st, n.DesignatedOnly):
            return f"{ind}{k('designated_only')}{self.cite(st.cite)}"
        if isinstance(st, (n.Deductible, n.Cap)):
            word = k("deductible") if isinstance(st, n.Deductible) else k("cap")
            text = f"{ind}{word} {self.quantity(st.amount, ind)} {k('per')} {self.nm(st.period)}"
            if st.each is not None:
                text += f" {k('each')} {st.each.value}"
            if st.when is not None:
                text += f" {k('when')} {self.cond(st.when)}"
            if st.name is not None:
                text += f" {k('named')} {st.name.value}"
            return text + self.cite(st.cite)
        if isinstance(st, n.Ratio):
            return f"{ind}{k('ratio')} {self.quantity(st.amount, ind)}{self.cite(st.cite)}"
        if isinstance(st, n.Uplift):
            return f"{ind}{k('uplift')} {self.literal(st.points)} {k('when')} {self.cond(st.when)}{self.cite(st.cite)}"
        if isinstance(st, n.CreditRule):
            return (f"{ind}{k('rule')} {st.name.value} {k('when')} {self.cond(st.when)}:\n"
                    f"{ind}{INDENT}{k('credit')} {self.expr(st.amount)}{self.cite(st.cite)}")
        if isinstance(st, n.Relations):
            return f"{ind}{k('relations')} {self.names(st.relations)}{self.cite(st.cite)}"
        if isinstance(st, (n.Allow, n.Planned)):
            word = k("allow") if isinstance(st, n.Allow) else k("planned")
            text = f"{ind}{word} {self.names(st.items)}"
            if st.venues is not None:
                text += f" {k('at')} {self.names(st.venues)}"
            if st.relations is not None:
                text += f" {k('for')} {self.names(st.relations)}"
            return text + self.cite(st.cite)
        if isinstance(st, n.Exclude):
            return f"{ind}{k('exclude')} {self.names(st.items)}{self.cite(st.cite)}"
        if isinstance(st, n.Channel):
            return f"{ind}{k('channel')} {self.names(st.channels)}{self.cite(st.cite)}"
        raise TypeError(st)

    def point(self, p) -> str:
        return p.value.isoformat() if isinstance(p, n.DateLit) else p.value

    def version(self, v: n.Version, ind: str) -> str:
        head = f"{ind}{self.kw('from')} {self.point(v.start)}"
        if v.until is not None:
            head += f" {self.kw('until')} {self.point(v.until)}"
        head += self.cite(v.cite) + " {"
        body = [self.stmt(st, ind + INDENT) for st in v.body]
        return "\n".join([head, *body, f"{ind}}}"])

    def requirement(self, r: n.Requirement) -> str:
        def side(s):
            if isinstance(s, n.Bound):
                return self.literal(s.value)
            return s.quantity.value + (f"[{self.cond(s.where)}]" if s.where is not None else "")
        return f"{self.kw('require')} {r.name.value}: {side(r.left)} {r.op} {side(r.right)}"

    def decl(self, d, ind: str) -> str:
        k = self.kw
        title = lambda t: f" {self.string(t)}" if t is not None else ""  # noqa: E731
        if isinstance(d, n.LevelDecl):
            return f"{ind}{k('level')} {self.nm(d.level)}{self.cite(d.cite)}"
        if isinstance(d, n.JurisdictionDecl):
            return f"{ind}{k('jurisdiction')} {self.string(d.text)}{self.cite(d.cite)}"
        if isinstance(d, n.DocumentDecl):
            return f"{ind}{k('document')} {self.string(d.number)} {k('dated')} {d.dated.value.isoformat()}{self.cite(d.cite)}"
        if isinstance(d, n.BasisDecl):
            dated = f" {k('dated')} {d.dated.value.isoformat()}" if d.dated is not None else ""
            return f"{ind}{k('basis')} {self.string(d.text)}{dated}{self.cite(d.cite)}"
        if isinstance(d, n.ImplementsDecl):
            return f"{ind}{k('implements')} {d.parent.value}{self.cite(d.cite)}"
        if isinstance(d, n.ParamDecl):
            return f"{ind}{k('param')} {d.name.value}: {d.type.value}{title(d.label)}{self.cite(d.cite)}"
        if isinstance(d, n.InputDecl):
            default = f" {k('default')} {self.literal(d.default)}" if d.default is not None else ""
            return f"{ind}{k('input')} {d.name.value}: {d.type.value}{default}{title(d.label)}{self.cite(d.cite)}"
        if isinstance(d, n.TierDecl):
            return f"{ind}{k('tier')} {d.name.value}{title(d.label)} = {self.names(d.members)}{self.cite(d.cite)}"
        if isinstance(d, n.RoundingDecl):
            return f"{ind}{k('rounding')} {self.nm(d.mode)} {k('to')} {self.literal(d.unit)}{self.cite(d.cite)}"
        if isinstance(d, n.SettingDecl):
            return f"{ind}{k('setting')} {d.name.value} = {self.nm(d.value)}{self.cite(d.cite)}"
        if isinstance(d, n.Section):
            word = k(d.kind)
            head = f"{ind}{word}{title(d.title)} {{"
            return "\n".join([head, *(self.version(v, ind + INDENT) for v in d.versions), f"{ind}}}"])
        if isinstance(d, n.Diseases):
            head = f"{ind}{k('diseases')} {d.name.value}{title(d.title)}{self.cite(d.cite)} {{"
            lines = [head]
            if d.total is not None:
                lines.append(f"{ind}{INDENT}{k('total')} {self.num(d.total.value)}{self.cite(d.total_cite)}")
            for p in d.parts:
                cat = f" {k('catalogue')} {self.string(p.catalogue)}" if p.catalogue is not None else ""
                lines.append(f"{ind}{INDENT}{k('part')} {p.name.value} {self.num(p.count.value)}{cat}{self.cite(p.cite)}")
            lines.append(f"{ind}}}")
            return "\n".join(lines)
        if isinstance(d, n.Constraints):
            lines = [f"{ind}{k('constraints')}{title(d.title)} {{"]
            for r in d.requirements:
                lines.append(f"{ind}{INDENT}{self.requirement(r)}{self.cite(r.cite)}")
            lines.append(f"{ind}}}")
            return "\n".join(lines)
        if isinstance(d, n.EnumDecl):
            fixed = f" {k('fixed')}" if d.fixed else ""
            lines = [f"{ind}{k('enum')} {d.name.value}{title(d.label)}{fixed}{self.cite(d.cite)} {{"]
            lines += [f"{ind}{INDENT}{self.enum_item(item)}" for item in d.items]
            lines.append(f"{ind}}}")
            return "\n".join(lines)
        if isinstance(d, n.CodeList):
            lines = [f"{ind}{k('code_list')} {d.name.value}{title(d.label)}{self.cite(d.cite)} {{"]
            for item in d.items:
                pooled = f" {k('pooled')}" if item.pooled else ""
                lines.append(f"{ind}{INDENT}{k('code')} {self.string(item.code.value)}{title(item.label)}{pooled}"
                             f"{self.cite(item.cite)}")
            lines.append(f"{ind}}}")
            return "\n".join(lines)
        if isinstance(d, n.ImportDecl):
            src = d.source.value if isinstance(d.source, n.Name) else self.string(d.source.value)
            return f"{ind}{k('import')} {k('vocabulary')} {src}{self.cite(d.cite)}"
        raise TypeError(d)

    def enum_item(self, item) -> str:
        k = self.kw
        if isinstance(item, n.EnumValue):
            text = item.name.value + "".join(f" {self.string(a)}" for a in item.aliases)
            if item.codes:
                text += f" {k('codes')} " + ", ".join(self.string(c.value) for c in item.codes)
            if item.counts_as is not None:
                text += f" {k('counts_as')} {self.nm(item.counts_as)}"
            return text + self.cite(item.cite)
        text = f"{k('code')} {self.string(item.code.value)} {k('means')} {self.nm(item.means)}"
        if item.implies:
            text += f" {k('with')} " + ", ".join(f"{imp.field.value} = {self.expr(imp.value)}" for imp in item.implies)
        if item.label is not None:
            text += f" {self.string(item.label)}"
        return text + self.cite(item.cite)

    def vocabulary(self, v: n.Vocabulary) -> str:
        title = f" {self.string(v.title)}" if v.title is not None else ""
        lines = [f"{self.kw('vocabulary')} {v.name.value}{title} {{"]
        for i, d in enumerate(v.decls):
            if i:
                lines.append("")
            lines.append(self.decl(d, INDENT))
        lines.append("}")
        return "\n".join(lines) + "\n"

    def policy(self, p: n.Policy) -> str:
        title = f" {self.string(p.title)}" if p.title is not None else ""
        lines = [f"{self.kw('policy')} {p.name.value}{title} {{"]
        prev = None
        for d in p.decls:
            block = isinstance(d, (n.Section, n.Diseases, n.Constraints, n.EnumDecl, n.CodeList))
            if prev is not None and (block or prev):
                lines.append("")
            lines.append(self.decl(d, INDENT))
            prev = block
        lines.append("}")
        return "\n".join(lines) + "\n"


def format_policy(policy: n.Policy | n.Vocabulary, lang: str = "en") -> str:
    """A policy, or a vocabulary file, in canonical layout."""
    if isinstance(policy, n.Vocabulary):
        return Formatter(lang, policy).vocabulary(policy)
    return Formatter(lang, policy).policy(policy)


def format_requirement(r: n.Requirement, lang: str = "en") -> str:
    return Formatter(lang).requirement(r)
