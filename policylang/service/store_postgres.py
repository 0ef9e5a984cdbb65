"""The service's state in PostgreSQL (``postgresql://user:password@host:port/dbname``, or
``postgresql:///dbname?host=/socket/folder``), through psycopg 3.

A small pool of connections, one per concurrent request.  A write transaction first inserts
the rows of its persons that do not exist yet (``ON CONFLICT DO NOTHING``), then locks them
with ``SELECT … ORDER BY psn_no FOR UPDATE``: always in the same (byte) order, so two
requests for overlapping persons wait for each other and never deadlock; requests for other
persons go on in parallel.  A race lost anyway (a unique key inserted meanwhile, a deadlock
the server breaks) runs the transaction again.
"""

from __future__ import annotations

import queue
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    import psycopg

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
    shown_url,
)

POOL_WAIT_S = 30.0
LOCK_TIMEOUT = "30s"


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise StoreError("PostgreSQL needs psycopg: pip install 'policylang[service]'") from None
    return psycopg


class _Tx(WriteTx):
    def __init__(self, cur):
        self.cur = cur
        self.rows = {}

    def operations(
        self, policy: str, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Operation]:
        keys = list(keys)
        if not keys:
            return {}
        self.cur.execute(
            "SELECT op, setl_id, psn_no, content_hash, response FROM policylang_operations "
            "WHERE policy = %s AND setl_id = ANY(%s)",
            (policy, sorted({k[1] for k in keys})),
        )
        wanted = set(keys)
        return {(r[0], r[1]): Operation(*r) for r in self.cur.fetchall() if (r[0], r[1]) in wanted}

    def put_person(self, policy: str, psn_no: str, data: str, ir_hash: str) -> None:
        self.cur.execute(
            "INSERT INTO policylang_persons (policy, psn_no, ir_hash, data, updated_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (policy, psn_no) DO UPDATE SET "
            "ir_hash = EXCLUDED.ir_hash, data = EXCLUDED.data, updated_at = EXCLUDED.updated_at",
            (policy, psn_no, ir_hash, data, now_text()),
        )

    def put_operations(self, policy: str, ops: Sequence[Operation]) -> None:
        created = now_text()
        self.cur.executemany(
            "INSERT INTO policylang_operations (policy, op, setl_id, psn_no, content_hash, "
            "response, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(policy, *o, created) for o in ops],
        )


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 8):
        self.psycopg = _psycopg()
        scheme, rest = url.split("://", 1)
        self.url = "postgresql://" + rest  # postgresql+psycopg:// and postgres:// too
        self.url_shown = shown_url(url)
        self.size = self.workers = max(1, pool_size)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._count = 0
        self._lock = threading.Lock()
        self._closed = False

    # ---- the pool ----------------------------------------------------------------------------
    def _connect(self):
        try:
            conn = self.psycopg.connect(self.url, autocommit=False, connect_timeout=10)
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            conn.commit()
            return conn
        except self.psycopg.Error as e:
            raise StoreError(f"{self.url_shown}: cannot connect: {str(e).strip()}") from None

    @contextmanager
    def _connection(self) -> Iterator:
        conn = None
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._count < self.size
                if grow:
                    self._count += 1
            if grow:
                try:
                    conn = self._connect()
                except BaseException:
                    with self._lock:
                        self._count -= 1
                    raise
            else:
                try:
                    conn = self._idle.get(timeout=POOL_WAIT_S)
                except queue.Empty:
                    raise StoreError(
                        f"{self.url_shown}: no database connection free after {POOL_WAIT_S:.0f} s"
                    ) from None
        ok = False
        try:
            yield conn
            ok = True
        finally:
            if conn.closed or conn.broken or self._closed or (not ok and _in_transaction(conn)):
                try:
                    conn.close()
                finally:
                    with self._lock:
                        self._count -= 1
            else:
                self._idle.put(conn)

    @contextmanager
    def _transaction(self) -> Iterator:
        errors = self.psycopg.errors
        with self._connection() as conn:
            try:
                with conn.cursor() as cur:
                    yield cur
                conn.commit()
            except (errors.UniqueViolation, errors.DeadlockDetected, errors.SerializationFailure):
                conn.rollback()
                raise Retry() from None
            except errors.LockNotAvailable:
                conn.rollback()
                raise StoreError(
                    f"{self.url_shown}: a person's row stayed locked for {LOCK_TIMEOUT}"
                ) from None
            except self.psycopg.OperationalError as e:
                _rollback(conn)
                raise StoreError(f"{self.url_shown}: {str(e).strip()}") from None
            except BaseException:
                _rollback(conn)
                raise

    # ---- the Store interface ----------------------------------------------------------------
    def migrate(self) -> int:
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('policylang_schema'))")
            cur.execute("CREATE TABLE IF NOT EXISTS policylang_schema (version INTEGER NOT NULL)")
            cur.execute("SELECT MAX(version) FROM policylang_schema")
            found = cur.fetchone()[0]
            _check_version(found)
            for version in range((found or 0) + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    cur.execute(statement)
                cur.execute("INSERT INTO policylang_schema (version) VALUES (%s)", (version,))
            cur.execute(
                "INSERT INTO policylang_meta (key, value) VALUES ('audit_salt', %s) ON CONFLICT "
                "DO NOTHING",
                (new_salt(),),
            )
        return SCHEMA_VERSION

    @contextmanager
    def write(self, policy: str, psns: Sequence[str] | None) -> Iterator[WriteTx]:
        with self._transaction() as cur:
            tx = _Tx(cur)
            if psns is None:
                cur.execute(
                    "SELECT psn_no, data FROM policylang_persons WHERE policy = %s "
                    'ORDER BY psn_no COLLATE "C" FOR UPDATE',
                    (policy,),
                )
            else:
                cur.execute(
                    "INSERT INTO policylang_persons (policy, psn_no) SELECT %s, p FROM "
                    "unnest(%s::text[]) AS p "
                    'ORDER BY p COLLATE "C" ON CONFLICT DO NOTHING',
                    (policy, list(psns)),
                )
                cur.execute(
                    "SELECT psn_no, data FROM policylang_persons WHERE policy = %s AND psn_no = "
                    "ANY(%s) "
                    'ORDER BY psn_no COLLATE "C" FOR UPDATE',
                    (policy, list(psns)),
                )
            tx.rows = {p: d for p, d in cur.fetchall() if d is not None or psns is not None}
            yield tx

    def read(self, policy: str, psns: Sequence[str] | None) -> dict[str, str]:
        with self._transaction() as cur:
            if psns is None:
                cur.execute(
                    "SELECT psn_no, data FROM policylang_persons WHERE policy = %s AND data IS "
                    "NOT NULL",
                    (policy,),
                )
            else:
                cur.execute(
                    "SELECT psn_no, data FROM policylang_persons WHERE policy = %s AND psn_no = "
                    "ANY(%s) "
                    "AND data IS NOT NULL",
                    (policy, list(psns)),
                )
            return dict(cur.fetchall())

    def owners(self, policy: str, setl_ids: Sequence[str]) -> dict[str, str]:
        with self._transaction() as cur:
            cur.execute(
                "SELECT setl_id, psn_no FROM policylang_operations WHERE policy = %s AND op = "
                "'settle' "
                "AND setl_id = ANY(%s)",
                (policy, list(setl_ids)),
            )
            return dict(cur.fetchall())

    def meta(self, key: str) -> str | None:
        with self._transaction() as cur:
            cur.execute("SELECT value FROM policylang_meta WHERE key = %s", (key,))
            row = cur.fetchone()
            return row[0] if row else None

    def ping(self) -> None:
        with self._transaction() as cur:
            cur.execute("SELECT 1")

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass


def _in_transaction(conn: psycopg.Connection) -> bool:
    try:
        return conn.info.transaction_status != 0  # IDLE
    except Exception:  # noqa: BLE001
        return True


def _rollback(conn: psycopg.Connection) -> None:
    try:
        conn.rollback()
    except Exception:  # noqa: BLE001 - a broken connection is discarded by the pool
        pass
