"""The benchmark's plain reference stays honest: it must settle like policylang on
generated visits and validate like it on edge cases, or benchmarks/run.py measures
the library against a function that does different work.  No timing here."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal, getcontext, localcontext
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))  # run.py imports its sibling plain.py
    try:
        spec = importlib.util.spec_from_file_location("policylang_benchmark_run", BENCH / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_plain_reference_agrees_with_policylang(bench, guiyang):
    records = bench.make_visits(300, seed=11)
    bench.check_agreement(
        bench.plain.plain_settle(records), guiyang.settle(records, trace=False), records, "untraced"
    )
    bench.check_agreement(
        bench.plain.plain_settle(records), guiyang.settle(records), records, "traced"
    )


def test_plain_reference_validates_like_policylang(bench, guiyang):
    bench.check_edge_cases(guiyang)


def test_generated_visits_reach_every_case(bench):
    reasons = {r["reason"] for r in bench.plain.plain_settle(bench.make_visits(300, seed=11))}
    assert {None, "not_in_force", "not_designated", "within_deductible", "cap_reached"} <= reasons


def test_plain_reference_leaves_the_decimal_context_alone(bench):
    records = bench.make_visits(50, seed=3)
    with localcontext() as ctx:
        ctx.prec = 3  # a caller's odd context must neither change the results nor be changed
        results = bench.plain.plain_settle(records)
        assert getcontext().prec == 3
    assert results == bench.plain.plain_settle(records)
    assert all(isinstance(r["hifp_pay"], Decimal) for r in results)


def test_a_difference_stops_the_benchmark(bench, guiyang, monkeypatch):
    records = bench.make_visits(300, seed=11)
    monkeypatch.setattr(bench.plain, "DEDUCTIBLE", Decimal("100.00"))
    with pytest.raises(
        bench.Disagreement, match=r"disagree on record \d+ \(fields: .*act_pay_dedc"
    ):
        bench.check_agreement(
            bench.plain.plain_settle(records),
            guiyang.settle(records, trace=False),
            records,
            "untraced",
        )


def test_the_report_runs(bench, capsys):
    assert (
        bench.main(["--visits", "200", "--repeat", "1", "--no-memory", "--columnar-visits", "3000"])
        == 0
    )
    out = capsys.readouterr().out
    assert "plain reference" in out and "(target <= 1.2x)" in out and "(target <= 3x)" in out
    if bench._columnar_available() is None:
        assert "hand-tuned NumPy reference" in out and "(target <= 1.3x)" in out
    else:  # without numpy and pyarrow the section says what to install
        assert "columnar: skipped" in out and "pip install 'policylang[columnar]'" in out


def test_the_sql_section_checks_and_reports(bench, capsys):
    """The hand-written DuckDB query agrees with the generated one and with policylang before
    anything is timed (benchmarks/plain_sql.py), and the report runs."""
    pytest.importorskip(
        "duckdb", reason="the SQL section needs DuckDB: pip install 'policylang[sql]'"
    )
    pytest.importorskip(
        "sqlglot", reason="the SQL section needs sqlglot: pip install 'policylang[sql]'"
    )
    assert bench.main(["--sql", "--sql-visits", "20000", "--repeat", "1", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "every result column of every visit" in out and "(target <= 1.5x)" in out


def test_a_difference_stops_the_sql_section(bench, monkeypatch):
    pytest.importorskip(
        "duckdb", reason="the SQL section needs DuckDB: pip install 'policylang[sql]'"
    )
    import plain_sql  # on the path while the bench fixture is

    con = bench._sql_setup(5000, 7)
    monkeypatch.setattr(
        plain_sql, "HAND_SQL", plain_sql.HAND_SQL.replace("LEAST(15000", "LEAST(10000")
    )
    with pytest.raises(bench.Disagreement, match="generated and the hand-written query disagree"):
        bench.sql_check(con)


# ---- the columnar comparison ----------------------------------------------------------------


@pytest.fixture(scope="module")
def numpy_bench(bench):
    pytest.importorskip(
        "pyarrow", reason="the columnar comparison needs pip install 'policylang[columnar]'"
    )
    sys.path.insert(0, str(BENCH))
    try:
        import plain_numpy
    finally:
        sys.path.remove(str(BENCH))
    return plain_numpy


def test_numpy_reference_agrees_with_settle_table_and_settle(bench, numpy_bench, guiyang):
    table = numpy_bench.make_table(4000, seed=11)
    bench.check_columnar_agreement(numpy_bench.numpy_settle(table), guiyang.settle_table(table))
    assert bench.check_columnar_against_settle(guiyang, table, persons=60) > 500


def test_the_generated_table_reaches_every_case(numpy_bench):
    reasons = set(
        numpy_bench.numpy_settle(numpy_bench.make_table(4000, seed=11)).column("reason").to_pylist()
    )
    assert {None, "not_in_force", "not_designated", "within_deductible", "cap_reached"} <= reasons


def test_a_columnar_difference_stops_the_benchmark(bench, numpy_bench, guiyang, monkeypatch):
    table = numpy_bench.make_table(4000, seed=11)
    monkeypatch.setattr(numpy_bench, "CAP", 190_000)
    with pytest.raises(
        bench.Disagreement, match=r"disagree on row \d+ \(column (hifp_pay|act_pay_dedc)"
    ):
        bench.check_columnar_agreement(numpy_bench.numpy_settle(table), guiyang.settle_table(table))


def test_the_numpy_reference_validates(numpy_bench):
    table = numpy_bench.make_table(50, seed=3)
    bad = table.set_column(
        table.column_names.index("hosp_lv"), "hosp_lv", pa_array(["level9"] * 50)
    )
    with pytest.raises(numpy_bench.PlainInputError):
        numpy_bench.numpy_settle(bad)


def pa_array(values):
    import pyarrow as pa

    return pa.array(values)
