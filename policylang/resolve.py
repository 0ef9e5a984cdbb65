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
from .diagnostics import Diagnostic
from .parser import parse


@attrs.define
class Unit:
    file: str
    text: str
    policy: n.Policy | None
    diagnostics: list[Diagnostic]
    on_disk: bool = True  # False for source text handed over directly (``loads``)


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
            policy, diags = parse(text, key)
            self.units[key] = self._by_real[real] = Unit(key, text, policy, diags)
        self._dirs.add(path.parent)
        return self._by_real[real]

    def add_text(self, text: str, file: str = "<string>") -> Unit:
        policy, diags = parse(text, file)
        self.units[file] = Unit(file, text, policy, diags, on_disk=False)
        return self.units[file]

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

    @property
    def id(self) -> str:
        return self.policy.name.value


def suggest(name: str, candidates) -> str | None:
    if not isinstance(name, str) or len(name) > 100:  # no name is that long; difflib would take long to say so
        return None
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
    scope = Scope(policy=policy, file=unit.file, parent=parent_scope)
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
