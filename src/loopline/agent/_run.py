"""`agent.run()`, `arun()`, `stream()` and `astream()`: loopline drives the loop.

The loop is written once, as a generator over the state machine's next action: it yields what needs
doing (ask the model, run tools) and is sent the outcome. The sync driver performs those with the
model's `complete` and `run_tools`; the async driver with `acomplete` and `arun_tools`. Neither needs
the other's event loop, so `run()` works inside Jupyter's running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ContextOverflowError, LooplineError, ProviderErrorResponse, ResponseParseError, UsageError
from ..loop import CallModel, Done, ExecutionResult, ExecutionStatus, RunTools
from ..providers import Model, RequestLimiter, StreamingModel, shared_limiter, to_plain, translator
from ..tools import ToolCall, ToolCallResult
from ._events import Finished, RunEvent, StatusChanged, ToolResult, UsageReport
from ._progress import Progress

if TYPE_CHECKING:
    from ._agent import Agent
    from ._input import TaskInput

__all__ = ["arun", "astream", "run", "stream"]


@dataclass(frozen=True, slots=True)
class _Ask:
    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Tools:
    calls: Sequence[ToolCall]


_Step = _Ask | _Tools
_M = TypeVar("_M", bound=Model)


def _flow(agent: Agent, model: Model, progress: Progress | None = None) -> Generator[_Step, Any, ExecutionResult]:
    """The loop, once: what to do next, until the execution ends (or pauses for a decision)."""
    try:
        return (yield from _steps(agent, model, progress))
    finally:
        if progress is not None and agent.execution is not None:
            progress.close(agent.execution)


def _steps(agent: Agent, model: Model, progress: Progress | None) -> Generator[_Step, Any, ExecutionResult]:
    while True:
        machine = agent._apply(lambda m: m.check_clock(time.time()))
        if progress is not None:
            progress.update(machine.execution)
        action = machine.next_action()
        if isinstance(action, Done):
            return machine.execution.to_result()
        if isinstance(action, RunTools):
            yield _Tools([ToolCall.from_part(c) for c in action.calls])
            continue
        assert isinstance(action, CallModel)
        try:
            request = agent.request_kwargs(model.provider, model=model.name, max_tokens=_reply_limit(model))
        except ContextOverflowError as exc:  # even the task and the newest turn exceed the window
            _failed(agent, "context_overflow", str(exc))
            continue
        response = yield _Ask(request)
        if response is not None:
            try:
                agent.add_messages(response, model.provider)
            except (ResponseParseError, ProviderErrorResponse) as exc:  # unusable (or cut) output
                _provider_failed(agent, exc)


def _reply_limit(model: Model) -> int | None:
    """The reply limit an SDK model sends with every request, if it sets one."""
    params = getattr(model, "params", None) or {}
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        if isinstance(params.get(key), int):
            return int(params[key])
    return None


@contextlib.contextmanager
def _provider_errors(agent: Agent) -> Iterator[None]:
    """An error the client raises after the retries (or a failed, cut stream) ends the execution FAILED
    with `provider_error`, or with `max_duration` when the execution's time ran out meanwhile (the
    deadline cut the request short); nothing half-received is written. loopline's own errors propagate."""
    try:
        yield
    except LooplineError:
        raise
    except Exception as exc:
        if not agent._apply(lambda m: m.check_clock(time.time())).execution.is_finished:
            _provider_failed(agent, exc)


def _provider_failed(agent: Agent, exc: Exception) -> None:
    _failed(agent, "provider_error", f"{type(exc).__name__}: {exc}")


def _failed(agent: Agent, code: str, message: str) -> None:
    agent._apply(lambda m: m.request_failed(code, message, time.time()))


def _within_deadline(agent: Agent, model: _M) -> _M:
    """The model bounded by the execution's deadline (`max_duration`), so that a request in flight and
    its retries end when the time does; models that take no settings are bounded between steps only."""
    deadline = agent._require_machine().execution.deadline
    configure = getattr(model, "configured", None)
    return configure(deadline=deadline) if configure is not None and deadline is not None else model


def _limiter(agent: Agent, model: Model) -> RequestLimiter | None:
    """The limiter of the agent's own limits on the model's endpoint (shared with agents asking the same),
    or None when it asks for none. Looked up for every request, so a new `agent.config` applies at once."""
    config = agent.config
    endpoint = getattr(model, "endpoint", None) or model.provider.value
    return shared_limiter(str(endpoint), config.requests_per_second, config.max_concurrent_requests)


def _slot(agent: Agent, model: Model) -> contextlib.AbstractContextManager[None]:
    limiter = _limiter(agent, model)
    return limiter.slot() if limiter is not None else contextlib.nullcontext()


def _aslot(agent: Agent, model: Model) -> contextlib.AbstractAsyncContextManager[None]:
    limiter = _limiter(agent, model)
    return limiter.aslot() if limiter is not None else contextlib.nullcontext()


def run(agent: Agent, model: Model, progress: Progress | None = None) -> ExecutionResult:
    """The sync driver."""
    model = _within_deadline(agent, model)
    flow = _flow(agent, model, progress)
    outcome: Any = None
    while True:
        try:
            step = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        outcome = None
        if isinstance(step, _Tools):
            agent.run_tools(step.calls)
            continue
        with _provider_errors(agent), _slot(agent, model):
            outcome = model.complete(step.request)


