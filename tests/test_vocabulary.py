"""Vocabularies: the enumerations as data (policylang/vocabularies/*.pol), the national
platform's codes, and what a policy declares or imports."""

from __future__ import annotations

import pytest

from policylang import vocab as V
from policylang import vocabulary as VB

# vocab.ENUMS as it was written in Python before it became builtin.pol: the file must
# reproduce it exactly (values, their order, their Chinese names).
ENUMS_BEFORE = {
    "hosp_lv": {"unrated": "未定级", "level1": "一级", "level2": "二级", "level3": "三级"},
    "psn_type": {"active": "在职", "retiree": "退休"},
    "category": {"active": "在职", "retiree": "退休", "flexible": "灵活就业"},
    "relation": {
        "self": "本人",
        "spouse": "配偶",
        "parent": "父母",
        "child": "子女",
        "sibling": "兄弟姐妹",
        "grandparent": "祖父母",
        "grandchild": "孙子女",
    },
    "venue": {
        "designated_institution": "定点医疗机构",
        "designated_pharmacy": "定点零售药店",
        "non_designated": "非定点机构",
    },
    "item": {
        "medical_service": "医疗服务",
        "drug": "药品",
        "medical_device": "医疗器械",
        "medical_consumable": "医用耗材",
        "public_health": "公共卫生费用",
        "fitness": "体育健身",
        "wellness": "养生保健",
        "resident_insurance_contribution": "城乡居民医保缴费",
        "large_expense_subsidy_contribution": "大额医疗费用补助缴费",
        "ltc_insurance_contribution": "长期护理保险缴费",
        "commercial_health_insurance_contribution": "普惠商业健康保险缴费",
    },
    "period": {"year": "年", "month": "月", "day": "日", "visit": "次"},
    "level": {"national": "国家", "province": "省", "city": "市"},
    "channel": {"direct": "直接结算", "reimbursement": "凭票报销"},
    "rounding_mode": {
        "half_up": "四舍五入",
        "half_even": "银行家舍入",
        "down": "舍去",
        "up": "进一",
    },
    "account_covers": {"person_share": "个人负担", "in_policy_selfpay": "政策范围内自付"},
}
ENUM_NAMES_ZH_BEFORE = {
    "hosp_lv": "医疗机构级别",
    "psn_type": "人员类别",
    "category": "参保人员类别",
    "relation": "亲属关系",
    "venue": "场所",
    "item": "支付项目",
    "period": "期间",
    "level": "政策层级",
    "channel": "结算方式",
    "rounding_mode": "舍入方式",
    "account_covers": "账户支付范围",
}


def test_builtin_file_reproduces_the_enumerations_exactly():
    assert V.ENUMS == ENUMS_BEFORE
    assert list(V.ENUMS) == list(ENUMS_BEFORE)
    for name, values in ENUMS_BEFORE.items():
        assert list(V.ENUMS[name]) == list(values), name
    assert V.ENUM_NAMES_ZH == ENUM_NAMES_ZH_BEFORE


def test_the_names_derived_from_the_enumerations_are_unchanged():
    aliases = {zh: canon for values in ENUMS_BEFORE.values() for canon, zh in values.items()}
    assert V.ALIASES == aliases
    assert V.ZH_OF_VALUE == {
        canon: zh for values in ENUMS_BEFORE.values() for canon, zh in values.items()
    }
    assert V.CONTRIBUTION_ITEMS == {i for i in ENUMS_BEFORE["item"] if i.endswith("_contribution")}
    assert (
        V.canonical("退休") == "retiree"
        and V.canonical("retiree") == "retiree"
        and V.canonical("x") == "x"
    )


def test_platform_codes_pooling_settles_come_from_the_national_file():
    assert V.PLATFORM == {"pooling_insutypes": ("310",), "pooling_med_types": ("11",)}
    national = VB.shipped("national")
    assert national.code_lists["insutype"].codes["340"].label == "离休人员医疗保障"
    assert national.code_lists["med_type"].codes["14"].label == "门诊慢特病"


