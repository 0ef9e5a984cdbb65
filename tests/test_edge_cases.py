"""Edge cases found in code review, each pinned by a test."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from click.testing import CliRunner

import policylang
from policylang.cli import main

from .conftest import POLICIES, ROOT

HEAD = 'policy p {\n  level city\n  rounding half_up to 0.01 yuan unstated "t"\n'
VISIT = {
    "psn_no": "A",
    "psn_type": "active",
    "flxempe_flag": True,
    "setl_time": "2023-03-01",
    "hosp_lv": "level1",
    "medfee_sumamt": "300.00",
}


def pooling(body: str, extra: str = "") -> str:
    return (
        HEAD + extra + '  pooling {\n    from 2023-01-01 unstated "t" {\n'
        '      covers active, retiree, flexible unstated "t"\n' + body + "\n    }\n  }\n}\n"
    )


def codes(text: str) -> list[str]:
    ws = policylang.api.Workspace()
    return [d.code for d in policylang.api.check_unit(ws.add_text(text, "t.pol"), ws).diagnostics]


def test_separate_deductibles_on_different_fields_count_separately():
    policy = policylang.loads(
        pooling(
            '      deductible 100 yuan per year each flxempe_flag unstated "t"\n'
            '      deductible 50 yuan per year each designated unstated "t"\n'
            '      ratio 50% unstated "t"'
        )
    )
    [r] = policy.settle([VISIT])
    assert r.act_pay_dedc == D("150.00") and r.hifp_pay == D("75.00")


def test_a_ratio_parameter_cannot_make_the_fund_pay_more_than_the_bill():
    policy = policylang.loads(
        pooling(
            '      ratio r unstated "t"\n      uplift 60 points when flxempe_flag unstated "t"',
            '  param r: percent unstated "t"\n',
        )
    )
    with pytest.raises(policylang.InputError) as e:
        policy.settle([VISIT], {"r": "50%"})
    assert "outside 0%..100%" in str(e.value)
    with pytest.raises(policylang.InputError):
        policy.settle([VISIT], {"r": "150%"})


def test_values_between_close_thresholds_are_analysed():
    text = pooling(
        '      ratio 70% unstated "t"\n'
        '      uplift 40 points when score > 1 and score < 2 unstated "t"',
        '  input score: number default 0 unstated "t"\n',
    )
    assert "R301" in codes(text)
    near = pooling(
        '      ratio 70% unstated "t"\n'
        "      uplift 5 points when medfee_sumamt > 100 yuan and medfee_sumamt < 100.5 yuan "
        'unstated "t"'
    )
    assert "C406" not in codes(near)


def test_a_version_ending_on_a_missing_parameter_is_an_input_error():
    text = (
        HEAD + '  param switch: date unstated "t"\n  pooling {\n'
        '    from 2023-01-01 until switch unstated "t" {\n      covers active, retiree, flexible '
        'unstated "t"\n'
        '      ratio 70% unstated "t"\n    }\n'
        '    from 2024-01-01 unstated "t" {\n      covers active, retiree, flexible unstated "t"\n'
        '      ratio 90% unstated "t"\n    }\n  }\n}\n'
    )
    policy = policylang.loads(text)
    with pytest.raises(policylang.InputError) as e:
        policy.settle([{**VISIT, "setl_time": "2024-03-01"}])
    assert "switch" in str(e.value)
    assert policy.settle([{**VISIT, "setl_time": "2024-03-01"}], {"switch": "2023-12-31"})[
        0
    ].pool_prop_selfpay == D("0.90")


def test_enumeration_input_defaults_are_checked_and_canonical():
    body = '      ratio 70% unstated "t"\n      uplift 5 points when lvl = level1 unstated "t"'
    ok = pooling(body, '  input lvl: hosp_lv default "一级" unstated "t"\n')
    assert policylang.loads(ok).settle([VISIT])[0].pool_prop_selfpay == D("0.75")
    assert "N106" in codes(pooling(body, '  input lvl: hosp_lv default "garbage" unstated "t"\n'))
    assert "T201" in codes(pooling(body, '  input lvl: hosp_lv default 5 yuan unstated "t"\n'))


@pytest.mark.parametrize(
    "unit, ok", [("0.01", True), ("0.10", True), ("0.001", False), ("0.005", False)]
)
def test_rounding_unit_is_a_whole_number_of_fen(unit, ok):
    text = pooling('      ratio 70% unstated "t"').replace("to 0.01 yuan", f"to {unit} yuan")
    assert ("R304" in codes(text)) != ok


def test_money_literals_are_whole_fen():
    assert "R305" in codes(
        pooling('      cap 10.005 yuan per year unstated "t"\n      ratio 70% unstated "t"')
    )
    assert "R305" in codes(
        pooling(
            "      cap 1" + "0" * 20 + ' yuan per year unstated "t"\n      ratio 70% unstated "t"'
        )
    )


def test_duplicate_setting_and_names_taken_by_values():
    text = pooling(
        '      ratio 70% unstated "t"',
        '  setting account_covers = person_share unstated "t"\n'
        '  setting account_covers = in_policy_selfpay unstated "t"\n',
    )
    assert "N102" in codes(text)
    assert "N110" in codes(
        pooling(
            '      ratio 70% unstated "t"\n      uplift 5 points when retiree unstated "t"',
            '  input retiree: bool default false unstated "t"\n',
        )
    )


def test_inputs_are_required_only_where_a_rule_reads_them(tmp_path):
    text = (
        (POLICIES / "guiyang-2022.pol")
        .read_text(encoding="utf-8")
        .replace("  rounding half_up", '  input dept: bool unstated "t"\n  rounding half_up', 1)
    )
    policy = policylang.loads(text)
    [c] = policy.credit(
        [
            {
                "psn_no": "A",
                "psn_type": "active",
                "flxempe_flag": False,
                "on": "2023-02-01",
                "contribution_base": "1000.00",
            }
        ],
        {"guizhou_avg_pension_2022": "3000"},
    )
    assert c.credit == D("20.00")


def test_one_file_given_under_two_spellings_is_one_policy(monkeypatch):
    monkeypatch.chdir(POLICIES.parent)
    r = CliRunner().invoke(
        main, ["check", "policies/guiyang-2022.pol", str(POLICIES / "guiyang-2022.pol")]
    )
    assert r.exit_code == 0, r.output


def test_lone_carriage_return_is_reported():
    assert "P010" in codes("policy p {\r  level city\r}\n")
    assert codes("policy p {\r\n  level city\r\n}\r\n") == []


# ---- declared numeric bounds: a diagnostic, never rounding, never a crash ------------------

# where a number can be written -> the policy text, and the code when it is out of bounds
_BOUNDS_PLACES = {
    "cap": (
        lambda v: pooling(
            f'      cap {v} yuan per year unstated "t"\n      ratio 70% unstated "t"'
        ),
        "R305",
    ),
    "table row": (
        lambda v: pooling(
            "      cap by hosp_lv { unrated | level1: " + v + " yuan  level2 | level3: 10 yuan }"
            ' per year unstated "t"\n      ratio 70% unstated "t"'
        ),
        "R305",
    ),
    "band limit": (
        lambda v: pooling(
            "      ratio bands per year { until " + v + ' yuan: 60%  beyond: 80% } unstated "t"'
        ),
        "R305",
    ),
    "condition": (
        lambda v: pooling(
            f'      ratio 70% unstated "t"\n      uplift 5 points when medfee_sumamt > {v} yuan'
            ' unstated "t"'
        ),
        "R305",
    ),
    "input default": (
        lambda v: pooling(
            '      ratio 70% unstated "t"\n      uplift 5 points when extra > 1 yuan unstated "t"',
            f'  input extra: money default {v} yuan unstated "t"\n',
        ),
        "R305",
    ),
    "rounding unit": (
        lambda v: pooling('      ratio 70% unstated "t"').replace("to 0.01 yuan", f"to {v} yuan"),
        ("R304", "R305"),
    ),
    "ratio": (lambda v: pooling(f'      ratio {v}% unstated "t"'), "R306"),
    "uplift": (
        lambda v: pooling(
            f'      ratio 70% unstated "t"\n      uplift {v} points when flxempe_flag unstated "t"'
        ),
        "R306",
    ),
    "requirement": (
        lambda v: (
            HEAD + "  constraints {\n    require r: ratio >= " + v + '% unstated "t"\n  }\n}\n'
        ),
        "R306",
    ),
    "credit": (
        lambda v: (
            HEAD
            + '  crediting {\n    from 2023-01-01 unstated "t" {\n'
            + f'      rule a when psn_type = active: credit contribution_base × {v} unstated "t"\n'
            + "    }\n  }\n}\n"
        ),
        "R306",
    ),
    "disease count": (
        lambda v: HEAD + f'  diseases d unstated "t" {{\n    total {v}\n    part a {v}\n  }}\n}}\n',
        "R306",
    ),
}
_TOO_BIG = [
    "1" + "0" * 26,
    "9" * 5000,
    "0." + "0" * 4999 + "1",
    "49.9999999999999999999999999999999",
    "1000000000000000",
    "0.1234567",
]


@pytest.mark.parametrize("value", _TOO_BIG, ids=lambda v: f"{v[:12]}({len(v)})")
@pytest.mark.parametrize("place", sorted(_BOUNDS_PLACES))
def test_a_number_beyond_its_bounds_is_an_error_wherever_it_is_written(place, value):
    import decimal

    make, expected = _BOUNDS_PLACES[place]
    text = make(value)
    found = codes(text)
    assert set(found) & set(expected if isinstance(expected, tuple) else (expected,)), found
    # The front end does not depend on the caller's decimal context, however strict.
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        ctx.traps[decimal.Inexact] = ctx.traps[decimal.Rounded] = True
        assert codes(text) == found
        parsed, _ = policylang.parser.parse(text)
        for lang in ("en", "zh"):
            again, diags = policylang.parser.parse(policylang.formatter.format_policy(parsed, lang))
            assert again == parsed and not diags


@pytest.mark.parametrize(
    "literal, ok",
    [
        ("999999999999999.99 yuan", True),
        ("1000000000000000 yuan", False),
        ("2000.50 yuan", True),
        ("2000.500 yuan", True),
        ("2000.501 yuan", False),
        ("0.00 yuan", True),
        ("49.99%", True),
        ("49.999%", False),
        ("49.9900%", True),
        ("5.25 points", True),
        ("5.255 points", False),
        ("0.123456", True),
        ("0.1234567", False),
        ("999999999999999", True),
        ("1000000000000000", False),
    ],
)
def test_declared_bounds_of_literals(literal, ok):
    from policylang.check import within_bounds

    policy, diags = policylang.parser.parse(f"policy p {{ input x: number default {literal} }}")
    assert not diags
    assert within_bounds(policy.decls[0].default) == ok


def test_a_ratio_of_31_nines_does_not_pass_a_50_percent_floor(monkeypatch):
    """It would read 50% once rounded to Decimal's 28 digits; it is refused instead."""
    monkeypatch.chdir(ROOT)
    [result], _ = policylang.check_paths(["tests/fixtures/invalid/R306-ratio-with-31-nines.pol"])
    assert [d.code for d in result.diagnostics] == ["R306"] and not result.ok


