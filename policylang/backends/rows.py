"""A table entry point for every backend: its ``settle_table`` when it has one (columnar,
duckdb, and any backend that joins ``BACKENDS`` with one), else its ``settle`` over the
table's rows, turned back into the result table ``CompiledPolicy.settle_table`` documents
(for the scalar and reference backends: exact, and slow)."""

from __future__ import annotations

import datetime as dt
from functools import partial

from . import BACKENDS, BackendUnavailable, backend

# what a missing import means for each backend
INSTALL = {
    "columnar": "pip install 'policylang[columnar]'",
    "duckdb": "pip install 'policylang[sql]'",
    "spark": "pip install 'policylang[spark]'",
}


def table_function(name: str, policy):
    """``(table, typed params, messages=False) -> result table`` of the backend ``name``."""
    if name not in BACKENDS:
        raise BackendUnavailable(
            f"unknown engine {name!r}: the engines are {', '.join(sorted(BACKENDS))}"
        )
    try:
        cls = backend(name)
    except ImportError as e:
        install = INSTALL.get(name, "its optional dependencies")
        raise BackendUnavailable(
            f"the {name} engine needs {e.name or 'a module that is missing'}: {install}"
        ) from None
    engine = cls(policy, tracing=False)
    table_path = getattr(engine, "settle_table", None)
    if table_path is not None:
        return table_path
    return partial(_by_rows, engine)


def _record(row: dict) -> dict:
    """A table row as a JSON-contract record: absent where null, times as text."""
    out = {}
    for k, v in row.items():
        if v is None:
            continue
        if isinstance(v, dt.datetime):
            v = v.isoformat(sep=" ")
        elif isinstance(v, dt.date):
            v = v.isoformat()
        out[k] = v
    return out


def _by_rows(engine, table, params: dict, messages: bool = False):
    import pyarrow as pa

    from ..columns import visits_from_table

    # the table is read and checked as the table path reads it (the same messages; a float
    # column of amounts is refused, never rounded); then each row is settled as a record
    _, _, echo = visits_from_table(table, engine.policy)
    results = engine.settle([_record(r) for r in table.to_pylist()], params)
    money = pa.decimal128(18, 2)
    rows = [r.to_json(trace=False) for r in results]

    def column(name, t):
        return pa.array([r[name] for r in rows], pa.string()).cast(t)

    out = {
        "row": pa.array(range(len(rows)), pa.int64()),
        "psn_no": column("psn_no", pa.string()),
        "setl_time": echo,
    }
    for name in ("medfee_sumamt", "inscp_scp_amt", "act_pay_dedc"):
        out[name] = column(name, money)
    out["pool_prop_selfpay"] = column("pool_prop_selfpay", pa.decimal128(5, 4))
    for name in (
        "hifp_pay",
        "fund_pay_sumamt",
        "psn_part_amt",
        "acct_pay",
        "acct_mulaid_pay",
        "psn_cash_pay",
        "balc",
    ):
        out[name] = column(name, money)
    out["reason"] = column("reason", pa.string())
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
