"""`agent.run()` and `agent.arun()`: loopline drives the loop.

The loop is written once, as a generator over the state machine's next action: it yields what needs
doing (ask the model, run tools) and is sent the outcome. The sync driver performs those with the
model's `complete` and `run_tools`; the async driver with `acomplete` and `arun_tools`. Neither needs
the other's event loop, so `run()` works inside Jupyter's running loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import LooplineError, UsageError
from ..loop import CallModel, Done, ExecutionResult, RunTools
from ..providers import Model
from ..tools import ToolCall

if TYPE_CHECKING:
    from ._agent import Agent

__all__ = ["arun", "run"]


@dataclass(frozen=True, slots=True)
class _Ask:
    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Tools:
    calls: Sequence[ToolCall]


_Step = _Ask | _Tools


def _flow(agent: Agent, model: Model) -> Generator[_Step, Any, ExecutionResult]:
    """The loop, once: what to do next, until the execution ends (or pauses for a decision)."""
    while True:
        machine = agent._apply(lambda m: m.check_clock(time.time()))
        action = machine.next_action()
        if isinstance(action, Done):
            return machine.execution.to_result()
        if isinstance(action, RunTools):
            yield _Tools([ToolCall.from_part(c) for c in action.calls])
            continue
        assert isinstance(action, CallModel)
        response = yield _Ask(agent.request_kwargs(model.provider))
        if response is not None:
            agent.add_messages(response, model.provider)


def _provider_failed(agent: Agent, exc: Exception) -> None:
    """An error the client raised after its own retries ends the execution FAILED; nothing half-written."""
    message = f"{type(exc).__name__}: {exc}"
    agent._apply(lambda m: m.provider_failed(message, time.time()))


def run(agent: Agent, model: Model) -> ExecutionResult:
    """The sync driver."""
    flow = _flow(agent, model)
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
        try:
            outcome = model.complete(step.request)
        except LooplineError:
            raise
        except Exception as exc:  # the SDK's errors after its retries: record them, end the execution
            _provider_failed(agent, exc)


async def arun(agent: Agent, model: Model) -> ExecutionResult:
    """The async driver; cancelling its task ends the execution CANCELLED at that point."""
    flow = _flow(agent, model)
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
            try:
                outcome = await model.acomplete(step.request)
            except LooplineError:
                raise
            except Exception as exc:
                _provider_failed(agent, exc)
    except asyncio.CancelledError:
        agent.cancel()
        raise


def check_input(agent: Agent, input: str | None) -> None:
    """`run(input)` starts a task; `run()` continues the one `add_task` (or `resume`) set up."""
    if input is not None:
        agent.add_task(input)
    elif agent.execution is None:
        raise UsageError("run() without input needs a task: pass input=..., or call add_task first")
