"""`policylang synth` and `policylang simulate`: synthetic claims, and a policy (and a reform)
settled over them, partitioned by person, equal to the reference on every visit."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from policylang.cli import main
from policylang.runtime import VisitResult

from .conftest import POLICIES, ROOT
from .test_render import _chromium, screenshot

pa = pytest.importorskip("pyarrow", reason="pip install 'policylang[columnar]'")
pq = pytest.importorskip("pyarrow.parquet")
np = pytest.importorskip("numpy")

GUIYANG = POLICIES / "guiyang-2022.pol"
REFORM = ROOT / "examples" / "reform" / "guiyang-reform.pol"
# every field of a settle result but the time (a typed column in a table), the message and the
# trace: in the contract's order, as VisitResult.to_json writes them
CONTRACT = tuple(
    k
    for k in VisitResult("A", "2023-01-01", (0,) * 8, None, None, None, "").to_json(trace=False)
    if k not in ("setl_time", "message")
)


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def claims(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("claims") / "claims.parquet"
    result = run("synth", "--persons", 400, "--years", 1, "--seed", 11, "-o", path)
    assert result.exit_code == 0, result.output
    return path


def results(folder: Path, label: str = "baseline"):
    table = pq.read_table(folder / label)
    return table.sort_by("row")


# ---- synth ------------------------------------------------------------------------------------


def test_synth_is_deterministic_by_seed(tmp_path):
    from policylang.synth import synth

    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert synth(300, 2, 5, a) == synth(300, 2, 5, b)
    assert pq.read_table(a).equals(pq.read_table(b))
    synth(300, 2, 6, c)
    assert not pq.read_table(a).equals(pq.read_table(c))


def test_synth_distributions_are_the_documented_ones(tmp_path):
    from policylang import synth as S

    path = tmp_path / "c.parquet"
    n = S.synth(20_000, 1, 1, path)
    t = pq.read_table(path)
    assert t.num_rows == n
    persons = t.group_by("psn_no").aggregate([("psn_type", "min"), ("flxempe_flag", "max")])
    share_retired = np.mean(np.array(persons.column("psn_type_min").to_pylist()) == "retiree")
    # persons with no visit are absent: retirees (11 visits a year on average) almost never are
    assert 0.26 < share_retired < 0.33
    assert 0.06 < np.mean(persons.column("flxempe_flag_max").to_numpy()) < 0.10
    # visits per person: the mean of the gamma-Poisson mixture (zeros included)
    mean = S.VISITS_MEAN["active"] * (1 - S.RETIREE_P) + S.VISITS_MEAN["retiree"] * S.RETIREE_P
    assert abs(n / 20_000 - mean) < 0.3
    levels = t.column("hosp_lv").to_pylist()
    for level, p in zip(S.LEVELS, S.LEVEL_P, strict=True):
        assert abs(levels.count(level) / n - p) < 0.02, level
    bills = np.array([float(x) for x in t.column("medfee_sumamt").to_pylist()])
    lv = np.array(levels)
    for level, median in zip(S.LEVELS, S.MEDIAN_YUAN, strict=True):
        assert abs(np.median(bills[lv == level]) / median - 1) < 0.08, level
    assert bills.min() >= 5 and bills.max() <= 30_000
    parts = sum(
        np.array([int(x * 100) for x in t.column(f).to_pylist()])
        for f in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")
    )
    assert (parts <= np.round(bills * 100)).all()
    assert len(set(t.column("setl_id").to_pylist())) == n
    when = t.column("setl_time").to_numpy()
    assert (np.diff(when.astype("int64")) >= 0).all()  # one block: in time order
    assert {w.year for w in t.column("setl_time").to_pylist()[:: max(1, n // 50)]} == {2023}


# ---- simulate equals the reference -----------------------------------------------------------


def _reference(policy_path: Path, table) -> list[dict]:
    import policylang
    from policylang.backends import backend
    from policylang.backends.rows import _record

    policy = policylang.load(policy_path)
    records = [_record(r) for r in table.to_pylist()]
    out = []
    for r in backend("reference")(policy.ir, tracing=False).settle(records, {}):
        j = r.to_json(trace=False)
        out.append({k: j[k] for k in CONTRACT})
    return out


def _rows(table) -> list[dict]:
    out = []
    for row in table.to_pylist():
        r = {}
        for k in CONTRACT:
            v = row[k]
            if isinstance(v, D):
                v = str(v)
            r[k] = v
        if r["pool_prop_selfpay"] is not None:
            r["pool_prop_selfpay"] = _ratio(D(r["pool_prop_selfpay"]))
        out.append(r)
    return out


def _ratio(d: D) -> str:
    from policylang.runtime import ratio

    return ratio(d.normalize())


def test_simulate_equals_the_reference_on_every_visit(claims, tmp_path):
    out = tmp_path / "out"
    result = run("simulate", GUIYANG, claims, "--out", out)
    assert result.exit_code == 0, result.output
    got = results(out)
    table = pq.read_table(claims)
    assert got.column("row").to_pylist() == list(range(table.num_rows))
    assert _rows(got) == _reference(GUIYANG, table)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    fund = sum(got.column("fund_pay_sumamt").to_pylist(), D(0))
    assert D(summary["runs"]["baseline"]["fund"]) == fund
    assert summary["runs"]["baseline"]["within_deductible"] == got.column(
        "reason"
    ).to_pylist().count("within_deductible")
    assert sum(D(v) for v in summary["runs"]["baseline"]["by_month"].values()) == fund
    capped = {
        p
        for p, r in zip(
            got.column("psn_no").to_pylist(), got.column("reason").to_pylist(), strict=True
        )
        if r == "cap_reached"
    }
    assert summary["runs"]["baseline"]["persons_capped"] == len(capped) > 0


def test_reform_difference_is_the_difference_of_the_per_visit_sums(claims, tmp_path):
    out = tmp_path / "out"
    result = run("simulate", GUIYANG, claims, "--reform", REFORM, "--out", out)
    assert result.exit_code == 0, result.output
    base, reform = results(out, "baseline"), results(out, "reform")
    assert _rows(reform) == _reference(REFORM, pq.read_table(claims))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))

    def total(t, month=None):
        rows = zip(
            t.column("fund_pay_sumamt").to_pylist(),
            [str(w)[:7] for w in t.column("setl_time").to_pylist()],
            strict=True,
        )
        return sum((f for f, m in rows if month in (None, m)), D(0))

    diff = summary["difference"]
    assert D(diff["fund"]) == total(reform) - total(base) > 0
    for month, value in diff["by_month"].items():
        assert D(value) == total(reform, month) - total(base, month)
    assert diff["persons_capped"] < 0  # a higher cap: fewer reach it
    assert (
        "Difference" in result.output and "+" + f"{total(reform) - total(base):,}" in result.output
    )


def test_csv_and_parquet_claims_give_the_same_results(tmp_path):
    from policylang.synth import synth

    synth(150, 1, 3, tmp_path / "c.parquet")
    synth(150, 1, 3, tmp_path / "c.csv")
    for name in ("c.parquet", "c.csv"):
        result = run(
            "simulate", GUIYANG, tmp_path / name, "--out", tmp_path / name.replace(".", "-")
        )
        assert result.exit_code == 0, result.output
    a, b = results(tmp_path / "c-parquet"), results(tmp_path / "c-csv")
    assert _rows(a) == _rows(b)
    # the CSV's times are text: echoed as text, the same moments
    assert [str(t) for t in a.column("setl_time").to_pylist()] == b.column("setl_time").to_pylist()


def test_a_folder_of_parquet_files_is_one_input_in_file_name_order(claims, tmp_path):
    table = pq.read_table(claims)
    folder = tmp_path / "claims"
    folder.mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), folder / "part-0.parquet")
    pq.write_table(table.slice(half), folder / "part-1.parquet")
    result = run("simulate", GUIYANG, folder, "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    result = run("simulate", GUIYANG, claims, "--out", tmp_path / "b")
    assert results(tmp_path / "a").equals(results(tmp_path / "b"))


# ---- partitions ---------------------------------------------------------------------------


def test_a_small_memory_limit_partitions_by_person_with_the_same_results(claims, tmp_path):
    whole = run("simulate", GUIYANG, claims, "--reform", REFORM, "--out", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    parts = run(
        "simulate", GUIYANG, claims, "--reform", REFORM, "--out", tmp_path / "parts",
        "--memory-limit", "1M",
    )  # fmt: skip
    assert parts.exit_code == 0, parts.output
    assert len(list((tmp_path / "parts" / "baseline").iterdir())) >= 3
    for label in ("baseline", "reform"):
        assert results(tmp_path / "whole", label).equals(results(tmp_path / "parts", label))
    a = json.loads((tmp_path / "whole" / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "parts" / "summary.json").read_text(encoding="utf-8"))
    assert a["partitions"] == 1 and b["partitions"] >= 3
    del a["partitions"], b["partitions"]
    assert a == b


def test_a_person_is_one_bucket_however_the_id_is_written():
    from policylang.simulate import buckets_of

    ids = pa.array(["A", " A", "A\u3000", "7", "  7 ", "甲", "甲 ", "", None])
    got = buckets_of(ids, 97).tolist()
    assert got[0] == got[1] == got[2] and got[3] == got[4] and got[5] == got[6]
    assert buckets_of(pa.array([7, 12345]), 97).tolist() == [
        got[3],
        buckets_of(pa.array(["12345"]), 97)[0],
    ]
    spread = buckets_of(pa.array([f"P{i:08d}" for i in range(10_000)]), 8)
    assert np.bincount(spread).min() > 1_000


def test_many_ids_are_bucketed_as_each_one_alone():
    """Past DISTINCT_FIRST rows each distinct id is hashed once: the same buckets, nulls and
    ids written with spaces included."""
    from policylang.simulate import DISTINCT_FIRST, buckets_of

    base = ["A", " A", "A\u3000", "7", "  7 ", "甲", "甲 ", "", None]
    ids = [base[i % len(base)] if i % 3 else f"P{i % 500:05d} " for i in range(DISTINCT_FIRST * 3)]
    many = buckets_of(pa.array(ids), 13).tolist()
    assert many == [buckets_of(pa.array([x], pa.string()), 13)[0] for x in ids]


# ---- one reading for both policies ------------------------------------------------------------


def test_policies_that_read_alike_read_the_claims_once(monkeypatch, tmp_path):
    import policylang
    from policylang import columns

    table = pq.read_table(_claims_of(tmp_path, 300, 5)).drop_columns(["setl_id", "mdtrt_id"])
    base, reform = policylang.load(GUIYANG), policylang.load(REFORM)
    assert columns.reader_key(base.ir) == columns.reader_key(reform.ir)
    reads = []
    real = columns.visits_from_table
    monkeypatch.setattr(columns, "visits_from_table", lambda *a: reads.append(1) or real(*a))
    for engine in ("columnar", "duckdb"):
        if engine == "duckdb":
            pytest.importorskip("duckdb", reason="pip install 'policylang[sql]'")
        shared = columns.SharedTable(table, columns.reader_key(base.ir))
        for policy in (base, reform):
            alone = policy.settle_table(table, engine=engine)
            assert policy.settle_table(shared, engine=engine).equals(alone)
    assert len(reads) == 2 * 2 + 2  # each policy alone, and once per engine for the shared table


def test_a_policy_that_reads_otherwise_reads_the_table_itself(tmp_path):
    import policylang
    from policylang import columns

    table = pq.read_table(_claims_of(tmp_path, 50, 6))
    other = policylang.load(ROOT / "examples" / "adjustments" / "qingyu-2025.pol")
    shared = columns.SharedTable(table, columns.reader_key(policylang.load(GUIYANG).ir))
    assert columns.reader_key(other.ir) != shared.key  # it declares inputs of its own
    params = {"reform_start": "2023-01-01", "level3_ratio": "60%"}
    assert other.settle_table(shared, params).equals(other.settle_table(table, params))


def test_a_shared_table_with_a_bad_row_raises_the_same_problems_for_each_policy(tmp_path):
    import policylang
    from policylang import columns
    from policylang.inputs import InputError

    table = pq.read_table(_claims_of(tmp_path, 50, 7))
    i = table.column_names.index("medfee_sumamt")
    bad = table.column(i).to_pylist()
    bad[3] = D("-1.00")
    table = table.set_column(i, "medfee_sumamt", pa.array(bad, table.schema.field(i).type))
    base = policylang.load(GUIYANG)
    shared = columns.SharedTable(table, columns.reader_key(base.ir))
    got = []
    for policy in (base, policylang.load(REFORM)):
        with pytest.raises(InputError) as e:
            policy.settle_table(shared)
        got.append([(p.record, p.field) for p in e.value.problems])
    assert got[0] == got[1] == [(4, "medfee_sumamt")]


def test_duckdb_reads_balances_and_absent_columns_as_the_columnar_engine(tmp_path):
    """The duckdb table path without balances (no account windows; absent codes as NULL;
    persons as integer codes) and with some: equal to the columnar engine on every row."""
    pytest.importorskip("duckdb", reason="pip install 'policylang[sql]'")
    import policylang

    table = pq.read_table(_claims_of(tmp_path, 300, 8))
    n = table.num_rows
    balc = pa.array([D(f"{(i * 37) % 900}.50") if i % 5 == 0 else None for i in range(n)],
                    pa.decimal128(18, 2))  # fmt: skip
    flags = pa.array(["0" if i % 7 == 0 else None for i in range(n)], pa.string())
    policy = policylang.load(GUIYANG)
    for t in (table, table.append_column("acct_balc", balc).append_column("acct_used_flag", flags)):
        duck = policy.settle_table(t, engine="duckdb")
        assert duck.equals(policy.settle_table(t, engine="columnar"))
    assert any(x for x in duck.column("acct_pay").to_pylist())  # the account paid: windows ran


def _claims_of(folder: Path, persons: int, seed: int) -> Path:
    from policylang.synth import synth

    path = folder / f"claims-{persons}-{seed}.parquet"
    synth(persons, 1, seed, path)
    return path


# ---- engines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["duckdb", "scalar"])
def test_other_engines_give_the_same_results(engine, tmp_path):
    if engine == "duckdb":
        pytest.importorskip("duckdb", reason="pip install 'policylang[sql]'")
    from policylang.synth import synth

    synth(80, 1, 4, tmp_path / "c.parquet")
    for name in ("columnar", engine):
        result = run("simulate", GUIYANG, tmp_path / "c.parquet", "--engine", name,
                     "--out", tmp_path / name, "--memory-limit", "1M")  # fmt: skip
        assert result.exit_code == 0, result.output
    assert _rows(results(tmp_path / engine)) == _rows(results(tmp_path / "columnar"))


QINGSHAN = ROOT / "examples" / "second-fund" / "qingshan-2024.pol"


def test_a_policy_of_several_funds_reports_every_funds_outlay(tmp_path):
    """The fund outlay is fund_pay_sumamt (hifp_pay + hifob_pay), not the pooling fund's alone,
    and every engine writes the declared fund's column in the per-visit results."""
    pytest.importorskip("duckdb", reason="pip install 'policylang[sql]'")
    from policylang.synth import synth

    synth(200, 1, 4, tmp_path / "c.parquet", first_year=2024)
    got = {}
    for name in ("columnar", "duckdb", "scalar"):
        result = run("simulate", QINGSHAN, tmp_path / "c.parquet", "--engine", name,
                     "--out", tmp_path / name)  # fmt: skip
        assert result.exit_code == 0, result.output
        got[name] = results(tmp_path / name)
    table = got["columnar"]
    assert table.column_names.index("hifob_pay") == table.column_names.index("hifp_pay") + 1
    for name in ("duckdb", "scalar"):
        assert got[name].equals(table), name
    fen = {c: sum(table.column(c).to_pylist()) for c in ("hifp_pay", "hifob_pay")}
    assert fen["hifob_pay"] > 0, "the synthetic year reaches the subsidy"
    summary = json.loads((tmp_path / "columnar" / "summary.json").read_text(encoding="utf-8"))
    run_ = summary["runs"]["baseline"]
    assert D(run_["fund"]) == fen["hifp_pay"] + fen["hifob_pay"]
    # each fund's own outlay: in the summary, and as a table of its own in the report
    assert {k: D(v) for k, v in run_["by_fund"].items()} == {
        "hifp": fen["hifp_pay"],
        "hifob": fen["hifob_pay"],
    }
    page = (tmp_path / "columnar" / "report.html").read_text(encoding="utf-8")
    assert "Outlay by fund" in page and "(hifob_pay)" in page
    zh = run("simulate", QINGSHAN, tmp_path / "c.parquet", "--lang", "zh")
    assert zh.exit_code == 0, zh.output
    assert "按基金支出" in zh.output and "大额医疗补助 (hifob_pay)" in zh.output


