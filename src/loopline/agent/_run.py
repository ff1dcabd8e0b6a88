"""`agent.run()`, `arun()`, `stream()` and `astream()`: loopline drives the loop.

The loop is written once, as `loopline.loop.steps`, a generator over the state machine's next action:
it yields what needs doing (ask the model, run tools) and is sent the outcome. The drivers here only
perform that I/O: the sync one with the model's `complete` and `ExecutionState.run_tools`, the async
one with `acomplete` and `arun_tools`. Neither needs the other's event loop, so `run()` works inside
Jupyter's running loop. A driver takes the execution's state, the speaker that renders requests and
reads responses (the `Agent`), and the model; nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..errors import DeadlineExceededError, LooplineError, UsageError
from ..loop import ExecutionMachine, ExecutionResult, ExecutionStatus, RunCalls, RunConfig, Step, steps
from ..messages import Message
from ..providers import LLMProvider, Model, RequestLimiter, StreamingModel, shared_limiter, to_plain, translator
from ..tools import ToolCallResult
from ._events import Finished, RunEvent, StatusChanged, ToolResult, UsageReport
from ._progress import Progress
from ._state import ExecutionState

__all__ = ["Speaker", "arun", "astream", "cannot_stream", "run", "stream"]

_M = TypeVar("_M", bound=Model)


class Speaker(Protocol):
    """What renders the conversation into requests and reads responses back (an `Agent`), and its config."""

    @property
    def config(self) -> RunConfig: ...

    def request_kwargs(self, llm_provider: LLMProvider | str | None = None, *, include_tools: bool = True,
                       model: str | None = None, max_tokens: int | None = None) -> dict[str, Any]: ...

    def add_messages(self, response: Any, llm_provider: LLMProvider | str | None = None) -> list[Message]: ...


def _flow(state: ExecutionState, speaker: Speaker, model: Model,
          progress: Progress | None = None) -> Generator[Step, Any, ExecutionResult]:
    """The loop, once: what to do next, until the execution ends (or pauses for a decision)."""

    def tick() -> ExecutionMachine:
        machine = state.check_clock()
        if progress is not None:
            progress.update(machine.execution)
        return machine

    try:
        return (yield from steps(
            tick, lambda: speaker.request_kwargs(model.provider, model=model.name, max_tokens=_reply_limit(model)),
            lambda response: speaker.add_messages(response, model.provider), state.fail))
    finally:
        if progress is not None:
            progress.close(state.execution)


def _reply_limit(model: Model) -> int | None:
    """The reply limit an SDK model sends with every request, if it sets one."""
    params = getattr(model, "params", None) or {}
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if isinstance(params.get(key), int):
            return int(params[key])
    return None


@contextlib.contextmanager
def _provider_errors(state: ExecutionState) -> Iterator[None]:
    """An error the client raises after the retries (or a failed, cut stream) ends the execution FAILED
    with `provider_error`, or with `max_duration` when the execution's time ran out meanwhile (the
    deadline cut the request short, or a retry would have waited past it); nothing half-received is written.
    loopline's own errors propagate."""
    try:
        yield
    except DeadlineExceededError as exc:  # not retried because the wait would pass the deadline
        if not state.check_clock().execution.is_finished:
            limit = state.execution.limits.max_duration or 0.0
            state.fail("max_duration", f"the request could not be retried within the execution's limit of {limit:g} "
                       f"seconds (Limits.max_duration): {exc}")
    except LooplineError:
        raise
    except Exception as exc:
        if not state.check_clock().execution.is_finished:
            state.fail("provider_error", f"{type(exc).__name__}: {exc}")


def _within_deadline(state: ExecutionState, model: _M) -> _M:
    """The model bounded by the execution's deadline (`max_duration`), so that a request in flight and
    its retries end when the time does; models that take no settings are bounded between steps only."""
    deadline = state.execution.deadline
    configure = getattr(model, "configured", None)
    return configure(deadline=deadline) if configure is not None and deadline is not None else model


def _limiter(speaker: Speaker, model: Model) -> RequestLimiter | None:
    """The limiter of the agent's own limits on the model's endpoint (shared with agents asking the same),
    or None when it asks for none. Looked up for every request, so a new `agent.config` applies at once."""
    config = speaker.config
    endpoint = getattr(model, "endpoint", None) or model.provider.value
    return shared_limiter(str(endpoint), config.requests_per_second, config.max_concurrent_requests)


def _slot(speaker: Speaker, model: Model) -> contextlib.AbstractContextManager[None]:
    limiter = _limiter(speaker, model)
    return limiter.slot() if limiter is not None else contextlib.nullcontext()


def _aslot(speaker: Speaker, model: Model) -> contextlib.AbstractAsyncContextManager[None]:
    limiter = _limiter(speaker, model)
    return limiter.aslot() if limiter is not None else contextlib.nullcontext()


def run(state: ExecutionState, speaker: Speaker, model: Model, progress: Progress | None = None) -> ExecutionResult:
    """The sync driver."""
    model = _within_deadline(state, model)
    flow = _flow(state, speaker, model, progress)
    outcome: Any = None
    while True:
        try:
            step = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        outcome = None
        if isinstance(step, RunCalls):
            state.run_tools(step.calls, speaker.config)
            continue
        with _provider_errors(state), _slot(speaker, model):
            outcome = model.complete(step.request)


