"""The run loop written once, without I/O: a generator of the steps a driver performs.

`steps` asks the machine what comes next and yields it: `AskModel` (send this request, then send the
response back in, or `None` when none came) or `RunCalls` (run these calls; nothing is sent back, the
driver records their results itself). It returns the `ExecutionResult` once the execution has ended or
waits for a decision from outside. Drivers (sync, async, streaming) stay short and perform only the
I/O, as httpx's auth flows do; the generator never imports a provider, a store or an agent. What it
cannot do itself (reading the clock, rendering a request, adding a response) it is handed as callables.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ContextOverflowError, ExecutionFinishedError, ProviderErrorResponse, ResponseParseError
from ..tools import ToolCall
from ._execution import ExecutionResult
from ._machine import CallModel, Done, ExecutionMachine, RunTools

__all__ = ["AskModel", "RunCalls", "Step", "steps"]


@dataclass(frozen=True, slots=True)
class AskModel:
    """Send `request` to the model; send its response back into the generator."""

    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunCalls:
    """Run these calls and record their results (nothing is sent back)."""

    calls: Sequence[ToolCall]


Step = AskModel | RunCalls


def steps(tick: Callable[[], ExecutionMachine], render: Callable[[], dict[str, Any]],
          take: Callable[[Any], object], fail: Callable[[str, str], object]) -> Generator[Step, Any, ExecutionResult]:
    """What to do next, until the execution ends (or pauses for a decision).

    Args:
        tick: The machine once the clock has been applied (a time limit may end the execution).
        render: The request for the conversation as it is now; `ContextOverflowError` when even the
            task and the newest turn exceed the model's window (the execution ends `context_overflow`).
        take: Add a response to the execution; `ResponseParseError` or `ProviderErrorResponse` for one
            that cannot be used (the execution ends `provider_error`); `ExecutionFinishedError` when the
            execution has ended meanwhile. The clock is applied before a response is taken: one that
            arrives after the deadline ends the execution FAILED (`max_duration`) and is not added.
        fail: End the execution FAILED with an error code and a message.
    """
    while True:
        machine = tick()
        action = machine.next_action()
        if isinstance(action, Done):
            return machine.execution.to_result()
        if isinstance(action, RunTools):
            yield RunCalls([ToolCall.from_part(c) for c in action.calls])
            continue
        assert isinstance(action, CallModel)
        try:
            request = render()
        except ContextOverflowError as exc:
            fail("context_overflow", str(exc))
            continue
        response = yield AskModel(request)
        if response is None or tick().execution.is_finished:
            continue  # none came, or it came too late: the clock has ended the execution, and it is not added
        try:
            take(response)
        except (ResponseParseError, ProviderErrorResponse) as exc:  # unusable (or cut) output
            fail("provider_error", f"{type(exc).__name__}: {exc}")
        except ExecutionFinishedError:
            continue  # it ended while the response was being added (its time ran out just then): not added
