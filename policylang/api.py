"""The public Python API: load and check policies, then evaluate them.

    >>> import policylang
    >>> policy = policylang.load("policies/guiyang-2022.pol")
    >>> [r.hifp_pay for r in policy.settle([{...visit...}])]

The pipeline, one module per stage: ``source`` (text hygiene) -> ``parser``
(Lark -> AST ``nodes``) -> ``resolve`` (implements, scope) -> ``check`` (AST
passes) -> ``compiler`` (lower to ``ir``) -> ``analysis`` (IR passes) ->
``backends.scalar`` (evaluation) -> ``runtime`` (results with traces).
``CompiledPolicy.settle_table`` settles a ``pyarrow.Table`` with ``backends.columnar``
(the ``columnar`` extra: numpy and pyarrow).
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, overload

import attrs

from . import ir
from . import nodes as n
from .analysis import analyze
from .backends import backend
from .check import check
from .compiler import lower
from .diagnostics import Diagnostic, PolicyError, has_errors, sort_diagnostics
from .errors import PolicylangError
from .gcpause import gc_paused
from .inputs import InputError, missing_param, validate_params
from .backends.common import time_order_key
from .ir.demands import demands
from .ir.serial import content_hash, to_json as ir_to_json
from .ledger import (
    Ledger,
    ResettleOutcome,
    SettleOutcome,
    apply as apply_to_ledger,
    resettle as resettle_ledger,
)
from .resolve import SourceError, Unit, Workspace, check_vocabulary, list_policy_files, resolve
from .runtime import CreditResult, MayPayResult, VisitResult

if TYPE_CHECKING:
    from .backends.rows import TableFunction


@attrs.define
class CheckResult:
    file: str
    policy_id: str | None
    diagnostics: list[Diagnostic]
    ir: ir.Policy | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


@gc_paused
def check_unit(unit: Unit, ws: Workspace) -> CheckResult:
    """Run every stage up to the IR and collect all diagnostics of the unit."""
    diags = list(unit.diagnostics)
    if (
        unit.vocabulary is not None
    ):  # a vocabulary file: its declarations, on the vocabularies before it
        return CheckResult(unit.file, None, sort_diagnostics(diags + check_vocabulary(unit)))
    if unit.policy is None:
        return CheckResult(unit.file, None, sort_diagnostics(diags))
    try:
        return _check_unit(unit, ws, diags)
    except RecursionError:
        diags.append(Diagnostic("P005", unit.policy.span, {}))
        return CheckResult(unit.file, unit.policy.name.value, sort_diagnostics(diags))


def _check_unit(unit: Unit, ws: Workspace, diags: list) -> CheckResult:
    # Another file with this policy's id (an old copy beside it) does not matter here: the
    # file named is the one checked.  Two files with one id are an error (N111) only when a
    # policy implements that id, for it is then unclear which is meant.
    policy = unit.policy
    scope, rdiags = resolve(unit, ws)
    assert policy is not None and scope is not None  # only a unit with a policy comes here
    diags += rdiags
    diags += check(scope)
    # The parent's own problems are reported when the parent is checked; here a
    # broken parent only stops lowering.
    parent_broken = False
    s = scope.parent
    while s is not None:
        punit = ws.units.get(s.file)
        perrors = (
            [d for d in check_unit_shallow(punit, ws) if d.severity == "error"] if punit else []
        )
        if perrors:
            parent_broken = True
            impl = policy.first(n.ImplementsDecl)
            diags.append(
                Diagnostic(
                    "N108",
                    impl.span if impl else policy.span,
                    {"name": s.id, "count": len(perrors), "file": s.file},
                )
            )
            break
        s = s.parent
    policy_ir = None
    if not has_errors(diags) and not parent_broken and not rdiags:
        policy_ir = lower(scope)
        own = {d.kind for d in policy.decls if isinstance(d, n.Section)}
        diags += analyze(policy_ir, own)
    diags = sort_diagnostics(diags)
    return CheckResult(
        unit.file, policy.name.value, diags, policy_ir if not has_errors(diags) else None
    )


def check_unit_shallow(unit: Unit, ws: Workspace) -> list[Diagnostic]:
    if unit.policy is None:
        return unit.diagnostics
    scope, rdiags = resolve(unit, ws)
    return [*unit.diagnostics, *rdiags, *(check(scope) if scope is not None else [])]


def policy_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and the ``*.pol`` regular files in the folders named and their
    subfolders (symbolic links inside a folder are not followed; see ``list_policy_files``)."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(list_policy_files(p, recursive=True))
        else:
            out.append(p)
    return out


def add_paths(ws: Workspace, paths: Iterable[str | Path]) -> list[Unit]:
    """Add the files named and the ``.pol`` files of the folders named.  A file named that
    cannot be read raises ``SourceError``; one found in a folder is skipped, and listed in
    ``Workspace.skipped``."""
    units = []
    for p in paths:
        named = not Path(p).is_dir()
        for f in policy_files([p]):
            try:
                units.append(ws.add_file(f))
            except SourceError as e:
                if named:
                    raise
                ws.skipped.append((str(f), e.reason))
    return units


def check_paths(paths: Iterable[str | Path]) -> tuple[list[CheckResult], Workspace]:
    """Check the files named and the ``.pol`` files of the folders named (see ``add_paths``)."""
    ws = Workspace()
    units = add_paths(ws, paths)
    return [check_unit(u, ws) for u in units], ws


class CompiledPolicy:
    """A checked policy, compiled for the scalar backend (and, for ``settle_table``, the
    columnar one)."""

    @gc_paused
    def __init__(self, policy: ir.Policy, engine: str = "scalar"):
        self.ir = policy
        self._hash: str | None = None
        cls = backend(engine)
        self._eval = cls(policy)
        self._fast = cls(policy, tracing=False)
        self._tables: dict[str, TableFunction] | None = (
            None  # table engines by name, built on first use
        )
        self._demanded: dict[str, tuple[str, ...]] = {}  # program -> the parameters it reads

    def _evaluator(self, trace: bool) -> Any:
        return self._eval if trace else self._fast

    @property
    def id(self) -> str:
        return self.ir.id

    @property
    def hash(self) -> str:
        """The content hash of the IR (``sha256:…``): unchanged by layout, keyword language
        or the file's place; changed by any change of meaning."""
        if self._hash is None:
            self._hash = content_hash(self.ir)
        return self._hash

    def ir_json(self) -> str:
        """The IR as JSON (``policylang compile POLICY --emit ir``)."""
        return ir_to_json(self.ir)

    def _params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        return validate_params(params or {}, self.ir, source="params")

    @overload
    def settle(
        self,
        visits: list[dict],
        params: dict[str, Any] | None = None,
        trace: bool = True,
        ledger: None = None,
    ) -> list[VisitResult]: ...

    @overload
    def settle(
        self,
        visits: list[dict],
        params: dict[str, Any] | None = None,
        trace: bool = True,
        *,
        ledger: Ledger,
    ) -> SettleOutcome: ...

    def settle(
        self,
        visits: list[dict],
        params: dict[str, Any] | None = None,
        trace: bool = True,
        ledger: Ledger | None = None,
    ) -> list[VisitResult] | SettleOutcome:
        """Settle visits (any persons, any order); one result per visit, in input order.
        ``trace=False`` leaves out the explanation, for speed over many claims.

        With ``ledger`` (see ``new_ledger`` / ``read_ledger``), the visits continue from what
        the ledger records, records may be reversals (``{"op": "reverse", ...}``), and the
        return value is a ``SettleOutcome`` with ``.results`` and ``.ledger`` (the ledger
        after them; the one passed in is unchanged)."""
        values = self._params(params)
        self._need_params("settle", values, visits, ledger)
        if ledger is None and not _has_ops(visits):
            return self._evaluator(trace).settle(visits, values)
        outcome = apply_to_ledger(
            self, visits, values, trace, ledger if ledger is not None else self.new_ledger()
        )
        return outcome if ledger is not None else outcome.results

    def new_ledger(self) -> Ledger:
        """An empty ledger for this policy."""
        return Ledger.new(self)

    def read_ledger(self, path: str | Path) -> Ledger:
        """A ledger file written by ``Ledger.write`` (or ``settle --ledger-out``)."""
        return Ledger.read(str(path), self)

    def resettle(
        self,
        ledger: Ledger,
        corrections: list[dict] | None = None,
        params: dict[str, Any] | None = None,
        trace: bool = True,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
    ) -> ResettleOutcome:
        """Re-settle recorded visits under this policy (an amendment) or with corrected
        inputs (``corrections``, matched by ``setl_id``), or all visits settled from
        ``start`` to ``end`` (dates); returns the adjustments and the updated ledger."""
        values = self._params(params)
        self._need_params("settle", values, corrections or [], ledger)
        return resettle_ledger(
            self, corrections, values, trace, ledger, _date_or_none(start), _date_or_none(end)
        )

    def settle_stream(
        self,
        chunks: Callable[[], Iterable[list[dict]]],
        params: dict[str, Any] | None = None,
        trace: bool = True,
    ) -> Iterator[VisitResult]:
        """Settle visits read in chunks, yielding each result as soon as it is final, in input
        order.  ``chunks()`` is called twice: the first pass validates and settles without
        keeping results, so every problem is reported (``InputError``, record numbers
        counted across chunks) before the first result is yielded; the second yields.
        When the visits are in ``setl_time`` order, memory holds one chunk and the
        amounts used per person; otherwise all visits are settled at once."""
        values = self._params(params)
        self._need_params("settle", values, [])
        problems: list = []
        ordered, offset, last = True, 0, None
        dry = self._fast.new_state()
        any_balance = False
        for chunk in chunks():
            chunk = list(chunk)
            any_balance = any_balance or _any_balance(chunk)
            try:
                results = self._fast.settle(chunk, values, dry)
            except InputError as e:
                problems += [
                    attrs.evolve(p, record=p.record + offset) if p.record is not None else p
                    for p in e.problems
                ]
                results = []
            for r in results:
                key = time_order_key(r.setl_time)
                ordered = ordered and (last is None or key >= last)
                last = key
            offset += len(chunk)
        if problems:
            raise InputError(problems)
        self._need_params("settle", values, [{"acct_balc": 1}] if any_balance else [])
        engine = self._evaluator(trace)
        if ordered:
            state = engine.new_state()
            for chunk in chunks():
                yield from engine.settle(list(chunk), values, state)
        else:
            yield from engine.settle([v for chunk in chunks() for v in chunk], values)

    def settle_table(
        self,
        table: Any,
        params: dict[str, Any] | None = None,
        messages: bool = False,
        engine: str = "columnar",
    ) -> Any:
        """Settle a ``pyarrow.Table`` of visits with the columnar backend (or the backend named
        ``engine``: one with a table path, ``duckdb``, or any other through its ``settle`` over
        the rows); a ``pyarrow.Table`` of results, one row per visit in input row order.

        Input columns are the JSON contract's fields (docs/json-contract.md) and the policy's
        declared inputs: ``setl_time`` as a timestamp (no time zone, whole seconds), a date, or
        text as in JSON; money as decimal128, integers (yuan) or text; enumerations as text
        (Chinese aliases accepted); ``psn_no`` and the other text fields as text (trimmed) or
        integers; bools as bool.  Absent optional columns and nulls take the field's default.
        The table is validated like the JSON path -- types, enumerations, non-negative
        amounts with at most two decimals and 15 integer digits, the self-paid parts not
        above the total -- and every problem is raised as ``InputError`` naming the record
        (row + 1) and the field; a float column of amounts is refused, never rounded.

        Output columns: ``row`` (the input row, from 0), ``psn_no``, ``setl_time`` (a typed
        column as given; text normalised as JSON echoes it), the money fields as decimal128(18, 2),
        each declared fund's (``hifob_pay``...) after ``hifp_pay`` on every engine,
        ``pool_prop_selfpay`` as decimal128(5, 4) or null, ``acct_mulaid_pay`` (0.00),
        ``balc`` (null while no balance is known), ``reason`` (null when the fund paid), then
        the audit fields as ``settle`` gives them: ``setl_id``, ``mdtrt_id``, ``op``, ``seq``,
        ``policy``, ``ir_hash``.  There is no trace; ``message`` is added, computed from the
        reason and the amounts, only with ``messages=True`` (it is per-row Python formatting).
        Numbers equal ``settle``'s exactly: same order of execution, same integer rounding."""
        values = self._params(params)
        self._need_params("settle", values, [{"acct_balc": 1}] if _table_has_balance(table) else [])
        settle = self.table_engine(engine)
        # a backend's table path takes (table, params); ``messages`` only when asked for
        return settle(table, values, messages=True) if messages else settle(table, values)

    def table_engine(self, name: str = "columnar") -> TableFunction:
        """The function ``(table, typed params, messages=False) -> results`` of the backend
        ``name`` (``backends.BACKENDS``), built once: its ``settle_table`` when it has one,
        else its ``settle`` over the table's rows (``backends.rows``).  ``BackendUnavailable``
        says what to install; ``NotSupported`` names what it cannot run."""
        if self._tables is None:
            self._tables = {}
        got = self._tables.get(name)
        if got is None:
            from .backends.rows import table_function

            got = self._tables[name] = table_function(name, self.ir)
        return got

    def credit(
        self, persons: list[dict], params: dict[str, Any] | None = None, trace: bool = True
    ) -> list[CreditResult]:
        """Personal-account credit per person; ``credit`` is None where no rule applies."""
        values = self._params(params)
        self._need_params("credit", values)
        return self._evaluator(trace).credit(persons, values)

    def may_pay(
        self, requests: list[dict], params: dict[str, Any] | None = None, trace: bool = True
    ) -> list[MayPayResult]:
        """Whether the personal account may pay each request, with the reason and clause."""
        values = self._params(params)
        self._need_params("may_pay", values)
        return self._evaluator(trace).may_pay(requests, values)

    def _need_params(
        self,
        kind: str,
        values: dict,
        visits: object = None,
        ledger: Ledger | None = None,
    ) -> None:
        """Every parameter the program reads must be given, before anything is evaluated.
        Settling consults the account-use rules only for a visit whose balance is known."""
        wanted = list(self._params_of(kind))
        if kind == "settle" and (_any_balance(visits) or (ledger is not None and ledger.balances)):
            wanted += self._params_of("may_pay")
        missing = [name for name in dict.fromkeys(wanted) if values.get(name) is None]
        if missing:  # every one the program needs, at once
            raise InputError([p for name in missing for p in missing_param(name, self.ir).problems])

    def _params_of(self, kind: str) -> tuple[str, ...]:
        """Walking the program costs milliseconds: once per program, not once per call (a
        live settlement system calls settle for every visit)."""
        found = self._demanded.get(kind)
        if found is None:
            found = self._demanded[kind] = tuple(demands(self.ir.programs[kind]).params)
        return found


