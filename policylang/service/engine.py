"""What the service does with a request, between HTTP and the database.

Every operation goes through the library's public API: a one-person (or few-person)
``Ledger`` is read from the persons' stored rows (``Ledger.from_json``), the records are
settled with ``CompiledPolicy.settle(records, ledger=…)`` (or ``resettle``), and the persons'
parts of ``outcome.ledger.to_data()`` are written back, in one transaction that holds the
persons' locks.

Idempotency: a settlement or reversal is keyed by (operation, setl_id).  The key is looked
up under the persons' locks; a record already applied with the same content returns the
first result as it was answered (stored with the operation; with its trace only if the
first request asked for it, and without it when a retry asks ``trace=false``), one with
other content is a conflict (409), and nothing of the request is applied.  A settlement
without ``setl_id`` is assigned one by the library (``PSN-SEQ``), and stored under it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import policylang

from .audit import Audit
from .store import Operation, Retry, Store, StoreError, WriteTx

if TYPE_CHECKING:
    from ..api import CompiledPolicy
    from ..ledger import Ledger, SettleOutcome

LOG = logging.getLogger("policylang.service")
MAX_ATTEMPTS = 8
MAX_RECORDS = 10_000
RESETTLE_KEYS = {"corrections", "from", "until", "resettle_id"}


class Conflict(Exception):
    """Records whose idempotency key was already used with other content."""

    def __init__(self, conflicts: list[dict]):
        self.conflicts = conflicts
        super().__init__("; ".join(c["text"] for c in conflicts))


class UnknownPolicy(Exception):
    """No policy named (400, when the service has several) or no such policy (404)."""

    def __init__(self, text: str, status: int):
        self.status = status
        super().__init__(text)


def dumps(value: object) -> str:
    """Compact JSON for storage (amounts read as Decimal are written as numbers' text)."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_plain
    )


