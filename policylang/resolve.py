"""Resolve: find the policies a policy implements and build its scope.

A ``Workspace`` knows every policy file it was given and the ``.pol`` files beside
them, indexed by policy id, so ``implements shanxi_2022`` finds ``shanxi-2022.pol``.
``resolve`` turns a parsed policy into a ``Scope``: its tiers, parameters, inputs,
settings and the sections in force for it — its own, or inherited from the policy
it implements when it does not state them (a city plan inherits the provincial
rules and overrides a few).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import attrs

from . import nodes as n
from . import vocabulary as VB
from .diagnostics import Diagnostic, Related
from .parser import parse


@attrs.define
class Unit:
    file: str
    text: str
    policy: n.Policy | None
    diagnostics: list[Diagnostic]
    on_disk: bool = True  # False for source text handed over directly (``loads``)
    vocabulary: n.Vocabulary | None = None  # a vocabulary file (then ``policy`` is None)


def _unit(file: str, text: str, on_disk: bool = True) -> Unit:
    root, diags = parse(text, file)
    if isinstance(root, n.Vocabulary):
        return Unit(file, text, None, diags, on_disk, vocabulary=root)
    return Unit(file, text, root, diags, on_disk)


_QUICK_ID = re.compile(r"(?m)^[ \t\ufeff]*(?:policy|政策)[ \t\u3000]+([^\W\d]\w*)")


class Workspace:
    """Policy sources by file and by policy id.

    Files beside the given ones are read only when a policy id is looked up, and
    parsed only when their header names that id, so checking one file in a large
    folder does not parse the whole folder."""

    def __init__(self):
        self.units: dict[str, Unit] = {}
        self._dirs: set[Path] = set()
        self._pending: dict[str, tuple[str, str | None]] = {}  # path -> (text, id from the header)
        self._by_real: dict[str, Unit] = {}  # resolved path -> unit

    def add_file(self, path: str | Path) -> Unit:
        """One file, however it is spelt (relative, absolute, via a link): the first
        spelling given is the one diagnostics show."""
        path = Path(path)
        real = str(path.resolve())
        if real not in self._by_real:
            key = str(path)
            pending = self._pending.pop(key, None)
            text = pending[0] if pending else _read(path)
            self.units[key] = self._by_real[real] = _unit(key, text)
        self._dirs.add(path.parent)
        return self._by_real[real]

    def add_text(self, text: str, file: str = "<string>") -> Unit:
        self.units[file] = _unit(file, text, on_disk=False)
        return self.units[file]

    def vocabulary_file(self, path: Path) -> Unit | None:
        """The unit of a vocabulary file a policy imports (None when there is no such file)."""
        try:
            if not path.is_file():
                return None
        except OSError:
            return None
        return self.add_file_quietly(path)

    def add_file_quietly(self, path: Path) -> Unit:
        """Like ``add_file``, without making the file's folder one where parents are looked for."""
        real = str(path.resolve())
        if real not in self._by_real:
            key = str(path)
            pending = self._pending.pop(key, None)
            text = pending[0] if pending else _read(path)
            self.units[key] = self._by_real[real] = _unit(key, text)
        return self._by_real[real]

    def _scan_dirs(self):
        known = {Path(k).resolve() for k in [*self._by_real, *self._pending]}
        for d in list(self._dirs):
            for p in sorted(d.glob("*.pol")):
                if p.resolve() not in known:
                    text = _read(p)
                    m = _QUICK_ID.search(text)
                    self._pending[str(p)] = (text, m.group(1) if m else None)

    def with_id(self, policy_id: str) -> list[Unit]:
        """Every known file that declares ``policy_id`` (more than one is an error)."""
        self._scan_dirs()
        for key, (_, quick) in list(self._pending.items()):
            if quick in (policy_id, None):
                self.add_file(key)
        return [u for u in self.units.values()
                if u.policy is not None and u.policy.name.value == policy_id and u.on_disk]

    def known_ids(self) -> list[str]:
        self._scan_dirs()
        ids = {u.policy.name.value for u in self.units.values() if u.policy is not None}
        ids |= {q for _, q in self._pending.values() if q}
        return sorted(ids)

    @property
    def sources(self) -> dict[str, str]:
        return {u.file: u.text for u in self.units.values()}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return path.read_bytes().decode("utf-8", errors="replace")


