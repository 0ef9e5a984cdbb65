"""Every backend against the reference interpreter, on generated visits.

A backend joins by being listed in ``policylang.backends.BACKENDS``; this file
runs each one over the corpus (tests/corpus.py) and asserts the results --
every field, the message and the whole trace -- equal the reference's.  A backend
whose class says ``traces = False`` builds no explanations: its results are compared
on every field but the trace and the message.

A backend that cannot run a corpus policy raises ``NotSupported`` when it is built;
that is a named skip only when ``UNSUPPORTED`` expects it, and a failure otherwise.
A backend whose optional engine is missing is skipped with what to install."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policylang
from policylang.backends import BACKENDS, BackendUnavailable, NotSupported, backend
from policylang.inputs import InputError

from .corpus import CORPUS, make_params, make_persons, make_requests, make_visits

OTHERS = [name for name in BACKENDS if name != "reference"]
_POLICIES = {p.name: policylang.loads(p.read_text(encoding="utf-8"), str(p), search=[p.parent]).ir for p in CORPUS}
_ENGINES: dict = {}


# (backend, corpus policy) -> why that backend cannot run it: an expected, named skip
UNSUPPORTED: dict[tuple[str, str], str] = {}


def _engine(name: str, policy_name: str, tracing: bool):
    key = (name, policy_name, tracing)
    if key not in _ENGINES:
        try:
            _ENGINES[key] = backend(name)(_POLICIES[policy_name], tracing=tracing)
        except BackendUnavailable as e:
            _ENGINES[key] = e
        except NotSupported as e:
            if (name, policy_name) not in UNSUPPORTED:
                raise
            _ENGINES[key] = e
    got = _ENGINES[key]
    if isinstance(got, BackendUnavailable):
        pytest.skip(str(got))
    if isinstance(got, NotSupported):
        pytest.skip(f"expected: the {name} backend does not run {policy_name} "
                    f"({UNSUPPORTED[(name, policy_name)]}): {got}")
    return got


def _explains(name: str) -> bool:
    """Whether the backend builds traces and messages (compared when it does)."""
    return getattr(backend(name), "traces", True)


def _json(result, trace: bool, explained: bool) -> dict:
    out = result.to_json(trace=trace and explained)
    if not explained:
        del out["message"]
    return out


def _outcome(engine, visits, params, explained=True):
    try:
        return [_json(r, engine.tracing, explained) for r in engine.settle(visits, params)]
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
    explained = _explains(other)
    want = _outcome(_engine("reference", policy_name, tracing), visits, params, explained)
    got = _outcome(engine, visits, params, explained)
    assert got == want


def _decisions(engine, kind, records, params, explained=True):
    try:
        return [_json(r, engine.tracing, explained) for r in getattr(engine, kind)(records, params)]
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
    engine = _engine(other, policy_name, True)
    explained = _explains(other)
    for kind, records in (("credit", persons), ("may_pay", requests)):
        want = _decisions(_engine("reference", policy_name, True), kind, records, params, explained)
        got = _decisions(engine, kind, records, params, explained)
        assert got == want, kind


def test_every_backend_is_listed_and_loads():
    assert {"reference", "scalar", "duckdb"} <= set(BACKENDS)
    for name in BACKENDS:  # importing a backend needs none of its optional engine
        assert backend(name).name == name
