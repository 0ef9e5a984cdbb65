"""Resolve: find the policies a policy implements and build its scope.

A ``Workspace`` knows every policy file it was given and the ``.pol`` files beside
them, indexed by policy id, so ``implements shanxi_2022`` finds ``shanxi-2022.pol``.
Files beside are read only to resolve ``implements``, and only regular files that
are no symbolic links (``list_policy_files``); a file named to a command is read
however it is reached, but it too must be a regular file.  Policy files are UTF-8:
a byte that is not is reported (P015) at its line and column.
``resolve`` turns a parsed policy into a ``Scope``: its tiers, parameters, inputs,
settings and the sections in force for it — its own, or inherited from the policy
it implements when it does not state them (a city plan inherits the provincial
rules and overrides a few).
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable

import attrs

from .errors import PolicylangError
from .gcpause import gc_paused
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
    quick_id: str | None = None  # the id in the header of a file that is not UTF-8 (not parsed)
    vocabulary: n.Vocabulary | None = None  # a vocabulary file (then ``policy`` is None)


@gc_paused
def _unit(file: str, text: str, on_disk: bool = True) -> Unit:
    root, diags = parse(text, file)
    if isinstance(root, n.Vocabulary):
        return Unit(file, text, None, diags, on_disk, vocabulary=root)
    return Unit(file, text, root, diags, on_disk)


def _unit_of_bytes(file: str, raw: bytes) -> Unit:
    """The unit of a file's bytes: parsed when they are UTF-8; otherwise not parsed, with
    P015, and the id in its header kept, to say why it cannot be a parent."""
    text, diags = decode(raw, file)
    if diags:
        m = _QUICK_ID.search(text)
        return Unit(file, text, None, diags, quick_id=m.group(1) if m else None)
    return _unit(file, text)


_QUICK_ID = re.compile(r"(?m)^[ \t\ufeff]*(?:policy|政策)[ \t\u3000]+([^\W\d]\w*)")


class SourceError(PolicylangError):
    """A policy file named to a command cannot be read (missing, not a regular file,
    not permitted); the message names the file and the reason."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


_KINDS = [
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
]


class NotRegular(OSError):
    def __init__(self, mode: int):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        super().__init__(f"not a regular file ({kind})")
        self.strerror = f"not a regular file ({kind})"


