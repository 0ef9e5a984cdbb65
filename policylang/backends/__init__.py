"""Ways to execute an IR program.  Each backend is one module with a class taking
``(ir.Policy, tracing)`` and offering ``settle``, ``credit`` and ``may_pay`` over
validated records; ``BACKENDS`` lists them all, and the differential tests run
every one against ``reference`` (the oracle).  A new backend joins by adding
itself here.

A backend that settles whole tables also offers ``settle_table(table, params)``: a
``pyarrow.Table`` of visits (the JSON contract's field names) in, the result table of
``CompiledPolicy.settle_table`` out (``row``, the contract's fields, the audit fields), in
input row order.  ``policylang simulate --engine NAME`` runs any backend that has it (columnar,
duckdb); others (scalar, reference) are run through their ``settle`` over the rows."""

from __future__ import annotations

import importlib

from .common import BackendUnavailable, NotSupported

__all__ = ["BACKENDS", "backend", "BackendUnavailable", "NotSupported"]

# name -> "module:Class"; imported on first use so that the optional engines stay optional
BACKENDS = {
    "reference": "policylang.backends.reference:Reference",
    "scalar": "policylang.backends.scalar:Scalar",
    "duckdb": "policylang.backends.sql.duckdb:DuckDB",  # pip install 'policylang[sql]'
    "spark": "policylang.backends.sql.spark:Spark",  # pip install 'policylang[spark]'
    # needs numpy and pyarrow (the columnar extra)
    "columnar": "policylang.backends.columnar:Columnar",
}


def backend(name: str) -> type:
    """The backend class.  Importing it needs nothing optional; building one raises
    ``BackendUnavailable`` (saying what to install) when its engine is missing, and
    ``NotSupported`` (naming the step) when it cannot run the policy."""
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)
