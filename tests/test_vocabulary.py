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
        "self": "本人", "spouse": "配偶", "parent": "父母", "child": "子女",
        "sibling": "兄弟姐妹", "grandparent": "祖父母", "grandchild": "孙子女",
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
    "rounding_mode": {"half_up": "四舍五入", "half_even": "银行家舍入", "down": "舍去", "up": "进一"},
    "account_covers": {"person_share": "个人负担", "in_policy_selfpay": "政策范围内自付"},
}
ENUM_NAMES_ZH_BEFORE = {"hosp_lv": "医疗机构级别", "psn_type": "人员类别", "category": "参保人员类别",
                        "relation": "亲属关系", "venue": "场所", "item": "支付项目", "period": "期间",
                        "level": "政策层级", "channel": "结算方式", "rounding_mode": "舍入方式",
                        "account_covers": "账户支付范围"}


def test_builtin_file_reproduces_the_enumerations_exactly():
    assert V.ENUMS == ENUMS_BEFORE
    assert list(V.ENUMS) == list(ENUMS_BEFORE)
    for name, values in ENUMS_BEFORE.items():
        assert list(V.ENUMS[name]) == list(values), name
    assert V.ENUM_NAMES_ZH == ENUM_NAMES_ZH_BEFORE


def test_the_names_derived_from_the_enumerations_are_unchanged():
    aliases = {zh: canon for values in ENUMS_BEFORE.values() for canon, zh in values.items()}
    assert V.ALIASES == aliases
    assert V.ZH_OF_VALUE == {canon: zh for values in ENUMS_BEFORE.values() for canon, zh in values.items()}
    assert V.CONTRIBUTION_ITEMS == {i for i in ENUMS_BEFORE["item"] if i.endswith("_contribution")}
    assert V.canonical("退休") == "retiree" and V.canonical("retiree") == "retiree" and V.canonical("x") == "x"


def test_platform_codes_pooling_settles_come_from_the_national_file():
    assert V.PLATFORM == {"pooling_insutypes": ("310",), "pooling_med_types": ("11",)}
    national = VB.shipped("national")
    assert national.code_lists["insutype"].codes["340"].label == "离休人员医疗保障"
    assert national.code_lists["med_type"].codes["14"].label == "门诊慢特病"


@pytest.mark.parametrize("code, value, implies", [
    ("11", "active", ()), ("1101", "active", ()), ("1102", "active", ()),
    ("1103", "active", (("flxempe_flag", True),)),
    ("12", "retiree", ()), ("1201", "retiree", ()), ("1202", "retiree", ()),
    ("1203", "retiree", (("flxempe_flag", True),)),
])
def test_national_person_type_codes(code, value, implies):
    found, meaning = VB.shipped().enums["psn_type"].lookup(code)
    assert (found, meaning.implies) == (value, implies)


def test_retired_cadres_code_13_has_no_value_nationally():
    assert VB.shipped().enums["psn_type"].lookup("13") is None


def test_only_the_enumerations_the_language_gives_meaning_to_are_fixed():
    fixed = {name for name, e in VB.shipped().enums.items() if e.fixed}
    assert fixed == {"category", "period", "level", "channel", "rounding_mode", "account_covers"}
