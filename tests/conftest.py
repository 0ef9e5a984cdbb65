from __future__ import annotations

import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import settings
from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

# Tests stay deterministic: hypothesis explores the same examples on every run and machine
# (scripts/fuzz.py is the place for open-ended exploration).
settings.register_profile("deterministic", derandomize=True, deadline=None, database=None)
settings.load_profile("deterministic")

# The parser cache goes to a folder of the run's own (subprocesses inherit it), not the user's
# ~/.cache/policylang; it is removed when the run ends.
_PARSER_CACHE = tempfile.TemporaryDirectory(prefix="policylang-test-cache-")
os.environ["POLICYLANG_CACHE_DIR"] = _PARSER_CACHE.name

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLES = Path(__file__).resolve().parent / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


class TextSnapshot(SingleFileSnapshotExtension):
    """One plain-text file per snapshot, so that output can be read as it is shown."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.fixture
def snapshot_text(snapshot):
    return snapshot.use_extension(TextSnapshot)


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


def assert_hand_derived(got: list[dict], expected: list[dict]) -> None:
    """Results (as JSON) equal the hand-derived fields of a worked example, visit by visit,
    and each adds up: the person's share is the bill less the fund, the account plus cash."""
    assert len(got) == len(expected)
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        for field, value in want.items():
            assert have[field] == value, (
                f"visit {i + 1}, field {field}: derived {value!r}, got {have[field]!r}"
            )
        total, fund, part = (
            Decimal(have[k]) for k in ("medfee_sumamt", "fund_pay_sumamt", "psn_part_amt")
        )
        assert part == total - fund == Decimal(have["acct_pay"]) + Decimal(have["psn_cash_pay"])


@pytest.fixture(scope="session")
def guiyang():
    import policylang

    return policylang.load(POLICIES / "guiyang-2022.pol")


@pytest.fixture(scope="session")
def shanxi():
    import policylang

    return policylang.load(POLICIES / "shanxi-2022.pol")


def make_backend(name: str, policy, tracing: bool = True, unsupported: str | None = None):
    """The one way tests build a backend for ``policy`` (an ``ir.Policy``).  A skip that
    says what to install when the engine is not installed; a backend that cannot run the
    policy (``NotSupported``) fails the test, unless ``unsupported`` says why that is
    expected, and then it is a skip naming the reason."""
    from policylang.backends import BackendUnavailable, NotSupported, backend

    try:
        return backend(name)(policy, tracing=tracing)
    except BackendUnavailable as e:
        if os.environ.get("CI") == "true":  # CI installs the test extra: every engine must run
            pytest.fail(f"in CI every backend must run: {e}")
        pytest.skip(str(e))
    except NotSupported as e:
        if unsupported is None:
            raise
        pytest.skip(
            f"expected: the {name} backend does not run policy {policy.id} ({unsupported}): {e}"
        )


# ---- the settlement service's databases -------------------------------------------------


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server the tests start (tests/service_support.py); skipped, with what to
    install, where none can be started."""
    from .service_support import Unavailable, start_postgres

    try:
        pg = start_postgres()
    except Unavailable as e:
        if os.environ.get(
            "POLICYLANG_REQUIRE_POSTGRES"
        ):  # CI: .ci/run installs it, so none is skipped
            pytest.fail(f"PostgreSQL unavailable: {e}")
        pytest.skip(f"PostgreSQL unavailable: {e}")
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database of each kind the service supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    pg = request.getfixturevalue("postgres")
    url = pg.new_database()
    yield url
    pg.drop_database(url)


@pytest.fixture(scope="session")
def spark_session():
    """One local SparkSession for the whole run (loopback, no web UI, few shuffle partitions:
    ``backends.sql.spark.session``), shared by every Spark backend the tests build.  A skip
    naming what to install where pyspark or Java is missing; in CI (``CI=true``, where the
    test extra brings both) a failure."""
    from policylang.backends import BackendUnavailable

    try:
        from policylang.backends.sql import spark

        session = spark.session()
    except BackendUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"in CI the Spark tests must run: {e}")
        pytest.skip(str(e))
    yield session
    session.stop()