@pytest.mark.parametrize(
    "code, value, implies",
    [
        ("11", "active", ()),
        ("1101", "active", ()),
        ("1102", "active", ()),
        ("1103", "active", (("flxempe_flag", True),)),
        ("12", "retiree", ()),
        ("1201", "retiree", ()),
        ("1202", "retiree", ()),
        ("1203", "retiree", (("flxempe_flag", True),)),
    ],
)
def test_national_person_type_codes(code, value, implies):
    found, meaning = VB.shipped().enums["psn_type"].lookup(code)
    assert (found, meaning.implies) == (value, implies)


def test_retired_cadres_code_13_has_no_value_nationally():
    assert VB.shipped().enums["psn_type"].lookup("13") is None


def test_only_the_enumerations_the_language_gives_meaning_to_are_fixed():
    fixed = {name for name, e in VB.shipped().enums.items() if e.fixed}
    assert fixed == {"category", "period", "level", "channel", "rounding_mode", "account_covers"}


# ---- what a policy declares, imports and inherits ------------------------------------------

import policylang  # noqa: E402
from policylang.api import Workspace, check_unit  # noqa: E402

from .conftest import ROOT, make_backend  # noqa: E402

PROVINCE = """policy demo_prov {
  level province
  constraints {
    require floor: ratio >= 50% cite 一
    require tilt: ratio[psn_type = retiree] >= ratio[psn_type = active] cite 一
    require all: covered = true cite 一
  }
}
"""


def city(
    ratio_rows: str,
    covers: str = "active, retiree, veteran, flexible",
    counts_as: str = " counts_as retiree",
    head: str = "",
) -> str:
    return f"""policy demo_city {{
  level city
  implements demo_prov
  {head}
  enum psn_type cite 三 {{
    veteran "离休" codes "13"{counts_as}
  }}
  rounding half_up to 0.01 yuan unstated "x"
  pooling {{
    from 2023-01-01 cite 一 {{
      covers {covers} cite 一
      ratio by psn_type {{ {ratio_rows} }} cite 一
    }}
  }}
}}
"""


def codes(text: str, tmp_path, files: dict | None = None) -> list[str]:
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    for name, content in (files or {}).items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    (tmp_path / "city.pol").write_text(text, encoding="utf-8")
    results, _ = policylang.check_paths([tmp_path / "city.pol"])
    return [d.code for d in results[0].diagnostics]


def test_the_shipped_vocabulary_files_check_clean():
    results, _ = policylang.check_paths([ROOT / "policylang" / "vocabularies"])
    assert [r.file.rsplit("/", 1)[-1] for r in results] == ["builtin.pol", "national.pol"]
    assert all(r.diagnostics == [] for r in results)


def test_a_declared_category_is_a_member_of_psn_type(tmp_path):
    assert codes(city("active: 70%  retiree: 80%  离休: 90%"), tmp_path) == []


def test_a_table_over_psn_type_must_cover_the_declared_category(tmp_path):
    assert codes(city("active: 70%  retiree: 80%"), tmp_path) == ["C401"]


def test_a_category_counting_as_retiree_meets_the_provinces_retiree_requirements(tmp_path):
    # veterans below active employees: the province's tilt towards retirees is broken
    assert codes(city("active: 70%  retiree: 80%  veteran: 60%"), tmp_path) == ["H501"]
    # without counts_as a veteran is no retiree to the province: only its floor applies
    assert codes(city("active: 70%  retiree: 80%  veteran: 60%", counts_as=""), tmp_path) == []
    assert codes(city("active: 70%  retiree: 80%  veteran: 40%", counts_as=""), tmp_path) == [
        "H501"
    ]


def test_a_declared_category_the_policy_does_not_cover_breaks_covered_everyone(tmp_path):
    assert codes(
        city("active: 70%  retiree: 80%  veteran: 90%", covers="active, retiree, flexible"),
        tmp_path,
    ) == ["H501"]


