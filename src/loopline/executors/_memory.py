"""`ExecutableTask.memory`: the key-value memory a task's executor sees, chosen by the task's
`TaskConfig.memory_scope`: `"session"` (the default: this task's own, cleared when the task ends) or
`"permanent"` (shared by every task of the executor, kept). Values are JSON, in the worker's store."""

from __future__ import annotations

from typing import Any

from ..store import Store

__all__ = ["TaskMemory", "memory_for"]


class TaskMemory:
    """`get`, `set`, `delete`, `list` and `clear` over one scope of the store's memory."""

    def __init__(self, store: Store, scope: str, owner: str) -> None:
        self._store = store
        self.scope = scope
        self.owner = owner

    def __repr__(self) -> str:
        return f"TaskMemory(scope={self.scope!r}, owner={self.owner!r})"

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.memory_get(self.scope, self.owner, key, default)  # type: ignore[arg-type]

    def set(self, key: str, value: Any) -> None:
        self._store.memory_set(self.scope, self.owner, key, value)  # type: ignore[arg-type]

    def delete(self, key: str) -> None:
        self._store.memory_delete(self.scope, self.owner, key)  # type: ignore[arg-type]

    def list(self) -> dict[str, Any]:
        return self._store.memory_list(self.scope, self.owner)  # type: ignore[arg-type]

    def clear(self) -> None:
        for key in self.list():
            self.delete(key)


def memory_for(store: Store, *, task_id: str, executor_id: str, memory_scope: str | None) -> TaskMemory:
    """The memory of one executor task: its own (`session`, the default) or the executor's (`permanent`)."""
    if memory_scope == "permanent":
        return TaskMemory(store, "agent", f"executor:{executor_id}")
    return TaskMemory(store, "execution", f"task:{task_id}")
