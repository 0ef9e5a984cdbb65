"""The Guiyang outpatient settlement written by hand, as a settlement system would
write it without policylang: the numbers of policies/guiyang-2022.pol as constants,
Decimal money, no trace.  benchmarks/run.py times policylang against it.

``plain_settle`` does the work that ``policylang.load(...).settle(records,
trace=False)`` does for this policy, and nothing more:

- the same validation of the raw JSON records (docs/json-contract.md): unknown and
  missing keys, types, enumerations with their Chinese aliases, date and date-time
  format, money with at most two decimals and at most 15 integer digits, no negative
  amounts, self-paid parts not above the total.  Every problem of every record is
  collected and reported together (``PlainInputError.problems``);
- the same settlement (docs/settlement.md): visits in ``setl_time`` order (a date
  without a time before any time that day, ties in input order), pooling from
  2023-01-01 at designated institutions only, an annual deductible of 150.00, ratio
  75/75/70/65 by hospital level plus 5 points for retirees, half-up to the fen, an
  annual cap of 2000.00; the personal account (in use from 2022-09-01, for the
  person's own visit at a designated institution) pays the person's share up to the
  running balance;
- the same result fields, money as ``Decimal`` with two places.

Arithmetic is ``Decimal`` (not integer fen): it is what hand-written Python money
code uses, and the results have to be ``Decimal`` anyway.  All arithmetic runs in a
local 28-digit context, so the caller's decimal context is neither read nor changed;
the only rounding is the explicit half-up quantize of the fund's share.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

POOLING_FROM = dt.date(2023, 1, 1)  # 二(一)
ACCOUNT_FROM = dt.date(2022, 9, 1)  # 二(三)
DEDUCTIBLE = Decimal("150.00")  # per person per calendar year
CAP = Decimal("2000.00")  # per person per calendar year
RATIO = {
    "unrated": Decimal("0.75"),
    "level1": Decimal("0.75"),
    "level2": Decimal("0.70"),
    "level3": Decimal("0.65"),
}
RETIREE_UPLIFT = Decimal("0.05")

PSN_TYPES = {"active": "active", "在职": "active", "retiree": "retiree", "退休": "retiree"}
HOSP_LVS = {
    "unrated": "unrated",
    "未定级": "unrated",
    "level1": "level1",
    "一级": "level1",
    "level2": "level2",
    "二级": "level2",
    "level3": "level3",
    "三级": "level3",
}

MAX_DIGITS = 15
MONEY_RE = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")
SETL_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?"
)

_CONTEXT = Context(prec=28)  # ample: amounts have at most 15 + 2 digits


class PlainInputError(ValueError):
    """Bad input; ``problems`` lists (record number from 1, field, message)."""

    def __init__(self, problems: list[tuple[int | None, str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"record {r}: field '{f}': {m}" for r, f, m in problems))


# ---- parsing one value (raises ValueError with the message) ------------------------


def parse_text(value):
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a non-empty text, got {value!r}")


def parse_bool(value):
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


def _enum(table: dict, word: str):
    canonical = ", ".join(dict.fromkeys(table.values()))

    def parse(value):
        if isinstance(value, str):
            found = table.get(value.strip())
            if found is not None:
                return found
        raise ValueError(f"unknown {word} {value!r} (expected one of: {canonical})")

    return parse


parse_psn_type = _enum(PSN_TYPES, "person type")
parse_hosp_lv = _enum(HOSP_LVS, "hospital level")


def _plain_text(value: str) -> str:
    """Full-width digits and punctuation read as ASCII (NFKC), but not superscript or circled
    ones."""
    if (
        not value.isascii()
        and len(value) <= 160
        and not any(unicodedata.category(c) == "No" for c in value)
    ):
        value = unicodedata.normalize("NFKC", value)
    return value.strip()


def _money_text(value) -> str:
    """An amount as text, however JSON gave it."""
    if isinstance(value, str):
        text = _plain_text(value)
        if len(text) > 40:
            raise ValueError(f'expected an amount such as "230.00", got {value[:40]!r}')
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal):  # JSON read with parse_float=Decimal
        return format(value, "f")
    if isinstance(value, float):  # JSON read with plain json.loads: its shortest spelling
        return repr(value)
    raise ValueError(f'expected an amount such as "230.00", got {value!r}')


def parse_money(value):
    """A non-negative amount in yuan as Decimal with two places."""
    text = _money_text(value)
    m = MONEY_RE.fullmatch(text)
    if m is None:
        raise ValueError(f'expected an amount such as "230.00", got {value!r}')
    sign, whole, frac = m.groups()
    if len(whole.lstrip("0")) > MAX_DIGITS:
        raise ValueError(
            f"{value} is too large for an amount (at most {MAX_DIGITS} digits before the decimal "
            "point)"
        )
    if frac is not None and len(frac.rstrip("0")) > 2:
        raise ValueError(f"{value} has more than two decimal places (amounts are in fen)")
    amount = Decimal(text)
    if frac is None or len(frac) != 2:
        amount = amount.quantize(CENT)
    if sign == "-":
        if amount:
            raise ValueError(f"amount cannot be negative ({value})")
        amount = abs(amount)  # "-0.00" is 0.00
    return amount


def parse_setl_time(value):
    """(sort key, date, the normalised text): a date-only time sorts before any time that day.
    Exactly YYYY-MM-DD, optionally with " HH:MM" or " HH:MM:SS" (or "T" for the space)."""
    if not isinstance(value, str):
        raise ValueError(f'expected a date such as "2023-03-01", got {value!r}')
    text = _plain_text(value)
    m = SETL_RE.fullmatch(text)
    if m is None:
        raise ValueError(f'expected a date such as "2023-03-01", got {value[:40]!r}')
    y, mo, d, h, mi, sec = m.groups()
    try:
        if h is None:
            day = dt.date(int(y), int(mo), int(d))
            return (dt.datetime(day.year, day.month, day.day), 0), day, day.isoformat()
        moment = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0))
    except ValueError:
        raise ValueError(f"{value!r} is not a real date") from None
    return (moment, 1), moment.date(), moment.isoformat(sep=" ")


# field -> (parser, required, default)
FIELDS = {
    "psn_no": (parse_text, True, None),
    "psn_type": (parse_psn_type, True, None),
    "flxempe_flag": (parse_bool, True, None),
    "setl_time": (parse_setl_time, True, None),
    "hosp_lv": (parse_hosp_lv, True, None),
    "designated": (parse_bool, False, True),
    "medfee_sumamt": (parse_money, True, None),
    "fulamt_ownpay_amt": (parse_money, False, ZERO),
    "overlmt_selfpay": (parse_money, False, ZERO),
    "preselfpay_amt": (parse_money, False, ZERO),
    "acct_balc": (parse_money, False, None),
}
AMOUNTS = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")


def validate(records) -> list[dict]:
    """Parsed rows, or PlainInputError with every problem of every record."""
    if isinstance(records, (str, bytes, dict)) or not hasattr(records, "__iter__"):
        raise PlainInputError([(None, "(top level)", "expected a JSON array of visits")])
    problems = []
    rows = []
    for number, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            problems.append((number, "(record)", f"expected an object, got {type(rec).__name__}"))
            continue
        for key in rec:
            if key not in FIELDS:
                near = difflib.get_close_matches(key, FIELDS, n=1)
                problems.append(
                    (
                        number,
                        key,
                        "unknown field" + (f"; did you mean {near[0]!r}?" if near else ""),
                    )
                )
        row = _parse_record(number, rec, problems)
        if row is not None:
            rows.append(row)
    if problems:
        raise PlainInputError(problems)
    return rows


def _parse_record(number: int, rec: dict, problems: list) -> dict | None:
    """The record's fields parsed, or None when one of them has a problem (added)."""
    row = {}
    ok = True
    for name, (parse, required, default) in FIELDS.items():
        value = rec.get(name)
        if value is None:
            if required:
                problems.append((number, name, "is required but missing"))
                ok = False
            else:
                row[name] = default
            continue
        try:
            row[name] = parse(value)
        except ValueError as e:
            problems.append((number, name, str(e)))
            ok = False
    if all(k in row for k in AMOUNTS):
        parts = row["fulamt_ownpay_amt"] + row["overlmt_selfpay"] + row["preselfpay_amt"]
        if parts > row["medfee_sumamt"]:
            problems.append(
                (
                    number,
                    "medfee_sumamt",
                    f"the self-paid parts ({parts}) exceed the total {row['medfee_sumamt']}",
                )
            )
            ok = False
    return row if ok else None


