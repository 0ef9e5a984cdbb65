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
    # ---- input problems: the reason after "record N (psn_no X): field 'F': " --------------
    "input.amount": (
        'expected an amount such as "230.00", got {value}',
        '应为金额,例如 "230.00",实际为 {value}',
    ),
    "input.finite_amount": (
        "expected a finite amount, got {value}",
        "应为有限的金额,实际为 {value}",
    ),
    "input.amount_too_large": (
        "{value} is too large for an amount (at most {digits} digits before the decimal point)",
        "{value} 超出金额的范围(整数部分至多 {digits} 位)",
    ),
    "input.amount_places": (
        "{value} has more than two decimal places (amounts are in fen)",
        "{value} 的小数超过两位(金额精确到分)",
    ),
    "input.negative": ("amount cannot be negative ({value})", "金额不能为负数({value})"),
    "input.date_example": (
        'expected a date such as "2023-03-01"',
        '应为日期,例如 "2023-03-01"',
    ),
    "input.time_example": (
        'expected a date such as "2023-03-01" or a date and time such as "2023-03-01 10:30:00" '
        '(or "2023-03-01T10:30")',
        '应为日期(例如 "2023-03-01")或日期时间(例如 "2023-03-01 10:30:00" 或 "2023-03-01T10:30")',
    ),
    "input.example_got": ("{example}, got {value}", "{example},实际为 {value}"),
    "input.not_real": (
        "{example}, got {value}, which is not a real {what}",
        "{example},实际为 {value},不是真实存在的{what}",
    ),
    "input.word_date": ("date", "日期"),
    "input.word_datetime": ("date and time", "日期时间"),
    "input.got_datetime": (
        "{example}, got the date and time {value}",
        "{example},实际为日期时间 {value}",
    ),
    "input.utc_offset": (
        "{value} has a UTC offset; give the local settlement time without one",
        "{value} 带有 UTC 时差;请给出不带时差的本地结算时间",
    ),
    "input.fraction_seconds": (
        "{value} has fractional seconds; give the time to the second",
        "{value} 含有不足一秒的部分;请精确到秒",
    ),
    "input.word.hosp_lv": ("hospital level", "医院等级"),
    "input.word.psn_type": ("person type", "人员类别"),
    "input.word.relation": ("relation", "关系"),
    "input.word.venue": ("venue", "使用场所"),
    "input.word.item": ("item", "项目"),
    "input.word.visits": ("visits", "就诊记录"),
    "input.word.persons": ("persons", "人员记录"),
    "input.word.requests": ("requests", "使用申请"),
    "input.unknown_code": (
        "unknown {word} {value}: no vocabulary maps this code to a {enum} value "
        '(a policy can: enum {enum} {{ NAME "名称" codes "{code}" }}); '
        "expected one of: {expected}, or a code such as {examples}",
        "未知的{word} {value}:没有词汇表把这个代码对应到 {enum} 的值"
        '(政策可以写:枚举 {enum} {{ NAME "名称" 对应代码 "{code}" }});'
        "应为以下之一:{expected},或代码,例如 {examples}",
    ),
    "input.unknown_value": (
        "unknown {word} {value}{did} (expected one of: {expected})",
        "未知的{word} {value}{did}(应为以下之一:{expected})",
    ),
    # a parameter's type, named in English as the policy writes it (``param x: percent``)
    "input.type.money": ("money", "金额"),
    "input.type.percent": ("percent", "百分比"),
    "input.type.points": ("points", "百分点"),
    "input.type.number": ("number", "数值"),
    "input.type.date": ("date", "日期"),
    "input.type.bool": ("bool", "是/否"),
    "input.type.text": ("text", "文本"),
    "input.did_you_mean": ("; did you mean {name}?", ";是否应为 {name}?"),
    "input.points": (
        "expected percentage points with their unit, within -100..100 and at most two "
        'decimals, such as "5 points" or "5 个百分点", got {value}',
        "应为带单位的百分点,在 -100..100 之内、至多两位小数,"
        '例如 "5 个百分点" 或 "5 points",实际为 {value}',
    ),
    "input.percent": (
        'expected a percentage such as "60%" (at most two decimals: 4 as a fraction), got {value}',
        '应为百分比,例如 "60%"(至多两位小数;写成小数时至多四位),实际为 {value}',
    ),
    "input.percent_range": (
        "a percentage must be within 0%..100%, got {value}",
        "百分比应在 0%..100% 之内,实际为 {value}",
    ),
    "input.number": ("expected a number, got {value}", "应为数字,实际为 {value}"),
    "input.number_digits": (
        "expected a number with at most {digits} digits before the decimal point and "
        "{places} after it, got {value}",
        "应为整数部分至多 {digits} 位、小数部分至多 {places} 位的数字,实际为 {value}",
    ),
    "input.bool": ("expected true or false, got {value}", "应为 `true` 或 `false`,实际为 {value}"),
    "input.text": ("expected a non-empty text, got {value}", "应为非空文本,实际为 {value}"),
    "input.top_level": ("expected a JSON array of {what}", "应为由{what}组成的 JSON 数组"),
    "input.not_object": ("expected an object, got {value}", "应为对象,实际为 {value}"),
    "input.required": ("is required but missing", "为必填项,但未给出"),
    "input.key_not_text": (
        "a field name must be text, got {value}",
        "字段名应为文本,实际为 {value}",
    ),
    "input.unknown_field": ("unknown field{did}", "未知字段{did}"),
    "input.none": ("none", "无"),
    "input.unknown_param": (
        "this policy declares no such parameter{did} (declared: {known})",
        "本政策未声明此参数{did}(已声明:{known})",
    ),
    "input.missing_param": (
        "this policy needs the parameter {name} ({type}), which the notice does not give; "
        "supply it (command line: --param {name}=...; Python: params={{'{name}': ...}})",
        "本政策需要参数 {name}({type}),通知未给出其值;请提供"
        "(命令行:--param {name}=...;Python:`params={{'{name}': ...}}`)",
    ),
    "input.contradiction": (
        "{given} contradicts {name} {said}{label}, which means {value} with {field} = {want}",
        "{given} 与 {name} {said}{label} 矛盾:该代码表示 {value},且 {field} = {want}",
    ),
    "input.acct_used_flag": (
        'expected "0" (the account is not to be used) or "1", got {value}',
        '应为 "0"(不使用个人账户)或 "1",实际为 {value}',
    ),
    "input.bill_split": (
        "the self-paid parts (fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt "
        "= {parts}) exceed the total {total}",
        "自付部分(fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt = {parts})"
        "超过了总额 {total}",
    ),
    "input.contribution_venue": (
        "a contribution ({item}) has no venue; leave it out",
        "缴费({item})没有使用场所;请不要填写",
    ),
    "input.venue_required": ("is required for {item}", "对 {item} 为必填项"),
    "input.column_tz": (
        "is a timestamp with time zone {tz}; give the local settlement time without one",
        "是带时区 {tz} 的时间戳;请给出不带时区的本地结算时间",
    ),
    "input.unknown_column": ("unknown field (column){did}", "未知字段(列){did}"),
    "input.two_columns": ("is given by more than one column", "由多于一列给出"),
    "input.float_column": (
        "is a floating-point column ({type}); give amounts as decimal128, integers or strings "
        "(a float is not exact)",
        "是浮点数列({type});请以 decimal128、整数或字符串给出金额(浮点数不精确)",
    ),
    "input.duplicate_key": (
        "the key {key} appears twice in one object",
        "键 {key} 在同一对象中出现了两次",
    ),
    "input.long_number": (
        "the number {value} has more than {digits} digits",
        "数字 {value} 超过 {digits} 位",
    ),
    "input.long_number_in_full": (
        "the number {value} has more than {digits} digits written out in full",
        "数字 {value} 完整写出时超过 {digits} 位",
    ),
    "input.json_constant": (
        "{value} is not a number that JSON allows",
        "{value} 不是 JSON 允许的数字",
    ),
    "input.surrogate": (
        "contains a lone UTF-16 surrogate ({char}), which is no character; pair it or remove it",
        "含有单独的 UTF-16 代理项({char}),它不是字符;请补全配对或删除",
    ),
    "input.surrogate_key": (
        "a key contains a lone UTF-16 surrogate ({char}), which is no character; "
        "pair it or remove it",
        "某个键含有单独的 UTF-16 代理项({char}),它不是字符;请补全配对或删除",
    ),
    "input.surrogate_name": (
        "the field name contains a lone UTF-16 surrogate ({char}), which is no character; "
        "pair it or remove it",
        "字段名含有单独的 UTF-16 代理项({char}),它不是字符;请补全配对或删除",
    ),
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
    "col.setl_id": ("Settlement", "结算ID"),
    "col.counter": ("Counter", "计数器"),
    "col.period": ("Period", "期间"),
    "col.each": ("Each", "分别计算"),
    "col.used": ("Used", "已使用"),
    "col.old_hifp_pay": ("Fund before", "原统筹基金"),
    "col.new_hifp_pay": ("Fund after", "新统筹基金"),
    "col.fund_difference": ("Fund difference", "基金差额"),
    "col.cash_difference": ("Cash difference", "现金差额"),
    "table.total": ("Total", "合计"),
    "ledger.no_counters": ("(no counters used)", "(没有已使用的计数器)"),
    "ledger.person": (
        "{psn}: balance {balance}, seq {seq}, reversible: {reversible}",
        "{psn}:余额 {balance},序号 {seq},可冲正:{reversible}",
    ),
    "ledger.unknown": ("unknown", "未知"),
    "ledger.none": ("none", "无"),
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
    "cli.not_name_value": ("{item} is not NAME=VALUE", "{item} 不是 名称=值 的形式"),
    "cli.given_twice": ("{name} is given twice", "{name} 给出了两次"),
    "cli.swapped": (
        "the arguments are the wrong way round: {policy} is {name} and {records} is the policy; "
        "the policy comes first: ... {records} {policy}",
        "参数顺序反了:{policy} 是 {name},{records} 才是政策;政策在前:... {records} {policy}",
    ),
    "cli.json_as_policy": (
        "{policy} looks like JSON input, not a policy: give the policy (.pol) file first",
        "{policy} 看起来是 JSON 输入,不是政策:请先给出政策(.pol)文件",
    ),
    "cli.policy_as_records": (
        "{records} is a policy, but {name} should be a JSON file of records",
        "{records} 是政策,但 {name} 应当是记录的 JSON 文件",
    ),
    "cli.no_pol_files": ("no .pol files found in {paths}", "在 {paths} 中没有找到 .pol 文件"),
    "cli.interrupted": ("interrupted", "已中断"),
    "cli.skipped": ("warning: {file}: skipped: {reason}", "警告:{file}:已跳过:{reason}"),
    "cli.account_params": (
        "warning: {path}: visits with acct_balc will be refused: {reasons}",
        "警告:{path}:给出 acct_balc(个人账户余额)的就诊将被拒绝:{reasons}",
    ),
    "cli.unknown_code": (
        "unknown diagnostic code {code}; codes: {codes}",
        "未知的诊断代码 {code};现有代码:{codes}",
    ),
    "cli.params_undeclared": (
        "--param: no policy declares {names} (declared: {declared})",
        "--param:没有政策声明 {names}(已声明:{declared})",
    ),
    "cli.not_utf8": ("not UTF-8 text", "不是 UTF-8 文本"),
    "why.one_selector": (
        "give one of --record, --psn and --setl-id",
        "--record、--psn 和 --setl-id 只能给出一个",
    ),
    "why.not_array": (
        "{records}: invalid input: expected a JSON array of records",
        "{records}:输入无效:应当是记录的 JSON 数组",
    ),
    "why.too_few": ("{records} has {count} record(s)", "{records} 只有 {count} 条记录"),
    "why.no_psn": (
        "no record of {records} has psn_no {psn}",
        "{records} 中没有 psn_no 为 {psn} 的记录",
    ),
    "why.no_setl_id": (
        "no record of {records} has setl_id {id}",
        "{records} 中没有 setl_id 为 {id} 的记录",
    ),
    "why.no_kind": (
        "cannot tell whether {records} holds visits, persons or requests: give --kind",
        "无法判断 {records} 中是就诊、人员还是请求:请给出 --kind",
    ),
    "fmt.write_and_check": (
        "--write cannot be combined with --check or --diff",
        "--write 不能与 --check 或 --diff 同时使用",
    ),
    "fmt.write_stdin": (
        "--write needs files: standard input (-) cannot be rewritten",
        "--write 需要文件:标准输入(-)无法改写",
    ),
    "fmt.formatted": ("formatted {path}", "已格式化 {path}"),
    "fmt.not_formatted": (
        "{changed} of {total} file(s) not formatted; run: policylang fmt --write PATH",
        "{total} 个文件中有 {changed} 个不是规范格式;请运行:policylang fmt --write PATH",
    ),
    "diff.undeclared": (
        "--param: neither policy declares {name}",
        "--param:两个政策都没有声明 {name}",
    ),
    "cli.problem_record": ("record {n}{who}: ", "第 {n} 条记录{who}:"),
    "cli.problem_who": (" (psn_no {psn})", "(人员编号 {psn})"),
    "cli.problem_field": ("field '{field}': {message}", "字段 '{field}':{message}"),
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
    "render.summary": (
        "Summary of policy {id} (IR content hash {hash})",
        "政策 {id} 摘要(IR 内容哈希 {hash})",
    ),
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
    "render.reduction": ("Reduction", "降低"),
    "render.bill_split": ("Not in the in-policy amount", "不纳入政策范围内费用"),
    "render.exemption": ("Exemption (no reduction)", "除外(不降低)"),
    "render.ratio_floor": ("Ratio at least", "支付比例不低于"),
    "render.ratio_ceiling": ("Ratio at most", "支付比例不高于"),
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
    # ---- why ------------------------------------------------------------------------
    "why.what.version in force": ("version in force", "施行版本"),
    "why.what.in-policy amount": ("in-policy amount", "政策范围内金额"),
    "why.what.deductible": ("deductible", "起付标准"),
    "why.what.ratio": ("ratio", "支付比例"),
    "why.what.fund pays": ("fund pays", "统筹基金支付"),
    "why.what.all funds pay": ("all funds pay", "基金支付合计"),
    "why.what.the person's share": ("the person's share", "个人负担"),
    "why.what.personal account": ("personal account", "个人账户支付"),
    "why.what.cash": ("cash", "现金支付"),
    "why.what.credit": ("credit", "计入金额"),
    "why.what.decision": ("decision", "判定"),
    "why.what.cap": ("cap", "最高支付限额"),
    "why.what.outcome": ("outcome", "结果"),
    "why.what.channel": ("channel", "结算方式"),
    "why.none": ("none", "无"),
    "why.rule.bill split": ("bill split", "费用分割"),
    "why.rule.computed": ("computed", "计算"),
    "why.rule.rounding": ("rounding", "舍入"),
    "why.rule.no account balance given (acct_balc)": (
        "no account balance given (acct_balc)",
        "未给出个人账户余额(acct_balc)",
    ),
    "why.rule.no_deductible_because": (
        "no deductible applies ({reason})",
        "不适用起付标准({reason})",
    ),
    "why.rule.not in force": ("not in force", "不在施行期"),
    "why.rule.the record asks not to use the account (acct_used_flag 0)": (
        "the record asks not to use the account (acct_used_flag 0)",
        "记录要求不使用个人账户(acct_used_flag 0)",
    ),
    "why.rule.account_refused": ("account may not pay: {why}", "个人账户不能支付:{why}"),
    "why.rule.no_account_covers": (
        "the policy declares no account_covers setting",
        "政策没有声明 account_covers 设置",
    ),
    "why.rule.exempt": ("{rule}: exempt", "{rule}:除外"),
    # what the platform's vocabulary states where the notice is silent (ir/build.py): said in
    # Chinese by matching the English, which the IR keeps
    "why.builtin.insutype": (
        "general outpatient pooling settles the employees' basic medical insurance "
        "(insutype {codes}) only",
        "普通门诊统筹只结算职工基本医疗保险(险种类型 {codes})",
    ),
    "why.builtin.med_type": (
        "general outpatient pooling applies to general outpatient visits (med_type {codes})",
        "普通门诊统筹适用于普通门诊就诊(医疗类别 {codes})",
    ),
    "why.rule.no deductible applies to this visit": (
        "no deductible applies to this visit",
        "本次就诊不适用起付标准",
    ),
    "why.no_section": ("the policy has no {section} section", "政策没有“{section}”部分"),
    "why.none_in_force": (
        "no version of the {section} section is in force on {date}: the result is not_in_force",
        "{date} 没有施行中的“{section}”版本:结果为“不在施行期”",
    ),
    "why.from": ("from {start}", "自 {start} 起"),
    "why.from_until": ("from {start} until {until}", "自 {start} 起至 {until}"),
    "why.in_force": ("the version in force on {date}", "{date} 施行的版本"),
    "why.deductible": (
        "{deductible} for the period, {before} used before this visit, {left} left: "
        "takes {value} of the in-policy {in_policy}",
        "本期起付标准 {deductible},此前已计入 {before},尚余 {left}:"
        "从政策范围内金额 {in_policy} 中计入 {value}",
    ),
    "why.uplift": ("{base} {change} points = {value}", "{base} {change} 个百分点 = {value}"),
    "why.because": (", because {why}", ",因为 {why}"),
    "why.floor": ("{before} is raised to the floor {value}", "{before} 提高到下限 {value}"),
    "why.ceiling": ("{before} is lowered to the ceiling {value}", "{before} 降低到上限 {value}"),
    "why.exempt": (
        "{base} stays {value}: exempt from the reduction",
        "{base} 保持为 {value}:不适用降低",
    ),
    "why.band": (
        "{part} of this visit falls in the band at {value} ({before} accumulated before, "
        "uplift {uplift} points)",
        "本次就诊中 {part} 落在比例为 {value} 的分段(此前累计 {before},提高 {uplift} 个百分点)",
    ),
    "why.every_band": ("adds {value} to every band", "每个分段提高 {value}"),
    "why.ratio_for": ("{value} for {read}", "{read} 时为 {value}"),
    "why.by_bands": ("{base} by bands", "{base} 按分段比例"),
    "why.rounded": ("{exact}, rounded to {value}", "{exact},舍入为 {value}"),
    "why.cap_cut": (
        "{cap} for the period, {before} paid before this visit, {left} left: "
        "{uncapped} is cut to {value}",
        "本期限额 {cap},此前已支付 {before},尚余 {left}:{uncapped} 减为 {value}",
    ),
    "why.cap_fits": (
        "{cap} for the period, {before} paid before this visit, {room} left: {share} fits, "
        "{after} left after this visit",
        "本期限额 {cap},此前已支付 {before},尚余 {room}:{share} 未超过限额,本次之后尚余 {after}",
    ),
    "why.total_taken": (
        "{cap} in total for the period, {before} taken before this visit, {left} left: "
        "{uncapped} is cut to {value}",
        "本期合计上限 {cap},此前已计入 {before},尚余 {left}:{uncapped} 减为 {value}",
    ),
    "why.total_counted": (
        "{cap} in total for the period, {before} counted before this visit, {left} left: "
        "{uncapped} is cut to {value}",
        "本期合计上限 {cap},此前已累计 {before},尚余 {left}:{uncapped} 减为 {value}",
    ),
    "why.what.costs counted": ("costs counted", "累计费用"),
    # a further fund's steps (hifob deductible): {fund} is its name (the policy's, in Chinese)
    "why.fund_step.deductible": ("{fund} deductible", "{fund} 起付标准"),
    "why.fund_step.ratio": ("{fund} ratio", "{fund} 支付比例"),
    "why.fund_step.pays": ("{fund} pays", "{fund} 支付"),
    "why.account": (
        "balance {balance}, payable {payable}: the account pays {value}",
        "账户余额 {balance},可支付 {payable}:个人账户支付 {value}",
    ),
    "why.credit_rule": (
        "rule {rule} applies (when {cond}): {amount} = {value}",
        "适用规则 {rule}(当 {cond}):{amount} = {value}",
    ),
    "why.channel": (
        "direct when the venue settles over the network (networked), else reimbursement",
        "定点医药机构联网结算(networked)时直接共济使用(direct),否则到经办机构申请支付"
        "(reimbursement)",
    ),
    "why.head_visit": (
        "visit {n}: psn_no {psn}, setl_time {date}",
        "就诊 {n}:人员编号 {psn},结算时间 {date}",
    ),
    "why.head_credit": (
        "credit {n}: psn_no {psn}, on {date}",
        "计入 {n}:人员编号 {psn},日期 {date}",
    ),
    "why.head_request": (
        "request {n}: {who}{relation}, {item}{at}, on {date}",
        "请求 {n}:{who}{relation},{item}{at},日期 {date}",
    ),
    "why.who": ("psn_no {psn}, ", "人员编号 {psn},"),
    "why.at": (" at {venue}", "({venue})"),
    "why.policy": ("  (policy {id}, {file})", "  (政策 {id},{file})"),
    "why.unstated": ("unstated: {text}", "通知未规定:{text}"),
    "why.read": ("read: {read}", "读取:{read}"),
    # the inputs a step read that are no field of the record (why's "read:"): the English is
    # the trace's own name (the JSON's key), the Chinese what it is
    "why.input.base": ("base", "基数"),
    "why.input.cap": ("cap", "限额"),
    "why.input.uncapped": ("uncapped", "限额前金额"),
    "why.input.exact": ("exact", "未舍入金额"),
    "why.input.deductible": ("deductible", "起付标准"),
    "why.input.consumed_before": ("consumed_before", "此前已计入起付标准"),
    "why.input.in_policy": ("in_policy", "政策范围内金额"),
    "why.input.ratio": ("ratio", "支付比例"),
    "why.input.paid_before": ("paid_before", "此前已支付"),
    "why.input.points": ("points", "百分点"),
    "why.input.on": ("on", "日期"),
    "why.input.before": ("before", "调整前"),
    "why.input.floor": ("floor", "下限"),
    "why.input.ceiling": ("ceiling", "上限"),
    "why.input.balance_before": ("balance_before", "账户余额"),
    "why.input.payable": ("payable", "可支付金额"),
    "why.input.taken_before": ("taken_before", "此前已计入"),
    "why.input.counted_before": ("counted_before", "此前已累计"),
    "why.input.band_part": ("band_part", "分段内金额"),
    "why.input.accumulated_before": ("accumulated_before", "此前累计"),
    "why.input.uplift": ("uplift", "提高"),
    "why.input.balance": ("balance", "账户余额"),
    "why.result": ("result: {summary}", "结果:{summary}"),
    # ---- test -------------------------------------------------------------------------
    # a worked example's status in the report (the JSON's status stays PASS, FAIL or ERROR)
    "test.status.PASS": ("PASS", "通过"),
    "test.status.FAIL": ("FAIL", "失败"),
    "test.status.ERROR": ("ERROR", "出错"),
    "test.step": ("{field} = {value}  by {rule}", "{field} = {value}  依据 {rule}"),
    "test.step_from": ("  from {read}", "  读取 {read}"),
    "test.record": ("record {n}{who}", "第 {n} 条记录{who}"),
    "test.field": ("field", "字段"),
    "test.expected": ("expected", "期望值"),
    "test.actual": ("actual", "实际值"),
    "test.how": ("how {field} came to {value}:", "{field} 如何得出 {value}:"),
    "test.summary": (
        "{total} example(s): {passed} passed, {failed} failed",
        "{total} 个示例:{passed} 个通过,{failed} 个失败",
    ),
    "test.summary_errors": (", {errors} could not run", ",{errors} 个无法运行"),
    "test.none_found": ("no examples found in {paths}", "在 {paths} 中没有找到示例"),
    "test.config_unreadable": ("{file}: cannot be read: {why}", "{file}:无法读取:{why}"),
    "test.config_not_paths": (
        "{file}: [tool.policylang] test-paths must be a list of paths, such as "
        '["policies", "tests/examples"]',
        '{file}:[tool.policylang] 的 test-paths 应为路径的列表,例如 ["policies", "tests/examples"]',
    ),
    "test.config_missing": (
        "{file}: [tool.policylang] test-paths names paths that do not exist: {paths}",
        "{file}:[tool.policylang] 的 test-paths 中有不存在的路径:{paths}",
    ),
    "test.policy_errors": ("the policy {policy} has errors:", "政策 {policy} 有错误:"),
    "test.no_kind": (
        "cannot tell the kind of example: put the file in a settle/, credit/ or may-pay/ folder, "
        'or give "kind"',
        '无法判断示例的种类:把文件放在 settle/、credit/ 或 may-pay/ 目录中,或给出 "kind"',
    ),
    "test.not_arrays": (
        '"input" and "expected" must be arrays of the same length',
        '"input" 和 "expected" 必须是长度相同的数组',
    ),
    "test.not_example": ("(not an example file)", "(不是示例文件)"),
    "test.not_example_why": (
        'an example file is a JSON object with "input" and "expected"',
        '示例文件是含有 "input" 和 "expected" 的 JSON 对象',
    ),
    "test.vocabulary": ("(a vocabulary file)", "(词汇表文件)"),
    "test.vocabulary_why": (
        "{file} holds a vocabulary, not a policy: it has no examples; "
        "test the policies that import it",
        "{file} 是词汇表,不是政策:其中没有示例;请测试引用它的政策",
    ),
    "test.no_parse": ("(the policy does not parse)", "(政策无法解析)"),
    "test.no_policy_file": ("no policy file {file}", "没有政策文件 {file}"),
    "test.several": (
        'several policies match {name}: {files}; give a "policy" key',
        '有多个政策与 {name} 匹配:{files};请给出 "policy"',
    ),
    "test.no_policy": (
        'no policy for {name}: name the policy file too, or give a "policy" key '
        "(a .pol path relative to this file, or a policy id)",
        '找不到 {name} 的政策:请同时给出政策文件,或给出 "policy"'
        "(相对于此文件的 .pol 路径,或政策标识)",
    ),
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
    "fact.reduction": ("reduction when {cond}", "当 {cond} 时降低"),
    "fact.exemption": ("no reduction (exempt) when {cond}", "当 {cond} 时不降低(除外)"),
    "fact.bill_split": ("parts that leave the in-policy amount", "不纳入政策范围内费用的部分"),
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
    "sim.fund": ("Fund outlay (yuan)", "基金支出(元)"),
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
    "sim.by_fund": ("Outlay by fund (yuan)", "按基金支出(元)"),
    "sim.by_month": ("Fund outlay by month (yuan)", "按月基金支出(元)"),
    "sim.by_level": ("Fund outlay by hospital level (yuan)", "按医疗机构级别基金支出(元)"),
    "sim.by_category": ("Fund outlay by person category (yuan)", "按人员类别基金支出(元)"),
    "sim.fund_name": ("Fund", "基金"),
    "sim.month": ("Month", "月份"),
    "sim.level": ("Hospital level", "医疗机构级别"),
    "sim.category": ("Person category", "人员类别"),
    "sim.flexible": ("{category}, flexible employment", "{category}(灵活就业)"),
    "sim.total": ("Total", "合计"),
    "sim.capped_note": (
        "a person reaches the cap when the cap leaves no room for a visit the fund would "
        "otherwise pay (reason cap_reached)",
        "达到最高支付限额:某次就诊统筹基金本应支付,但限额已无余额(结果原因代码 `cap_reached`)",
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


def parse(msg_id: str, said: str) -> dict[str, str] | None:
    """The arguments with which ``msg_id``'s English gives ``said`` (None: it does not): a
    text another layer keeps in English (a trace's rule, the IR's provenance) said again."""
    import re

    pattern = ""
    for literal, name, _, _ in string.Formatter().parse(MESSAGES[msg_id][0]):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>.+?)"
    m = re.fullmatch(pattern, said)
    return m.groupdict() if m else None


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


