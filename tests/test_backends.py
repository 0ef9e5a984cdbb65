"""Every backend against the reference interpreter, on generated visits.

A backend joins by being listed in ``policylang.backends.BACKENDS``; this file
runs each one over the corpus (tests/corpus.py) and asserts the results --
every field, the message and the whole trace -- equal the reference's, as do the
state left for the next call and the journal of counter charges.  A backend whose
class says ``settle_traces = False`` builds no traces: its results are compared on every
field and the message, not the trace.

A backend that cannot run a corpus policy raises ``NotSupported`` when it is built;
that is a named skip only when ``UNSUPPORTED`` expects it, and a failure otherwise.
A backend whose optional engine is missing is skipped with what to install (the
extra, e.g. ``policylang[sql]``) -- except in CI (``CI=true``), where the test extra
installs every engine and a missing one fails.

A distributed engine (``spark``), where every call is a job of a second or more, runs
fewer examples (``EXAMPLES``: one call per corpus policy), each with more visits; its
session is shared by the whole run (tests/conftest.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.backends import BACKENDS, backend
from policylang.inputs import InputError

from .conftest import make_backend
from .corpus import CORPUS, make_params, make_persons, make_requests, make_visits

# backend -> examples per test and policy, for engines whose calls take seconds
EXAMPLES = {"spark": 1}
OTHERS = [name for name in BACKENDS if name != "reference" and name not in EXAMPLES]
DISTRIBUTED = [name for name in BACKENDS if name in EXAMPLES]
_POLICIES = {
    p.name: policylang.loads(p.read_text(encoding="utf-8"), str(p), search=[p.parent]).ir
    for p in CORPUS
}
_ENGINES: dict = {}

# (backend, corpus policy) -> why that backend cannot run it: an expected, named skip
UNSUPPORTED: dict[tuple[str, str], str] = {}


def _engine(name: str, policy_name: str, tracing: bool):
    key = (name, policy_name, tracing)
    if key not in _ENGINES:
        why = UNSUPPORTED.get((name, policy_name))
        try:
            _ENGINES[key] = make_backend(name, _POLICIES[policy_name], tracing, unsupported=why)
        except pytest.skip.Exception as e:  # kept: the next test with this engine skips too
            _ENGINES[key] = e
    got = _ENGINES[key]
    if isinstance(got, pytest.skip.Exception):
        pytest.skip(got.msg)
    return got


def _traces(name: str) -> bool:
    """Whether the backend builds traces (compared when it does)."""
    return getattr(backend(name), "settle_traces", True)


def _outcome(engine, visits, params, traced=True):
    """Results, the state left for the next call, and the journal of counter charges."""
    state, journal = engine.new_state(), []
    try:
        results = [
            r.to_json(trace=engine.tracing and traced)
            for r in engine.settle(visits, params, state, journal)
        ]
    except InputError as e:
        return ("error", [str(p) for p in e.problems])
    return results, state, sorted(journal, key=repr)


def _agrees_with_reference(other, policy_name, seed, size, tracing):
    policy = _POLICIES[policy_name]
    rnd = random.Random(seed)
    params = policylang.inputs.validate_params(make_params(policy, rnd), policy)
    visits = make_visits(policy, rnd, size, {k: str(v) for k, v in params.items()}, refused=0.03)
    engine = _engine(other, policy_name, tracing)
    traced = _traces(other)
    want = _outcome(_engine("reference", policy_name, tracing), visits, params, traced)
    got = _outcome(engine, visits, params, traced)
    assert got == want


# 8 policies x 90 examples x ~150 visits on average: over 100k visits per backend in CI
@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize("policy_name", sorted(_POLICIES))
@settings(max_examples=90, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 500), tracing=st.booleans())
def test_backend_agrees_with_reference(other, policy_name, seed, size, tracing):
    _agrees_with_reference(other, policy_name, seed, size, tracing)


# a distributed engine: every corpus policy, one call of 400..3000 visits (no trace to build)
@pytest.mark.parametrize("other", DISTRIBUTED)
@pytest.mark.parametrize("policy_name", sorted(_POLICIES))
@settings(max_examples=max(EXAMPLES.values(), default=1), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(400, 3000))
def test_distributed_backend_agrees_with_reference(other, policy_name, seed, size):
    _agrees_with_reference(other, policy_name, seed, size, False)


def _decisions(engine, kind, records, params, traced=True):
    try:
        return [
            r.to_json(trace=engine.tracing and traced)
            for r in getattr(engine, kind)(records, params)
        ]
    except InputError as e:
        return ("error", [str(p) for p in e.problems])


@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize("policy_name", sorted(_POLICIES))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 60))
def test_credit_and_may_pay_agree_with_reference(other, policy_name, seed, size):
    _credit_and_may_pay_agree(other, policy_name, seed, size)


@pytest.mark.parametrize("other", DISTRIBUTED)
@pytest.mark.parametrize("policy_name", sorted(_POLICIES))
@settings(max_examples=1, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(60, 200))
def test_distributed_credit_and_may_pay_agree_with_reference(other, policy_name, seed, size):
    _credit_and_may_pay_agree(other, policy_name, seed, size)


def _credit_and_may_pay_agree(other, policy_name, seed, size):
    policy = _POLICIES[policy_name]
    rnd = random.Random(seed)
    params = policylang.inputs.validate_params(make_params(policy, rnd), policy)
    persons = make_persons(policy, rnd, size)
    requests = make_requests(rnd, size)
    engine = _engine(other, policy_name, True)
    traced = _traces(other)
    for kind, records in (("credit", persons), ("may_pay", requests)):
        want = _decisions(_engine("reference", policy_name, True), kind, records, params, traced)
        got = _decisions(engine, kind, records, params, traced)
        assert got == want, kind


def test_every_backend_is_listed_and_loads():
    assert {"reference", "scalar", "duckdb", "spark", "columnar"} <= set(BACKENDS)
    for name in BACKENDS:  # importing a backend needs none of its optional engine
        assert backend(name).name == name


# ---- hostile and unusual records: every backend validates exactly like the reference ------

import datetime as _dt  # noqa: E402
from decimal import Decimal as _D  # noqa: E402

_FW = str.maketrans("0123456789-:.T ", "０１２３４５６７８９－：．Ｔ\u3000")


def _money_texts(top: int = 10**16):
    """(good, bad): amounts in every spelling the contract accepts, and hostile ones."""
    plain = st.builds(
        lambda w, c, k: f"{w}.{c:03d}"[: len(str(w)) + 1 + k] if k else str(w),
        st.integers(0, top) | st.integers(0, min(top, 2000)),
        st.integers(0, 999),
        st.integers(0, 4),
    )
    good = st.one_of(
        plain,
        st.builds(
            lambda t, a, b: a + t + b,
            plain,
            st.sampled_from(["", " ", "\t", "\u3000", "\n"]),
            st.sampled_from(["", " ", "\u3000"]),
        ),
        plain.map(lambda t: t.translate(_FW)),
        plain.map(lambda t: "+" + t),
        plain.map(lambda t: t + "0"),
        st.integers(0, top),
        st.decimals(
            allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=min(top, 10**6)
        ),
        st.sampled_from([_D("-0"), _D("1.500"), 1.5, "-0.00"]),
    )
    bad = st.one_of(
        plain.map(lambda t: "-" + t),
        st.text(alphabet="0123456789.+-eE _,。٤¹①", max_size=12),
        st.integers(-10, -1),
        st.decimals(allow_nan=True, places=3, min_value=-5, max_value=10**6),
        st.sampled_from(
            [_D("NaN"), _D("1E+30"), 0.1 + 0.2, True, None, [], {}, "", "9" * 60, 10**40]
        ),
    )
    return good, bad


def _times():
    """(good, bad) setl_time values."""
    days = st.dates(_dt.date(2021, 12, 25), _dt.date(2024, 1, 5))
    moments = st.datetimes(_dt.datetime(2021, 12, 25), _dt.datetime(2024, 1, 5))
    good_forms = st.sampled_from(
        ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
    )
    bad_forms = st.sampled_from(
        [
            "%Y%m%dT%H%M",
            "%Y-%m-%dT%H",
            "%Y-%m-%d %H:%M:%S.%f",
            "%Y-%m-%dT%H:%M:%S+08:00",
            "%Y-%m-%dT%H:%M:%SZ",
            "%Y/%m/%d",
            "%Y-%m-%d  %H:%M",
            "%Y-%m-%dt%H:%M",
        ]
    )
    good_texts = st.builds(lambda m, f: m.strftime(f), moments, good_forms)
    good = st.one_of(
        good_texts,
        good_texts.map(lambda t: t.translate(_FW)),
        good_texts.map(lambda t: f" {t}\u3000"),
        days.map(_dt.date.isoformat),
        days,
        moments.map(lambda m: m.replace(microsecond=0)),
    )
    bad = st.one_of(
        st.builds(lambda m, f: m.strftime(f), moments, bad_forms),
        moments.filter(lambda m: m.microsecond),
        st.text(alphabet="0123456789-:T .Z+", max_size=22),
        st.sampled_from(
            [
                "2023-02-29",
                "2023-03-01T24:00",
                "2023-03-01 10:60",
                "٢٠٢٣-٠٣-٠١",
                20230301,
                None,
                "",
                _dt.datetime(2023, 3, 1, tzinfo=_dt.timezone.utc),
            ]
        ),
    )
    return good, bad


def _visit_records(policy):
    """Batches of valid records in unusual spellings, with at times one hostile record."""
    total, part = _money_texts(), _money_texts(100)
    fields = {
        "psn_no": (
            st.sampled_from(["A", "A ", " A", "\u3000A", "B", 7, "甲"]),
            st.sampled_from(["", "  ", 10**25, True, None, 1.5, "A\nB", "\ud800", "x" * 100]),
        ),
        # names, aliases and the platform's codes (1103 implies flxempe_flag: the record may agree,
        # contradict it or leave the flag out; 13 is mapped only by lanshan-2024.pol)
        "psn_type": (
            st.sampled_from(
                [
                    "active",
                    "retiree",
                    "在职",
                    "退休",
                    " active",
                    "11",
                    "1201",
                    " 1101",
                    "１２０２",
                    "1103",
                    "1203",
                    "13",
                    "离休",
                    "veteran",
                ]
            ),
            st.sampled_from(["Active", "boss", 1, None, "x\n", "1 1", "99", 1101, "14"]),
        ),
        "flxempe_flag": (st.booleans(), st.sampled_from(["true", 0, None])),
        "setl_time": _times(),
        "hosp_lv": (
            st.sampled_from(["unrated", "level1", "level2", "level3", "三级", " level2"]),
            st.sampled_from(["level4", None, 2]),
        ),
        "medfee_sumamt": total,
        "fulamt_ownpay_amt": part,
        "overlmt_selfpay": part,
        "preselfpay_amt": part,
        "designated": (st.sampled_from([True, False, None]), st.sampled_from([1, "yes"])),
        "acct_balc": total,
    }
    for name, (t, _) in policy.inputs.items():
        if t == "number":
            fields[name] = (
                st.one_of(st.integers(0, 200), st.sampled_from(["７０", " 69.5 ", "70.000000"])),
                st.sampled_from(["1.1234567", "1e3", "", None, True]),
            )
        elif t == "bool":
            fields[name] = (st.sampled_from([True, False, None]), st.sampled_from(["true", 1]))
    base = {
        "psn_no": "A",
        "psn_type": "active",
        "flxempe_flag": False,
        "setl_time": "2023-03-01",
        "hosp_lv": "level2",
        "medfee_sumamt": "400.00",
    }

    def records(which: int, min_size: int):
        changed = st.sets(st.sampled_from(sorted(fields)), min_size=min_size, max_size=3).flatmap(
            lambda keys: st.fixed_dictionaries({k: fields[k][which] for k in keys})
        )
        return st.builds(dict.__or__, st.just(base), changed)

    hostile = st.one_of(
        records(1, 1),
        records(1, 1),
        records(1, 1),
        st.builds(
            lambda r, k: {x: y for x, y in r.items() if x != k},
            records(0, 0),
            st.sampled_from(sorted(base)),
        ),
        st.builds(
            lambda r, k: {**r, k: "level1"},
            records(0, 0),
            st.sampled_from(["hosp_level", 5, ("t",)]),
        ),
        st.sampled_from([["a"], "visit", None, 5]),
    )
    return st.builds(
        lambda good, bad, at: good[:at] + bad + good[at:],
        st.lists(records(0, 0), min_size=1, max_size=5),
        st.lists(hostile, max_size=1),
        st.integers(0, 5),
    )


def _settle_outcome(engine, visits, traced=True):
    try:
        return [r.to_json(trace=engine.tracing and traced) for r in engine.settle(visits, {})]
    except InputError as e:
        return ("error", [str(p) for p in e.problems], [p.to_json() for p in e.problems])


@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize("policy_name", ["guiyang-2022.pol", "city.pol", "lanshan-2024.pol"])
@settings(max_examples=300, deadline=None)
@given(data=st.data(), tracing=st.booleans())
def test_hostile_records_are_validated_alike(other, policy_name, data, tracing):
    """Whatever a backend's fast input path accepts, the reference accepts with identical
    values (the echoed setl_time included), and what it refuses gets the same problems."""
    _validated_alike(other, policy_name, data, tracing)


@pytest.mark.parametrize("other", DISTRIBUTED)
@pytest.mark.parametrize("policy_name", ["guiyang-2022.pol", "city.pol", "lanshan-2024.pol"])
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_hostile_records_are_validated_alike_by_distributed_engines(other, policy_name, data):
    _validated_alike(other, policy_name, data, False)


def _validated_alike(other, policy_name, data, tracing):
    policy = _POLICIES[policy_name]
    visits = data.draw(_visit_records(policy))
    engine = _engine(other, policy_name, tracing)
    traced = _traces(other)
    want = _settle_outcome(_engine("reference", policy_name, tracing), visits, traced)
    got = _settle_outcome(engine, visits, traced)
    assert got == want


def test_every_step_has_a_handler_in_the_dispatching_backends():
    """Adding a step to ir.program means one handler per backend: the dispatch tables say
    which steps each backend knows, so a forgotten one fails here, not on some policy."""
    from policylang import ir
    from policylang.backends import reference, scalar
    from policylang.backends.sql import base as sql_base

    for table in (reference.HANDLERS, scalar.STEP_EMITTERS):
        assert set(ir.STEP_TYPES) <= set(table), set(ir.STEP_TYPES) - set(table)
    settle_steps = set(ir.STEP_TYPES) - {ir.CreditRules, ir.Decision}  # SQL lowers those separately
    assert settle_steps <= set(sql_base.HANDLERS), settle_steps - set(sql_base.HANDLERS)
