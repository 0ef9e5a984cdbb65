"""The built-in vocabulary: enumerations, their Chinese aliases, and the fields
each kind of evaluation reads.  Names here are the ones the national platform and
the JSON contract use; a policy may declare further inputs with ``input``."""

from __future__ import annotations

# enumeration -> {canonical value: Chinese alias}
ENUMS: dict[str, dict[str, str]] = {
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

CONTRIBUTION_ITEMS = frozenset(i for i in ENUMS["item"] if i.endswith("_contribution"))

# Chinese alias -> canonical value (aliases are unique across enumerations or agree).
ALIASES: dict[str, str] = {}
# canonical value -> its Chinese alias
ZH_OF_VALUE: dict[str, str] = {canon: zh for values in ENUMS.values() for canon, zh in values.items()}
for _values in ENUMS.values():
    for _canon, _zh in _values.items():
        ALIASES[_zh] = _canon

# Scalar types.
MONEY, PERCENT, POINTS, NUMBER, DATE, BOOL, TEXT = "money", "percent", "points", "number", "date", "bool", "text"
SCALAR_TYPES = (MONEY, PERCENT, POINTS, NUMBER, DATE, BOOL, TEXT)
TYPE_ALIASES = {"金额": MONEY, "比例": PERCENT, "百分比": PERCENT, "百分点": POINTS, "数值": NUMBER, "日期": DATE,
                "布尔": BOOL, "文本": TEXT, "count": NUMBER}
TYPE_NAMES_ZH = {MONEY: "金额", PERCENT: "百分比", POINTS: "百分点", NUMBER: "数值", DATE: "日期",
                 BOOL: "是/否", TEXT: "文本"}
TYPE_NAMES_EN = {MONEY: "an amount of money", PERCENT: "a percentage", POINTS: "percentage points",
                 NUMBER: "a number", DATE: "a date", BOOL: "true/false", TEXT: "text"}

# Fields each evaluation reads: name -> type (a scalar type or an enumeration name).
VISIT_FIELDS = {
    "psn_no": TEXT, "psn_type": "psn_type", "flxempe_flag": BOOL, "setl_time": DATE,
    "hosp_lv": "hosp_lv", "designated": BOOL, "medfee_sumamt": MONEY,
    "fulamt_ownpay_amt": MONEY, "overlmt_selfpay": MONEY, "preselfpay_amt": MONEY,
    "acct_balc": MONEY,
    "setl_id": TEXT, "mdtrt_id": TEXT, "insutype": TEXT, "med_type": TEXT, "acct_used_flag": TEXT,
    "mdtrt_cert_type": TEXT, "chrg_bchno": TEXT, "psn_setlway": TEXT,
}
PERSON_FIELDS = {
    "psn_no": TEXT, "psn_type": "psn_type", "flxempe_flag": BOOL, "on": DATE,
    "contribution_years_met": BOOL, "contribution_base": MONEY,
}
REQUEST_FIELDS = {
    "relation": "relation", "venue": "venue", "item": "item", "on": DATE, "networked": BOOL,
}
CONTEXT_FIELDS = {"pooling": VISIT_FIELDS, "crediting": PERSON_FIELDS, "account_use": REQUEST_FIELDS}

# What the national platform's codes mean for general outpatient pooling.
PLATFORM = {
    "pooling_insutypes": ("310",),  # 职工基本医疗保险
    "pooling_med_types": ("11",),  # 普通门诊
}

SECTION_NAMES_ZH = {"pooling": "普通门诊统筹", "crediting": "个人账户计入", "account_use": "个人账户使用"}

# Settings a policy may declare, with their value enumeration.
SETTINGS = {"account_covers": "account_covers"}

# Quantities a requirement may measure in the policies that implement it.
# ``covered``: whether a kind of visit is covered at all; ``start``: the first day pooling is in force.
MEASURES = {"ratio": PERCENT, "deductible": MONEY, "cap": MONEY, "covered": BOOL, "start": DATE}
MEASURE_ALIASES = {"支付比例": "ratio", "起付标准": "deductible", "最高支付限额": "cap", "纳入统筹": "covered",
                   "实施日期": "start"}

# Enumerations as a Chinese reader knows them (for messages).
ENUM_NAMES_ZH = {"hosp_lv": "医疗机构级别", "psn_type": "人员类别", "category": "参保人员类别", "relation": "亲属关系",
                 "venue": "场所", "item": "支付项目", "period": "期间", "level": "政策层级", "channel": "结算方式",
                 "rounding_mode": "舍入方式", "account_covers": "账户支付范围"}
LEVEL_RANK = {"national": 3, "province": 2, "city": 1}


def canonical(value: str) -> str:
    return ALIASES.get(value, value)
