"""Vocabularies: the enumerations (values, Chinese aliases, the platform's codes, what a
value counts as) and the code lists of text fields, read from ``.pol`` vocabulary files.

Two vocabularies ship with the package and are always in force:
``vocabularies/builtin.pol`` (the project's own enumerations, the ones ``vocab.ENUMS``
shows) and ``vocabularies/national.pol`` (the national platform's codes: ``psn_type``
codes, ``insutype`` and ``med_type`` code lists).  A policy extends them with ``enum`` and
``code_list`` declarations and with the vocabulary files it imports; a child policy
inherits its parent's.  ``merge`` applies declarations one at a time and reports what
cannot be applied (N106, N113-N116, N101, T201); what can be applied still is, so
one mistake does not hide the rest.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any, Collection, Iterable

import attrs

from . import nodes as n
from .diagnostics import Diagnostic, Related

# An enumeration whose values follow another's: every psn_type value is a category
# `covers` may list (with `flexible`, which is no psn_type).
FOLLOWS = {"category": "psn_type"}
SHIPPED = ("builtin", "national")


@attrs.frozen
class Code:
    """What a platform code means: a value, and values it implies for other fields of the
    record (``1103``: active, with ``flxempe_flag`` true)."""

    value: str
    implies: tuple[tuple[str, Any], ...] = ()
    label: str | None = None


@attrs.frozen
class Enumeration:
    name: str
    label: str | None
    fixed: bool
    values: tuple[str, ...]
    names_zh: dict  # value -> its Chinese name (its first alias)
    aliases: dict  # alias -> value
    codes: dict  # code -> Code
    counts_as: dict  # value -> the value it counts as

    def lookup(self, text: str) -> tuple[str, Code | None] | None:
        """The value ``text`` names (a value, an alias or a code), with the code's meaning."""
        if text in self.names_zh or text in self.values:
            return text, None
        value = self.aliases.get(text)
        if value is not None:
            return value, None
        code = self.codes.get(text)
        if code is not None:
            return code.value, code
        return None

    def base(self, value: str, known: Collection[str]) -> str:
        """``value``, or what it counts as (transitively) until a value in ``known``."""
        seen = set()
        while value not in known and value in self.counts_as and value not in seen:
            seen.add(value)
            value = self.counts_as[value]
        return value


@attrs.frozen
class CodeEntry:
    label: str | None = None
    pooled: bool = False


@attrs.frozen
class CodeList:
    name: str
    label: str | None
    codes: dict  # code -> CodeEntry

    def pooled(self) -> tuple[str, ...]:
        return tuple(code for code, e in self.codes.items() if e.pooled)


@attrs.frozen
class Vocabulary:
    enums: dict  # name -> Enumeration, in the order declared
    code_lists: dict  # field -> CodeList

    def values(self, enum: str) -> tuple[str, ...]:
        return self.enums[enum].values

    def names_zh(self) -> dict[str, str]:
        """value -> Chinese name, over every enumeration (for messages and the formatter)."""
        out: dict[str, str] = {}
        for e in self.enums.values():
            for v, zh in e.names_zh.items():
                out.setdefault(v, zh)
        return out

    def aliases(self) -> dict[str, str]:
        """alias -> value, over every enumeration (aliases agree across enumerations)."""
        out: dict[str, str] = {}
        for e in self.enums.values():
            for alias, v in e.aliases.items():
                out.setdefault(alias, v)
        return out

    def pooled(self, field: str) -> tuple[str, ...]:
        lst = self.code_lists.get(field)
        return lst.pooled() if lst is not None else ()


EMPTY = Vocabulary({}, {})


# ---- merging declarations ----------------------------------------------------------------


def _record_fields() -> dict[str, dict[str, str]]:
    from . import vocab as V

    return {"visit": V.VISIT_FIELDS, "person": V.PERSON_FIELDS, "request": V.REQUEST_FIELDS}


class _Enum:
    """A mutable enumeration while declarations are applied."""

    def __init__(
        self,
        e: Enumeration | None = None,
        name: str = "",
        label: str | None = None,
        fixed: bool = False,
    ) -> None:
        self.name = e.name if e else name
        self.label = e.label if e else label
        self.fixed = e.fixed if e else fixed
        self.values = list(e.values) if e else []
        self.names_zh = dict(e.names_zh) if e else {}
        self.aliases = dict(e.aliases) if e else {}
        self.codes = dict(e.codes) if e else {}
        self.counts_as = dict(e.counts_as) if e else {}

    def freeze(self) -> Enumeration:
        return Enumeration(
            self.name,
            self.label,
            self.fixed,
            tuple(self.values),
            self.names_zh,
            self.aliases,
            self.codes,
            self.counts_as,
        )


