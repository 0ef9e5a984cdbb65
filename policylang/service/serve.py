"""``policylang serve``: open the database, build the application, run it under uvicorn."""

from __future__ import annotations

import logging
import sys

from .app import create_app
from .engine import Engine, ServicePolicy
from .store import SCHEMA_VERSION, open_store

LOG = logging.getLogger("policylang.service")


def configure_logging(audit_log: str | None) -> None:
    service = logging.getLogger("policylang.service")
    if not service.handlers:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        service.addHandler(stderr)
    service.setLevel(logging.INFO)
    service.propagate = False
    audit = logging.getLogger("policylang.audit")
    for h in list(audit.handlers):
        audit.removeHandler(h)
    handler = (
        logging.FileHandler(audit_log, encoding="utf-8")
        if audit_log
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False


def run(
    policies: list[ServicePolicy],
    db_url: str,
    host: str,
    port: int,
    token: str | None,
    audit_log: str | None = None,
    pool_size: int = 8,
) -> None:
    import uvicorn

    configure_logging(audit_log)
    store = open_store(db_url, pool_size)
    try:
        engine = Engine(policies, store)
        app = create_app(engine, token)
        where = f"[{host}]" if ":" in host else host
        LOG.info(
            "policies: %s; database: %s (schema %s); %s; listening on http://%s:%d",
            ", ".join(f"{p.id} ({p.hash})" for p in policies),
            store.url_shown,
            SCHEMA_VERSION,
            "bearer token required" if token else "NO AUTHENTICATION (--no-auth)",
            where,
            port,
        )
        uvicorn.run(
            app,
            host=host,
            port=port,
            access_log=False,  # access lines would carry psn_no in paths
            server_header=False,
            log_level="info",
            timeout_graceful_shutdown=10,
        )
    finally:
        store.close()
