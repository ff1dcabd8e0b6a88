"""A remote worker's HTTP connection to a loopline server: where it is and the worker's key (from the
arguments or the environment, as the seed's workers are configured), and one call that turns the
server's answers into loopline's errors, so what is built on it (the HTTP store, the task table over
HTTP, the heartbeat) fails like its local twin: a server out of reach is `StoreUnavailableError` (the
worker waits and runs the task on from what was committed), a refused report `TaskReassignedError`."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx2

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

_TIMEOUT = httpx2.Timeout(30.0, connect=5.0)
_RATE_TRIES = 5
"""How often a call refused for the key's rate (429) is sent again before it counts as a passing fault."""


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the server is and how the worker proves who it is."""

    base_url: str
    api_key: str | None = None
    organization_id: str | None = None

    @classmethod
    def configured(cls, base_url: str | None, api_key: str | None = None,
                   organization_id: str | None = None) -> Connection | None:
        """From the arguments, else `LOOPLINE_BASE_URL` / `LOOPLINE_API_KEY` / `LOOPLINE_ORGANIZATION_ID`;
        None when no base URL is given either way (the worker then reaches the database itself)."""
        url = base_url or os.environ.get("LOOPLINE_BASE_URL") or None
        if url is None:
            return None
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"a remote worker's base_url is an http:// or https:// URL, got {url!r}")
        return cls(url.rstrip("/"), api_key or os.environ.get("LOOPLINE_API_KEY") or None,
                   organization_id or os.environ.get("LOOPLINE_ORGANIZATION_ID") or None)

    def headers(self) -> dict[str, str]:
        """The key goes in a header only (never in a URL, which servers and proxies log)."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.organization_id:
            headers["X-Loopline-Organization"] = self.organization_id
        return headers

    def __repr__(self) -> str:  # never the key
        return f"Connection({self.base_url!r}, organization_id={self.organization_id!r})"


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
            client = httpx2.Client(base_url=self.connection.base_url, headers=self.connection.headers(),
                                   timeout=_TIMEOUT, trust_env=False)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None) -> Any:
        """The answer's JSON (None for an empty one); errors as loopline's. A request over the key's rate
        (429) was not served: it is sent again after the `Retry-After` the server asked for."""
        for _ in range(_RATE_TRIES):
            try:
                response = self._client().request(method, path, json=body, params=params)
            except httpx2.TransportError as exc:
                raise StoreUnavailableError(f"the loopline server {self.connection.base_url} could not be reached "
                                            f"({type(exc).__name__}: {exc})", store=self.connection.base_url) from exc
            if response.status_code != 429:
                break
            time.sleep(_retry_after(response))
        if response.status_code >= 400:
            raise error_from(response.status_code, _json(response), self.connection.base_url)
        return _json(response)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()


def _quoted_id(message: str) -> str:
    """The id an unknown-id error names in its message (`no task with id 'task_...'`)."""
    found = re.search(r"with id '([^']*)'", message)
    return found.group(1) if found else ""


def _retry_after(response: httpx2.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.05), 30.0)
    except ValueError:
        return 1.0


def _json(response: httpx2.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"error": {"type": "", "message": response.text[:500]}}


def error_from(status: int, body: Any, server: str) -> LooplineError:
    """The loopline error a server's error answer stands for."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    kind, message = str(error.get("type") or ""), str(error.get("message") or f"HTTP {status}")
    item = str(error.get("id") or _quoted_id(message))
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
        "MemoryValueError": MemoryValueError(message, key=str(error.get("field") or "")),
        "InvalidInputError": InvalidInputError(message, field=str(error.get("field") or "")),
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
