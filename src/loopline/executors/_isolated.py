"""An executor run in a child process of the worker, where `TaskConfig.max_memory_mb` can be enforced.

The child is forked from the worker (so the executor's class needs no importable module), bounds its
own address space to what it had plus `max_memory_mb` (Linux `RLIMIT_AS`), runs `execute(inputs)` on a
fresh event loop and sends the result back through a pipe. An allocation past the bound fails in the
child only (`MemoryError`, or the child killed), and the task ends FAILED with code `max_memory`; the
worker and its other tasks are untouched. Agents and handlers run inside the worker process, where
no per-task memory bound can apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import traceback
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["IsolatedFailure", "run_isolated"]


class IsolatedFailure(Exception):
    """The executor's child process failed: `code` says how (`max_memory`, `executor_error`, `process_died`)."""

    def __init__(self, message: str, *, code: str, error_type: str = "", trace: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.error_type = error_type
        self.trace = trace


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(cls: Any, inputs: dict[str, Any], max_memory_mb: float | None, conn: Connection) -> None:
    try:
        if max_memory_mb is not None:
            import resource

            limit = _vm_bytes() + int(max_memory_mb * 1024 * 1024)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        result = asyncio.run(cls().execute(inputs))
        conn.send(("ok", result))
    except MemoryError:
        conn.send(("memory", "MemoryError", f"the executor needed more than max_memory_mb={max_memory_mb:g} MB", ""))
    except BaseException as exc:
        conn.send(("error", type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))))
    finally:
        conn.close()
        os._exit(0)  # nothing of the worker's (its threads' locks, its atexit hooks) runs in the child


async def run_isolated(cls: Any, inputs: dict[str, Any], *, max_memory_mb: float | None) -> Any:
    """`cls().execute(inputs)` in a forked child; cancelling this kills the child."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(cls, inputs, max_memory_mb, send), daemon=True)
    child.start()
    send.close()
    try:
        message = await asyncio.to_thread(_receive, receive)
    except asyncio.CancelledError:
        child.kill()
        raise
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(child.join, 5)
        receive.close()
    if message is None:
        code = child.exitcode
        killed = code is not None and code < 0
        raise IsolatedFailure(f"the executor's process died (exit {code}){' : out of memory?' if killed else ''}",
                              code="max_memory" if killed and max_memory_mb is not None else "process_died")
    kind, *rest = message
    if kind == "ok":
        return rest[0]
    error_type, text, trace = rest
    raise IsolatedFailure(text, code="max_memory" if kind == "memory" else "executor_error", error_type=error_type,
                          trace=trace)


def _receive(conn: Connection) -> Any:
    try:
        return conn.recv()
    except EOFError:
        return None