# ---- the command line's help, in Chinese -------------------------------------------------
# The English help is click's: each command's docstring and each option's ``help=``, in
# policylang/cli.py.  Here is its Chinese, keyed by the command's name ("" for the group)
# and "COMMAND --option" (or "* --option" for an option every command shares);
# tests/test_messages.py checks that every command and option has its entry.
HELP_ZH: dict[str, str] = {
    "": (
        "检查并计算以 .pol 文件书写的职工基本医疗保险门诊共济保障政策。\n\n"
        "\b\n示例:\n"
        "  policylang check policies/\n"
        "  policylang settle policies/guiyang-2022.pol examples/guiyang-visits.json"
        " --format table\n"
        "  policylang credit policies/guiyang-2022.pol examples/guiyang-persons.json \\\n"
        "      --param guizhou_avg_pension_2022=3125.50\n"
        "  policylang may-pay policies/guiyang-2022.pol examples/guiyang-requests.json\n\n"
        "退出码:0 成功,1 政策或输入有错误,2 用法错误。"
    ),
    " --lang": (
        "提示信息、帮助和表头的语言(默认:POLICYLANG_LANG 环境变量,否则按 locale;"
        "LANG=zh_CN.* 时为中文)。"
    ),
    " --version": "显示版本并退出。",
    "* --help": "显示此帮助并退出。",
    "check": (
        "解析并检查政策(.pol 文件或包含 .pol 文件的目录)。\n\n"
        "报告每一个问题:文件:行:列、源代码行、稳定的诊断代码(见 docs/diagnostics.md)"
        "和提示。被实施的上级政策在同目录的 .pol 文件中查找。"
    ),
    "check --format": "text 供人阅读,json 供编辑器和 CI 使用。",
    "check --lang": "提示信息的语言(默认:按文件的关键字,否则按 locale)。",
    "check --strict": "把警告当作错误。",
    "settle": (
        "按政策 POLICY 结算普通门诊就诊记录 VISITS(JSON 数组或 JSON Lines)。\n\n"
        "多人的就诊可以混合、任意顺序;每人的就诊按 setl_time 顺序计算(同一时间的按给出顺序),"
        "每次就诊按输入顺序输出一条结果。表格末行为各金额列的合计。"
    ),
    "* --format": (
        "json 供程序使用(每个数字附计算过程);jsonl 每行一条结果,一旦确定即输出;table 供人阅读。"
    ),
    "* --param": "通知未给出、由政策以 `param` 声明的数值(可重复)。",
    "* --no-trace": "JSON 输出中不包含计算过程(trace)。",
    "* --path": ("查找被实施的上级政策的其他 .pol 文件或目录(可重复;政策自身所在目录总会查找)。"),
    "* --lang": (
        "提示信息和表头的语言(默认:英文,locale 为中文时为中文;"
        "JSON 中的 message 除非给出 --lang zh 否则为英文)。"
    ),
    "settle --ledger": (
        "从此台账继续:每人已使用的额度、余额、可冲正的结算。"
        '此时记录也可以是冲正({"op": "reverse", ...})。'
    ),
    "settle --ledger-out": (
        "写出本批就诊之后的台账(原子写入:OUT 可以与 IN 相同)。不给 --ledger 时从新台账开始。"
    ),
    "ledger": "显示台账 LEDGER 中每人已使用的额度:各计数器按期间的用量、余额,以及仍可冲正的结算。",
    "ledger --psn": "只显示此人。",
    "ledger --format": "table 供人阅读,json 供程序使用。",
    "resettle": (
        "按政策 POLICY 重新结算已记录的就诊(补退):POLICY 为台账所用政策的修订版,"
        "或同一政策加上更正记录 CORRECTIONS"
        "(带已记录结算的 setl_id 和更正字段的就诊 JSON 数组)。\n\n"
        "给出 --from/--until 时,重新结算该期间内的每次就诊;此人之后的就诊也总会重新结算。"
        "每次重新结算的就诊输出一条调整:新旧金额以及各方补缴或退回的差额。"
    ),
    "resettle --ledger": "就诊结算所记入的台账。",
    "resettle --ledger-out": "写出更新后的台账(原子写入:OUT 可以与 IN 相同)。",
    "resettle --from": "重新结算此日期及之后结算的每次就诊。",
    "resettle --until": "……以及此日期及之前的。",
    "resettle --format": "json 供程序使用,table 供人阅读。",
    "credit": "按政策 POLICY 计算人员 PERSONS(JSON 数组)的个人账户计入金额。",
    "may-pay": "判断个人账户能否支付 REQUESTS(JSON 数组)中的每项请求。",
    "serve": (
        "通过 HTTP 结算就诊,每人的台账保存在数据库中。\n\n"
        "POST /settle、/reverse、/presettle、/resettle 和 GET /ledger/PSN_NO 接收并返回 "
        "`settle` 的 JSON(docs/json-contract.md);OpenAPI 文档见 /docs。给出多个 POLICY "
        "文件时,请求以 ?policy=ID 指定其一;每个政策有自己的台账。结算按 setl_id 幂等。"
        "需要 service 附加组件:pip install 'policylang[service]'。"
    ),
    "serve --db": (
        "台账保存位置:sqlite:///PATH(sqlite:////绝对路径)或 "
        "postgresql://USER:PASSWORD@HOST:PORT/DBNAME。自动创建和迁移表结构。"
    ),
    "serve --host": "监听地址。非回环地址前请加 TLS 代理。",
    "serve --port": "监听端口。",
    "serve --token-file": "请求必须携带的 bearer 令牌(否则取 $POLICYLANG_TOKEN)。",
    "serve --no-auth": "接受不带令牌的请求(仅限回环地址)。",
    "serve --audit-log": "把审计记录(每次结算一行 JSON)追加到 FILE,而不是标准错误。",
    "serve --pool-size": "PostgreSQL 连接数(数据库中并发的请求数)。",
    "explain": "解释诊断代码,例如 H501。",
    "explain --lang": "解释的语言(默认:中英文都显示)。",
    "compile": (
        "编译政策 POLICY 并输出编译结果。\n\n"
        "IR 把每条结算规则表示为对已声明计数器的步骤,每步附条款和源码位置;"
        '其 "hash" 不含源码位置,因此格式化或翻译政策不会改变它。\n\n'
        "给出 --emit sql 时,结算程序成为对就诊表的一条查询(金额为整数分;查询前的注释说明"
        "列、参数和结果)。含有在 SQL 中没有封闭形式的步骤(两个限额同时累计、年内变化的金额)"
        "的程序会被拒绝并指出该步骤:duckdb 与 spark 后端改用顺序步骤结算。"
    ),
    "compile --emit": (
        "ir:IR 程序的 JSON(字节稳定;源码位置相对于政策所在目录);sql:结算程序的一条 SQL 查询。"
    ),
    "compile --dialect": "SQL 方言(与 --emit sql 一起使用)。",
    "render": (
        "生成政策 POLICY 的摘要,供与通知原文对照。\n\n"
        "起付标准、最高支付限额、各医疗机构级别和人员类别的支付比例(已计入提高)、"
        "个人账户计入规则和个人账户可支付的范围,按各施行版本列出,每行注明条款,原文摘录作为注释。"
    ),
    "render --format": "md:Markdown;html:一个自包含的网页(内联 CSS,不加载外部资源)。",
    "diff": (
        "从 OLD 到 NEW 含义上的变化:变化的规定及其日期,以及结算结果不同的具体就诊。\n\n"
        "在两个政策所区分的边界上(版本日期、医疗机构级别、人员类别、起付标准和限额的临界点、"
        "声明的输入)构造就诊,并按两个政策分别结算。未用 --param 给出的参数在两边取同一个"
        "替代值(报告中会说明)。\n\n"
        "退出码与 GNU diff 相同:0 没有结算结果不同的就诊,1 有,2 出错。"
    ),
    "diff --format": 'text 供人阅读;json:{"values": [...], "visits": [...], ...}。',
    "diff --all": "列出找到的每次结果不同的就诊,而不是每类人员和版本只列一次。",
    "why": (
        "逐步解释一条结果:施行的版本、计入的起付标准、支付比例及其原因(表格行、提高)、"
        "最高支付限额及剩余额度、舍入和个人账户;每一步附条款、通知原文和所读取的数值。\n\n"
        "INPUT 为就诊(settle)、人员(credit)或请求(may-pay),与这些命令的输入相同,"
        "也可以是示例文件(使用其 input 和 params);全部记录都会计算(就诊的起付标准和限额"
        "取决于此人之前的就诊),只解释 --record、--psn 或 --setl-id 选中的记录(默认:全部)。"
    ),
    "why --record": "解释 INPUT 的第 N 条记录(从 1 开始计数)。",
    "why --psn": "解释此 psn_no 人员的每条记录。",
    "why --setl-id": "解释此 setl_id(结算ID)的就诊。",
    "why --kind": "INPUT 的内容(默认:按其字段判断)。",
    "why --format": "text 供人阅读,json 供程序使用。",
    "test": (
        '运行示例:写在政策中的示例(example "..." { ... })和 JSON 示例文件'
        "(input + expected,格式同 tests/examples/)。\n\n"
        "PATH 为 .pol 文件、JSON 示例文件或目录(两者都查找;默认:当前目录)。"
        "每个示例输出 PASS 或 FAIL;失败时逐字段列出期望值和实际值,以及算出实际数字的计算步骤。\n\n"
        "\b\n退出码:0 全部通过,1 有示例失败,2 有示例无法运行"
        "(政策有错误、输入有问题、找不到政策)。"
    ),
    "test --format": "text 供人阅读,json 供程序和 CI 使用。",
    "synth": (
        "为试用 `simulate` 生成模拟的就诊数据:虚构的参保人员及其普通门诊就诊,"
        "字段名与 JSON 约定一致。\n\n"
        "分布(每人就诊次数、费用金额、医疗机构级别、人员类别、日期)见 docs/tools.md;"
        "相同的种子生成相同的文件。"
    ),
    "synth --persons": "参保人数。",
    "synth --years": "年数。",
    "synth --seed": "随机种子:种子相同,文件相同。",
    "synth --from-year": "就诊数据的起始年份。",
    "synth --output": "输出的就诊文件:Parquet,以 .csv 结尾时为 CSV。",
    "simulate": (
        "按政策 POLICY(以及 --reform 给出的改革方案)结算一年的就诊数据 CLAIMS,"
        "报告统筹基金支出。\n\n"
        "CLAIMS 为 Parquet(文件或包含文件的目录)或 CSV,字段名与 JSON 约定一致。"
        "报告给出统筹基金支出的总额,以及按月份、医疗机构级别和人员类别的分项,"
        "达到最高支付限额的人数和被起付标准吸收的就诊;给出 --reform 时,"
        "列出现行方案、改革方案及两者之差(改革减现行)。"
    ),
    "simulate --reform": "另一个政策(改革方案),按它结算同样的就诊并进行比较。",
    "simulate --engine": (
        "结算所用的后端(后端列表中的任意一个:有表路径的按整列计算;scalar 和 reference 逐行计算)。"
    ),
    "simulate --out": (
        "写出逐次就诊结果(Parquet,每个政策一个数据集)、summary.json 和 report.html 的目录;"
        "要么全部写出,要么什么都不写。"
    ),
    "simulate --memory-limit": (
        "按人员分区结算,使内存不超过 SIZE(512M、4G;默认 2G,机器内存较小时为其一半)。结果相同。"
    ),
    "fmt": (
        "以规范格式输出政策,保留注释。\n\n"
        "PATH 为 .pol 文件、目录(其中每个 .pol 文件)或 -(标准输入)。"
        "除非给出 --write、--check 或 --diff,结果输出到标准输出。\n\n"
        "\b\n退出码(同 diff):0 已是规范格式(或已输出、已改写),1 有文件不是规范格式"
        "(--check、--diff),2 出错:文件无法解析,或用法错误。"
    ),
    "fmt --lang": "把每个关键字、类型名和枚举值写成英文或中文(默认:按各文件主要使用的语言)。",
    "fmt --write": "原地改写文件(原子写入;未变化的文件不动)。",
    "fmt --check": "不写任何文件;列出不是规范格式的文件,如有则退出码为 1。",
    "fmt --diff": "不写任何文件;以统一 diff 格式显示格式化会做的改动,如有改动则退出码为 1。",
}