async def arun(state: ExecutionState, speaker: Speaker, model: Model,
               progress: Progress | None = None) -> ExecutionResult:
    """The async driver; cancelling its task ends the execution CANCELLED at that point."""
    model = _within_deadline(state, model)
    flow = _flow(state, speaker, model, progress)
    outcome: Any = None
    try:
        while True:
            ended, step = await state.settled(functools.partial(_advance, flow, outcome))
            if ended:
                return step  # type: ignore[no-any-return]
            outcome = None
            if isinstance(step, RunCalls):
                await state.arun_tools(step.calls, speaker.config)
                continue
            with _provider_errors(state):
                async with _aslot(speaker, model):
                    outcome = await model.acomplete(step.request)
    except asyncio.CancelledError:
        state.cancel()
        raise


def _advance(flow: Generator[Step, Any, ExecutionResult], outcome: Any) -> tuple[bool, Any]:
    """The flow's next step, `(False, step)`, or `(True, result)` once it ended (a `StopIteration` cannot
    cross from a worker thread into a future)."""
    try:
        return False, flow.send(outcome)
    except StopIteration as stop:
        return True, stop.value


def cannot_stream(model: Model) -> UsageError:
    return UsageError(f"{type(model).__name__} cannot stream (it has no stream/astream); use run() instead")


def _after_response(state: ExecutionState, before: tuple[ExecutionStatus, int]) -> list[RunEvent]:
    ex = state.execution
    events: list[RunEvent] = []
    last = next((m for m in reversed(state.thread) if m.role == "assistant"), None)
    if ex.steps != before[1] and last is not None and last.usage is not None:
        events.append(UsageReport(last.usage, ex.usage, ex.cost_usd))
    if ex.status != before[0]:
        events.append(StatusChanged(ex.status))
    return events


def _after_tools(state: ExecutionState, results: Sequence[ToolCallResult], before: ExecutionStatus) -> list[RunEvent]:
    events: list[RunEvent] = [ToolResult(r) for r in results]
    status = state.execution.status
    return [*events, StatusChanged(status)] if status != before else events


def _now(state: ExecutionState) -> tuple[ExecutionStatus, int]:
    ex = state.execution
    return ex.status, ex.steps


def stream(state: ExecutionState, speaker: Speaker, model: Model) -> Iterator[RunEvent]:
    """The sync streaming driver."""
    if not isinstance(model, StreamingModel):
        raise cannot_stream(model)
    model = _within_deadline(state, model)
    flow = _flow(state, speaker, model)
    outcome: Any = None
    asked: tuple[ExecutionStatus, int] | None = None  # the state before the response just streamed
    while True:
        try:
            step = flow.send(outcome)  # adds the streamed response (if any) to the thread
        except StopIteration as stop:
            yield from _after_response(state, asked) if asked else ()
            yield Finished(stop.value)
            return
        yield from _after_response(state, asked) if asked else ()
        outcome, asked = None, _now(state)
        if isinstance(step, RunCalls):
            status, asked = _now(state)[0], None
            yield from _after_tools(state, state.run_tools(step.calls, speaker.config), status)
            continue
        translate = translator(model.provider)
        events: list[dict[str, Any]] = []
        # The slot is held until the stream has been read (or closed).
        with _provider_errors(state), _slot(speaker, model), _opened(model.stream(step.request)) as raws:
            for raw in raws:
                if _out_of_time(state):
                    break  # a stream the server keeps sending is cut at the deadline: nothing of it is added
                events.append(to_plain(raw))
                yield from translate(events[-1])
            else:
                outcome = events


async def astream(state: ExecutionState, speaker: Speaker, model: Model) -> AsyncIterator[RunEvent]:
    """The async streaming driver; cancelling it ends the execution CANCELLED."""
    if not isinstance(model, StreamingModel):
        raise cannot_stream(model)
    model = _within_deadline(state, model)
    flow = _flow(state, speaker, model)
    outcome: Any = None
    asked: tuple[ExecutionStatus, int] | None = None
    try:
        while True:
            try:
                step = flow.send(outcome)
            except StopIteration as stop:
                for event in _after_response(state, asked) if asked else ():
                    yield event
                yield Finished(stop.value)
                return
            for event in _after_response(state, asked) if asked else ():
                yield event
            outcome, asked = None, _now(state)
            if isinstance(step, RunCalls):
                status, asked = _now(state)[0], None
                for event in _after_tools(state, await state.arun_tools(step.calls, speaker.config), status):
                    yield event
                continue
            received = _Received()
            async with _aslot(speaker, model):
                async for delta in _astream_response(state, model, step.request, received):
                    yield delta
            outcome = received.events if received.complete else None
    except asyncio.CancelledError:
        state.cancel()
        raise


@dataclass
class _Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False


async def _astream_response(state: ExecutionState, model: StreamingModel, request: dict[str, Any],
                            received: _Received) -> AsyncIterator[RunEvent]:
    """Stream one response, yielding its deltas; `received` holds the events, and whether all came."""
    translate = translator(model.provider)
    with _provider_errors(state):
        raws = aiter(model.astream(request))
        try:
            async for raw in raws:
                if _out_of_time(state):
                    return  # cut at the deadline, as `stream` does: not complete, so nothing of it is added
                received.events.append(to_plain(raw))
                for delta in translate(received.events[-1]):
                    yield delta
            received.complete = True
        finally:
            close = getattr(raws, "aclose", None)
            if close is not None:
                await close()


def _out_of_time(state: ExecutionState) -> bool:
    """Whether the execution's deadline has passed: a stream is read no further (the per-read timeout of
    the SDK's client never ends a stream whose events keep coming)."""
    return state.execution.time_left(time.time()) == 0


@contextlib.contextmanager
def _opened(stream: Iterable[Any]) -> Iterator[Iterator[Any]]:
    """The stream's events; closed at the end, so that one left unread (cut at the deadline, or abandoned)
    lets its connection go at once."""
    events = iter(stream)
    try:
        yield events
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
