"""Calling a loopline server's HTTP API, the part every client shares: the remote `Tasks` and the remote
worker both use it, and differ only in which loopline error a failed call becomes.

- `Connection`: where the server is, the API key and the organisation (from the arguments or
  `LOOPLINE_BASE_URL` / `LOOPLINE_API_KEY` / `LOOPLINE_ORGANIZATION_ID`) and the headers they make.
- `exchange`: one API call as a generator flow, without I/O. It yields the request to send (and `Sleep`s
  between attempts), is sent back what came of it (a response, or the transport's error), and returns
  the JSON body, or raises what the caller's `fail` makes of the answer. It retries only what the server
  did not act on: 429 and 503 (waiting as long as `Retry-After` says, within bounds) and a connection
  that never opened. `call` and `acall` drive it over a sync or an async client.
- `ErrorAnswer`: a server's error body, `{"error": {"type", "message", "field", "id"}}`, read leniently.

Nothing here may hold or print the API key: it travels only in the headers.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from . import errors
from .errors import ControlSignal, InvalidInputError, LooplineError, UsageError

__all__ = ["Connection", "ErrorAnswer", "Fail", "Outcome", "RetryPolicy", "Sleep", "Step", "acall", "api_request",
           "call", "dumps", "exchange", "json_body", "loopline_error_class", "retry_after", "retry_wait"]


@dataclass(frozen=True, slots=True)
class Connection:
    """Where the server is and how the caller proves who it is."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    organization_id: str | None = None

    @classmethod
    def configured(cls, base_url: str | None, api_key: str | None = None,
                   organization_id: str | None = None) -> Connection | None:
        """From the arguments, else the environment; None when no base URL is given either way."""
        url = (base_url or os.environ.get("LOOPLINE_BASE_URL") or "").strip().rstrip("/")
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise bad_base_url(url)
        key = api_key if api_key is not None else os.environ.get("LOOPLINE_API_KEY")
        org = organization_id if organization_id is not None else os.environ.get("LOOPLINE_ORGANIZATION_ID")
        return cls(url, key or None, org or None)

    def headers(self) -> dict[str, str]:
        """The key goes in a header only (never in a URL, which servers and proxies log)."""
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.organization_id:
            headers["X-Loopline-Organization"] = self.organization_id
        return headers


def bad_base_url(url: str) -> UsageError:
    return UsageError(f"base_url takes the loopline server's http:// or https:// URL (like http://127.0.0.1:8000), "
                      f"got {url!r}; pass base_url= or set LOOPLINE_BASE_URL")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this long before the next attempt."""

    seconds: float


Step = httpx2.Request | Sleep
Outcome = httpx2.Response | httpx2.TransportError
"""What sending a request gave: the response (its body read), or why none came."""
Fail = Callable[[Outcome], LooplineError]
"""The loopline error for a call that failed: an error answer (status 400 or more), or no answer."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a client waits on a server that did not act on a request."""

    retries: int = 3
    """Attempts after the first, for 429, 503 and (unless `connect_retries` says otherwise) connections that
    never opened."""
    base_delay: float = 0.2
    """The first wait (doubling with each attempt, up to `max_delay`), with jitter."""
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    """A longer `Retry-After` is not waited for: the named error is raised at once."""
    reconnects: int = 8
    """Consecutive failed attempts to (re)open an event stream before giving up."""
    connect_retries: int | None = None
    """Attempts after the first for a connection that never opened; None: `retries`."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Exponential, with jitter (half to all of it) so clients cut at once do not return at once."""
        return float(min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + self.rng.random() / 2))


def api_request(connection: Connection, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None, timeout: Mapping[str, float | None]) -> httpx2.Request:
    """A call of `path` on the server, with the connection's headers and `body` (None: none) as JSON."""
    headers = connection.headers()
    content = None
    if body is not None:
        content = dumps(body, field_name="body")
        headers["Content-Type"] = "application/json"
    return httpx2.Request(method, connection.base_url + path, params=params, headers=headers, content=content,
                          extensions={"timeout": dict(timeout)})


