"""The message catalogue: every text a result, a table or a tool shows a person,
in English and Chinese, keyed by a message id.

Diagnostics have their own catalogue (``diagnostics.CATALOGUE``: codes, severities
and hints, which generate docs/diagnostics.md); everything else a person reads --
the ``message`` of a settlement, a credit or a may-pay answer, the reasons in
words, the headers of the command line's tables and its summaries, and the text
of ``render`` and ``diff`` -- is here, and nowhere else.

Why a plain data module rather than gettext catalogues (.po/.mo via Babel):

* there are exactly two languages, written by the same people, and a message is
  not done until it exists in both; one entry holding both keeps them side by side
  and lets a test check that every id has both, with the same placeholders;
* ids are stable keys, not the English sentence (gettext's msgid), so rewording
  the English does not orphan the Chinese;
* nothing to compile or ship beside the code (no .mo build step, no new
  dependency), and importing it costs one dictionary: the command line's start-up
  stays free of anything it does not need;
* the English of a result's ``message`` is part of what JSON readers see; it lives
  here verbatim and ``tests/test_messages.py`` pins it.

Enumeration values are shown in Chinese with the language's own aliases
(``vocab.ZH_OF_VALUE``: ``retiree`` -> 退休) and in English by their canonical
names; the catalogue does not repeat them.
"""

from __future__ import annotations

import contextlib
import contextvars
import string
from typing import Any, Iterable

LANGS = ("en", "zh")

