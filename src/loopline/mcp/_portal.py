"""One background event loop per process that owns every MCP connection.

The MCP SDK's transports are anyio task groups: a connection must be opened and closed by the same task,
or anyio fails with "cancel scope in a different task". Running each connection as one long-lived task on
a private loop keeps that true whatever calls it (sync code, Jupyter, several asyncio tasks, worker
threads); callers hand coroutines to the loop and wait for their results.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["at_stop", "submit"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_owner_pid = 0
_stoppers: list[Callable[[], Coroutine[Any, Any, None]]] = []


def _running_loop() -> asyncio.AbstractEventLoop:
    """The portal's loop, started on first use (again in a forked child, whose copy has no thread)."""
    global _loop, _owner_pid
    with _lock:
        if _loop is None or _owner_pid != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="loopline-mcp", daemon=True).start()
            _loop, _owner_pid = loop, os.getpid()
            _stoppers.clear()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Run `coro` on the portal's loop; wait with `.result()` or `asyncio.wrap_future`."""
    return asyncio.run_coroutine_threadsafe(coro, _running_loop())


def at_stop(stop: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Have `stop()` run on the portal's loop when the process exits (closing a connection)."""
    _running_loop()
    with _lock:
        _stoppers.append(stop)


def _stop_all(timeout: float = 5.0) -> None:
    """At exit: close every connection in its own task, so server processes are ended, not orphaned."""
    loop = _loop
    if loop is None or _owner_pid != os.getpid() or not _stoppers:
        return

    async def stop_all() -> None:
        await asyncio.gather(*(stop() for stop in list(_stoppers)), return_exceptions=True)

    with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
        asyncio.run_coroutine_threadsafe(stop_all(), loop).result(timeout)


atexit.register(_stop_all)
