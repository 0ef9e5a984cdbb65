"""A PostgreSQL server for the service's tests, started by the tests themselves and reachable
from this machine only.

First choice: pgserver (a PyPI package that bundles PostgreSQL; in the test extra), which
listens on a Unix socket only; as root it runs the server as a user `pgserver` it creates.
Fallback: the PostgreSQL binaries of the system (Debian's `postgresql` package), a temporary
cluster owned by the unprivileged user `nobody`, listening on 127.0.0.1.  When neither works
the PostgreSQL tests are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import warnings

INSTALL = "pip install pgserver 'psycopg[binary]' (both in the test extra: pip install '.[test]')"


class Unavailable(Exception):
    pass


class Postgres:
    def __init__(self, admin_url: str, make_url, stop):
        self.admin_url, self._make_url, self._stop = admin_url, make_url, stop

    def new_database(self) -> str:
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self._make_url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.split("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        self._stop()


def start_postgres() -> Postgres:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable(f"the PostgreSQL tests need psycopg: {INSTALL}") from None
    reasons = []
    try:
        return _with_pgserver()
    except Unavailable as e:
        reasons.append(str(e))
    try:
        return _with_system_binaries()
    except Unavailable as e:
        reasons.append(str(e))
    raise Unavailable("; ".join(reasons))


def _with_pgserver() -> Postgres:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
            import pgserver
    except ImportError:
        raise Unavailable(f"pgserver is not installed ({INSTALL})") from None
    folder = tempfile.mkdtemp(prefix="policylang-pg-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            srv = pgserver.get_server(os.path.join(folder, "data"), cleanup_mode="delete")
    except Exception as e:  # noqa: BLE001
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(
            f"pgserver could not start PostgreSQL ({type(e).__name__}: {e})"
        ) from None

    def stop():
        try:
            srv.cleanup()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return Postgres(srv.get_uri(), srv.get_uri, stop)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_system_binaries() -> Postgres:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        raise Unavailable("no PostgreSQL binaries either (apt-get install postgresql)")
    bindir = os.path.dirname(initdb)
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            raise Unavailable("running as root without runuser to start PostgreSQL as another user")
        as_user = ["runuser", "-u", "nobody", "--"]
    folder = tempfile.mkdtemp(prefix="policylang-pg-")
    data = os.path.join(folder, "data")
    os.chmod(folder, 0o755)
    if as_user:
        os.mkdir(data, 0o700)
        shutil.chown(data, "nobody")
    port = _free_port()
    try:
        subprocess.run(
            [*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_user,
                os.path.join(bindir, "pg_ctl"),
                "-D",
                data,
                "-w",
                "-l",
                os.path.join(data, "log"),
                "-o",
                f"-h 127.0.0.1 -p {port} -k {data}",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        detail = getattr(e, "stderr", b"") or b""
        raise Unavailable(
            f"the system's PostgreSQL did not start ({e}; {detail.decode(errors='replace')[-300:]})"
        ) from None

    def url(name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{name}"

    def stop():
        subprocess.run(
            [*as_user, os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)

    for _ in range(50):
        try:
            import psycopg

            psycopg.connect(url("postgres"), connect_timeout=2).close()
            break
        except Exception:  # noqa: BLE001
            time.sleep(0.1)
    return Postgres(url("postgres"), url, stop)
