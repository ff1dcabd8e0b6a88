"""Fetching a URL under an `HttpPolicy`: `fetch` (async) and `fetch_sync`, one flow driven twice.

The flow decides everything (checks, page count, request slots, retries, redirects) without I/O: it
yields what it needs done (a blocking call such as resolving a name or a counter update, a sleep, a
request to send) and each driver performs it with `httpx2`, the sync one without an event loop.

Every hop's request goes to an address `_guard` checked: the URL is rewritten to that IP and the
original name travels in the `Host` header and, for https, as the TLS server name (SNI and the name
the certificate is verified against), so the name is never resolved again between the check and the
connection. Proxies from the environment are ignored for the same reason. Redirects are followed by
hand, each hop checked again. Nothing is sent for a refused request.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx2

from ..errors import HttpFetchError, PolicyViolationError, TasksUnavailableError, UnknownTaskError
from ..store import PolicyCounters, Store, policy_counters, task_table
from ._guard import Address, CheckedHost, check_host, literal_address
from ._policy import HttpPolicy, normalise_host

__all__ = ["HttpResponse", "fetch", "fetch_sync"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NOT_PROCESSED = frozenset({429, 503})
"""Answers saying the server did not act on the request: retried whatever the method."""
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_CREDENTIALS = ("authorization", "proxy-authorization", "cookie")


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """The final answer of a fetch (after redirects)."""

    status: int
    headers: dict[str, str]
    """Response headers, lower-case names (repeated ones joined with `, `)."""
    content: bytes
    url: str
    """The URL that gave this answer (the last hop)."""
    hops: tuple[str, ...]
    """Every URL requested, in order: the one asked for first, `url` last."""
    encoding: str | None = None

    @property
    def text(self) -> str:
        """The body as text (the charset the server named, else UTF-8; undecodable bytes replaced)."""
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        """Status, final URL, headers and the body as text."""
        return {"status": self.status, "url": self.url, "headers": self.headers, "body": self.text}


@dataclass(frozen=True, slots=True)
class _Blocking:
    """Run a call that may block (name resolution, a counter in the database)."""

    call: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class _Send:
    """Send `request` and read its body into a `_Body`; `release` gives back the request slot, after."""

    request: httpx2.Request
    body: _Body
    release: Callable[[], None]


@dataclass(frozen=True, slots=True)
class _Received:
    status: int
    headers: httpx2.Headers
    content: bytes
    encoding: str | None


@dataclass(slots=True)
class _Body:
    """A response body read up to the size limit and the fetch's deadline."""

    url: str
    limit: int
    deadline: float
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    def start(self, response: httpx2.Response) -> None:
        length = response.headers.get("content-length", "")
        announced = response.request.method != "HEAD" and "content-encoding" not in response.headers
        if announced and length.isdigit() and int(length) > self.limit:
            raise _too_large(self.url, self.limit, f"it announces {int(length)} bytes")

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.url, self.limit, "the read stopped there")
        if time.monotonic() > self.deadline:
            raise _out_of_time(self.url, "while reading the response")
        self.chunks.append(chunk)

    def received(self, response: httpx2.Response) -> _Received:
        return _Received(response.status_code, response.headers, b"".join(self.chunks), response.charset_encoding)


Action = _Blocking | _Sleep | _Send