# click's own words (usage, option headings, its usage errors), in Chinese; click passes
# them through gettext, and the command line translates them with this table while it
# speaks Chinese.  Not here: words click keeps once made (the help of --help and --version,
# cached on first use), which HELP_ZH gives at the moment help is shown.
CLICK_ZH: dict[str, str] = {
    "Usage:": "用法:",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "参数",
    "Try '{command} {option}' for help.": "运行 '{command} {option}' 查看帮助。",
    "Error: {message}": "错误:{message}",
    "default: {default}": "默认:{default}",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing command.": "缺少命令。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效:{message}",
    "Invalid value: {message}": "值无效:{message}",
    "Aborted!": "已中止!",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的{number_type}。",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 内。",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是目录。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "file": "文件",
    "directory": "目录",
    "path": "路径",
    "File": "文件",
    "Directory": "目录",
    "Path": "路径",
    "integer": "整数",
    "integer range": "整数",
    "float": "数",
    "float range": "数",
    "boolean": "布尔值",
    "text": "文本",
    "choice": "选项",
    "datetime": "日期时间",
    "uuid": "UUID",
    "%(prog)s, version %(version)s": "%(prog)s,版本 %(version)s",
    "{value!r} is not {choice}.": "{value!r} 不是 {choice}。",
    "{value!r} is not one of {choices}.": "{value!r} 不是 {choices} 之一。",
    "Got unexpected extra argument ({args})": "多余的参数({args})",
    "Got unexpected extra arguments ({args})": "多余的参数({args})",
    "Option {name!r} requires an argument.": "选项 {name!r} 需要一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name!r} 需要 {nargs} 个值。",
}

