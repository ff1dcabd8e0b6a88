"""What one organisation can do to another through the remote workers' endpoints and the store calls,
and what a key holder that is no worker can do through them: each test is a way in that was found open
(or a way in that must stay closed), shown against a real server process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from server_helpers import (
    Server,
    ServerStarter,
    WorkerStarter,
    create_key,
    finished_execution,
    free_port,
    json_of,
    sse_events,
    two_organisations,
)

from loopline import Agent
from loopline.store import ToolCallRecord, call_args, open_store, task_table

AGENT = "review-agent"
"""Served by no worker process: the tests' own HTTP calls act as its remote worker."""


@dataclass
class World:
    server: Server
    acme: httpx2.Client
    globex: httpx2.Client
    acme_execution: str
    """An execution on the thread of an acme task (finished)."""
    acme_waiting: str
    """An acme execution that has not run yet."""


@pytest.fixture(scope="module")
def world(db: str, module_servers: ServerStarter) -> World:
    server, acme, globex, _ = two_organisations(db, module_servers)
    task = json_of(acme.post("/v1/tasks", json={"agent_id": "nobody-serves-this", "prompt": "acme's plan"}))
    execution = finished_execution(db, task["thread_id"])
    other = json_of(acme.post("/v1/tasks", json={"agent_id": "nobody-serves-this", "prompt": "acme's next"}))
    return World(server, acme, globex, execution, _waiting_execution(db, other["thread_id"]))


