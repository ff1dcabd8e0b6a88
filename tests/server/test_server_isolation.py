"""Who may see what: every request acts for its API key's organisation, and another organisation's task,
thread or execution answers 404 exactly as an id that does not exist, on every endpoint that takes one
(a test fails when a new /v1 route with an id is not in the list). Keys: 401 without a valid one,
403 for another organisation's header; never in the server's output. Without keys: loopback only."""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.routing import iter_route_contexts
from server_helpers import Server, ServerStarter, cli, create_key, finished_execution, json_of, two_organisations

from loopline.server import ServerSettings, create_app

NOBODY = "nobody-serves-this"

FOREIGN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/tasks/{task_id}", None),
    ("POST", "/v1/tasks/{task_id}/cancel", None),
    ("POST", "/v1/tasks/{task_id}/resume", None),
    ("POST", "/v1/tasks/{task_id}/progress", {"progress": 0.5, "current_action": "foreign"}),
    ("POST", "/v1/tasks/{task_id}/alert", {"message": "foreign"}),
    ("PATCH", "/v1/tasks/{task_id}", {"status": "CANCELLED"}),
    ("GET", "/v1/tasks/{task_id}/tree", None),
    ("GET", "/v1/tasks/{task_id}/events", None),
    ("GET", "/v1/threads/{thread_id}", None),
    ("GET", "/v1/threads/{thread_id}/messages", None),
    ("GET", "/v1/executions/{execution_id}", None),
    ("GET", "/v1/executions/{execution_id}/messages", None),
    ("GET", "/v1/executions/{execution_id}/tool_calls", None),
    ("GET", "/v1/workers/{worker_id}/tasks/{task_id}", None),
    ("GET", "/v1/workers/{worker_id}/tasks/{task_id}/earlier", None),
    ("PUT", "/v1/workers/{worker_id}/tasks/{task_id}", {"attempt": 1, "record": {}, "expected_updated_at": 0}),
    ("POST", "/v1/workers/{worker_id}/tasks/{task_id}/events", {"attempt": 1, "events": []}),
    ("POST", "/v1/workers/{worker_id}/tasks/{task_id}/result", {"attempt": 1, "status": "COMPLETED"}),
]
"""Every /v1 route that takes an id in its path, and a body it accepts."""
NAMED_BY_THE_CALLER = {("POST", "/v1/workers/{worker_id}/heartbeat"), ("GET", "/v1/workers/{worker_id}/assignments"),
                       ("POST", "/v1/workers/{worker_id}/store")}
"""Routes whose only id is the name a remote worker gives itself (nothing is looked up by it); what their
calls reach is checked per organisation in test_remote_workers*.py."""
UNKNOWN = {"task_id": "task_000000000000000000000000", "thread_id": "thr_000000000000000000000000",
           "execution_id": "exe_000000000000000000000000"}
"""The ids whose owner is checked, each of a shape the server accepts and of nothing stored."""
CALLERS_OWN = {"worker_id": "globex-worker"}
"""Other ids a route's path may hold, filled in the same for the foreign and the unknown request."""


@dataclass
class World:
    server: Server
    acme: httpx2.Client
    globex: httpx2.Client
    ids: dict[str, str]
    """acme's: task_id (PENDING), tree_id, thread_id, execution_id."""
    keys: list[str]


@pytest.fixture(scope="module")
def world(db: str, module_servers: ServerStarter) -> World:
    server, acme, globex, keys = two_organisations(db, module_servers)
    task = json_of(acme.post("/v1/tasks", json={"agent_id": NOBODY, "prompt": "acme's secret plan"}))
    tree = json_of(acme.post("/v1/trees", json={"nodes": [{"id": "a", "agent_id": NOBODY, "prompt": "x"}]}))
    ids = {"task_id": task["id"], "tree_id": tree["id"], "thread_id": task["thread_id"],
           "execution_id": finished_execution(db, task["thread_id"])}
    return World(server, acme, globex, ids, keys)


def _call(client: httpx2.Client, method: str, template: str, ids: dict[str, str],
          body: dict[str, Any] | None) -> httpx2.Response:
    path = template.format(**CALLERS_OWN, **ids)
    return client.request(method, path, **({"json": body} if body is not None else {}),
                          params={"follow": "false"} if path.endswith("/events") else None)


