"""Diagnostics: stable codes, severities, bilingual messages, and rendering.

A diagnostic stores its code and the arguments of its message, not the text, so
it can be rendered in English or Chinese.  The catalogue below is the single
source of truth for every code; ``docs/diagnostics.md`` is generated from it.
"""

from __future__ import annotations

import functools

import json
from typing import Any, Iterable

import attrs

from .errors import PolicylangError
from .nodes import Span

ERROR = "error"
WARNING = "warning"


@attrs.frozen
class Entry:
    severity: str
    title: str
    en: str
    zh: str
    hint_en: str = ""
    hint_zh: str = ""


# code -> catalogue entry.  Prefixes: P source & syntax, N names, T types & units,
# R ranges, C completeness & conflicts, H hierarchy, S structure & citations.
CATALOGUE: dict[str, Entry] = {
    # ---- P: source text and syntax
    "P001": Entry(
        ERROR,
        "unexpected character",
        "unexpected character {char!r} ({name}){context}",
        "无法识别的字符 {char!r}({name}){context_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "P002": Entry(
        ERROR,
        "unexpected word or symbol",
        "unexpected {found}; expected {expected}",
        "此处不应出现 {found_zh};应为 {expected_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "P003": Entry(
        ERROR,
        "unexpected end of file",
        "the file ends too early; expected {expected}",
        "文件意外结束;应为 {expected_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "P004": Entry(
        ERROR,
        "unterminated string",
        "this string is not closed before the end of the line",
        "字符串在行尾之前没有闭合",
        "close it with the same kind of quote that opened it",
        "请用相同的引号闭合",
    ),
    "P005": Entry(
        ERROR,
        "nested too deeply",
        "this policy nests conditions or expressions too deeply to check",
        "本政策的条件或表达式嵌套过深,无法检查",
        "split long conditions into several rules",
        "请把过长的条件拆成几条规则",
    ),
    "P010": Entry(
        ERROR,
        "invisible character",
        "invisible character U+{code} ({name}) in the source",
        "源文件中有不可见字符 U+{code}({name})",
        "it usually comes from copying out of Word or a web page; delete it",
        "通常是从 Word 或网页复制带入的,请删除",
    ),
    "P011": Entry(
        ERROR,
        "bidirectional control character",
        "bidirectional control character U+{code} ({name}) can make the text display differently "
        "from how it reads",
        "双向控制字符 U+{code}({name})会使显示顺序与实际内容不一致",
        "delete it",
        "请删除",
    ),
    "P012": Entry(
        ERROR,
        "confusable character",
        "{char!r} (U+{code}, {name}) looks like {looks_like!r} but is a different character",
        "{char!r}(U+{code},{name})看起来像 {looks_like!r},但不是同一个字符",
        "type {looks_like!r} instead",
        "请改为 {looks_like!r}",
    ),
    "P013": Entry(
        ERROR,
        "Chinese punctuation inside a number",
        "{char!r} inside a number is ambiguous",
        "数字中的 {char!r} 含义不明确",
        "write the decimal point as '.' and no thousands separator, e.g. 1500.50",
        "小数点请写作 '.',不要使用千位分隔符,例如 1500.50",
    ),
    "P014": Entry(
        ERROR,
        "date that does not exist",
        "{text} is not a real date",
        "{text} 不是有效日期",
        "check the month and day",
        "请检查月份和日期",
    ),
    "P015": Entry(
        ERROR,
        "not UTF-8 text",
        "the file is not UTF-8 text: byte 0x{byte} cannot be read here (policy files are read as "
        "UTF-8 only)",
        "文件不是 UTF-8 文本:此处的字节 0x{byte} 无法读取(政策文件只按 UTF-8 读取)",
        "save the file as UTF-8; a GBK or GB18030 file can be converted with "
        "`iconv -f GB18030 -t UTF-8 OLD.pol > NEW.pol`",
        "请把文件另存为 UTF-8 编码;GBK 或 GB18030 文件可用 "
        "`iconv -f GB18030 -t UTF-8 旧.pol > 新.pol` 转换",
    ),
    # ---- N: names
    "N101": Entry(
        ERROR,
        "unknown name",
        "unknown {kind} {name!r}{suggestion}",
        "未知的{kind_zh} {name!r}{suggestion_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "N102": Entry(
        ERROR,
        "duplicate definition",
        "{kind} {name!r} is defined more than once",
        "{kind_zh} {name!r} 重复定义",
        "the first definition is at {first}",
        "第一次定义在 {first}",
    ),
    "N103": Entry(
        ERROR,
        "missing parent policy",
        "this policy implements {name!r}, but no policy with that id was found{suggestion}",
        "本政策实施 {name!r},但找不到该编号的政策{suggestion_zh}",
        "put the parent's .pol file in the same folder or pass it to the command",
        "请把上位政策的 .pol 文件放在同一目录或一并传给命令",
    ),
    "N104": Entry(
        ERROR,
        "circular implements",
        "policies implement each other in a circle: {cycle}",
        "政策之间循环实施:{cycle}",
        "a policy can only implement a higher-level policy",
        "政策只能实施上级政策",
    ),
    "N105": Entry(
        ERROR,
        "unknown setting",
        "unknown setting {name!r}{suggestion}",
        "未知设置 {name!r}{suggestion_zh}",
        "known settings: {known}",
        "可用设置:{known}",
    ),
    "N106": Entry(
        ERROR,
        "value not allowed here",
        "{value!r} is not a valid {what}{suggestion}",
        "{value!r} 不是有效的{what_zh}{suggestion_zh}",
        "valid values: {known}",
        "可用值:{known_zh}",
    ),
    "N107": Entry(
        WARNING,
        "parameter never used",
        "parameter {name!r} is declared but never used",
        "参数 {name!r} 已声明但从未使用",
        "remove it, or use it in a rule",
        "请删除,或在规则中使用",
    ),
    "N109": Entry(
        ERROR,
        "implements a policy of the same or a lower level",
        "a {level} policy cannot implement {name!r}, which is a {parent_level} policy",
        "{level_zh}级政策不能实施{parent_level_zh}级政策 {name!r}",
        "a city implements a province, a province the nation",
        "市实施省的政策,省实施国家的政策",
    ),
    "N110": Entry(
        ERROR,
        "name already taken",
        "{name!r} is already {taken}; choose another name",
        "{name!r} 已是{taken_zh},请另取名称",
        "",
        "",
    ),
    "N111": Entry(
        ERROR,
        "two policies with one id",
        "more than one file declares the policy id {name!r} ({other})",
        "多个文件声明了同一政策编号 {name!r}({other_zh})",
        "give each policy its own id, or move the old copy out of the folder",
        "请为每个政策使用不同编号,或把旧副本移出该目录",
    ),
    "N112": Entry(
        ERROR,
        "one counter name for a deductible and a cap",
        "{name!r} names {kind} here but {other} in another version",
        "{name!r} 在此是{kind_zh}的名称,在另一版本中却是{other_zh}的名称",
        "a name given with `named` is one counter in every version: give the deductible and the "
        "cap "
        "different names",
        "用 `名为` 给出的名称在各版本中指同一个累计计数器:请为起付标准和最高支付限额取不同的名称",
    ),
    "N108": Entry(
        ERROR,
        "parent policy has errors",
        "the policy this one implements ({name}) has {count} error(s), so this policy cannot be "
        "checked against it",
        "本政策实施的上位政策({name})有 {count} 个错误,无法据其检查本政策",
        "run: policylang check {file}",
        "请运行:policylang check {file}",
    ),
    "N113": Entry(
        ERROR,
        "counts_as names no other value",
        "{value} cannot count as {base!r}: {why}",
        "{value} 不能视同 {base!r}:{why_zh}",
        "counts_as names the value this one counts as where a policy that does not know it is "
        "checked "
        "(values of {enum}: {known})",
        "视同 指明该取值在不认识它的上级政策检查时视同哪个取值({enum} 的取值:{known_zh})",
    ),
    "N114": Entry(
        ERROR,
        "code mapped twice",
        "code {code!r} of {enum} already means {value}{implies}",
        "{enum} 的代码 {code!r} 已表示 {value}{implies}",
        "a code means one thing in a record: remove this mapping, or give the value a code of its "
        "own",
        "记录中的一个代码只能有一个含义:请删除此对应关系,或为该取值另设代码",
    ),
    "N115": Entry(
        ERROR,
        "alias already means another value",
        "the {what} {alias!r} given to {value} already means {other}",
        "给 {value} 的{what_zh} {alias!r} 已表示 {other}",
        "an alias is read as its value wherever a name is written, so it can mean only one value: "
        "choose "
        "another",
        "别名在任何写名称的地方都读作其取值,只能表示一个取值:请另选别名",
    ),
    "N116": Entry(
        ERROR,
        "enumeration cannot be extended",
        "cannot extend {name!r}: {why}{suggestion}",
        "无法扩展 {name!r}:{why_zh}{suggestion_zh}",
        "a policy adds values, aliases and codes to the enumerations of the vocabularies in force "
        "(builtin, national, imported)",
        "政策可以为现行词表(内置、国家、引用的词表)中的枚举增加取值、别名和代码",
    ),
    "N117": Entry(
        ERROR,
        "vocabulary not found",
        "no vocabulary {name!r}: {why}",
        "找不到词表 {name!r}:{why_zh}",
        "give the file's path relative to the policy's folder, or the name of a shipped vocabulary "
        "({shipped})",
        "请写相对于政策所在目录的文件路径,或内置词表的名称({shipped})",
    ),
    "N118": Entry(
        ERROR,
        "not a usable vocabulary",
        "{file} cannot be imported as a vocabulary: {why}",
        "{file} 不能作为词表引用:{why_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    # ---- T: types and units
    "T201": Entry(
        ERROR,
        "wrong kind of value",
        "{what} must be {expected}, but this is {found}",
        "{what_zh}应为{expected_zh},此处是{found_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "T202": Entry(
        ERROR,
        "percentage and percentage points mixed",
        "{what} must be {expected}, but this is {found}",
        "{what_zh}应为{expected_zh},此处是{found_zh}",
        "a ratio is written 75%; an adjustment on top of it is written 5 points (5 个百分点)",
        "比例写作 75%;在比例之上的调整写作 5 个百分点",
    ),
    "T203": Entry(
        ERROR,
        "operation on incompatible values",
        "cannot {op} {left} and {right}",
        "不能对{left_zh}和{right_zh}进行{op_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "T204": Entry(
        ERROR,
        "values without an order",
        "{field} values have no order, so '{op}' cannot compare them",
        "{field} 的取值没有大小顺序,不能用 '{op}' 比较",
        "use =, != or in: hosp_lv in {{level2, level3}}",
        "请使用 =、!= 或 属于:hosp_lv 属于 {{level2, level3}}",
    ),
    "T231": Entry(
        ERROR,
        "not a part of the bill",
        "{name} cannot leave the in-policy amount: it is {found}",
        "{name} 不能从政策范围内费用中扣除:它是{found_zh}",
        "list self-paid parts of the bill (fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt) or "
        "declared money inputs, e.g. input other_benefit_paid: money default 0 yuan",
        "请列出自付部分(fulamt_ownpay_amt、overlmt_selfpay、preselfpay_amt)或声明的金额输入,"
        "例如 输入 other_benefit_paid: 金额 默认 0 元",
    ),
    "T205": Entry(
        ERROR,
        "row does not match the table's keys",
        "this row has {found} value(s) before ':', but the table is keyed by {count}: {keys}",
        "该行冒号前有 {found} 个值,但该表按 {count} 个键取值:{keys}",
        "give one value per key; list alternatives for one key with |, e.g. unrated | level1: 75%",
        "每个键各给一个值;同一键的多个取值用 | 分隔,例如 unrated | level1: 75%",
    ),
    # ---- R: ranges
    "R331": Entry(
        ERROR,
        "reduction not positive",
        "a reduction takes points off the ratio; {value} points takes nothing off",
        "降低比例应为正的百分点;{value} 个百分点并未降低",
        "write the size of the reduction, e.g. reduce 10 points; an increase is an uplift",
        "请写出降低的幅度,例如 降低 10 个百分点;提高比例请用 提高",
    ),
    "R301": Entry(
        ERROR,
        "ratio out of range",
        "ratio {value} is outside 0%..100%{context}",
        "支付比例 {value} 超出 0%..100%{context_zh}",
        "check the table and the uplifts on top of it",
        "请检查比例表及其上浮",
    ),
    "R302": Entry(
        ERROR,
        "negative amount",
        "{what} cannot be negative ({value})",
        "{what_zh}不能为负数({value_zh})",
        "",
        "",
    ),
    "R303": Entry(
        ERROR,
        "count is not a whole number",
        "{what} must be a whole number, not {value}",
        "{what_zh}必须是整数,而不是 {value}",
        "",
        "",
    ),
    "R304": Entry(
        ERROR,
        "rounding unit",
        "rounding unit must be a positive whole number of fen such as 0.01 yuan, not {value}",
        "舍入单位必须是整分的正数金额,例如 0.01 元,而不是 {value}",
        "",
        "",
    ),
    "R305": Entry(
        ERROR,
        "amount not in fen, or too large",
        "{value} yuan is not a whole number of fen, or has more than {digits} digits before the "
        "point",
        "{value} 元不是整分金额,或小数点前超过 {digits} 位",
        "an amount has at most 15 digits before the point and 2 after it (whole fen), and is never "
        "rounded: 150 yuan, 0.50 yuan",
        "金额小数点前最多 15 位、小数点后最多 2 位(精确到分),且从不舍入:150 元、0.50 元",
    ),
    "R306": Entry(
        ERROR,
        "number beyond its bounds",
        "{value} is beyond the bounds of {what}: at most {digits} digits before the point and "
        "{places} after it",
        "{value_zh} 超出{what_zh}的范围:小数点前最多 {digits} 位,小数点后最多 {places} 位",
        "numbers are never rounded: a percentage or percentage points have at most 2 decimals "
        "(a ratio is kept to 4 decimals as a fraction, e.g. 49.99%), a plain number at most 6",
        "数字从不舍入:百分比和百分点最多 2 位小数(比例按小数保留 4 位,例如 49.99%),"
        "普通数值最多 6 位小数",
    ),
    # ---- C: completeness and conflicts
    "C401": Entry(
        ERROR,
        "gap in a decision table",
        "{what} gives no value for {example}",
        "{what_zh}对 {example_zh} 没有给出取值",
        "add a row for it: each input must match exactly one row",
        "请为其增加一行:每种输入必须恰好匹配一行",
    ),
    "C402": Entry(
        ERROR,
        "overlap in a decision table",
        "{what} gives two values for {example}: {first} and {second}",
        "{what_zh}对 {example_zh} 给出两个取值:{first} 和 {second}",
        "each input must match exactly one row",
        "每种输入只能匹配一行",
    ),
    "C403": Entry(
        ERROR,
        "overlapping versions",
        "versions of {section} overlap on {date}",
        "{section_zh}的版本在 {date} 重叠",
        "end the earlier version the day before the later one starts (until ...); "
        "no two versions start on the same day",
        "请让前一版本在后一版本开始前一天结束(至 ...);两个版本不能在同一天开始",
    ),
    "C404": Entry(
        WARNING,
        "gap between versions",
        "no version of {section} is in force from {start} to {end}",
        "{section_zh}在 {start} 至 {end} 期间没有有效版本",
        "if intended, nothing is paid in that period",
        "如属有意,则该期间不予支付",
    ),
    "C405": Entry(
        ERROR,
        "duplicate rule",
        "{what} is stated more than once in the same version",
        "{what_zh}在同一版本中重复出现",
        "the first one is at {first}",
        "第一次出现在 {first}",
    ),
    "C406": Entry(
        WARNING,
        "rule can never apply",
        "{what} can never apply: {why}",
        "{what_zh}永远不会适用:{why_zh}",
        "",
        "",
    ),
    "C407": Entry(
        ERROR,
        "disease counts do not add up",
        "the parts add up to {sum}, but the total is {total}",
        "各部分合计 {sum},与总数 {total} 不符",
        "check the numbers against the notice",
        "请与通知原文核对",
    ),
    "C408": Entry(
        ERROR,
        "version ends before it starts",
        "this version ends on {until}, before it starts on {start}",
        "该版本结束日期 {until} 早于开始日期 {start}",
        "",
        "",
    ),
    "C409": Entry(
        ERROR,
        "credit rules overlap",
        "credit rules {first!r} and {second!r} both apply to {example}",
        "计入规则 {first!r} 和 {second!r} 同时适用于 {example_zh}",
        "make their conditions exclusive",
        "请使条件互斥",
    ),
    "C410": Entry(
        WARNING,
        "analysis cut short",
        "this version reads so many inputs that only the first {count} combinations were analysed",
        "该版本涉及的输入组合过多,仅分析了前 {count} 种",
        "gaps, overlaps and the parent's requirements may be missed beyond them",
        "超出部分的缺漏、重叠和上位政策要求可能未被发现",
    ),
    "C411": Entry(
        ERROR,
        "band limits out of order",
        "band limit {value} yuan does not exceed the previous one ({previous} yuan)",
        "分段上限 {value} 元不大于前一个上限({previous} 元)",
        "list the bands from the lowest limit up, ending with 'beyond'",
        "请按上限从低到高列出各段,最后一段写 '以上'",
    ),
    "C412": Entry(
        ERROR,
        "two counters with one identity",
        "two {kinds} per {period} in this version would share one counter; give each a name "
        "with `named NAME`",
        "该版本中有两条每{period_zh}的{kinds_zh}会共用一个累计计数器;请用 `名为 名称` 分别命名",
        "what was used in the period is counted by identity: the name given with `named`, or else "
        "kind, period, each field and condition",
        "期间内已使用的金额按身份累计:`名为` 给出的名称,否则按种类、期间、分别按的字段和条件",
    ),
    "C420": Entry(
        ERROR,
        "total_at_most on a deductible that is not per visit",
        "`total_at_most` limits the total of a deductible taken visit by visit, but this "
        "deductible is per {period}",
        "`累计不超过` 限定按次收取的起付标准的累计总额,但该起付标准是每{period_zh}",
        "write the deductible per visit (每次) with its total per year, or drop `total_at_most`: "
        "a deductible per {period} is already a total",
        "请把起付标准写作每次并给出每年累计上限,或删去 `累计不超过`:"
        "每{period_zh}的起付标准本身就是累计额",
    ),
    "C421": Entry(
        ERROR,
        "total_at_most per visit",
        "the total of a per-visit deductible must be counted over a day, a month or a year, not "
        "per visit",
        "按次起付标准的累计上限须按日、月或年计算,不能按次",
        "write e.g. `total_at_most 300 yuan per year` (累计不超过 300 元 每年); a smaller "
        "per-visit deductible is written as the deductible itself",
        "例如写作 `累计不超过 300 元 每年`;每次更低的起付标准请直接写在起付标准中",
    ),
    "C422": Entry(
        ERROR,
        "per-visit deductible above its total",
        "a deductible of {value} yuan per visit is more than its total of {ceiling} yuan per "
        "{period}: no visit can take it in full",
        "每次起付标准 {value} 元超过其每{period_zh}累计上限 {ceiling} 元:"
        "任何一次就诊都无法全额收取",
        "check the two amounts in the notice: the total per {period} is at least each per-visit "
        "deductible",
        "请核对通知中的两个金额:每{period_zh}累计上限应不低于每次起付标准",
    ),
    "C423": Entry(
        ERROR,
        "the fund never pays",
        "the costs counted are capped at {cap} yuan, no more than the deductible of "
        "{deductible} yuan taken from them: the fund never pays",
        "计入的政策范围内费用以 {cap} 元为限,不高于从中扣除的起付标准 {deductible} 元:"
        "统筹基金永远不支付",
        "a cost cap counts the in-policy costs before the deductible; check that it is the cap "
        "on the costs, not on the fund's payment (`cap`)",
        "费用限额在扣除起付标准之前计算政策范围内费用;"
        "请确认这是费用限额,而不是基金支付限额(`最高支付限额`)",
    ),
    # ---- H: hierarchy
    "C430": Entry(
        ERROR,
        "fund's band overlaps the pooling fund",
        "the fund {fund} starts paying at {start} yuan of in-policy costs in the year, before "
        "the pooling fund has paid its annual cap (at {reached} yuan): both would pay on the "
        "same costs",
        "基金 {fund} 自年度政策范围内费用 {start} 元起支付,"
        "而统筹基金在 {reached} 元时才达到年度最高支付限额:"
        "两个基金将对同一部分费用支付",
        "start the fund's band where the pooling cap is reached: its deductible at least "
        "the pooling deductible + cap / ratio",
        "基金分段应从统筹基金达到最高支付限额处开始:"
        "其起付标准不低于统筹起付标准 + 最高支付限额 / 支付比例",
    ),
    "C431": Entry(
        WARNING,
        "costs between the funds that neither pays",
        "the fund {fund} starts paying at {start} yuan of in-policy costs in the year, after the "
        "pooling fund has paid its annual cap (at {reached} yuan): the costs between are shared by "
        "neither fund",
        "基金 {fund} 自年度政策范围内费用 {start} 元起支付,"
        "而统筹基金在 {reached} 元时已达到年度最高支付限额:"
        "其间的费用两个基金均不支付",
        "if the notice says the fund pays above the pooling cap, lower its deductible to where "
        "the cap is reached",
        "如通知规定该基金支付统筹基金最高支付限额以上的部分,请把其起付标准降到达到限额处",
    ),
    "C432": Entry(
        ERROR,
        "one counter named for two funds",
        "the counter {name!r} is a counter of the fund {fund} here and of the fund {other} "
        "elsewhere",
        "计数器 {name!r} 在此处属于基金 {fund},在别处属于基金 {other}",
        "each fund counts what it pays and what its deductible took in its own counters: give "
        "this one another name",
        "每个基金以自己的计数器累计:请为此计数器另取名称",
    ),
    "C433": Entry(
        ERROR,
        "funds paying on the same costs exceed 100%",
        "the pooling fund and the fund(s) {funds}, which pay alongside it, can pay {total} of the "
        "same costs together: more than the costs",
        "统筹基金与同时支付的基金 {funds} 对同一部分费用合计最高可支付 {total}:超过费用本身",
        "if the fund pays only above the pooling cap, mark it above_cap (and start its band "
        "there); otherwise lower a ratio",
        "如该基金仅支付统筹基金最高支付限额以上的部分,"
        "请标注 封顶线以上(并从该处起付);否则请降低支付比例",
    ),
    "C434": Entry(
        ERROR,
        "ratio floor above its ceiling",
        "the floor on the ratio ({floor}) is above its ceiling ({ceiling})",
        "支付比例下限({floor})高于上限({ceiling})",
        "a floor raises the ratio to it and a ceiling lowers it to it: the floor must not exceed "
        "the ceiling; check both against the notice",
        "下限把比例提高到该值,上限把比例降低到该值:下限不得高于上限;请与通知原文核对",
    ),
    "C435": Entry(
        ERROR,
        "part of the bill listed twice",
        "{name} is listed twice among the parts that leave the in-policy amount",
        "{name} 在政策范围外的费用中重复列出",
        "the first one is at {first}; each part is taken off the total once",
        "第一次出现在 {first};每一部分只从总额中扣除一次",
    ),
    "H501": Entry(
        ERROR,
        "violates a constraint of the parent policy",
        "{policy} requires {requirement} ({name}), but {detail}",
        "{policy} 要求 {requirement}({name}),但 {detail_zh}",
        "{policy} {clause} says: {quote}",
        "{policy} {clause}原文:{quote}",
    ),
    # ---- S: structure and citations
    "S601": Entry(
        ERROR,
        "missing citation",
        "{what} has no citation",
        "{what_zh}缺少依据",
        'add the clause and the sentence, such as `cite 二(一) "年度最高支付限额为2000元"`, or '
        '`unstated "why"` where the notice is silent',
        '请添加条款和原文,例如 `依据 二(一) "年度最高支付限额为2000元"`;'
        '通知未规定的,写 `未规定 "理由"`',
    ),
    "S602": Entry(
        ERROR,
        "statement in the wrong section",
        "{what} does not belong in a {section} section",
        "{what_zh}不属于{section_zh}",
        "it belongs in: {allowed}",
        "应放在:{allowed_zh}",
    ),
    "S603": Entry(
        ERROR,
        "missing statement",
        "{where} lacks {what}",
        "{where_zh}缺少{what_zh}",
        "{hint}",
        "{hint_zh}",
    ),
    "S604": Entry(
        ERROR,
        "duplicate section",
        "{what} is declared more than once",
        "{what_zh}重复声明",
        "the first one is at {first}",
        "第一次出现在 {first}",
    ),
    "S631": Entry(
        ERROR,
        "bound on a banded ratio",
        "{what} cannot bound a ratio banded by accumulated spending",
        "{what_zh}不能用于按累计金额分段的支付比例",
        "state each band's ratio within the bounds instead, or use a ratio table",
        "请直接在各分段中写出界限内的比例,或改用比例表",
    ),
    "S605": Entry(
        ERROR,
        "records of two kinds in one example",
        "a {kind} record cannot be in an example whose records are {first} records",
        "{first} 示例中不能有 {kind} 记录",
        "an example evaluates its records together, in one call: give the {kind} records an "
        "example "
        "of their own",
        "示例中的记录在一次计算中一并求值:请把 {kind} 记录放在单独的示例中",
    ),
}


@attrs.frozen
class Related:
    span: Span | None
    message: str
    message_zh: str | None = None

    def text(self, lang: str) -> str:
        return self.message_zh if lang == "zh" and self.message_zh else self.message


@attrs.frozen
class Diagnostic:
    code: str
    span: Span | None
    args: dict[str, Any] = attrs.field(factory=dict)
    related: tuple[Related, ...] = ()

    @property
    def severity(self) -> str:
        return CATALOGUE[self.code].severity

    def message(self, lang: str = "en") -> str:
        entry = CATALOGUE[self.code]
        return _fmt(entry.zh if lang == "zh" else entry.en, self.args)

    def hint(self, lang: str = "en") -> str:
        entry = CATALOGUE[self.code]
        return _fmt(entry.hint_zh if lang == "zh" else entry.hint_en, self.args)

    def sort_key(self):
        s = self.span
        return (s.file if s else "", s.line if s else 0, s.col if s else 0, self.code)

    def to_json(self, lang: str = "en") -> dict:
        s = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "file": s.file if s else None,
            "line": s.line if s else None,
            "col": s.col if s else None,
            "end_line": s.end_line if s else None,
            "end_col": s.end_col if s else None,
            "message": self.message(lang),
            "hint": self.hint(lang) or None,
            "related": [
                {
                    "file": r.span.file if r.span else None,
                    "line": r.span.line if r.span else None,
                    "col": r.span.col if r.span else None,
                    "message": r.text(lang),
                }
                for r in self.related
            ],
        }