class Merger:
    """Applies vocabulary declarations onto a vocabulary.  ``origin`` names where a
    declaration comes from (a file): a code restated with the same meaning by another
    vocabulary is no conflict; restated within one is (N114).  An alias restated for the
    same value is never one."""

    def __init__(self, base: Vocabulary = EMPTY):
        self.enums = {k: _Enum(e) for k, e in base.enums.items()}
        self.lists = {k: (v.label, dict(v.codes)) for k, v in base.code_lists.items()}
        self.diags: list[Diagnostic] = []
        self._origin: dict[tuple, str] = {}  # (enum, code) or ("list", field, code) -> origin

    def freeze(self) -> Vocabulary:
        return Vocabulary(
            {k: e.freeze() for k, e in self.enums.items()},
            {k: CodeList(k, label, codes) for k, (label, codes) in self.lists.items()},
        )

    def emit(
        self, which: str, span: n.Span | None, related: Iterable[Related] = (), **args: Any
    ) -> None:
        self.diags.append(Diagnostic(which, span, args, tuple(related)))

    # -- global look-ups (aliases are read wherever a name is, so they are global)
    def _alias_owner(self, alias: str) -> str | None:
        for e in self.enums.values():
            if alias in e.aliases:
                return e.aliases[alias]
        return None

    def _is_value(self, name: str) -> bool:
        return any(name in e.values for e in self.enums.values())

    # -- declarations
    def apply(self, decl: n.Node, origin: str, in_policy: bool) -> None:
        if isinstance(decl, n.EnumDecl):
            self.enum(decl, origin, in_policy)
        elif isinstance(decl, n.CodeList):
            self.code_list(decl, origin, in_policy)

    def _cannot_extend(self, name: n.Name, why: str, why_zh: str, known: Iterable[str]) -> None:
        from .resolve import suggest

        s = suggest(name.value, known) if known else None
        self.emit(
            "N116",
            name.span,
            name=name.value,
            why=why,
            why_zh=why_zh,
            suggestion=f"; did you mean {s!r}?" if s else "",
            suggestion_zh=f";是否应为 {s!r}?" if s else "",
        )

    def enum(self, d: n.EnumDecl, origin: str, in_policy: bool) -> None:
        name = d.name.value
        e = self.enums.get(name)
        if e is None:
            if in_policy:
                self._cannot_extend(
                    d.name,
                    "no enumeration has this name (a policy extends an enumeration; a new one "
                    "is declared in a vocabulary file the policy imports)",
                    "没有这个枚举(政策只能扩展已有枚举;新的枚举请在词表文件中声明并引用)",
                    self.enums,
                )
                return
            e = self.enums[name] = _Enum(name=name, label=d.label, fixed=d.fixed)
            creating = True
        else:
            creating = False
        for item in d.items:
            if isinstance(item, n.EnumValue):
                self.value(e, item, origin, creating)
            else:
                self.code(e, item, origin)

    def value(self, e: _Enum, item: n.EnumValue, origin: str, creating: bool = False) -> None:
        v = item.name.value
        new = v not in e.values
        if new and self._refused(e, item, creating):
            return
        aliases = self._aliases(e, item)
        base = self._counts_as(e, item, new)
        if new:
            self._add_value(e, v)
        for alias in aliases:
            self._add_alias(e, v, alias)
        if base is not None:
            e.counts_as[v] = base
            for follower, followed in FOLLOWS.items():
                if followed == e.name and follower in self.enums:
                    self.enums[follower].counts_as.setdefault(v, base)
        for lit in item.codes:
            self._add_code(e, lit, Code(v), origin)

    def _refused(self, e: _Enum, item: n.EnumValue, creating: bool) -> bool:
        """Whether a new value cannot be added (a fixed enumeration, or a name that is an
        alias of another value): reported."""
        v = item.name.value
        if e.fixed and not creating:
            why = f"the values of {e.name} are fixed (the language gives each one a meaning)"
            why_zh = f"{e.name} 的取值是固定的(语言为每个取值规定了含义)"
            if e.name in FOLLOWS:
                why += f"; its values follow {FOLLOWS[e.name]}: add the value there"
                why_zh += f";其取值随 {FOLLOWS[e.name]} 而定,请在那里添加"
            self._cannot_extend(item.name, why, why_zh, ())
            return True
        owner = self._alias_owner(v)
        if owner is not None and owner != v:
            self.emit(
                "N115",
                item.name.span,
                alias=v,
                value=v,
                other=owner,
                what="value",
                what_zh="取值",
            )
            return True
        return False

    def _aliases(self, e: _Enum, item: n.EnumValue) -> list[str]:
        """The value's aliases that can be added; the others reported (N115)."""
        v = item.name.value
        aliases = []
        fields = {f for fs in _record_fields().values() for f in fs}
        for alias in item.aliases:
            owner = self._alias_owner(alias)
            if (owner is not None and owner != v) or (alias != v and self._is_value(alias)):
                self.emit(
                    "N115",
                    item.name.span,
                    alias=alias,
                    value=v,
                    other=owner or alias,
                    what="alias",
                    what_zh="别名",
                )
            elif alias in fields:  # read as the value wherever a name is, it would hide the field
                self.emit(
                    "N115",
                    item.name.span,
                    alias=alias,
                    value=v,
                    other=f"the field {alias}",
                    what="alias",
                    what_zh="别名",
                )
            else:
                aliases.append(alias)
        return aliases

    def _counts_as(self, e: _Enum, item: n.EnumValue, new: bool) -> str | None:
        """The value the item counts as, when that can be declared here; else reported."""
        v = item.name.value
        base = None
        if item.counts_as is not None:
            b = item.counts_as.value
            others = [x for x in e.values if x != v]
            known = ", ".join(others)
            known_zh = "、".join(f"{e.names_zh[x]}({x})" if x in e.names_zh else x for x in others)
            if b not in others:
                self.emit(
                    "N113",
                    item.counts_as.span,
                    base=b,
                    value=v,
                    enum=e.name,
                    known=known,
                    known_zh=known_zh,
                    why=f"that is not another value of {e.name}",
                    why_zh=f"它不是 {e.name} 的另一个取值",
                )
            elif not new and e.counts_as.get(v) != b:
                self.emit(
                    "N113",
                    item.counts_as.span,
                    base=b,
                    value=v,
                    enum=e.name,
                    known=known,
                    known_zh=known_zh,
                    why=(
                        f"{v} is declared before without it (counts_as goes where a value is "
                        "first declared)"
                    ),
                    why_zh=f"{v} 此前已声明且未视同(视同 应写在首次声明该取值处)",
                )
            else:
                base = b
        return base

    def _add_value(self, e: _Enum, v: str) -> None:
        e.values.append(v)
        for follower, followed in FOLLOWS.items():
            if (
                followed == e.name
                and follower in self.enums
                and v not in self.enums[follower].values
            ):
                self.enums[follower].values.append(v)

    def _add_alias(self, e: _Enum, v: str, alias: str) -> None:
        targets = [e] + [
            self.enums[f]
            for f, followed in FOLLOWS.items()
            if followed == e.name and f in self.enums
        ]
        for t in targets:
            if alias != v:
                t.aliases.setdefault(alias, v)
            t.names_zh.setdefault(v, alias)

    def _add_code(self, e: _Enum, lit: n.TextLit, meaning: Code, origin: str) -> None:
        code = lit.value
        if not code or code != code.strip():  # a record's value is read without spaces around it
            self.emit(
                "T201",
                lit.span,
                what="a code",
                what_zh="代码",
                expected="text without spaces around it",
                expected_zh="首尾无空格的文字",
                found=repr(code),
                found_zh=repr(code),
                hint="",
                hint_zh="",
            )
            return
        known = e.codes.get(code)
        key = (e.name, code)
        if known is not None:
            if (
                known.value == meaning.value
                and known.implies == meaning.implies
                and self._origin.get(key) != origin
            ):
                return  # another vocabulary says the same
            self.emit(
                "N114",
                lit.span,
                code=code,
                enum=e.name,
                value=known.value,
                implies=_implies_text(known.implies),
            )
            return
        clash = code if code in e.values else e.aliases.get(code)
        if clash is not None:
            self.emit("N114", lit.span, code=code, enum=e.name, value=clash, implies="")
            return
        e.codes[code] = meaning
        self._origin[key] = origin

    def code(self, e: _Enum, item: n.EnumCode, origin: str) -> None:
        v = item.means.value
        if v not in e.values:
            zh = e.names_zh
            self.emit(
                "N106",
                item.means.span,
                value=v,
                what=f"{e.name} value",
                what_zh=e.label or e.name,
                suggestion="",
                suggestion_zh="",
                known=", ".join(e.values),
                known_zh="、".join(f"{zh[x]}({x})" if x in zh else x for x in e.values),
            )
            return
        implies = []
        for imp in item.implies:
            got = self.implication(e, imp)
            if got is None:
                return
            implies.append(got)
        self._add_code(e, item.code, Code(v, tuple(implies), item.label), origin)

    def implication(self, e: _Enum, imp: n.Implication) -> tuple[str, Any] | None:
        """(field, value) when the field is one of every record that carries this
        enumeration, and the value is of its type; else a diagnostic and None."""
        from . import vocab as V

        contexts = [fields for fields in _record_fields().values() if e.name in fields.values()]
        field = imp.field.value
        types = {fields.get(field) for fields in contexts}
        if not contexts or None in types or len(types) != 1:
            known = sorted(set.intersection(*(set(f) for f in contexts))) if contexts else []
            self.emit(
                "N101",
                imp.field.span,
                name=field,
                kind="field",
                kind_zh="字段",
                suggestion="",
                suggestion_zh="",
                hint="fields of the same record: " + ", ".join(known),
                hint_zh="同一记录的字段:" + ", ".join(known),
            )
            return None
        t = types.pop()
        value = imp.value
        if t == V.BOOL and isinstance(value, n.BoolLit):
            return (field, value.value)
        if t == V.BOOL and isinstance(value, n.Ref) and value.name.value in ("true", "false"):
            return (field, value.name.value == "true")
        if (
            t in self.enums
            and isinstance(value, n.Ref)
            and value.name.value in self.enums[t].values
        ):
            return (field, value.name.value)
        self.emit(
            "T201",
            value.span,
            what=f"the value implied for {field}",
            what_zh=f"{field} 的取值",
            expected="true/false" if t == V.BOOL else f"a {t} value",
            expected_zh="是/否" if t == V.BOOL else f"{t} 的取值",
            found="something else",
            found_zh="其他",
            hint="",
            hint_zh="",
        )
        return None

    def code_list(self, d: n.CodeList, origin: str, in_policy: bool) -> None:
        name = d.name.value
        if name not in self.lists:
            if in_policy:
                self._cannot_extend(
                    d.name,
                    "no code list has this name (a policy extends a code list; a new one is "
                    "declared in a vocabulary file the policy imports)",
                    "没有这个代码目录(政策只能扩展已有代码目录;新的代码目录请在词表文件中声明并引用)",
                    self.lists,
                )
                return
            self.lists[name] = (d.label, {})
        codes = self.lists[name][1]
        for item in d.items:
            code = item.code.value
            key = ("list", name, code)
            if code in codes:
                if (
                    codes[code] == CodeEntry(item.label, item.pooled)
                    and self._origin.get(key) != origin
                ):
                    continue
                self.emit(
                    "N114",
                    item.code.span,
                    code=code,
                    enum=name,
                    value=codes[code].label or code,
                    implies="",
                )
                continue
            codes[code] = CodeEntry(item.label, item.pooled)
            self._origin[key] = origin