# id -> (English, Chinese).  Placeholders are str.format fields; both languages use
# the same ones.
MESSAGES: dict[str, tuple[str, str]] = {
    # ---- settle: the result's message ------------------------------------------------
    "settle.no_pooling": (
        "policy {policy} states no general outpatient pooling",
        "政策 {policy} 未规定普通门诊统筹",
    ),
    "settle.not_in_force": (
        "general outpatient pooling is not in force on {date}",
        "{date} 不在普通门诊统筹的施行期内",
    ),
    "settle.no_in_policy_amount": (
        "nothing in this bill is within the policy scope",
        "本次费用中没有政策范围内金额",
    ),
    "settle.within_deductible": (
        "the in-policy amount went to the deductible",
        "政策范围内金额全部计入起付标准",
    ),
    "settle.cap_reached": ("the cap has been reached", "已达到最高支付限额"),
    "settle.cost_cap_reached": (
        "the in-policy costs counted have reached the cost cap",
        "计入的政策范围内费用已达到费用限额",
    ),
    "settle.zero_ratio": ("the ratio that applies is 0%", "适用的支付比例为 0%"),
    "settle.rounds_to_zero": (
        "the fund's share rounds to less than the rounding unit",
        "统筹基金支付额舍入后不足一个舍入单位",
    ),
    "settle.not_covered": (
        "this person's category is not covered by general outpatient pooling",
        "该人员类别不在普通门诊统筹覆盖范围内",
    ),
    "settle.not_designated": (
        "the fund pays only at designated institutions",
        "统筹基金仅在定点医疗机构支付",
    ),
    "settle.other_scheme": (
        "the visit is settled under another insurance scheme (insutype), not this policy's",
        "该就诊按其他险种(insutype)结算,不适用本政策",
    ),
    "settle.other_med_type": (
        "general outpatient pooling does not cover this medical category (med_type)",
        "普通门诊统筹不覆盖该医疗类别(med_type)",
    ),
    "settle.paid": ("the fund pays {ratio} of {base}", "统筹基金按 {ratio} 支付 {base}"),
    "settle.paid_bands": (
        "the fund pays {raw} of {base} by bands",
        "统筹基金按分段比例支付 {base} 中的 {raw}",
    ),
    "settle.up_to_cap": (" up to the cap", ",以最高支付限额为限"),
    # ---- credit: the result's message ------------------------------------------------
    "credit.credited": ("credited by rule {rule}", "按规则 {rule} 计入"),
    "credit.not_in_force": (
        "no crediting rule of this policy is in force on {date}",
        "本政策在 {date} 没有施行中的个人账户计入规则",
    ),
    "credit.no_rule": (
        "no crediting rule of this policy applies to this person",
        "本政策没有适用于该人员的个人账户计入规则",
    ),
    # ---- may-pay: the result's message -----------------------------------------------
    "may_pay.not_in_force": (
        "no account-use rule of this policy is in force on {date}",
        "本政策在 {date} 没有施行中的个人账户使用规则",
    ),
    "may_pay.excluded": ("the personal account may never pay for {item}", "个人账户不得用于{item}"),
    "may_pay.relation_not_eligible": (
        "{relation} is not among the eligible relations ({relations})",
        "{relation}不在可共济使用的亲属范围内({relations})",
    ),
    "may_pay.planned": (
        "{item} for {relation} is only to be explored (逐步探索), not yet in force",
        "为{relation}支付{item}仅为逐步探索,尚未实施",
    ),
    "may_pay.not_designated": (
        "the personal account pays only at designated institutions and pharmacies",
        "个人账户仅在定点医疗机构和定点零售药店支付",
    ),
    "may_pay.no_channel": (
        "this policy provides no {channel} settlement for this use",
        "本政策未为该用途提供{channel}",
    ),
    "may_pay.permitted": (
        "the personal account may pay for {item}{at} for {relation}",
        "个人账户可以支付{relation}{at}的{item}",
    ),
    "may_pay.item_not_allowed": (
        "this policy does not let the account pay for {item}{at} for {relation}",
        "本政策不允许个人账户支付{relation}{at}的{item}",
    ),
    "may_pay.at": (" at {venue}", "在{venue}"),
    # ---- reasons in a few words (tables, render, diff) --------------------------------
    "reason.paid": ("paid", "已支付"),
    "reason.not_in_force": ("not in force", "不在施行期"),
    "reason.not_covered": ("not covered", "不在覆盖范围"),
    "reason.not_designated": ("not designated", "非定点机构"),
    "reason.no_in_policy_amount": ("no in-policy amount", "无政策范围内金额"),
    "reason.within_deductible": ("within the deductible", "起付标准以内"),
    "reason.cap_reached": ("cap reached", "已达最高支付限额"),
    "reason.cost_cap_reached": ("cost cap reached", "已达费用限额"),
    "reason.zero_ratio": ("ratio 0%", "支付比例为 0"),
    "reason.rounds_to_zero": ("rounds to zero", "舍入后为零"),
    "reason.other_scheme": ("other scheme", "其他险种"),
    "reason.other_med_type": ("other medical category", "其他医疗类别"),
    "reason.reversal": ("reversal", "冲正"),
    "reason.credited": ("credited", "已计入"),
    "reason.no_rule": ("no rule applies", "无适用规则"),
    "reason.excluded": ("excluded", "不得使用"),
    "reason.relation_not_eligible": ("relation not eligible", "亲属关系不符"),
    "reason.planned": ("planned, not in force", "逐步探索"),
    "reason.no_channel": ("no such channel", "无此结算方式"),
    "reason.permitted": ("permitted", "允许"),
    "reason.item_not_allowed": ("item not allowed", "不允许支付该项目"),
    # ---- table headers (settle, credit, may-pay) ----------------------------------------
    "col.psn_no": ("Person", "人员编号"),
    "col.setl_time": ("Date", "结算时间"),
    "col.medfee_sumamt": ("Bill", "医疗费总额"),
    "col.inscp_scp_amt": ("In policy", "政策范围内"),
    "col.act_pay_dedc": ("Deductible", "起付标准"),
    "col.pool_prop_selfpay": ("Ratio", "支付比例"),
    "col.hifp_pay": ("Fund", "统筹基金"),
    "col.fund_pay_sumamt": ("Fund total", "基金支付合计"),
    "col.cvlserv_pay": ("Civil servants", "公务员医疗补助"),
    "col.hifes_pay": ("Enterprise suppl.", "企业补充医疗"),
    "col.hifmi_pay": ("Serious illness", "居民大病保险"),
    "col.hifob_pay": ("Large expense", "大额医疗补助"),
    "col.maf_pay": ("Medical aid", "医疗救助"),
    "col.oth_pay": ("Other funds", "其他支出"),
    "col.psn_part_amt": ("Person's share", "个人负担"),
    "col.acct_pay": ("Account", "个人账户"),
    "col.psn_cash_pay": ("Cash", "现金"),
    "col.balc": ("Balance", "账户余额"),
    "col.reason": ("Reason", "原因"),
    "col.on": ("Date", "日期"),
    "col.credit": ("Credit", "计入金额"),
    "col.rule": ("Rule", "规则"),
    "col.clause": ("Clause", "条款"),
    "col.relation": ("Relation", "亲属关系"),
    "col.item": ("Item", "支付项目"),
    "col.venue": ("Venue", "场所"),
    "col.allowed": ("Allowed", "允许"),
    "col.channel": ("Channel", "结算方式"),
    "table.total": ("Total", "合计"),
    "value.true": ("yes", "是"),
    "value.false": ("no", "否"),
    # ---- command-line summaries -----------------------------------------------------
    "cli.checked": (
        "{files} file(s) checked: {errors} error(s), {warnings} warning(s)",
        "已检查 {files} 个文件:{errors} 个错误,{warnings} 个警告",
    ),
    "cli.policy_errors": (
        "{path}: the policy has {count} error(s); nothing was evaluated",
        "{path}: 政策有 {count} 个错误,未进行计算",
    ),
    "cli.input_problems": (
        "{count} problem(s) in the input; nothing was evaluated",
        "输入中有 {count} 个问题,未进行计算",
    ),
    # ---- fields, as a person calls them (render, diff) -----------------------------------
    "field.hosp_lv": ("hospital level", "医疗机构级别"),
    "field.psn_type": ("person type", "人员类别"),
    "field.flxempe_flag": ("flexible employment", "灵活就业"),
    "field.designated": ("designated institution", "定点医疗机构"),
    "field.setl_time": ("settlement date", "结算日期"),
    "field.medfee_sumamt": ("bill", "医疗费总额"),
    "field.fulamt_ownpay_amt": ("fully self-paid", "全自费"),
    "field.overlmt_selfpay": ("over-limit self-paid", "超限价自费"),
    "field.preselfpay_amt": ("category-B co-pay", "先行自付"),
    "field.acct_balc": ("account balance", "账户余额"),
    "field.psn_no": ("person", "人员编号"),
    "field.on": ("date", "日期"),
    "field.contribution_years_met": ("contribution years met", "达到医保缴费年限"),
    "field.contribution_base": ("contribution base", "缴费基数"),
    "field.relation": ("relation", "亲属关系"),
    "field.venue": ("venue", "场所"),
    "field.item": ("item", "支付项目"),
    "field.networked": ("networked", "联网结算"),
    # ---- words used in rendered rules -------------------------------------------------
    "word.and": ("and", "且"),
    "word.or": ("or", "或"),
    "word.not": ("not", "非"),
    "word.in": ("in", "属于"),
    "word.any": ("any", "任意"),
    "word.param": ("{name} (a parameter)", "{name}(参数)"),
    "word.points": ("{points} points", "{points} 个百分点"),
    "word.yuan": ("{amount} yuan", "{amount} 元"),
    "word.per": ("per {period}", "每{period}"),
    "word.total_at_most": (
        "in total at most {amount} per {period}",
        "每{period}累计不超过 {amount}",
    ),
    "word.each": ("separately for each {field}", "按{field}分别计算"),
    "word.when": ("when {cond}", "当 {cond}"),
    "word.named": ("named {name}", "名为 {name}"),
    "word.until_band": ("up to {limit}", "{limit} 以内"),
    "word.beyond": ("beyond", "以上"),
    "period.year": ("year", "年"),
    "period.month": ("month", "月"),
    "period.day": ("day", "日"),
    "period.visit": ("visit", "次"),
    "cat.active": ("in-service employee", "在职职工"),
    "cat.retiree": ("retiree", "退休人员"),
    "cat.flexible_active": ("flexible employment, in service", "灵活就业(在职)"),
    "cat.flexible_retiree": ("flexible employment, retired", "灵活就业(退休)"),
    "cat.flexible_other": ("flexible employment, {person}", "灵活就业({person})"),
    # ---- render ---------------------------------------------------------------------
    "render.summary": ("Summary of policy {id}", "政策 {id} 摘要"),
    "render.generated": (
        "Generated by policylang render from the compiled policy; hold it against the notice. "
        "Every number cites its clause; the quoted sentences are in the notes.",
        "由 policylang render 根据编译后的政策生成,可与通知原文逐条对照。每个数字都注明条款,"
        "原文摘录见注释。",
    ),
    "render.level": ("Level", "层级"),
    "render.document": ("Document", "文号"),
    "render.dated": ("{document}, dated {date}", "{document}({date})"),
    "render.implements": ("Implements", "实施"),
    "render.rounding": ("Rounding", "舍入"),
    "render.rounding_value": ("{mode} to {unit} yuan", "{mode},精确到 {unit} 元"),
    "render.params": ("Values supplied at evaluation", "计算时提供的参数"),
    "render.param_type": ("{name} ({type})", "{name}({type})"),
    "render.inputs": ("Extra inputs of each record", "每条记录的附加输入"),
    "render.input_default": ("{name} ({type}, default {default})", "{name}({type},默认 {default})"),
    "render.input_required": (
        "{name} ({type}, required where read)",
        "{name}({type},规则读取时必填)",
    ),
    "render.setting": ("Setting {name}", "设置 {name}"),
    "render.what": ("What", "项目"),
    "render.value": ("Value", "内容"),
    "render.clause": ("Clause", "条款"),
    "render.notes": ("Notes", "注释"),
    "render.unstated": ("not in the notice: {reason}", "通知未规定:{reason}"),
    "render.section": ("{kind}: {title}", "{kind}:{title}"),
    "render.inherited": ("Inherited from {policy}.", "继承自 {policy}。"),
    "render.version": ("In force {span}", "施行期间 {span}"),
    "render.fund": (
        "Fund {name} ({field}): {title}, settled after the pooling fund",
        "基金 {name}({field}):{title},在统筹基金之后结算",
    ),
    "render.fund_above_cap": (
        "Pays only above the pooling fund's annual cap: its deductible is where its band of the "
        "year's in-policy costs starts.",
        "仅支付统筹基金年度最高支付限额以上的部分:其起付标准即其年度政策范围内费用分段的起点。",
    ),
    "render.from": ("from {start}", "自 {start} 起"),
    "render.from_until": ("from {start} to {until}", "{start} 至 {until}"),
    "render.no_versions": ("No version is stated.", "未规定任何版本。"),
    "render.covers": ("Covered", "覆盖人员"),
    "render.designated_only": ("Designated institutions only", "仅限定点医疗机构"),
    "render.designated_only_value": (
        "the fund pays nothing elsewhere",
        "非定点机构统筹基金不予支付",
    ),
    "render.deductible": ("Deductible", "起付标准"),
    "render.cap": ("Cap", "最高支付限额"),
    "render.cost_cap": ("Cost cap", "政策范围内费用限额"),
    "render.ratio": ("Ratio", "支付比例"),
    "render.uplift": ("Uplift", "提高"),
    "render.uplift_value": ("{points} when {cond}", "当 {cond} 时 {points}"),
    "render.ratios_heading": (
        "Ratios by hospital level and person category (uplifts applied)",
        "按医疗机构级别和人员类别的支付比例(已计入提高)",
    ),
    "render.level_col": ("Hospital level", "医疗机构级别"),
    "render.not_covered": ("not covered", "不覆盖"),
    "render.flexible_same": (
        "Flexible-employment participants get the ratio of their person type.",
        "灵活就业人员按其人员类别适用相同的支付比例。",
    ),
    "render.conditional_uplifts": (
        "Not in the table (they depend on other inputs or on parameters): {list}.",
        "未计入上表(取决于其他输入或参数):{list}。",
    ),
    "render.cell_depends": ("depends on {names}", "取决于 {names}"),
    "render.bands_heading": (
        "Ratio bands (measured on the in-policy amount above the deductible, {per})",
        "累计分段支付比例(按起付标准以上的政策范围内金额{per}累计)",
    ),
    "render.band": ("Band", "分段"),
    "render.bands_cell": ("bands {points}", "分段比例 {points}"),
    "render.credit_heading": (
        "Crediting rules (the first that applies)",
        "计入规则(按顺序取第一条适用的规则)",
    ),
    "render.credit_rule": ("Rule", "规则"),
    "render.credit_when": ("Who", "适用人员"),
    "render.credit_amount": ("Credit", "计入金额"),
    "render.account_heading": ("Who may pay for what", "个人账户可支付的范围"),
    "render.relations": ("Relations whose costs the account may pay", "可共济使用的亲属"),
    "render.allow": ("Allowed", "允许"),
    "render.planned": ("Planned (逐步探索), not in force", "逐步探索,尚未实施"),
    "render.exclude": ("Never", "不得用于"),
    "render.channel": ("Settlement channel", "结算方式"),
    "render.items_at_for": ("{items}{at}{for_}", "{for_}{at}:{items}"),
    "render.clause_line": ("Clause: {clause}", "条款:{clause}"),
    "render.at": (" at {venues}", "在{venues}"),
    "render.for": (" for {relations}", "为{relations}"),
    "render.item_col": ("Item", "支付项目"),
    "render.account_note": (
        "Each cell: where the account may pay for the item for that relation (or yes for a "
        "contribution, which has no venue); otherwise why not.",
        "每格为个人账户可为该亲属支付该项目的场所(缴费类项目无场所,写“可以”);否则为不能支付的原因。",
    ),
    "venue.designated_institution": ("institution", "定点医疗机构"),
    "venue.designated_pharmacy": ("pharmacy", "定点零售药店"),
    "venue.non_designated": ("non-designated", "非定点机构"),
    "account.yes": ("yes", "可以"),
    "account.excluded": ("never", "不得用于"),
    "account.relation_not_eligible": ("—", "—"),
    "account.planned": ("planned", "逐步探索"),
    "account.no_channel": ("no channel", "无结算方式"),
    "account.item_not_allowed": ("no", "否"),
    "account.not_designated": ("no", "否"),
    "render.diseases": ("Chronic and special diseases", "慢特病"),
    "render.diseases_total": ("{total} in all", "共 {total} 种"),
    "render.diseases_part": ("{name}: {count}", "{name}:{count} 种"),
    "render.requirements": (
        "Requirements on the policies that implement this one",
        "对实施本政策的下级政策的要求",
    ),
    "render.requirement": ("Requirement", "要求"),
    "section.pooling": ("General outpatient pooling", "普通门诊统筹"),
    "section.crediting": ("Personal account crediting", "个人账户计入"),
    "section.account_use": ("Personal account use", "个人账户使用"),
    "level.national": ("national", "国家"),
    "level.province": ("province", "省"),
    "level.city": ("city", "市"),
    "type.money": ("money", "金额"),
    "type.percent": ("percentage", "百分比"),
    "type.points": ("percentage points", "百分点"),
    "type.number": ("number", "数值"),
    "type.date": ("date", "日期"),
    "type.bool": ("true/false", "是/否"),
    "type.text": ("text", "文本"),
    # ---- diff -----------------------------------------------------------------------
    "diff.values": ("Changed values", "变化的规定"),
    "diff.no_values": ("No rule changed its meaning.", "规定的含义没有变化。"),
    "diff.visits": ("Visits that settle differently", "结算结果不同的就诊"),
    "diff.no_visits": (
        "No visit settles differently ({count} visits in {sequences} sequences tried).",
        "没有结算结果不同的就诊(共试算 {sequences} 组、{count} 次就诊)。",
    ),
    "diff.visits_found": (
        "{shown} shown of {found} differing sequences ({count} visits in {sequences} "
        "sequences tried; --all shows every one).",
        "共 {found} 组结果不同,此处列出 {shown} 组(共试算 {sequences} 组、{count} 次就诊;"
        "--all 列出全部)。",
    ),
    "diff.visits_all": (
        "{found} differing sequences ({count} visits in {sequences} sequences tried).",
        "共 {found} 组结果不同(共试算 {sequences} 组、{count} 次就诊)。",
    ),
    "diff.param_assumed": (
        "parameter {name} was not given: the same value {value} was used for both policies "
        "(give --param {name}=VALUE to choose)",
        "未提供参数 {name}:两个政策都按同一个值 {value} 计算(可用 --param {name}=值 指定)",
    ),
    "diff.param_given": (
        "parameter {name} = {value} for both policies",
        "参数 {name} = {value}(两个政策相同)",
    ),
    "diff.when": ("When", "期间"),
    "diff.always": ("every date", "所有日期"),
    "diff.what": ("What", "项目"),
    "diff.before": ("Before", "修改前"),
    "diff.after": ("After", "修改后"),
    "diff.absent": ("(none)", "(无)"),
    "diff.versions": ("versions", "版本"),
    "diff.metadata": ("policy", "政策"),
    "diff.earlier_col": ("Earlier visits", "此前就诊"),
    "diff.either_flexible": ("{person}, flexible or not", "{person}(含灵活就业)"),
    "diff.fund_difference": ("Fund difference", "基金支付差额"),
    "diff.visit": ("Visit", "就诊"),
    "diff.profile": ("Person", "人员"),
    "diff.level": ("Level", "级别"),
    "diff.bill": ("Bill", "费用"),
    "diff.fund_before": ("Fund before", "修改前基金"),
    "diff.fund_after": ("Fund after", "修改后基金"),
    "diff.other_fields": ("Also differs", "其他差异"),
    "diff.not_designated": ("non-designated", "非定点"),
    "fact.title": ("title", "标题"),
    "fact.fund": ("fund {fund}: {what}", "基金 {fund}:{what}"),
    "fact.level": ("level", "层级"),
    "fact.document": ("document", "文号"),
    "fact.parent": ("implements", "实施"),
    "fact.rounding": ("rounding", "舍入"),
    "fact.setting": ("setting {name}", "设置 {name}"),
    "fact.param": ("parameter {name}", "参数 {name}"),
    "fact.input": ("input {name}", "输入 {name}"),
    "fact.covers": ("covered", "覆盖人员"),
    "fact.designated_only": ("designated institutions only", "仅限定点医疗机构"),
    "fact.deductible": ("deductible {what}", "起付标准 {what}"),
    "fact.cap": ("cap {what}", "最高支付限额 {what}"),
    "fact.cost_cap": ("cost cap {what}", "政策范围内费用限额 {what}"),
    "fact.total_at_most": (
        "total of the deductible {what}, {per}",
        "起付标准累计上限 {what},{per}",
    ),
    "fact.ratio_cell": ("ratio, {level}, {category}", "支付比例,{level},{category}"),
    "fact.ratio": ("ratio", "支付比例"),
    "fact.uplift": ("uplift when {cond}", "当 {cond} 时提高"),
    "fact.band": ("ratio band {n}", "第 {n} 段支付比例"),
    "fact.credit_rule": ("credit rule {name}", "计入规则 {name}"),
    "fact.relations": ("eligible relations", "可共济使用的亲属"),
    "fact.may_pay": (
        "the account pays for {item} for {relations}",
        "个人账户为{relations}支付{item}",
    ),
    "fact.channels": ("settlement channels", "结算方式"),
    "fact.diseases": ("diseases {name}", "慢特病 {name}"),
    "fact.requirement": ("requirement {name}", "要求 {name}"),
    "fact.yes": ("yes", "是"),
    "fact.no": ("no", "否"),
    # ---- simulate: the fund report ------------------------------------------------------
    "sim.title": ("Fund simulation: {claims}", "基金测算:{claims}"),
    "sim.subtitle": (
        "{visits} visits, {persons} persons; engine {engine}, {buckets} partition(s)",
        "{visits} 人次,{persons} 人;引擎 {engine},{buckets} 个分区",
    ),
    "sim.policy": ("policy {id} ({hash})", "政策 {id}({hash})"),
    "sim.measure": ("Measure", "指标"),
    "sim.baseline": ("Baseline", "现行政策"),
    "sim.reform": ("Reform", "改革方案"),
    "sim.difference": ("Difference", "差额"),
    "sim.difference_note": (
        "difference = reform − baseline: a positive amount is more paid by the fund",
        "差额 = 改革方案 − 现行政策:正数表示基金多支出",
    ),
    "sim.fund": ("Fund outlay (yuan)", "统筹基金支出(元)"),
    "sim.medfee": ("Total bills (yuan)", "医疗费总额(元)"),
    "sim.deductible": ("Deductible paid by persons (yuan)", "个人负担起付标准(元)"),
    "sim.account": ("Paid from personal accounts (yuan)", "个人账户支付(元)"),
    "sim.visits": ("Visits", "就诊人次"),
    "sim.persons": ("Persons", "人数"),
    "sim.within_deductible": (
        "Visits absorbed by the deductible",
        "全部计入起付标准的人次",
    ),
    "sim.persons_capped": (
        "Persons reaching the cap",
        "达到最高支付限额的人数",
    ),
    "sim.by_month": ("Fund outlay by month (yuan)", "按月统筹基金支出(元)"),
    "sim.by_level": ("Fund outlay by hospital level (yuan)", "按医疗机构级别统筹基金支出(元)"),
    "sim.by_category": ("Fund outlay by person category (yuan)", "按人员类别统筹基金支出(元)"),
    "sim.month": ("Month", "月份"),
    "sim.level": ("Hospital level", "医疗机构级别"),
    "sim.category": ("Person category", "人员类别"),
    "sim.flexible": ("{category}, flexible employment", "{category}(灵活就业)"),
    "sim.total": ("Total", "合计"),
    "sim.capped_note": (
        "a person reaches the cap when the cap leaves no room for a visit the fund would "
        "otherwise pay (reason cap_reached)",
        "达到最高支付限额:某次就诊统筹基金本应支付,但限额已无余额(原因 cap_reached)",
    ),
    "sim.results": ("Per-visit results: {path}", "逐笔结算结果:{path}"),
    "sim.html": ("Report: {path}", "报告:{path}"),
    "sim.settling": ("settling", "结算中"),
    "sim.generated": (
        "Generated by policylang simulate; every amount exact to the fen.",
        "由 policylang simulate 生成;所有金额精确到分。",
    ),
}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def text(msg_id: str, lang: str = "en", **args: Any) -> str:
    """The message ``msg_id`` in ``lang`` (en or zh) with ``args`` filled in."""
    en, zh = MESSAGES[msg_id]
    template = zh if lang == "zh" else en
    return template.format_map(_Blank(args)) if args or "{" in template else template


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# The Chinese names of the values a policy's vocabulary adds (``veteran`` -> 离休), while
# its results or summary are being written (``vocabulary_names``).
_NAMES: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "policylang_value_names", default=None
)


