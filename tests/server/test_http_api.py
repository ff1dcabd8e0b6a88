"""The HTTP client every caller of a loopline server shares (`loopline._http_api`), as the remote `Tasks`
and the remote worker use it: the same headers from the same settings, the same retries of what the
server did not act on, and each side's own errors for a failed call. Against a small real HTTP server on
127.0.0.1 that answers from a script."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from loopline._http_api import Connection, ErrorAnswer
from loopline.errors import (
    ConcurrentUpdateError,
    RemoteServerError,
    StoreUnavailableError,
    TaskReassignedError,
    UnknownThreadError,
    UsageError,
)
from loopline.tasks import Tasks
from loopline.workers._remote_http import ServerCalls

KEY = "ll_0123456789ab_" + "s" * 43


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next (status, body, headers) of `script`; remembers what came."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Scripted

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        status, answer, headers = self.server.script.pop(0)
        data = answer if isinstance(answer, bytes) else (b"" if answer is None else json.dumps(answer).encode())
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def _error(kind: str, message: str, **more: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "field": None, **more}}


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_the_client_and_the_worker_send_the_same_headers_from_the_same_settings(
        server: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPLINE_API_KEY", KEY)
    monkeypatch.setenv("LOOPLINE_ORGANIZATION_ID", "acme")
    server.script = [(200, {"items": [], "next_cursor": None}, {}), (200, {"ok": True}, {})]
    remote = Tasks(base_url=server.url + "/")
    try:
        assert list(remote.list()) == []
    finally:
        remote.close()
    connection = Connection.configured(server.url + "/")
    assert connection is not None and KEY not in repr(connection)
    calls = ServerCalls(connection)
    try:
        assert calls.call("POST", "/v1/workers/w/heartbeat", {"n": 1}) == {"ok": True}
    finally:
        calls.close()
    (_, _, client, _), (_, path, worker, body) = server.seen
    for headers in (client, worker):
        assert headers["Authorization"] == f"Bearer {KEY}" and headers["X-Loopline-Organization"] == "acme"
    assert path == "/v1/workers/w/heartbeat" and json.loads(body) == {"n": 1}


def test_a_worker_call_over_the_rate_is_sent_again_after_retry_after(server: Scripted) -> None:
    server.script = [(429, _error("RateLimited", "slow down"), {"Retry-After": "0"}),
                     (503, _error("Unavailable", "starting"), {"Retry-After": "0"}),
                     (200, {"value": 1}, {})]
    calls = ServerCalls(Connection(server.url))
    try:
        assert calls.call("GET", "/v1/workers/w/tasks/t") == {"value": 1}
    finally:
        calls.close()
    assert len(server.seen) == 3


def test_a_worker_reads_a_failed_call_as_its_local_twin_would_fail(server: Scripted) -> None:
    server.script = [
        (409, _error("TaskReassignedError", "task t is not worker w's", id="task_1"), {}),
        (409, _error("ConcurrentUpdateError", "someone wrote", id="thread_1"), {}),
        (404, _error("UnknownThreadError", "no thread with id 'thread_9'"), {}),
        (503, _error("StoreUnavailableError", "the database is down"), {}),
        (502, b"<html>bad gateway</html>", {}),
    ]
    calls = ServerCalls(Connection(server.url))
    try:
        with pytest.raises(TaskReassignedError) as reassigned:
            calls.call("PUT", "/v1/workers/w/tasks/task_1", {})
        with pytest.raises(ConcurrentUpdateError) as concurrent:
            calls.call("POST", "/v1/workers/w/store", {})
        with pytest.raises(UnknownThreadError) as unknown:
            calls.call("POST", "/v1/workers/w/store", {})
        with pytest.raises(StoreUnavailableError):  # a named 503 is not retried: the runner waits
            calls.call("POST", "/v1/workers/w/store", {})
        with pytest.raises(StoreUnavailableError, match="bad gateway"):
            calls.call("POST", "/v1/workers/w/store", {})
    finally:
        calls.close()
    assert reassigned.value.task_id == "task_1" and concurrent.value.thread_id == "thread_1"
    assert unknown.value.thread_id == "thread_9" and len(server.seen) == 5


def test_a_worker_that_cannot_connect_learns_it_at_once_the_client_retries() -> None:
    calls = ServerCalls(Connection(_closed_port()))
    try:
        with pytest.raises(StoreUnavailableError, match="could not be reached"):
            calls.call("GET", "/v1/workers/w/tasks/t")
    finally:
        calls.close()


def test_a_body_that_is_not_json_gives_its_text_to_the_client_error(server: Scripted) -> None:
    server.script = [(500, b"upstream exploded", {})]
    remote = Tasks(base_url=server.url, api_key=KEY)
    try:
        with pytest.raises(RemoteServerError, match="upstream exploded"):
            remote.get("task_1")
    finally:
        remote.close()


def test_an_error_answer_is_read_whatever_of_it_came() -> None:
    assert ErrorAnswer.parse(409, None) == ErrorAnswer(409)
    assert ErrorAnswer.parse(400, {"error": "odd"}) == ErrorAnswer(400)
    full = ErrorAnswer.parse(409, _error("TaskReassignedError", "m", id="task_1"))
    assert (full.type, full.message, full.id, full.field) == ("TaskReassignedError", "m", "task_1", None)


def test_a_base_url_that_is_not_http_is_refused_alike_by_the_client_and_the_worker() -> None:
    with pytest.raises(UsageError, match="http:// or https://") as client:
        Tasks(base_url="ftp://host")
    with pytest.raises(UsageError, match="http:// or https://") as worker:
        Connection.configured("ftp://host")
    assert str(client.value) == str(worker.value)
