"""A crash of the service loses nothing it acknowledged and applies nothing twice, on SQLite
and on PostgreSQL: the service runs as a server process on 127.0.0.1, takes load from
several threads, is killed (SIGKILL) mid-way, is restarted, and every request that had no
answer is sent again by its setl_id; then the ledger in the database must be the library's
replay of all acknowledged requests, in the order the server applied them.

The load, the replay and the check are benchmarks/service_load.py's (the load test runs
the same code, bigger)."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "fastapi", reason="the service's tests need the service extra: pip install '.[test]'"
)
pytest.importorskip("httpx", reason="the service's tests need httpx: pip install '.[test]'")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def load_test():
    spec = importlib.util.spec_from_file_location(
        "policylang_service_load", ROOT / "benchmarks" / "service_load.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sigkill_mid_load_loses_nothing_and_counts_nothing_twice(
    load_test, db_url, guiyang, tmp_path
):
    load = load_test.make_load(600, 60, seed=3, reverse_every=8, retry_every=10, conflict_every=40)
    n_ops = sum(len(ops) for ops in load)
    server = load_test.Server(db_url, str(tmp_path)).start()
    tally = load_test.Tally()
    try:

        def killer():  # mid-way, while every client has a request in flight
            deadline = time.monotonic() + 120
            while len(tally.acked) < n_ops // 3 and time.monotonic() < deadline:
                time.sleep(0.002)
            server.kill()

        k = threading.Thread(target=killer)
        k.start()
        load_test.run_clients(server, load, clients=4, tally=tally)
        k.join()
        acked_before = len(tally.acked)
        assert 0 < acked_before < n_ops and tally.unacked, (
            "the kill came too late or too early to test anything"
        )
        server.start()  # the same database
        load_test.retry_unacked(server, tally)
        result = load_test.check(server, guiyang, tally)
    finally:
        server.stop()
    assert not tally.errors, tally.errors[:3]
    assert len(tally.acked) == n_ops
    assert (result["lost"], result["double"]) == (0, 0)
    assert result["same"], "the database's ledger differs from the library's replay"


def test_a_kill_between_commit_and_answer_is_answered_on_retry(
    load_test, db_url, guiyang, tmp_path
):
    """The one request whose fate the client cannot know: committed, then the process died
    before answering.  Its retry must return the committed result, not settle it again."""
    import httpx

    launcher = [sys.executable, str(ROOT / "tests" / "service_kill_after_commit.py")]
    server = load_test.Server(
        db_url, str(tmp_path), launcher=launcher, env={"POLICYLANG_TEST_KILL_AFTER_COMMIT": "3"}
    ).start()
    visits = [
        {
            "psn_no": "A",
            "psn_type": "active",
            "flxempe_flag": False,
            "setl_time": f"2024-01-0{i} 09:00:00",
            "hosp_lv": "level1",
            "medfee_sumamt": "400.00",
            "setl_id": f"S-{i}",
            "acct_balc": "200.00",
        }
        for i in range(1, 5)
    ]
    answers = {}
    try:
        with httpx.Client(headers=server.headers()) as client:
            for v in visits[:2]:
                answers[v["setl_id"]] = client.post(server.url + "/settle", json=v).json()
            with pytest.raises(httpx.HTTPError):
                client.post(server.url + "/settle", json=visits[2])  # committed, never answered
        server.proc.wait(30)
        server.launcher, server.env = (
            [sys.executable, "-m", "policylang"],
            {},
        )  # restarted without the fault
        server.start()
        with httpx.Client(headers=server.headers()) as client:
            retry = client.post(server.url + "/settle", json=visits[2])
            assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
            answers["S-3"] = retry.json()
            answers["S-4"] = client.post(server.url + "/settle", json=visits[3]).json()
            served = client.get(server.url + "/ledger").text
    finally:
        server.stop()
    assert [answers[f"S-{i}"]["seq"] for i in range(1, 5)] == [1, 2, 3, 4]
    ledger = guiyang.new_ledger()
    for v in visits:
        outcome = guiyang.settle([v], ledger=ledger)
        assert (
            outcome.results[0].to_json(trace=False)["hifp_pay"] == answers[v["setl_id"]]["hifp_pay"]
        )
        ledger = outcome.ledger
    assert served == ledger.to_json()


def test_the_readmes_curl_session_is_real(load_test, tmp_path):
    """The README's session with the service, run with curl against a server started as the
    README starts it, prints exactly what the README shows."""
    import os
    import re
    import shutil
    import subprocess

    if not shutil.which("curl"):
        pytest.skip("the README's session needs curl (apt-get install curl)")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Settlement service", 1)[1].split("\n## ", 1)[0]
    start = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    assert (
        "policylang serve policies/guiyang-2022.pol --db sqlite:///ledger.sqlite3 --token-file "
        "token" in start
    )
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    steps = re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", block, re.M)
    assert steps[0][0] == "export TOKEN=$(cat token)" and len(steps) >= 8
    for folder in ("policies", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    server = load_test.Server(
        "sqlite:///ledger.sqlite3", str(tmp_path), policies=["policies/guiyang-2022.pol"]
    ).start()  # writes tmp_path/token
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    try:
        for command, shown in steps:
            command = command.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
            if command.startswith("export "):
                command += " && env"  # the token the next commands use
                env["TOKEN"] = (
                    subprocess.run(
                        ["bash", "-c", command],
                        cwd=tmp_path,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    .stdout.split("TOKEN=", 1)[1]
                    .split("\n")[0]
                )
                assert env["TOKEN"] == server.token
                continue
            r = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 0, (command, r.stderr)
            assert r.stdout == shown, command
    finally:
        server.stop()
