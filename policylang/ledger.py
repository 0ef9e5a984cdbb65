"""The ledger: what each person has used, carried from one settle call to the next.

A settlement system settles one visit at a time all year.  The ledger is the
state between calls: every counter the program declares (by identity, period
and ``each`` value), each person's account balance and operation sequence, and
the record of each settlement that can still be reversed.  Its JSON is
canonical -- a pure function of the operations in the order they were applied
(sorted keys and records; no clock times, no call ids) -- so settling a year in
one call or one visit per call gives the same bytes.

Operations (``apply``): settlements (records as in the JSON contract) and
reversals (``{"op": "reverse", "psn_no", "setl_id", "setl_time"}``), in time
order; re-settlement (``resettle``) of recorded visits under an amended policy or
corrected inputs.  docs/json-contract.md documents the format; the JSON Schema
ships as ``policylang/schemas/ledger.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from . import vocab as V
from .errors import PolicylangError
from .backends.common import time_key
from .inputs import InputError, InputProblem, parse_date
from .runtime import MONEY_FIELDS, TraceStep, VisitResult, fen_text

if TYPE_CHECKING:
    from .api import CompiledPolicy

SCHEMA_VERSION = 1
MAX_FEN = 10**17  # 15 integer digits and 2 decimals: integer fen never overflows a BIGINT
RESULT_FIELDS = MONEY_FIELDS + ("pool_prop_selfpay", "balc", "reason")
# the further funds a policy may declare: kept with a result when it carries them
FUND_RESULT_FIELDS = V.FURTHER_FUND_FIELDS


def _kept(data: dict) -> dict:
    """What a ledger keeps of a result: RESULT_FIELDS and the declared funds' fields."""
    out = {f: data[f] for f in RESULT_FIELDS}
    out.update({f: data[f] for f in FUND_RESULT_FIELDS if f in data})
    return out


def _funds_of(result: dict) -> tuple[str, ...]:
    return tuple(f for f in FUND_RESULT_FIELDS if f in result)


class LedgerError(PolicylangError):
    """A ledger that cannot be used with this policy, or a file that is not a ledger."""


@attrs.define
class Entry:
    """One recorded settlement."""

    setl_id: str
    psn_no: str
    seq: int
    setl_time: str
    mdtrt_id: str | None
    consumed: list  # [counter id, bucket, each value, fen]
    result: dict  # RESULT_FIELDS as in the JSON contract
    record: dict  # the input record, for re-settlement
    reversed_seq: int | None = None

    def to_json(self) -> dict:
        return {
            "setl_id": self.setl_id,
            "seq": self.seq,
            "setl_time": self.setl_time,
            "mdtrt_id": self.mdtrt_id,
            "consumed": [
                {"counter": c, "period": _bucket_text(b), "each": e, "amount": fen_text(f)}
                for c, b, e, f in sorted(self.consumed, key=repr)
            ],
            "result": self.result,
            "input": self.record,
            "reversed_at_seq": self.reversed_seq,
        }