# ---- a version that can never be in force ------------------------------------------------


def _versions(*heads: str) -> str:
    body = "".join(
        f'    {h} unstated "t" '
        f'{{\n      covers active unstated "t"\n      ratio 70% unstated "t"\n    }}\n'
        for h in heads
    )
    return (
        HEAD
        + '  param P: date unstated "t"\n  param Q: date unstated "t"\n  pooling {\n'
        + body
        + "  }\n}\n"
    )


@pytest.mark.parametrize(
    "heads, expected",
    [
        # Versions are in force by their dates, whatever their order in the file: a later version
        # written first is legal.
        (["from 2024-01-01", "from 2023-01-01 until 2023-12-31"], []),
        (
            [
                "from 2025-01-01",
                "from 2023-01-01 until 2023-12-31",
                "from 2024-01-01 until 2024-12-31",
            ],
            [],
        ),
        (["from 2023-01-01 until 2023-01-01", "from 2023-01-02"], []),  # a one-day version
        (
            ["from 2023-01-01 until P", "from 2024-01-01"],
            [],
        ),  # ends on a parameter: known at evaluation
        # Every way a version can never be in force is reported.
        (
            ["from 2023-06-01 until 2023-01-01", "from 2024-01-01"],
            ["C408"],
        ),  # ends before it starts
        (["from 2023-01-01", "from 2023-01-01"], ["C403"]),  # the same start date
        (["from 2023-01-01 until 2023-06-30", "from 2023-01-01 until 2023-12-31"], ["C403"]),
        (
            ["from 2024-01-01 until 2024-12-31", "from 2023-01-01"],
            ["C403"],
        ),  # covered by an open-ended version
        (
            ["from 2023-01-01 until 2023-12-31", "from 2023-03-01 until 2023-04-30"],
            ["C403"],
        ),  # inside another
        # ... also when one of them ends on a parameter (in either order in the file) ...
        (["from 2023-01-01 until P", "from 2023-01-01 until 2023-12-31"], ["C403"]),
        (["from 2023-01-01 until 2023-12-31", "from 2023-01-01 until P"], ["C403"]),
        # ... or both start on the same date parameter, whatever its value.
        (["from P", "from P"], ["C403"]),
        (["from P until Q", "from P"], ["C403"]),
    ],
)
def test_a_version_that_can_never_be_in_force_is_reported(heads, expected):
    assert [c for c in codes(_versions(*heads)) if c != "N107"] == expected


