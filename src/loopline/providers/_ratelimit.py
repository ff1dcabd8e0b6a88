"""Request rate and concurrency limits, shared by the agents that ask for the same ones.

`shared_limiter` hands out one `RequestLimiter` per provider endpoint and settings: every agent of
the process that asks for the same limits on the same endpoint shares one budget, an agent that asks
for other limits has a budget of its own, and an agent that asks for none is never held back by
anyone's. A limiter's settings never change; an agent whose limits change simply takes another
limiter for its next request (none, once it has no limit).

A limiter serves threads (the sync `run`, tools calling agents, several agents in a thread pool) and
event loops (`arun`, any number of loops in any threads) at once, so it is built on a plain lock
rather than on one loop's primitives: sync waiters block on an `Event`, async waiters await a future
woken through their own loop.

Two limits, each optional: requests started per second (spaced evenly: every request reserves the
next free slot, so a burst of 200 requests at 10/s takes 20 s, never 200 at once), and requests in
flight at once (a slot is handed straight to the longest waiter when a request ends, so waiters are
served in order and none starves).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from ..errors import UsageError

__all__ = ["RequestLimiter", "shared_limiter"]


class _Waiter:
    """One caller waiting for a concurrency slot; `wake` hands it the slot from any thread."""

    __slots__ = ("_event", "_future", "_loop", "woken")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self._event = None if loop else threading.Event()
        self.woken = False

    def wake(self) -> bool:
        """Hand the slot over; False when the waiter can no longer take it (its event loop closed)."""
        self.woken = True
        if self._event is not None:
            self._event.set()
        elif self._loop is not None and self._future is not None:
            try:
                self._loop.call_soon_threadsafe(_resolve, self._future)
            except RuntimeError:  # the loop is closed: its task is gone
                return False
        return True

    def wait(self) -> None:
        assert self._event is not None
        self._event.wait()

    async def await_(self) -> None:
        assert self._future is not None
        await self._future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(frozen=True, slots=True)
class _Settings:
    per_second: float | None
    concurrent: int | None


class RequestLimiter:
    """Requests per second and requests in flight, for threads and event loops alike.

    Use `with limiter.slot():` around a sync request and `async with limiter.aslot():` around an
    async one (a stream holds its slot until it has been read to the end).
    """

    def __init__(self, requests_per_second: float | None = None, max_concurrent: int | None = None) -> None:
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive (or None)")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1 (or None)")
        self._lock = threading.Lock()
        self._settings = _Settings(requests_per_second, max_concurrent)
        self._next_start = 0.0  # monotonic time of the next free start slot
        self._active = 0
        self._waiters: deque[_Waiter] = deque()
        self._holders: dict[int, int] = {}  # event loop id -> async requests of that loop holding a slot

    @property
    def requests_per_second(self) -> float | None:
        return self._settings.per_second

    @property
    def max_concurrent(self) -> int | None:
        return self._settings.concurrent

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._active

    # --- sync ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a request slot (blocking the thread until one is free and the rate allows)."""
        waiter = self._enter(None)
        if waiter is not None:
            self._refuse_to_block_own_loop(waiter)
            try:
                waiter.wait()
            except BaseException:  # interrupted while waiting (Ctrl-C): give back a slot handed over meanwhile
                self._abandon(waiter)
                raise
        try:
            delay = self._reserve_start()
            if delay > 0:
                time.sleep(delay)
            yield
        finally:
            self._leave()

    def _refuse_to_block_own_loop(self, waiter: _Waiter) -> None:
        """A sync call made on a thread whose event loop runs (a Jupyter cell) blocks that loop while it
        waits; if tasks of that very loop hold the slots, none could ever be given back."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._lock:
            stuck = self._holders.get(id(loop), 0) > 0
        if stuck:
            self._abandon(waiter)
            raise UsageError("run() would wait for a request slot held by a task of the event loop it blocks "
                             "(max_concurrent_requests is reached by arun() tasks on this loop); use "
                             "`await agent.arun(...)` here instead")

    # --- async --------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Hold a request slot (awaiting until one is free and the rate allows)."""
        loop = asyncio.get_running_loop()
        waiter = self._enter(loop)
        if waiter is not None:
            try:
                await waiter.await_()
            except BaseException:  # cancelled while waiting: give back a slot handed over meanwhile
                self._abandon(waiter)
                raise
        with self._lock:
            self._holders[id(loop)] = self._holders.get(id(loop), 0) + 1
        try:
            delay = self._reserve_start()
            if delay > 0:
                await asyncio.sleep(delay)
            yield
        finally:
            with self._lock:
                self._holders[id(loop)] -= 1
                if not self._holders[id(loop)]:
                    del self._holders[id(loop)]
            self._leave()

    # --- the shared state -----------------------------------------------------------------------------

    def _enter(self, loop: asyncio.AbstractEventLoop | None) -> _Waiter | None:
        """Take a slot now (None), or queue for one (the waiter to wait on)."""
        with self._lock:
            limit = self._settings.concurrent
            if limit is None or self._active < limit:
                self._active += 1
                return None
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
            return waiter

    def _leave(self) -> None:
        with self._lock:
            limit = self._settings.concurrent
            while self._waiters and (limit is None or self._active <= limit):
                if self._waiters.popleft().wake():  # the slot passes on; the count stays
                    return
            self._active -= 1

    def _abandon(self, waiter: _Waiter) -> None:
        with self._lock:
            if not waiter.woken:
                self._waiters.remove(waiter)
                return
        self._leave()  # it was handed a slot it will not use

    def _reserve_start(self) -> float:
        """Reserve the next start slot under the rate limit; the seconds to wait for it."""
        per_second = self._settings.per_second
        if per_second is None:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / per_second
            return start - now


_SHARED: dict[tuple[str, float | None, int | None], RequestLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(endpoint: str, requests_per_second: float | None,
                   max_concurrent: int | None) -> RequestLimiter | None:
    """The process-wide limiter of these limits on `endpoint` (a provider and base URL), shared by
    every caller asking for the same; `None` when neither limit is set (nothing to wait for)."""
    if requests_per_second is None and max_concurrent is None:
        return None
    key = (endpoint, None if requests_per_second is None else float(requests_per_second), max_concurrent)
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = RequestLimiter(requests_per_second, max_concurrent)
        return limiter
