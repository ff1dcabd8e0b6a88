"""Executions: one task's run over a thread, its status vocabulary, limits and result."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

from .._html import guarded
from ..messages import ToolCallPart, Usage, new_id
from ._bounds import Bound, check_bounds, check_flag
from ._html import execution_html, execution_summary, result_html, result_summary

__all__ = ["Execution", "ExecutionError", "ExecutionResult", "ExecutionStatus", "Limits"]


class ExecutionStatus(str, enum.Enum):
    """Where an execution is; the same vocabulary everywhere (store, API, events, CLI).

    The values are the upper-case words, so `execution.status == "COMPLETED"` holds for a completed
    execution. Reading accepts any case (`ExecutionStatus("completed")` is COMPLETED): records that
    earlier versions wrote in lower case, and what a person types, read as the same statuses.
    """

    PENDING = "PENDING"
    """Created, not started (queued work)."""
    RUNNING = "RUNNING"
    """Active: waiting for the model or for tool results."""
    PAUSED = "PAUSED"
    """Waiting for a decision from outside (approval, an interrupted call)."""
    COMPLETED = "COMPLETED"
    """Ended with a result."""
    FAILED = "FAILED"
    """Ended with an error (a limit, the model reported failure, a refusal, ...)."""
    CANCELLED = "CANCELLED"
    """Ended on request."""

    @classmethod
    def _missing_(cls, value: object) -> ExecutionStatus | None:
        """The status whose word `value` is in another case; `None` (a ValueError) for any other value."""
        return cls.__members__.get(value.upper()) if isinstance(value, str) else None

    @property
    def is_terminal(self) -> bool:
        """True for COMPLETED, FAILED and CANCELLED."""
        return self in _TERMINAL

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds on one execution; exceeding one ends it FAILED with an error naming the limit."""

    max_steps: int | None = 50
    """Model responses the execution may take; `None` for no bound."""
    max_duration: float | None = None
    """Wall-clock seconds from the task's start, a model request or tool in flight included (it is cut
    off when the time runs out); `None` for no bound."""
    max_finish_reminders: int = 2
    """When the finish tool is required: reminders sent after a text-only reply before giving up."""
    max_total_tokens: int | None = None
    """Input plus output tokens over all model responses; `None` for no bound."""
    max_cost_usd: float | None = None
    """USD spent on model responses (from the price table); `None` for no bound."""
    max_tool_calls: int | None = None
    """Tool calls run; a response that would go past the bound does not run; `None` for no bound."""
    final_turn: bool = False
    """When a budget (steps, tokens, cost, tool calls) runs out, give the model one last turn to call the
    finish tool with what it has, instead of failing at once."""

    def __post_init__(self) -> None:
        check_bounds(self, _LIMIT_BOUNDS)
        check_flag(self, "final_turn")


