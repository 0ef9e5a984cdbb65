"""Hostile and unusual input, as found in the hardening review: every one is refused
(or accepted) with a clear message naming the file:line:col or the record and field,
never with a traceback, and nothing half-written on standard output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from policylang.cli import main

from .conftest import POLICIES

GUIYANG = str(POLICIES / "guiyang-2022.pol")
VISIT = {
    "psn_no": "A",
    "psn_type": "active",
    "flxempe_flag": False,
    "setl_time": "2023-03-01",
    "hosp_lv": "level1",
    "medfee_sumamt": "350.00",
}
VISIT_JSON = json.dumps(VISIT)


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def write(tmp_path: Path, name: str, data) -> Path:
    p = tmp_path / name
    p.write_text(
        data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8"
    )
    return p


def refused(r, *words):
    """Exit 1, nothing on stdout, no internal error, and every word on stderr."""
    assert r.exit_code == 1, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    return r.stderr


# ---- 1. one strict JSON reader -----------------------------------------------------------


def _with(field_text: str) -> str:
    """Two visits; the second has ``field_text`` spliced in as raw JSON."""
    return "[" + VISIT_JSON + ",\n" + VISIT_JSON[:-1] + ", " + field_text + "}]"


@pytest.mark.parametrize(
    "raw, field, words",
    [
        (r'"acct_balc": "\ud800"', "acct_balc", "surrogate"),
        (r'"x\udfff": 1', "x\\udfff", "surrogate"),
        ('"acct_balc": ' + "9" * 5000, "acct_balc", "more than 20 digits"),
        ('"acct_balc": 1' + "0" * 30 + ".5", "acct_balc", "more than 20 digits"),
        ('"acct_balc": 1e-400', "acct_balc", "more than 20 digits"),
        ('"acct_balc": 1e400', "acct_balc", "more than 20 digits"),
        ('"acct_balc": NaN', "acct_balc", "NaN"),
        ('"acct_balc": -Infinity', "acct_balc", "-Infinity"),
        ('"acct_balc": {"a": Infinity}', "acct_balc", "Infinity"),
        ('"hosp_lv": "level2"', "hosp_lv", "appears twice"),
        ('"acct_balc": [{"a": 1, "a": 2}]', "acct_balc", "appears twice"),
    ],
)
def test_strict_json_names_the_record_and_field(tmp_path, raw, field, words):
    r = run("settle", GUIYANG, write(tmp_path, "v.json", _with(raw)))
    err = refused(
        r,
        f"v.json: record 2 (psn_no A): field '{field}': ",
        words,
        "1 problem(s) in the input; nothing was evaluated",
    )
    assert err.count("\n") == 2, err
    assert len(err) < 400, err  # the 5000 digits are not echoed


def test_strict_json_outside_a_record(tmp_path):
    r = run("settle", GUIYANG, write(tmp_path, "v.json", '{"a": NaN, "a": 1}'))
    refused(r, "field '(top level)'", "NaN", "appears twice")
    r = run("settle", GUIYANG, write(tmp_path, "v.json", "[1" + "0" * 5000 + "]"))
    refused(r, "record 1: field '(record)'", "more than 20 digits")


def test_lone_surrogate_in_psn_no_is_refused_not_echoed(tmp_path):
    r = run(
        "settle",
        GUIYANG,
        write(tmp_path, "v.json", "[" + VISIT_JSON.replace('"A"', r'"\ud800"') + "]"),
    )
    refused(r, "record 1: field 'psn_no'", "surrogate")


def test_surrogate_pairs_and_ordinary_numbers_stay_accepted(tmp_path):
    r = run(
        "settle",
        GUIYANG,
        write(
            tmp_path,
            "v.json",
            "[" + VISIT_JSON.replace('"A"', r'"\ud83d\ude00"').replace('"350.00"', "350.5") + "]",
        ),
        "--no-trace",
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out[0]["psn_no"] == "\U0001f600" and out[0]["medfee_sumamt"] == "350.50"


def test_every_json_problem_is_reported_at_once(tmp_path):
    text = (
        "[" + VISIT_JSON[:-1] + ', "acct_balc": NaN}, ' + VISIT_JSON[:-1] + ', "designated": true, '
        '"designated": false}]'
    )
    r = run("settle", GUIYANG, write(tmp_path, "v.json", text))
    refused(
        r,
        "record 1 (psn_no A): field 'acct_balc'",
        "record 2 (psn_no A): field 'designated'",
        "2 problem(s) in the input",
    )


def test_invalid_utf8_input_names_the_position(tmp_path):
    p = tmp_path / "v.json"
    p.write_bytes(b'[{"psn_no": "\xd5\xc5"}]')
    refused(run("settle", GUIYANG, p), "v.json:1:14: not UTF-8 text")


# ---- 3. numbers and messages -------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["psn_no", "psn_type", "flxempe_flag", "setl_time", "hosp_lv", "medfee_sumamt", "designated"],
)
@pytest.mark.parametrize("value", [1.5, "1.5", [1], {"a": 1}, 10**30, "Decimal"])
def test_no_python_reprs_in_messages(tmp_path, field, value):
    if value == "Decimal":  # read as Decimal('1.50001')
        text = (
            "["
            + json.dumps({k: v for k, v in VISIT.items() if k != field})[:-1]
            + f', "{field}": 1.50001}}]'
        )
    else:
        text = json.dumps([{**VISIT, field: value}])
    r = run("settle", GUIYANG, write(tmp_path, "v.json", text))
    if r.exit_code == 0:
        assert (field, value) in (
            ("medfee_sumamt", 1.5),
            ("medfee_sumamt", "1.5"),
            ("psn_no", "1.5"),
        )
        return
    err = refused(r)
    assert "Decimal(" not in err and "[1]" not in err and "{'a'" not in err, err


@pytest.mark.parametrize(
    "field",
    [
        "psn_no",
        "psn_type",
        "flxempe_flag",
        "setl_time",
        "hosp_lv",
        "medfee_sumamt",
        "designated",
        "acct_balc",
        "unknown_field",
    ],
)
def test_a_huge_value_is_not_echoed_whole(field, guiyang):
    import policylang

    huge = "9" * 50_000_000
    with pytest.raises(policylang.InputError) as e:
        guiyang.settle([{**VISIT, field: " " + huge if field != "psn_no" else 10**5000}])
    text = str(e.value)
    assert len(text) < 500, text[:1000]


def test_a_huge_unknown_field_name_is_cut_short(guiyang):
    import policylang

    with pytest.raises(policylang.InputError) as e:
        guiyang.settle([{**VISIT, "x" * 10_000_000: 1}])
    assert len(str(e.value)) < 500


@pytest.mark.parametrize(
    "field, value",
    [
        ("hosp_lv", "level9\nvisits.json: record 9 (psn_no Z): field 'x': forged"),
        ("setl_time", "2023-13-01\r\nforged"),
        ("psn_type", "\u2028forged"),
        ("medfee_sumamt", "1\x1b[31m"),
        ("unknown\nforged", 1),
    ],
)
def test_a_line_break_in_a_value_cannot_forge_a_line(tmp_path, field, value):
    r = run(
        "settle", GUIYANG, write(tmp_path, "v.json", [{**VISIT, "psn_no": "A\nB", field: value}])
    )
    err = refused(r)
    assert err.count("\n") == 2, err
    assert "\x1b" not in err and "\u2028" not in err and "\r" not in err
    assert "(psn_no A\\nB)" in err


def test_trailing_zeros_in_money_stay_accepted(guiyang):
    [r] = guiyang.settle([{**VISIT, "medfee_sumamt": "1.500"}], trace=False)
    assert str(r.medfee_sumamt) == "1.50"


def test_parameter_problems_are_prefixed_by_the_option(tmp_path):
    persons = POLICIES.parent / "examples" / "guiyang-persons.json"
    r = run("credit", GUIYANG, persons)  # missing
    err = refused(r, "--param: field 'guizhou_avg_pension_2022': ")
    assert "parameters:" not in err and "params:" not in err
    r = run("credit", GUIYANG, persons, "--param", "guizhou_avg_pension_2022=abc\nforged")
    err = refused(r, "--param: field 'guizhou_avg_pension_2022': ", "abc\\nforged")
    assert err.count("\n") == 2
    r = run("credit", GUIYANG, persons, "--param", "nosuch=1")
    refused(r, "--param: field 'nosuch': ")


def test_parameter_problems_from_python_name_params(guiyang):
    import policylang

    person = {"psn_no": "B", "psn_type": "retiree", "flxempe_flag": False, "on": "2023-01-31"}
    for params in ({}, {"guizhou_avg_pension_2022": "abc"}, {"nosuch": 1}):
        with pytest.raises(policylang.InputError) as e:
            guiyang.credit([person], params=params)
        assert {p.source for p in e.value.problems} == {"params"}, e.value.problems


@pytest.mark.parametrize("engine", ["scalar", "reference"])
@pytest.mark.parametrize("age", ["-0", "-0.0", "-0.000"])
def test_negative_zero_is_never_printed(engine, age):
    """A negative zero read from a number input used to reach the trace as "-0"."""
    import re

    import policylang
    from policylang.api import CompiledPolicy

    variations = POLICIES.parent / "tests" / "fixtures" / "variations"
    text = (variations / "city.pol").read_text(encoding="utf-8").replace("age >= 70", "age <= 0")
    policy = CompiledPolicy(
        policylang.loads(text, str(variations / "c.pol"), search=[variations]).ir, engine
    )
    visit = {**VISIT, "hosp_lv": "level2", "medfee_sumamt": "-0.00", "acct_balc": "-0", "age": age}
    from decimal import Decimal

    for v in (
        visit,
        {**visit, "age": Decimal(age)},
        {**visit, "age": Decimal("-0E+3")},
        {**visit, "medfee_sumamt": "450.00"},
    ):
        out = json.dumps([r.to_json() for r in policy.settle([v])])
        assert not re.search(r'"-0(\.0*)?%?"', out), out


# ---- 2. setl_time, full-width digits, trimmed identifiers ----------------------------------

ENGINES = ["reference", "scalar"]


def _settle(engine: str, visits, tracing=False, policy=None):
    import policylang

    from .conftest import make_backend

    policy = policy or policylang.load(GUIYANG).ir
    return make_backend(engine, policy, tracing).settle(visits, {})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "given, echoed",
    [
        ("2023-03-01", "2023-03-01"),
        (" 2023-03-01\t", "2023-03-01"),
        ("2023-03-01 10:30:00", "2023-03-01 10:30:00"),
        ("2023-03-01T10:30:00", "2023-03-01 10:30:00"),
        ("2023-03-01 10:30", "2023-03-01 10:30:00"),
        ("2023-03-01T10:30", "2023-03-01 10:30:00"),
        ("２０２３-０３-０１", "2023-03-01"),
        ("２０２３－０３－０１Ｔ１０：３０", "2023-03-01 10:30:00"),
        ("\u30002023-03-01 23:59:59\u3000", "2023-03-01 23:59:59"),
    ],
)
def test_setl_time_forms_are_echoed_normalised(engine, given, echoed):
    for tracing in (False, True):
        [r] = _settle(engine, [{**VISIT, "setl_time": given}], tracing)
        assert r.setl_time == echoed and r.to_json()["setl_time"] == echoed


@pytest.mark.parametrize("engine", ENGINES)
def test_setl_time_from_python_objects(engine):
    import datetime as dt

    [a, b] = _settle(
        engine,
        [
            {**VISIT, "setl_time": dt.date(2023, 3, 1)},
            {**VISIT, "setl_time": dt.datetime(2023, 3, 1, 10, 30)},
        ],
    )
    assert (a.setl_time, b.setl_time) == ("2023-03-01", "2023-03-01 10:30:00")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "given, words",
    [
        ("20230301T1030", "expected a date"),
        ("20230301", "expected a date"),
        ("2023-03-01T10", "expected a date"),
        ("2023-03-01T1030", "expected a date"),
        ("2023-03-01T10:30:00.5", "fractional seconds"),
        ("2023-03-01 10:30:00.000000", "fractional seconds"),
        ("2023-03-01T10:30:00+08:00", "UTC offset"),
        ("2023-03-01T10:30:00Z", "UTC offset"),
        ("2023-03-01T10:30+0800", "UTC offset"),
        ("2023-3-1", "expected a date"),
        ("2023-03-01  10:30", "expected a date"),
        ("2023-03-01t10:30", "expected a date"),
        ("2023-W09-3", "expected a date"),
        ("2023-060", "expected a date"),
        ("2023-03-01T24:00", "not a real"),
        ("2023-03-01 10:30:60", "not a real"),
        ("2023-02-29", "not a real"),
        ("٢٠٢٣-٠٣-٠١", "expected a date"),
        ("2023-03-0¹", "expected a date"),
        ("2023年3月1日", "expected a date"),
    ],
)
def test_other_setl_time_forms_are_refused(engine, given, words):
    import policylang

    with pytest.raises(policylang.InputError) as e:
        _settle(engine, [{**VISIT, "setl_time": given}])
    [p] = e.value.problems
    assert p.field == "setl_time" and words in p.message, p.message


@pytest.mark.parametrize("engine", ENGINES)
def test_python_datetimes_with_fractions_or_offsets_are_refused(engine):
    import datetime as dt

    import policylang

    for t in (
        dt.datetime(2023, 3, 1, 10, 30, 0, 5),
        dt.datetime(2023, 3, 1, tzinfo=dt.timezone.utc),
    ):
        with pytest.raises(policylang.InputError):
            _settle(engine, [{**VISIT, "setl_time": t}])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "given, yuan",
    [
        ("４５０.００", "450.00"),
        ("４５０．００", "450.00"),
        ("\u3000450\u3000", "450.00"),
        ("1.500", "1.50"),
        ("+450", "450.00"),
    ],
)
def test_full_width_money_is_read(engine, given, yuan):
    [r] = _settle(engine, [{**VISIT, "medfee_sumamt": given}])
    assert str(r.medfee_sumamt) == yuan


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "given", ["45⁰", "①", "٤٥٠", "450。00", "450,00", "1_000", "1e3", "4 50", "４５０ ００"]
)
def test_other_digits_in_money_are_refused(engine, given):
    import policylang

    with pytest.raises(policylang.InputError) as e:
        _settle(engine, [{**VISIT, "medfee_sumamt": given}])
    assert e.value.problems[0].field == "medfee_sumamt"


@pytest.mark.parametrize("engine", ENGINES)
def test_full_width_numbers_in_declared_inputs(engine):
    import policylang

    variations = POLICIES.parent / "tests" / "fixtures" / "variations"
    policy = policylang.load(variations / "city.pol").ir
    [old, young] = _settle(
        engine, [{**VISIT, "age": "７０"}, {**VISIT, "age": "６９"}], policy=policy
    )
    assert old.pool_prop_selfpay > young.pool_prop_selfpay


@pytest.mark.parametrize("engine", ENGINES)
def test_psn_no_is_trimmed(engine):
    visits = [
        {**VISIT, "psn_no": "A "},
        {**VISIT, "psn_no": "\u3000A", "setl_time": "2023-03-02"},
        {**VISIT, "psn_no": "A", "setl_time": "2023-03-03"},
    ]
    results = _settle(engine, visits)
    assert [r.psn_no for r in results] == ["A", "A", "A"]
    assert [str(r.act_pay_dedc) for r in results] == [
        "150.00",
        "0.00",
        "0.00",
    ]  # one person, one deductible


@pytest.mark.parametrize("engine", ENGINES)
def test_enumerations_are_trimmed(engine):
    [r] = _settle(engine, [{**VISIT, "hosp_lv": " level2\t", "psn_type": "\u3000退休 "}])
    assert r.to_json()["pool_prop_selfpay"] == "0.75"


def test_setl_time_is_echoed_normalised_on_the_command_line(tmp_path):
    r = run(
        "settle",
        GUIYANG,
        write(
            tmp_path,
            "v.json",
            [
                {**VISIT, "setl_time": "2023-03-01T10:30"},
                {**VISIT, "setl_time": "２０２３-０３-０２"},
            ],
        ),
        "--format",
        "table",
    )
    assert r.exit_code == 0, r.output
    assert "2023-03-01 10:30:00" in r.stdout and "2023-03-02 " in r.stdout and "T10" not in r.stdout


def test_a_number_input_with_more_decimals_than_the_evaluators_keep_is_an_input_error():
    import policylang

    policy = policylang.load(POLICIES.parent / "tests" / "fixtures" / "variations" / "city.pol")
    with pytest.raises(policylang.InputError) as e:
        policy.settle([{**VISIT, "age": "70.0000001"}])
    assert e.value.problems[0].field == "age" and "6 after it" in e.value.problems[0].message
    [r] = policy.settle([{**VISIT, "age": "70.000000"}], trace=False)
    assert (
        r.pool_prop_selfpay
        == policy.settle([{**VISIT, "age": 70}], trace=False)[0].pool_prop_selfpay
    )


# ---- 4. output ---------------------------------------------------------------------------


def _cli(*args, **kwargs):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "policylang", *map(str, args)], **kwargs)


def _many_visits(tmp_path, n=3000) -> Path:
    return write(tmp_path, "many.json", [{**VISIT, "psn_no": f"P{i}"} for i in range(n)])


def test_a_closed_pipe_ends_quietly(tmp_path):
    import subprocess
    import sys

    visits = _many_visits(tmp_path)  # far more output than a pipe holds
    p = subprocess.Popen(
        [sys.executable, "-m", "policylang", "settle", GUIYANG, str(visits)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert p.stdout.read(1) == b"["
    p.stdout.close()  # like `| head -c 1`
    err = p.stderr.read().decode()
    code = p.wait(timeout=60)
    assert code in (0, 141), (code, err)
    assert err == "", err


@pytest.mark.parametrize("args", [("fmt", "--help"), ("--help",), ("--version",)])
def test_help_to_a_closed_pipe_ends_quietly(args):
    import subprocess
    import sys

    p = subprocess.Popen(
        [sys.executable, "-m", "policylang", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.close()  # like `| true`: the reader left before anything was written
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) in (0, 141) and err == "", err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ("settle", GUIYANG, "VISITS"),
        ("settle", GUIYANG, "VISITS", "--format", "table"),
        ("check", "--format", "json", GUIYANG),
        ("fmt", GUIYANG),
        ("explain", "H501"),
        ("fmt", "--help"),
        ("--help",),
        ("--version",),
    ],
)
def test_a_failed_write_is_reported(tmp_path, args):
    visits = _many_visits(tmp_path, 10)
    args = [visits if a == "VISITS" else a for a in args]
    with open("/dev/full", "w") as full:
        r = _cli(*args, stdout=full, stderr=-1, timeout=60)
    assert r.returncode == 1
    assert r.stderr.decode() == "cannot write <stdout>: No space left on device\n"


def test_an_error_while_printing_leaves_stdout_empty(tmp_path, monkeypatch):
    from policylang import runtime

    real = runtime.VisitResult.to_json
    calls = []

    def flaky(self, trace=True, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return real(self, trace, **kw)

    monkeypatch.setattr(runtime.VisitResult, "to_json", flaky)
    r = run("settle", GUIYANG, _many_visits(tmp_path, 5))
    assert r.exit_code == 1 and r.stdout == "" and "internal error: RuntimeError: boom" in r.stderr


# ---- 5. policy files ---------------------------------------------------------------------

SHANXI = POLICIES / "shanxi-2022.pol"
CITY = (
    POLICIES.parent / "tests" / "fixtures" / "invalid" / "N108-city-implements-broken-province.pol"
)
CITY_TEXT = """policy taiyuan_demo "太原市(示例)" {
  level city
  implements shanxi_2022
}
"""


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "pols"
    d.mkdir()
    (d / "shanxi-2022.pol").write_bytes(SHANXI.read_bytes())
    (d / "taiyuan.pol").write_text(CITY_TEXT, encoding="utf-8")
    return d


def test_a_gbk_policy_is_reported_at_its_first_bad_byte(tmp_path):
    p = tmp_path / "gbk.pol"
    p.write_bytes('# 注释\npolicy gbk_demo "贵阳" {\n  level city\n}\n'.encode("gbk"))
    r = run("check", p)
    assert r.exit_code == 1 and "internal error" not in r.output
    first = r.stderr.split("\n")[0]
    # 注 (D7 A2) happens to be valid UTF-8 (it reads as a Hebrew letter); 释 (CA CD) is not
    assert first.startswith(f"{p}:1:4: error[P015]: ") and "UTF-8" in first and "0xCA" in first, (
        r.stderr
    )
    assert "\u05e2" not in r.stderr  # no mojibake: the Hebrew letter is not shown
    r = run("settle", p, write(tmp_path, "v.json", [VISIT]))
    refused(r, f"{p}:1:4: error[P015]")
    r = run("fmt", p)  # fmt exits like diff: 2 for a file it cannot format
    assert r.exit_code == 2 and r.stdout == "" and r.stderr.startswith(f"{p}:1:4: error[P015]"), (
        r.output
    )
    import policylang

    with pytest.raises(policylang.PolicyError) as e:
        policylang.load(p)
    assert [d.code for d in e.value.diagnostics] == ["P015"]


def test_a_gbk_parent_makes_the_child_name_it(tmp_path):
    d = _folder(tmp_path)
    (d / "shanxi-2022.pol").write_bytes(SHANXI.read_text(encoding="utf-8").encode("gb18030"))
    r = run("check", d / "taiyuan.pol")
    assert r.exit_code == 1 and "N108" in r.stderr and "shanxi-2022.pol" in r.stderr


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_never_opened(tmp_path):
    import os

    d = _folder(tmp_path)
    os.mkfifo(d / "zz-pipe.pol")
    (d / "dir.pol").mkdir()
    (d / "dir.pol" / "inner.pol").write_text(
        CITY_TEXT.replace("taiyuan_demo", "inner_demo"), encoding="utf-8"
    )
    for args in (
        ("check", d / "taiyuan.pol"),
        ("check", d),
        ("settle", d / "taiyuan.pol", "VISITS"),
    ):
        args = [write(tmp_path, "v.json", [VISIT]) if a == "VISITS" else a for a in args]
        r = _cli(*args, stdout=-1, stderr=-1, timeout=30)  # a read of the FIFO would hang here
        err = r.stderr.decode()
        assert "internal error" not in err and "zz-pipe" not in err, err
        assert r.returncode == 0, err
    r = _cli("check", d / "zz-pipe.pol", stdout=-1, stderr=-1, timeout=30)
    assert (
        r.returncode == 1
        and r.stderr.decode() == f"{d / 'zz-pipe.pol'}: not a regular file (a FIFO)\n"
    )
    r = _cli(
        "settle",
        d / "zz-pipe.pol",
        write(tmp_path, "v.json", [VISIT]),
        stdout=-1,
        stderr=-1,
        timeout=30,
    )
    assert r.returncode == 1 and r.stdout == b"" and b"not a regular file (a FIFO)" in r.stderr


def test_links_in_a_folder_are_not_followed(tmp_path):
    d = _folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOP-SECRET-LINE\n", encoding="utf-8")
    (d / "evil.pol").symlink_to(secret)
    (d / "dangling.pol").symlink_to(tmp_path / "nowhere.pol")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "other.pol").write_text("policy other { TOP-SECRET-LINE }", encoding="utf-8")
    (d / "linked-dir").symlink_to(outside)
    for args in (("check", d), ("check", d / "taiyuan.pol"), ("check", "--format", "json", d)):
        r = run(*args)
        assert (
            "TOP-SECRET" not in r.output
            and "evil.pol" not in r.output
            and "dangling" not in r.output
        ), r.output
        assert "internal error" not in r.output and r.exit_code == 0, r.output
    assert "2 file(s) checked" in run("check", d).stderr


def test_a_parent_reached_only_through_a_link_is_not_found(tmp_path):
    d = _folder(tmp_path)
    real = tmp_path / "real-shanxi.pol"
    (d / "shanxi-2022.pol").rename(real)
    (d / "shanxi-2022.pol").symlink_to(real)
    r = run("check", d / "taiyuan.pol")
    assert r.exit_code == 1 and "N103" in r.stderr
    assert (
        run(
            "check",
            d / "taiyuan.pol",
        ).exit_code
        == 1
    )
    r = run("settle", d / "taiyuan.pol", write(tmp_path, "v.json", [VISIT]), "--path", real)
    assert "N103" not in r.stderr


def test_a_named_link_is_followed(tmp_path):
    d = _folder(tmp_path)
    (tmp_path / "link.pol").symlink_to(d / "taiyuan.pol")
    r = run("check", tmp_path / "link.pol")
    assert r.exit_code == 1 and "N103" in r.stderr  # its parent is looked for beside the link


def test_an_unreadable_candidate_is_skipped_with_a_warning(tmp_path, monkeypatch):
    import os

    d = _folder(tmp_path)
    (d / "locked.pol").write_text("policy locked { TOP-SECRET }", encoding="utf-8")
    real_open = os.open

    def guarded(path, *a, **k):
        if str(path).endswith("locked.pol"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", guarded)
    r = run("check", d / "taiyuan.pol")
    assert r.exit_code == 0, r.output
    assert f"warning: {d / 'locked.pol'}: skipped: Permission denied" in r.stderr
    assert "TOP-SECRET" not in r.output
    r = run("settle", d / "taiyuan.pol", write(tmp_path, "v.json", [VISIT]), "--no-trace")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["psn_no"] == "A"
    assert "locked.pol: skipped: Permission denied" in r.stderr


def test_a_copy_of_the_policy_beside_it_does_not_block_it(tmp_path):
    import shutil

    d = _folder(tmp_path)
    shutil.copy(d / "taiyuan.pol", d / "taiyuan-copy.pol")
    (d / "taiyuan-draft.pol").write_text(
        CITY_TEXT.replace("level city", 'level city\n  document "草稿" dated 2022-06-01'),
        encoding="utf-8",
    )
    for args in (
        ("check", d / "taiyuan.pol"),
        ("check", d),
        ("settle", d / "taiyuan.pol", write(tmp_path, "v.json", [VISIT])),
    ):
        r = run(*args)
        assert r.exit_code == 0 and "N111" not in r.output, r.output


def test_two_candidate_parents_with_one_id_name_both(tmp_path):
    import shutil

    d = _folder(tmp_path)
    shutil.copy(d / "shanxi-2022.pol", d / "shanxi-old.pol")
    r = run("check", d / "taiyuan.pol")
    assert r.exit_code == 1 and "N111" in r.stderr
    assert "shanxi-2022.pol" in r.stderr and "shanxi-old.pol" in r.stderr


def test_an_unreadable_file_in_a_folder_checked_is_skipped_with_a_warning(tmp_path, monkeypatch):
    import os

    d = _folder(tmp_path)
    (d / "locked.pol").write_text("policy locked { TOP-SECRET }", encoding="utf-8")
    real_open = os.open

    def guarded(path, *a, **k):
        if str(path).endswith("locked.pol"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", guarded)
    r = run("check", d)
    assert r.exit_code == 0 and "2 file(s) checked" in r.stderr, r.output
    assert f"warning: {d / 'locked.pol'}: skipped: Permission denied" in r.stderr
    r = run("check", d / "locked.pol")
    assert r.exit_code == 1 and r.stderr == f"{d / 'locked.pol'}: Permission denied\n"


def test_from_python_a_skipped_file_is_a_warning_and_a_fifo_a_source_error(tmp_path, monkeypatch):
    import os

    import policylang

    d = _folder(tmp_path)
    (d / "locked.pol").write_text("policy locked {}", encoding="utf-8")
    real_open = os.open
    monkeypatch.setattr(
        os,
        "open",
        lambda path, *a, **k: (
            (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
            if str(path).endswith("locked.pol")
            else real_open(path, *a, **k)
        ),
    )
    with pytest.warns(UserWarning, match="locked.pol: skipped: Permission denied"):
        policylang.load(d / "taiyuan.pol")
    if hasattr(os, "mkfifo"):
        os.mkfifo(d / "pipe.pol")
        with pytest.raises(
            policylang.SourceError, match=r"pipe.pol: not a regular file \(a FIFO\)"
        ):
            policylang.load(d / "pipe.pol")


# ---- 6. odd Python values and a misplaced P005 --------------------------------------------


@pytest.mark.parametrize("key", [5, None, ("a", 1), 1.5, b"psn_no"])
@pytest.mark.parametrize("kind", ["settle", "credit", "may_pay"])
def test_a_non_string_key_is_an_input_error_naming_the_record(guiyang, key, kind):
    import policylang

    record = {
        "settle": VISIT,
        "credit": {"psn_no": "B", "psn_type": "active", "flxempe_flag": False, "on": "2023-01-31"},
        "may_pay": {
            "relation": "self",
            "item": "drug",
            "venue": "designated_pharmacy",
            "on": "2023-01-31",
        },
    }
    with pytest.raises(policylang.InputError) as e:
        getattr(guiyang, kind)(
            [record[kind], {**record[kind], key: 1}], params={"guizhou_avg_pension_2022": "1.00"}
        )
    [p] = e.value.problems
    assert p.record == 2 and isinstance(p.field, str) and "field name" in p.message, p
    assert "\n" not in str(e.value)


def test_p005_points_at_the_policy_not_at_a_word_in_a_comment():
    from policylang.parser import parse

    fixture = (
        POLICIES.parent / "tests" / "fixtures" / "invalid" / "P005-condition-nested-too-deeply.pol"
    )
    body = fixture.read_text(encoding="utf-8")
    for first in ("# this policy was generated by a script", "// 政策 generated", '# "policy" p {'):
        text = first + "\n" + body
        _, diags = parse(text, "deep.pol")
        [d] = [d for d in diags if d.code == "P005"]
        keyword_line = next(
            i for i, line in enumerate(text.split("\n"), 1) if line.startswith("policy ")
        )
        assert (d.span.line, d.span.col) == (keyword_line, 1), (first, d.span)


def test_an_unreadable_file_in_a_search_folder_is_skipped_with_a_warning(tmp_path, monkeypatch):
    import os

    d = _folder(tmp_path)
    city = tmp_path / "city"
    city.mkdir()
    (d / "taiyuan.pol").rename(city / "taiyuan.pol")
    (d / "locked.pol").write_text("policy locked {}", encoding="utf-8")
    real_open = os.open
    monkeypatch.setattr(
        os,
        "open",
        lambda path, *a, **k: (
            (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
            if str(path).endswith("locked.pol")
            else real_open(path, *a, **k)
        ),
    )
    r = run(
        "settle",
        city / "taiyuan.pol",
        write(tmp_path, "v.json", [VISIT]),
        "--path",
        d,
        "--no-trace",
    )
    assert r.exit_code == 0, r.output
    assert f"warning: {d / 'locked.pol'}: skipped: Permission denied" in r.stderr


def test_usage_errors_do_not_forge_lines():
    r = run(
        "credit",
        GUIYANG,
        POLICIES.parent / "examples" / "guiyang-persons.json",
        "--param",
        "a\nforged=1",
        "--param",
        "a\nforged=2",
    )
    assert r.exit_code == 2 and "\nforged" not in r.output
    r = run("explain", "H501\nforged")
    assert r.exit_code == 1 and "\nforged" not in r.output


# ---- never a traceback ---------------------------------------------------------------------


def _json_values():
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.text(max_size=12),
        st.decimals(allow_nan=False, allow_infinity=False, places=3),
        st.sampled_from(
            ["2023-03-01", "level2", "退休", "450.00", "２０２３-０３-０１", "\ud800x"]
        ),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


@pytest.mark.parametrize("command", ["settle", "credit", "may-pay"])
def test_any_json_input_gives_results_or_a_clear_error(tmp_path, command):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    keys = {
        "settle": list(VISIT),
        "credit": ["psn_no", "psn_type", "flxempe_flag", "on", "contribution_base"],
        "may-pay": ["relation", "item", "venue", "on", "networked", "psn_no"],
    }[command]
    path = tmp_path / "in.json"

    @settings(max_examples=60, deadline=None)
    @given(
        records=st.lists(
            st.one_of(
                st.dictionaries(st.sampled_from(keys), _json_values(), max_size=6), _json_values()
            ),
            max_size=3,
        )
    )
    def check(records):
        text = json.dumps(
            records, ensure_ascii=True, default=str
        )  # a lone surrogate as the escape \ud800
        path.write_text(text, encoding="utf-8")
        r = run(command, GUIYANG, path, "--param", "guizhou_avg_pension_2022=3125.50")
        assert r.exit_code in (0, 1), r.output
        assert "internal error" not in r.stderr and "Traceback" not in r.output, r.stderr
        if r.exit_code == 1:
            assert r.stdout == ""
            assert r.stderr.rstrip("\n").split("\n")[-1].endswith("nothing was evaluated"), r.stderr

    check()


def test_one_json_lines_record_is_read_by_the_same_rules():
    import policylang
    from policylang.jsonread import JSONSyntaxError, read_json_line

    assert read_json_line('{"psn_no": "A", "medfee_sumamt": 1.50}', "v.jsonl", 7, 9)[
        "medfee_sumamt"
    ] == __import__("decimal").Decimal("1.50")
    with pytest.raises(policylang.InputError) as e:
        read_json_line('{"psn_no": "A", "acct_balc": NaN, "psn_no": "B"}', "v.jsonl", 7, 9)
    assert sorted(str(p) for p in e.value.problems) == [
        "v.jsonl: record 7 (psn_no A): field 'acct_balc': NaN is not a number that JSON allows",
        "v.jsonl: record 7 (psn_no A): field 'psn_no': the key 'psn_no' appears twice in one "
        "object",
    ]
    with pytest.raises(JSONSyntaxError, match=r"^v.jsonl:9:2: invalid JSON: Unterminated string"):
        read_json_line('{"', "v.jsonl", 7, 9)


# ---- a pooling that covers no person type -----------------------------------------------

NOBODY = """policy nobody "covers flexible only" {
  level city
  rounding half_up to 0.01 yuan unstated "g"
  setting account_covers = person_share unstated "g"
  pooling {
    from 2023-01-01 unstated "g" {
      covers flexible unstated "g"
      %s
    }
  }
}
"""


@pytest.mark.parametrize(
    "ratio",
    [
        'ratio 0% unstated "g"',
        'ratio 60% unstated "g"',
        'deductible 100 yuan per year unstated "g"\n cap 1000 yuan per year unstated "g"\n'
        ' ratio 60% unstated "g"',
        'ratio bands per year {\n until 500 yuan: 50% unstated "g"\n'
        ' beyond: 70% unstated "g"\n } unstated "g"',
    ],
)
@pytest.mark.parametrize("engine", ["scalar", "duckdb", "columnar"])
def test_a_pooling_that_covers_no_person_type_settles_as_the_reference(engine, ratio):
    """`covers flexible` alone admits nobody: every step after its gate is unreachable; the
    SQL lowering folded those steps' NULL values and raised a TypeError."""
    import random

    import policylang

    from .conftest import make_backend
    from .corpus import make_visits

    policy = policylang.loads(NOBODY % ratio, "nobody.pol").ir
    visits = make_visits(policy, random.Random(7), 40, {})
    want = make_backend("reference", policy).settle(visits, {})
    got = make_backend(engine, policy).settle(visits, {})
    assert [r.to_json(trace=False) for r in got] == [r.to_json(trace=False) for r in want]
    assert {r.reason for r in want} >= {"not_covered"}