# ---- settlement ------------------------------------------------------------------


def settle_rows(rows: list[dict]) -> list[dict]:
    """Settle validated rows; one result per row, in input order."""
    order = sorted(
        range(len(rows)), key=lambda i: rows[i]["setl_time"][0]
    )  # stable: ties keep input order
    dedc_used: dict[tuple, Decimal] = {}  # (psn_no, year) -> deductible consumed
    fund_used: dict[tuple, Decimal] = {}  # (psn_no, year) -> paid toward the cap
    balances: dict[str, Decimal] = {}  # psn_no -> account balance after the last visit
    out: list[dict | None] = [None] * len(rows)
    for i in order:
        v = rows[i]
        psn = v["psn_no"]
        _, day, text = v["setl_time"]
        total = v["medfee_sumamt"]
        inscp = total - v["fulamt_ownpay_amt"] - v["overlmt_selfpay"] - v["preselfpay_amt"]
        if day < POOLING_FROM:
            dedc, fund, ratio, reason = ZERO, ZERO, None, "not_in_force"
        elif not v["designated"]:
            dedc, fund, ratio, reason = ZERO, ZERO, None, "not_designated"
        else:
            dedc, fund, ratio, reason = _pool(v, (psn, day.year), inscp, dedc_used, fund_used)
        part = total - fund
        acct, balc = _account(v, psn, day, part, balances)
        out[i] = {
            "psn_no": psn,
            "setl_time": text,
            "medfee_sumamt": total,
            "inscp_scp_amt": inscp,
            "act_pay_dedc": dedc,
            "pool_prop_selfpay": ratio,
            "hifp_pay": fund,
            "fund_pay_sumamt": fund,
            "psn_part_amt": part,
            "acct_pay": acct,
            "acct_mulaid_pay": ZERO,
            "psn_cash_pay": part - acct,
            "balc": balc,
            "reason": reason,
        }
    return out