def test_a_policy_of_one_fund_has_no_table_by_fund(claims, tmp_path):
    result = run("simulate", GUIYANG, claims, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Outlay by fund" not in result.output
    assert "Outlay by fund" not in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    run_ = summary["runs"]["baseline"]
    assert run_["by_fund"] == {"hifp": run_["fund"]}


def test_an_unknown_engine_is_a_clear_error(claims):
    result = run("simulate", GUIYANG, claims, "--engine", "nosuch")
    assert result.exit_code == 1
    assert "unknown engine 'nosuch'" in result.output and "columnar" in result.output


def test_a_missing_engine_says_what_to_install(claims, monkeypatch):
    from policylang import backends

    monkeypatch.setitem(backends.BACKENDS, "spark", "policylang_no_such_module.spark:Spark")
    result = run("simulate", GUIYANG, claims, "--engine", "spark")
    assert result.exit_code == 1
    assert "pip install 'policylang[spark]'" in result.output


# ---- bad input -----------------------------------------------------------------------------


def _csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bad.csv"
    header = "psn_no,psn_type,flxempe_flag,setl_time,hosp_lv,medfee_sumamt"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "line, field",
    [
        ("B,active,maybe,2023-03-02,level1,100.00", "flxempe_flag"),
        ("B,active,false,2023-03-02,level1,1e3", "medfee_sumamt"),
        ("B,active,false,2023-02-30,level1,100.00", "setl_time"),
        ("B,boss,false,2023-03-02,level1,100.00", "psn_type"),
        ("B,active,false,2023-03-02,level1,100.001", "medfee_sumamt"),
    ],
)
def test_a_bad_row_is_reported_with_its_record_and_field_and_nothing_is_written(
    tmp_path, line, field
):
    good = "A,active,false,2023-03-01,level2,200.00"
    path = _csv(tmp_path, [good, good.replace("A,", "C,"), line])
    out = tmp_path / "out"
    for limit in ([], ["--memory-limit", "1M"]):
        result = CliRunner().invoke(
            main, ["simulate", str(GUIYANG), str(path), "--out", str(out), *limit]
        )
        assert result.exit_code == 1
        assert result.stdout == ""
        assert f"record 3 (psn_no B): field '{field}'" in result.stderr, result.stderr
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]  # no temporary folder left


