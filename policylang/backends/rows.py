"""A table entry point for every backend: its ``settle_table`` when it has one (columnar,
duckdb, and any backend that joins ``BACKENDS`` with one), else its ``settle`` over the
table's rows, turned back into the result table ``CompiledPolicy.settle_table`` documents
(for the scalar and reference backends: exact, and slow)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..runtime import MONEY_FIELDS, VisitResult
from . import BACKENDS, BackendUnavailable, backend
from .common import settle_funds

if TYPE_CHECKING:
    import pyarrow as pa

    from .. import ir

# ``(table, typed params, messages=False) -> result table``; a backend's own ``settle_table``
# also takes ``state``
TableFunction = Callable[..., "pa.Table"]


class RowEngine(Protocol):
    """What settling a table row by row needs of a backend (scalar, reference)."""

    policy: ir.Policy

    def settle(self, records: list[dict[str, Any]], params: dict[str, Any]) -> list[VisitResult]:
        """The results of the records, in their order."""
        ...


# what a missing import means for each backend
INSTALL = {
    "columnar": "pip install 'policylang[columnar]'",
    "duckdb": "pip install 'policylang[sql]'",
    "spark": "pip install 'policylang[spark]'",
}


def table_function(name: str, policy: ir.Policy) -> TableFunction:
    """``(table, typed params, messages=False) -> result table`` of the backend ``name``."""
    if name not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        if name in INSTALL:  # a backend of a later release (spark)
            raise BackendUnavailable(
                f"the {name} engine is not in this version of policylang (engines: {known}); "
                f"with a version that has it: {INSTALL[name]}"
            )
        raise BackendUnavailable(f"unknown engine {name!r}: the engines are {known}")
    try:
        cls = backend(name)
    except ImportError as e:
        install = INSTALL.get(name, "its optional dependencies")
        raise BackendUnavailable(
            f"the {name} engine needs {e.name or 'a module that is missing'}: {install}"
        ) from None
    engine = cls(policy, tracing=False)
    table_path: TableFunction | None = getattr(engine, "settle_table", None)
    if table_path is not None:
        return table_path
    return partial(_by_rows, engine)


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A table row as a JSON-contract record: absent where null, times as text."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if v is None:
            continue
        if isinstance(v, dt.datetime):
            v = v.isoformat(sep=" ")
        elif isinstance(v, dt.date):
            v = v.isoformat()
        out[k] = v
    return out


# the result fields after psn_no and setl_time, in the contract's order, with their types
_MONEY = "decimal128(18, 2)"
RESULT_TYPES = {
    **{name: _MONEY for name in MONEY_FIELDS[:3]},
    "pool_prop_selfpay": "decimal128(5, 4)",
    **{name: _MONEY for name in MONEY_FIELDS[3:7]},
    "acct_mulaid_pay": _MONEY,
    MONEY_FIELDS[7]: _MONEY,
    "balc": _MONEY,
    "reason": "string",
}


def result_types(policy: ir.Policy) -> dict[str, str]:
    """``RESULT_TYPES`` for ``policy``: the further funds it declares (``hifob_pay``...) after
    ``hifp_pay``, in the platform's order, as the columnar table gives them."""
    funds = settle_funds(policy.programs["settle"])
    names = list(RESULT_TYPES)
    at = names.index("hifp_pay") + 1
    names[at:at] = funds
    return {name: RESULT_TYPES.get(name, _MONEY) for name in names}


def _by_rows(
    engine: RowEngine, table: pa.Table, params: dict[str, Any], messages: bool = False
) -> pa.Table:
    import pyarrow as pa

    from ..columns import SharedTable, read_table

    # the table is read and checked as the table path reads it (the same messages; a float
    # column of amounts is refused, never rounded); then each row is settled as a record
    _, _, echo = read_table(table, engine.policy)
    if isinstance(table, SharedTable):
        table = table.table
    results = engine.settle([_record(r) for r in table.to_pylist()], params)
    rows = [r.to_json(trace=False) for r in results]

    def column(name: str, t: pa.DataType) -> pa.Array:
        return pa.array([r[name] for r in rows], pa.string()).cast(t)

    out = {
        "row": pa.array(range(len(rows)), pa.int64()),
        "psn_no": column("psn_no", pa.string()),
        "setl_time": echo,
    }
    types = {_MONEY: pa.decimal128(18, 2), "decimal128(5, 4)": pa.decimal128(5, 4)}
    for name, t in result_types(engine.policy).items():
        out[name] = column(name, types.get(t, pa.string()))
    if messages:
        out["message"] = column("message", pa.string())
    for name in ("setl_id", "mdtrt_id", "op"):
        out[name] = column(name, pa.string())
    out["seq"] = pa.array([r["seq"] for r in rows], pa.int64())
    for name in ("policy", "ir_hash"):
        out[name] = column(name, pa.string())
    for name in ("op", "policy", "ir_hash"):  # as the table paths give them
        out[name] = out[name].cast(pa.dictionary(pa.int8(), pa.string()))
    return pa.table(out)