def test_the_h501_message_says_what_counts_as_what(tmp_path):
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "city.pol").write_text(
        city("active: 70%  retiree: 80%  veteran: 60%"), encoding="utf-8"
    )
    [d] = policylang.check_paths([tmp_path / "city.pol"])[0][0].diagnostics
    assert "(veteran counts as retiree)" in d.message() and "(离休 视同 退休)" in d.message("zh")


VOCAB_FILE = """vocabulary city_codes "示例市代码" {
  enum psn_type {
    veteran "离休" codes "13" counts_as retiree
  }
  code_list med_type {
    code "9901" "家庭医生签约门诊" pooled
  }
}
"""


def test_an_imported_vocabulary_file_and_its_aliases(tmp_path):
    text = city(
        "active: 70%  retiree: 80%  离休: 90%", head='import vocabulary "codes.pol"'
    ).replace(
        '  enum psn_type cite 三 {\n    veteran "离休" codes "13" counts_as retiree\n  }\n', ""
    )
    assert "enum" not in text
    assert codes(text, tmp_path, {"codes.pol": VOCAB_FILE}) == []
    assert codes(text.replace("codes.pol", "nowhere.pol"), tmp_path)[:1] == ["N117"]


def test_an_imported_vocabulary_that_cannot_be_applied(tmp_path):
    broken = VOCAB_FILE.replace('codes "13"', 'codes "13", "11"')  # 11 is active's
    text = city("active: 70%  retiree: 80%  veteran: 90%", head='import vocabulary "codes.pol"')
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "codes.pol").write_text(broken, encoding="utf-8")
    (tmp_path / "city.pol").write_text(text, encoding="utf-8")
    results, ws = policylang.check_paths([tmp_path / "city.pol", tmp_path / "codes.pol"])
    city_diags, vocab_diags = results[0].diagnostics, results[1].diagnostics
    assert [d.code for d in vocab_diags] == ["N114"]  # checked on its own, the file says where
    [n118] = [
        d for d in city_diags if d.code == "N118"
    ]  # imported, the import says it cannot be used
    assert n118.related[0].span.file.endswith("codes.pol") and "'11'" in n118.related[0].message


def test_shipped_vocabularies_import_by_name(tmp_path):
    ok = city("active: 70%  retiree: 80%  veteran: 90%", head="import vocabulary national")
    assert codes(ok, tmp_path) == []
    assert codes(
        ok.replace("import vocabulary national", "import vocabulary nationl"), tmp_path
    ) == ["N117"]


def test_a_child_inherits_its_parents_vocabulary(tmp_path):
    province = PROVINCE.replace(
        "  constraints {",
        '  enum psn_type cite 三 {\n    veteran "离休" codes "13" counts_as '
        "retiree\n  }\n  constraints {",
    )
    child = city("active: 70%  retiree: 80%", counts_as="").replace(
        '  enum psn_type cite 三 {\n    veteran "离休" codes "13"\n  }\n', ""
    )
    (tmp_path / "prov.pol").write_text(province, encoding="utf-8")
    (tmp_path / "city.pol").write_text(child, encoding="utf-8")
    results, _ = policylang.check_paths([tmp_path / "city.pol"])
    assert [d.code for d in results[0].diagnostics] == [
        "C401"
    ]  # the province's veterans need a row


