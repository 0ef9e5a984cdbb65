"""The settlement service (`policylang serve`): its HTTP contract and its guarantees, each
test on SQLite and on a PostgreSQL the tests start (the `db_url` fixture).

The application runs in-process (FastAPI's TestClient); tests/test_service_crash.py runs it
as a server process and kills it."""

from __future__ import annotations

import json
import logging
import secrets
import threading

import pytest

pytest.importorskip(
    "fastapi", reason="the service's tests need the service extra: pip install '.[test]'"
)
pytest.importorskip("httpx", reason="the service's tests need httpx: pip install '.[test]'")

from fastapi.testclient import TestClient  # noqa: E402

import policylang  # noqa: E402
from policylang.service.app import create_app  # noqa: E402
from policylang.service.engine import Engine, ServicePolicy  # noqa: E402
from policylang.service.store import StoreError, open_store  # noqa: E402

from .conftest import POLICIES, ROOT  # noqa: E402

TOKEN = secrets.token_urlsafe(24)
AMENDED = ROOT / "examples" / "amendment" / "guiyang-2022.pol"


def visit(psn="A", sid="S-1", when="2024-01-05 09:00:00", amount="400.00", **more):
    v = {
        "psn_no": psn,
        "psn_type": "active",
        "flxempe_flag": False,
        "setl_time": when,
        "hosp_lv": "level1",
        "medfee_sumamt": amount,
        **more,
    }
    if sid is not None:
        v["setl_id"] = sid
    return v


class Service:
    """One application on the test's database, and its client."""

    def __init__(self, db_url, policies, token=TOKEN, params=None, max_body=None):
        self.store = open_store(db_url)
        self.engine = Engine([ServicePolicy(p, params) for p in policies], self.store)
        kw = {} if max_body is None else {"max_body": max_body}
        self.client = TestClient(create_app(self.engine, token, **kw))
        if token:
            self.client.headers["Authorization"] = f"Bearer {token}"

    def post(self, path, body, **kw):
        return self.client.post(
            path, content=json.dumps(body) if not isinstance(body, (bytes, str)) else body, **kw
        )

    def ledger(self, psn=None, policy=None):
        r = self.client.get(
            "/ledger" + (f"/{psn}" if psn else ""), params={"policy": policy} if policy else None
        )
        return r