@attrs.define
class Scope:
    policy: n.Policy
    file: str
    parent: "Scope | None" = None
    tiers: dict[str, n.TierDecl] = attrs.Factory(dict)
    params: dict[str, n.ParamDecl] = attrs.Factory(dict)
    inputs: dict[str, n.InputDecl] = attrs.Factory(dict)
    settings: dict[str, n.SettingDecl] = attrs.Factory(dict)
    rounding: n.RoundingDecl | None = None
    sections: dict[str, tuple[n.Section, "Scope"]] = attrs.Factory(dict)
    # the enumerations and code lists in force: the shipped vocabularies, the parent's,
    # the imported ones and the policy's own declarations
    vocab: VB.Vocabulary = attrs.field(factory=VB.shipped)

    @property
    def id(self) -> str:
        return self.policy.name.value


def suggest(name: str, candidates) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def resolve(unit: Unit, ws: Workspace, _stack: tuple[str, ...] = ()) -> tuple[Scope | None, list[Diagnostic]]:
    """Build the scope of ``unit``'s policy, loading the policies it implements."""
    policy = unit.policy
    if policy is None:
        return None, []
    diags: list[Diagnostic] = []
    parent_scope = None
    impl = policy.first(n.ImplementsDecl)
    if impl is not None:
        pid = impl.parent.value
        if pid in _stack or pid == policy.name.value:
            cycle = " -> ".join((*_stack, policy.name.value, pid))
            diags.append(Diagnostic("N104", impl.span, {"cycle": cycle}))
        else:
            candidates = ws.with_id(pid)
            parent_unit = candidates[0] if len(candidates) == 1 else None
            if len(candidates) > 1:
                diags.append(Diagnostic("N111", impl.parent.span, {
                    "name": pid, "other": " and ".join(u.file for u in candidates)}))
            elif parent_unit is None:
                s = suggest(pid, [i for i in ws.known_ids() if i != policy.name.value])
                diags.append(Diagnostic("N103", impl.parent.span, {
                    "name": pid,
                    "suggestion": f"; did you mean {s!r}?" if s else "",
                    "suggestion_zh": f";是否应为 {s!r}?" if s else ""}))
            else:
                parent_scope, pdiags = resolve(parent_unit, ws, (*_stack, policy.name.value))
                for d in pdiags:
                    if d.code == "N104":  # a circle through the parent runs through this policy too
                        diags.append(Diagnostic("N104", impl.span, d.args))
                        parent_scope = None
    vocab, vdiags = vocabulary_of(policy, unit.file, ws, parent_scope.vocab if parent_scope else VB.shipped())
    diags += vdiags
    # aliases the parser could not know (imported, inherited) are read as their values too
    from .vocab import canonical

    policy = n.replace_names(policy, {a: v for a, v in vocab.aliases().items() if canonical(a) != v})
    scope = Scope(policy=policy, file=unit.file, parent=parent_scope, vocab=vocab)
    if parent_scope is not None:
        scope.tiers.update(parent_scope.tiers)
        scope.params.update(parent_scope.params)
        scope.inputs.update(parent_scope.inputs)
        scope.settings.update(parent_scope.settings)
        scope.rounding = parent_scope.rounding
        scope.sections.update(parent_scope.sections)
    own_sections = {}
    own_names: set[tuple[str, str]] = set()
    for d in policy.decls:
        # the first of two declarations of one name is the one used (the second is reported)
        if isinstance(d, (n.TierDecl, n.ParamDecl, n.InputDecl)):
            key = (type(d).__name__, d.name.value)
            if key in own_names:
                continue
            own_names.add(key)
        if isinstance(d, n.TierDecl):
            scope.tiers[d.name.value] = d
        elif isinstance(d, n.ParamDecl):
            scope.params[d.name.value] = d
        elif isinstance(d, n.InputDecl):
            scope.inputs[d.name.value] = d
        elif isinstance(d, n.SettingDecl):
            scope.settings[d.name.value] = d
        elif isinstance(d, n.RoundingDecl):
            scope.rounding = d
        elif isinstance(d, n.Section) and d.kind not in own_sections:
            own_sections[d.kind] = d
            scope.sections[d.kind] = (d, scope)
    return scope, diags


