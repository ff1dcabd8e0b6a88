"""Running tool calls: validation, concurrency, timeouts, and errors turned into results.

One preparation step (find the tool, check and convert the arguments) and one result step are
shared by two thin drivers: `run_calls` for synchronous callers (threads; it never needs or starts an
event loop in the caller's thread, so it works inside Jupyter) and `arun_calls` for asyncio.

Nothing here raises because of what the model asked for: an unknown tool, arguments that are not
JSON or fail the schema, a tool that raises or runs past its timeout each become an error result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._call import ToolCall, ToolCallResult, ToolContext
from ._json import clean_text, split_files
from ._tool import Tool

__all__ = ["ContextFactory", "arun_calls", "run_calls"]

ContextFactory = Callable[[ToolCall], ToolContext]

@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """One shared pool per process (created on first use) for sync tools run concurrently."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=min(64, (os.cpu_count() or 1) + 16),
                                                 thread_name_prefix="loopline-tool")


# A forked child inherits the pool without its threads and would wait forever for them: it makes its own.
os.register_at_fork(after_in_child=_pool.cache_clear)


@dataclass(slots=True)
class _Prepared:
    call: ToolCall
    tool: Tool | None
    kwargs: dict[str, Any] | None
    error: str | None
    timeout: float | None
    by_time_left: bool = False
    """Whether `timeout` is the time the execution has left (shorter than the tool's own timeout)."""
    checking: float = 0.0
    """Seconds spent finding the tool and checking its arguments."""
    started: float = 0.0
    """When the tool itself started (`perf_counter`); set at launch, so queued calls are not charged."""

    def launch(self) -> _Prepared:
        self.started = time.perf_counter()
        return self

    def remaining(self) -> float | None:
        return None if self.timeout is None else max(0.0, self.started + self.timeout - time.perf_counter())


class _ToolTimeout(Exception):
    """loopline's own timeout, distinct from a `TimeoutError` a tool raises itself."""


def _deadline(time_left: float | None) -> float | None:
    """The `time.monotonic()` by which the execution's time runs out, fixed when the batch begins."""
    return None if time_left is None else time.monotonic() + time_left


def _prepare(call: ToolCall, tools: Mapping[str, Tool], context: ToolContext,
             default_timeout: float | None, deadline: float | None = None) -> _Prepared:
    began = time.perf_counter()
    prepared = _check(call, tools, context, default_timeout)
    _bound(prepared, deadline)
    prepared.checking = time.perf_counter() - began
    return prepared


def _bound(prepared: _Prepared, deadline: float | None) -> None:
    """The time the execution has left when the call starts bounds its timeout; with none left, the call
    does not start. Called again as each call of a sequential batch starts, so the calls share the time
    left instead of each getting all of it."""
    if deadline is None or prepared.error is not None:
        return
    time_left = deadline - time.monotonic()
    if time_left <= 0:
        prepared.error = "not run; the execution's time limit (max_duration) ran out"
    elif prepared.timeout is None or time_left < prepared.timeout:
        prepared.timeout, prepared.by_time_left = time_left, True


def _check(call: ToolCall, tools: Mapping[str, Tool], context: ToolContext,
           default_timeout: float | None) -> _Prepared:
    tool = tools.get(call.name)
    if tool is None:
        names = ", ".join(sorted(tools)) or "none"
        return _Prepared(call, None, None, f"unknown tool {call.name!r}; the available tools are: {names}", None)
    timeout = tool.timeout if tool.timeout is not None else default_timeout
    if call.arguments_error is not None:
        return _Prepared(call, tool, None, f"tool {call.name!r}: {call.arguments_error}", timeout)
    if tool.definition.tool_type == "custom":
        extra = {tool.context_param: context} if tool.context_param else {}
        return _Prepared(call, tool, {"input": call.raw_arguments, **extra}, None, timeout)
    problems = tool.validation_errors(call.arguments)
    if problems:
        return _Prepared(call, tool, None, f"invalid arguments for tool {call.name!r}: {'; '.join(problems)}", timeout)
    try:
        kwargs = tool.bind(call.arguments, context)
    except ValueError as exc:
        return _Prepared(call, tool, None, f"invalid arguments for tool {call.name!r}: {exc}", timeout)
    return _Prepared(call, tool, kwargs, None, timeout)


def _result(prepared: _Prepared, *, value: Any = None, exc: BaseException | None = None) -> ToolCallResult:
    call = prepared.call
    ran = time.perf_counter() - prepared.started if prepared.started else 0.0
    duration = prepared.checking + ran
    error = prepared.error
    if error is None and isinstance(exc, _ToolTimeout):
        seconds = round(prepared.timeout or 0, 2) if prepared.by_time_left else prepared.timeout or 0
        error = f"tool {call.name!r} did not finish within {seconds:g} seconds"
        if prepared.by_time_left:
            error += ", the time the execution had left (max_duration); it was cut off"
        exc = None
    elif error is None and exc is not None:
        error = f"tool {call.name!r} raised {type(exc).__name__}: {exc}"
    if error is not None:
        error = clean_text(error)
        return ToolCallResult(tool_call_id=call.id, function_name=call.name, payload=call.arguments,
                              result=None, is_success=False, content=f"Error: {error}", duration=duration,
                              error=error, exception=exc)
    content, files = split_files(value)
    return ToolCallResult(tool_call_id=call.id, function_name=call.name, payload=call.arguments, result=value,
                          is_success=True, content=content, files=files, duration=duration)


