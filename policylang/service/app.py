"""The HTTP interface of the settlement service (FastAPI).

Bodies and results are the command line's JSON contract (docs/json-contract.md): a visit
or a reversal record, or an array of them, in; one result (or an array, in input order)
out.  Errors are JSON objects ``{"error": KIND, "text": …}``; input problems carry the
command line's lines under ``problems`` (422).  No traceback ever reaches a client: an
unexpected failure is logged (type and stack, not the message, which may hold personal
data) and answered with a generic 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import traceback
from decimal import Decimal
from typing import Any, NoReturn

from fastapi import FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
import anyio.to_thread
from starlette.exceptions import HTTPException as StarletteHTTPException

import policylang

from .engine import Conflict, Engine, UnknownPolicy
from .store import StoreError

LOG = logging.getLogger("policylang.service")
MAX_BODY = 16 * 1024 * 1024
SOURCE = "request"


class BodyError(Exception):
    def __init__(self, status: int, text: str):
        self.status, self.text = status, text
        super().__init__(text)


class Unauthorized(Exception):
    pass


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False) + "\n",
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _error(status: int, kind: str, text: str, **more: Any) -> Response:
    return _json({"error": kind, "text": text, **more}, status)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise BodyError(
                400, f"{SOURCE}: invalid input: the key {k!r} appears twice in one object"
            )
        out[k] = v
    return out


def _no_constants(name: str) -> NoReturn:
    raise BodyError(400, f"{SOURCE}: invalid JSON: {name} is not a JSON value")


async def read_body(request: Request, limit: int) -> Any:
    """The request's JSON, read as the command line reads a file (amounts as exact decimals,
    a repeated key is an error), at most ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"{SOURCE}: the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"{SOURCE}: the body is larger than {limit} bytes")
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BodyError(400, f"{SOURCE}: not UTF-8 text") from None
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_no_constants,
            object_pairs_hook=_no_duplicate_keys,
        )
    except json.JSONDecodeError as e:
        raise BodyError(400, f"{SOURCE}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    except RecursionError:
        raise BodyError(400, f"{SOURCE}: the JSON is nested too deeply") from None


def _input_problems(e: policylang.InputError) -> Response:
    problems = []
    texts = []
    for p in e.problems:
        shown = policylang.InputProblem(p.record, p.field, p.message, p.psn_no, p.source or SOURCE)
        problems.append(
            {
                "record": p.record,
                "psn_no": p.psn_no,
                "field": p.field,
                "message": p.message,
                "text": str(shown),
            }
        )
        texts.append(str(shown))
    summary = f"{len(problems)} problem(s) in the input; nothing was evaluated"
    return _json(
        {
            "error": "input",
            "text": "\n".join([*texts, summary]),
            "problems": problems,
        },
        422,
    )


class _Guard:
    """Outermost: whatever escapes the handlers is logged without its message and answered
    with a generic 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as e:  # noqa: BLE001 - never a traceback to a client
            incident = secrets.token_hex(6)
            LOG.error(
                "internal error %s on %s: %s (message withheld: it may hold personal data)\n%s",
                incident,
                scope.get("method"),
                type(e).__name__,
                "".join(traceback.format_tb(e.__traceback__)).rstrip(),
            )
            if started:
                return
            body = json.dumps(
                {"error": "internal", "text": f"internal error {incident}; see the service's log"}
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})


# ---- OpenAPI: the JSON contract's shapes ---------------------------------------------------

_MONEY = {
    "oneOf": [{"type": "string", "pattern": r"^-?\d{1,15}(\.\d{1,2})?$"}, {"type": "number"}],
    "description": "yuan, at most two decimals",
}
_TEXT = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}
VISIT = {
    "type": "object",
    "title": "Visit",
    "description": (
        "A visit to settle (docs/json-contract.md, settle); a policy may declare more input fields."
    ),
    "required": ["psn_no", "psn_type", "flxempe_flag", "setl_time", "hosp_lv", "medfee_sumamt"],
    "properties": {
        "psn_no": _TEXT,
        "psn_type": {"type": "string", "examples": ["active", "retiree"]},
        "flxempe_flag": {"type": "boolean"},
        "setl_time": {"type": "string", "examples": ["2024-01-05 09:10:00"]},
        "hosp_lv": {"type": "string", "examples": ["unrated", "level1", "level2", "level3"]},
        "medfee_sumamt": _MONEY,
        "fulamt_ownpay_amt": _MONEY,
        "overlmt_selfpay": _MONEY,
        "preselfpay_amt": _MONEY,
        "designated": {"type": "boolean"},
        "acct_balc": _MONEY,
        "setl_id": {**_TEXT, "description": "the idempotency key; assigned (PSN-SEQ) when absent"},
        "mdtrt_id": _TEXT,
        "insutype": _TEXT,
        "med_type": _TEXT,
        "acct_used_flag": {"type": "string"},
        "op": {"type": "string", "enum": ["settle", "reverse"]},
    },
}
REVERSAL = {
    "type": "object",
    "title": "Reversal",
    "required": ["psn_no", "setl_id", "setl_time"],
    "description": "Reverses a recorded settlement (2208).",
    "properties": {
        "op": {"type": "string", "enum": ["reverse"]},
        "psn_no": _TEXT,
        "setl_id": _TEXT,
        "setl_time": {"type": "string"},
        "mdtrt_id": _TEXT,
    },
    "additionalProperties": False,
}
RESETTLE = {
    "type": "object",
    "title": "Resettle",
    "properties": {
        "corrections": {
            "type": "array",
            "items": {"type": "object"},
            "description": "records with the setl_id of a recorded settlement and the "
            "corrected fields",
        },
        "from": {"type": "string", "format": "date"},
        "until": {"type": "string", "format": "date"},
        "resettle_id": {"type": "string", "description": "idempotency key of this re-settlement"},
    },
}
RESULT = {
    "type": "object",
    "title": "Result",
    "description": "One result per record, as in docs/json-contract.md: "
    "the amounts, balc, reason, message, setl_id, mdtrt_id, op, seq, policy, ir_hash and (unless "
    "trace=false) the trace.",
}
ERROR = {
    "type": "object",
    "title": "Error",
    "required": ["error", "text"],
    "properties": {
        "error": {"type": "string"},
        "text": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object"}},
    },
}


def _body_doc(schema: dict) -> dict:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [schema, {"type": "array", "items": schema}]}
                }
            },
        }
    }


def _responses(ok: dict, *codes: int) -> dict:
    text = {
        200: "results, in input order (an object for an object)",
        400: "not JSON, or no policy named",
        401: "no or wrong bearer token",
        404: "no such policy",
        409: "idempotency key already used with other content",
        413: "body too large",
        422: "problems in the input (the command line's lines)",
        503: "the database is unavailable",
    }
    out = {200: {"description": text[200], "content": {"application/json": {"schema": ok}}}}
    for c in codes:
        out[c] = {"description": text[c], "content": {"application/json": {"schema": ERROR}}}
    return out


# ---- the application ---------------------------------------------------------------------


def _guard(token: str | None) -> list:
    """The dependencies of a route that needs the bearer token (none with --no-auth)."""
    if token is None:
        return []
    bearer = HTTPBearer(
        auto_error=False, description="the service's token (--token-file or POLICYLANG_TOKEN)"
    )

    expected = token.encode("utf-8")

    def authorized(creds: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        given = creds.credentials.encode("utf-8") if creds is not None else b""
        if not hmac.compare_digest(given, expected):
            raise Unauthorized()

    return [Security(authorized)]


def _add_error_handlers(app: FastAPI) -> None:
    """Every error the service answers, in the one shape: {"error": KIND, "text": ...}."""

    @app.exception_handler(policylang.InputError)
    async def _input(request, e):
        return _input_problems(e)

    @app.exception_handler(BodyError)
    async def _body(request, e):
        return _error(e.status, "body", e.text)

    @app.exception_handler(Conflict)
    async def _conflict(request, e):
        return _error(
            409, "conflict", "\n".join(c["text"] for c in e.conflicts), conflicts=e.conflicts
        )

    @app.exception_handler(UnknownPolicy)
    async def _policy(request, e):
        return _error(e.status, "policy", str(e))

    @app.exception_handler(Unauthorized)
    async def _unauthorized(request, e):
        r = _error(401, "unauthorized", "this service needs 'Authorization: Bearer TOKEN'")
        r.headers["WWW-Authenticate"] = "Bearer"
        return r

    @app.exception_handler(StoreError)
    async def _store(request, e):
        LOG.error("database: %s", e)
        return _error(
            503,
            "unavailable",
            "the database is unavailable; retry later (the request was not applied)",
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request, e):
        text = "; ".join(
            f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}"
            for err in e.errors()
        )
        return _error(422, "request", text)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, e):
        return _error(e.status_code, "http", str(e.detail))


def create_app(
    engine: Engine, token: str | None, max_body: int = MAX_BODY, workers: int | None = None
) -> FastAPI:
    """The service's ASGI application.  ``token``: the bearer token every request except
    /health and the docs must carry; None only when the operator chose --no-auth."""
    app = FastAPI(
        title="policylang settlement service",
        version=policylang.__version__,
        description="Live settlement of general-outpatient visits under compiled policies, with "
        "each person's ledger kept in a database. Bodies and results follow the command line's "
        "JSON contract (docs/json-contract.md).",
    )
    guarded = _guard(token)
    # Requests do their work (the database, the settlement) in at most `workers` threads at a
    # time; the rest wait their turn without competing for the interpreter: with one writer at
    # a time (SQLite), more threads only slow the one holding the lock.
    slots = anyio.CapacityLimiter(workers or engine.store.workers)

    async def in_thread(func, *args):
        return await anyio.to_thread.run_sync(func, *args, limiter=slots)

    _add_error_handlers(app)

    async def records_call(
        request: Request, policy: str | None, trace: bool, kind: str, dry: bool = False
    ) -> Response:
        sp = engine.policy(policy)
        body = await read_body(request, max_body)
        results, replayed = await in_thread(engine.settle, sp, body, trace, kind, dry)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return _json(results[0] if isinstance(body, dict) else results, headers=headers)

    policy_q = Query(
        None, description="the policy's id; needed when the service settles under several"
    )
    trace_q = Query(True, description="include each result's trace")

    @app.post(
        "/settle",
        dependencies=guarded,
        openapi_extra=_body_doc(VISIT),
        responses=_responses(RESULT, 400, 401, 404, 409, 413, 422, 503),
        summary="Settle visits (and reversals) into the ledger",
    )
    async def settle(
        request: Request, policy: str | None = policy_q, trace: bool = trace_q
    ) -> Response:
        """Settles one visit (an object) or several (an array) and records them in the persons'
        ledgers. A retry with the same setl_id and content returns the first result (header
        Idempotent-Replayed); other content under a used setl_id is a 409. Records with
        "op": "reverse" are reversals."""
        return await records_call(request, policy, trace, "settle")

    @app.post(
        "/reverse",
        dependencies=guarded,
        openapi_extra=_body_doc(REVERSAL),
        responses=_responses(RESULT, 400, 401, 404, 409, 413, 422, 503),
        summary="Reverse recorded settlements (2208)",
    )
    async def reverse(
        request: Request, policy: str | None = policy_q, trace: bool = trace_q
    ) -> Response:
        """Gives back what a settlement consumed. A retried reversal returns the reversal's first
        result."""
        return await records_call(request, policy, trace, "reverse")

    @app.post(
        "/presettle",
        dependencies=guarded,
        openapi_extra=_body_doc(VISIT),
        responses=_responses(RESULT, 400, 401, 404, 413, 422, 503),
        summary="Settle without recording (pre-settlement)",
    )
    async def presettle(
        request: Request, policy: str | None = policy_q, trace: bool = trace_q
    ) -> Response:
        """What /settle would answer now, with nothing written to the ledger."""
        return await records_call(request, policy, trace, "settle", dry=True)

    @app.post(
        "/resettle",
        dependencies=guarded,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": RESETTLE}}}
        },
        responses=_responses(
            {"type": "array", "items": {"type": "object", "title": "Adjustment"}},
            400,
            401,
            404,
            409,
            413,
            422,
            503,
        ),
        summary="Re-settle recorded visits (补退)",
    )
    async def resettle(request: Request, policy: str | None = policy_q) -> Response:
        """Re-settles the visits named by setl_id in corrections, or every visit settled
        from/until, under the policy the service runs (an amended version after a restart), with
        each person's later visits. Returns one adjustment per re-settled visit. resettle_id makes
        a retry return the first answer."""
        sp = engine.policy(policy)
        body = await read_body(request, max_body)
        rows, replayed = await in_thread(engine.resettle, sp, body)
        return _json(rows, headers={"Idempotent-Replayed": "true"} if replayed else None)

    @app.get(
        "/ledger/{psn_no}",
        dependencies=guarded,
        summary="One person's ledger",
        responses=_responses({"type": "object", "title": "Ledger"}, 401, 404, 503),
    )
    async def ledger_of(psn_no: str, policy: str | None = policy_q) -> Response:
        """The person's part of the ledger, as canonical ledger JSON (docs/json-contract.md, The
        ledger)."""
        sp = engine.policy(policy)
        return _ledger_response(await in_thread(engine.ledger_json, sp, psn_no))

    @app.get(
        "/ledger",
        dependencies=guarded,
        summary="The whole ledger (export)",
        responses=_responses({"type": "object", "title": "Ledger"}, 401, 404, 503),
    )
    async def ledger_all(policy: str | None = policy_q) -> Response:
        """Every person's ledger as one canonical ledger file (what `policylang settle
        --ledger-out` writes); it is built in memory."""
        sp = engine.policy(policy)
        return _ledger_response(await in_thread(engine.ledger_json, sp, None))

    _add_health(app, engine)
    app.add_middleware(_Guard)
    return app


def _ledger_response(text: str | None) -> Response:
    if text is None:
        return _error(404, "not_found", "no ledger for this person under this policy")
    return Response(text, media_type="application/json")


def _add_health(app: FastAPI, engine: Engine) -> None:
    @app.get("/health", summary="Liveness and the database")
    async def health():
        """No token needed; tells the policies (id and IR hash) and whether the database answers."""
        policies = [{"id": p.id, "ir_hash": p.hash} for p in engine.policies.values()]
        try:
            await anyio.to_thread.run_sync(engine.store.ping)  # not queued behind the work
        except Exception:  # noqa: BLE001
            return _json(
                {"status": "unavailable", "database": engine.store.dialect, "policies": policies},
                503,
            )
        return _json({"status": "ok", "database": engine.store.dialect, "policies": policies})
