"""The service's state in SQLite (``sqlite:///relative/path`` or ``sqlite:////absolute/path``).

One connection per thread, in write-ahead-log mode with ``synchronous=FULL``: a commit waits
for the disk, so an acknowledged settlement survives a crash of the machine as well as of the
process (a transaction cut short is rolled back when the database is next opened).  The
fsync happens while the interpreter is free for other requests: under load from 4 clients on
the project's machine it cost nothing measurable.  ``sqlite:///PATH?synchronous=normal``
skips it (a crash of the machine can then lose the last settlements acknowledged, never
corrupt the file).  Writers take the
database's write lock with ``BEGIN IMMEDIATE``; within one process they first queue on a
lock of their own, so that waiting costs no polling.  Readers are never blocked.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

from .store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Operation,
    Retry,
    Store,
    StoreError,
    WriteTx,
    _check_version,
    new_salt,
    now_text,
)

BUSY_TIMEOUT_S = 30.0


SYNCHRONOUS = ("normal", "full")


def sqlite_path(url: str) -> tuple[str, str]:
    """The file and the synchronous mode of ``sqlite:///PATH[?synchronous=normal|full]``."""
    if not url.lower().startswith("sqlite:///"):
        raise StoreError(f"expected sqlite:///PATH, got {url!r}")
    path, _, query = url[len("sqlite:///") :].partition("?")
    sync = "full"
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key != "synchronous" or value.lower() not in SYNCHRONOUS:
            raise StoreError(f"{url}: the only option is synchronous=normal|full, not {part!r}")
        sync = value.lower()
    if path in ("", ":memory:") or path.startswith("file:"):
        raise StoreError(
            "the service needs a database file (sqlite:///PATH): an in-memory database would lose "
            "every ledger when the service stops"
        )
    return path, sync


class _Tx(WriteTx):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.rows = {}

    def operations(
        self, policy: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Operation]:
        keys = list(keys)
        out = {}
        for i in range(0, len(keys), 400):
            part = keys[i : i + 400]
            cond = " OR ".join("(op = ? AND setl_id = ?)" for _ in part)
            args = [policy] + [x for k in part for x in k]
            for row in self.conn.execute(
                "SELECT op, setl_id, psn_no, content_hash, response FROM "
                f"policylang_operations WHERE policy = ? AND ({cond})",
                args,
            ):
                out[(row[0], row[1])] = Operation(*row)
        return out

    def put_person(self, policy: str, psn_no: str, data: str, ir_hash: str) -> None:
        self.conn.execute(
            "INSERT INTO policylang_persons (policy, psn_no, ir_hash, data, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (policy, psn_no) DO UPDATE SET "
            "ir_hash = excluded.ir_hash, data = excluded.data, updated_at = excluded.updated_at",
            (policy, psn_no, ir_hash, data, now_text()),
        )

    def put_operations(self, policy: str, ops: Sequence[Operation]) -> None:
        created = now_text()
        try:
            self.conn.executemany(
                "INSERT INTO policylang_operations (policy, op, setl_id, psn_no, content_hash, "
                "response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(policy, *o, created) for o in ops],
            )
        except sqlite3.IntegrityError:
            raise Retry() from None


class SQLiteStore(Store):
    dialect = "sqlite"
    workers = 4  # one writer at a time: more threads only compete with it for the interpreter

    def __init__(self, url: str):
        self.path, self.synchronous = sqlite_path(url)
        self.url_shown = url
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise StoreError(f"{url}: the folder {folder} does not exist")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                # used by this thread only; closed by close() from another
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            except sqlite3.Error as e:
                raise StoreError(f"{self.url_shown}: {e}") from None
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _begin(self, mode: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute(f"BEGIN {mode}")
        except sqlite3.OperationalError as e:  # still locked after the busy timeout
            raise StoreError(f"{self.url_shown}: {e}") from None
        try:
            yield conn
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise StoreError(f"{self.url_shown}: {e}") from None

    def migrate(self) -> int:
        with self._write_lock, self._begin("IMMEDIATE") as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS policylang_schema (version INTEGER NOT NULL)")
            found = conn.execute("SELECT MAX(version) FROM policylang_schema").fetchone()[0]
            _check_version(found)
            for version in range((found or 0) + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO policylang_schema (version) VALUES (?)", (version,))
            conn.execute(
                "INSERT OR IGNORE INTO policylang_meta (key, value) VALUES ('audit_salt', ?)",
                (new_salt(),),
            )
        return SCHEMA_VERSION

    @contextmanager
    def write(self, policy: str, psns: Sequence[str] | None) -> Iterator[WriteTx]:
        with self._write_lock, self._begin("IMMEDIATE") as conn:
            tx = _Tx(conn)
            tx.rows = self._select(conn, policy, psns)
            if psns is not None:
                for p in psns:
                    tx.rows.setdefault(p, None)
            yield tx

    @staticmethod
    def _select(conn: sqlite3.Connection, policy: str, psns: Sequence[str] | None) -> dict:
        if psns is None:
            return dict(
                conn.execute(
                    "SELECT psn_no, data FROM policylang_persons WHERE policy = ? AND data IS NOT "
                    "NULL",
                    (policy,),
                )
            )
        out: dict[str, str] = {}
        psns = list(psns)
        for i in range(0, len(psns), 500):
            part = psns[i : i + 500]
            out.update(
                conn.execute(
                    "SELECT psn_no, data FROM policylang_persons WHERE policy = ? AND data IS NOT "
                    "NULL "
                    f"AND psn_no IN ({','.join('?' * len(part))})",
                    [policy, *part],
                )
            )
        return out

    def read(self, policy: str, psns: Sequence[str] | None) -> dict[str, str]:
        with self._begin("DEFERRED") as conn:
            return self._select(conn, policy, psns)

    def owners(self, policy: str, setl_ids: Sequence[str]) -> dict[str, str]:
        out = {}
        conn = self._conn()
        for sid in setl_ids:
            row = conn.execute(
                "SELECT psn_no FROM policylang_operations WHERE policy = ? AND op = 'settle' "
                "AND setl_id = ?",
                (policy, sid),
            ).fetchone()
            if row:
                out[sid] = row[0]
        return out

    def meta(self, key: str) -> str | None:
        row = (
            self._conn()
            .execute("SELECT value FROM policylang_meta WHERE key = ?", (key,))
            .fetchone()
        )
        return row[0] if row else None

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