# ---- counter names: deductibles and caps carry what was used by identity ---------------------


def _two_versions(first: str, second: str) -> str:
    def version(head, body):
        return (
            f'    {head} unstated "t" {{\n      covers active, retiree, flexible unstated "t"\n'
            f'      ratio 70% unstated "t"\n{body}\n    }}\n'
        )

    return (
        HEAD
        + "  pooling {\n"
        + version("from 2023-01-01 until 2023-12-31", first)
        + version("from 2024-01-01", second)
        + "  }\n}\n"
    )


U = 'unstated "t"'


@pytest.mark.parametrize(
    "body, expected",
    [
        # the same default identity (kind, period, each field, condition), neither named: one
        # counter
        (f"cap 2000 yuan per year {U}\ncap 500 yuan per year {U}", ["C412"]),
        (f"deductible 100 yuan per year {U}\ndeductible 50 yuan per year {U}", ["C412"]),
        (
            f"cap 10 yuan per visit each hosp_lv when psn_type = retiree {U}\n"
            f"cap 20 yuan per visit each hosp_lv when psn_type=retiree {U}",
            ["C412"],
        ),  # layout does not matter
        # a name, or any part of the identity that differs, gives each its own counter
        (f"cap 2000 yuan per year named general {U}\ncap 500 yuan per year named extra {U}", []),
        (f"cap 2000 yuan per year {U}\ncap 500 yuan per year named extra {U}", []),
        (f"cap 2000 yuan per year {U}\ncap 500 yuan per month {U}", []),
        (f"cap 2000 yuan per year {U}\ncap 500 yuan per year each hosp_lv {U}", []),
        (f"cap 2000 yuan per year {U}\ncap 500 yuan per year when psn_type = retiree {U}", []),
        (f"cap 2000 yuan per year {U}\ndeductible 500 yuan per year {U}", []),
        # two counters of one version cannot take one name, whatever their kinds
        (f"cap 2000 yuan per year named a {U}\ncap 500 yuan per month named a {U}", ["N102"]),
        (f"deductible 100 yuan per year named a {U}\ncap 500 yuan per year named a {U}", ["N102"]),
    ],
)
def test_counters_of_one_version(body, expected):
    assert codes(pooling(body + f"\nratio 70% {U}")) == expected


