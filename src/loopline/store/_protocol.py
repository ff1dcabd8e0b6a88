"""The store protocol: what every storage backend offers, and the records it returns.

Three implementations keep the same contract (one test suite runs against all): in memory, SQLite
(the embedded default) and PostgreSQL (many processes and machines). Every write that belongs
together is one call (`commit`), so a crash between two writes cannot leave a thread and its
execution disagreeing.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar, runtime_checkable

from .._html import card, code, esc, fields_html, guarded, preview, timestamp
from ..loop import Execution, ExecutionStatus
from ..messages import Message

__all__ = [
    "MEMORY_SCOPES",
    "MemoryScope",
    "Page",
    "Store",
    "StoredScope",
    "ThreadInfo",
    "ToolCallRecord",
    "decode_cursor",
    "encode_cursor",
    "settle",
]

T = TypeVar("T")
R = TypeVar("R")

MemoryScope: TypeAlias = Literal["execution", "thread", "agent", "session", "permanent"]
"""How long a memory value lives: `execution` (alias `session`) until its execution ends, that is until it
is committed COMPLETED, FAILED or CANCELLED; `thread` as long as the thread; `agent` (alias `permanent`)
for good, across tasks and threads. Any other name is a `UsageError`."""

StoredScope: TypeAlias = Literal["execution", "thread", "agent"]
"""The scopes a store keeps; the aliases of `MemoryScope` are stored as the scope they stand for."""

MEMORY_SCOPES: dict[str, StoredScope] = {"execution": "execution", "thread": "thread", "agent": "agent",
                                         "session": "execution", "permanent": "agent"}
"""Every scope name and the scope it is stored as."""


class Page(list[T], Generic[T]):
    """A list of results plus the cursor for the next page (`None` on the last one)."""

    def __init__(self, items: Sequence[T] = (), next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadInfo:
    """A thread's record (its messages are read with `get_messages`)."""

    id: str
    """The thread's id."""
    created_at: float
    """Unix time of creation."""
    updated_at: float
    """Unix time of the last append."""
    length: int
    """How many messages it holds."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Free-form JSON data the application attached."""
    parent_thread_id: str | None = None
    """The thread it was forked from, if any."""

    def _repr_html_(self) -> str:
        """The record as HTML for Jupyter; `loopline.threads.view(id)` shows the messages too."""
        def render() -> str:
            rows = [("messages", f"{self.length:,}"), ("created", esc(timestamp(self.created_at))),
                    ("updated", esc(timestamp(self.updated_at)))]
            if self.parent_thread_id:
                rows.append(("forked from", code(self.parent_thread_id)))
            if self.metadata:
                rows.append(("metadata", preview(json.dumps(self.metadata, ensure_ascii=False, default=str), 500)))
            return card(f"Thread {code(self.id)}", fields_html(rows))

        return guarded(render, "this thread record")


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallRecord:
    """One tool call of an execution: what was asked, when it ran, what came of it."""

    execution_id: str
    """The execution the call belongs to."""
    tool_call_id: str
    """The provider's call id (with the execution id, the call's idempotency key)."""
    name: str
    """The tool's name."""
    arguments: str
    """The arguments as the model wrote them."""
    status: Literal["started", "finished"]
    """`started` while it runs (and forever, if the process died meanwhile); `finished` once it returned."""
    started_at: float
    """Unix time it started."""
    finished_at: float | None = None
    """Unix time it returned."""
    result: str | None = None
    """What the model was told (the result or the error)."""
    is_error: bool = False
    """Whether it failed."""
    duration: float | None = None
    """Seconds it ran."""