def test_whole_column_problems_and_unreadable_files(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "psn_no,psn_typ,setl_time,hosp_lv,medfee_sumamt\nA,active,2023-03-01,level1,5\n"
    )
    result = run("simulate", GUIYANG, path)
    assert result.exit_code == 1
    assert "field 'psn_typ': unknown field (column); did you mean 'psn_type'?" in result.output
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    result = run("simulate", GUIYANG, junk)
    assert result.exit_code == 1 and "not a Parquet file" in result.output
    floats = tmp_path / "floats.parquet"
    pq.write_table(
        pa.table(
            {
                "psn_no": ["A"],
                "psn_type": ["active"],
                "flxempe_flag": [False],
                "setl_time": ["2023-03-01"],
                "hosp_lv": ["level1"],
                "medfee_sumamt": [100.5],
            }
        ),
        floats,
    )
    result = run("simulate", GUIYANG, floats)
    assert result.exit_code == 1 and "floating-point column" in result.output


def test_an_output_folder_that_is_something_else_is_left_alone(claims, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("x")
    result = run("simulate", GUIYANG, claims, "--out", tmp_path / "mine")
    assert result.exit_code == 1 and "not the output of an earlier simulate" in result.output
    assert (tmp_path / "mine" / "precious.txt").exists()
    # an earlier output is replaced whole
    assert run("simulate", GUIYANG, claims, "--out", tmp_path / "o").exit_code == 0
    assert run("simulate", GUIYANG, claims, "--out", tmp_path / "o").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "baseline",
        "report.html",
        "summary.json",
    ]


