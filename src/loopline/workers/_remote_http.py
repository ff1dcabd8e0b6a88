"""A remote worker's calls to a loopline server, on the client every caller of the server shares
(`loopline._http_api`: the connection and its headers, retries of what the server did not act on), with
the worker's own reading of a failed call, so what is built on it (the HTTP store, the assigned tasks'
rows, the heartbeat) fails like its local twin: a server out of reach is `StoreUnavailableError` (the
worker waits and runs the task on from what was committed), a refused report `TaskReassignedError`."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx2

from .._http_api import Connection, ErrorAnswer, Outcome, RetryPolicy, api_request, call, exchange, json_body
from ..errors import (
    ConcurrentUpdateError,
    ExecutionClaimedError,
    InvalidInputError,
    LooplineError,
    MemoryValueError,
    StoreError,
    StoreUnavailableError,
    TaskReassignedError,
    UnknownExecutionError,
    UnknownTaskError,
    UnknownThreadError,
    UsageError,
)

__all__ = ["Connection", "ServerCalls", "error_from"]

_TIMEOUT = httpx2.Timeout(30.0, connect=5.0).as_dict()
_POLICY = RetryPolicy(retries=4, base_delay=0.5, max_delay=30.0, max_retry_after=30.0, connect_retries=0)
"""A request over the key's rate (429) was not served: it is sent again after the `Retry-After` the server
asked for, four times before it counts as a passing fault. A connection that fails is one at once (the
runner waits for the server and carries on)."""


class ServerCalls:
    """JSON calls to the server, from any thread (one connection pool per thread: the event loop's and
    the heartbeat's calls never wait on each other)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._local = threading.local()
        self._clients: list[httpx2.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx2.Client:
        client: httpx2.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx2.Client(trust_env=False)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None) -> Any:
        """The answer's JSON (None for an empty one); errors as loopline's (`error_from`)."""
        request = api_request(self.connection, method, path, params=params, body=body, timeout=_TIMEOUT)
        return call(exchange(request, _POLICY, self._fail), self._client().send)

    def _fail(self, outcome: Outcome) -> LooplineError:
        server = self.connection.base_url
        if isinstance(outcome, httpx2.TransportError):
            return StoreUnavailableError(f"the loopline server {server} could not be reached "
                                         f"({type(outcome).__name__}: {outcome})", store=server)
        return error_from(outcome.status_code, json_body(outcome), server)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


def _quoted_id(message: str) -> str:
    """The id an unknown-id error names in its message (`no task with id 'task_...'`)."""
    found = re.search(r"with id '([^']*)'", message)
    return found.group(1) if found else ""


def error_from(status: int, body: Any, server: str) -> LooplineError:
    """The loopline error a server's error answer stands for, to a worker."""
    answer = ErrorAnswer.parse(status, body)
    kind, message = answer.type, answer.message or f"HTTP {status}"
    item = answer.id or _quoted_id(message)
    if status >= 500 or status == 429:
        return StoreUnavailableError(f"the loopline server {server} answered {status}: {message}", store=server)
    if status in (401, 403):
        return UsageError(f"the loopline server {server} refused this worker ({status}: {message}): check its "
                          "api_key (LOOPLINE_API_KEY) and organization_id (LOOPLINE_ORGANIZATION_ID)")
    known: dict[str, LooplineError] = {
        "UnknownThreadError": UnknownThreadError(item), "UnknownExecutionError": UnknownExecutionError(item),
        "UnknownTaskError": UnknownTaskError(item),
        "ConcurrentUpdateError": ConcurrentUpdateError(message, thread_id=item),
        "ExecutionClaimedError": ExecutionClaimedError(message, execution_id=item),
        "TaskReassignedError": TaskReassignedError(message, task_id=item),
        "MemoryValueError": MemoryValueError(message, key=answer.field or ""),
        "InvalidInputError": InvalidInputError(message, field=answer.field or ""),
    }
    if kind in known:
        return known[kind]
    if status == 404:
        return UsageError(f"the loopline server {server} has no remote worker endpoints here ({message}): is it a "
                          "loopline server (`loopline serve`) at this base_url?")
    if status == 409:
        return TaskReassignedError(message, task_id=item)
    if status < 500 and kind.endswith("Error") and kind not in ("StoreError", "StoreUnavailableError"):
        return UsageError(message)
    return StoreError(f"the loopline server {server} answered {status}: {message}", store=server)
