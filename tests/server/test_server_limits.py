"""Bad input gets a 4xx whose JSON body names the field, and a refused request writes nothing: bodies
over the cap (declared, or chunked without a length), malformed JSON, unknown fields, values of the
wrong type, an invalid `output_schema`, ids of the wrong shape. Each key (without keys, each client
address) has a request rate, past which the server answers 429 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from server_helpers import Server, ServerStarter, create_key, json_of

from loopline.store import open_store, task_table

NOBODY = "nobody-serves-this"
CAP = 4096


@pytest.fixture(scope="module")
def server(db: str, module_servers: ServerStarter) -> Server:
    return module_servers(db, "--max-body-bytes", str(CAP), "--rate", "0")


@pytest.fixture(scope="module")
def client(server: Server) -> httpx2.Client:
    return server.client()


def _stored(db: str) -> tuple[int, int]:
    """How many tasks and threads the database holds."""
    store = open_store(db)
    try:
        tasks = task_table(store).list(organization_id=None, limit=10_000)
        return len(tasks), len(store.list_threads(limit=10_000))
    finally:
        store.close()


def _error(response: httpx2.Response) -> tuple[int, str | None]:
    body = json_of(response)
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "field"}, body
    return response.status_code, body["error"]["field"]


GOOD = {"agent_id": NOBODY, "prompt": "fine"}
BAD_CREATES: list[tuple[str, Any, int, str | None]] = [
    ("unknown field", {**GOOD, "prioriti": 3}, 422, "body.prioriti"),
    ("wrong type", {**GOOD, "priority": "5"}, 422, "body.priority"),
    ("not an object", ["agent_id"], 422, "body"),
    ("invalid output_schema", {**GOOD, "output_format": "json", "output_schema": {"type": "bogus"}}, 400,
     "output_schema"),
    ("output_schema of the wrong type", {**GOOD, "output_schema": "a schema"}, 422, "body.output_schema"),
    ("priority out of range", {**GOOD, "priority": 10**9}, 400, "priority"),
    ("agent id of the wrong shape", {**GOOD, "agent_id": "two words"}, 400, "agent_id"),
    ("agent and executor", {**GOOD, "executor": "x"}, 400, "agent_id"),
    ("inputs without an executor", {**GOOD, "inputs": {"a": 1}}, 400, "inputs"),
    ("unknown executor", {"executor": "no-such-executor", "inputs": {}}, 400, "executor"),
    ("file url that is not http", {**GOOD, "file_urls": ["file:///etc/passwd"]}, 400, "file_urls[0]"),
    ("empty prompt", {**GOOD, "prompt": " "}, 400, "prompt"),
    ("unknown thread", {**GOOD, "thread_id": "thr_000000000000000000000000"}, 404, None),
    ("bad config", {**GOOD, "config": {"max_stepz": 3}}, 400, "config"),
    ("bad output_format", {**GOOD, "output_format": "yaml"}, 400, "output_format"),
    ("no live worker for require_worker", {**GOOD, "require_worker": True}, 503, None),
]


@pytest.mark.parametrize("case", BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_a_refused_create_names_the_field_and_stores_nothing(client: httpx2.Client, db: str,
                                                             case: tuple[str, Any, int, str | None]) -> None:
    _, body, status, field = case
    before = _stored(db)
    assert _error(client.post("/v1/tasks", json=body)) == (status, field)
    assert _stored(db) == before


def test_malformed_json_and_bodies_that_are_not_json(client: httpx2.Client, db: str) -> None:
    before = _stored(db)
    broken = client.post("/v1/tasks", content=b'{"agent_id": "x",', headers={"Content-Type": "application/json"})
    assert _error(broken) == (422, "body")
    assert "not valid JSON" in broken.json()["error"]["message"]
    assert _error(client.post("/v1/tasks", content=b"agent_id=x", headers={"Content-Type": "text/plain"})) == (
        415, "Content-Type")
    assert _error(client.post("/v1/tasks", content=b'{"agent_id": "x"}')) == (415, "Content-Type")
    assert _stored(db) == before
    made = json_of(client.post("/v1/tasks", json=GOOD))
    assert client.post(f"/v1/tasks/{made['id']}/cancel").status_code == 200  # no body: no Content-Type needed


def test_bodies_over_the_cap_are_refused_while_read(client: httpx2.Client, db: str) -> None:
    before = _stored(db)
    big = {**GOOD, "prompt": "x" * CAP}
    declared = client.post("/v1/tasks", json=big)
    assert _error(declared) == (413, "body")
    assert "Content-Length" in declared.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:
        yield b'{"agent_id": "nobody-serves-this", "prompt": "'
        for _ in range(20):
            yield b"y" * 1000
        yield b'"}'

    chunked = client.post("/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert _error(chunked) == (413, "body")
    assert _stored(db) == before
    just_under = client.post("/v1/tasks", json={**GOOD, "prompt": "z" * (CAP - 100)})
    assert just_under.status_code == 201


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/tasks/two%20words", "task_id"), (f"/v1/tasks/{'t' * 201}/events", "task_id"),
    ("/v1/threads/thr%21x/messages", "thread_id"), ("/v1/executions/exe%24", "execution_id")])
def test_ids_of_the_wrong_shape(client: httpx2.Client, path: str, field: str) -> None:
    assert _error(client.get(path)) == (400, field)


@pytest.mark.parametrize("case", [
    ("/v1/tasks", {"cursor": "not-a-cursor"}, {}, 400, "cursor"),
    ("/v1/tasks", {"limit": "0"}, {}, 400, "limit"),
    ("/v1/tasks", {"limit": "many"}, {}, 422, "query.limit"),
    ("/v1/tasks", {"status": "DONE"}, {}, 400, "status"),
    ("/v1/executions", {"status": "DONE"}, {}, 400, "status"),
    ("/v1/threads", {"cursor": "bm9wZQ=="}, {}, 400, "cursor"),
    ("/v1/tasks", {}, {"X-Loopline-Organization": "two words"}, 400, "X-Loopline-Organization"),
    ("/v1/tasks", {}, {"Authorization": "Basic abc"}, 401, "Authorization"),
])
def test_bad_query_values_and_headers(client: httpx2.Client,
                                      case: tuple[str, dict[str, str], dict[str, str], int, str]) -> None:
    path, params, headers, status, field = case
    assert _error(client.get(path, params=params, headers=headers)) == (status, field)


def test_bad_event_positions(client: httpx2.Client) -> None:
    task = json_of(client.post("/v1/tasks", json=GOOD))
    path = f"/v1/tasks/{task['id']}/events"
    assert _error(client.get(path, headers={"Last-Event-ID": "seven"})) == (400, "Last-Event-ID")
    assert _error(client.get(path, params={"after": "-1"})) == (400, "after")
    assert _error(client.post(f"/v1/tasks/{task['id']}/progress", json={"progress": 2})) == (400, "progress")
    assert _error(client.post(f"/v1/tasks/{task['id']}/alert", json={"message": "m", "data": {"level": "x"}})) == (
        400, "data")
    assert _error(client.patch(f"/v1/tasks/{task['id']}", json={"status": "DONE"})) == (400, "status")


def test_each_key_has_its_own_rate(tmp_path: Any, servers: ServerStarter) -> None:
    db = str(tmp_path / "rate.db")
    _, first = create_key(db, "acme")
    _, second = create_key(db, "acme")
    server = servers(db, "--rate", "1", "--burst", "3")
    a, b = server.client(first), server.client(second)
    assert [a.get("/v1/tasks").status_code for _ in range(3)] == [200, 200, 200]
    limited = a.get("/v1/tasks")
    assert _error(limited) == (429, None)
    assert limited.headers["Retry-After"] == "1"
    assert b.get("/v1/tasks").status_code == 200  # another key is not held back
    time.sleep(float(limited.headers["Retry-After"]))
    assert a.get("/v1/tasks").status_code == 200


def test_without_keys_each_client_address_has_a_rate(tmp_path: Any, servers: ServerStarter) -> None:
    server = servers(str(tmp_path / "keyless.db"), "--rate", "0.5", "--burst", "2")
    client = server.client()
    codes = [client.get("/v1/tasks").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.get("/v1/health").status_code == 200  # health is never limited
