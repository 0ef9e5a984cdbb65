"""The DuckDB backend's table path: a ``pyarrow.Table`` of visits in, a table of results out,
as ``CompiledPolicy.settle_table`` gives them (docs/json-contract.md, "Arrow tables").

The table is validated by ``columns.visits_from_table`` (the columnar backend's reader: the
same checks and messages as the JSON path), turned into the visits table the lowering reads
(``base.visit_columns``: money in integer fen, the day and the moment, canonical values), and
settled by the plan, one query or SQL around a sequential step.  Nothing goes through Python
per row: the results come back as Arrow columns and are put in input row order with NumPy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import vocab as V
from ...columns import (
    Col,
    Visits,
    audit_columns,
    decimal_array,
    np,
    pa,
    pc,
    read_table,
)
from ...inputs import InputError, InputProblem
from ...ir.demands import fields_read
from ...runtime import MONEY_FIELDS
from ..common import NotSupported, settle_funds

if TYPE_CHECKING:
    from .duckdb import DuckDB

US_PER_DAY = 86_400_000_000
MONEY = MONEY_FIELDS[1:-1]  # computed by the query (the bill is given; the cash is last)


def settle_table(
    engine: DuckDB,
    table: pa.Table,
    params: dict[str, Any],
    state: dict[str, Any] | None = None,
    messages: bool = False,
) -> pa.Table:
    """Settle ``table`` with ``engine`` (a ``DuckDB`` backend); results in input row order.
    ``table`` may be a ``columns.SharedTable``: read once for every policy that reads it
    alike, the visits table the lowering reads built once too."""
    if state is not None or messages:
        raise NotSupported(
            "the duckdb backend's table path settles one table from zero and builds no "
            "messages: use the columnar backend (state, messages=True) or settle"
        )
    vis, psn_text, echo_time = read_table(table, engine.policy)
    n = vis.n
    balances = _has_balance(vis)
    binds = engine._binds(params, engine._lowering_params(balances))
    registered = _register(engine, vis)
    try:
        got = engine._run(engine.table_plan(balances), binds, registered, None, n, arrow=True)
    finally:
        _unregister(engine, registered)
    at = got.column("row_no").to_numpy()
    _raise_errors(got, at, vis)
    out = {
        "row": pa.array(np.arange(n, dtype=np.int64)),
        "psn_no": psn_text,
        "setl_time": echo_time,
        "medfee_sumamt": decimal_array(vis.cols["medfee_sumamt"].data, 2, 18),
    }
    for name in _result_money(engine):
        out[name] = _result_column(got, name, at, n)
    out["balc"] = _result_column(got, "balc", at, n)
    out["reason"] = _in_row_order(got.column("reason"), at, n)
    out.update(audit_columns(vis.cols, vis.seq(), engine.stamp))
    return pa.table(out)


VIEW = "pl_visits"  # what the plan reads
GIVEN = "pl_visits_given"  # the columns some visit has, under the view (DuckDB)


def _register(engine: DuckDB, vis: Visits) -> list[str]:
    """Make the visits table the plan reads; the names to drop after the run.  On DuckDB a
    view reads the columns some visit has and gives every absent one as a typed NULL (the
    query's optimiser then drops what they decide, and no window carries them)."""
    key = (engine.name, _psn_codes(engine), tuple(engine._base.visit_columns(engine.policy)))
    source, absent = got = vis.memo.get(("source", key)) or _source(engine, vis, key[1])
    vis.memo[("source", key)] = got
    if engine.name != "duckdb":
        engine.con.register(VIEW, source)
        return [VIEW]
    engine.con.register(GIVEN, source)
    columns = ", ".join(
        f'CAST(NULL AS {sql}) AS "{name}"' if name in absent else f'"{name}"'
        for name, _t, sql in key[2]
    )
    engine.con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {VIEW} AS SELECT {columns} FROM {GIVEN}")
    return [GIVEN, VIEW]


def _unregister(engine: DuckDB, registered: list[str]) -> None:
    for name in registered:
        if name == VIEW and engine.name == "duckdb":
            engine.con.execute(f"DROP VIEW IF EXISTS {VIEW}")
        else:
            engine.con.unregister(name)


def _psn_codes(engine: DuckDB) -> bool:
    """Whether the plan may read each person as an integer code (DuckDB partitions and sorts
    them sooner than text): when the program reads ``psn_no`` only as the person, never
    as a value (a condition, a counter kept for each value)."""
    if engine.name != "duckdb":
        return False
    program = engine._settle_program
    return "psn_no" not in fields_read(program) and all(
        c.each != "psn_no" for c in program.counters
    )


def _result_money(engine: DuckDB) -> tuple[str, ...]:
    """The result columns the query computes, in the columnar table's order: the further
    funds the policy declares (``hifob_pay``...) after ``hifp_pay``, before their sum."""
    at = MONEY.index("hifp_pay") + 1
    funds = settle_funds(engine._settle_program)
    return (
        *MONEY[:2],
        "pool_prop_selfpay",
        *MONEY[2:at],
        *funds,
        *MONEY[at:],
        "acct_mulaid_pay",
        "psn_cash_pay",
    )


def _has_balance(vis: Visits) -> bool:
    col = vis.cols.get("acct_balc")
    return col is not None and "acct_balc" not in vis.absent and vis.n > 0


def _in_row_order(arr: pa.Array | pa.ChunkedArray, at: np.ndarray, n: int) -> pa.Array:
    """The query's column put in input row order (``at``: each result row's input row)."""
    back = np.empty(n, dtype=np.int64)
    back[at] = np.arange(n, dtype=np.int64)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr.take(pa.array(back))


def _result_column(got: pa.Table, name: str, at: np.ndarray, n: int) -> pa.Array:
    """A money column (fen) as decimal128(18, 2), the ratio (1/10000) as decimal128(5, 4)."""
    if name == "acct_mulaid_pay":
        return decimal_array(np.zeros(n, dtype=np.int64), 2, 18)
    col = got.column(name)
    null = col.is_null().to_numpy(zero_copy_only=False)
    values = np.zeros(n, dtype=np.int64)
    values[at] = col.fill_null(0).to_numpy().astype(np.int64)
    back = np.zeros(n, dtype=bool)
    back[at] = null
    if name == "pool_prop_selfpay":
        return decimal_array(values, 4, 5, back)
    return decimal_array(values, 2, 18, back)


def _raise_errors(got: pa.Table, at: np.ndarray, vis: Visits) -> None:
    if "err" not in got.column_names or got.column("err").null_count == got.num_rows:
        return
    from .duckdb import _problem

    err = got.column("err").to_pylist()
    names = vis.names
    problems = sorted(
        ((int(i), code) for i, code in zip(at.tolist(), err, strict=True) if code is not None),
    )
    raise InputError([_problem(code, i, names[vis.psn[i]]) for i, code in problems])


# ---- the visits table the lowering reads -------------------------------------------------------


def _source(engine: DuckDB, vis: Visits, psn_codes: bool) -> tuple[pa.Table, frozenset[str]]:
    """The visits as the lowering reads them (``base.visit_columns``), and the names of the
    columns no visit has (left out of the table when the engine reads them as NULL)."""
    n = vis.n
    data: dict[str, pa.Array] = {}
    absent = set()
    for name, t, sql in engine._base.visit_columns(engine.policy):
        if name == "row_no":
            data[name] = pa.array(np.arange(n, dtype=np.int64))
        elif name == "setl_date":  # Visits count days from 1970-01-01, as date32 does
            data[name] = pa.array(vis.day.astype(np.int32), pa.date32())
        elif name == "setl_time":
            # the moment only orders the visits of a day (conditions see the day)
            moment = vis.day * US_PER_DAY + np.maximum(vis.tod, 0)
            data[name] = pa.array(moment, pa.timestamp("us"), mask=vis.tod < 0)
        elif name == "psn_no":
            data[name] = (
                pa.array(vis.psn.astype(np.int64))
                if psn_codes
                else pc.take(pa.array(vis.names, pa.string()), pa.array(vis.psn))
            )
        elif _left_out(engine, vis, name, sql):
            absent.add(name)
        else:
            data[name] = _column(name, t, sql, vis.cols.get(name), n, engine._base.SCALE)
    return pa.table(data), frozenset(absent)


def _left_out(engine: DuckDB, vis: Visits, name: str, sql: str) -> bool:
    """Whether column ``name`` is given to DuckDB as a typed NULL rather than as data: no
    visit has it (a declared number keeps its DECIMAL column, which the lowering scales)."""
    gone = name in vis.absent or name not in vis.cols
    return bool(vis.n) and engine.name == "duckdb" and sql != "HUGEINT" and gone


def _column(
    name: str, t: str, sql: str, col: Col | None, n: int, scales: dict[str, int]
) -> pa.Array:
    """One typed column of the validated visits in the lowering's unit."""
    if col is None:
        return pa.nulls(n, _ARROW[sql])
    null = col.null if isinstance(col.null, np.ndarray) else None
    if col.kind == "cat":
        codes = np.asarray(col.data, dtype=np.int32)
        missing = codes < 0 if null is None else (codes < 0) | null
        return pc.take(pa.array(list(col.cats or ()), pa.string()), pa.array(codes, mask=missing))
    if col.kind == "bool":
        return pa.array(np.asarray(col.data, dtype=bool), pa.bool_(), mask=null)
    if col.kind == "date":
        return pa.array(np.asarray(col.data, dtype=np.int32), pa.date32(), mask=null)
    return _number(name, t, col, null, scales)


def _number(
    name: str, t: str, col: Col, null: np.ndarray | None, scales: dict[str, int]
) -> pa.Array:
    want = scales.get(t, 6)
    data = np.asarray(col.data, dtype=np.int64)
    if col.scale < want:
        data = data * 10 ** (want - col.scale)
    elif col.scale > want:
        step = 10 ** (col.scale - want)
        finer = np.flatnonzero((data % step != 0) & (True if null is None else ~null))
        if len(finer):
            raise InputError(
                [
                    InputProblem(
                        int(i) + 1, name, f"has more than {want} decimals, which SQL does not keep"
                    )
                    for i in finer.tolist()
                ]
            )
        data = data // step
    if t == V.NUMBER:
        return decimal_array(data, 6, 38, null)
    return pa.array(data, pa.int64(), mask=null)


_ARROW = {
    "BIGINT": pa.int64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "HUGEINT": pa.decimal128(38, 6),
}