class _Default(dict):
    def __missing__(self, key):
        return ""


def _fmt(template: str, args: dict) -> str:
    try:
        return template.format_map(_Default(args))
    except (IndexError, ValueError, KeyError):  # pragma: no cover - catalogue bug
        return template


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen = set()
    out = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.code, d.span, tuple(sorted((k, str(v)) for k, v in d.args.items())))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.severity == ERROR for d in diags)


def render(d: Diagnostic, sources: dict[str, str] | None = None, lang: str = "en") -> str:
    """``file:line:col: error[CODE]: message``, the source line with the span underlined, and a
    hint."""
    s = d.span
    where = f"{s.file}:{s.line}:{s.col}: " if s else ""
    sev = d.severity if lang != "zh" else {"error": "错误", "warning": "警告"}[d.severity]
    lines = [f"{where}{sev}[{d.code}]: {d.message(lang)}"]
    text = (sources or {}).get(s.file) if s else None
    if s is not None and text is not None and s.line >= 1:
        src_lines = _source_lines(text)
        if s.line <= len(src_lines):
            line = _visible(src_lines[s.line - 1].rstrip("\r"))
            end_col = s.end_col if s.end_line == s.line and s.end_col > s.col else len(line) + 1
            width = max(1, end_col - s.col)
            gutter = f"{s.line:>4} | "
            lines.append(gutter + line)
            lines.append(
                " " * (len(gutter) - 2)
                + "| "
                + _pad(line, s.col - 1)
                + "^" * display_width(line[s.col - 1 : s.col - 1 + width])
            )
    hint = d.hint(lang)
    if hint:
        lines.append(("  提示: " if lang == "zh" else "  hint: ") + hint)
    for r in d.related:
        loc = f"{r.span.file}:{r.span.line}:{r.span.col}: " if r.span else ""
        lines.append(f"  {'参见' if lang == 'zh' else 'see'} {loc}{r.text(lang)}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=8)
def _source_lines(text: str) -> tuple[str, ...]:
    """The lines of a source, split once for all its diagnostics (rendering each one split
    and cleaned the whole file again: 10^5 warnings took hours)."""
    return tuple(text.split("\n"))


def _visible(line: str) -> str:
    """The line as shown under a diagnostic: invisible and direction-changing characters
    would hide or reorder it, so each shows as one replacement character."""
    from .source import BIDI, INVISIBLE

    return "".join("\ufffd" if (c in BIDI or c in INVISIBLE) else c for c in line)


def display_width(text: str) -> int:
    import unicodedata

    return max(1, sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text))