def _implies_text(implies: Iterable[tuple[str, Any]]) -> str:
    if not implies:
        return ""
    parts = [f"{f} = {'true' if v is True else 'false' if v is False else v}" for f, v in implies]
    return " with " + ", ".join(parts)


def merge(
    base: Vocabulary, decls: Iterable[n.Node], origin: str, in_policy: bool
) -> tuple[Vocabulary, list[Diagnostic]]:
    """``base`` with ``decls`` applied, and the problems found."""
    m = Merger(base)
    for d in decls:
        m.apply(d, origin, in_policy)
    return m.freeze(), m.diags


# ---- the shipped vocabularies -----------------------------------------------------------------


def shipped_text(name: str) -> str:
    """The text of a shipped vocabulary (``builtin`` or ``national``), from the package."""
    return (
        resources.files("policylang")
        .joinpath("vocabularies", f"{name}.pol")
        .read_text(encoding="utf-8")
    )


def shipped_path(name: str) -> Path:
    return Path(__file__).resolve().parent / "vocabularies" / f"{name}.pol"


@functools.lru_cache(maxsize=None)
def shipped(name: str = "national") -> Vocabulary:
    """A shipped vocabulary merged onto the ones before it: ``builtin`` alone, or
    ``national`` (builtin + national: the vocabulary every policy starts from)."""
    from .parser import parse

    if name not in SHIPPED:
        raise KeyError(name)
    base = EMPTY if name == SHIPPED[0] else shipped(SHIPPED[SHIPPED.index(name) - 1])
    root, diags = parse(shipped_text(name), f"<policylang vocabulary {name}>", canonicalise=False)
    if root is None or not isinstance(root, n.Vocabulary) or diags:
        raise RuntimeError(
            f"the shipped vocabulary {name} does not parse: {[d.message() for d in diags]}"
        )
    vocab, problems = merge(base, root.decls, name, in_policy=False)
    if problems:  # pragma: no cover - the package's own data; tests keep it clean
        raise RuntimeError(
            f"the shipped vocabulary {name} has errors: {[d.message() for d in problems]}"
        )
    return vocab


def base_for(path: str | None) -> Vocabulary:
    """The vocabulary a vocabulary file is merged onto when it is checked: nothing under
    the built-in file, the built-in one under the national file, both under any other."""
    if path is not None:
        try:
            real = Path(path).resolve()
        except OSError:
            real = None
        for i, name in enumerate(SHIPPED):
            if real == shipped_path(name):
                return EMPTY if i == 0 else shipped(SHIPPED[i - 1])
    return shipped()
