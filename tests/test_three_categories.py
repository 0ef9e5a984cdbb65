"""The demonstration in examples/three-categories/: an invented city with three person
categories -- active employees, retirees, and retired cadres (离休, code 13), a category
the city declares and that counts as retirees -- each with its own deductible, cap and
ratio.  The results of its 14 visits are derived by hand (worked-example.json)."""

from __future__ import annotations


import pytest

import policylang
from policylang.backends import BACKENDS

from .conftest import ROOT, assert_hand_derived, make_backend, read_json

FOLDER = ROOT / "examples" / "three-categories"
CITY = FOLDER / "lanshan-2024.pol"
CASE = read_json(FOLDER / "worked-example.json")


@pytest.fixture(scope="module")
def lanshan():
    return policylang.load(CITY)


def test_the_example_checks_clean():
    results, _ = policylang.check_paths([FOLDER])
    assert {r.file.rsplit("/", 1)[-1]: r.diagnostics for r in results} == {
        "example-province-2023.pol": [],
        "lanshan-2024.pol": [],
        "lanshan-codes.pol": [],
    }


def test_visits_json_is_the_worked_examples_input():
    assert read_json(FOLDER / "visits.json") == CASE["input"]
    assert len(CASE["input"]) >= 10


def test_hand_derived_results(lanshan, snapshot_json):
    got = [r.to_json() for r in lanshan.settle(CASE["input"])]
    assert_hand_derived(got, CASE["expected"])
    assert got == snapshot_json


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_every_backend_gives_the_hand_derived_results(lanshan, engine):
    results = make_backend(engine, lanshan.ir).settle(CASE["input"], {})
    assert [
        {k: r.to_json()[k] for k in want} for r, want in zip(results, CASE["expected"], strict=True)
    ] == CASE["expected"]


def test_each_category_has_its_own_deductible_cap_and_ratio(lanshan):
    """The categories side by side: one level-2 visit of 300.00, and one that reaches the cap."""

    def settle(psn_type):
        small, large = lanshan.settle(
            [
                {
                    "psn_no": "X",
                    "psn_type": psn_type,
                    "flxempe_flag": False,
                    "setl_time": "2024-03-01",
                    "hosp_lv": "level2",
                    "medfee_sumamt": "300.00",
                },
                {
                    "psn_no": "X",
                    "psn_type": psn_type,
                    "flxempe_flag": False,
                    "setl_time": "2024-03-02",
                    "hosp_lv": "level2",
                    "medfee_sumamt": "9000.00",
                },
            ]
        )
        return str(small.act_pay_dedc), str(small.hifp_pay), str(small.hifp_pay + large.hifp_pay)

    assert settle("11") == ("200.00", "60.00", "2000.00")  # (300 - 200) x 60%; cap 2000
    assert settle("12") == ("100.00", "140.00", "3000.00")  # (300 - 100) x 70%; cap 3000
    assert settle("13") == ("50.00", "212.50", "5000.00")  # (300 - 50) x 85%; cap 5000


def test_retired_cadres_must_meet_the_provinces_requirements_on_retirees(tmp_path):
    """counts_as retiree: a veteran ratio below the active one breaks the province's tilt
    towards retirees; without counts_as the province does not know veterans as retirees."""
    import shutil

    for f in FOLDER.glob("*.pol"):
        shutil.copy(f, tmp_path)
    city = tmp_path / "lanshan-2024.pol"
    text = city.read_text(encoding="utf-8").replace(
        "level2 | level3, veteran: 85%", "level2 | level3, veteran: 55%"
    )
    city.write_text(text, encoding="utf-8")
    [h501] = [d for d in policylang.check_paths([city])[0][0].diagnostics]
    assert h501.code == "H501" and h501.args["name"] == "retiree_tilt"
    assert (
        "the ratio is 55% for hosp_lv=level2, psn_type=veteran and 60% for hosp_lv=level2, "
        "psn_type=active" in h501.message()
    )
    assert "(veteran counts as retiree)" in h501.message()
    city.write_text(text.replace(" counts_as retiree", ""), encoding="utf-8")
    assert policylang.check_paths([city])[0][0].diagnostics == []
