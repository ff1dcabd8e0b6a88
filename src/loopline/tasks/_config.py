"""`TaskConfig`: what a task may do, set by whoever creates it and carried with it to the worker."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..loop import RunConfig

__all__ = ["TaskConfig"]

_MEMORY_SCOPES = {"session": "execution", "permanent": "agent", "thread": "thread"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskConfig:
    """Limits and settings of one task (the seed's task configuration).

    Enforced by the worker that runs the task, wherever it runs (a task runs in one process at a
    time, so its request rate and concurrency hold across every worker):

    - `max_duration_seconds`, `max_steps`, `max_total_tokens`, `max_cost_usd`, `max_tool_calls`: the
      execution's budgets (`RunConfig`); a budget spent ends the task FAILED with its code.
    - `max_retries`, `retry_delay_seconds`: retries of a failed model request (`RunConfig`).
    - `requests_per_second`, `concurrent_requests`: the task's model requests, and its HTTP requests
      (`http_request` tool and executor) across every worker process.
    - `model`: the model the agent runs with, instead of the worker's.
    - `allowed_domains`, `blocked_domains` (a domain covers its subdomains; blocked wins),
      `require_https`, `max_pages` (fetches per task): the HTTP policy of the task's `http_request`
      tool and executor (`loopline.executors.HttpPolicy`), with the guard against server-side request
      forgery always on. `max_retries`, `retry_delay_seconds` and `max_duration_seconds` bound its
      fetches too.
    - `max_memory_mb`: an executor task runs in a child process bounded to that much more memory
      (Linux); agents and handlers run inside the worker process, where no per-task bound applies.
    - `memory_scope`: the memory an executor sees (`executor.memory`): `"session"` (the task's own,
      cleared when it ends; the default) or `"permanent"` (every task of the executor). An agent's
      memory keeps its own scopes (`agent.memory`, `scope=`); a handler reads this from `task.config`.
    """

    max_duration_seconds: float | None = None
    max_steps: int | None = None
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    max_tool_calls: int | None = None
    max_retries: int | None = None
    retry_delay_seconds: float | None = None
    requests_per_second: float | None = None
    concurrent_requests: int | None = None
    memory_scope: str | None = None
    model: str | None = None
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    require_https: bool = False
    max_pages: int | None = None
    max_memory_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else the creator wants the handler to see (JSON values)."""

    def __post_init__(self) -> None:
        for name in ("allowed_domains", "blocked_domains"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(d, str) and d for d in value):
                raise ConfigError(f"TaskConfig.{name} takes a list of domain names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        if not isinstance(self.require_https, bool):
            raise ConfigError(f"TaskConfig.require_https takes True or False, got {self.require_https!r}")
        for name in ("max_pages", "max_memory_mb"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ConfigError(f"TaskConfig.{name} takes a positive number, got {value!r}")
        if self.memory_scope is not None and self.memory_scope not in _MEMORY_SCOPES:
            raise ConfigError(f"TaskConfig.memory_scope takes one of {sorted(_MEMORY_SCOPES)}, "
                              f"got {self.memory_scope!r}")
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise ConfigError(f"TaskConfig.model takes a model name, got {self.model!r}")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"TaskConfig.extra takes a dict, got {type(self.extra).__name__}")
        self.run_config(RunConfig())  # the budgets and request settings, checked as RunConfig checks them

    def run_config(self, base: RunConfig) -> RunConfig:
        """`base` (the agent's configuration) with this task's limits in place of its own."""
        changes = {"max_duration": self.max_duration_seconds, "max_steps": self.max_steps,
                   "max_total_tokens": self.max_total_tokens, "max_cost_usd": self.max_cost_usd,
                   "max_tool_calls": self.max_tool_calls, "max_retries": self.max_retries,
                   "retry_delay_seconds": self.retry_delay_seconds, "requests_per_second": self.requests_per_second,
                   "max_concurrent_requests": self.concurrent_requests}
        try:
            return base.replace(**{k: v for k, v in changes.items() if v is not None})
        except ConfigError as exc:
            raise ConfigError(f"TaskConfig: {exc}".replace("max_duration ", "max_duration_seconds ")
                              .replace("max_concurrent_requests", "concurrent_requests")) from None

    @property
    def memory_store_scope(self) -> str | None:
        """The store's word for `memory_scope` (`execution`, `thread`, `agent`)."""
        return _MEMORY_SCOPES.get(self.memory_scope) if self.memory_scope else None

    def to_json(self) -> dict[str, Any]:
        """The settings that differ from the defaults, as JSON values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if value != default:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TaskConfig:
        """The configuration stored by `to_json` (or given as a dict); unknown keys are refused."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"TaskConfig has no setting {unknown[0]!r}; it takes {sorted(known)}")
        return cls(**data)