def _pool(v: dict, key: tuple, inscp: Decimal, dedc_used: dict, fund_used: dict) -> tuple:
    """(deductible, fund, ratio, reason) of a visit the pooling pays, the year's deductible
    and cap counted per person."""
    used = dedc_used.get(key, ZERO)
    dedc = min(inscp, DEDUCTIBLE - used)
    dedc_used[key] = used + dedc
    rest = inscp - dedc
    ratio = RATIO[v["hosp_lv"]]
    if v["psn_type"] == "retiree":
        ratio += RETIREE_UPLIFT
    share = (rest * ratio).quantize(CENT, rounding=ROUND_HALF_UP)
    paid = fund_used.get(key, ZERO)
    fund = min(share, CAP - paid)
    fund_used[key] = paid + fund
    reason = None
    if not fund:
        if not inscp:
            reason = "no_in_policy_amount"
        elif not rest:
            reason = "within_deductible"
        elif share:
            reason = "cap_reached"
        else:
            reason = "rounds_to_zero"
    return dedc, fund, ratio, reason


def _account(v: dict, psn: str, day: dt.date, part: Decimal, balances: dict) -> tuple:
    """(account payment, balance after) for a visit; the balance carries to the person's
    next visit."""
    acct = ZERO
    balc = v["acct_balc"]
    if balc is None:
        balc = balances.get(psn)
    if balc is not None:
        if day >= ACCOUNT_FROM and v["designated"]:
            acct = min(balc, part)
            balc -= acct
        balances[psn] = balc
    return acct, balc


def plain_settle(records: list[dict]) -> list[dict]:
    """Validate and settle raw JSON visit records under the Guiyang policy."""
    with localcontext(_CONTEXT):
        return settle_rows(validate(records))


RESULT_FIELDS = (
    "psn_no",
    "setl_time",
    "medfee_sumamt",
    "inscp_scp_amt",
    "act_pay_dedc",
    "pool_prop_selfpay",
    "hifp_pay",
    "fund_pay_sumamt",
    "psn_part_amt",
    "acct_pay",
    "acct_mulaid_pay",
    "psn_cash_pay",
    "balc",
    "reason",
)


def to_json(result: dict) -> dict:
    """A result as the JSON contract writes it (strings for money and the ratio)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in result.items()}
