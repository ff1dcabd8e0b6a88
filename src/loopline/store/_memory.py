"""The in-memory store: the reference implementation of the protocol, for tests and throwaway runs."""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Sequence

from ..errors import UnknownExecutionError, UnknownThreadError
from ..loop import Execution, ExecutionStatus
from ..messages import Message, new_id

__all__ = ["InMemoryStore", "default_store"]


class InMemoryStore:
    """Threads and executions in this process's memory; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, list[Message]] = {}
        self._executions: dict[str, Execution] = {}

    def create_thread(self) -> str:
        thread_id = new_id("thr")
        with self._lock:
            self._threads[thread_id] = []
        return thread_id

    def has_thread(self, thread_id: str) -> bool:
        return thread_id in self._threads

    def append_messages(self, thread_id: str, messages: Sequence[Message]) -> None:
        with self._lock:
            thread = self._threads.get(thread_id)
            if thread is None:
                raise UnknownThreadError(thread_id)
            thread.extend(messages)  # messages are immutable: sharing them is safe

    def get_messages(self, thread_id: str, *, start: int = 0) -> list[Message]:
        with self._lock:
            thread = self._threads.get(thread_id)
            if thread is None:
                raise UnknownThreadError(thread_id)
            return thread[start:]

    def save_execution(self, execution: Execution) -> None:
        snapshot = _copy(execution)
        with self._lock:
            self._executions[execution.id] = snapshot

    def get_execution(self, execution_id: str) -> Execution:
        with self._lock:
            found = self._executions.get(execution_id)
        if found is None:
            raise UnknownExecutionError(execution_id)
        return _copy(found)

    def list_executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                        status: ExecutionStatus | None = None, limit: int | None = None) -> list[Execution]:
        with self._lock:
            found = [e for e in self._executions.values()
                     if (agent_name is None or e.agent_name == agent_name)
                     and (thread_id is None or e.thread_id == thread_id)
                     and (status is None or e.status == status)]
        found.sort(key=lambda e: e.created_at, reverse=True)
        return [_copy(e) for e in found[:limit]]


def _copy(execution: Execution) -> Execution:
    clone = copy.copy(execution)
    clone.status_history = list(execution.status_history)
    return clone


@functools.cache
def default_store() -> InMemoryStore:
    """The process-wide store agents use when none is given, so thread ids work across agents."""
    return InMemoryStore()