# ---- percentage and points parameters need their unit ------------------------------------

POINTS_POLICY = """policy pts "points" {
  level city
  param bonus: points "p" unstated "t"
  param r: percent "r" unstated "t"
  rounding half_up to 0.01 yuan unstated "t"
  pooling {
    from 2023-01-01 unstated "t" {
      covers active, retiree unstated "t"
      ratio r unstated "t"
      uplift 10 points when bonus >= 5 points unstated "t"
    }
  }
}
"""


@pytest.mark.parametrize(
    "r, bonus, ratio",
    [
        ("60%", "5 points", "0.70"),
        ("60%", "5 个百分点", "0.70"),
        ("60%", "4.99 points", "0.60"),
        ("60%", "0.05", None),  # read as 0.05 points before: the uplift did not apply
        ("60%", "5", None),
        ("60%", "5%", None),
        ("0.6", "5 points", None),
        ("60", "5 points", None),
    ],
)
def test_percent_and_points_parameters_need_their_unit(r, bonus, ratio):
    import policylang
    from policylang.inputs import InputError

    policy = policylang.loads(POINTS_POLICY, "pts.pol")
    params = {"r": r, "bonus": bonus}
    if ratio is None:
        with pytest.raises(InputError) as e:
            policy.settle([VISIT], params)
        assert "unit" in str(e.value) or "percentage" in str(e.value)
        return
    [result] = policy.settle([VISIT], params)
    assert result.to_json()["pool_prop_selfpay"] == ratio