def exchange(request: httpx2.Request, policy: RetryPolicy, fail: Fail) -> Generator[Step, Outcome, Any]:
    """One API call, retried while the server did not act on it; its JSON body (None when empty)."""
    attempt = 0
    while True:
        outcome = yield request
        wait = retry_wait(outcome, policy, attempt, fail)
        if wait is None:
            assert isinstance(outcome, httpx2.Response)  # a transport error is retried or raised
            return outcome.json() if outcome.content else None
        yield Sleep(wait)
        attempt += 1


def retry_wait(outcome: Outcome, policy: RetryPolicy, attempt: int, fail: Fail) -> float | None:
    """None when `outcome` is a success; else the wait before trying again, or `fail(outcome)` raised when it
    is not to be retried (or out of attempts)."""
    if isinstance(outcome, httpx2.TransportError):
        connect_retries = policy.retries if policy.connect_retries is None else policy.connect_retries
        if attempt < connect_retries and isinstance(outcome, (httpx2.ConnectError, httpx2.ConnectTimeout)):
            return policy.backoff(attempt)  # nothing reached the server: safe for any method
        raise fail(outcome)
    if outcome.status_code < 400:
        return None
    answer = ErrorAnswer.of(outcome)
    not_ready = outcome.status_code == 503 and loopline_error_class(answer.type) is None  # not "no live worker"
    if attempt < policy.retries and (outcome.status_code == 429 or not_ready):
        after = retry_after(outcome.headers)
        if after is None:
            return policy.backoff(attempt)
        if after <= policy.max_retry_after:
            return after
    raise fail(outcome)


def call(flow: Generator[Step, Outcome, Any], send: Callable[[httpx2.Request], httpx2.Response]) -> Any:
    """Drive `flow` with a sync `send` (sleeping where it says)."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                step = flow.send(None)  # type: ignore[arg-type]  # a sleep's answer is nothing
                continue
            try:
                outcome: Outcome = send(step)
            except httpx2.TransportError as exc:
                outcome = exc
            step = flow.send(outcome)
    except StopIteration as stop:
        return stop.value


async def acall(flow: Generator[Step, Outcome, Any], client: httpx2.AsyncClient) -> Any:
    """Drive `flow` with an async client (the same steps as `call`)."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                step = flow.send(None)  # type: ignore[arg-type]
                continue
            try:
                outcome: Outcome = await client.send(step)
            except httpx2.TransportError as exc:
                outcome = exc
            step = flow.send(outcome)
    except StopIteration as stop:
        return stop.value


def retry_after(headers: httpx2.Headers) -> float | None:
    """`Retry-After` in seconds (it may be a number of seconds or an HTTP date); None when absent or odd."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def json_body(response: httpx2.Response) -> Any:
    """The answer's JSON; None when it is empty; a body that is not JSON as an error answer with its text."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"error": {"type": "", "message": response.text[:500]}}


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """What a server's error answer says, whatever of it came (missing parts are empty)."""

    status: int
    type: str = ""
    message: str = ""
    field: str | None = None
    id: str | None = None
    """The id the error names (the remote workers' endpoints send it)."""

    @classmethod
    def parse(cls, status: int, body: Any) -> ErrorAnswer:
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        field_name, item = error.get("field"), error.get("id")
        return cls(status, str(error.get("type") or ""), str(error.get("message") or ""),
                   None if field_name is None else str(field_name), None if item is None else str(item))

    @classmethod
    def of(cls, response: httpx2.Response) -> ErrorAnswer:
        return cls.parse(response.status_code, json_body(response))


def loopline_error_class(name: str) -> type[LooplineError] | None:
    """The loopline error class a server named (never a control signal, nor any other name)."""
    cls = getattr(errors, name, None) if name in errors.__all__ else None
    if not isinstance(cls, type) or not issubclass(cls, LooplineError) or issubclass(cls, ControlSignal):
        return None
    return cls


def dumps(body: Any, *, field_name: str) -> bytes:
    """A request body as JSON; a value JSON cannot hold is an `InvalidInputError` before anything is sent."""
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{field_name} cannot be sent as JSON: {exc}", field=field_name) from None
