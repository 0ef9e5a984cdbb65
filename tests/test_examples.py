"""Worked examples derived by hand from each notice (tests/examples/<city>/<kind>/*.json).

Each file holds the input, the fields derived by hand from the notice text
(``expected``), and the derivation in words.  The test checks the evaluator
against the hand-derived fields, the identities that must always hold, and a
syrupy snapshot of the full results (every field and the trace)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import policylang

from .conftest import EXAMPLES, POLICIES, read_json

CITY_POLICY = {"guiyang": "guiyang-2022.pol", "shanxi": "shanxi-2022.pol"}
CASES = sorted(EXAMPLES.glob("*/*/*.json"))
_loaded: dict[str, policylang.CompiledPolicy] = {}


def _policy(city: str) -> policylang.CompiledPolicy:
    if city not in _loaded:
        _loaded[city] = policylang.load(POLICIES / CITY_POLICY[city])
    return _loaded[city]


def _run(path: Path):
    city, kind = path.parent.parent.name, path.parent.name
    case = read_json(path)
    policy = _policy(city)
    params = {k: str(v) for k, v in case.get("params", {}).items()}
    fn = {"settle": policy.settle, "credit": policy.credit, "may-pay": policy.may_pay}[kind]
    return case, kind, fn(case["input"], params)


def test_corpus_has_the_required_cases():
    counts = {}
    for p in CASES:
        key = (p.parent.parent.name, p.parent.name)
        counts[key] = counts.get(key, 0) + 1
    assert counts[("guiyang", "settle")] >= 12
    assert counts[("guiyang", "credit")] >= 6
    assert counts[("guiyang", "may-pay")] >= 12
    assert counts[("shanxi", "may-pay")] >= 12


@pytest.mark.parametrize(
    "path", CASES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}"
)
def test_worked_example(path, snapshot_json):
    case, kind, results = _run(path)
    got = [r.to_json() for r in results]
    assert len(got) == len(case["expected"])
    for i, (want, have) in enumerate(zip(case["expected"], got, strict=True)):
        for field, value in want.items():
            assert have[field] == value, (
                f"record {i + 1}, field {field}: notice says {value!r}, got {have[field]!r}"
            )
        if kind == "settle":
            total, fund = Decimal(have["medfee_sumamt"]), Decimal(have["fund_pay_sumamt"])
            part = Decimal(have["psn_part_amt"])
            assert part == total - fund == Decimal(have["acct_pay"]) + Decimal(have["psn_cash_pay"])
            # every number in the result is explained by a trace step
            traced = {step["field"] for step in have["trace"]}
            assert {
                "inscp_scp_amt",
                "act_pay_dedc",
                "hifp_pay",
                "fund_pay_sumamt",
                "psn_part_amt",
                "acct_pay",
                "psn_cash_pay",
            } <= traced
            if Decimal(have["hifp_pay"]) > 0:
                assert {"ratio", "hifp_pay"} <= traced
                assert any(s["clause"] for s in have["trace"] if s["field"] == "ratio")
    assert got == snapshot_json