@pytest.mark.parametrize(
    "decl, code",
    [
        (
            'enum period cite 一 {\n    fortnight "两周"\n  }',
            "N116",
        ),  # the language gives each period a meaning
        ('enum category cite 一 {\n    student "学生"\n  }', "N116"),  # categories follow psn_type
        (
            'enum psn_type {\n    student "学生"\n  }',
            "S601",
        ),  # a category a policy adds is a rule: cite it
        ('enum psn_type cite 一 {\n    code "1301" means student\n  }', "N106"),
        ('enum psn_type cite 一 {\n    code "1301" means active with flxempe = true\n  }', "N101"),
        (
            'enum psn_type cite 一 {\n    code "1301" means active with flxempe_flag = 3\n  }',
            "T201",
        ),
        ('enum psn_type cite 一 {\n    student "学生" codes "21", "21"\n  }', "N114"),
        ('enum psn_type cite 一 {\n    student "学生" counts_as student\n  }', "N113"),
        ('enum psn_type cite 一 {\n    student "level1"\n  }', "N115"),
        ('enum psn_type cite 一 {\n    student "hosp_lv"\n  }', "N115"),  # it would hide the field
        ('enum psn_type cite 一 {\n    student "学生" codes " 21"\n  }', "T201"),
        ('code_list med_types cite 一 {\n    code "9901"\n  }', "N116"),
        (
            'code_list med_type cite 一 {\n    code "14" "门诊慢特病" pooled\n  }',
            "N114",
        ),  # 14 is listed, not pooled
    ],
)
def test_misuse_of_the_vocabulary(decl, code):
    text = (
        "policy p {\n  level city\n  " + decl + '\n  rounding half_up to 0.01 yuan unstated "x"\n'
        "  pooling {\n    from 2023-01-01 cite 一 {\n      covers active, retiree cite 一\n      "
        "ratio 70% cite 一\n"
        "    }\n  }\n}\n"
    )
    ws = Workspace()
    found = [d.code for d in check_unit(ws.add_text(text, "p.pol"), ws).diagnostics]
    assert code in found, found


def test_a_vocabulary_file_is_not_a_policy(tmp_path):
    (tmp_path / "codes.pol").write_text(VOCAB_FILE, encoding="utf-8")
    with pytest.raises(policylang.PolicylangError, match="holds a vocabulary, not a policy"):
        policylang.load(tmp_path / "codes.pol")


def test_the_ir_carries_a_vocabulary_only_when_the_policy_extends_it(tmp_path):
    import json

    plain = policylang.load(ROOT / "policies" / "guiyang-2022.pol")
    assert "vocabulary" not in json.loads(plain.ir_json())
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "city.pol").write_text(
        city("active: 70%  retiree: 80%  veteran: 90%"), encoding="utf-8"
    )
    extended = policylang.load(tmp_path / "city.pol")
    data = json.loads(extended.ir_json())
    assert data["vocabulary"]["enums"]["psn_type"]["values"] == ["active", "retiree", "veteran"]
    (tmp_path / "city.pol").write_text(
        city("active: 70%  retiree: 80%  veteran: 90%").replace('"13"', '"1301"'), encoding="utf-8"
    )
    assert (
        policylang.load(tmp_path / "city.pol").hash != extended.hash
    )  # a code is part of the meaning


# ---- codes in records ---------------------------------------------------------------------

from policylang.backends import BACKENDS  # noqa: E402
from policylang.inputs import InputError  # noqa: E402

GUIYANG = ROOT / "policies" / "guiyang-2022.pol"


def _visit(**fields) -> dict:
    return {
        "psn_no": "A",
        "psn_type": "active",
        "flxempe_flag": False,
        "setl_time": "2023-03-01",
        "hosp_lv": "level2",
        "medfee_sumamt": "400.00",
        **fields,
    }


def _settle(policy_ir, visits, engine):
    try:
        return [r.to_json() for r in make_backend(engine, policy_ir).settle(visits, {})]
    except InputError as e:
        return [str(p) for p in e.problems]


