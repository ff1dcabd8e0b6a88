"""`RunConfig`: everything about how an agent runs, in one object with defaults a user rarely changes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..context import ContextPolicy
from ..errors import ConfigError
from ._bounds import Bound, check_bounds, check_flag
from ._execution import Limits

__all__ = ["RunConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """How an agent runs its executions: budgets, tools, requests and context fitting.

    Budgets are stored with each execution when its task is added (a resumed execution keeps the
    budgets it started with). Exceeding one ends the execution FAILED with an error that names it,
    or, with `final_turn`, first gives the model one last turn to call the finish tool.

    A failed request is retried by loopline, once for both SDKs (their own retries are turned off, so
    the two never multiply): connection errors and timeouts, 408, 409, 429 and 5xx, after
    `Retry-After` when the server sends one, else after `retry_delay_seconds` (or the SDKs' backoff);
    `max_duration` bounds the request in flight and its retries. `request_timeout` is handed to the
    SDK client. The request rate and concurrency limits hold for the agents that set them: agents of
    the process that set the same limits on the same provider endpoint share one budget, and an agent
    that sets none is never paced.
    """

    # --- budgets of one execution -------------------------------------------------------------------
    max_steps: int | None = 50
    """Model responses one execution may take; `None` for no bound."""
    max_duration: float | None = None
    """Wall-clock seconds from the task's start, a model request or tool in flight included (it is cut
    off when the time runs out); `None` for no bound."""
    max_total_tokens: int | None = None
    """Input plus output tokens over all model responses; `None` for no bound."""
    max_cost_usd: float | None = None
    """USD spent on model responses (from the price table); `None` for no bound."""
    max_tool_calls: int | None = None
    """Tool calls run; `None` for no bound."""
    max_finish_reminders: int = 2
    """When the finish tool is required: reminders after a text-only reply before giving up."""
    final_turn: bool = False
    """When a budget (steps, tokens, cost, tool calls) runs out, give the model one last turn to call the
    finish tool with what it has, instead of failing at once."""

    # --- tools --------------------------------------------------------------------------------------
    tool_timeout: float | None = None
    """Seconds a tool call may run before it becomes an error result (tools may set their own)."""
    parallel_tool_calls: bool = True
    """Let the model ask for several calls in one response and run them concurrently; when off,
    the request asks the model for one call at a time and calls run one after another."""

    # --- requests to the model ----------------------------------------------------------------------
    max_retries: int | None = None
    """Retries of a failed request (connection errors and timeouts, 408, 409, 429, 5xx); `None` keeps the
    SDK client's own setting (2 for both SDKs)."""
    retry_delay_seconds: float | None = None
    """Seconds between retries when the server sends no `Retry-After` (a `Retry-After` of up to two minutes
    wins, as in the openai SDK; after a longer one the request is not retried); `None` for the SDKs'
    backoff (0.5 s doubling to 8 s, with jitter)."""
    request_timeout: float | None = None
    """Seconds one request may take (the SDK client's timeout); `None` keeps the client's own."""
    requests_per_second: float | None = None
    """Requests started per second, over the agents of the process with the same limits on the same
    endpoint; `None` for no pacing. A new config on the agent applies from its next request."""
    max_concurrent_requests: int | None = None
    """Requests in flight at once, over the agents of the process with the same limits on the same
    endpoint; `None` for no bound. A new config on the agent applies from its next request."""

    # --- context fitting ----------------------------------------------------------------------------
    context: ContextPolicy = field(default_factory=ContextPolicy)
    """How a conversation too long for the model's context window is fitted into it (by default,
    when the model's window is known: see `loopline.context`)."""

    def __post_init__(self) -> None:
        self.limits()  # the budgets' own checks
        check_bounds(self, _BOUNDS)
        check_flag(self, "parallel_tool_calls")
        if not isinstance(self.context, ContextPolicy):
            raise ConfigError(f"context must be a ContextPolicy; got {self.context!r}")

    def limits(self) -> Limits:
        """The budgets, as stored with an execution."""
        return Limits(max_steps=self.max_steps, max_duration=self.max_duration,
                      max_total_tokens=self.max_total_tokens, max_cost_usd=self.max_cost_usd,
                      max_tool_calls=self.max_tool_calls, max_finish_reminders=self.max_finish_reminders,
                      final_turn=self.final_turn)

    def replace(self, **changes: object) -> RunConfig:
        """A copy with some fields changed: `config.replace(max_steps=10)`."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_limits(cls, limits: Limits, **settings: object) -> RunConfig:
        """A configuration with the budgets of `limits` and the given other settings."""
        budgets = {f.name: getattr(limits, f.name) for f in dataclasses.fields(Limits)}
        return cls(**budgets, **settings)  # type: ignore[arg-type]


_BOUNDS = {
    "tool_timeout": Bound(whole=False, low=0, above=True, unit="seconds"),
    "max_retries": Bound(whole=True, low=0),
    "retry_delay_seconds": Bound(whole=False, low=0, unit="seconds"),
    "request_timeout": Bound(whole=False, low=0, above=True, unit="seconds"),
    "requests_per_second": Bound(whole=False, low=0, above=True),
    "max_concurrent_requests": Bound(whole=True, low=1),
}
"""What each setting besides the budgets takes (`Limits` checks those)."""