@pytest.mark.parametrize(("method", "template", "body"), FOREIGN_ROUTES, ids=[f"{m} {p}" for m, p, _ in FOREIGN_ROUTES])
def test_another_organisations_id_answers_exactly_as_an_unknown_one(world: World, method: str, template: str,
                                                                    body: dict[str, Any] | None) -> None:
    real = {**world.ids, "task_id": world.ids["tree_id" if template.endswith("/tree") else "task_id"]}
    foreign = _call(world.globex, method, template, real, body)
    unknown = _call(world.globex, method, template, UNKNOWN, body)
    assert foreign.status_code == unknown.status_code == 404, (foreign.text, unknown.text)
    name = next(k for k in UNKNOWN if "{" + k + "}" in template)
    assert foreign.json() == json_of(unknown) | {"error": {
        **unknown.json()["error"], "message": unknown.json()["error"]["message"].replace(UNKNOWN[name], real[name])}}
    assert foreign.headers.get("content-type") == unknown.headers.get("content-type")
    if method == "GET":  # the id is real: its own organisation reads it
        assert _call(world.acme, method, template, real, body).status_code == 200


def test_foreign_requests_changed_nothing(world: World) -> None:
    """After every foreign call above (cancel, progress, alert, patch...), acme's task is as it was."""
    task = json_of(world.acme.get(f"/v1/tasks/{world.ids['task_id']}"))
    assert (task["status"], task["progress"], task["current_action"]) == ("PENDING", None, None)
    events = json_of(world.acme.get(f"/v1/tasks/{world.ids['task_id']}/events", params={"format": "json"}))
    assert [e["type"] for e in events["items"]] == ["status"]


def test_every_v1_route_with_an_id_is_checked_with_a_foreign_id(tmp_path: Path) -> None:
    with_ids = {(method, path) for method, path in _v1_routes(tmp_path) if "{" in path}
    listed = {(method, template) for method, template, _ in FOREIGN_ROUTES}
    unchecked = with_ids - listed - NAMED_BY_THE_CALLER
    assert unchecked == set(), "add these routes to FOREIGN_ROUTES (with a body they accept)"
    assert listed - with_ids == set()


def _v1_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """Every (method, path) under /v1 of the application, its included routers' too."""
    app = create_app(ServerSettings(database=str(tmp_path / "routes.db")))
    return {(method, route.path) for route in iter_route_contexts(app.routes)
            if route.path and route.path.startswith("/v1/") for method in route.methods or ()}


def test_every_v1_route_but_health_needs_a_key(world: World, tmp_path: Path) -> None:
    """Whoever adds a route: it answers 401 without a key, before anything else happens."""
    routes = sorted(_v1_routes(tmp_path) - {("GET", "/v1/health"), ("HEAD", "/v1/health")})
    assert len(routes) >= len(FOREIGN_ROUTES) + 5
    for method, template in routes:
        path = re.sub(r"\{[a-z_]+\}", "x_1", template)
        response = httpx2.request(method, f"{world.server.url}{path}", json={} if method in ("POST", "PATCH", "PUT")
                                  else None, timeout=10)
        assert response.status_code == 401, (method, template, response.text)


def test_lists_and_filters_show_only_the_callers_organisation(world: World) -> None:
    mine = {world.ids["task_id"], world.ids["tree_id"]}
    assert mine <= {t["id"] for t in json_of(world.acme.get("/v1/tasks", params={"limit": 500}))["items"]}
    assert mine & {t["id"] for t in json_of(world.globex.get("/v1/tasks", params={"limit": 500}))["items"]} == set()
    by_thread = world.globex.get("/v1/tasks", params={"thread_id": world.ids["thread_id"]})
    assert json_of(by_thread)["items"] == []
    assert world.ids["thread_id"] in {t["id"] for t in json_of(world.acme.get("/v1/threads"))["items"]}
    assert world.ids["thread_id"] not in {t["id"] for t in json_of(world.globex.get("/v1/threads"))["items"]}
    assert world.ids["execution_id"] in {e["id"] for e in json_of(world.acme.get("/v1/executions"))["items"]}
    assert json_of(world.globex.get("/v1/executions"))["items"] == []
    assert json_of(world.globex.get("/v1/executions", params={"thread_id": world.ids["thread_id"]}))["items"] == []