@pytest.mark.parametrize("engine", sorted(BACKENDS))
@pytest.mark.parametrize(
    "code, flag, same_as",
    [
        ("11", False, ("active", False)),
        ("1101", False, ("active", False)),
        ("1102", True, ("active", True)),
        ("1103", True, ("active", True)),
        ("1103", None, ("active", True)),  # the code supplies the flag
        ("12", False, ("retiree", False)),
        ("1201", False, ("retiree", False)),
        ("1203", None, ("retiree", True)),
    ],
)
def test_a_platform_code_settles_as_its_category(engine, code, flag, same_as):
    policy = policylang.load(GUIYANG).ir
    coded = _visit(psn_type=code, flxempe_flag=flag)
    if flag is None:
        del coded["flxempe_flag"]
    named = _visit(psn_type=same_as[0], flxempe_flag=same_as[1])
    assert _settle(policy, [coded], engine) == _settle(policy, [named], engine)


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_a_code_contradicting_the_record_is_an_input_error(engine):
    policy = policylang.load(GUIYANG).ir
    problems = _settle(
        policy, [_visit(), _visit(psn_no="B", psn_type="1103", flxempe_flag=False)], engine
    )
    assert problems == [
        "record 2 (psn_no B): field 'flxempe_flag': false contradicts psn_type '1103' "
        "(灵活就业在职), which means active with flxempe_flag = true"
    ]


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_code_13_is_refused_unless_a_vocabulary_maps_it(engine, tmp_path):
    [problem] = _settle(policylang.load(GUIYANG).ir, [_visit(psn_type="13")], engine)
    assert problem.startswith(
        "record 1 (psn_no A): field 'psn_type': unknown person type '13': no vocabulary maps "
        "this code to a psn_type value"
    )
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "city.pol").write_text(
        city("active: 70%  retiree: 80%  veteran: 90%"), encoding="utf-8"
    )
    mapped = policylang.load(tmp_path / "city.pol").ir
    assert _settle(mapped, [_visit(psn_type="13")], engine) == _settle(
        mapped, [_visit(psn_type="veteran")], engine
    )
    assert _settle(mapped, [_visit(psn_type="离休")], engine) == _settle(
        mapped, [_visit(psn_type="veteran")], engine
    )
    [r] = _settle(mapped, [_visit(psn_type="13")], engine)
    assert r["pool_prop_selfpay"] == "0.90"


def test_codes_in_persons_and_inputs_of_the_policy():
    guiyang = policylang.load(GUIYANG)
    person = {
        "psn_no": "P",
        "flxempe_flag": True,
        "on": "2023-03-01",
        "contribution_years_met": True,
    }
    coded = guiyang.credit(
        [{**person, "psn_type": "1203"}], {"guizhou_avg_pension_2022": "3000.00"}
    )
    named = guiyang.credit(
        [{**person, "psn_type": "retiree"}], {"guizhou_avg_pension_2022": "3000.00"}
    )
    assert [r.to_json() for r in coded] == [r.to_json() for r in named]
    with pytest.raises(InputError, match="field 'flxempe_flag': false contradicts psn_type '1203'"):
        guiyang.credit(
            [{**person, "psn_type": "1203", "flxempe_flag": False}],
            {"guizhou_avg_pension_2022": "1"},
        )


def test_a_city_code_list_adds_a_med_type_pooling_settles(tmp_path):
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "codes.pol").write_text(VOCAB_FILE, encoding="utf-8")
    text = city(
        "active: 70%  retiree: 80%  veteran: 90%", head='import vocabulary "codes.pol"'
    ).replace(
        '  enum psn_type cite 三 {\n    veteran "离休" codes "13" counts_as retiree\n  }\n', ""
    )
    (tmp_path / "city.pol").write_text(text, encoding="utf-8")
    policy = policylang.load(tmp_path / "city.pol")
    local, inpatient = policy.settle([_visit(med_type="9901"), _visit(psn_no="B", med_type="21")])
    assert local.reason is None and str(local.hifp_pay) == "280.00"
    assert inpatient.reason == "other_med_type"


def test_the_fast_input_path_accepts_nothing_the_general_one_reads_differently():
    """Every key of the scalar backend's fast maps gives the same value through the general path."""
    from policylang.backends.scalar import Scalar
    from policylang.inputs import validate_visits

    policy = policylang.load(GUIYANG).ir
    fast = Scalar(policy)._fast
    for key, value in fast.psn_type.items():
        [row] = validate_visits([_visit(psn_type=key)], policy)
        assert row["psn_type"] == value, key
    for key, (value, flag) in fast.psn_flagged.items():
        [row] = validate_visits([_visit(psn_type=key, flxempe_flag=flag)], policy)
        assert (row["psn_type"], row["flxempe_flag"]) == (value, flag), key
    assert set(fast.psn_flagged) == {"1103", "1203"}