# ---- a rule giving a negative credit ------------------------------------------------------

NEGATIVE_CREDIT = """policy neg "negative credit" {
  level city
  input adjustment: money default 0 yuan unstated "t"
  rounding half_up to 0.01 yuan unstated "t"
  crediting {
    from 2023-01-01 unstated "t" {
      rule everyone when psn_type = active or psn_type = retiree:
        credit contribution_base × 2% - adjustment unstated "t"
    }
  }
}
"""


@pytest.mark.parametrize("engine", ["reference", "scalar", "duckdb", "columnar"])
def test_a_rule_giving_a_negative_credit_is_an_error_naming_rule_and_person(engine):
    import policylang
    from policylang.inputs import InputError

    from .conftest import make_backend

    policy = policylang.loads(NEGATIVE_CREDIT, "neg.pol").ir
    person = {"psn_no": "K1", "psn_type": "active", "flxempe_flag": False, "on": "2023-03-01"}
    ok = {**person, "contribution_base": "5000.00"}
    bad = {**ok, "psn_no": "K2", "adjustment": "99999.00"}  # 100.00 - 99999.00 < 0
    runner = make_backend(engine, policy, tracing=False)
    [c] = runner.credit([ok], {})
    assert str(c.credit) == "100.00"
    with pytest.raises(InputError) as e:
        runner.credit([ok, bad], {})
    message = str(e.value)
    assert "everyone" in message and "negative credit" in message and "K2" in message, message
    assert "record 2" in message, message
