"""Remote workers on a server with API keys: a worker runs with its organisation's key, takes only its
organisation's tasks (created over HTTP), and its store answers another organisation's thread as
unknown; a worker connected to a second server process (without a relay of its own) is sent the tasks
the first one's relay assigns it, through the assignment table they share."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from remote_workers_helpers import start_remote_worker, stop, wait_for
from server_helpers import Server, ServerStarter, create_key, json_of

from loopline.tasks import Tasks

ENDED = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def keys(db: str) -> dict[str, str]:
    """One key for each of two organisations (made before the server starts: it then requires keys)."""
    return {org: create_key(db, org)[1] for org in ("acme", "globex")}


@pytest.fixture(scope="module")
def server(db: str, keys: dict[str, str], module_servers: ServerStarter) -> Server:
    return module_servers(db)


@pytest.fixture
def remote(db: str, server_log: Path) -> Iterator[Any]:
    started: list[Any] = []

    def start(base_url: str, *args: str) -> Any:
        proc = start_remote_worker(base_url, db, *args, log=server_log)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop(proc, sig=signal.SIGTERM)


def ended(client: httpx2.Client, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    return wait_for(lambda: (found := json_of(client.get(f"/v1/tasks/{task_id}")))["status"] in ENDED and found,
                    timeout=timeout, every=0.1)


def test_a_task_created_over_http_runs_on_its_organisations_remote_worker_only(
        server: Server, keys: dict[str, str], remote: Any, db: str) -> None:
    remote(server.url, "--name", "acme-worker", "--api-key", keys["acme"])
    acme, globex = server.client(keys["acme"]), server.client(keys["globex"])
    theirs = json_of(globex.post("/v1/tasks", json={"agent_id": "researcher", "prompt": "for globex"}))
    ours = json_of(acme.post("/v1/tasks", json={"agent_id": "researcher", "prompt": "for acme"}))
    done = ended(acme, ours["id"])
    assert (done["status"], done["result"], done["worker"].endswith(":acme-worker")) == (
        "COMPLETED", "answer to for acme", True)
    events = [json.loads(line.removeprefix("data: ")) for line in
              acme.get(f"/v1/tasks/{ours['id']}/events", params={"follow": "false"}).text.splitlines()
              if line.startswith("data: ")]
    assert [e["type"] for e in events].count("finished") == 1
    # No worker of globex: its task waits, never handed to acme's worker.
    assert json_of(globex.get(f"/v1/tasks/{theirs['id']}"))["status"] == "PENDING"
    listed = json_of(acme.get("/v1/workers"))["items"]
    assert [w["remote"] for w in listed if str(w["id"]).endswith(":acme-worker")] == [True]
    assert not [w for w in json_of(globex.get("/v1/workers"))["items"] if str(w["id"]).endswith(":acme-worker")]
    globex.post(f"/v1/tasks/{theirs['id']}/cancel")


def test_the_http_store_answers_another_organisations_thread_and_execution_as_unknown(
        server: Server, keys: dict[str, str], remote: Any, db: str) -> None:
    remote(server.url, "--name", "acme-store", "--api-key", keys["acme"])
    acme, globex = server.client(keys["acme"]), server.client(keys["globex"])
    ours = json_of(acme.post("/v1/tasks", json={"agent_id": "researcher", "prompt": "mine"}))
    done = ended(acme, ours["id"])
    theirs = json_of(globex.post("/v1/tasks", json={"agent_id": "researcher", "prompt": "not yours"}))

    def call(client: httpx2.Client, op: str, **args: Any) -> httpx2.Response:
        return client.post("/v1/workers/some-worker/store", json={"op": op, "args": args})

    assert call(acme, "get_execution", execution_id=done["execution_id"]).status_code == 200
    for op in ("get_thread", "get_messages", "list_executions"):
        assert call(acme, op, thread_id=ours["thread_id"]).status_code == 200
        refused, unknown = call(acme, op, thread_id=theirs["thread_id"]), call(acme, op, thread_id="thr_unknown")
        assert (refused.status_code, refused.json()["error"]["type"]) == (404, "UnknownThreadError")
        assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "UnknownThreadError")
        assert call(globex, op, thread_id=ours["thread_id"]).status_code == 404
    assert call(globex, "get_execution", execution_id=done["execution_id"]).status_code == 404
    assert call(globex, "get_tool_calls", execution_id=done["execution_id"]).status_code == 404
    assert call(globex, "memory_list", scope="thread", owner=ours["thread_id"]).status_code == 404
    assert globex.get(f"/v1/workers/w/tasks/{ours['id']}").status_code == 404
    without_key = httpx2.post(f"{server.url}/v1/workers/w/store", json={"op": "get_thread", "args": {}})
    assert without_key.status_code == 401
    globex.post(f"/v1/tasks/{theirs['id']}/cancel")


def test_a_worker_on_a_second_server_is_sent_what_the_first_servers_relay_assigns(
        server: Server, keys: dict[str, str], servers: ServerStarter, remote: Any, db: str) -> None:
    second = servers(db, "--no-relay")
    remote(second.url, "--name", "acme-elsewhere", "--api-key", keys["acme"])
    acme = server.client(keys["acme"])
    made = json_of(acme.post("/v1/tasks", json={"agent_id": "researcher", "prompt": "across servers"}))
    done = ended(acme, made["id"])
    assert (done["status"], done["worker"].endswith(":acme-elsewhere")) == ("COMPLETED", True)
    tasks = Tasks(db)
    try:
        assert tasks.table.get(made["id"])["result"] == "answer to across servers"
    finally:
        tasks.store.close()


def test_a_remote_worker_with_a_wrong_key_stops_with_an_error_that_says_so(server: Server, tmp_path: Path) -> None:
    script = Path(__file__).parent / "run_remote_worker.py"
    done = subprocess.run([sys.executable, str(script), server.url, "--name", "bad-key", "--api-key",
                           "ll_000000000000_" + "x" * 43], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "refused this worker (401" in done.stderr and "LOOPLINE_API_KEY" in done.stderr
    assert "x" * 43 not in done.stderr  # the key itself is never printed