def test_a_new_enumeration_from_a_vocabulary_file_types_an_input(tmp_path):
    (tmp_path / "kinds.pol").write_text(
        """vocabulary clinic_kinds "诊所类别" {
  enum clinic_kind "诊所类别" {
    community "社区卫生服务中心" codes "C1"
    township "乡镇卫生院" codes "T1"
    private "民营诊所"
  }
}
""",
        encoding="utf-8",
    )
    (tmp_path / "p.pol").write_text(
        """policy kinds_city {
  level city
  import vocabulary "kinds.pol"
  input clinic: clinic_kind default "社区卫生服务中心" unstated "x"
  rounding half_up to 0.01 yuan unstated "x"
  pooling {
    from 2024-01-01 unstated "x" {
      covers active, retiree, flexible unstated "x"
      ratio by clinic { community | township: 80%  private: 60% } unstated "x"
      uplift 5 points when clinic = 乡镇卫生院 unstated "x"
    }
  }
}
""",
        encoding="utf-8",
    )
    policy = policylang.load(tmp_path / "p.pol")
    visits = [
        _visit(
            psn_no=str(i),
            setl_time="2024-02-01",
            hosp_lv="level1",
            medfee_sumamt="100.00",
            **({"clinic": c} if c else {}),
        )
        for i, c in enumerate([None, "T1", "private", "民营诊所"])
    ]
    for engine in sorted(BACKENDS):
        results = make_backend(engine, policy.ir).settle(visits, {})
        assert [str(r.hifp_pay) for r in results] == ["80.00", "85.00", "60.00", "60.00"], engine
    # the table over the new enumeration must cover it, as any other
    text = (tmp_path / "p.pol").read_text(encoding="utf-8").replace("  private: 60%", "")
    (tmp_path / "p.pol").write_text(text, encoding="utf-8")
    assert [d.code for d in policylang.check_paths([tmp_path / "p.pol"])[0][0].diagnostics] == [
        "C401"
    ]