# ---- vocabularies ----------------------------------------------------------------------------

def vocabulary_of(policy: n.Policy, file: str, ws: Workspace, base: VB.Vocabulary
                  ) -> tuple[VB.Vocabulary, list[Diagnostic]]:
    """``base`` (the shipped vocabularies, or the parent's) with the policy's imports and
    its own ``enum`` and ``code_list`` declarations applied, in that order."""
    diags: list[Diagnostic] = []
    vocab = base
    for d in policy.decls:
        if isinstance(d, n.ImportDecl):
            vocab = _import(d, file, ws, vocab, diags)
    own = [d for d in policy.decls if isinstance(d, (n.EnumDecl, n.CodeList))]
    if own:
        vocab, problems = VB.merge(vocab, own, file, in_policy=True)
        diags += problems
    return vocab, diags


def _import(d: n.ImportDecl, file: str, ws: Workspace, vocab: VB.Vocabulary, diags: list) -> VB.Vocabulary:
    shipped = ", ".join(VB.SHIPPED)
    if isinstance(d.source, n.Name):
        if d.source.value not in VB.SHIPPED:
            s = suggest(d.source.value, VB.SHIPPED)
            diags.append(Diagnostic("N117", d.source.span, {
                "name": d.source.value, "shipped": shipped,
                "why": "no vocabulary ships with policylang under this name" + (f"; did you mean {s!r}?" if s else ""),
                "why_zh": "policylang 没有这个名称的内置词表" + (f";是否应为 {s!r}?" if s else "")}))
        return vocab  # the shipped vocabularies are always in force
    path = Path(d.source.value)
    if not path.is_absolute():
        path = Path(file).parent / path
    vunit = ws.vocabulary_file(path)
    if vunit is None:
        diags.append(Diagnostic("N117", d.source.span, {
            "name": d.source.value, "shipped": shipped, "why": f"there is no file {path}",
            "why_zh": f"没有文件 {path}"}))
        return vocab
    errors = [x for x in vunit.diagnostics if x.severity == "error"]
    if vunit.vocabulary is None or errors:
        if vunit.policy is not None:
            why, why_zh = f"it holds the policy {vunit.policy.name.value}", f"它是政策 {vunit.policy.name.value}"
            hint = "a vocabulary file starts with: vocabulary NAME \"title\" { enum ... }"
            hint_zh = "词表文件以此开头:词表 名称 \"标题\" { 枚举 ... }"
        else:
            why, why_zh = f"it does not parse ({len(errors)} error(s))", f"无法解析({len(errors)} 个错误)"
            hint, hint_zh = f"run: policylang check {vunit.file}", f"请运行:policylang check {vunit.file}"
        diags.append(Diagnostic("N118", d.source.span, {
            "file": d.source.value, "why": why, "why_zh": why_zh, "hint": hint, "hint_zh": hint_zh}))
        return vocab
    merged, problems = VB.merge(vocab, vunit.vocabulary.decls, vunit.file, in_policy=False)
    if problems:
        diags.append(Diagnostic("N118", d.source.span, {
            "file": d.source.value, "why": f"{len(problems)} of its declarations cannot be applied",
            "why_zh": f"其中 {len(problems)} 项声明无法应用", "hint": f"run: policylang check {vunit.file}",
            "hint_zh": f"请运行:policylang check {vunit.file}"},
            tuple(Related(p.span, p.message(), p.message("zh")) for p in problems)))
    return merged


def check_vocabulary(unit: Unit) -> list[Diagnostic]:
    """The problems of a vocabulary file, merged onto the vocabularies before it (nothing
    for the built-in file, the built-in one for the national file, both for any other)."""
    if unit.vocabulary is None:
        return []
    _, problems = VB.merge(VB.base_for(unit.file if unit.on_disk else None), unit.vocabulary.decls, unit.file,
                           in_policy=False)
    return problems
