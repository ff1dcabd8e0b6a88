"""The `/v1` API of a real server process (no keys: a loopback client), on SQLite and on PostgreSQL:
tasks (create, list with filters and cursor, get, cancel, progress, alert, patch, external, trees), their
events as SSE (ids, Last-Event-ID, keep-alive comments, the end after `finished`, follow=false, JSON),
threads, executions, workers, health, readiness, the OpenAPI schema; and a task run to its end by a
real worker process while its events are followed over HTTP from another server process."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from server_helpers import Server, ServerStarter, WorkerStarter, json_of, sse_events

NOBODY = "nobody-serves-this"
"""An agent id no worker serves: its tasks stay PENDING."""
TASK_FIELDS = {"id", "agent_id", "kind", "executor", "status", "input", "thread_id", "execution_id", "result", "error",
               "progress", "current_action", "created_at", "updated_at", "started_at", "finished_at", "usage",
               "cost_usd", "steps", "worker"}


@pytest.fixture(scope="module")
def server(db: str, module_servers: ServerStarter) -> Server:
    return module_servers(db, "--sse-heartbeat", "0.3")


@pytest.fixture(scope="module")
def client(server: Server) -> httpx2.Client:
    return server.client()


def _create(client: httpx2.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/tasks", json={"agent_id": NOBODY, "prompt": "hello", **body})
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def _error_of(response: httpx2.Response) -> tuple[int, str]:
    return response.status_code, json_of(response)["error"]["type"]


def test_health_ready_openapi_and_docs(client: httpx2.Client, server: Server) -> None:
    assert json_of(client.get("/v1/health")) == {"status": "ok"}
    assert json_of(client.get("/v1/ready")) == {"status": "ready"}
    schema = json_of(client.get("/openapi.json"))
    assert {"/v1/tasks", "/v1/tasks/{task_id}/events", "/v1/threads", "/v1/executions/{execution_id}"} <= set(
        schema["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert schema["paths"]["/v1/tasks"]["post"]["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"}
    assert "security" in schema["paths"]["/v1/tasks"]["post"] and "security" not in schema["paths"]["/v1/health"][
        "get"]
    assert _error_of(client.get("/v1/no-such-thing")) == (404, "NotFound")
    assert _error_of(client.delete("/v1/tasks")) == (405, "MethodNotAllowed")
    assert "no API keys: serving loopback clients only" in server.output()


def test_create_get_and_list_with_filters_and_cursor(client: httpx2.Client) -> None:
    agent = f"lister-{time.time_ns()}"
    made = [_create(client, agent_id=agent, prompt=f"task {i}", priority=i) for i in range(5)]
    assert made[0]["status"] == "PENDING" and made[0]["thread_id"].startswith("thr_")
    assert set(made[0]) >= TASK_FIELDS and made[0]["kind"] == "agent"
    assert made[0]["input"] == {"text": "task 0", "file_urls": []}
    assert json_of(client.get(f"/v1/tasks/{made[0]['id']}")) == made[0] | {
        "updated_at": json_of(client.get(f"/v1/tasks/{made[0]['id']}"))["updated_at"]}

    seen: list[str] = []
    cursor = None
    while True:
        page = json_of(client.get("/v1/tasks", params={"agent_id": agent, "limit": 2,
                                                       **({"cursor": cursor} if cursor else {})}))
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in reversed(made)]  # newest first, each once
    by_thread = json_of(client.get("/v1/tasks", params={"thread_id": made[2]["thread_id"]}))["items"]
    assert [t["id"] for t in by_thread] == [made[2]["id"]]
    assert json_of(client.get("/v1/tasks", params={"agent_id": agent, "status": "COMPLETED"}))["items"] == []
    both = client.get("/v1/tasks", params=[("agent_id", agent), ("status", "PENDING"), ("status", "RUNNING")])
    assert len(json_of(both)["items"]) == 5


def test_idempotency_key_returns_the_first_task(client: httpx2.Client) -> None:
    key = f"once-{time.time_ns()}"
    first = _create(client, idempotency_key=key)
    again = _create(client, idempotency_key=key, prompt="another prompt")
    assert again["id"] == first["id"]


def test_progress_alert_patch_cancel_and_their_events(client: httpx2.Client) -> None:
    task = _create(client)
    path = f"/v1/tasks/{task['id']}"
    progressed = json_of(client.post(f"{path}/progress", json={"progress": 0.5, "current_action": "halfway"}))
    assert (progressed["progress"], progressed["current_action"]) == (0.5, "halfway")
    alerted = client.post(f"{path}/alert", json={"message": "careful", "level": "info", "data": {"code": 7}})
    assert (alerted.status_code, alerted.content) == (204, b"")
    patched = json_of(client.patch(path, json={"current_action": "patched", "progress": 0.75}))
    assert (patched["status"], patched["current_action"], patched["progress"]) == ("PENDING", "patched", 0.75)
    cancelled = json_of(client.post(f"{path}/cancel"))
    assert cancelled["status"] == "CANCELLED"

    events = json_of(client.get(f"{path}/events", params={"format": "json"}))["items"]
    assert [(e["id"], e["type"]) for e in events] == [
        (1, "status"), (2, "progress"), (3, "alert"), (4, "status"), (5, "finished")]  # a patch writes no event
    assert events[2]["data"] == {"message": "careful", "level": "info", "code": 7}
    assert events[0] == {"id": 1, "task_id": task["id"], "type": "status", "data": {"status": "PENDING"},
                         "created_at": events[0]["created_at"]}
    assert [e["id"] for e in json_of(client.get(f"{path}/events", params={"format": "json", "after": 3}))[
        "items"]] == [4, 5]

    streamed = list(sse_events(client, f"{path}/events"))  # follows, and ends after `finished`
    assert [(s.id, s.event) for s in streamed] == [(str(e["id"]), e["type"]) for e in events]
    assert [s.json() for s in streamed] == events
    resumed = list(sse_events(client, f"{path}/events", headers={"Last-Event-ID": "3"}))
    assert [s.id for s in resumed] == ["4", "5"]
    header_wins = list(sse_events(client, f"{path}/events?after=1", headers={"Last-Event-ID": "4"}))
    assert [s.id for s in header_wins] == ["5"]
    assert list(sse_events(client, f"{path}/events", headers={"Last-Event-ID": "5"})) == []

    refused = client.patch(path, json={"status": "COMPLETED"})
    assert refused.status_code == 409 and refused.json()["error"]["type"] == "UsageError"
    not_paused = client.post(f"{path}/resume")
    assert not_paused.status_code == 409 and "not PAUSED" in not_paused.json()["error"]["message"]


def test_a_live_stream_sends_keepalives_and_what_is_stored_now_without_follow(client: httpx2.Client) -> None:
    task = _create(client)
    path = f"/v1/tasks/{task['id']}/events"
    assert [s.id for s in sse_events(client, f"{path}?follow=false")] == ["1"]
    lines: list[str] = []
    events: list[str] = []

    def progress_later() -> None:
        deadline = time.monotonic() + 30
        while lines.count(": keepalive") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        client.post(f"/v1/tasks/{task['id']}/progress", json={"progress": 0.2})
        time.sleep(0.2)
        client.post(f"/v1/tasks/{task['id']}/cancel")

    helper = threading.Thread(target=progress_later)
    helper.start()
    for event in sse_events(client, path, on_line=lines.append):
        events.append(event.event)
    helper.join()
    assert events == ["status", "progress", "status", "finished"]
    assert lines.count(": keepalive") >= 2  # quiet, with a heartbeat every 0.3 s


def test_external_tasks_and_trees(client: httpx2.Client) -> None:
    reported = client.post("/v1/tasks/external", json={"agent_id": "elsewhere", "input": "done there", "result": {
        "n": 1}, "duration": 2.5, "used_tools": ["search"]})
    assert reported.status_code == 201, reported.text
    external = reported.json()
    assert (external["status"], external["result"], external["source"]) == ("COMPLETED", {"n": 1}, "external")
    again = client.post("/v1/tasks/external", json={"agent_id": "elsewhere", "id": external["id"]})
    assert again.status_code == 400 and again.json()["error"]["field"] == "id"

    made = client.post("/v1/trees", json={"name": "two steps", "nodes": [
        {"id": "a", "agent_id": NOBODY, "prompt": "first"},
        {"id": "b", "agent_id": NOBODY, "prompt": "second", "dependencies": ["a"]}]})
    assert made.status_code == 201, made.text
    root = made.json()
    assert (root["kind"], root["status"]) == ("tree", "RUNNING")
    nodes = json_of(client.get(f"/v1/tasks/{root['id']}/tree"))["nodes"]
    assert sorted(nodes) == ["a", "b"] and nodes["a"]["status"] == "PENDING"
    not_tree = client.get(f"/v1/tasks/{external['id']}/tree")
    assert not_tree.status_code == 409
    bad = client.post("/v1/trees", json={"nodes": [{"id": "a", "agent_id": NOBODY, "prompt": "x",
                                                    "dependencies": ["zz"]}]})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "a.dependencies"


def test_threads_of_tasks_and_their_messages(client: httpx2.Client) -> None:
    task = _create(client)
    thread = json_of(client.get(f"/v1/threads/{task['thread_id']}"))
    assert thread == {"id": task["thread_id"], "created_at": thread["created_at"], "updated_at": thread["updated_at"],
                      "length": 0, "metadata": {"task_id": task["id"]}, "parent_thread_id": None}
    assert task["thread_id"] in [t["id"] for t in json_of(client.get("/v1/threads", params={"limit": 500}))["items"]]
    assert json_of(client.get(f"/v1/threads/{task['thread_id']}/messages")) == {"items": []}
    continued = _create(client, thread_id=task["thread_id"], prompt="more")
    assert continued["thread_id"] == task["thread_id"]
    unknown = client.get("/v1/threads/thr_unknown")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "UnknownThreadError"


@pytest.fixture
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP port on 127.0.0.1 that records every connection made to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.1)
    got: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            got.append(conn.recv(1000))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/file.pdf", got
    stop.set()
    thread.join()
    sock.close()


def test_file_urls_are_stored_and_never_fetched_by_the_server(client: httpx2.Client,
                                                              listener: tuple[str, list[bytes]]) -> None:
    url, connections = listener
    task = _create(client, file_urls=[url], prompt="")
    assert json_of(client.get(f"/v1/tasks/{task['id']}"))["input"] == {"text": "", "file_urls": [url]}
    time.sleep(0.5)
    assert connections == []


def test_a_worker_runs_a_task_made_over_http_while_another_server_streams_it(
        db: str, server: Server, servers: ServerStarter, workers: WorkerStarter) -> None:
    """Two server processes on one database serve the same tasks: one creates, the other streams and
    shows the execution a real worker process ran."""
    workers(db)
    other = servers(db).client()
    assert ["researcher" in w["agents"] for w in json_of(other.get("/v1/workers"))["items"]] == [True]
    task = json_of(server.client().post("/v1/tasks", json={"agent_id": "researcher", "prompt": "paris"}))
    events = list(sse_events(other, f"/v1/tasks/{task['id']}/events", timeout=120))
    kinds = [e.event for e in events]
    assert kinds[0] == "status" and kinds[-1] == "finished" and "tool_call" in kinds
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
    assert events[-1].json()["data"]["status"] == "COMPLETED"

    done = json_of(other.get(f"/v1/tasks/{task['id']}"))
    assert (done["status"], done["result"]) == ("COMPLETED", "answer to paris")
    execution = json_of(other.get(f"/v1/executions/{done['execution_id']}"))
    assert (execution["status"], execution["thread_id"], execution["agent_name"]) == (
        "COMPLETED", task["thread_id"], "researcher")
    calls = json_of(other.get(f"/v1/executions/{done['execution_id']}/tool_calls"))["items"]
    assert [(c["name"], c["status"], c["is_error"]) for c in calls] == [
        ("lookup", "finished", False), ("lookup", "finished", False), ("finish", "finished", False)]
    assert json.loads(calls[0]["arguments"]) == {"query": "paris#0"} and calls[0]["result"] == "found paris#0"
    messages = json_of(other.get(f"/v1/executions/{done['execution_id']}/messages"))["items"]
    assert messages[0]["role"] == "user" and messages == json_of(other.get(
        f"/v1/threads/{task['thread_id']}/messages"))["items"]
    listed = json_of(other.get("/v1/executions", params={"thread_id": task["thread_id"]}))["items"]
    assert [(e["id"], e["status"]) for e in listed] == [(done["execution_id"], "COMPLETED")]
    assert set(listed[0]) == {"id", "thread_id", "agent_name", "status", "input", "created_at", "updated_at",
                              "parent_execution_id", "steps", "tool_calls", "usage", "cost_usd", "error"}


def test_a_stopping_server_ends_its_open_event_streams(db: str, servers: ServerStarter) -> None:
    """uvicorn waits for open connections to end when it stops: a stream that follows a task must end
    by itself, or one open stream would hold the server (the client resumes elsewhere)."""
    own = servers(db)
    client = own.client()
    task = _create(client)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(
        e.event for e in sse_events(client, f"/v1/tasks/{task['id']}/events", timeout=60)))
    reader.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    own.proc.terminate()
    own.proc.wait(timeout=5)  # the bound: a few seconds, not the stream's 60 s
    reader.join(timeout=5)
    assert not reader.is_alive() and seen == ["status"]


def test_open_streams_do_not_hold_up_other_requests(client: httpx2.Client) -> None:
    """Streams wait without blocking the event loop: with 30 of them open, requests are still answered,
    and every stream ends with its task."""
    tasks = [_create(client) for _ in range(30)]
    finished: list[str] = []
    readers = [threading.Thread(target=lambda t=t: finished.extend(
        e.event for e in sse_events(client, f"/v1/tasks/{t['id']}/events") if e.event == "finished"))
        for t in tasks]
    for reader in readers:
        reader.start()
    time.sleep(1.0)
    assert client.get("/v1/health", timeout=5).status_code == 200  # the bound: answered at all, within 5 s
    assert client.get(f"/v1/tasks/{tasks[0]['id']}", timeout=5).status_code == 200
    for task in tasks:
        client.post(f"/v1/tasks/{task['id']}/cancel")
    for reader in readers:
        reader.join(timeout=30)
    assert finished == ["finished"] * 30