@contextlib.contextmanager
def vocabulary_names(*vocabularies):
    """Within the block, ``value`` also names in Chinese the values of these vocabularies
    (``ir.Policy.vocab``; the first to name a value wins)."""
    names: dict[str, str] = {}
    for vocab in vocabularies:
        if vocab is not None:
            for v, zh in vocab.names_zh().items():
                names.setdefault(v, zh)
    reset = _NAMES.set(names)
    try:
        yield
    finally:
        _NAMES.reset(reset)


def value(v: object, lang: str = "en") -> str:
    """An enumeration value or a bool as a person reads it: canonical names in
    English, the language's aliases in Chinese (the shipped vocabulary's, and within
    ``vocabulary_names`` those of the policy's)."""
    if isinstance(v, bool):
        return text("value.true" if v else "value.false", lang)
    if v is None:
        return ""
    if lang == "zh":
        from .vocab import ZH_OF_VALUE

        shown = ZH_OF_VALUE.get(v)
        if shown is None:
            shown = (_NAMES.get() or {}).get(v, v)
        return shown
    return str(v)


def values(vs: Iterable[object], lang: str = "en", order: Iterable[object] | None = None) -> str:
    """Several enumeration values, in ``order`` (else sorted): ``a, b`` / ``甲、乙``."""
    items = list(vs)
    if order is not None:
        rank = {x: i for i, x in enumerate(order)}
        items.sort(key=lambda x: (rank.get(x, len(rank)), str(x)))
    else:
        items.sort(key=str)
    return ("、" if lang == "zh" else ", ").join(value(x, lang) for x in items)


def reason(code: str | None, lang: str = "en") -> str:
    """A result's reason in a few words (None: the fund paid)."""
    return text(f"reason.{code or 'paid'}", lang)