def test_vocabulary_blocks_in_the_docs_parse_and_apply():
    import re

    from policylang.resolve import check_vocabulary

    blocks = [
        m.group(1)
        for doc in (ROOT / "docs").glob("*.md")
        for m in re.finditer(r"```pol\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
        if m.group(1).lstrip().startswith("vocabulary")
    ]
    assert blocks
    for text in blocks:
        ws = Workspace()
        unit = ws.add_text(text, "doc.pol")
        assert unit.vocabulary is not None and not unit.diagnostics, [
            d.message() for d in unit.diagnostics
        ]
        assert check_vocabulary(unit) == []


# ---- vocabularies with the hardened reader and the officer's toolbox
# ------------------------------

import os  # noqa: E402
import sys  # noqa: E402


def test_an_imported_vocabulary_is_read_as_policy_files_are(tmp_path):
    """UTF-8 only (P015 when the file itself is checked, N118 at the import), a regular file
    only (N117 says why not)."""
    text = city(
        "active: 70%  retiree: 80%  离休: 90%", head='import vocabulary "codes.pol"'
    ).replace(
        '  enum psn_type cite 三 {\n    veteran "离休" codes "13" counts_as retiree\n  }\n', ""
    )
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "city.pol").write_text(text, encoding="utf-8")
    (tmp_path / "codes.pol").write_bytes(VOCAB_FILE.encode("gb18030"))
    results, _ = policylang.check_paths([tmp_path / "city.pol", tmp_path / "codes.pol"])
    n118 = [d for d in results[0].diagnostics if d.code == "N118"]
    assert n118 and "not UTF-8 text" in n118[0].message() and "UTF-8" in n118[0].hint()
    assert [d.code for d in results[1].diagnostics] == ["P015"]
    (tmp_path / "codes.pol").unlink()
    (tmp_path / "codes.pol").mkdir()
    [n117] = [
        d
        for d in policylang.check_paths([tmp_path / "city.pol"])[0][0].diagnostics
        if d.code == "N117"
    ]
    assert "not a regular file (a directory)" in n117.message()
    (tmp_path / "codes.pol").rmdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "codes.pol")  # opening it would wait for a writer: it is never opened
        [n117] = [
            d
            for d in policylang.check_paths([tmp_path / "city.pol"])[0][0].diagnostics
            if d.code == "N117"
        ]
        assert "not a regular file (a FIFO)" in n117.message()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_vocabulary_named_by_an_import_is_read_through_a_link(tmp_path):
    """An import names its file, as a command names a policy: a link to it is followed.  A
    link beside a policy is still never listed when a parent is looked for."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "codes.pol").write_text(VOCAB_FILE, encoding="utf-8")
    (tmp_path / "codes.pol").symlink_to(shared / "codes.pol")
    text = city(
        "active: 70%  retiree: 80%  离休: 90%", head='import vocabulary "codes.pol"'
    ).replace(
        '  enum psn_type cite 三 {\n    veteran "离休" codes "13" counts_as retiree\n  }\n', ""
    )
    assert codes(text, tmp_path) == []
    from policylang.resolve import list_policy_files

    assert tmp_path / "codes.pol" not in list_policy_files(tmp_path)


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_codes_with_full_width_digits_and_spaces(engine, tmp_path):
    """Like amounts and dates, a code may come with full-width digits and spaces around it;
    the fast input path leaves such text to the general one, which reads the same value."""
    (tmp_path / "prov.pol").write_text(PROVINCE, encoding="utf-8")
    (tmp_path / "city.pol").write_text(
        city("active: 70%  retiree: 80%  veteran: 90%"), encoding="utf-8"
    )
    mapped = policylang.load(tmp_path / "city.pol").ir
    plain = _settle(mapped, [_visit(psn_type="13"), _visit(psn_no="B", psn_type="1201")], engine)
    assert (
        _settle(
            mapped,
            [_visit(psn_type="１３"), _visit(psn_no="B", psn_type=" １２０１\u3000")],
            engine,
        )
        == plain
    )
    assert plain[0]["pool_prop_selfpay"] == "0.90"
    [problem] = _settle(mapped, [_visit(psn_type="１４")], engine)
    assert "no vocabulary maps this code" in problem and "'１４'" in problem


@pytest.mark.parametrize("engine", sorted(BACKENDS))
def test_a_declared_input_of_an_enumeration_reads_codes_and_what_they_imply_alike(engine, tmp_path):
    """An input typed psn_type may hold 1103, which implies flxempe_flag true for the record: the
    scalar backend's fast path leaves it to the general one, so both backends agree."""
    (tmp_path / "p.pol").write_text(
        """policy input_codes {
  level city
  input holder: psn_type default "active" unstated "x"
  rounding half_up to 0.01 yuan unstated "x"
  pooling {
    from 2023-01-01 unstated "x" {
      covers active, retiree, flexible unstated "x"
      ratio by holder { active: 70%  retiree: 80% } unstated "x"
    }
  }
}
""",
        encoding="utf-8",
    )
    policy = policylang.load(tmp_path / "p.pol").ir
    agrees = _settle(policy, [_visit(holder="1203", flxempe_flag=True)], engine)
    assert agrees[0]["pool_prop_selfpay"] == "0.80"
    [problem] = _settle(policy, [_visit(holder="1203")], engine)
    assert "field 'flxempe_flag': false contradicts holder '1203'" in problem
    assert _settle(policy, [_visit(holder="1201")], engine)[0]["pool_prop_selfpay"] == "0.80"


