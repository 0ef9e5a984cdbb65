"""What embedders build on: one error base class, exported types, pickling, threads."""

from __future__ import annotations

import pickle
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

import policylang

from .conftest import POLICIES, ROOT
from .corpus import make_visits


def test_every_error_derives_from_one_base_class():
    for cls in (policylang.PolicyError, policylang.InputError, policylang.LedgerError):
        assert issubclass(cls, policylang.PolicylangError)
    with pytest.raises(policylang.PolicylangError):
        policylang.loads("policy broken {")
    with pytest.raises(policylang.PolicylangError):
        policylang.load(POLICIES / "guiyang-2022.pol").settle([{"psn_no": 1}])


def test_the_public_types_are_exported_and_the_package_is_typed():
    for name in policylang.__all__:
        assert getattr(policylang, name) is not None
    assert (ROOT / "policylang" / "py.typed").exists()


def test_a_compiled_policy_pickles_and_settles_the_same():
    policy = policylang.load(POLICIES / "guiyang-2022.pol")
    visits = make_visits(policy.ir, random.Random(1), 200, {})
    clone = pickle.loads(pickle.dumps(policy))
    assert clone.hash == policy.hash
    assert [r.to_json() for r in clone.settle(visits)] == [
        r.to_json() for r in policy.settle(visits)
    ]


def test_a_compiled_policy_is_safe_to_share_between_threads():
    policy = policylang.load(POLICIES / "guiyang-2022.pol")
    batches = [make_visits(policy.ir, random.Random(seed), 150, {}) for seed in range(16)]
    serial = [[r.to_json() for r in policy.settle(b)] for b in batches]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda b: [r.to_json() for r in policy.settle(b)], batches))
    assert threaded == serial