class _Fetch:
    """One fetch's flow: a generator of actions that returns the `HttpResponse`."""

    def __init__(self, policy: HttpPolicy, method: str, url: str, *, headers: Mapping[str, str] | None,
                 body: str | bytes | None, task_id: str | None, counters: PolicyCounters) -> None:
        self.policy = policy
        self.method = method.upper()
        self.url = url
        self.headers = httpx2.Headers(dict(headers or {}))
        self.body = body.encode() if isinstance(body, str) else body
        self.key = task_id or ""
        self.counters = counters
        self.deadline = time.monotonic() + policy.max_duration_seconds

    def flow(self) -> Generator[Action, Any, HttpResponse]:
        url, text = self._checked_url(self.url), self.url
        hops: list[str] = []
        while True:
            host = normalise_host(url.raw_host.decode("ascii"))
            checked = yield _Blocking(partial(check_host, self.policy, host, _port(url), text))
            if not hops:
                yield from self._take_page(text)  # once the first request is known to be allowed
            hops.append(text)
            received = yield from self._attempts(url, text, checked)
            location = received.headers.get("location") if received.status in _REDIRECTS else None
            if location is None:
                return HttpResponse(received.status, dict(received.headers.items()), received.content, text,
                                    tuple(hops), received.encoding)
            if len(hops) > self.policy.max_redirects:
                raise PolicyViolationError(f"refused {text}: more than {self.policy.max_redirects} redirects "
                                           f"(max_redirects), from {hops[0]}", rule="redirect_limit", url=text)
            following = url.join(location)
            self._redirected(received.status, url, following)
            url, text = self._checked_url(str(following.copy_with(fragment=None))), str(following)

    def _take_page(self, text: str) -> Generator[Action, Any, None]:
        if self.policy.max_pages is not None:
            taken = yield _Blocking(partial(self.counters.take_page, self.key, self.policy.max_pages))
            if taken is None:
                raise PolicyViolationError(f"refused {text}: the task already fetched its max_pages "
                                           f"({self.policy.max_pages}) pages", rule="max_pages", url=text)

    def _attempts(self, url: httpx2.URL, text: str, checked: CheckedHost) -> Generator[Action, Any, _Received]:
        """Send one hop's request, retrying what may be retried within the deadline."""
        attempt = 0
        while True:
            holder = yield from self._slot(text)
            address = checked.addresses[attempt % len(checked.addresses)]  # a retry tries the next one
            send = _Send(_pinned(url, self.method, self.headers, self.body, checked=checked, address=address,
                                 timeout=self._remaining(text)),
                         _Body(text, self.policy.max_response_bytes, self.deadline),
                         partial(self.counters.release, self.key, holder) if holder else _nothing)
            try:
                received: _Received | None = yield send
                error: httpx2.HTTPError | None = None
            except httpx2.HTTPError as exc:
                received, error = None, exc
                if time.monotonic() >= self.deadline:
                    raise _out_of_time(text, f"({type(exc).__name__})") from exc
            if received is not None and not self._retry_answer(received.status, attempt):
                return received
            if error is not None and not self._retry_error(error, attempt):
                raise HttpFetchError(f"{self.method} {text} failed: {type(error).__name__}: {error}",
                                     url=text) from error
            delay = _retry_after(received.headers) if received is not None else None
            if delay is None:
                delay = self.policy.retry_delay_seconds * 2 ** attempt
            if time.monotonic() + delay > self.deadline:
                if received is not None:
                    return received  # the last answer: waiting to retry would pass the deadline
                raise _out_of_time(text, f"before a retry could start ({type(error).__name__})") from error
            yield _Sleep(delay)
            attempt += 1

    def _retry_answer(self, status: int, attempt: int) -> bool:
        return (status in _RETRY_STATUSES and attempt < self.policy.max_retries
                and (status in _NOT_PROCESSED or self.method in _IDEMPOTENT))

    def _retry_error(self, error: httpx2.HTTPError, attempt: int) -> bool:
        """A request that never reached the server is retried whatever its method; one that may have
        (the connection broke later) only when sending it twice is harmless."""
        never_sent = isinstance(error, (httpx2.ConnectError, httpx2.ConnectTimeout))
        return (attempt < self.policy.max_retries and isinstance(error, httpx2.TransportError)
                and (never_sent or self.method in _IDEMPOTENT))

    def _slot(self, text: str) -> Generator[Action, Any, str | None]:
        """Wait for a request slot (rate and concurrency); its holder id, or None with no such limits."""
        rate, concurrency = self.policy.requests_per_second, self.policy.concurrent_requests
        if rate is None and concurrency is None:
            return None
        holder = uuid.uuid4().hex
        while True:
            wait = yield _Blocking(partial(self.counters.acquire, self.key, holder, interval=1 / rate if rate else None,
                                           concurrency=concurrency, lease=self._remaining(text) + 1.0))
            if wait <= 0:
                return holder
            if time.monotonic() + wait > self.deadline:
                raise _out_of_time(text, "waiting for a request slot (requests_per_second, concurrent_requests)")
            yield _Sleep(wait)

    def _checked_url(self, text: str) -> httpx2.URL:
        """The URL parsed and checked by name: scheme, credentials, domain rules."""
        try:
            url = httpx2.URL(text)
            if not url.scheme:
                raise httpx2.InvalidURL("it has no scheme (http:// or https://)")
        except (httpx2.InvalidURL, TypeError) as exc:
            raise PolicyViolationError(f"refused {text!r}: not a URL ({exc})", rule="invalid_url", url=text) from None
        self.policy.check_scheme(url.scheme, text)
        if url.userinfo:
            raise PolicyViolationError(f"refused {text}: credentials inside a URL (user@host) are refused; send "
                                       "an Authorization header instead", rule="userinfo", url=text)
        if not url.raw_host:
            raise PolicyViolationError(f"refused {text!r}: the URL has no host", rule="invalid_url", url=text)
        host = normalise_host(url.raw_host.decode("ascii"))
        literal = literal_address(host, text)
        self.policy.check_domain(str(literal) if literal is not None else host, text)
        return url

    def _redirected(self, status: int, old: httpx2.URL, new: httpx2.URL) -> None:
        """What the next hop sends: 303 (and 301/302 after a POST) becomes a GET without a body;
        credentials are not carried to another origin."""
        if (status == 303 and self.method != "HEAD") or (status in (301, 302) and self.method == "POST"):
            self.method, self.body = "GET", None
            for name in ("content-length", "content-type", "transfer-encoding"):
                self.headers.pop(name, None)
        if (old.scheme, old.raw_host, _port(old)) != (new.scheme, new.raw_host, _port(new)):
            for name in _CREDENTIALS:
                self.headers.pop(name, None)

    def _remaining(self, text: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _out_of_time(text, "")
        return left


async def fetch(policy: HttpPolicy, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                body: str | bytes | None = None, task_id: str | None = None,
                store: Store | None = None) -> HttpResponse:
    """Fetch `url` under `policy`; refused with `PolicyViolationError` (recorded as a `policy_refused`
    event of task `task_id` in `store`), failed with `HttpFetchError`.

    `task_id` and `store` say whose limits are counted (`max_pages`, request rate and concurrency):
    in the store's database, shared by every process, or in this process without one.
    """
    flow = _Fetch(policy, method, url, headers=headers, body=body, task_id=task_id,
                  counters=policy_counters(store)).flow()
    async with httpx2.AsyncClient(verify=policy.verify, trust_env=False, follow_redirects=False) as client:
        try:
            return await _drive_async(flow, client)
        except PolicyViolationError as exc:
            await asyncio.to_thread(_record_refusal, exc, task_id, store)
            raise


def fetch_sync(policy: HttpPolicy, method: str, url: str, *, headers: Mapping[str, str] | None = None,
               body: str | bytes | None = None, task_id: str | None = None,
               store: Store | None = None) -> HttpResponse:
    """`fetch` without an event loop (works inside a running one too, e.g. in Jupyter)."""
    flow = _Fetch(policy, method, url, headers=headers, body=body, task_id=task_id,
                  counters=policy_counters(store)).flow()
    with httpx2.Client(verify=policy.verify, trust_env=False, follow_redirects=False) as client:
        try:
            return _drive_sync(flow, client)
        except PolicyViolationError as exc:
            _record_refusal(exc, task_id, store)
            raise


async def _drive_async(flow: Generator[Action, Any, HttpResponse], client: httpx2.AsyncClient) -> HttpResponse:
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            action = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result, error = None, None
        try:
            if isinstance(action, _Blocking):
                result = await asyncio.to_thread(action.call)
            elif isinstance(action, _Sleep):
                await asyncio.sleep(action.seconds)
            else:
                result = await _send_async(client, action)
        except (PolicyViolationError, HttpFetchError, httpx2.HTTPError) as exc:
            error = exc


async def _send_async(client: httpx2.AsyncClient, send: _Send) -> _Received:
    try:
        response = await client.send(send.request, stream=True)
        try:
            send.body.start(response)
            async for chunk in response.aiter_bytes():
                send.body.add(chunk)
        finally:
            await response.aclose()
        return send.body.received(response)
    finally:
        await asyncio.shield(asyncio.to_thread(send.release))


def _drive_sync(flow: Generator[Action, Any, HttpResponse], client: httpx2.Client) -> HttpResponse:
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            action = flow.throw(error) if error is not None else flow.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        result, error = None, None
        try:
            if isinstance(action, _Blocking):
                result = action.call()
            elif isinstance(action, _Sleep):
                time.sleep(action.seconds)
            else:
                result = _send_sync(client, action)
        except (PolicyViolationError, HttpFetchError, httpx2.HTTPError) as exc:
            error = exc


def _send_sync(client: httpx2.Client, send: _Send) -> _Received:
    try:
        response = client.send(send.request, stream=True)
        try:
            send.body.start(response)
            for chunk in response.iter_bytes():
                send.body.add(chunk)
        finally:
            response.close()
        return send.body.received(response)
    finally:
        send.release()


def _pinned(url: httpx2.URL, method: str, headers: httpx2.Headers, body: bytes | None, *, checked: CheckedHost,
            address: Address, timeout: float) -> httpx2.Request:
    """The request sent to the checked address, the name it was made for in `Host` and for TLS."""
    headers = httpx2.Headers(headers)
    headers["Host"] = url.netloc.decode("ascii")
    extensions: dict[str, Any] = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
    if url.scheme == "https" and not checked.literal:
        extensions["sni_hostname"] = checked.host
    target = url.copy_with(host=str(address), fragment=None)
    return httpx2.Request(method, target, headers=headers, content=body, extensions=extensions)


def _retry_after(headers: httpx2.Headers) -> float | None:
    """The wait a `Retry-After` header asks for (seconds, or an HTTP date), or None."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _record_refusal(exc: PolicyViolationError, task_id: str | None, store: Store | None) -> None:
    """Add a `policy_refused` event to the task, when the refusal belongs to a task in a shared store."""
    if task_id is None or store is None:
        return
    # a fetch for an id that is no stored task (an executor run on its own) has nothing to record
    with contextlib.suppress(TasksUnavailableError, UnknownTaskError):
        task_table(store).add_event(task_id, "policy_refused", {"rule": exc.rule, "url": exc.url, "message": str(exc)})


def _port(url: httpx2.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _too_large(url: str, limit: int, detail: str) -> PolicyViolationError:
    return PolicyViolationError(f"refused {url}: the response is larger than max_response_bytes ({limit}); {detail}",
                                rule="response_too_large", url=url)


def _out_of_time(url: str, detail: str) -> PolicyViolationError:
    return PolicyViolationError(f"stopped {url}: the fetch ran past its max_duration_seconds {detail}".rstrip(),
                                rule="max_duration", url=url)


def _nothing() -> None:
    """No slot to give back."""
