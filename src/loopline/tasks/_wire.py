"""What a remote `Tasks` decides without I/O, so its sync and async drivers share every decision.

- `exchange`: one API call as a generator flow (`loopline._http_api.exchange`, which every client of the
  server shares), its failures raised as the errors below.
- `error_from`: a server's error answer as the loopline error a local `Tasks` raises for the same
  mistake (`UnknownTaskError`, `InvalidInputError` with its `field`, ...).
- `EventFollow`: following a task's events over an SSE stream that may break: which request opens (or
  reopens) it, each line in and each new event out (none seen twice), how long to wait before
  reconnecting (backoff with jitter) and when to stop.

Nothing here may hold or print the API key: it travels only in the headers the client adds.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Generator, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx2

from .. import _http_api
from .._http_api import (
    ErrorAnswer,
    Outcome,
    RetryPolicy,
    Sleep,
    Step,
    dumps,
    json_body,
    loopline_error_class,
    retry_after,
    retry_wait,
)
from .._sse import SSEDecoder
from ..errors import (
    AuthenticationError,
    InvalidInputError,
    LooplineError,
    RateLimitedError,
    RemoteServerError,
    TasksUnavailableError,
    UnknownTaskError,
    UsageError,
)
from ._task import FINISHED_EVENT, TaskEvent

__all__ = ["EventFollow", "Outcome", "RetryPolicy", "Sleep", "Step", "dumps", "error_from", "exchange", "retry_after",
           "task_path", "unreachable"]


def exchange(request: httpx2.Request, policy: RetryPolicy, *, base_url: str,
             task_id: str | None = None) -> Generator[Step, Outcome, Any]:
    """One API call, retried while the server did not act on it; its JSON body (None when empty)."""
    return _http_api.exchange(request, policy, partial(fail, base_url=base_url, task_id=task_id))


def fail(outcome: Outcome, *, base_url: str, task_id: str | None) -> LooplineError:
    """The loopline error a local `Tasks` raises for the same mistake, or `TasksUnavailableError` when the
    server could not be reached."""
    if isinstance(outcome, httpx2.TransportError):
        return unreachable(base_url, outcome)
    return error_from(outcome.status_code, json_body(outcome), base_url=base_url, task_id=task_id,
                      retry_after=retry_after(outcome.headers))


def unreachable(base_url: str, exc: Exception) -> TasksUnavailableError:
    return TasksUnavailableError(f"the loopline server at {base_url} could not be reached ({type(exc).__name__}: "
                                 f"{exc}); check that it runs (`loopline serve`) and that LOOPLINE_BASE_URL "
                                 "or base_url names it")


_BY_STATUS: dict[int, type[LooplineError]] = {400: InvalidInputError, 413: InvalidInputError,
                                              415: InvalidInputError, 422: InvalidInputError, 409: UsageError,
                                              429: RateLimitedError, 503: TasksUnavailableError}


def error_from(status: int, body: Any, *, base_url: str, task_id: str | None = None,
               retry_after: float | None = None) -> LooplineError:
    """The loopline error for a server's error answer `{"error": {"type", "message", "field"}}`: the
    class it names when loopline has it (a misuse for a 4xx), else the one its status means."""
    answer = ErrorAnswer.parse(status, body)
    message = f"{answer.message or 'no message'} (HTTP {status} from the loopline server at {base_url})"
    if status in (401, 403):
        return AuthenticationError(message + ("; pass api_key= or set LOOPLINE_API_KEY to a key of this server "
                                              "(`loopline keys create`)" if status == 401 else ""), status=status)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after)
    cls = _named(answer.type, status) or _BY_STATUS.get(status)
    if cls is None and status == 404:
        cls = UnknownTaskError if task_id is not None else UsageError
    if cls is None:
        return (RemoteServerError(message, status=status) if status >= 500
                else UsageError(message))
    return _build(cls, message, {"field": answer.field or "body", "task_id": task_id, "status": status,
                                 "retry_after": retry_after})


def _named(name: str, status: int) -> type[LooplineError] | None:
    """The loopline error class the server named, when it fits the status (a 4xx is a misuse)."""
    cls = loopline_error_class(name)
    if cls is not None and 400 <= status < 500 and not issubclass(cls, UsageError):
        return None
    return cls


def _build(cls: type[LooplineError], message: str, known: Mapping[str, Any]) -> LooplineError:
    """An instance of `cls` with the server's message; the attributes its constructor would set are
    taken from `known` (None when not known here: the message names them)."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for name in inspect.signature(cls.__init__).parameters:
        if name not in ("self", "message", "args", "kwargs"):
            setattr(exc, name, known.get(name))
    return exc