# --- the synchronous driver ---------------------------------------------------------------------


def run_calls(calls: Sequence[ToolCall], tools: Mapping[str, Tool], context: ContextFactory, *,
              default_timeout: float | None = None, parallel: bool = True,
              time_left: float | None = None) -> list[ToolCallResult]:
    """Run calls and return their results in the order of `calls`.

    Sync tools run in a shared thread pool when there are several calls (or a timeout to enforce);
    async tools run on a private event loop in a pool thread, so the caller's thread never needs one.
    A sync tool past its timeout cannot be stopped: its result becomes an error and the thread is
    left to finish on its own. `time_left` (the seconds the execution has left) bounds the calls: each
    call's timeout is the time left when it starts, and a call that would start after it ran out does not.
    """
    deadline = _deadline(time_left)
    prepared = [_prepare(c, tools, context(c), default_timeout, deadline) for c in calls]
    runnable = [p for p in prepared if p.error is None]
    if len(runnable) == 1 and _can_run_inline(runnable[0]):
        return [_invoke_inline(p.launch()) if p.error is None else _result(p) for p in prepared]
    if not parallel:
        return [_run_in_turn(p, deadline) for p in prepared]
    futures = {id(p): _submit(p) for p in runnable}
    return [_await_future(p, futures[id(p)]) if p.error is None else _result(p) for p in prepared]


def _run_in_turn(p: _Prepared, deadline: float | None) -> ToolCallResult:
    """One call of a sequential batch: bounded by the time left now, after the calls before it."""
    _bound(p, deadline)
    return _await_future(p, _submit(p)) if p.error is None else _result(p)


def _submit(p: _Prepared) -> concurrent.futures.Future[Any]:
    """Start a call now. Calls with a timeout get a thread of their own: in the shared pool they could
    wait behind stuck tools and be charged for the wait. Either way the call runs in the caller's
    context (context variables, such as a `block_model_requests()` around the run, reach the tool)."""
    context = contextvars.copy_context()
    if p.timeout is None:
        return _pool().submit(context.run, _invoke, p.launch())
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def work() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(_invoke(p))
            except BaseException as exc:
                future.set_exception(exc)

    p.launch()
    threading.Thread(target=context.run, args=(work,), name=f"loopline-tool-{p.call.name}", daemon=True).start()
    return future


def _can_run_inline(p: _Prepared) -> bool:
    return p.timeout is None and p.tool is not None and not p.tool.is_async


def _invoke_inline(p: _Prepared) -> ToolCallResult:
    try:
        value = _invoke(p)
    except Exception as exc:
        return _result(p, exc=exc)
    return _result(p, value=value)


def _invoke(p: _Prepared) -> Any:
    """Run one call to completion in the current thread (which has no running event loop)."""
    assert p.tool is not None and p.kwargs is not None
    value = p.tool.function(**p.kwargs)
    if inspect.isawaitable(value):
        return asyncio.run(_bounded(value, p.remaining()))
    return value


async def _bounded(awaitable: Any, timeout: float | None) -> Any:
    """Await with a time limit; only loopline's own limit becomes `_ToolTimeout`."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    finally:
        if not task.done():  # timed out, or we were cancelled: do not leave the tool running
            task.cancel()
    if not done:
        raise _ToolTimeout()
    return task.result()


def _await_future(p: _Prepared, future: concurrent.futures.Future[Any]) -> ToolCallResult:
    done, _ = concurrent.futures.wait([future], timeout=p.remaining())
    if not done:
        future.cancel()
        return _result(p, exc=_ToolTimeout())
    try:
        value = future.result()
    except Exception as exc:
        return _result(p, exc=exc)
    return _result(p, value=value)


# --- the asynchronous driver --------------------------------------------------------------------


async def arun_calls(calls: Sequence[ToolCall], tools: Mapping[str, Tool], context: ContextFactory, *,
                     default_timeout: float | None = None, parallel: bool = True,
                     time_left: float | None = None) -> list[ToolCallResult]:
    """Like `run_calls`, for asyncio: async tools are awaited, sync tools run in worker threads."""
    deadline = _deadline(time_left)
    prepared = [_prepare(c, tools, context(c), default_timeout, deadline) for c in calls]
    if parallel:
        return list(await asyncio.gather(*(_aone(p, deadline) for p in prepared)))
    return [await _aone(p, deadline) for p in prepared]


async def _aone(p: _Prepared, deadline: float | None) -> ToolCallResult:
    _bound(p, deadline)  # in a sequential batch, the time left after the calls before this one
    if p.error is not None:
        return _result(p)
    assert p.tool is not None and p.kwargs is not None
    p.launch()
    try:
        if p.tool.is_async:
            value = await _bounded(p.tool.function(**p.kwargs), p.timeout)
        else:
            value = await _bounded(asyncio.to_thread(_invoke, p), p.timeout)
    except Exception as exc:
        return _result(p, exc=exc)
    return _result(p, value=value)