def answer_text(value: object) -> str:
    """An answer as stored for retries: its fields in the order first given."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_plain)


def _plain(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON: {type(value).__name__}")


def content_hash(value: object) -> str:
    return "sha256:" + hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def _text(value: object, strip: bool) -> str | None:
    """A text field as the library reads it (``psn_no: 7`` is ``"7"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() if strip else value
    return None


class Item:
    """One record of a request, with its idempotency key and content hash."""

    __slots__ = ("index", "record", "op", "setl_id", "psn_no", "key", "hash", "norm")
    op: str | None  # None: not a settlement or a reversal (the library reports it)
    setl_id: str | None
    psn_no: str | None
    key: tuple[str, str] | None  # (op, setl_id) when the record has a setl_id
    hash: str | None
    norm: dict[str, Any] | None

    def __init__(self, index: int, record: Any):
        self.index, self.record = index, record
        self.op = self.setl_id = self.psn_no = self.key = self.hash = None
        self.norm = None
        if not isinstance(record, dict):
            return
        op = record.get("op", "settle")
        if op not in ("settle", "reverse"):
            return  # the library reports it
        self.op = op
        self.psn_no = _text(record.get("psn_no"), strip=op == "reverse")
        sid = _text(record.get("setl_id"), strip=True)
        self.norm = {**record, "op": op}
        if sid:
            self.setl_id = self.norm["setl_id"] = sid
            self.key = (op, sid)
        self.hash = content_hash(self.norm)


class ServicePolicy:
    """A policy the service settles under, with the parameters given at start."""

    def __init__(self, policy: CompiledPolicy, params: dict | None = None):
        self.policy = policy
        self.params = dict(params or {})
        self.id, self.hash = policy.id, policy.hash


def _problem(record, field, message, psn_no=None):
    return policylang.InputProblem(record, field, message, psn_no)


def _input_error(problems):
    return policylang.InputError(problems)


class Engine:
    def __init__(self, policies: Sequence[ServicePolicy], store: Store):
        self.policies = {p.id: p for p in policies}
        self.store = store
        salt = store.meta("audit_salt")
        if not salt:
            raise StoreError("the database has no audit salt (policylang_meta); was it migrated?")
        self.audit = Audit(salt)
        first = next(iter(self.policies.values()))
        self.ledger_version = first.policy.new_ledger().to_data()["schema_version"]
        self._warned: set[str] = set()

    def policy(self, pid: str | None) -> ServicePolicy:
        if pid is None:
            if len(self.policies) == 1:
                return next(iter(self.policies.values()))
            raise UnknownPolicy(
                f"this service settles under several policies; name one with ?policy=ID "
                f"({', '.join(sorted(self.policies))})",
                400,
            )
        try:
            return self.policies[pid]
        except KeyError:
            raise UnknownPolicy(
                f"no policy {pid!r} here; policies: {', '.join(sorted(self.policies))}", 404
            ) from None

    # ---- the ledger of a few persons ---------------------------------------------------------
    def _ledger(self, sp: ServicePolicy, rows: Mapping[str, str | None]) -> Ledger:
        parts = ",".join(
            f"{json.dumps(p, ensure_ascii=False)}:{d}"
            for p, d in sorted(rows.items())
            if d is not None
        )
        text = (
            f'{{"schema_version":{self.ledger_version},"policy":{json.dumps(sp.id)},'
            f'"ir_hash":{json.dumps(sp.hash)},"persons":{{{parts}}}}}'
        )
        ledger = policylang.Ledger.from_json(
            text, sp.policy, source=f"the stored ledger of {sp.id}"
        )
        if ledger.dropped and sp.id not in self._warned:
            self._warned.add(sp.id)
            LOG.warning(
                "%s: stored ledgers were written under another version of the policy; counters it "
                "no longer "
                "declares are dropped when a person is next settled: %s",
                sp.id,
                ", ".join(ledger.dropped),
            )
        return ledger

    def _write_back(self, sp: ServicePolicy, tx: WriteTx, ledger_after: Ledger) -> None:
        persons = ledger_after.to_data()["persons"]
        stray = set(persons) - set(tx.rows)
        if stray:  # never commit a person whose row was not locked: that could lose an update
            raise RuntimeError(
                f"the library settled {len(stray)} person(s) whose rows were not locked"
            )
        for psn, data in persons.items():
            text = dumps(data)
            if text != tx.rows.get(psn):
                tx.put_person(sp.id, psn, text, sp.hash)

    # ---- settle, reverse, presettle -------------------------------------------------------
    def settle(
        self,
        sp: ServicePolicy,
        records: list,
        trace: bool = True,
        kind: str = "settle",
        dry: bool = False,
    ) -> tuple[list[dict], bool]:
        """Apply ``records`` (visits and reversals); returns the results in input order and
        whether every one was a replay of a result already given."""
        items = self._items(sp, records, kind)
        if not items:
            return [], False
        psns = sorted({it.psn_no for it in items if it.psn_no is not None})
        if dry:
            rows = self.store.read(sp.id, psns)
            outcome = self._settle(sp, items, self._ledger(sp, rows), "presettle", trace)
            results = [r.to_json(trace=trace) for r in outcome.results]
            for r in results:
                self._audit(sp, r["op"] if r["op"] == "reverse" else "presettle", "presettled", r)
            return results, False
        for _ in range(MAX_ATTEMPTS):
            try:
                with self.store.write(sp.id, psns) as tx:
                    out, fresh = self._apply(sp, tx, items, trace)
                break
            except Retry:
                continue
        else:
            raise StoreError(
                f"gave up after {MAX_ATTEMPTS} attempts: other requests kept taking the same keys"
            )
        for i, r in enumerate(out):
            self._audit(
                sp,
                r["op"],
                ("reversed" if r["op"] == "reverse" else "settled") if i in fresh else "replayed",
                r,
            )
        if not trace:
            out = [{k: v for k, v in r.items() if k != "trace"} for r in out]
        return out, not fresh

    def _items(self, sp: ServicePolicy, records: object, kind: str) -> list[Item]:
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise _input_error(
                [_problem(None, "(top level)", "expected a JSON object or an array of them")]
            )
        if len(records) > MAX_RECORDS:
            raise _input_error(
                [
                    _problem(
                        None,
                        "(top level)",
                        f"at most {MAX_RECORDS} records in one request, got {len(records)}",
                    )
                ]
            )
        if kind == "reverse":
            problems, out = [], []
            for i, r in enumerate(records):
                if isinstance(r, dict) and r.get("op", "reverse") != "reverse":
                    problems.append(
                        _problem(
                            i + 1,
                            "op",
                            f"/reverse takes reversals only, got {r.get('op')!r}",
                            _text(r.get("psn_no"), True),
                        )
                    )
                out.append({**r, "op": "reverse"} if isinstance(r, dict) else r)
            if problems:
                self._rejected(sp, records)
                raise _input_error(problems)
            records = out
        return [Item(i, r) for i, r in enumerate(records)]

    def _settle(
        self, sp: ServicePolicy, items: list[Item], ledger: Ledger, op: str, trace: bool
    ) -> SettleOutcome:
        try:
            return sp.policy.settle(
                [it.record for it in items], sp.params, trace=trace, ledger=ledger
            )
        except policylang.InputError as e:
            self._rejected(sp, [it.record for it in items], op)
            raise policylang.InputError(
                [
                    policylang.InputProblem(
                        items[p.record - 1].index + 1 if p.record is not None else None,
                        p.field,
                        p.message,
                        p.psn_no,
                        p.source,
                    )
                    for p in e.problems
                ]
            ) from None

    def _apply(
        self, sp: ServicePolicy, tx: WriteTx, items: list[Item], trace: bool
    ) -> tuple[list[dict], set[int]]:
        keyed = [(it.key, it) for it in items if it.key is not None]
        seen = tx.operations(sp.id, [key for key, _ in keyed]) if keyed else {}
        out: list[Any] = [None] * len(items)
        conflicts = []
        for key, it in keyed:
            done = seen.get(key)
            if done is None:
                continue
            if done.content_hash == it.hash:
                out[it.index] = json.loads(done.response)
            else:
                conflicts.append(
                    {
                        "record": it.index + 1,
                        "op": it.op,
                        "setl_id": it.setl_id,
                        "text": f"record {it.index + 1}: a {it.op} with setl_id {it.setl_id!r} "
                        "was already received with other content; send the same content again "
                        "to get its result, or use another setl_id",
                    }
                )
        if conflicts:
            for it in items:
                if it.op is not None and any(c["record"] == it.index + 1 for c in conflicts):
                    self.audit.record(sp, it.op, "conflict", it.setl_id, it.psn_no)
            raise Conflict(conflicts)
        fresh = [it for it in items if out[it.index] is None]
        if fresh:
            outcome = self._settle(sp, fresh, self._ledger(sp, tx.rows), "settle", trace)
            self._write_back(sp, tx, outcome.ledger)
            ops = []
            for it, result in zip(fresh, outcome.results, strict=True):
                data = result.to_json(trace=trace)  # stored as answered: a retry gets this again
                sid = data["setl_id"]
                if it.hash is not None and it.key is not None:
                    digest = it.hash
                else:  # a record the library accepted is an object: norm is set
                    digest = content_hash({**(it.norm or {}), "setl_id": sid})
                ops.append(Operation(data["op"], sid, data["psn_no"], digest, answer_text(data)))
                out[it.index] = data
            tx.put_operations(sp.id, ops)
        return out, {it.index for it in fresh}

    def _audit(self, sp: ServicePolicy, op: str, outcome: str, r: dict) -> None:
        self.audit.record(sp, op, outcome, r.get("setl_id"), r.get("psn_no"), r.get("seq"))

    def _rejected(self, sp: ServicePolicy, records: Sequence[object], op: str = "settle") -> None:
        for r in records:
            if isinstance(r, dict):
                kind = r.get("op", op) if r.get("op") in ("settle", "reverse") else op
                self.audit.record(
                    sp,
                    kind,
                    "rejected",
                    _text(r.get("setl_id"), True),
                    _text(r.get("psn_no"), kind == "reverse"),
                )
            else:
                self.audit.record(sp, op, "rejected")

    # ---- re-settlement ------------------------------------------------------------------------
    def resettle(self, sp: ServicePolicy, body: object) -> tuple[list[dict], bool]:
        """Re-settle recorded visits (补退): ``{"corrections": [...], "from": DATE, "until": DATE,
        "resettle_id": ID}`` or a bare array of corrections."""
        corrections, start, end, rid = self._resettle_body(body)
        if start is not None or end is not None:
            psns = None  # every person of the policy: who settled in the period is in their rows
        else:
            sids = sorted(
                {
                    s
                    for c in corrections
                    if isinstance(c, dict)
                    for s in [_text(c.get("setl_id"), True)]
                    if s
                }
            )
            psns = sorted(set(self.store.owners(sp.id, sids).values()))
        digest = content_hash(
            {
                "corrections": corrections,
                "from": start and start.isoformat(),
                "until": end and end.isoformat(),
            }
        )
        for _ in range(MAX_ATTEMPTS):
            try:
                with self.store.write(sp.id, psns) as tx:
                    result = self._resettle_locked(sp, tx, corrections, start, end, rid, digest)
                break
            except Retry:
                continue
        else:
            raise StoreError(f"gave up after {MAX_ATTEMPTS} attempts")
        rows, replayed = result
        for a in rows:
            self.audit.record(
                sp,
                "resettle",
                "replayed" if replayed else "resettled",
                a["setl_id"],
                a["psn_no"],
                resettle_id=rid,
            )
        return rows, replayed

    def _resettle_locked(self, sp, tx, corrections, start, end, rid, digest):
        if rid is not None:
            done = tx.operations(sp.id, [("resettle", rid)]).get(("resettle", rid))
            if done is not None:
                if done.content_hash != digest:
                    self.audit.record(sp, "resettle", "conflict", resettle_id=rid)
                    raise Conflict(
                        [
                            {
                                "record": None,
                                "op": "resettle",
                                "setl_id": None,
                                "resettle_id": rid,
                                "text": f"a resettle with resettle_id {rid!r} was already "
                                "received with other content; send the same content again to "
                                "get its result, or use another resettle_id",
                            }
                        ]
                    )
                return json.loads(done.response), True
        ledger = self._ledger(sp, tx.rows)
        try:
            outcome = sp.policy.resettle(
                ledger, corrections or None, sp.params, trace=False, start=start, end=end
            )
        except policylang.InputError:
            self.audit.record(sp, "resettle", "rejected", resettle_id=rid)
            raise
        self._write_back(sp, tx, outcome.ledger)
        rows = [a.to_json() for a in outcome.adjustments]
        if rid is not None:
            tx.put_operations(sp.id, [Operation("resettle", rid, "", digest, answer_text(rows))])
        return rows, False

    def _resettle_body(self, body):
        if isinstance(body, list):
            body = {"corrections": body}
        if not isinstance(body, dict):
            raise _input_error(
                [
                    _problem(
                        None,
                        "(top level)",
                        'expected an object {"corrections": [...], "from": '
                        'DATE, "until": DATE} or an array of corrections',
                    )
                ]
            )
        problems = [
            _problem(None, k, "unknown field (expected: " + ", ".join(sorted(RESETTLE_KEYS)) + ")")
            for k in body
            if k not in RESETTLE_KEYS
        ]
        corrections = body.get("corrections") or []
        if not isinstance(corrections, list):
            problems.append(_problem(None, "corrections", "expected an array of corrections"))
        dates = []
        for k in ("from", "until"):
            v = body.get(k)
            try:
                dates.append(None if v is None else dt.date.fromisoformat(v))
            except (TypeError, ValueError):
                problems.append(
                    _problem(None, k, f'expected a date such as "2024-01-01", got {v!r}')
                )
                dates.append(None)
        rid = body.get("resettle_id")
        if rid is not None and not _text(rid, True):
            problems.append(
                _problem(None, "resettle_id", f"expected a non-empty text, got {rid!r}")
            )
        if not problems and not corrections and dates == [None, None]:
            problems.append(
                _problem(None, "(top level)", "give corrections, or a period with from/until")
            )
        if problems:
            raise _input_error(problems)
        return corrections, dates[0], dates[1], None if rid is None else _text(rid, True)

    # ---- reading ------------------------------------------------------------------------------
    def ledger_json(self, sp: ServicePolicy, psn_no: str | None) -> str | None:
        """The canonical ledger JSON of one person (None if unknown) or of every person."""
        rows = self.store.read(sp.id, None if psn_no is None else [psn_no])
        if psn_no is not None and psn_no not in rows:
            return None
        return self._ledger(sp, rows).to_json()