@pytest.mark.parametrize("endpoint", ["/v1/tasks", "/v1/tasks/external"])
def test_another_organisations_thread_cannot_be_continued(world: World, endpoint: str) -> None:
    before = json_of(world.globex.get("/v1/tasks", params={"limit": 500}))["items"]
    body = {"agent_id": NOBODY, "thread_id": world.ids["thread_id"],
            **({"prompt": "take over"} if endpoint == "/v1/tasks" else {"input": "take over"})}
    refused = world.globex.post(endpoint, json=body)
    assert refused.status_code == 404 and refused.json()["error"]["type"] == "UnknownThreadError"
    assert json_of(world.globex.get("/v1/tasks", params={"limit": 500}))["items"] == before
    thread = json_of(world.acme.get(f"/v1/threads/{world.ids['thread_id']}"))
    assert json_of(world.acme.get("/v1/tasks", params={"thread_id": thread["id"]}))["items"][0]["id"] == world.ids[
        "task_id"]


def test_keys_are_required_checked_and_never_printed(world: World, db: str) -> None:
    url = world.server.url
    no_key = httpx2.get(f"{url}/v1/tasks")
    assert no_key.status_code == 401 and no_key.json()["error"]["field"] == "Authorization"
    bad = httpx2.get(f"{url}/v1/tasks", headers={"Authorization": f"Bearer {world.keys[0][:-1]}x"})
    assert bad.status_code == 401
    assert httpx2.get(f"{url}/v1/tasks", headers={"X-API-Key": world.keys[0]}).status_code == 200
    same_org = httpx2.get(f"{url}/v1/tasks", headers={"X-API-Key": world.keys[0], "X-Loopline-Organization": "acme"})
    assert same_org.status_code == 200
    other_org = httpx2.get(f"{url}/v1/tasks", headers={"X-API-Key": world.keys[0],
                                                       "X-Loopline-Organization": "globex"})
    assert other_org.status_code == 403 and other_org.json()["error"]["field"] == "X-Loopline-Organization"
    assert httpx2.get(f"{url}/v1/health").status_code == 200  # the one route without a key

    assert world.globex.get("/v1/tasks").status_code == 200
    used = json.loads(cli("keys", "list", "--db", db, "--json").stdout)["keys"]
    assert [k["last_used_at"] is not None for k in used[:2]] == [True, True]

    key_id, key = create_key(db, "acme", "short-lived")
    assert httpx2.get(f"{url}/v1/tasks", headers={"X-API-Key": key}).status_code == 200
    assert cli("keys", "revoke", key_id, "--db", db).returncode == 0
    assert httpx2.get(f"{url}/v1/tasks", headers={"X-API-Key": key}).status_code == 401  # at once

    output = world.server.output()
    assert "API keys: 2 live (0 revoked) for 2 organisation(s); every request needs one" in output
    assert "GET /v1/tasks" in output  # the access log is on
    for secret in [*world.keys, key]:
        assert secret not in output and secret[16:] not in output


def _outward_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # sends nothing: picks the interface a packet would leave by
            address = str(sock.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_server_without_keys_serves_only_loopback_clients(tmp_path: Path, servers: ServerStarter) -> None:
    server = servers(str(tmp_path / "keyless.db"), "--host", "0.0.0.0")
    port = server.url.rsplit(":", 1)[1]
    local = httpx2.Client(base_url=f"http://127.0.0.1:{port}")
    try:
        made = json_of(local.post("/v1/tasks", json={"agent_id": NOBODY, "prompt": "x"},
                                  headers={"X-Loopline-Organization": "acme"}))
        assert made["organization_id"] == "acme"
        assert local.get(f"/v1/tasks/{made['id']}").status_code == 404  # the default organisation is ""
        assert local.get(f"/v1/tasks/{made['id']}", headers={"X-Loopline-Organization": "acme"}).status_code == 200
        assert local.get(f"/v1/threads/{made['thread_id']}").status_code == 200  # "" sees every thread
        address = _outward_address()
        if address is None:
            pytest.skip("this machine has no address but loopback to test a remote client from")
        remote = httpx2.get(f"http://{address}:{port}/v1/tasks")
        assert remote.status_code == 403
        assert "clients on its own machine only" in remote.json()["error"]["message"]
    finally:
        local.close()