def test_a_parameter_no_policy_declares_is_refused(claims):
    result = run("simulate", GUIYANG, claims, "--param", "nosuch=1")
    assert result.exit_code == 1 and "no policy declares nosuch" in result.output


# ---- the report ------------------------------------------------------------------------------


def test_the_report_in_chinese(claims):
    result = run("simulate", GUIYANG, claims, "--reform", REFORM, "--lang", "zh")
    assert result.exit_code == 0, result.output
    for words in (
        "基金支出",
        "现行政策",
        "改革方案",
        "差额",
        "退休",
        "二级",
        "达到最高支付限额的人数",
    ):
        assert words in result.output, words


def test_simulate_help_does_not_import_rich_or_pyarrow():
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from policylang.cli import main\n"
            "for cmd in ('simulate', 'synth'):\n"
            "    try:\n"
            "        main([cmd, '--help'], standalone_mode=False)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert 'rich' not in sys.modules, 'rich'\n"
            "assert 'pyarrow' not in sys.modules, 'pyarrow'\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def test_the_html_report_is_self_contained_and_draws_its_charts(claims, tmp_path):
    out = tmp_path / "out"
    assert run("simulate", GUIYANG, claims, "--reform", REFORM, "--out", out).exit_code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and page.count("<rect") > 20
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no Chromium on this machine: apt-get install chromium (as root; .ci/run does it in CI)"
        )
    width, height, pixels = screenshot(browser, out / "report.html", tmp_path, (1000, 1600))
    assert (width, height) == (1000, 1600)
    assert pixels.count(b"\xff\xff\xff") < len(pixels) * 0.97, "the page is blank"
    # the bars are drawn: the baseline's and the reform's colours cover real areas
    baseline, reform = pixels.count(bytes.fromhex("4e79a7")), pixels.count(bytes.fromhex("f28e2b"))
    assert baseline > 3000 and reform > 3000, (baseline, reform)