def encode_cursor(created_at: float, item_id: str) -> str:
    """An opaque cursor for keyset pagination on (created_at, id), newest first."""
    return base64.urlsafe_b64encode(f"{created_at!r}|{item_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Inverse of `encode_cursor`; raises `ValueError` for a cursor it did not make."""
    try:
        created, _, item_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return float(created), item_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a loopline cursor: {cursor!r}") from exc


@runtime_checkable
class Store(Protocol):
    """Threads (append-only ordered messages), executions, tool call records and scoped memory.

    Implementations copy on the way in and out: changing an object after saving it, or one that was
    read, never changes what is stored. Messages are the exception: they are immutable values (their
    `provider_details` dicts included, by contract) and may be shared. Unknown ids raise `UnknownThreadError` /
    `UnknownExecutionError`; a failed optimistic check raises `ConcurrentUpdateError` and writes
    nothing. A store whose every call is a round trip to a server says so with a true `remote_calls`
    attribute (optional: absent means local); async code then calls it off the event loop (`settle`).
    """

    # --- threads --------------------------------------------------------------------------------

    def create_thread(self, *, metadata: dict[str, Any] | None = None) -> str:
        """Make an empty thread and return its id."""
        ...

    def get_thread(self, thread_id: str) -> ThreadInfo:
        """A thread's record."""
        ...

    def list_threads(self, *, limit: int = 50, cursor: str | None = None) -> Page[ThreadInfo]:
        """Threads, most recently created first."""
        ...

    def fork_thread(self, thread_id: str, *, upto: int | None = None) -> str:
        """A new thread holding a copy of the first `upto` messages (all by default)."""
        ...

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread with its messages, its executions, their tool call records and memory."""
        ...

    def get_messages(self, thread_id: str, *, start: int = 0) -> list[Message]:
        """The thread's messages from position `start` on."""
        ...

    def append_messages(self, thread_id: str, messages: Sequence[Message], *,
                        expected_length: int | None = None) -> int:
        """Append in order; with `expected_length`, only if the thread still has that many messages.
        Returns the new length. Positions are assigned by the store, so concurrent appends from many
        processes never lose, duplicate or interleave a batch."""
        ...

    # --- executions -----------------------------------------------------------------------------

    def commit(self, execution: Execution, messages: Sequence[Message] = (), *,
               expected_length: int | None = None, tool_calls: Sequence[ToolCallRecord] = (),
               owner: str | None = None, claim_seconds: float | None = None) -> None:
        """In one transaction: append `messages` to the execution's thread (checked against
        `expected_length` when given), save the execution, and upsert the tool call records. With
        `owner`, only while no other owner holds a live claim on the execution
        (`ExecutionClaimedError` otherwise, nothing written); with `claim_seconds` too, the execution
        is claimed for `owner` in the same transaction (so a new execution is never seen unclaimed)."""
        ...

    def get_execution(self, execution_id: str) -> Execution:
        """One execution."""
        ...

    def list_executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                        status: ExecutionStatus | None = None, limit: int | None = 50,
                        cursor: str | None = None) -> Page[Execution]:
        """Executions, newest first, filtered by whatever is given (a `status` also as its word, in any case)."""
        ...

    def claim_execution(self, execution_id: str, *, owner: str, lease_seconds: float = 60.0,
                        force: bool = False) -> bool:
        """Take the execution for `owner` unless another owner holds a live claim; True when taken
        (or renewed). Two workers can never both hold it. A claim is live while its lease is
        unexpired and its process is not known to be dead: owners made by `process_owner` on this
        host are checked by pid (and start time), so a killed process's claim is void at once; on
        other hosts the lease decides. `force` takes it regardless (for an owner known to be dead);
        the previous owner's next commit is then refused."""
        ...

    def release_execution(self, execution_id: str, *, owner: str) -> None:
        """Give up `owner`'s claim, if it holds one."""
        ...

    def get_tool_calls(self, execution_id: str) -> list[ToolCallRecord]:
        """The execution's tool call records, in the order they started."""
        ...

    # --- memory ---------------------------------------------------------------------------------
    # Every store keeps and refuses the same keys and values and reads them back alike (see
    # `loopline.store._values`): JSON, a tuple read back as a list; anything else is a
    # `MemoryValueError` and writes nothing. An unknown scope name is a `UsageError`. Execution-scoped
    # values are deleted by the `commit` that ends their execution.

    def memory_get(self, scope: MemoryScope, owner: str, key: str, default: Any = None) -> Any:
        """A stored JSON value, or `default` when the key is missing (a stored `None` is returned as such)."""
        ...

    def memory_set(self, scope: MemoryScope, owner: str, key: str, value: Any) -> None:
        """Store a JSON value (replacing any)."""
        ...

    def memory_delete(self, scope: MemoryScope, owner: str, key: str) -> None:
        """Forget a value (no error when absent)."""
        ...

    def memory_list(self, scope: MemoryScope, owner: str) -> dict[str, Any]:
        """All values of one scope and owner."""
        ...

    def close(self) -> None:
        """Release connections (the store is unusable afterwards)."""
        ...


async def settle(store: Any, work: Callable[[], R]) -> R:
    """`work()`, a piece of synchronous work on `store`, for async code. When the store's calls go over the
    network (its `remote_calls` is true: `PostgresStore`, a remote worker's `HttpStore`), in a worker thread,
    so the event loop runs other tasks during the round trips; otherwise right here (a SQLite or in-memory
    store's call takes well under a millisecond, less than the hop to a thread). Cancelled meanwhile, it
    lets the work end first (a commit is not cut in two, nor raced by what the cancel itself writes), then
    raises."""
    if not getattr(store, "remote_calls", False):
        return work()
    job = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        raise