def _waiting_execution(db: str, thread_id: str) -> str:
    """An execution added (not run) by a process that has ended, so nothing holds it."""
    script = ("import sys; from loopline import Agent; from loopline.store import open_store; "
              "print(Agent('acme-agent', 'You help.', store=open_store(sys.argv[1])).add_task('q', "
              "thread_id=sys.argv[2]).id)")
    done = subprocess.run([sys.executable, "-c", script, db, thread_id], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def _assigned(client: httpx2.Client, worker_id: str, task_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The assignment of `task_id` as the worker's stream sends it (`{"task": record, "attempt": n}`)."""
    deadline = time.monotonic() + timeout
    for event in sse_events(client, f"/v1/workers/{worker_id}/assignments", timeout=timeout):
        if event.event == "assignment":
            data: dict[str, Any] = json.loads(event.data)
            if data["task"]["id"] == task_id:
                return data
        assert time.monotonic() < deadline, "no assignment"
    raise AssertionError("the assignments stream ended")


def _beat(client: httpx2.Client, worker_id: str, **body: Any) -> httpx2.Response:
    return client.post(f"/v1/workers/{worker_id}/heartbeat", json={"agents": [AGENT], "lease": 60, **body})


def test_a_worker_cannot_point_its_task_at_another_organisations_execution(world: World) -> None:
    """Else cancelling its own PAUSED task cancels the execution it names: another organisation's."""
    worker = "globex-review-1"
    assert _beat(world.globex, worker).status_code == 200
    task = json_of(world.globex.post("/v1/tasks", json={"agent_id": AGENT, "prompt": "mine"}))
    given = _assigned(world.globex, worker, task["id"])
    body = {"attempt": given["attempt"], "expected_updated_at": given["task"]["updated_at"],
            "record": {"status": "PAUSED", "execution_id": world.acme_waiting}}
    foreign = world.globex.put(f"/v1/workers/{worker}/tasks/{task['id']}", json=body)
    world.globex.post(f"/v1/tasks/{task['id']}/cancel")
    assert json_of(world.acme.get(f"/v1/executions/{world.acme_waiting}"))["status"] != "CANCELLED"
    assert foreign.status_code == 400, foreign.text
    assert json_of(world.globex.get(f"/v1/tasks/{task['id']}"))["execution_id"] is None
    unknown = world.globex.put(f"/v1/workers/{worker}/tasks/{task['id']}",
                               json={**body, "record": {**body["record"], "execution_id": "exe_unknown"}})
    assert unknown.json() == foreign.json() | {"error": {**foreign.json()["error"], "message": unknown.json()[
        "error"]["message"]}}
    assert foreign.json()["error"]["field"] == "record.execution_id"
    _beat(world.globex, worker, stopping=True)


def test_a_commit_cannot_write_tool_calls_into_another_organisations_execution(world: World, db: str) -> None:
    """A commit's tool call records name their execution: each must be the committed one."""
    own = json_of(world.globex.post("/v1/tasks", json={"agent_id": "nobody-serves-this", "prompt": "mine"}))
    store = open_store(db)
    try:
        mine = Agent("globex-agent", "You help.", store=store).add_task("q", thread_id=own["thread_id"])
    finally:
        store.close()
    planted = ToolCallRecord(execution_id=world.acme_execution, tool_call_id="planted", name="lookup",
                             arguments="{}", status="finished", started_at=time.time(), finished_at=time.time())
    refused = world.globex.post("/v1/workers/w/store", json={"op": "commit", "args": call_args(
        execution=mine, tool_calls=[planted])})
    unknown = world.globex.post("/v1/workers/w/store", json={"op": "commit", "args": call_args(
        execution=mine, tool_calls=[dataclasses.replace(planted, execution_id="exe_unknown")])})
    assert refused.status_code == unknown.status_code == 400, refused.text
    assert refused.json() == unknown.json()
    assert refused.json()["error"]["field"] == "tool_calls"
    calls = json_of(world.acme.get(f"/v1/executions/{world.acme_execution}/tool_calls"))["items"]
    assert "planted" not in [c["tool_call_id"] for c in calls]
    done = world.globex.post("/v1/workers/w/store", json={"op": "commit", "args": call_args(
        execution=mine, tool_calls=[dataclasses.replace(planted, execution_id=mine.id)])})
    assert done.status_code == 200, done.text


def test_the_workers_endpoints_have_a_rate_of_their_own(tmp_path: Any, servers: ServerStarter) -> None:
    """Any key may call them (they read tasks and the store): uncounted, they were a way around the key's rate."""
    db = str(tmp_path / "rate.db")
    _, key = create_key(db, "acme")
    server = servers(db, "--rate", "1", "--burst", "2")
    client = server.client(key)
    codes = [client.get("/v1/workers/w/tasks/task_unknown").status_code for _ in range(100)]
    assert set(codes) == {404, 429}
    assert codes[:40] == [404] * 40  # 20 times the key's own rate: a worker's dozens of calls per task pass
    assert client.get("/v1/tasks").status_code == 200  # a bucket of its own: the key's rate is untouched


def test_another_organisation_cannot_take_the_name_of_a_worker_that_still_holds_tasks(world: World) -> None:
    """A worker gone silent keeps its assignments until the relay hands them on: had another organisation
    taken its name then, its heartbeats would keep the tasks with it (never handed on, never run)."""
    gone, second = "acme-review-gone", "acme-review-second"
    assert _beat(world.acme, gone, lease=2).status_code == 200
    task = json_of(world.acme.post("/v1/tasks", json={"agent_id": AGENT, "prompt": "acme's"}))
    _assigned(world.acme, gone, task["id"])
    assert _beat(world.acme, gone, lease=2, stopping=True).status_code == 200
    answers: list[int] = []
    done = threading.Event()

    def squat() -> None:
        while not done.is_set():
            answers.append(_beat(world.globex, gone, lease=2).status_code)
            done.wait(0.3)

    squatter = threading.Thread(target=squat)
    squatter.start()
    try:
        assert _beat(world.acme, second, lease=30).status_code == 200
        handed_on = _assigned(world.acme, second, task["id"], timeout=10.0)
    finally:
        done.set()
        squatter.join()
    assert handed_on["attempt"] == 2
    assert answers[0] == 409  # (once the task is handed on, the name is free: later beats may be taken)
    world.acme.post(f"/v1/tasks/{task['id']}/cancel")
    _beat(world.acme, second, stopping=True)


def _own_address() -> str | None:
    """This machine's address on its network (not loopback), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # nothing is sent: this only picks the outgoing interface
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_keyless_server_takes_no_forwarded_address_for_a_local_client(tmp_path: Any,
                                                                       servers: ServerStarter) -> None:
    """X-Forwarded-For is believed only from a proxy on this machine, so a remote client cannot make itself
    look local; and a remote client forwarded by a local proxy is remote."""
    address = _own_address()
    if address is None:
        pytest.skip("this machine has no network address but loopback")
    server = servers(str(tmp_path / "keyless.db"), "--host", "0.0.0.0")
    port = server.url.rsplit(":", 1)[1]
    remote = httpx2.Client(base_url=f"http://{address}:{port}", timeout=30.0)
    try:
        for spoofed in ("127.0.0.1", "::1", "127.0.0.1, 127.0.0.1"):
            answer = remote.get("/v1/tasks", headers={"X-Forwarded-For": spoofed})
            assert answer.status_code == 403, (spoofed, answer.text)
    finally:
        remote.close()
    local = server.client()
    assert local.get("/v1/tasks").status_code == 200
    assert local.get("/v1/tasks", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert local.get("/v1/tasks", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}).status_code == 403



def test_each_key_holds_a_bounded_number_of_event_streams(tmp_path: Path) -> None:
    """An event stream reads the database a few times a second for as long as its client keeps it open:
    without a bound, one key's streams take every thread of the server."""
    db = str(tmp_path / "streams.db")
    _, key = create_key(db, "acme")
    _, other_key = create_key(db, "acme")
    port = free_port()
    script = ("import sys; from loopline.server import ServerSettings, run; run(ServerSettings(database=sys.argv[1], "
              "max_streams_per_key=2, relay=False), host='127.0.0.1', port=int(sys.argv[2]))")
    with open(tmp_path / "server.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", script, db, str(port)], stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", proc, tmp_path / "server.log")
    try:
        _wait_healthy(server)
        client, other = server.client(key), server.client(other_key)
        task = json_of(client.post("/v1/tasks", json={"agent_id": "nobody-serves-this", "prompt": "q"}))
        paths = [f"/v1/tasks/{task['id']}/events", "/v1/workers/w/assignments"]
        with contextlib.ExitStack() as held:
            opened = [held.enter_context(client.stream("GET", path)) for path in paths]
            assert [r.status_code for r in opened] == [200, 200]
            for path in paths:
                refused = client.get(path)
                assert refused.status_code == 429, refused.text
                assert "Retry-After" in refused.headers
            with other.stream("GET", paths[0]) as own:  # another key's streams are its own
                assert own.status_code == 200
            opened[0].close()
            assert _opens(client, paths[0]), "a closed stream still counts"
    finally:
        server.stop()


def _wait_healthy(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, server.output()
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(f"{server.url}/v1/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"the server did not answer:\n{server.output()}")


def _opens(client: httpx2.Client, path: str, timeout: float = 10.0) -> bool:
    """Whether a stream opens within `timeout` (the server sees a closed one go at once, or within a poll)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with client.stream("GET", path) as response:
            if response.status_code == 200:
                return True
        time.sleep(0.1)
    return False


def _all_completed(client: httpx2.Client, made: list[dict[str, Any]], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [json_of(client.get(f"/v1/tasks/{t['id']}"))["status"] for t in made]
        if all(s == "COMPLETED" for s in statuses):
            break
        time.sleep(0.5)
    return statuses


_BAIT = {"lease": 60, "agents": ["researcher"], "concurrency": 50}
"""A heartbeat of one organisation's remote worker naming an agent id another organisation's tasks use."""


def test_a_remote_worker_of_one_organisation_does_not_hold_up_anothers_tasks(
        tmp_path: Path, servers: ServerStarter, workers: WorkerStarter) -> None:
    """A remote worker's heartbeat makes the relay follow the queues of the agents it names, and queues are
    per agent id, not per organisation: were the relay to follow one a worker on the database serves, it
    would take other organisations' tasks from it, find no remote worker of theirs, and keep them PENDING
    while that worker sits idle. An id a worker on the database serves stays with the database workers."""
    db = str(tmp_path / "relay.db")
    _, acme_key = create_key(db, "acme")
    _, globex_key = create_key(db, "globex")
    server = servers(db)
    workers(db)  # the scripted `researcher`, on the database, for every organisation
    acme, globex = server.client(acme_key), server.client(globex_key)
    assert globex.post("/v1/workers/globex-relay-bait/heartbeat", json=_BAIT).status_code == 200
    time.sleep(3.0)  # long enough for the relay to follow the queue, were it to
    made = [json_of(acme.post("/v1/tasks", json={"agent_id": "researcher", "prompt": f"q{n}"})) for n in range(12)]
    assert _all_completed(acme, made, 30.0) == ["COMPLETED"] * 12


def test_tasks_the_relay_took_go_back_to_a_database_worker_that_comes_later(
        tmp_path: Path, servers: ServerStarter, workers: WorkerStarter) -> None:
    """With no worker on the database yet, the relay follows the bait's queue and takes another
    organisation's tasks, for which no remote worker of theirs comes: once a database worker serves the
    agent, the relay gives them back to the engine, and that worker runs them."""
    db = str(tmp_path / "relay.db")
    _, acme_key = create_key(db, "acme")
    _, globex_key = create_key(db, "globex")
    server = servers(db)
    acme, globex = server.client(acme_key), server.client(globex_key)
    assert globex.post("/v1/workers/globex-relay-bait/heartbeat", json=_BAIT).status_code == 200
    time.sleep(3.0)  # the relay follows the queue
    made = [json_of(acme.post("/v1/tasks", json={"agent_id": "researcher", "prompt": f"q{n}"})) for n in range(4)]
    time.sleep(2.0)  # the relay has taken them (nothing else serves the agent yet)
    assert {json_of(acme.get(f"/v1/tasks/{t['id']}"))["status"] for t in made} == {"PENDING"}
    workers(db)
    assert _all_completed(acme, made, 30.0) == ["COMPLETED"] * 4
    assert "gave task" in server.output()  # they came back through the relay, not through the queue


def test_a_remote_worker_cannot_take_the_name_of_a_worker_on_the_database_or_a_relay(world: World, db: str) -> None:
    """Their rows say when they died, and other workers recover their tasks when they did: a remote worker's
    heartbeat under such a name (with a lease of up to an hour) would keep them from being recovered.
    Their names are easy to know (`<host>:worker-1`, `relay:<host>:<pid>`; `GET /v1/workers` lists the former)."""
    store = open_store(db)
    try:
        table = task_table(store)
        table.beat("somehost:worker-1", {"lease": 10.0, "agents": ["researcher"]}, at=time.time() - 60)
        table.beat("relay:somehost:4242", {"relay": True, "agents": [], "lease": 10.0}, at=time.time() - 60)
    finally:
        store.close()
    for name in ("somehost:worker-1", "relay:somehost:4242"):
        taken = _beat(world.globex, name, lease=3600)
        assert taken.status_code == 409, (name, taken.text)
    assert _beat(world.globex, "somehost:remote-1", lease=10).status_code == 200  # a name of its own is taken
    _beat(world.globex, "somehost:remote-1", lease=10, stopping=True)