_LIMIT_BOUNDS = {
    "max_steps": Bound(whole=True, low=1), "max_duration": Bound(whole=False, low=0, above=True, unit="seconds"),
    "max_finish_reminders": Bound(whole=True, low=0, optional=False),
    "max_total_tokens": Bound(whole=True, low=1), "max_cost_usd": Bound(whole=False, low=0, above=True, unit="USD"),
    "max_tool_calls": Bound(whole=True, low=1),
}
"""What each budget takes (checked when `Limits` or a `RunConfig` is made)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionError:
    """Why an execution failed: a stable `code` for programs and a `message` for people."""

    code: str
    """One of `max_steps`, `max_duration`, `finish_required`, `refusal`, `truncated`, `content_filter`,
    `empty_reply`, `model_reported_failure` (the model called the finish tool with
    `is_success=false`), `provider_error`, `context_overflow`, `max_total_tokens`, `max_cost_usd`,
    `max_tool_calls`, or a later addition."""
    message: str
    """What happened and, where it helps, what to do."""


@dataclass(kw_only=True)
class Execution:
    """The state of one task's execution; the store keeps it, the loop updates it."""

    id: str = field(default_factory=lambda: new_id("exe"))
    """The execution's id."""
    thread_id: str
    """The thread (conversation) the execution reads and appends to."""
    agent_name: str
    """The agent that runs it."""
    input: str
    """The task as given to `add_task`."""
    status: ExecutionStatus = ExecutionStatus.PENDING
    """Where the execution is."""
    created_at: float = field(default_factory=time.time)
    """Unix time of creation."""
    updated_at: float = 0.0
    """Unix time of the last change."""
    result: Any = None
    """The result, once COMPLETED (or the model's explanation when it reported failure)."""
    error: ExecutionError | None = None
    """Why it FAILED."""
    usage: Usage = field(default_factory=Usage)
    """Tokens used by all model responses so far."""
    steps: int = 0
    """Model responses so far."""
    tool_calls: int = 0
    """Tool calls run so far."""
    finish_reminders: int = 0
    """Reminders sent to call the finish tool."""
    pending_tool_calls: tuple[ToolCallPart, ...] = ()
    """The last response's tool calls that have no result yet."""
    running_tool_calls: tuple[str, ...] = ()
    """Ids of pending calls that have been started and have not returned (their results are still
    accepted if the execution ends meanwhile, since their effects may have happened)."""
    limits: Limits = field(default_factory=Limits)
    """The bounds this execution runs under."""
    status_history: list[tuple[ExecutionStatus, float]] = field(default_factory=list)
    """Every status the execution had, with the Unix time it began."""
    parent_execution_id: str | None = None
    """The execution this one was started from, if any."""
    finish_tool_name: str | None = None
    """The name of the finish tool offered to the model, or `None` when there is none."""
    require_finish: bool = False
    """Whether a reply without a tool call must be answered with a reminder to call the finish tool."""
    output_schema: dict[str, Any] | None = None
    """The JSON Schema the result must match, when the task has one (kept so a resumed execution
    checks the result the same way)."""
    cost_usd: float = 0.0
    """USD spent on model responses so far, from the price table (0 for models it does not know)."""
    final_turn_given: bool = False
    """Whether the model got its last turn after a budget ran out (Limits.final_turn)."""
    awaiting_approval: tuple[str, ...] = ()
    """Ids of calls to tools that need a person's approval; the execution is PAUSED until each is
    approved or rejected."""
    awaiting_decision: tuple[str, ...] = ()
    """Ids of calls that were started but never returned (the process died) and whose tools are not
    idempotent: the execution is PAUSED until each is run again or given a result."""

    def __post_init__(self) -> None:
        if not self.updated_at:
            self.updated_at = self.created_at
        if not self.status_history:
            self.status_history.append((self.status, self.created_at))

    def copy(self) -> Execution:
        """An independent copy (the status history is copied; parts and usage are immutable)."""
        # Not dataclasses.replace: it re-runs __init__ over two dozen fields (~50 us); this is ~1 us,
        # and the loop copies the execution at every event.
        clone = object.__new__(Execution)
        clone.__dict__.update(self.__dict__)
        clone.status_history = list(self.status_history)
        return clone

    def set_status(self, status: ExecutionStatus, now: float) -> None:
        """Move to `status`, recording it in the history."""
        if status != self.status:
            self.status = status
            self.status_history.append((status, now))
        self.updated_at = now

    @property
    def pending_ids(self) -> tuple[str, ...]:
        """Ids of the pending tool calls."""
        return tuple(c.id for c in self.pending_tool_calls)

    @property
    def deadline(self) -> float | None:
        """Unix time at which `Limits.max_duration` runs out (`None` without one): requests and tools
        in flight are bounded by it, not only the gaps between steps."""
        limit = self.limits.max_duration
        return None if limit is None else self.created_at + limit

    def time_left(self, now: float) -> float | None:
        """Seconds until the deadline (0 once past it); `None` without a time limit."""
        deadline = self.deadline
        return None if deadline is None else max(0.0, deadline - now)

    @property
    def is_finished(self) -> bool:
        """True once the status is terminal."""
        return self.status.is_terminal

    def to_result(self) -> ExecutionResult:
        """The public summary of this execution."""
        return ExecutionResult(status=self.status, result=self.result,
                               error=self.error.message if self.error else None,
                               error_code=self.error.code if self.error else None,
                               execution_id=self.id, thread_id=self.thread_id, usage=self.usage, steps=self.steps,
                               cost_usd=self.cost_usd)

    def __str__(self) -> str:
        """One line: id, agent, thread, status, steps, tokens, cost, then the result or the error."""
        return execution_summary(self)

    def _repr_html_(self) -> str:
        """The execution as HTML for Jupyter: status, counts, usage, cost, duration, task, outcome."""
        return guarded(lambda: execution_html(self), "this execution")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """What an execution came to."""

    status: ExecutionStatus
    """COMPLETED, FAILED or CANCELLED once ended; RUNNING or PAUSED while not."""
    result: Any
    """The finish tool's result (parsed to the output schema when there was one), or the final text."""
    error: str | None
    """Why it failed, for people."""
    error_code: str | None
    """Why it failed, for programs (see `ExecutionError.code`)."""
    execution_id: str
    """The execution's id."""
    thread_id: str
    """The thread; hand it to another agent's `add_task(thread_id=...)` to continue the conversation."""
    usage: Usage
    """Tokens used."""
    steps: int
    """Model responses taken."""
    cost_usd: float = 0.0
    """USD spent on model responses, from the price table."""

    @property
    def ok(self) -> bool:
        """True when the execution COMPLETED."""
        return self.status is ExecutionStatus.COMPLETED

    def __str__(self) -> str:
        """One line: status, steps, tokens, cost, then the result or the error."""
        return result_summary(self)

    def _repr_html_(self) -> str:
        """The result as HTML for Jupyter: status, steps, usage, cost, ids, result or error."""
        return guarded(lambda: result_html(self), "this execution result")