def _has_ops(visits: Any) -> bool:
    try:
        return any(isinstance(v, dict) and "op" in v for v in visits)
    except TypeError:
        return False


def _date_or_none(value: object) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    from .inputs import parse_date

    return parse_date(str(value))


def _any_balance(visits: Any) -> bool:
    try:
        return any(isinstance(v, dict) and v.get("acct_balc") is not None for v in visits)
    except TypeError:  # not iterable: validation reports it
        return False


def _table_has_balance(table: Any) -> bool:
    names = getattr(table, "column_names", ())
    if "acct_balc" not in names:
        return False
    column = table.column("acct_balc")
    return column.null_count < len(column)


def _compile(unit: Unit, ws: Workspace) -> CompiledPolicy:
    result = check_unit(unit, ws)
    for file, reason in ws.skipped:
        warnings.warn(f"{file}: skipped: {reason}", stacklevel=3)
    if not result.ok:
        raise PolicyError(result.diagnostics, ws.sources)
    if result.ir is None:
        raise NotAPolicy(unit.file)
    return CompiledPolicy(result.ir)


class NotAPolicy(PolicylangError):
    """The file is a vocabulary (enumerations and codes), not a policy: import it from one."""

    def __init__(self, file: str):
        self.file = file
        super().__init__(
            f"{file} holds a vocabulary, not a policy: a policy imports it with "
            f'import vocabulary "{Path(file).name}"'
        )


def load(path: str | Path, search: Iterable[str | Path] = ()) -> CompiledPolicy:
    """Parse, check and compile the policy at ``path``; the policy it implements is
    looked up among the ``.pol`` files in the same folder and in ``search`` (files or
    folders).  Raises ``PolicyError`` carrying every diagnostic when the policy has errors,
    ``SourceError`` when a file named cannot be read; a file beside it that cannot be read
    is skipped with a warning (``warnings.warn``)."""
    ws = Workspace()
    add_paths(ws, search)
    return _compile(ws.add_file(path), ws)


def loads(text: str, file: str = "<string>", search: Iterable[str | Path] = ()) -> CompiledPolicy:
    """Like ``load`` for source text; ``search`` lists policy files or folders for
    ``implements``."""
    ws = Workspace()
    add_paths(ws, search)
    return _compile(ws.add_text(text, file), ws)