# The title of each diagnostic code in Chinese (``policylang explain CODE --lang zh``); the
# English title is the catalogue's (diagnostics.CATALOGUE).  Every code has one
# (tests/test_chinese_output.py).
DIAGNOSTIC_TITLES_ZH: dict[str, str] = {
    "C401": "决策表有遗漏",
    "C402": "决策表有重叠",
    "C403": "版本施行期重叠",
    "C404": "版本之间有空档",
    "C405": "规则重复",
    "C406": "规则永远不会适用",
    "C407": "病种数合计不符",
    "C408": "版本结束早于开始",
    "C409": "计入规则重叠",
    "C410": "分析未完成",
    "C411": "分段界限顺序错误",
    "C412": "两个计数器标识相同",
    "C420": "不是按次的起付标准设置了合计上限(total_at_most)",
    "C421": "合计上限(total_at_most)按次计算",
    "C422": "按次起付标准高于其合计上限",
    "C423": "统筹基金永远不会支付",
    "H501": "违反上级政策的约束",
    "N101": "未知名称",
    "N102": "重复定义",
    "N103": "找不到上级政策",
    "N104": "循环实施",
    "N105": "未知设置",
    "N106": "此处不允许该值",
    "N107": "参数未被使用",
    "N108": "上级政策有错误",
    "N109": "实施的政策层级相同或更低",
    "N110": "名称已被占用",
    "N111": "两个政策标识相同",
    "N112": "起付标准和最高支付限额使用同一计数器名称",
    "N113": "视同 没有指向其他值",
    "N114": "代码映射了两次",
    "N115": "别名已表示另一个值",
    "N116": "该枚举不能扩展",
    "N117": "找不到词汇表",
    "N118": "不是可用的词汇表",
    "P001": "意外的字符",
    "P002": "意外的词或符号",
    "P003": "文件意外结束",
    "P004": "字符串未结束",
    "P005": "嵌套过深",
    "P010": "不可见字符",
    "P011": "双向控制字符",
    "P012": "易混淆字符",
    "P013": "数字中有中文标点",
    "P014": "日期不存在",
    "P015": "不是 UTF-8 文本",
    "R301": "比例超出范围",
    "R302": "金额为负",
    "R303": "数量不是整数",
    "R304": "舍入单位",
    "R305": "金额不是精确到分或过大",
    "R306": "数值超出界限",
    "S601": "缺少依据条款",
    "S602": "语句所在部分不对",
    "S603": "缺少语句",
    "S604": "部分重复",
    "S605": "一个示例中有两类记录",
    "T201": "值的种类不对",
    "T202": "百分比与百分点混用",
    "T203": "对不相容的值进行运算",
    "T204": "值之间没有顺序",
    "T205": "行与表的键不匹配",
    "T231": "不是费用的组成部分",
    "R331": "降低的幅度不是正数",
    "C430": "基金的分段与统筹基金重叠",
    "C431": "两个基金之间有都不支付的费用",
    "C432": "一个计数器属于两个基金",
    "C433": "对同一部分费用支付的基金合计超过 100%",
    "C434": "支付比例下限高于上限",
    "C435": "费用的同一组成部分列出两次",
    "S631": "按累计金额分段的支付比例不能设界限",
}
