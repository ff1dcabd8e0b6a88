"""The store protocol: what every storage backend offers the agent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..loop import Execution, ExecutionStatus
from ..messages import Message

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Threads (append-only ordered messages) and executions, shared by every agent that uses it.

    Implementations copy on the way in and out: changing an object after saving it, or one that was
    read, never changes what is stored.
    """

    def create_thread(self) -> str:
        """Make an empty thread and return its id."""
        ...

    def has_thread(self, thread_id: str) -> bool:
        """Whether a thread with this id exists."""
        ...

    def append_messages(self, thread_id: str, messages: Sequence[Message]) -> None:
        """Append to a thread, in order; raises `UnknownThreadError` for an unknown id."""
        ...

    def get_messages(self, thread_id: str, *, start: int = 0) -> list[Message]:
        """The thread's messages from position `start` on; raises `UnknownThreadError`."""
        ...

    def save_execution(self, execution: Execution) -> None:
        """Insert or update an execution."""
        ...

    def get_execution(self, execution_id: str) -> Execution:
        """One execution; raises `UnknownExecutionError` for an unknown id."""
        ...

    def list_executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                        status: ExecutionStatus | None = None, limit: int | None = None) -> list[Execution]:
        """Executions, newest first, filtered by whatever is given."""
        ...
