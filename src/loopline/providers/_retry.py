"""Retrying a failed model request, with one policy for both SDKs, bounded by the execution's deadline.

The SDK clients are handed `max_retries=0` and loopline retries instead: the SDKs' own loops cannot take
a fixed delay between attempts (`RunConfig.retry_delay_seconds`), and they know nothing of a deadline,
so a request retried inside them could run far past `max_duration`. The policy follows theirs: connection
errors and timeouts, 408, 409, 429 and 5xx are retried (an `x-should-retry` header decides when present);
a `Retry-After` (or `retry-after-ms`) of up to two minutes is waited for, a longer one is not retried;
otherwise the configured delay, or the SDKs' backoff. A retry whose wait would pass the execution's
deadline is not made: `DeadlineExceededError` says that the time limit ended the request. Each attempt
carries the SDKs' own `x-stainless-retry-count` header, so a server sees retries as it did before.

The policy is written once; `retry_sync` and `retry_async` only sleep differently.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import DeadlineExceededError

__all__ = ["RetryPolicy", "retry_async", "retry_sync"]

T = TypeVar("T")

MAX_RETRY_AFTER = 120.0
"""The longest `Retry-After` waited for (the openai SDK's bound); a server asking for more is not retried."""
_INITIAL_BACKOFF, _MAX_BACKOFF = 0.5, 8.0
"""The SDKs' backoff: 0.5 s doubling up to 8 s, less up to a quarter of jitter."""


@dataclass
class RetryPolicy:
    """When to try a failed request again, and after how long. One per request (it counts the attempts)."""

    retries: int
    """Retries allowed after the first attempt."""
    delay: float | None
    """Seconds between attempts when the server gives no Retry-After; `None` for the SDKs' backoff."""
    errors: tuple[type[BaseException], type[BaseException]]
    """The SDK's connection error class (timeouts included) and its HTTP status error class."""
    deadline: float | None = None
    """Unix time after which nothing is retried, and which bounds each attempt's timeout."""
    timeout: Any = None
    """The client's own timeout for one attempt (seconds or an `httpx.Timeout`), tightened to the deadline."""
    attempt: int = 0
    """Retries made so far."""

    def options(self) -> dict[str, Any]:
        """Options of the SDK call for the next attempt: its retry count, and a timeout within the deadline."""
        options: dict[str, Any] = {"extra_headers": {"x-stainless-retry-count": str(self.attempt)}}
        if self.deadline is not None:
            options["timeout"] = within(self.timeout, max(0.0, self.deadline - time.time()))
        return options

    def wait_after(self, exc: BaseException) -> float | None:
        """Seconds to wait before trying again after `exc`, or `None` when it is not to be retried;
        `DeadlineExceededError` (from `exc`) when it would be, but the wait would pass the deadline."""
        if self.attempt >= self.retries or not self._transient(exc):
            return None
        headers = _headers(exc)
        wait = _retry_after(headers)
        if wait is not None and wait > MAX_RETRY_AFTER:
            return None
        if wait is None or wait <= 0:
            wait = self.delay if self.delay is not None else _backoff(self.attempt)
        if self.deadline is not None and time.time() + wait >= self.deadline:
            left = max(0.0, self.deadline - time.time())  # the time runs out while waiting: it is the cause
            raise DeadlineExceededError(f"{type(exc).__name__}: {exc}; a retry after {wait:g} s would run past the "
                                        f"execution's deadline, {left:.2f} s away", wait=wait,
                                        deadline=self.deadline) from exc
        self.attempt += 1
        return wait

    def _transient(self, exc: BaseException) -> bool:
        connection, status = self.errors
        if isinstance(exc, connection):
            return True
        if not isinstance(exc, status):
            return False
        told = _headers(exc).get("x-should-retry")
        if told in ("true", "false"):
            return told == "true"
        code = int(getattr(exc, "status_code", 0) or 0)
        return code in (408, 409, 429) or code >= 500


def retry_sync(policy: RetryPolicy, send: Callable[[dict[str, Any]], T]) -> T:
    """`send(options)` until it succeeds or the policy gives up (then its last error propagates)."""
    while True:
        try:
            return send(policy.options())
        except Exception as exc:
            wait = policy.wait_after(exc)
            if wait is None:
                raise
        time.sleep(wait)


async def retry_async(policy: RetryPolicy, send: Callable[[dict[str, Any]], Awaitable[T]]) -> T:
    """`retry_sync` for asyncio."""
    while True:
        try:
            return await send(policy.options())
        except Exception as exc:
            wait = policy.wait_after(exc)
            if wait is None:
                raise
        await asyncio.sleep(wait)


def within(timeout: Any, left: float) -> Any:
    """`timeout` (seconds, the SDK's `httpx.Timeout`, or `None` for none) made no longer than `left` seconds."""
    if timeout is None or isinstance(timeout, (int, float)):
        return left if timeout is None else min(float(timeout), left)
    parts = {name: getattr(timeout, name, None) for name in ("connect", "read", "write", "pool")}
    if not all(isinstance(v, (int, float)) or v is None for v in parts.values()):
        return left  # a timeout of a kind not known here: the deadline alone
    return type(timeout)(**{name: left if v is None else min(v, left) for name, v in parts.items()})  # httpx.Timeout


def _headers(exc: BaseException) -> Mapping[str, str]:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait a server asks for, in seconds: `retry-after-ms`, then `retry-after` (seconds or an HTTP date)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else MAX_RETRY_AFTER + 1
    date = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(date) if date else None
    return None if parsed is None else float(email.utils.mktime_tz(parsed) - time.time())


def _backoff(attempt: int) -> float:
    return min(_INITIAL_BACKOFF * 2.0 ** min(attempt, 30), _MAX_BACKOFF) * (1 - 0.25 * random.random())
