"""The built-in vocabulary: enumerations, their Chinese aliases, and the fields
each kind of evaluation reads.  Names here are the ones the national platform and
the JSON contract use; a policy may declare further inputs with ``input``.

The enumerations themselves are data (``vocabularies/builtin.pol``, ``national.pol``);
the names below that show them are read from those files on first use.  A policy's
own vocabulary (what it declares or imports) is ``Scope.vocab`` / ``ir.Policy.vocab``."""

from __future__ import annotations

import functools
from typing import Any

# The enumerations are data: policylang/vocabularies/builtin.pol (and national.pol for
# the platform's codes), read once on first use -- see policylang/vocabulary.py.  The
# names below are kept for the code that reads them:
#   ENUMS            enumeration -> {canonical value: Chinese alias}   (builtin.pol)
#   ALIASES          Chinese alias -> canonical value (aliases are unique across enumerations or
# agree)
#   ZH_OF_VALUE      canonical value -> its Chinese alias
#   ENUM_NAMES_ZH    enumeration -> its Chinese name
#   CONTRIBUTION_ITEMS  the items that are contributions (their names end in _contribution)
#   PLATFORM         which insutype / med_type codes general outpatient pooling settles
# (national.pol)
_LAZY = ("ENUMS", "ALIASES", "ZH_OF_VALUE", "ENUM_NAMES_ZH", "CONTRIBUTION_ITEMS", "PLATFORM")


@functools.lru_cache(maxsize=1)
def _tables() -> dict:
    from .vocabulary import shipped

    builtin, national = shipped("builtin"), shipped("national")
    enums = {name: dict(e.names_zh) for name, e in builtin.enums.items()}
    aliases: dict[str, str] = {}
    for e in builtin.enums.values():
        for alias, value in e.aliases.items():
            aliases.setdefault(alias, value)
    return {
        "ENUMS": enums,
        "ALIASES": aliases,
        "ZH_OF_VALUE": {canon: zh for values in enums.values() for canon, zh in values.items()},
        "ENUM_NAMES_ZH": {name: e.label for name, e in builtin.enums.items()},
        "CONTRIBUTION_ITEMS": frozenset(i for i in enums["item"] if i.endswith("_contribution")),
        "PLATFORM": {
            "pooling_insutypes": national.pooled("insutype"),  # 职工基本医疗保险
            "pooling_med_types": national.pooled("med_type"),
        },  # 普通门诊
        "_CANONICAL": national.aliases(),
    }


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _tables()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Scalar types.
MONEY, PERCENT, POINTS, NUMBER, DATE, BOOL, TEXT = (
    "money",
    "percent",
    "points",
    "number",
    "date",
    "bool",
    "text",
)
SCALAR_TYPES = (MONEY, PERCENT, POINTS, NUMBER, DATE, BOOL, TEXT)
TYPE_ALIASES = {
    "金额": MONEY,
    "比例": PERCENT,
    "百分比": PERCENT,
    "百分点": POINTS,
    "数值": NUMBER,
    "日期": DATE,
    "布尔": BOOL,
    "文本": TEXT,
    "count": NUMBER,
}
TYPE_NAMES_ZH = {
    MONEY: "金额",
    PERCENT: "百分比",
    POINTS: "百分点",
    NUMBER: "数值",
    DATE: "日期",
    BOOL: "是/否",
    TEXT: "文本",
}
TYPE_NAMES_EN = {
    MONEY: "an amount of money",
    PERCENT: "a percentage",
    POINTS: "percentage points",
    NUMBER: "a number",
    DATE: "a date",
    BOOL: "true/false",
    TEXT: "text",
}

# Fields each evaluation reads: name -> type (a scalar type or an enumeration name).
VISIT_FIELDS = {
    "psn_no": TEXT,
    "psn_type": "psn_type",
    "flxempe_flag": BOOL,
    "setl_time": DATE,
    "hosp_lv": "hosp_lv",
    "designated": BOOL,
    "medfee_sumamt": MONEY,
    "fulamt_ownpay_amt": MONEY,
    "overlmt_selfpay": MONEY,
    "preselfpay_amt": MONEY,
    "acct_balc": MONEY,
    "setl_id": TEXT,
    "mdtrt_id": TEXT,
    "insutype": TEXT,
    "med_type": TEXT,
    "acct_used_flag": TEXT,
    "mdtrt_cert_type": TEXT,
    "chrg_bchno": TEXT,
    "psn_setlway": TEXT,
}
PERSON_FIELDS = {
    "psn_no": TEXT,
    "psn_type": "psn_type",
    "flxempe_flag": BOOL,
    "on": DATE,
    "contribution_years_met": BOOL,
    "contribution_base": MONEY,
}
REQUEST_FIELDS = {
    "relation": "relation",
    "venue": "venue",
    "item": "item",
    "on": DATE,
    "networked": BOOL,
}
CONTEXT_FIELDS = {
    "pooling": VISIT_FIELDS,
    "crediting": PERSON_FIELDS,
    "account_use": REQUEST_FIELDS,
}

SECTION_NAMES_ZH = {
    "pooling": "普通门诊统筹",
    "crediting": "个人账户计入",
    "account_use": "个人账户使用",
}

# Settings a policy may declare, with their value enumeration.
SETTINGS = {"account_covers": "account_covers"}

# Quantities a requirement may measure in the policies that implement it.
# ``covered``: whether a kind of visit is covered at all; ``start``: the first day pooling is in
# force.
MEASURES = {"ratio": PERCENT, "deductible": MONEY, "cap": MONEY, "covered": BOOL, "start": DATE}
MEASURE_ALIASES = {
    "支付比例": "ratio",
    "起付标准": "deductible",
    "最高支付限额": "cap",
    "纳入统筹": "covered",
    "实施日期": "start",
}

LEVEL_RANK = {"national": 3, "province": 2, "city": 1}


def canonical(value: str) -> str:
    """The canonical value an alias stands for (the vocabularies every policy starts
    from); any other name as it is."""
    return _tables()["_CANONICAL"].get(value, value)


# The funds a visit may be paid from, as the platform names them in ``setlinfo``
# (docs/domain.md): fund name -> (its result field, 中文).  ``hifp`` is the pooling fund a
# ``pooling`` section settles; a ``fund`` block declares one of the others.  Results list the
# declared funds' fields in this order, after ``hifp_pay``.
FUNDS = {
    "hifp": ("hifp_pay", "基本医疗保险统筹基金"),
    "cvlserv": ("cvlserv_pay", "公务员医疗补助资金"),
    "hifes": ("hifes_pay", "企业补充医疗保险基金"),
    "hifmi": ("hifmi_pay", "居民大病保险资金"),
    "hifob": ("hifob_pay", "职工大额医疗费用补助基金"),
    "maf": ("maf_pay", "医疗救助基金"),
    "oth": ("oth_pay", "其他支出"),
}
POOLING_FUND = "hifp"
# the result fields of the further funds, in the platform's order
FURTHER_FUND_FIELDS = tuple(field for k, (field, _) in FUNDS.items() if k != POOLING_FUND)

# A province may constrain each further fund of its cities: ``hifob_ratio``, ``hifob_deductible``
# (where its band starts), ``hifob_cap``, measured on the fund's statements as ``ratio``,
# ``deductible`` and ``cap`` are on the pooling fund's.
FUND_MEASURES = {
    f"{fund}_{q}": (fund, q)
    for fund in FUNDS
    if fund != POOLING_FUND
    for q in ("ratio", "deductible", "cap")
}
MEASURES.update({name: MEASURES[q] for name, (_, q) in FUND_MEASURES.items()})