def read_bytes(path: Path, follow: bool = True) -> bytes:
    """The bytes of a regular file; OSError otherwise.  Checked with stat before it is
    opened (opening a FIFO would wait for a writer), and again once open (the file may
    have been replaced in between: O_NONBLOCK keeps even that open from waiting).
    ``follow=False``: a symbolic link is refused, not followed."""
    st = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(st.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(mode)
        return f.read()


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def decode(raw: bytes, file: str) -> tuple[str, list[Diagnostic]]:
    """UTF-8 text, or (when a byte is not UTF-8) the text with U+FFFD for the bad bytes,
    only to show the line, and P015 at the first bad byte."""
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as e:
        start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        col = len(raw[start : e.start].decode("utf-8", errors="replace")) + 1
        span = n.Span(file, line, col, line, col + 1, e.start, e.start + 1)
        # Shown only as the line under the diagnostic: what is not ASCII there may be
        # another encoding's bytes read as UTF-8 (mojibake), so it shows as U+FFFD.
        text = "".join(
            c if c.isascii() else "\ufffd" for c in raw.decode("utf-8", errors="replace")
        )
        return text, [Diagnostic("P015", span, {"byte": f"{raw[e.start]:02X}"})]


def list_policy_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The ``*.pol`` regular files of ``folder`` (and of its subfolders when ``recursive``),
    sorted.  Symbolic links are not followed, to files or to folders, dangling or not; a
    FIFO, device or folder named ``x.pol`` is skipped without being opened."""
    out: list[Path] = []
    pending = [folder]
    while pending:
        d = pending.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        pending.append(Path(entry.path))
                elif entry.name.endswith(".pol") and entry.is_file(follow_symlinks=False):
                    out.append(Path(entry.path))
            except OSError:
                continue
    return sorted(out)


class Workspace:
    """Policy sources by file and by policy id.

    Files beside the given ones are read only when a policy id is looked up, and
    parsed only when their header names that id, so checking one file in a large
    folder does not parse the whole folder.  One that cannot be read is skipped and
    listed in ``skipped`` as (file, reason)."""

    def __init__(self):
        self.units: dict[str, Unit] = {}
        self._dirs: set[Path] = set()
        self._pending: dict[
            str, tuple[bytes, str | None]
        ] = {}  # path -> (bytes, id from the header)
        self._by_real: dict[str, Unit] = {}  # resolved path -> unit
        self.skipped: list[tuple[str, str]] = []

    def add_file(self, path: str | Path) -> Unit:
        """One file, however it is spelt (relative, absolute, via a link): the first
        spelling given is the one diagnostics show.  ``SourceError`` if it cannot be read."""
        path = Path(path)
        real = str(path.resolve())
        if real not in self._by_real:
            key = str(path)
            try:
                raw = self._bytes(path)
            except OSError as e:
                raise SourceError(f"{key}: {_reason(e)}", _reason(e)) from None
            self.units[key] = self._by_real[real] = _unit_of_bytes(key, raw)
        self._dirs.add(path.parent)
        return self._by_real[real]

    def _bytes(self, path: Path) -> bytes:
        """The file's bytes: those already read while listing its folder, or read now (a
        regular file only; OSError otherwise)."""
        pending = self._pending.pop(str(path), None)
        return pending[0] if pending is not None else read_bytes(path)

    def add_text(self, text: str, file: str = "<string>") -> Unit:
        self.units[file] = _unit(file, text, on_disk=False)
        return self.units[file]

    def vocabulary_file(self, path: Path) -> tuple[Unit | None, str]:
        """The unit of a vocabulary file a policy imports, or None and the reason it cannot be
        read (no such file, not a regular file, not permitted).  Read as a file named to a
        command is: however its name reaches it, but only a regular file, and UTF-8 (P015)."""
        real = str(path.resolve())
        if real not in self._by_real:
            key = str(path)
            try:
                raw = self._bytes(path)
            except FileNotFoundError:
                return None, "there is no such file"
            except OSError as e:
                return None, _reason(e)
            # not add_file: the file's folder does not become one where parents are looked for
            self.units[key] = self._by_real[real] = _unit_of_bytes(key, raw)
        return self._by_real[real], ""

    def _scan_dirs(self):
        known = {Path(k).resolve() for k in [*self._by_real, *self._pending]}
        skipped = {f for f, _ in self.skipped}
        for d in list(self._dirs):
            for p in list_policy_files(d):
                if p.resolve() in known or str(p) in skipped:
                    continue
                try:
                    raw = read_bytes(p, follow=False)
                except OSError as e:
                    self.skipped.append((str(p), _reason(e)))
                    skipped.add(str(p))
                    continue
                m = _QUICK_ID.search(raw.decode("utf-8", errors="replace"))
                self._pending[str(p)] = (raw, m.group(1) if m else None)
                known.add(p.resolve())

    def with_id(self, policy_id: str) -> list[Unit]:
        """Every known file that declares ``policy_id`` (more than one is an error)."""
        self._scan_dirs()
        for key, (_, quick) in list(self._pending.items()):
            if quick in (policy_id, None):
                self.add_file(key)
        return [
            u
            for u in self.units.values()
            if u.policy is not None and u.policy.name.value == policy_id and u.on_disk
        ]

    def undecodable_with_id(self, policy_id: str) -> list[Unit]:
        """Files whose header declares ``policy_id`` but which are not UTF-8 (P015)."""
        return [
            u
            for u in self.units.values()
            if u.policy is None and u.quick_id == policy_id and u.on_disk
        ]

    def known_ids(self) -> list[str]:
        self._scan_dirs()
        ids = {u.policy.name.value for u in self.units.values() if u.policy is not None}
        ids |= {q for _, q in self._pending.values() if q}
        return sorted(ids)

    @property
    def sources(self) -> dict[str, str]:
        return {u.file: u.text for u in self.units.values()}


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


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    if (
        not isinstance(name, str) or len(name) > 100
    ):  # no name is that long; difflib would take long to say so
        return None
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def resolve(
    unit: Unit, ws: Workspace, _stack: tuple[str, ...] = ()
) -> tuple[Scope | None, list[Diagnostic]]:
    """Build the scope of ``unit``'s policy, loading the policies it implements."""
    policy = unit.policy
    if policy is None:
        return None, []
    diags: list[Diagnostic] = []
    parent_scope = None
    impl = policy.first(n.ImplementsDecl)
    if impl is not None:
        parent_scope = _parent_scope(policy, impl, ws, _stack, diags)
    vocab, vdiags = vocabulary_of(
        policy, unit.file, ws, parent_scope.vocab if parent_scope else VB.shipped()
    )
    diags += vdiags
    # aliases the parser could not know (imported, inherited) are read as their values too
    from .vocab import canonical

    policy = n.replace_names(
        policy, {a: v for a, v in vocab.aliases().items() if canonical(a) != v}
    )
    scope = Scope(policy=policy, file=unit.file, parent=parent_scope, vocab=vocab)
    if parent_scope is not None:
        _inherit(scope, parent_scope)
    _declare(scope, policy)
    return scope, diags


