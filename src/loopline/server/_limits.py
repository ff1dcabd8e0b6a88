"""What keeps one client from taking the server: a cap on request bodies, a request rate per key and a
cap on the event streams each key holds open.

The body cap is checked while the body is read (a declared `Content-Length` over it is refused before
reading anything; a chunked body is counted as it arrives and refused once it passes the cap), so a
large body is never held in memory. The rate is a token bucket per key (without keys, per client
address), kept in this process: several server processes each allow the rate, which bounds a client
without any shared state.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncIterator

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import ApiError, error_body

__all__ = ["BodyLimit", "JsonOnly", "RateLimiter", "StreamLimit"]


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 (field "body")."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(scope, receive, send, self._error(f"{declared} bytes, as its Content-Length says"))
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error(f"over {self.max_bytes} bytes, as read")
            return message

        await self.app(scope, counted, send)

    def _error(self, what: str) -> ApiError:
        return ApiError(413, f"the request body ({what}) is larger than this server takes ({self.max_bytes} bytes "
                             "at most: `loopline serve --max-body-bytes`)", field="body")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    response = JSONResponse(error_body(error.type, str(error.detail), error.field), status_code=error.status_code,
                            headers={"Connection": "close"})
    await response(scope, receive, send)


class RateLimiter:
    """A token bucket per client: `rate` requests a second on average, up to `burst` at once."""

    def __init__(self, rate: float, burst: int, *, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client: (tokens, when counted)
        self._lock = threading.Lock()
        self._max_clients = max_clients

    def take(self, client: str) -> float:
        """Take one request's token: 0.0 when allowed, else the seconds until one is there."""
        if self.rate <= 0 or math.isinf(self.rate):
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > self._max_clients:
                self._forget_full(now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled (they hold nothing a fresh bucket would not)."""
        full = [c for c, (tokens, then) in self._buckets.items() if tokens + (now - then) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r}, burst={self.burst!r})"


class StreamLimit:
    """At most `most` event streams open at once per client: each one reads the database a few times a
    second for as long as its client keeps it, so one key's streams must not take every thread."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def open(self, client: str, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """`stream`, counted for `client` until it ends or its client goes; 429 when the client has `most`."""
        with self._lock:
            count = self._open.get(client, 0)
            if count >= self.most:
                raise ApiError(429, f"too many event streams open: at most {self.most} at once per key; close one",
                               headers={"Retry-After": "1"})
            self._open[client] = count + 1
        return self._counted(client, stream)

    async def _counted(self, client: str, stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            with self._lock:
                left = self._open.get(client, 1) - 1
                if left > 0:
                    self._open[client] = left
                else:
                    self._open.pop(client, None)


class JsonOnly:
    """ASGI middleware: a `/v1` request with a body says it is JSON, else 415 (a form or a text body
    would otherwise fail later, as a confusing type error)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY and scope["path"].startswith("/v1/"):
            headers = dict(scope.get("headers") or ())
            kind = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            empty = headers.get(b"content-length", b"") == b"0" or (
                b"content-length" not in headers and b"transfer-encoding" not in headers)
            if not empty and not (kind == "application/json" or kind.endswith("+json")):
                error = ApiError(415, f"the body must be JSON (Content-Type: application/json), not "
                                      f"{kind or 'a body without a Content-Type'}", field="Content-Type")
                await _refuse(scope, receive, send, error)
                return
        await self.app(scope, receive, send)


_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