@pytest.fixture
def service(db_url, guiyang):
    made = []

    def make(policies=None, **kw):
        s = Service(db_url, policies or [guiyang], **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.client.close()
        s.store.close()


def library(policy, records, ledger=None):
    """What the library gives for the same records, one request after the other."""
    ledger = ledger or policy.new_ledger()
    results = []
    for batch in records:
        outcome = policy.settle(batch if isinstance(batch, list) else [batch], ledger=ledger)
        results.append(outcome.results)
        ledger = outcome.ledger
    return results, ledger


# ---- settling ---------------------------------------------------------------------------------


def test_a_settlement_answers_the_cli_contract_and_is_recorded(service, guiyang):
    s = service()
    r = s.post("/settle", visit(acct_balc="100.00"))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    [[expected]], ledger = library(guiyang, [visit(acct_balc="100.00")])
    assert r.json() == json.loads(json.dumps(expected.to_json()))  # the trace included
    assert s.ledger("A").text == ledger.to_json()
    assert s.ledger().text == ledger.to_json()


def test_a_list_is_settled_in_one_go_and_answered_in_input_order(service, guiyang):
    s = service()
    batch = [
        visit("B", "S-2", "2024-01-06"),
        visit("A", "S-1", "2024-01-05"),
        visit("B", "S-3", "2024-01-04"),
    ]
    r = s.post("/settle?trace=false", batch)
    assert r.status_code == 200
    [expected], ledger = library(guiyang, [batch])
    assert r.json() == [x.to_json(trace=False) for x in expected]
    assert [x["seq"] for x in r.json()] == [2, 1, 1]  # B's visits in time order
    assert s.ledger().text == ledger.to_json()


def test_a_settlement_without_setl_id_is_assigned_one(service):
    s = service()
    first = s.post("/settle", visit(sid=None)).json()
    second = s.post("/settle", visit(sid=None, when="2024-02-01")).json()
    assert (first["setl_id"], second["setl_id"]) == ("A-1", "A-2")
    assert [
        x["setl_id"] for x in json.loads(s.ledger("A").text)["persons"]["A"]["settlements"]
    ] == ["A-1", "A-2"]


def test_a_retry_with_the_same_content_returns_the_first_result(service):
    s = service()
    first = s.post("/settle", visit())
    s.post("/settle", visit("A", "S-2", "2024-01-06"))  # the ledger moves on
    again = s.post("/settle", visit())
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.text == first.text  # the same bytes
    assert json.loads(s.ledger("A").text)["persons"]["A"]["seq"] == 2
    # the same record written differently is the same content
    assert s.post("/settle", {**visit(), "setl_id": " S-1 ", "op": "settle"}).json() == first.json()


def test_a_retry_gets_the_first_answer_with_or_without_the_trace(service):
    s = service()
    first = s.post("/settle?trace=false", visit()).json()
    assert "trace" not in first
    assert s.post("/settle", visit()).json() == first  # as first answered: no trace was built
    traced = s.post("/settle", visit("B", "S-2")).json()
    assert traced["trace"]
    assert s.post("/settle?trace=false", visit("B", "S-2")).json() == {
        k: v for k, v in traced.items() if k != "trace"
    }


def test_a_retry_with_other_content_is_a_conflict_and_changes_nothing(service):
    s = service()
    s.post("/settle", visit())
    before = s.ledger().text
    r = s.post("/settle", [visit("A", "S-9", "2024-03-01"), visit(amount="500.00")])
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "conflict" and body["conflicts"][0]["record"] == 2
    assert "S-1" in body["text"] and "other content" in body["text"]
    assert s.ledger().text == before  # S-9 was not settled either


def test_a_reversal_and_its_retry(service, guiyang):
    s = service()
    settled = s.post("/settle", visit(acct_balc="300.00")).json()
    rev = {"psn_no": "A", "setl_id": "S-1", "setl_time": "2024-01-05 10:00:00"}
    first = s.post("/reverse", rev)
    assert first.status_code == 200
    body = first.json()
    assert (body["op"], body["hifp_pay"], body["balc"]) == (
        "reverse",
        "-" + settled["hifp_pay"],
        "300.00",
    )
    again = s.post("/reverse", rev)  # not "already reversed": the first result again
    assert (
        again.status_code == 200
        and again.json() == body
        and again.headers["idempotent-replayed"] == "true"
    )
    assert s.post("/reverse", {**rev, "setl_time": "2024-01-05 11:00:00"}).status_code == 409
    _, ledger = library(guiyang, [visit(acct_balc="300.00"), {**rev, "op": "reverse"}])
    assert s.ledger().text == ledger.to_json()
    assert json.loads(s.ledger().text)["persons"]["A"]["counters"] == []


def test_settle_takes_reversal_records_and_reverse_takes_nothing_else(service):
    s = service()
    r = s.post(
        "/settle",
        [visit(), {"op": "reverse", "psn_no": "A", "setl_id": "S-1", "setl_time": "2024-01-06"}],
    )
    assert [x["op"] for x in r.json()] == ["settle", "reverse"]
    r = s.post("/reverse", {**visit("A", "S-2"), "op": "settle"})
    assert r.status_code == 422 and "/reverse takes reversals only" in r.json()["text"]


def test_a_list_mixing_retries_and_new_visits(service, guiyang):
    s = service()
    first = s.post("/settle", visit()).json()
    r = s.post("/settle", [visit("A", "S-2", "2024-01-06"), visit()])
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert r.json()[1] == first and r.json()[0]["seq"] == 2
    _, ledger = library(guiyang, [visit(), visit("A", "S-2", "2024-01-06")])
    assert s.ledger().text == ledger.to_json()


def test_presettle_writes_nothing(service):
    s = service()
    pre = s.post("/presettle", visit())
    assert pre.status_code == 200
    assert s.ledger("A").status_code == 404 and json.loads(s.ledger().text)["persons"] == {}
    real = s.post("/settle", visit())
    assert real.json() == pre.json() and "idempotent-replayed" not in real.headers
    nxt = s.post("/presettle?trace=false", visit("A", "S-2", "2024-01-06")).json()
    assert nxt["act_pay_dedc"] == "0.00" and nxt["seq"] == 2  # against the ledger as it stands
    assert json.loads(s.ledger("A").text)["persons"]["A"]["seq"] == 1
    assert s.post("/presettle", visit()).status_code == 422  # S-1 is settled already


def test_a_persons_ledger_and_the_whole_ledger(service, guiyang):
    s = service()
    s.post("/settle", [visit("A"), visit("B", "S-2")])
    _, ledger = library(guiyang, [[visit("A"), visit("B", "S-2")]])
    assert json.loads(s.ledger("B").text)["persons"] == {
        "B": json.loads(ledger.to_json())["persons"]["B"]
    }
    assert s.ledger().text == ledger.to_json()
    missing = s.ledger("nobody")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    # the exported ledger is a ledger file the command line reads
    assert policylang.Ledger.from_json(s.ledger().text, guiyang).counters("B") == ledger.counters(
        "B"
    )


# ---- re-settlement ------------------------------------------------------------------------


def test_resettle_after_an_amendment(service, guiyang, db_url):
    s = service()
    visits = [
        visit("A", "S1", "2024-01-05", "2800.00", psn_type="retiree", hosp_lv="level2"),
        visit("A", "S2", "2024-01-20", "600.00", psn_type="retiree", hosp_lv="level2"),
    ]
    for v in visits:
        s.post("/settle", v)
    amended = policylang.load(AMENDED)
    t = service([amended])  # the service restarted with the amended policy, on the same database
    body = {"from": "2024-01-01", "until": "2024-01-31", "resettle_id": "R-1"}
    r = t.post("/resettle", body)
    assert r.status_code == 200
    _, ledger = library(guiyang, visits)
    moved = policylang.Ledger.from_json(ledger.to_json(), amended)
    expected = amended.resettle(moved, start="2024-01-01", end="2024-01-31")
    assert r.json() == [a.to_json() for a in expected.adjustments]
    assert r.json()[1]["difference"]["psn_cash_pay"] == "-437.50"
    assert t.ledger().text == expected.ledger.to_json()
    again = t.post("/resettle", body)
    assert again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
    assert t.ledger().text == expected.ledger.to_json()
    assert t.post("/resettle", {**body, "until": "2024-01-15"}).status_code == 409


def test_resettle_corrections_find_the_person_by_setl_id(service, guiyang):
    s = service()
    s.post("/settle", [visit("A", "S1"), visit("B", "S2", "2024-01-06")])
    r = s.post("/resettle", [{"setl_id": "S2", "medfee_sumamt": "700.00"}])
    assert r.status_code == 200
    [adj] = r.json()
    assert (adj["setl_id"], adj["psn_no"], adj["new"]["medfee_sumamt"]) == ("S2", "B", "700.00")
    _, ledger = library(guiyang, [[visit("A", "S1"), visit("B", "S2", "2024-01-06")]])
    expected = guiyang.resettle(ledger, [{"setl_id": "S2", "medfee_sumamt": "700.00"}])
    assert s.ledger().text == expected.ledger.to_json()


def test_resettle_input_problems(service):
    s = service()
    for body, text in (
        ({}, "give corrections, or a period with from/until"),
        ({"from": "2024-13-01"}, "expected a date"),
        ({"corrections": [], "when": 1}, "unknown field"),
        ([{"setl_id": "nope"}], "names no recorded settlement"),
    ):
        r = s.post("/resettle", body)
        assert r.status_code == 422 and text in r.json()["text"], (body, r.text)


# ---- several policies -------------------------------------------------------------------


def test_several_policies_each_with_its_own_ledger(service, guiyang, shanxi):
    s = service([guiyang, shanxi], params={})
    r = s.post("/settle", visit())
    assert r.status_code == 400 and "?policy=" in r.json()["text"]
    assert s.post("/settle?policy=nope", visit()).status_code == 404
    a = s.post("/settle?policy=guiyang_2022", visit()).json()
    b = s.post("/settle?policy=shanxi_2022", visit()).json()  # the same setl_id: another ledger
    assert (a["policy"], a["seq"], b["policy"], b["seq"]) == ("guiyang_2022", 1, "shanxi_2022", 1)
    assert json.loads(s.ledger("A", "shanxi_2022").text)["policy"] == "shanxi_2022"
    assert s.post("/settle?policy=guiyang_2022", visit()).headers["idempotent-replayed"] == "true"


# ---- authentication -----------------------------------------------------------------------


def test_requests_need_the_token(service):
    s = service()
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        r = s.client.post("/settle", content=json.dumps(visit()), headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert s.client.get("/ledger/A", headers=headers).status_code == 401
    assert s.ledger().text.count('"persons": {}') == 1  # nothing was settled
    bare = TestClient(s.client.app)
    assert bare.get("/health").json()["status"] == "ok"
    paths = bare.get("/openapi.json").json()["paths"]
    assert {
        "/settle",
        "/reverse",
        "/presettle",
        "/resettle",
        "/ledger/{psn_no}",
        "/ledger",
        "/health",
    } <= set(paths)
    assert paths["/settle"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert bare.get("/docs").status_code == 200


def test_no_auth_needs_no_token(service):
    s = service(token=None)
    assert s.post("/settle", visit()).status_code == 200


# ---- bad input: 4xx with the command line's text ------------------------------------------


def test_input_problems_are_422_with_the_cli_lines(service, tmp_path):
    from click.testing import CliRunner

    from policylang.cli import main

    s = service()
    bad = [visit(hosp_level="level1"), visit("B", "S-2", when="2024-13-01")]
    r = s.post("/settle", bad)
    assert r.status_code == 422
    body = r.json()
    path = tmp_path / "request"
    path.write_text(json.dumps(bad))
    cli = CliRunner().invoke(main, ["settle", str(POLICIES / "guiyang-2022.pol"), str(path)])
    assert cli.exit_code == 1
    assert body["text"] == cli.output.strip().replace(str(path), "request")
    assert body["problems"][0]["field"] == "hosp_level" and body["problems"][0]["record"] == 1
    assert json.loads(s.ledger().text)["persons"] == {}


@pytest.mark.parametrize(
    "raw, status, text",
    [
        (
            b'{"psn_no": "A",',
            400,
            "request:1:16: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            b'{"psn_no": "A", "psn_no": "B"}',
            400,
            "request: invalid input: the key 'psn_no' appears twice in one object",
        ),
        (b"\xff\xfe{}", 400, "request: not UTF-8 text"),
        (b'{"medfee_sumamt": NaN}', 400, "request: invalid JSON: NaN is not a JSON value"),
        (
            b'"a visit"',
            422,
            "request: field '(top level)': expected a JSON object or an array of them",
        ),
        (b"[1]", 422, "request: record 1: field '(record)': expected an object"),
    ],
)
def test_bad_bodies_are_4xx_with_the_cli_text(service, raw, status, text):
    s = service()
    r = s.client.post("/settle", content=raw)
    assert r.status_code == status, r.text
    assert r.json()["text"].startswith(text)


def test_a_body_too_large_is_413(service):
    s = service(max_body=200)
    r = s.post("/settle", [visit(sid=f"S-{i}") for i in range(10)])
    assert r.status_code == 413 and "larger than 200 bytes" in r.json()["text"]


def test_a_bad_query_is_422_not_500(service):
    s = service()
    r = s.post("/settle?trace=maybe", visit())
    assert r.status_code == 422 and r.json()["error"] == "request"


def test_an_internal_error_is_a_generic_500_without_internals(service, monkeypatch, caplog):
    s = service()

    def broken(*args, **kwargs):
        psn = "GY-" + "SECRET"  # so that the source line shown in the stack does not hold it
        raise RuntimeError(f"psn {psn} has a problem")

    monkeypatch.setattr(s.engine, "settle", broken)
    with caplog.at_level(logging.ERROR, logger="policylang.service"):
        r = s.post("/settle", visit())
    assert r.status_code == 500 and r.json()["error"] == "internal"
    assert "GY-SECRET" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RuntimeError" in logged and "broken" in logged and "GY-SECRET" not in logged


def test_a_database_failure_is_503(service, monkeypatch):
    s = service()

    def down(*args, **kwargs):
        raise StoreError("connection refused")

    monkeypatch.setattr(s.store, "write", down)
    r = s.post("/settle", visit())
    assert r.status_code == 503 and "not applied" in r.json()["text"]


# ---- concurrency: no update is lost ------------------------------------------------------


def test_concurrent_requests_for_one_person_lose_no_update(service, guiyang):
    s = service()
    engine, sp = s.engine, s.engine.policy(None)
    threads, per = 6, 12
    errors = []

    def work(t):
        try:
            for i in range(per):
                engine.settle(
                    sp,
                    visit(
                        "A",
                        f"S-{t}-{i}",
                        f"2024-{1 + i:02d}-{1 + t:02d}",
                        "90.00",
                        acct_balc="500.00" if (t, i) == (0, 0) else None,
                    ),
                    False,
                )
                # persons locked together, named in both orders: never a deadlock
                engine.settle(
                    sp,
                    [
                        visit("C", f"C-{t}-{i}", "2024-01-01", "10.00"),
                        visit("B", f"B-{t}-{i}", "2024-01-01", "10.00"),
                    ][:: 1 if t % 2 else -1],
                    False,
                )
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    served = json.loads(s.ledger().text)
    assert {p: d["seq"] for p, d in served["persons"].items()} == {
        "A": threads * per,
        "B": threads * per,
        "C": threads * per,
    }
    # the ledger is the library's replay of the settlements in the order they were applied
    applied = sorted(
        ((x["input"], x["seq"]) for p in served["persons"].values() for x in p["settlements"]),
        key=lambda x: (x[0]["psn_no"], x[1]),
    )
    _, ledger = library(guiyang, [dict(r) for r, _ in applied])
    assert s.ledger().text == ledger.to_json()


# ---- the audit log -------------------------------------------------------------------------


def test_the_audit_log_has_a_line_per_settlement_without_personal_data(service, caplog):
    s = service()
    with caplog.at_level(logging.INFO, logger="policylang.audit"):
        s.post("/settle", visit("GY-7", "S-1"))
        s.post("/settle", visit("GY-7", "S-1"))
        s.post("/settle", visit("GY-7", "S-1", amount="1.00"))
        s.post("/settle", visit("GY-7", None, when="2024-02-01"))
        s.post("/reverse", {"psn_no": "GY-7", "setl_id": "S-1", "setl_time": "2024-03-01"})
        s.post("/settle", visit("GY-7", "S-3", hosp_lv="level9"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "policylang.audit"]
    assert [(x["op"], x["outcome"], x["setl_id"]) for x in lines] == [
        ("settle", "settled", "S-1"),
        ("settle", "replayed", "S-1"),
        ("settle", "conflict", "S-1"),
        ("settle", "settled", None),
        ("reverse", "reversed", "S-1"),
        ("settle", "rejected", "S-3"),
    ]
    assert lines[3]["setl_id_withheld"] is True  # GY-7-2 would name the person
    assert len({x["psn"] for x in lines}) == 1 and lines[0]["psn"].startswith("sha256:")
    assert all(
        x["ir_hash"] == s.engine.policy(None).hash and x["time"].endswith("Z") for x in lines
    )
    assert not any("GY-7" in r.getMessage() for r in caplog.records)


# ---- the schema ------------------------------------------------------------------------------


def test_the_schema_is_versioned_and_a_newer_one_is_refused(db_url):
    store = open_store(db_url)
    store.close()
    store = open_store(db_url)  # migrating again changes nothing
    salt = store.meta("audit_salt")
    assert salt and len(salt) == 64
    with store.write("x", []):
        pass
    store.close()
    _set_version(db_url, 99)
    with pytest.raises(StoreError, match="schema is version 99, newer"):
        open_store(db_url)


def _set_version(url: str, version: int) -> None:
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///") :]) as c:
            c.execute("UPDATE policylang_schema SET version = ?", (version,))
    else:
        import psycopg

        with psycopg.connect(url) as c:
            c.execute("UPDATE policylang_schema SET version = %s", (version,))


def test_sqlite_urls(tmp_path):
    for url in (
        "sqlite:///:memory:",
        f"sqlite:///{tmp_path}/x.db?journal=off",
        "mysql://x/y",
        f"sqlite:///{tmp_path}/no/such/folder/x.db",
    ):
        with pytest.raises(StoreError):
            open_store(url)
    open_store(f"sqlite:///{tmp_path}/x.db?synchronous=normal").close()


# ---- the command ------------------------------------------------------------------------------


def _serve(*args, env=None):
    from click.testing import CliRunner

    from policylang.cli import main

    return CliRunner(env=env or {"POLICYLANG_TOKEN": None}).invoke(
        main, ["serve", str(POLICIES / "guiyang-2022.pol"), *args]
    )


def test_serve_refuses_to_start_without_a_token_or_no_auth(tmp_path):
    r = _serve("--db", f"sqlite:///{tmp_path}/x.db")
    assert r.exit_code == 2 and "refusing to start without a token" in r.output
    assert not (tmp_path / "x.db").exists()
    short = tmp_path / "short"
    short.write_text("abc")
    assert "at least 16 characters" in _serve("--token-file", str(short)).output
    assert "choose one" in _serve("--no-auth", env={"POLICYLANG_TOKEN": TOKEN}).output
    r = _serve("--no-auth", "--host", "0.0.0.0")
    assert r.exit_code == 2 and "loopback address only" in r.output


def test_serve_refuses_a_policy_given_twice_and_an_unknown_param(tmp_path):
    r = _serve(str(POLICIES / "guiyang-2022.pol"), "--no-auth")
    assert r.exit_code == 1 and "given twice" in r.output
    r = _serve("--no-auth", "--param", "nope=1")
    assert r.exit_code == 2 and "declares the parameter nope" in r.output
    r = _serve("--no-auth", "--param", "guizhou_avg_pension_2022=lots")
    assert r.exit_code == 1 and "field 'guizhou_avg_pension_2022'" in r.output


def test_help_imports_neither_fastapi_nor_lark():
    import subprocess
    import sys

    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from policylang.cli import main; "
            "main(['--help'], standalone_mode=False); "
            "assert 'serve' in sys.modules['policylang.cli'].main.commands; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'lark', 'uvicorn', "
            "'starlette', 'psycopg')]; assert not bad, bad",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "serve" in r.stdout
