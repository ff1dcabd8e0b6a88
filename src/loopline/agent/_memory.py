"""Scoped key-value memory for agents, kept in the agent's store (so any process on it sees it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NoActiveTaskError
from ..store import MemoryScope

if TYPE_CHECKING:
    from ._agent import Agent

__all__ = ["AgentMemory"]


class AgentMemory:
    """`agent.memory`: JSON values by key in one of three scopes.

    - `agent` (the default): permanent, shared by every agent with this name.
    - `thread`: the current conversation, seen by every agent that continues it.
    - `execution`: the current task only.
    """

    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    def get(self, key: str, default: Any = None, *, scope: MemoryScope = "agent") -> Any:
        """The value stored under `key`, or `default`."""
        value = self._agent.store.memory_get(scope, self._owner(scope), key)
        return default if value is None else value

    def set(self, key: str, value: Any, *, scope: MemoryScope = "agent") -> None:
        """Store a JSON value under `key` (replacing any)."""
        self._agent.store.memory_set(scope, self._owner(scope), key, value)

    def delete(self, key: str, *, scope: MemoryScope = "agent") -> None:
        """Forget `key` (no error if it is not there)."""
        self._agent.store.memory_delete(scope, self._owner(scope), key)

    def list(self, *, scope: MemoryScope = "agent") -> dict[str, Any]:
        """Every key and value of the scope."""
        return self._agent.store.memory_list(scope, self._owner(scope))

    def _owner(self, scope: MemoryScope) -> str:
        if scope == "agent":
            return self._agent.name
        execution = self._agent.execution
        if execution is None:
            raise NoActiveTaskError(f"{scope}-scoped memory needs a task: call add_task (or resume) first")
        return execution.thread_id if scope == "thread" else execution.id