class Ledger:
    """The state between settle calls for one policy (see the module's doc)."""

    def __init__(self, policy_id: str, ir_hash: str, periods: dict[str, str]):
        self.policy, self.ir_hash = policy_id, ir_hash
        self.periods = periods  # counter id -> period
        self.used: dict[tuple, int] = {}
        self.balances: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.entries: dict[str, Entry] = {}
        self.dropped: list[
            str
        ] = []  # counters a loaded ledger had that this policy no longer declares

    @classmethod
    def new(cls, policy: "CompiledPolicy") -> "Ledger":
        program = policy.ir.programs["settle"]
        return cls(policy.id, policy.hash, {c.id: c.period for c in program.counters})

    def state(self) -> dict:
        return {"used": self.used, "balances": self.balances, "seq": self.seq}

    def copy(self) -> "Ledger":
        out = Ledger(self.policy, self.ir_hash, dict(self.periods))
        out.used, out.balances, out.seq = dict(self.used), dict(self.balances), dict(self.seq)
        out.entries = {
            k: attrs.evolve(e, consumed=list(e.consumed)) for k, e in self.entries.items()
        }
        out.dropped = list(self.dropped)
        return out

    # ---- reading what a person has used -------------------------------------------------
    def counters(self, psn_no: str) -> list[dict]:
        """What ``psn_no`` has used, per counter, period and ``each`` value."""
        return [
            {"counter": c, "period": _bucket_text(b), "each": e, "used": fen_text(f)}
            for (p, c, b, e), f in sorted(self.used.items(), key=repr)
            if p == psn_no
        ]

    def prune(self, before: dt.date) -> int:
        """Forget the records of settlements before ``before``: they can no longer be
        reversed or re-settled (the counters are kept).  Returns how many were dropped."""
        gone = [
            k
            for k, e in self.entries.items()
            if time_key(parse_date(e.setl_time, True))[0] < before
        ]
        for k in gone:
            del self.entries[k]
        return len(gone)

    # ---- JSON -----------------------------------------------------------------------------
    def to_data(self) -> dict:
        persons: dict[str, dict] = {}

        def person(p: str) -> dict:
            return persons.setdefault(
                p, {"seq": 0, "balance": None, "counters": [], "settlements": []}
            )

        for (p, c, b, e), f in self.used.items():
            if f:
                person(p)["counters"].append(
                    {"counter": c, "period": _bucket_text(b), "each": e, "used": fen_text(f)}
                )
        for p, f in self.balances.items():
            person(p)["balance"] = fen_text(f)
        for p, n in self.seq.items():
            person(p)["seq"] = n
        for entry in self.entries.values():
            person(entry.psn_no)["settlements"].append(entry.to_json())
        for data in persons.values():
            data["counters"].sort(key=lambda x: (x["counter"], x["period"], json.dumps(x["each"])))
            data["settlements"].sort(key=lambda x: x["seq"])
        return {
            "schema_version": SCHEMA_VERSION,
            "policy": self.policy,
            "ir_hash": self.ir_hash,
            "persons": persons,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_data(), ensure_ascii=False, sort_keys=True, indent=1) + "\n"

    def write(self, path: str) -> None:
        """Write atomically: the file is either the old ledger or the new one, never half."""
        from .atomic import replace_file

        replace_file(path, lambda f: f.write(self.to_json()), sync=True)

    @classmethod
    def from_json(cls, text: str, policy: "CompiledPolicy", source: str = "ledger") -> "Ledger":
        """Read a ledger for ``policy``.  One written under another policy is refused; one
        written under an amended version of the same policy keeps the counters whose
        identity is unchanged and reports the others in ``dropped``."""
        from .jsonread import JSONSyntaxError, read_json

        try:
            data = read_json(text.encode("utf-8", "surrogatepass"), source)
        except (JSONSyntaxError, InputError) as e:
            raise LedgerError(f"{source}: not a ledger ({str(e).splitlines()[0]})") from None
        except RecursionError:
            raise LedgerError(f"{source}: not a ledger (nested too deeply)") from None
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            raise LedgerError(f"{source}: not a ledger of schema version {SCHEMA_VERSION}")
        if data.get("policy") != policy.id:
            raise LedgerError(
                f"{source}: written under policy {data.get('policy')!r}, not {policy.id!r}; "
                "a ledger belongs to one policy"
            )
        out = cls.new(policy)
        dropped: set[str] = set()
        try:
            for psn, p in sorted(data["persons"].items()):
                out._read_person(psn, p, dropped)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise LedgerError(f"{source}: not a valid ledger ({type(e).__name__}: {e})") from None
        out.dropped = sorted(dropped)
        return out

    def _bucket(self, c: dict) -> Bucket:
        """The bucket of a stored counter entry; None when the policy no longer declares the
        counter (or its period changed)."""
        period = self.periods.get(c["counter"])
        return _bucket_value(c["period"], period) if period else None

    def _read_person(self, psn: str, p: dict, dropped: set[str]) -> None:
        """One person's part of a stored ledger; counters it no longer declares go in
        ``dropped``."""
        self.seq[psn] = int(p["seq"])
        if p.get("balance") is not None:
            self.balances[psn] = _fen(p["balance"])
        for c in p["counters"]:
            bucket = self._bucket(c)
            if bucket is None:
                dropped.add(c["counter"])
                continue
            self.used[(psn, c["counter"], bucket, c["each"])] = _fen(c["used"])
        for s in p["settlements"]:
            consumed = []
            for c in s["consumed"]:
                bucket = self._bucket(c)
                if bucket is not None:
                    consumed.append([c["counter"], bucket, c["each"], _fen(c["amount"])])
            self.entries[s["setl_id"]] = Entry(
                s["setl_id"],
                psn,
                int(s["seq"]),
                s["setl_time"],
                s["mdtrt_id"],
                consumed,
                s["result"],
                s["input"],
                s["reversed_at_seq"],
            )

    @classmethod
    def read(cls, path: str, policy: "CompiledPolicy") -> "Ledger":
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise LedgerError(f"{path}: {e.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LedgerError(f"{path}: not UTF-8 text") from None
        return cls.from_json(text, policy, path)


def _fen(text: object) -> int:
    d = Decimal(str(text))
    f = int(d.scaleb(2))
    if d.scaleb(2) != f or not 0 <= abs(f) < MAX_FEN:
        raise ValueError(f"not an amount: {text!r}")
    return f


Bucket = int | tuple[int, int] | dt.date | None  # a year, (year, month), a day; None: a visit


def _bucket_text(b: Bucket) -> str:
    if isinstance(b, tuple):
        return f"{b[0]:04d}-{b[1]:02d}"
    if isinstance(b, dt.date):
        return b.isoformat()
    return f"{b:04d}"


def _bucket_value(text: str, period: str) -> Bucket:
    try:
        if period == "year":
            return int(text)
        if period == "month":
            y, m = text.split("-")
            return (int(y), int(m))
        if period == "day":
            return dt.date.fromisoformat(text)
    except ValueError:
        return None
    return None


# ---- applying operations ----------------------------------------------------------------


@attrs.frozen
class SettleOutcome:
    """What ``settle(..., ledger=L)`` returns: one result per record (settlements and
    reversals) in input order, and the ledger after them (``L`` itself is unchanged)."""

    results: list
    ledger: Ledger


@attrs.frozen
class Adjustment:
    """A re-settled visit: the old and new amounts, and what changes hands."""

    setl_id: str
    psn_no: str
    setl_time: str
    old: dict
    new: dict

    def difference(self) -> dict:
        """new − old for every amount: the fund pays (positive) or recovers (negative)
        ``fund_pay_sumamt``; the person pays or gets back ``psn_cash_pay`` and
        ``acct_pay``."""
        fields = MONEY_FIELDS + tuple(f for f in _funds_of(self.new) if f in self.old)
        return {f: fen_text(_fen(self.new[f]) - _fen(self.old[f])) for f in fields}

    def to_json(self) -> dict:
        return {
            "setl_id": self.setl_id,
            "psn_no": self.psn_no,
            "setl_time": self.setl_time,
            "old": self.old,
            "new": self.new,
            "difference": self.difference(),
        }


@attrs.frozen
class ResettleOutcome:
    adjustments: list
    results: list
    ledger: Ledger


REVERSE_FIELDS = {"op", "psn_no", "setl_id", "setl_time", "mdtrt_id"}


def _plain(value):
    """A record's value as JSON keeps it (Decimal amounts as text)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return value


def _order_key(value: object) -> tuple:
    try:
        return time_key(parse_date(value.strip() if isinstance(value, str) else value, True))
    except Exception:  # noqa: BLE001 - validation reports it; order is then irrelevant
        return (dt.date.max, 2, dt.time.max)


def apply(
    policy: "CompiledPolicy", records: list, values: dict, trace: bool, ledger: Ledger
) -> SettleOutcome:
    """Settle and reverse ``records`` in time order against a copy of ``ledger``."""
    if ledger.policy != policy.id:
        raise LedgerError(f"the ledger belongs to policy {ledger.policy!r}, not {policy.id!r}")
    engine = policy._evaluator(trace)
    stamp = (policy.id, policy.hash)
    out = ledger.copy()
    out.ir_hash = policy.hash
    problems: list[InputProblem] = []
    if isinstance(records, (str, bytes, dict)) or not hasattr(records, "__iter__"):
        raise InputError([InputProblem(None, "(top level)", "expected a JSON array of visits")])
    records = list(records)
    ops = _operations(records, problems)
    results: list[Any] = [None] * len(records)
    run: list[tuple[int, dict]] = []

    def flush() -> None:
        if run:
            _settle_run(policy, engine, run, values, out, results, problems, stamp)
            run.clear()

    for _, _, i, kind, r in _in_time_order(ops):
        if kind == "settle":
            run.append((i, r))
        else:
            flush()
            _reverse(out, i, r, results, problems, stamp, trace)
    flush()
    problems += _beyond_bounds(out)
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.record or 0))
    return SettleOutcome(results, out)


Operation = tuple[tuple, int, str, Any]  # (time key, input index, settle | reverse, record)


def _operations(records: list, problems: list[InputProblem]) -> list[Operation]:
    """Each record as an operation (a settlement, or a reversal checked for its fields); a
    record with another ``op`` is a problem."""
    ops: list[Operation] = []
    for i, rec in enumerate(records):
        op = rec.get("op", "settle") if isinstance(rec, dict) else "settle"
        if op == "reverse":
            problems += _reversal_problems(i, rec)
            ops.append((_order_key(rec.get("setl_time")), i, "reverse", rec))
        elif op == "settle":
            body = {k: v for k, v in rec.items() if k != "op"} if isinstance(rec, dict) else rec
            ops.append(
                (
                    _order_key(rec.get("setl_time") if isinstance(rec, dict) else None),
                    i,
                    "settle",
                    body,
                )
            )
        else:
            problems.append(
                InputProblem(i + 1, "op", f'expected "settle" or "reverse", got {op!r}', _psn(rec))
            )
    return ops


def _reversal_problems(i: int, rec: dict) -> list[InputProblem]:
    problems = [
        InputProblem(
            i + 1,
            str(key),
            "unknown field for a reversal (expected: " + ", ".join(sorted(REVERSE_FIELDS)) + ")",
            _psn(rec),
        )
        for key in rec
        if key not in REVERSE_FIELDS
    ]
    for key in ("psn_no", "setl_id", "setl_time"):
        if not isinstance(rec.get(key), (str, int)) or isinstance(rec.get(key), bool):
            problems.append(InputProblem(i + 1, key, "is required for a reversal", _psn(rec)))
    return problems


def _in_time_order(ops: list[Operation]) -> list[tuple[tuple, float, int, str, Any]]:
    """The operations in time order; a reversal comes after the settlement it names when
    their times are equal."""
    settled_at = {
        str(r["setl_id"]).strip(): (k, i)
        for k, i, kind, r in ops
        if kind == "settle" and isinstance(r, dict) and r.get("setl_id") is not None
    }
    ordered = []
    for k, i, kind, r in ops:
        tie: float = i
        if kind == "reverse" and str(r.get("setl_id")).strip() in settled_at:
            tk, ti = settled_at[str(r.get("setl_id")).strip()]
            if tk == k and ti > i:
                tie = ti + 0.5
        ordered.append((k, tie, i, kind, r))
    ordered.sort(key=lambda x: (x[0], x[1]))
    return ordered


def _beyond_bounds(out: Ledger) -> list[InputProblem]:
    """A counter that reached the money bound (15 integer digits) is a problem."""
    return [
        InputProblem(
            None,
            "(ledger)",
            f"person {p} has used {fen_text(f)} of {c} in "
            f"{_bucket_text(b)}: beyond the money bound (15 integer digits)",
        )
        for (p, c, b, _e), f in out.used.items()
        if f >= MAX_FEN
    ]


def _psn(rec: object) -> str | None:
    v = rec.get("psn_no") if isinstance(rec, dict) else None
    return v if isinstance(v, str) else None


def _settle_run(
    policy: CompiledPolicy,
    engine: Any,
    run: list[tuple[int, dict]],
    values: dict,
    out: Ledger,
    results: list[Any],
    problems: list[InputProblem],
    stamp: tuple[str, str],
) -> None:
    seen = set()
    for i, r in run:
        sid = r.get("setl_id") if isinstance(r, dict) else None
        if sid is not None:
            sid = str(sid).strip()
            if sid in out.entries or sid in seen:
                problems.append(
                    InputProblem(
                        i + 1,
                        "setl_id",
                        f"{sid!r} is already settled; a settled visit is never "
                        "settled again (reverse it, or re-settle it)",
                        _psn(r),
                    )
                )
            seen.add(sid)
    journal: list = []
    try:
        got = engine.settle([r for _, r in run], values, out.state(), journal)
    except InputError as e:
        for p in e.problems:
            problems.append(
                attrs.evolve(p, record=run[p.record - 1][0] + 1) if p.record is not None else p
            )
        return
    consumed: dict[int, list] = {}
    for j, (_psn_no, cid, bucket, each), f in journal:
        consumed.setdefault(j, []).append([cid, bucket, each, f])
    for j, ((i, r), result) in enumerate(zip(run, got, strict=True)):
        sid = result.setl_id
        if sid is None:
            # assigned: a pure function of the order of operations
            sid = f"{result.psn_no}-{result.seq}"
            while sid in out.entries:
                sid += "+"
            result = result.with_meta(setl_id=sid)
        data = result.to_json(trace=False)
        out.entries[sid] = Entry(
            sid,
            result.psn_no,
            result.seq,
            result.setl_time,
            result.mdtrt_id,
            consumed.get(j, []),
            _kept(data),
            {k: _plain(v) for k, v in r.items()},
        )
        results[i] = result


def _reverse(
    out: Ledger,
    i: int,
    r: dict,
    results: list[Any],
    problems: list[InputProblem],
    stamp: tuple[str, str],
    trace: bool,
) -> None:
    if any(r.get(k) is None for k in ("psn_no", "setl_id", "setl_time")):
        return  # reported already
    sid, psn = str(r.get("setl_id")).strip(), str(r.get("psn_no")).strip()
    entry = out.entries.get(sid)
    if entry is None:
        problems.append(
            InputProblem(
                i + 1,
                "setl_id",
                f"no settlement {sid!r} is recorded in the ledger or earlier in this input",
                psn,
            )
        )
        return
    if entry.psn_no != psn:
        problems.append(
            InputProblem(i + 1, "setl_id", f"settlement {sid!r} belongs to another person", psn)
        )
        return
    if entry.reversed_seq is not None:
        problems.append(
            InputProblem(
                i + 1,
                "setl_id",
                f"settlement {sid!r} was already reversed (seq {entry.reversed_seq})",
                psn,
            )
        )
        return
    for cid, bucket, each, f in entry.consumed:
        key = (psn, cid, bucket, each)
        left = out.used.get(key, 0) - f
        if left:
            out.used[key] = left
        else:
            out.used.pop(key, None)
    acct = _fen(entry.result["acct_pay"])
    if psn in out.balances:
        out.balances[psn] += acct
    seq = out.seq[psn] = out.seq.get(psn, 0) + 1
    entry.reversed_seq = seq
    old = entry.result
    funds = _funds_of(old)  # the funds' payments are returned with the rest
    amounts = tuple(-_fen(old[f]) for f in MONEY_FIELDS + funds)
    ratio = old["pool_prop_selfpay"]
    ratio_e4 = None if ratio is None else int(Decimal(ratio).scaleb(4))
    text = r["setl_time"].strip() if isinstance(r["setl_time"], str) else str(r["setl_time"])
    steps = (
        TraceStep(
            "reversal",
            sid,
            f"reversal of settlement {sid} (seq {entry.seq})",
            inputs={
                "counters_returned": str(len(entry.consumed)),
                "acct_pay_returned": fen_text(acct),
            },
        ),
    )
    results[i] = VisitResult(
        psn,
        text,
        amounts,
        out.balances.get(psn),
        ratio_e4,
        old["reason"],
        f"reversal of settlement {sid} (seq {entry.seq})",
        steps if trace else (),
        (
            sid,
            _plain(r.get("mdtrt_id")) if r.get("mdtrt_id") is not None else entry.mdtrt_id,
            seq,
            "reverse",
        ),
        stamp,
        funds,
    )


# ---- re-settlement ------------------------------------------------------------------------


def _corrections(work: Ledger, corrections: list[dict] | None) -> dict[str, dict]:
    """The corrected fields by setl_id; a correction that names no live settlement of its
    person is a problem (all are reported together)."""
    problems: list[InputProblem] = []
    fixes: dict[str, dict] = {}
    for i, rec in enumerate(list(corrections or [])):
        sid = rec.get("setl_id") if isinstance(rec, dict) else None
        entry = work.entries.get(str(sid).strip()) if sid is not None else None
        if entry is None or entry.reversed_seq is not None:
            problems.append(
                InputProblem(
                    i + 1,
                    "setl_id",
                    "names no recorded settlement that can be re-settled"
                    if sid is not None
                    else "is required to re-settle a visit",
                    _psn(rec),
                )
            )
            continue
        if str(rec.get("psn_no", entry.psn_no)).strip() != entry.psn_no:
            problems.append(
                InputProblem(
                    i + 1, "psn_no", f"settlement {sid!r} belongs to {entry.psn_no}", _psn(rec)
                )
            )
            continue
        fixes[entry.setl_id] = {k: v for k, v in rec.items() if k != "op"}
    if problems:
        raise InputError(problems)
    return fixes


def _first_redone(
    live: list[Entry], fixes: dict[str, dict], start: dt.date | None, end: dt.date | None
) -> dict[str, tuple]:
    """For each person, the time of the first visit to re-settle: one corrected, or one
    settled in the period from ``start`` to ``end`` (when either is given)."""
    first: dict[str, tuple] = {}
    for e in live:
        k = _order_key(e.setl_time)
        day = k[0]
        if e.setl_id in fixes or (
            (start is None or day >= start)
            and (end is None or day <= end)
            and (start is not None or end is not None)
        ):
            if e.psn_no not in first or k < first[e.psn_no]:
                first[e.psn_no] = k
    return first


def _take_back(work: Ledger, e: Entry) -> None:
    """Undo a settlement in ``work``: what it consumed, what the account paid, its entry."""
    for cid, bucket, each, f in e.consumed:
        key = (e.psn_no, cid, bucket, each)
        left = work.used.get(key, 0) - f
        if left:
            work.used[key] = left
        else:
            work.used.pop(key, None)
    if e.psn_no in work.balances:
        work.balances[e.psn_no] += _fen(e.result["acct_pay"])
    del work.entries[e.setl_id]


def resettle(
    policy: "CompiledPolicy",
    corrections: list[dict] | None,
    values: dict,
    trace: bool,
    ledger: Ledger,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> ResettleOutcome:
    """Re-settle recorded visits: those named in ``corrections`` (records with the
    ``setl_id`` of a recorded settlement, carrying the corrected fields) and those
    settled from ``start`` to ``end``; for each person, every later recorded visit is
    re-settled too, since what it consumed depends on the earlier ones.  The old
    settlements are taken back and the visits settled again in their time order under
    ``policy``, keeping their setl_id."""
    work = ledger.copy()
    fixes = _corrections(work, corrections)
    live = [e for e in work.entries.values() if e.reversed_seq is None]
    first = _first_redone(live, fixes, start, end)
    redo = sorted(
        (e for e in live if e.psn_no in first and _order_key(e.setl_time) >= first[e.psn_no]),
        key=lambda e: (_order_key(e.setl_time), e.seq),
    )
    old = {e.setl_id: e.result for e in redo}
    for e in redo:
        _take_back(work, e)
    records = [{**e.record, **fixes.get(e.setl_id, {}), "setl_id": e.setl_id} for e in redo]
    outcome = apply(policy, records, values, trace, work)
    adjustments = [
        Adjustment(
            r.setl_id,
            r.psn_no,
            r.setl_time,
            old[r.setl_id],
            _kept(r.to_json(trace=False)),
        )
        for r in outcome.results
    ]
    return ResettleOutcome(adjustments, outcome.results, outcome.ledger)
