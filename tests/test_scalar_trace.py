"""The scalar backend's generated trace builders (policylang/backends/scalar_trace.py)
format numbers from integers, with a cache per value: each text must be the one the
runtime's Decimal formatting gives.  (tests/test_backends.py compares whole traces with
the reference's on the corpus.)"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import policylang
from policylang.backends.scalar_trace import _PCT, _PTS, exact_e6, read_shower, unscaled
from policylang.runtime import TraceStep, _s, exact_text, percent, points_text

from .conftest import make_backend

ROOT = Path(__file__).resolve().parent.parent

amounts = st.one_of(
    st.integers(-(10**24), 10**24),
    st.integers(-1000, 1000),
    st.sampled_from([0, 10**40, -(10**40), 10**41, 5 * 10**6, 10**6, 999_999, -1]),
)


@given(amounts)
def test_an_exact_share_is_shown_as_the_decimal_way_shows_it(x):
    assert exact_e6(x) == exact_text(unscaled(x, 6))


@given(st.integers(-(10**12), 10**12), st.sampled_from([2, 4, 6]))
def test_a_read_number_is_shown_as_written_without_trailing_zeros(x, scale):
    show = read_shower(scale)
    assert show(x) == _s(unscaled(x, scale))
    assert show(x) == _s(unscaled(x, scale))  # from the cache, the same


def test_a_read_value_that_is_not_a_number_is_shown_as_the_runtime_shows_it():
    show = read_shower(2)
    assert show(1) == "0.01" and show(0) == "0"
    for v in (True, False, None, "level2", dt.date(2023, 3, 1), Decimal("1.50")):
        assert show(v) == _s(v)  # True is not the cached 1


@given(st.integers(-20_000, 20_000))
def test_ratios_and_points_are_shown_as_the_runtime_shows_them(x):
    assert _PCT(x) == percent(unscaled(x, 4))
    assert _PTS(x) == points_text(unscaled(x, 4))


def test_scalar_trace_steps_are_the_references():
    """Every step of every visit of the shipped example, through the generated builders:
    ``TraceStep`` named tuples equal to the reference's, field by field and type by type."""
    policy = policylang.load(ROOT / "policies" / "guiyang-2022.pol").ir
    visits = json.loads((ROOT / "examples" / "guiyang-visits.json").read_text(encoding="utf-8"))
    params: dict = {}
    fast = make_backend("scalar", policy).settle(visits, params)
    slow = make_backend("reference", policy).settle(visits, params)
    assert fast and all(r.trace for r in fast)
    for mine, theirs in zip(fast, slow, strict=True):
        assert mine.trace == theirs.trace
        for step, want in zip(mine.trace, theirs.trace, strict=True):
            assert type(step) is TraceStep
            assert [type(x) for x in step] == [type(x) for x in want]