async def arun(agent: Agent, model: Model, progress: Progress | None = None) -> ExecutionResult:
    """The async driver; cancelling its task ends the execution CANCELLED at that point."""
    model = _within_deadline(agent, model)
    flow = _flow(agent, model, progress)
    outcome: Any = None
    try:
        while True:
            try:
                step = flow.send(outcome)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            outcome = None
            if isinstance(step, _Tools):
                await agent.arun_tools(step.calls)
                continue
            with _provider_errors(agent):
                async with _aslot(agent, model):
                    outcome = await model.acomplete(step.request)
    except asyncio.CancelledError:
        agent.cancel()
        raise


def check_input(agent: Agent, input: TaskInput | None, model: Model, *, asynchronous: bool) -> None:
    """`run(input)` starts a task; `run()` continues the one `add_task` (or `resume`) set up.

    The model's client is built (or checked) after the arguments and before the task is added, and
    `add_task` checks the input before it creates anything: a failure before the first request (a
    missing key, another vendor's client, bad input) leaves no execution and no thread behind.
    """
    if input is None and agent.execution is None:
        raise UsageError("run() without input needs a task: pass input=..., or call add_task first")
    connect = getattr(model, "connect", None)  # the SDK-backed models build or check their client
    if connect is not None:
        connect(asynchronous=asynchronous)
    if input is not None:
        agent.add_task(input)


def cannot_stream(model: Model) -> UsageError:
    return UsageError(f"{type(model).__name__} cannot stream (it has no stream/astream); use run() instead")


def _after_response(agent: Agent, before: tuple[ExecutionStatus, int]) -> list[RunEvent]:
    ex = agent._require_machine().execution
    events: list[RunEvent] = []
    last = next((m for m in reversed(agent.thread) if m.role == "assistant"), None)
    if ex.steps != before[1] and last is not None and last.usage is not None:
        events.append(UsageReport(last.usage, ex.usage, ex.cost_usd))
    if ex.status != before[0]:
        events.append(StatusChanged(ex.status))
    return events


def _after_tools(agent: Agent, results: Sequence[ToolCallResult], before: ExecutionStatus) -> list[RunEvent]:
    events: list[RunEvent] = [ToolResult(r) for r in results]
    status = agent._require_machine().execution.status
    return [*events, StatusChanged(status)] if status != before else events


def _state(agent: Agent) -> tuple[ExecutionStatus, int]:
    ex = agent._require_machine().execution
    return ex.status, ex.steps


def stream(agent: Agent, model: Model) -> Iterator[RunEvent]:
    """The sync streaming driver."""
    if not isinstance(model, StreamingModel):
        raise cannot_stream(model)
    model = _within_deadline(agent, model)
    flow = _flow(agent, model)
    outcome: Any = None
    asked: tuple[ExecutionStatus, int] | None = None  # the state before the response just streamed
    while True:
        try:
            step = flow.send(outcome)  # adds the streamed response (if any) to the thread
        except StopIteration as stop:
            yield from _after_response(agent, asked) if asked else ()
            yield Finished(stop.value)
            return
        yield from _after_response(agent, asked) if asked else ()
        outcome, asked = None, _state(agent)
        if isinstance(step, _Tools):
            status, asked = _state(agent)[0], None
            yield from _after_tools(agent, agent.run_tools(step.calls), status)
            continue
        translate = translator(model.provider)
        events: list[dict[str, Any]] = []
        with _provider_errors(agent), _slot(agent, model):  # the slot is held until the stream has been read
            for raw in model.stream(step.request):
                events.append(to_plain(raw))
                yield from translate(events[-1])
            outcome = events


async def astream(agent: Agent, model: Model) -> AsyncIterator[RunEvent]:
    """The async streaming driver; cancelling it ends the execution CANCELLED."""
    if not isinstance(model, StreamingModel):
        raise cannot_stream(model)
    model = _within_deadline(agent, model)
    flow = _flow(agent, model)
    outcome: Any = None
    asked: tuple[ExecutionStatus, int] | None = None
    try:
        while True:
            try:
                step = flow.send(outcome)
            except StopIteration as stop:
                for event in _after_response(agent, asked) if asked else ():
                    yield event
                yield Finished(stop.value)
                return
            for event in _after_response(agent, asked) if asked else ():
                yield event
            outcome, asked = None, _state(agent)
            if isinstance(step, _Tools):
                status, asked = _state(agent)[0], None
                for event in _after_tools(agent, await agent.arun_tools(step.calls), status):
                    yield event
                continue
            received = _Received()
            async with _aslot(agent, model):
                async for delta in _astream_response(agent, model, step.request, received):
                    yield delta
            outcome = received.events if received.complete else None
    except asyncio.CancelledError:
        agent.cancel()
        raise


@dataclass
class _Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False


async def _astream_response(agent: Agent, model: StreamingModel, request: dict[str, Any],
                            received: _Received) -> AsyncIterator[RunEvent]:
    """Stream one response, yielding its deltas; `received` holds the events, and whether all came."""
    translate = translator(model.provider)
    with _provider_errors(agent):
        async for raw in model.astream(request):
            received.events.append(to_plain(raw))
            for delta in translate(received.events[-1]):
                yield delta
        received.complete = True