@pytest.mark.parametrize(
    "first, second, expected",
    [
        (
            f"cap 2000 yuan per year named a {U}",
            f"cap 3000 yuan per year named a {U}",
            [],
        ),  # carries on
        (f"cap 2000 yuan per year {U}", f"cap 3000 yuan per year {U}", []),
        (
            f"deductible 100 yuan per year named a {U}",
            f"deductible 50 yuan per month named a {U}",
            [],
        ),
        (
            f"deductible 100 yuan per year named a {U}",
            f"cap 3000 yuan per year named a {U}",
            ["N112"],
        ),
        (
            f"cap 3000 yuan per year named a {U}",
            f"deductible 100 yuan per year named a {U}",
            ["N112"],
        ),
    ],
)
def test_counter_names_across_versions(first, second, expected):
    assert codes(_two_versions(first, second)) == expected


def test_counter_name_syntax_in_both_languages():
    from policylang import nodes as n
    from policylang.formatter import format_policy
    from policylang.parser import parse

    en = parse(
        pooling(
            f"cap 2000 yuan per year each hosp_lv when psn_type = retiree named retiree_cap {U}"
        )
    )[0]
    zh = parse(
        pooling(f"最高支付限额 2000 元 每年 分别按 hosp_lv 当 psn_type = 退休 名为 retiree_cap {U}")
    )[0]
    assert en == zh
    cap = en.section("pooling").versions[0].body[1]
    assert (
        isinstance(cap, n.Cap)
        and cap.name == n.Name("retiree_cap")
        and cap.each == n.Name("hosp_lv")
    )
    for lang in ("en", "zh"):
        assert parse(format_policy(en, lang))[0] == en
    unnamed = (
        parse(pooling(f"deductible 150 yuan per year {U}"))[0]
        .section("pooling")
        .versions[0]
        .body[1]
    )
    assert unnamed.name is None
    # the name comes after `each` and `when`, before the citation
    assert parse(pooling(f"cap 2000 yuan per year named a when psn_type = retiree {U}"))[0] is None