def task_path(task_id: str, *rest: str) -> str:
    """`/v1/tasks/{task_id}/...`, the id quoted (the server answers a malformed one with 400)."""
    return "/".join(["/v1/tasks", quote(task_id, safe=""), *rest])


class EventFollow:
    """A task's events over SSE, across reconnects: each event once, in order, none skipped.

    The driver opens `request()`, gives the response's status to `opened`, each line to `feed`
    (which returns the new event, if the line completed one), and when the stream ends or breaks asks
    `ended()` / `broken(exc)` how long to wait before opening `request()` again (None: stop). A
    reconnect sends `Last-Event-ID` with the last id seen, and events at or below it are dropped should
    the server send them again.
    """

    def __init__(self, task_id: str, *, after: int, follow: bool, timeout: float | None, read_timeout: float,
                 policy: RetryPolicy, base_url: str) -> None:
        self.task_id = task_id
        self.after = after
        self.finished = False
        self._follow = follow
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._read_timeout = read_timeout
        self._policy = policy
        self._base_url = base_url
        self._failures = 0
        self._decoder = SSEDecoder()

    def request(self, headers: Mapping[str, str]) -> httpx2.Request:
        params = {"after": str(self.after), "follow": "true" if self._follow else "false"}
        sent = {**headers, "Accept": "text/event-stream", **({"Last-Event-ID": str(self.after)} if self.after else {})}
        read = self._read_timeout if self._deadline is None else max(0.01, min(self._read_timeout, self.remaining()))
        timeout = {"connect": min(10.0, read), "read": read, "write": 10.0, "pool": 10.0}
        self._decoder = SSEDecoder()  # a new stream starts clean: a half-read event of the last one is dropped
        return httpx2.Request("GET", self._base_url + task_path(self.task_id, "events"), params=params,
                              headers=sent, extensions={"timeout": timeout})

    def remaining(self) -> float:
        return float("inf") if self._deadline is None else self._deadline - time.monotonic()

    def opened(self, response: httpx2.Response) -> float | None:
        """None when the stream is open; else (its body read) the wait before trying again, or the error."""
        if response.status_code == 200:
            return None
        if response.status_code < 400:
            raise RemoteServerError(f"the loopline server at {self._base_url} answered an event stream with HTTP "
                                    f"{response.status_code}", status=response.status_code)
        wait = retry_wait(response, self._policy, self._failures,
                          partial(fail, base_url=self._base_url, task_id=self.task_id))
        self._failures += 1
        return wait

    def feed(self, line: str) -> TaskEvent | None:
        self._failures = 0  # the stream is alive (a heartbeat counts)
        sse = self._decoder.feed(line)
        if sse is None:
            return None
        data = sse.json()
        event = TaskEvent(int(data["id"]), str(data.get("task_id") or self.task_id), str(data["type"]),
                          dict(data.get("data") or {}), float(data.get("created_at") or 0.0))
        if event.id <= self.after:
            return None  # sent again after a reconnect: already given
        self.after = event.id
        self.finished = event.type == FINISHED_EVENT
        return event

    @property
    def done(self) -> bool:
        """Nothing more to read: the `finished` event came, or `timeout` has passed."""
        return self.finished or self.remaining() <= 0

    def ended(self) -> float | None:
        """The stream ended: stop (finished, not following, out of time), or the wait before reconnecting."""
        if self.done or not self._follow:
            return None
        return self._next_wait(None)

    def broken(self, exc: httpx2.TransportError) -> float | None:
        """The stream broke (reset, refused, silent past the read timeout): the wait before reconnecting,
        None when out of time, or `TasksUnavailableError` after `policy.reconnects` failures in a row."""
        if self.done:
            return None
        return self._next_wait(exc)

    def _next_wait(self, exc: Exception | None) -> float:
        if exc is not None and self._failures >= self._policy.reconnects:
            raise unreachable(self._base_url, exc)
        wait = self._policy.backoff(self._failures)
        self._failures += 1
        return min(wait, max(0.0, self.remaining()))

