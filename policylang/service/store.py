"""Where the settlement service keeps its state: one row per (policy, person) and one per
operation received, in SQLite or PostgreSQL.

Tables (created and migrated by the service; ``policylang_schema`` holds the version):

``policylang_persons (policy, psn_no, ir_hash, data, updated_at)``
    the person's part of the canonical ledger (``Ledger.to_data()["persons"][psn_no]``) as
    JSON text: counters used, balance, operation sequence, settlement records.  One row per
    person, so that persons settle concurrently and a settlement locks only its persons.
``policylang_operations (policy, op, setl_id, psn_no, content_hash, response, created_at)``
    one row per settlement, reversal or re-settlement applied, keyed by the idempotency key
    (operation, setl_id): the hash of the request's content and the first response.
``policylang_meta (key, value)``
    the audit log's salt.

A write transaction locks the rows of the persons it names (PostgreSQL: ``SELECT … FOR
UPDATE`` in sorted order, after inserting missing rows; SQLite: ``BEGIN IMMEDIATE``, which
takes the database's write lock), so that concurrent requests for one person are applied one
after the other and none is lost.  A process killed mid-transaction leaves the database as
it was before the transaction: both databases roll it back.

``open_store(url)`` picks the implementation: ``sqlite:///path`` (store_sqlite) or
``postgresql://…`` (store_postgres).
"""

from __future__ import annotations

import datetime as dt
import secrets
from contextlib import AbstractContextManager
from typing import Iterable, NamedTuple, Sequence

SCHEMA_VERSION = 1

# Each migration brings the schema from version N-1 to N.  Statements are plain SQL that
# both databases accept.  Never edit a released migration: add the next one.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE policylang_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE policylang_persons (policy TEXT NOT NULL, psn_no TEXT NOT NULL, ir_hash "
        "TEXT, data TEXT, "
        "updated_at TEXT, PRIMARY KEY (policy, psn_no))",
        "CREATE TABLE policylang_operations (policy TEXT NOT NULL, op TEXT NOT NULL, setl_id TEXT "
        "NOT NULL, "
        "psn_no TEXT NOT NULL, content_hash TEXT NOT NULL, response TEXT NOT NULL, created_at "
        "TEXT NOT NULL, "
        "PRIMARY KEY (policy, op, setl_id))",
    ],
}


class StoreError(Exception):
    """The database cannot be used (unreachable, or a schema this version does not know)."""


class Retry(Exception):
    """The transaction lost a race (a key inserted meanwhile, a deadlock); run it again."""


class Operation(NamedTuple):
    op: str
    setl_id: str
    psn_no: str
    content_hash: str
    response: str


def now_text() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def new_salt() -> str:
    return secrets.token_hex(32)


class WriteTx:
    """One write transaction; the rows of ``rows`` are locked until it ends."""

    rows: dict[str, str | None]  # psn_no -> the person's ledger JSON (None: no settlement yet)

    def operations(
        self, policy: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Operation]:
        raise NotImplementedError

    def put_person(self, policy: str, psn_no: str, data: str, ir_hash: str) -> None:
        raise NotImplementedError

    def put_operations(self, policy: str, ops: Sequence[Operation]) -> None:
        raise NotImplementedError


class Store:
    """A database holding the ledgers of one or more policies (see the module's doc)."""

    dialect = "?"
    url_shown = "?"
    workers = 4  # requests worked on at once

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the version.  Refuses a newer one."""
        raise NotImplementedError

    def write(self, policy: str, psns: Sequence[str] | None) -> AbstractContextManager[WriteTx]:
        """A transaction holding the locks of ``psns`` (every person of ``policy`` when None);
        it commits when the block ends normally and rolls back otherwise."""
        raise NotImplementedError

    def read(self, policy: str, psns: Sequence[str] | None) -> dict[str, str]:
        """The stored ledgers of ``psns`` (every person of ``policy`` when None), unlocked."""
        raise NotImplementedError

    def owners(self, policy: str, setl_ids: Sequence[str]) -> dict[str, str]:
        """setl_id -> psn_no of recorded settlements."""
        raise NotImplementedError

    def meta(self, key: str) -> str | None:
        raise NotImplementedError

    def ping(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _check_version(found: int | None) -> None:
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(
            f"the database's schema is version {found}, newer than this policylang's "
            f"({SCHEMA_VERSION}); upgrade policylang to use it"
        )


def shown_url(url: str) -> str:
    """The URL with any password replaced, for logs and messages."""
    if "://" not in url or "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.split("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def open_store(url: str, pool_size: int = 8) -> Store:
    """The store for a database URL, migrated to the current schema."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        from .store_sqlite import SQLiteStore

        store: Store = SQLiteStore(url)
    elif scheme in ("postgresql", "postgres"):
        from .store_postgres import PostgresStore

        store = PostgresStore(url, pool_size)
    else:
        raise StoreError(
            f"unsupported database URL {shown_url(url)!r}: use sqlite:///PATH or postgresql://…"
        )
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
