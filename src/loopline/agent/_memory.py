"""Scoped key-value memory for agents, kept in the agent's store (so any process on it sees it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ExecutionFinishedError, NoActiveTaskError
from ..loop import Execution
from ..store import MemoryScope, Store, memory_scope

__all__ = ["AgentMemory"]

_MISSING: Any = object()


class AgentMemory:
    """`agent.memory`: JSON values by key, in one of three scopes (two of them with a second name).

    - `agent`, alias `permanent` (the default): kept for good, across tasks and threads, shared by
      every agent with this name.
    - `thread`: the current conversation, seen by every agent that continues it.
    - `execution`, alias `session`: the current task only; deleted when the task ends (its execution
      COMPLETED, FAILED or CANCELLED; a PAUSED one keeps it).

    Values are JSON (a tuple comes back as a list); anything else raises `MemoryValueError` and
    writes nothing. Like a dict, `memory[key]` raises `KeyError` for a missing key, `key in memory`
    tells a stored `None` from a missing key, and `get(key, default)` returns `default` only when the
    key is missing; the operators use the `agent` scope.
    """

    def __init__(self, store: Store, agent_name: str, execution: Callable[[], Execution | None]) -> None:
        self._store, self._agent_name, self._execution = store, agent_name, execution

    def get(self, key: str, default: Any = None, *, scope: MemoryScope = "agent") -> Any:
        """The value stored under `key` (`None` too, when that was stored), or `default` if there is none."""
        return self._store.memory_get(scope, self._owner(scope), key, default)

    def set(self, key: str, value: Any, *, scope: MemoryScope = "agent") -> None:
        """Store a JSON value under `key` (replacing any)."""
        self._store.memory_set(scope, self._owner(scope, writing=True), key, value)

    def delete(self, key: str, *, scope: MemoryScope = "agent") -> None:
        """Forget `key` (no error if it is not there)."""
        self._store.memory_delete(scope, self._owner(scope), key)

    def list(self, *, scope: MemoryScope = "agent") -> dict[str, Any]:
        """Every key and value of the scope."""
        return self._store.memory_list(scope, self._owner(scope))

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def _owner(self, scope: MemoryScope, *, writing: bool = False) -> str:
        stored = memory_scope(scope)
        if stored == "agent":
            return self._agent_name
        execution = self._execution()
        if execution is None:
            raise NoActiveTaskError(f"{scope}-scoped memory needs a task: call add_task (or resume) first")
        if stored == "thread":
            return execution.thread_id
        if writing and execution.status.is_terminal:
            raise ExecutionFinishedError(f"execution {execution.id} has ended ({execution.status}), and its "
                                         f"{scope}-scoped memory with it; use scope='thread' or 'agent' for what "
                                         "must outlive the task", execution_id=execution.id,
                                         status=execution.status.value)
        return execution.id
