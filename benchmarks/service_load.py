"""Load and fault figures for `policylang serve`, on loopback only.

    python benchmarks/service_load.py                  # 4, 16 clients; 10,000 visits, 1,000 persons
    python benchmarks/service_load.py --db postgresql  # the same on a PostgreSQL it starts
    python benchmarks/service_load.py --quick          # 2,000 visits over 200 persons
    python benchmarks/service_load.py --kill-after 0.5 # SIGKILL the server half-way, restart, retry

Starts the service as a subprocess on 127.0.0.1 (a free port) with a fresh database, and
sends the visits from CLIENTS threads, each owning its persons (so each person's requests
are in time order): settlements, with reversals of earlier settlements and retries of
acknowledged requests (which must return the first result) mixed in.  Prints visits/s and
the p50/p99 latency of the requests, then checks the database against the library: every
acknowledged request is replayed through `CompiledPolicy.settle(..., ledger=...)` in the
order the server applied it (each person's results' `seq`), and the ledger the service
exports (GET /ledger) must be the same bytes; "lost" counts acknowledged operations the
ledger lacks, "double-counted" operations it applied twice.

The load is bounded (a fixed number of requests; every request has a timeout) and goes to
the server it started, on 127.0.0.1, nowhere else.  The crash test in
tests/test_service_crash.py runs the same code on a small load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "guiyang-2022.pol"
REQUEST_TIMEOUT_S = 30.0


# ---- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`policylang serve` in a subprocess on 127.0.0.1."""

    def __init__(
        self,
        db_url: str,
        folder: str,
        policies=(POLICY,),
        launcher: list[str] | None = None,
        env: dict | None = None,
    ):
        self.db_url, self.folder = db_url, folder
        self.policies = [str(p) for p in policies]
        self.token = secrets.token_urlsafe(32)
        self.token_file = os.path.join(folder, "token")
        with open(self.token_file, "w") as f:
            f.write(self.token)
        os.chmod(self.token_file, 0o600)
        self.audit_log = os.path.join(folder, "audit.log")
        self.launcher = launcher or [sys.executable, "-m", "policylang"]
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "Server":
        import httpx

        self.port = free_port()
        self.log = open(os.path.join(self.folder, f"server-{self.port}.log"), "w")
        self.proc = subprocess.Popen(
            [
                *self.launcher,
                "serve",
                *self.policies,
                "--db",
                self.db_url,
                "--port",
                str(self.port),
                "--token-file",
                self.token_file,
                "--audit-log",
                self.audit_log,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
            env={**os.environ, **(self.env or {})},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {self.proc.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing; what was committed stays, the rest is rolled back."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


# ---- the load -----------------------------------------------------------------------------


def _when(day: int, rest: int) -> str:
    """The settlement time ``day`` days and ``rest`` minutes into 2024 (28-day months)."""
    month, mday = 1 + min(day // 28, 11), 1 + day % 28
    return f"2024-{month:02d}-{mday:02d} {rest // 60:02d}:{rest % 60:02d}:00"


def make_persons(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "psn_no": f"P{i:05d}",
            "psn_type": rng.choice(["active", "active", "retiree"]),
            "flxempe_flag": rng.random() < 0.1,
            "acct_balc": f"{rng.randint(0, 2000)}.00" if rng.random() < 0.5 else None,
        }
        for i in range(n)
    ]


def make_load(
    n_visits: int,
    n_persons: int,
    seed: int = 7,
    reverse_every: int = 20,
    retry_every: int = 25,
    conflict_every: int = 200,
) -> list[list[dict]]:
    """Each person's operations, in time order.  An operation is {"kind": "settle"|"reverse",
    "body": record, "retry": bool, "conflict": bool}."""
    rng = random.Random(seed)
    persons = make_persons(n_persons, seed)
    per_person: list[list[dict]] = [[] for _ in persons]
    clock = [0] * n_persons
    settled: list[list[str]] = [[] for _ in persons]
    for k in range(n_visits):
        i = rng.randrange(n_persons)
        p = persons[i]
        clock[i] += rng.randint(1, 3 * 24 * 60)
        minute = clock[i]
        day, rest = divmod(minute, 24 * 60)
        when = _when(day, rest)
        sid = f"S{k:07d}"
        visit = {
            "psn_no": p["psn_no"],
            "psn_type": p["psn_type"],
            "flxempe_flag": p["flxempe_flag"],
            "setl_time": when,
            "hosp_lv": rng.choice(["unrated", "level1", "level2", "level3"]),
            "medfee_sumamt": f"{rng.randint(20, 3000)}.{rng.randint(0, 99):02d}",
            "setl_id": sid,
            "mdtrt_id": f"M{k:07d}",
        }
        if p["acct_balc"] is not None and not settled[i]:
            visit["acct_balc"] = p[
                "acct_balc"
            ]  # the platform's balance on the first visit; the ledger's after
        per_person[i].append(
            {
                "kind": "settle",
                "body": visit,
                "retry": rng.randrange(retry_every) == 0,
                "conflict": rng.randrange(conflict_every) == 0,
            }
        )
        settled[i].append(sid)
        if reverse_every and rng.randrange(reverse_every) == 0:
            target = settled[i].pop(rng.randrange(len(settled[i])))
            clock[i] += 5
            day, rest = divmod(clock[i], 24 * 60)
            when = _when(day, rest)
            per_person[i].append(
                {
                    "kind": "reverse",
                    "body": {"psn_no": p["psn_no"], "setl_id": target, "setl_time": when},
                    "retry": rng.randrange(4) == 0,
                    "conflict": False,
                }
            )
    return [ops for ops in per_person if ops]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.acked: dict[tuple, dict] = {}  # (kind, setl_id) -> {"body", "result"}
        self.unacked: list[dict] = []  # operations sent without an answer
        self.errors: list[str] = []
        self.replays = self.conflicts = self.requests = 0


def _send(client, server: Server, op: dict) -> "httpx.Response":
    path = "/settle" if op["kind"] == "settle" else "/reverse"
    return client.post(
        server.url + path + "?trace=false",
        json=op["body"],
        headers=server.headers(),
        timeout=REQUEST_TIMEOUT_S,
    )


def run_clients(
    server: Server,
    load: list[list[dict]],
    clients: int,
    stop: threading.Event | None = None,
    tally: Tally | None = None,
) -> Tally:
    """Send every person's operations, each person from one client, the clients in parallel.
    A client stops at its first request without an answer (the server is gone) and keeps
    that request and its later ones in ``tally.unacked``."""
    tally = tally or Tally()
    sender = _Sender(server, tally, stop or threading.Event())
    shares: list[list[list[dict]]] = [load[k::clients] for k in range(clients)]
    threads = [threading.Thread(target=sender.loop, args=(s,), daemon=True) for s in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return tally


class _Sender:
    """One client's loop of ``run_clients``, recording into the shared tally."""

    def __init__(self, server: Server, tally: Tally, stop: threading.Event) -> None:
        self.server, self.tally, self.stop = server, tally, stop

    def loop(self, share: list[list[dict]]) -> None:
        import httpx

        queue = _interleave(share)
        tally = self.tally
        with httpx.Client(http2=False) as client:
            for n, op in enumerate(queue):
                if self.stop.is_set() or not self._one(client, op):
                    with tally.lock:
                        tally.unacked.extend(queue[n:])
                    return

    def _one(self, client: "httpx.Client", op: dict) -> bool:
        """Send ``op`` (and its retry or conflict); False when the server did not answer."""
        import httpx

        tally = self.tally
        t0 = time.perf_counter()
        try:
            r = _send(client, self.server, op)
        except httpx.HTTPError:
            return False
        dt = time.perf_counter() - t0
        if r.status_code != 200:
            with tally.lock:
                tally.errors.append(
                    f"{op['kind']} {op['body'].get('setl_id')}: {r.status_code} {r.text[:300]}"
                )
            return True
        result = r.json()
        with tally.lock:
            tally.requests += 1
            tally.latencies.append(dt)
            tally.acked[(op["kind"], op["body"]["setl_id"])] = {
                "body": op["body"],
                "result": result,
            }
        try:
            self._extra(client, op, result)
        except httpx.HTTPError:
            pass  # the server is gone; the next request finds out
        return True

    def _extra(self, client: "httpx.Client", op: dict, result: dict) -> None:
        server, tally = self.server, self.tally
        if op.get("retry"):
            again = _send(client, server, op)
            ok = (
                again.status_code == 200
                and again.json() == result
                and again.headers.get("idempotent-replayed") == "true"
            )
            with tally.lock:
                tally.replays += 1
                tally.requests += 1
                if not ok:
                    tally.errors.append(
                        f"retry of {op['body']['setl_id']}: {again.status_code} {again.text[:300]}"
                    )
        if op.get("conflict"):
            other = {**op, "body": {**op["body"], "medfee_sumamt": "1.00"}}
            c = _send(client, server, other)
            with tally.lock:
                tally.conflicts += 1
                tally.requests += 1
                if c.status_code != 409:
                    tally.errors.append(
                        f"conflicting retry of {op['body']['setl_id']}: {c.status_code}"
                    )


def _interleave(share: list[list[dict]]) -> list[dict]:
    """Round-robin over the client's persons: each person's operations stay in order."""
    out, lists = [], [list(ops) for ops in share]
    while lists:
        lists = [ops for ops in lists if ops]
        for ops in lists:
            out.append(ops.pop(0))
    return out


def retry_unacked(server: Server, tally: Tally) -> None:
    """After a restart: send every request that had no answer again, by its setl_id, person by
    person in the original order; each must now be applied once (or return its first result)."""
    import httpx

    pending, tally.unacked = tally.unacked, []
    with httpx.Client() as client:
        for op in pending:
            r = _send(client, server, op)
            if r.status_code != 200:
                tally.errors.append(
                    f"retry after restart of {op['kind']} {op['body']['setl_id']}: {r.status_code} "
                    f"{r.text[:300]}"
                )
                continue
            tally.acked[(op["kind"], op["body"]["setl_id"])] = {
                "body": op["body"],
                "result": r.json(),
            }


# ---- the check ----------------------------------------------------------------------------


def replay(policy, tally: Tally):
    """The ledger the library computes from the acknowledged requests, in the order the server
    applied them (per person, by the results' seq)."""
    import policylang

    ops = sorted(tally.acked.values(), key=lambda a: (a["result"]["psn_no"], a["result"]["seq"]))
    # each person replayed on a ledger of their own (a settle call copies its ledger)
    persons: dict = {}
    ledger = policy.new_ledger()
    for n, a in enumerate(ops):
        if n and a["result"]["psn_no"] != ops[n - 1]["result"]["psn_no"]:
            persons.update(ledger.to_data()["persons"])
            ledger = policy.new_ledger()
        body = a["body"] if a["result"]["op"] == "settle" else {**a["body"], "op": "reverse"}
        outcome = policy.settle([body], trace=False, ledger=ledger)
        [mine] = outcome.results
        theirs = a["result"]
        for field in ("hifp_pay", "acct_pay", "psn_cash_pay", "balc", "seq", "setl_id"):
            got = mine.to_json(trace=False)[field]
            if got != theirs[field]:
                raise AssertionError(
                    f"{theirs['setl_id']}: {field} is {theirs[field]!r} from the service, "
                    f"{got!r} from the library"
                )
        ledger = outcome.ledger
    persons.update(ledger.to_data()["persons"])
    whole = {**policy.new_ledger().to_data(), "persons": persons}
    return policylang.Ledger.from_json(json.dumps(whole), policy)


def check(server: Server, policy, tally: Tally) -> dict:
    """Compare the service's ledger with the library's replay; count lost and double-counted."""
    import httpx

    text = httpx.get(server.url + "/ledger", headers=server.headers(), timeout=120).text
    served = json.loads(text)
    expected = replay(policy, tally)
    lost = double = 0
    by_psn: dict[str, int] = {}
    for a in tally.acked.values():
        by_psn[a["result"]["psn_no"]] = by_psn.get(a["result"]["psn_no"], 0) + 1
    for psn, n in by_psn.items():
        got = served["persons"].get(psn, {}).get("seq", 0)
        lost += max(0, n - got)
        double += max(0, got - n)
    recorded = {s["setl_id"]: s for p in served["persons"].values() for s in p["settlements"]}
    for kind, sid in tally.acked:
        s = recorded.get(sid)
        if s is None or (kind == "reverse" and s["reversed_at_seq"] is None):
            lost += 1
    return {
        "lost": lost,
        "double": double,
        "same": text == expected.to_json(),
        "persons": len(served["persons"]),
        "operations": len(tally.acked),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ---- databases ----------------------------------------------------------------------------


def postgres_url(folder: str):
    """A fresh database on a PostgreSQL started by pgserver, and the function that stops it
    and removes its files."""
    import warnings

    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import pgserver

        parent = tempfile.mkdtemp(prefix="policylang-pg-")
        srv = pgserver.get_server(os.path.join(parent, "data"), cleanup_mode="delete")
    import shutil

    def stop():
        srv.cleanup()
        shutil.rmtree(parent, ignore_errors=True)

    name = "load_" + secrets.token_hex(4)
    with psycopg.connect(srv.get_uri(), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return srv.get_uri(name), stop


def _database_url(db: str, folder: str) -> tuple:
    """(the database URL for --db, how to stop the server started for it or None)."""
    if db == "sqlite":
        return f"sqlite:///{os.path.join(folder, 'ledger.sqlite3')}", None
    if db == "postgresql":
        return postgres_url(folder)
    return db, None


def _killer(tally: Tally, target: int, stop: threading.Event, server: Server) -> None:
    """SIGKILL the server once ``target`` requests were answered (unless stopped first)."""
    while len(tally.acked) < target and not stop.is_set():
        time.sleep(0.005)
    server.kill()


def _verdict(result: dict, tally: Tally, killed: tuple | None) -> str:
    """The run's result in words; ``killed``: (answered requests, sent again) after a kill."""
    verdict = (
        f"{result['lost']} lost, {result['double']} double-counted, ledger "
        f"{'identical to' if result['same'] else 'DIFFERENT from'} the library's replay"
    )
    if killed is not None:
        verdict += (
            f" (killed after {killed[0]} answered requests;"
            f" {killed[1]} sent again after the restart)"
        )
    if tally.errors:
        verdict += f"; {len(tally.errors)} ERRORS, first: {tally.errors[0]}"
    return verdict


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", default="4,16", help="comma-separated client counts, one run each")
    ap.add_argument("--visits", type=int, default=10_000)
    ap.add_argument("--persons", type=int, default=1_000)
    ap.add_argument(
        "--db", default="sqlite", help="sqlite, postgresql (started by pgserver) or a database URL"
    )
    ap.add_argument("--quick", action="store_true", help="2,000 visits over 200 persons")
    ap.add_argument(
        "--kill-after",
        type=float,
        default=None,
        metavar="FRACTION",
        help="SIGKILL the server after this fraction of the requests, restart it, retry the rest",
    )
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if args.quick:
        args.visits, args.persons = 2_000, 200
    sys.path.insert(0, str(ROOT))
    import policylang

    policy = policylang.load(POLICY)
    load = make_load(args.visits, args.persons, args.seed)
    n_ops = sum(len(ops) for ops in load)
    print(
        f"{args.visits} visits over {args.persons} persons ({n_ops} requests with the reversals, "
        "plus retries); "
        f"database {args.db}; {os.cpu_count()} cores, server and clients on this machine"
    )
    print(
        f"{'clients':>7}  {'visits/s':>8}  {'requests/s':>10}  {'p50 ms':>6}  {'p99 ms':>6}  "
        f"{'retries':>7}  "
        f"{'409s':>4}  result"
    )
    status = 0
    for clients in [int(c) for c in args.clients.split(",")]:
        with tempfile.TemporaryDirectory(prefix="policylang-load-") as folder:
            url, stop_db = _database_url(args.db, folder)
            server = Server(url, folder).start()
            try:
                stop = threading.Event()
                tally = Tally()
                if args.kill_after is not None:
                    target = int(n_ops * args.kill_after)
                    threading.Thread(
                        target=_killer, args=(tally, target, stop, server), daemon=True
                    ).start()
                t0 = time.perf_counter()
                run_clients(server, load, clients, tally=tally)
                wall = time.perf_counter() - t0
                visits, sent = (
                    sum(1 for k in tally.acked if k[0] == "settle"),
                    tally.requests,
                )  # before any retry
                stop.set()
                if args.kill_after is not None:
                    server.kill()
                    server.start()
                    pending = len(tally.unacked)
                    retry_unacked(server, tally)
                result = check(server, policy, tally)
            finally:
                server.stop()
                if stop_db:
                    stop_db()
            killed = (sent, pending) if args.kill_after is not None else None
            verdict = _verdict(result, tally, killed)
            if result["lost"] or result["double"] or not result["same"] or tally.errors:
                status = 1
            print(
                f"{clients:>7}  {visits / wall:>8.0f}  {sent / wall:>10.0f}  "
                f"{percentile(tally.latencies, 0.5) * 1e3:>6.1f}"
                f"  {percentile(tally.latencies, 0.99) * 1e3:>6.1f}  {tally.replays:>7}  "
                f"{tally.conflicts:>4}  {verdict}",
                flush=True,
            )
    return status


if __name__ == "__main__":
    sys.exit(main())
