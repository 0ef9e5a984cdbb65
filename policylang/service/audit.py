"""The audit log: one JSON line per settlement, reversal or re-settlement the service
received, written to the ``policylang.audit`` logger.

Each line has the time (UTC), the policy and its IR hash, the operation, the ``setl_id``, the
person's sequence number when known, the outcome (``settled``, ``reversed``, ``resettled``,
``presettled``, ``replayed``, ``conflict``, ``rejected``) and the person as a salted SHA-256
(``psn``).  No personal data is written in clear: a ``setl_id`` that contains the person's
number (as one the library assigns does: ``PSN-SEQ``) is written as ``null`` with
``setl_id_withheld: true``; the salt is kept in the database, so the same person has the same
hash across restarts, and the log alone cannot be matched against a list of person numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any, Protocol

LOG = logging.getLogger("policylang.audit")


class Stamped(Protocol):
    """What the audit log names a policy by (a ``CompiledPolicy``)."""

    @property
    def id(self) -> str: ...

    @property
    def hash(self) -> str: ...


class Audit:
    def __init__(self, salt: str):
        self._salt = salt.encode("utf-8")

    def psn_hash(self, psn_no: object) -> str | None:
        if not isinstance(psn_no, (str, int)) or isinstance(psn_no, bool):
            return None
        return "sha256:" + hashlib.sha256(self._salt + str(psn_no).encode("utf-8")).hexdigest()

    def record(
        self,
        policy: Stamped,
        op: str,
        outcome: str,
        setl_id: object = None,
        psn_no: object = None,
        seq: int | None = None,
        **more: Any,
    ) -> None:
        if not LOG.isEnabledFor(logging.INFO):
            return
        if not isinstance(setl_id, (str, int)) or isinstance(setl_id, bool):
            setl_id = None
        withheld = (
            setl_id is not None
            and isinstance(psn_no, (str, int))
            and str(psn_no).strip() != ""
            and str(psn_no).strip() in str(setl_id)
        )
        line = {
            "time": dt.datetime.now(dt.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "policy": policy.id,
            "ir_hash": policy.hash,
            "op": op,
            "setl_id": None if withheld or setl_id is None else str(setl_id),
            "psn": self.psn_hash(psn_no),
            "seq": seq,
            "outcome": outcome,
        }
        if withheld:
            line["setl_id_withheld"] = True
        line.update(more)
        LOG.info(json.dumps(line, ensure_ascii=False, sort_keys=True))