def _parent_scope(
    policy: n.Policy,
    impl: n.ImplementsDecl,
    ws: Workspace,
    stack: tuple[str, ...],
    diags: list[Diagnostic],
) -> Scope | None:
    """The scope of the policy ``impl`` names, or None (with the problem in ``diags``) when
    it is missing, ambiguous, broken or part of a circle."""
    pid = impl.parent.value
    if pid in stack or pid == policy.name.value:
        cycle = " -> ".join((*stack, policy.name.value, pid))
        diags.append(Diagnostic("N104", impl.span, {"cycle": cycle}))
        return None
    candidates = ws.with_id(pid)
    if len(candidates) != 1:
        diags.append(_missing_parent(policy, impl, ws, candidates))
        return None
    parent_scope, pdiags = resolve(candidates[0], ws, (*stack, policy.name.value))
    for d in pdiags:
        if d.code == "N104":  # a circle through the parent runs through this policy too
            diags.append(Diagnostic("N104", impl.span, d.args))
            parent_scope = None
    return parent_scope


def _missing_parent(
    policy: n.Policy, impl: n.ImplementsDecl, ws: Workspace, candidates: list[Unit]
) -> Diagnostic:
    """Why the parent ``impl`` names is not one loadable policy: two of them (N111), one
    that does not decode (N108), or none (N103, with a suggestion)."""
    pid = impl.parent.value
    if len(candidates) > 1:
        return Diagnostic(
            "N111",
            impl.parent.span,
            {
                "name": pid,
                "other": " and ".join(u.file for u in candidates),
                "other_zh": "、".join(u.file for u in candidates),
            },
        )
    if ws.undecodable_with_id(pid):
        broken = ws.undecodable_with_id(pid)[0]
        return Diagnostic(
            "N108",
            impl.span,
            {"name": pid, "count": len(broken.diagnostics), "file": broken.file},
        )
    s = suggest(pid, [i for i in ws.known_ids() if i != policy.name.value])
    return Diagnostic(
        "N103",
        impl.parent.span,
        {
            "name": pid,
            "suggestion": f"; did you mean {s!r}?" if s else "",
            "suggestion_zh": f";是否应为 {s!r}?" if s else "",
        },
    )


def _inherit(scope: Scope, parent_scope: Scope) -> None:
    """What the parent declared is in force in ``scope`` until the policy declares its own."""
    scope.tiers.update(parent_scope.tiers)
    scope.params.update(parent_scope.params)
    scope.inputs.update(parent_scope.inputs)
    scope.settings.update(parent_scope.settings)
    scope.rounding = parent_scope.rounding
    scope.sections.update(parent_scope.sections)


def _declare_tier(scope: Scope, d: n.TierDecl) -> None:
    scope.tiers[d.name.value] = d


def _declare_param(scope: Scope, d: n.ParamDecl) -> None:
    scope.params[d.name.value] = d


def _declare_input(scope: Scope, d: n.InputDecl) -> None:
    scope.inputs[d.name.value] = d


def _declare_setting(scope: Scope, d: n.SettingDecl) -> None:
    scope.settings[d.name.value] = d


def _declare_rounding(scope: Scope, d: n.RoundingDecl) -> None:
    scope.rounding = d


# how each kind of declaration enters the scope (sections are handled by ``_declare``: only
# the first of a kind counts)
_DECLARE: dict[type, Callable[[Scope, Any], None]] = {
    n.TierDecl: _declare_tier,
    n.ParamDecl: _declare_param,
    n.InputDecl: _declare_input,
    n.SettingDecl: _declare_setting,
    n.RoundingDecl: _declare_rounding,
}