def test_example_records_may_give_codes(tmp_path):
    """In an in-file example, an enumeration field of a record may be written as the text a JSON
    record carries: a code of the vocabulary in force.  A code that implies flxempe_flag
    overrides the example's default (false); a code nobody maps is an error of the example."""
    from policylang.examples import collect_and_run

    body = (
        '  example "codes" cite 一 {\n'
        '    settle { psn_type: "13", setl_time: 2023-03-01, hosp_lv: level2, medfee_sumamt: 100 '
        "yuan }\n"
        "    expect { pool_prop_selfpay: 90%, hifp_pay: 90 yuan }\n"
        '    settle { psn_no: "B", psn_type: "1103", setl_time: 2023-03-01, hosp_lv: level2,\n'
        "             medfee_sumamt: 100 yuan }\n"
        "    expect { pool_prop_selfpay: 70%, hifp_pay: 70 yuan }\n"
        "  }\n"
    )
    text = city("active: 70%  retiree: 80%  veteran: 90%")
    text = text[: text.rstrip().rindex("}")] + body + "}\n"
    assert codes(text, tmp_path) == []
    outcomes = collect_and_run([str(tmp_path / "city.pol")])
    assert [o.status for o in outcomes] == ["PASS"], [o.error or o.mismatches for o in outcomes]
    assert codes(text.replace('psn_type: "13"', 'psn_type: "14"'), tmp_path) == ["N106"]
    assert codes(text.replace('psn_type: "13"', "psn_type: 13"), tmp_path) == ["T201"]


def test_the_three_categories_example_runs_under_policylang_test():
    from click.testing import CliRunner

    from policylang.cli import main

    result = CliRunner().invoke(main, ["test", str(ROOT / "examples" / "three-categories")])
    assert result.exit_code == 0, result.output
    assert "3 example(s): 3 passed, 0 failed" in result.output


def test_a_vocabulary_named_to_policylang_test_is_no_policy():
    from policylang.examples import collect_and_run

    [outcome] = collect_and_run([str(ROOT / "examples" / "three-categories" / "lanshan-codes.pol")])
    assert outcome.status == "ERROR" and "holds a vocabulary, not a policy" in outcome.error


@pytest.mark.parametrize(
    "lang, header, name",
    [
        (
            "en",
            "| Hospital level | in-service employee | retiree | veteran | Clause |",
            "veteran: 50 yuan",
        ),
        ("zh", "| 医疗机构级别 | 在职职工 | 退休人员 | 离休 | 条款 |", "离休: 50 元"),
    ],
)
def test_render_shows_a_declared_category(lang, header, name):
    """A category the policy declares has its column in the ratio table and its name in Chinese."""
    from policylang.render import render

    text = render(
        policylang.load(ROOT / "examples" / "three-categories" / "lanshan-2024.pol").ir, "md", lang
    )
    assert header in text and name in text
    assert (
        "| 未定级、一级 | 70% | 80% | 90% |" in text
        or "| unrated, level1 | 70% | 80% | 90% |" in text
    )


def test_diff_goes_through_the_categories_of_both_vocabularies(tmp_path):
    import shutil

    from policylang import semdiff

    folder = ROOT / "examples" / "three-categories"
    for f in folder.glob("*.pol"):
        shutil.copy(f, tmp_path)
    changed = tmp_path / "lanshan-2024.pol"
    changed.write_text(
        changed.read_text(encoding="utf-8").replace(
            "primary, veteran: 90%", "primary, veteran: 95%"
        ),
        encoding="utf-8",
    )
    old, new = policylang.load(folder / "lanshan-2024.pol"), policylang.load(changed)
    report = semdiff.compare(old, new, "old.pol", "new.pol", {}, "zh")
    [change] = report.values
    assert "离休(含灵活就业)" in change.label and (change.before, change.after) == ("90%", "95%")
    assert report.visits and {d.visit["psn_type"] for d in report.visits} == {"veteran"}
    assert "离休(含灵活就业)" in semdiff.to_text(report, "zh")
    # against a policy that does not know veterans: their cells were not covered; no visit can
    # carry the category under both, so none is settled with it
    other = semdiff.compare(
        policylang.load(ROOT / "policies" / "guiyang-2022.pol"), old, "a.pol", "b.pol", {}, "en"
    )
    assert any("veteran" in ch.label and ch.before == "not covered" for ch in other.values)
    assert all(d.visit["psn_type"] != "veteran" for d in other.visits)
