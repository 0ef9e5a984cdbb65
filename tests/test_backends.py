"""Every backend against the reference interpreter, on generated visits.

A backend joins by being listed in ``policylang.backends.BACKENDS``; this file
runs each one over the corpus (tests/corpus.py) and asserts the results --
every field, the message and the whole trace -- equal the reference's.  A backend
whose settlement results carry no trace says so (``settle_traces = False``, the
columnar backend): its results are compared on every field and the message.  A
backend whose optional dependencies are missing is skipped, naming what to install."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.backends import BACKENDS
from policylang.inputs import InputError

from .conftest import load_backend
from .corpus import CORPUS, make_params, make_persons, make_requests, make_visits

OTHERS = [name for name in BACKENDS if name != "reference"]
_POLICIES = {p.name: policylang.loads(p.read_text(encoding="utf-8"), str(p), search=[p.parent]).ir for p in CORPUS}
_ENGINES: dict = {}


def _engine(name: str, policy_name: str, tracing: bool):
    key = (name, policy_name, tracing)
    if key not in _ENGINES:
        _ENGINES[key] = load_backend(name)(_POLICIES[policy_name], tracing=tracing)
    return _ENGINES[key]


def _outcome(engine, visits, params, trace: bool):
    try:
        return [r.to_json(trace=trace) for r in engine.settle(visits, params)]
    except InputError as e:
        return ("error", [str(p) for p in e.problems])


# 8 policies x 90 examples x ~150 visits on average: over 100k visits per backend in CI
@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize("policy_name", sorted(_POLICIES))
@settings(max_examples=90, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 500), tracing=st.booleans())
def test_backend_agrees_with_reference(other, policy_name, seed, size, tracing):
    policy = _POLICIES[policy_name]
    rnd = random.Random(seed)
    params = policylang.inputs.validate_params(make_params(policy, rnd), policy)
    visits = make_visits(policy, rnd, size, {k: str(v) for k, v in params.items()})
    engine = _engine(other, policy_name, tracing)
    trace = tracing and getattr(engine, "settle_traces", True)  # compare traces where the backend has them
    want = _outcome(_engine("reference", policy_name, tracing), visits, params, trace)
    got = _outcome(engine, visits, params, trace)
    assert got == want


def _decisions(engine, kind, records, params):
    try:
        return [r.to_json(trace=engine.tracing) for r in getattr(engine, kind)(records, params)]
    except InputError as e:
        return ("error", [str(p) for p in e.problems])


@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize("policy_name", sorted(_POLICIES))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 60))
def test_credit_and_may_pay_agree_with_reference(other, policy_name, seed, size):
    policy = _POLICIES[policy_name]
    rnd = random.Random(seed)
    params = policylang.inputs.validate_params(make_params(policy, rnd), policy)
    persons = make_persons(policy, rnd, size)
    requests = make_requests(rnd, size)
    for kind, records in (("credit", persons), ("may_pay", requests)):
        want = _decisions(_engine("reference", policy_name, True), kind, records, params)
        got = _decisions(_engine(other, policy_name, True), kind, records, params)
        assert got == want, kind


def test_every_backend_is_listed_and_loads():
    assert {"reference", "scalar", "columnar"} <= set(BACKENDS)
    for name in ("reference", "scalar"):
        assert load_backend(name).name == name


@pytest.mark.parametrize("name", sorted(set(BACKENDS) - {"reference", "scalar"}))
def test_optional_backend_loads_or_says_what_to_install(name):
    assert load_backend(name).name == name  # skipped, naming the extra, when its dependencies are missing