def _pad(line: str, n: int) -> str:
    import unicodedata

    return "".join(
        ("\t" if c == "\t" else ("  " if unicodedata.east_asian_width(c) in "WF" else " "))
        for c in line[:n]
    )


def render_all(diags: list[Diagnostic], sources: dict[str, str], lang: str = "en") -> str:
    return "\n".join(render(d, sources, lang) for d in diags)


def to_json(diags: list[Diagnostic], lang: str = "en") -> str:
    return json.dumps([d.to_json(lang) for d in diags], ensure_ascii=False, indent=2)


class PolicyError(PolicylangError):
    """Raised by the API when a policy does not compile; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        super().__init__(render_all(diagnostics, self.sources))


CATEGORY = {
    "P": ("Source text and syntax", "源文本与语法"),
    "N": ("Names", "名称"),
    "T": ("Types and units", "类型与单位"),
    "R": ("Ranges", "取值范围"),
    "C": ("Completeness and conflicts", "完整性与冲突"),
    "H": ("Hierarchy", "上下级政策"),
    "S": ("Structure and citations", "结构与依据"),
}


def _plain(template: str) -> str:
    """A catalogue template with its placeholders shown as <name>."""
    import re

    return re.sub(r"\{(\w+)(![rs])?\}", r"<\1>", template).replace("{{", "{").replace("}}", "}")


# A small wrong -> right example for the codes policy officers meet most.
EXAMPLES: dict[str, tuple[str, str]] = {
    "P002": ("deductible 150 yuan cite 二(一)", "deductible 150 yuan per year cite 二(一)"),
    "P013": ("cap 2,000 yuan per year", "cap 2000 yuan per year"),
    "N101": ("uplift 5 points when psn_typ = retiree", "uplift 5 points when psn_type = retiree"),
    "N103": (
        "implements shanxi_2021",
        "implements shanxi_2022   # the id in the parent's `policy` line",
    ),
    "N106": ("covers active, retired", "covers active, retiree"),
    "T201": ("ratio 75 cite 二(一)", "ratio 75% cite 二(一)"),
    "T202": ("uplift 5% when psn_type = retiree", "uplift 5 points when psn_type = retiree"),
    "T205": (
        "ratio by hosp_lv { unrated, level1: 75% ... }",
        "ratio by hosp_lv { unrated | level1: 75% ... }",
    ),
    "R301": (
        "ratio 98% cite 二(一)  uplift 5 points when psn_type = retiree cite 二(一)",
        "ratio 93% cite 二(一)  uplift 5 points when psn_type = retiree cite 二(一)",
    ),
    "R306": ("ratio 49.9999% cite 二(一)", "ratio 50% cite 二(一)"),
    "C401": (
        "ratio by hosp_lv { primary: 75%  level2: 70% } cite 二(一)",
        "ratio by hosp_lv { primary: 75%  level2: 70%  level3: 65% } cite 二(一)",
    ),
    "C402": (
        "ratio by hosp_lv { primary: 75%  level1: 70% ... }   # level1 is in primary",
        "ratio by hosp_lv { primary: 75%  level2: 70% ... }",
    ),
    "C403": (
        "from 2023-01-01 { ... }  from 2024-01-01 { ... }   # both in force in 2024",
        "from 2023-01-01 until 2023-12-31 { ... }  from 2024-01-01 { ... }",
    ),
    "C412": (
        "cap 2000 yuan per year cite 二(一)  cap 500 yuan per year cite 二(一)",
        "cap 2000 yuan per year named general cite 二(一)  cap 500 yuan per year named extra cite "
        "二(一)",
    ),
    "C420": (
        "deductible 100 yuan per year total_at_most 300 yuan per year",
        "deductible 100 yuan per visit total_at_most 300 yuan per year",
    ),
    "C421": (
        "deductible 100 yuan per visit total_at_most 60 yuan per visit",
        "deductible 60 yuan per visit",
    ),
    "C422": (
        "deductible 500 yuan per visit total_at_most 300 yuan per year",
        "deductible 100 yuan per visit total_at_most 300 yuan per year",
    ),
    "C423": (
        "cost_cap 200 yuan per year  deductible 300 yuan per year",
        "cost_cap 5000 yuan per year  deductible 300 yuan per year",
    ),
    "C407": (
        "total 37  part provincial 31  part local 5",
        "total 37  part provincial 31  part local 6",
    ),
    "H501": ("level3: 45%   # the province requires ratio >= 50%", "level3: 50%"),
    "C430": (
        "deductible 1000 yuan per year  cap 3000 yuan per year  ratio 60%  "
        "fund hifob { deductible 3000 yuan per year ... }",
        "... fund hifob { deductible 6000 yuan per year ... }   # 1000 + 3000 / 60%",
    ),
    "S601": (
        "cap 2000 yuan per year",
        'cap 2000 yuan per year cite 二(一) "年度最高支付限额为2000元"',
    ),
    "S603": (
        "(no rounding rule)",
        'rounding half_up to 0.01 yuan unstated "the notice gives no rounding rule"',
    ),
}
# The words of the examples that are not policy source (comments, a note, an officer's
# reason), as ``explain --lang zh`` shows them.
EXAMPLE_WORDS_ZH = {
    "# the id in the parent's `policy` line": "# 上级政策 `policy` 行中的标识",
    "# level1 is in primary": "# level1 已在 primary 中",
    "# both in force in 2024": "# 2024 年两者同时有效",
    "# 1000 + 3000 / 60%": "# 1000 + 3000 / 60%(统筹基金封顶时的费用)",
    "# the province requires ratio >= 50%": "# 省级要求支付比例 >= 50%",
    "(no rounding rule)": "(未声明舍入规则)",
    '"the notice gives no rounding rule"': '"通知未规定舍入规则"',
}


def _example_zh(line: str) -> str:
    for en, zh in EXAMPLE_WORDS_ZH.items():
        line = line.replace(en, zh)
    return line


def explain(code: str, lang: str | None = None) -> str | None:
    """What a code means, shown on a real occurrence (from tests/fixtures/invalid/, kept in
    ``explain_samples``), with a small wrong -> right example where there is one; in both
    languages, or only in ``lang``."""
    text = _explain_both(code)
    if text is None or lang is None:
        return text
    other = ("  zh: ", "  提示: ") if lang == "en" else ("  en: ", "  hint: ")
    kept = [line for line in text.split("\n") if not line.startswith(other)]
    if lang == "zh":
        kept = [
            line.replace("  For example, in ", "  例如,在 ")
            .replace("  zh: ", "  ")
            .replace("  wrong: ", "  错误: ")
            .replace("  right: ", "  正确: ")
            for line in kept
        ]
        kept = [_example_zh(x) if x.startswith(("  错误: ", "  正确: ")) else x for x in kept]
        from .messages import DIAGNOSTIC_TITLES_ZH

        entry = CATALOGUE[code.upper()]
        title = DIAGNOSTIC_TITLES_ZH.get(code.upper(), entry.title)
        severity = {"error": "错误", "warning": "警告"}.get(entry.severity, entry.severity)
        kept[0] = f"{code.upper()}({severity}):{title}"
    else:
        kept = [line.replace("  en: ", "  ") for line in kept]
    return "\n".join(kept)


def _explain_both(code: str) -> str | None:
    from .explain_samples import SAMPLES

    code = code.upper()
    entry = CATALOGUE.get(code)
    if entry is None:
        return None
    lines = [f"{code} ({entry.severity}): {entry.title}", ""]
    sample = SAMPLES.get(code)
    if sample is not None:
        args = sample["args"]
        assert isinstance(args, dict)  # generated: every sample has its arguments
        d = Diagnostic(code, None, args)
        lines += [
            f"  For example, in {sample['file']}:",
            f"  {sample['line']:>4} | {sample['source']}",
            "",
            f"  en: {d.message('en')}",
            f"  zh: {d.message('zh')}",
        ]
        if d.hint("en"):
            lines += ["", f"  hint: {d.hint('en')}", f"  提示: {d.hint('zh')}"]
    else:  # a code without a sample yet: its templates, each variable part named in words
        lines += [f"  en: {_worded(entry.en)}", f"  zh: {_worded(entry.zh)}"]
        if entry.hint_en and entry.hint_en != "{hint}":
            lines += ["", f"  hint: {_worded(entry.hint_en)}", f"  提示: {_worded(entry.hint_zh)}"]
    if code in EXAMPLES:
        wrong, right = EXAMPLES[code]
        lines += ["", f"  wrong: {wrong}", f"  right: {right}"]
    return "\n".join(lines)


def _worded(template: str) -> str:
    """A template with each placeholder as the words it stands for: {name} -> (name)."""
    import re

    return (
        re.sub(
            r"\{(\w+?)(?:_zh)?(![rs])?\}",
            lambda m: "…" + m.group(1).replace("_", " ") + "…",
            template,
        )
        .replace("{{", "{")
        .replace("}}", "}")
    )


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    """docs/diagnostics.md, generated from the catalogue (a test keeps them equal)."""
    out = [
        "# Diagnostics",
        "",
        "Every problem `policylang check` reports has a stable code, a severity, a location",
        "(`file:line:col`), the source line with the span underlined, and usually a hint, in "
        "English",
        "or Chinese (`--lang en|zh`).  `policylang explain CODE` prints one entry.  Errors make",
        "`check` exit 1; warnings do not (unless `--strict`).  This file is generated from",
        "`policylang/diagnostics.py` (`python scripts/gen_docs.py`); each code has a broken policy",
        "in `tests/fixtures/invalid/` that must produce it.",
        "",
    ]
    for prefix, (title, title_zh) in CATEGORY.items():
        out += [
            f"## {prefix} — {title} / {title_zh}",
            "",
            "| code | severity | what | message (en) | message (zh) |",
            "|---|---|---|---|---|",
        ]
        for code, e in CATALOGUE.items():
            if code.startswith(prefix):
                cell = lambda s: _plain(s).replace("|", "\\|")  # noqa: E731
                out.append(f"| {code} | {e.severity} | {e.title} | {cell(e.en)} | {cell(e.zh)} |")
        out.append("")
    out += ["## Examples", "", "| code | wrong | right |", "|---|---|---|"]
    for code, (wrong, right) in EXAMPLES.items():
        out.append(f"| {code} | `{_esc(wrong)}` | `{_esc(right)}` |")
    out.append("")
    return "\n".join(out)