def _declare(scope: Scope, policy: n.Policy) -> None:
    """The policy's own declarations, over what it inherited."""
    own_sections: set[str] = set()
    own_names: set[tuple[str, str]] = set()
    for d in policy.decls:
        # the first of two declarations of one name is the one used (the second is reported)
        if isinstance(d, (n.TierDecl, n.ParamDecl, n.InputDecl)):
            key = (type(d).__name__, d.name.value)
            if key in own_names:
                continue
            own_names.add(key)
        declare = _DECLARE.get(type(d))
        if declare is not None:
            declare(scope, d)
        elif isinstance(d, n.Section) and d.kind not in own_sections:
            own_sections.add(d.kind)
            scope.sections[d.kind] = (d, scope)


# ---- vocabularies ----------------------------------------------------------------------------


def vocabulary_of(
    policy: n.Policy, file: str, ws: Workspace, base: VB.Vocabulary
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


def _import(
    d: n.ImportDecl, file: str, ws: Workspace, vocab: VB.Vocabulary, diags: list
) -> VB.Vocabulary:
    shipped = ", ".join(VB.SHIPPED)
    if isinstance(d.source, n.Name):
        if d.source.value not in VB.SHIPPED:
            s = suggest(d.source.value, VB.SHIPPED)
            diags.append(
                Diagnostic(
                    "N117",
                    d.source.span,
                    {
                        "name": d.source.value,
                        "shipped": shipped,
                        "why": "no vocabulary ships with policylang under this name"
                        + (f"; did you mean {s!r}?" if s else ""),
                        "why_zh": "policylang 没有这个名称的内置词表"
                        + (f";是否应为 {s!r}?" if s else ""),
                    },
                )
            )
        return vocab  # the shipped vocabularies are always in force
    path = Path(d.source.value)
    if not path.is_absolute():
        path = Path(file).parent / path
    vunit, reason = ws.vocabulary_file(path)
    if vunit is None:
        if reason == "there is no such file":
            why, why_zh = f"there is no file {path}", f"没有文件 {path}"
        else:
            why, why_zh = f"{path} cannot be read: {reason}", f"无法读取文件 {path}:{reason}"
        diags.append(
            Diagnostic(
                "N117",
                d.source.span,
                {"name": d.source.value, "shipped": shipped, "why": why, "why_zh": why_zh},
            )
        )
        return vocab
    errors = [x for x in vunit.diagnostics if x.severity == "error"]
    if vunit.vocabulary is None or errors:
        if vunit.policy is not None:
            why, why_zh = (
                f"it holds the policy {vunit.policy.name.value}",
                f"它是政策 {vunit.policy.name.value}",
            )
            hint = 'a vocabulary file starts with: vocabulary NAME "title" { enum ... }'
            hint_zh = '词表文件以此开头:词表 名称 "标题" { 枚举 ... }'
        elif any(x.code == "P015" for x in errors):
            why, why_zh = "it is not UTF-8 text", "它不是 UTF-8 文本"
            hint, hint_zh = f"save {vunit.file} as UTF-8", f"请将 {vunit.file} 另存为 UTF-8 编码"
        else:
            why, why_zh = (
                f"it does not parse ({len(errors)} error(s))",
                f"无法解析({len(errors)} 个错误)",
            )
            hint, hint_zh = (
                f"run: policylang check {vunit.file}",
                f"请运行:policylang check {vunit.file}",
            )
        diags.append(
            Diagnostic(
                "N118",
                d.source.span,
                {
                    "file": d.source.value,
                    "why": why,
                    "why_zh": why_zh,
                    "hint": hint,
                    "hint_zh": hint_zh,
                },
            )
        )
        return vocab
    merged, problems = VB.merge(vocab, vunit.vocabulary.decls, vunit.file, in_policy=False)
    if problems:
        diags.append(
            Diagnostic(
                "N118",
                d.source.span,
                {
                    "file": d.source.value,
                    "why": f"{len(problems)} of its declarations cannot be applied",
                    "why_zh": f"其中 {len(problems)} 项声明无法应用",
                    "hint": f"run: policylang check {vunit.file}",
                    "hint_zh": f"请运行:policylang check {vunit.file}",
                },
                tuple(Related(p.span, p.message(), p.message("zh")) for p in problems),
            )
        )
    return merged


def check_vocabulary(unit: Unit) -> list[Diagnostic]:
    """The problems of a vocabulary file, merged onto the vocabularies before it (nothing
    for the built-in file, the built-in one for the national file, both for any other)."""
    if unit.vocabulary is None:
        return []
    _, problems = VB.merge(
        VB.base_for(unit.file if unit.on_disk else None),
        unit.vocabulary.decls,
        unit.file,
        in_policy=False,
    )
    return problems