def test_an_empty_settlement_id_is_reported_as_settle_reports_it(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text(
        "psn_no,psn_type,flxempe_flag,setl_time,hosp_lv,medfee_sumamt,setl_id,mdtrt_id\n"
        "A,active,false,2023-03-01,level2,200.00, S1 ,M1\n"
        'B,active,false,2023-03-01,level2,200.00,"  ",M2\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["simulate", str(GUIYANG), str(path)])
    assert result.exit_code == 1 and result.stdout == ""
    assert "record 2 (psn_no B): field 'setl_id'" in result.stderr, result.stderr
    path.write_text(path.read_text(encoding="utf-8").replace('"  "', "S2"), encoding="utf-8")
    result = run("simulate", GUIYANG, path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    got = results(tmp_path / "out")
    assert got.column("setl_id").to_pylist() == ["S1", "S2"]
    assert got.column("mdtrt_id").to_pylist() == ["M1", "M2"]


def test_files_of_a_folder_must_share_their_columns(tmp_path):
    import datetime as dt

    base = dict(
        psn_no=["A"], psn_type=["active"], flxempe_flag=[False], hosp_lv=["level1"],
        medfee_sumamt=["100.00"],
    )  # fmt: skip
    pq.write_table(pa.table(dict(base, setl_time=["2023-03-01"])), tmp_path / "a.parquet")
    stamp = pa.array([dt.datetime(2023, 3, 2, 10, 0)])
    pq.write_table(pa.table(dict(base, setl_time=stamp)), tmp_path / "b.parquet")
    for limit in ("4G", "1M"):
        result = run("simulate", GUIYANG, tmp_path, "--memory-limit", limit)
        assert result.exit_code == 1
        assert "b.parquet: its columns differ from those of" in result.output
        assert "setl_time: string vs timestamp[us]" in result.output


def test_an_empty_claims_file_gives_an_empty_report(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("psn_no,psn_type,flxempe_flag,setl_time,hosp_lv,medfee_sumamt\n")
    result = run("simulate", GUIYANG, path, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "0 visits, 0 persons" in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["visits"] == 0 and summary["runs"]["baseline"]["fund"] == "0.00"
