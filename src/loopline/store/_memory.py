"""The in-memory store: the reference implementation of the protocol, for tests and throwaway runs."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConcurrentUpdateError, UnknownExecutionError, UnknownThreadError
from ..loop import Execution, ExecutionStatus
from ..messages import Message, new_id
from ._owner import claim_is_live, fenced
from ._protocol import MemoryScope, Page, ThreadInfo, ToolCallRecord, decode_cursor, encode_cursor
from ._values import decode_value, encode_value, memory_key, memory_scope

__all__ = ["InMemoryStore"]


class InMemoryStore:
    """Threads and executions in this process's memory; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._threads: dict[str, ThreadInfo] = {}
        self._messages: dict[str, list[Message]] = {}
        self._executions: dict[str, Execution] = {}
        self._tool_calls: dict[str, dict[str, ToolCallRecord]] = {}
        self._claims: dict[str, tuple[str | None, float | None]] = {}
        self._memory: dict[tuple[str, str, str], str] = {}  # (scope, owner, key) -> JSON text

    def __repr__(self) -> str:
        return f"InMemoryStore(threads={len(self._threads)}, executions={len(self._executions)})"

    # --- threads --------------------------------------------------------------------------------

    def create_thread(self, *, metadata: dict[str, Any] | None = None, parent_thread_id: str | None = None) -> str:
        thread_id, now = new_id("thr"), time.time()
        with self._lock:
            self._threads[thread_id] = ThreadInfo(id=thread_id, created_at=now, updated_at=now, length=0,
                                                  metadata=copy.deepcopy(metadata or {}),
                                                  parent_thread_id=parent_thread_id)
            self._messages[thread_id] = []
        return thread_id

    def get_thread(self, thread_id: str) -> ThreadInfo:
        with self._lock:
            return _copied(self._thread(thread_id))

    def list_threads(self, *, limit: int = 50, cursor: str | None = None) -> Page[ThreadInfo]:
        with self._lock:
            found = [_copied(t) for t in self._threads.values()]
        return _page(found, limit, cursor)

    def fork_thread(self, thread_id: str, *, upto: int | None = None) -> str:
        with self._lock:
            info = self._thread(thread_id)
            fork = self.create_thread(metadata=info.metadata, parent_thread_id=thread_id)
            self.append_messages(fork, self._messages[thread_id][:upto])
            return fork

    def delete_thread(self, thread_id: str) -> None:
        with self._lock:
            self._thread(thread_id)
            del self._threads[thread_id], self._messages[thread_id]
            gone = [e.id for e in self._executions.values() if e.thread_id == thread_id]
            for execution_id in gone:
                self._executions.pop(execution_id)
                self._tool_calls.pop(execution_id, None)
                self._claims.pop(execution_id, None)
            owners = {("thread", thread_id), *(("execution", e) for e in gone)}
            self._memory = {k: v for k, v in self._memory.items() if (k[0], k[1]) not in owners}

    def get_messages(self, thread_id: str, *, start: int = 0) -> list[Message]:
        with self._lock:
            self._thread(thread_id)
            # Messages are immutable values (their provider_details are read-only by contract): shared.
            return self._messages[thread_id][start:]

    def append_messages(self, thread_id: str, messages: Sequence[Message], *,
                        expected_length: int | None = None) -> int:
        with self._lock:
            info = self._thread(thread_id)
            if expected_length is not None and info.length != expected_length:
                raise ConcurrentUpdateError(
                    f"thread {thread_id} has {info.length} messages, not the {expected_length} expected: "
                    "another writer appended first", thread_id=thread_id)
            if messages:
                self._messages[thread_id].extend(messages)
                self._threads[thread_id] = ThreadInfo(
                    id=info.id, created_at=info.created_at, updated_at=time.time(),
                    length=info.length + len(messages), metadata=info.metadata,
                    parent_thread_id=info.parent_thread_id)
            return self._threads[thread_id].length

    # --- executions -----------------------------------------------------------------------------

    def commit(self, execution: Execution, messages: Sequence[Message] = (), *,
               expected_length: int | None = None, tool_calls: Sequence[ToolCallRecord] = (),
               owner: str | None = None, claim_seconds: float | None = None) -> None:
        with self._lock:
            self._thread(execution.thread_id)
            stored = self._executions.get(execution.id)
            if owner is not None and stored is not None:
                holder, until = self._claims.get(execution.id, (None, None))
                fenced(execution, owner, holder=holder, until=until, stored=stored.status, now=time.time())
            self.append_messages(execution.thread_id, messages, expected_length=expected_length)
            self._executions[execution.id] = _deep(execution)
            records = self._tool_calls.setdefault(execution.id, {})
            for record in tool_calls:
                records[record.tool_call_id] = record
            self._forget_execution_memory(execution)
            if owner is not None and claim_seconds is not None:
                self._claims[execution.id] = (owner, time.time() + claim_seconds)

    def get_execution(self, execution_id: str) -> Execution:
        with self._lock:
            found = self._executions.get(execution_id)
        if found is None:
            raise UnknownExecutionError(execution_id)
        return _deep(found)

    def list_executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                        status: ExecutionStatus | None = None, limit: int | None = 50,
                        cursor: str | None = None) -> Page[Execution]:
        wanted = None if status is None else ExecutionStatus(status)
        with self._lock:
            found = [e for e in self._executions.values()
                     if (agent_name is None or e.agent_name == agent_name)
                     and (thread_id is None or e.thread_id == thread_id)
                     and (wanted is None or e.status == wanted)]
        page = _page(found, limit, cursor)
        return Page([_deep(e) for e in page], page.next_cursor)

    def claim_execution(self, execution_id: str, *, owner: str, lease_seconds: float = 60.0,
                        force: bool = False) -> bool:
        now = time.time()
        with self._lock:
            if execution_id not in self._executions:
                raise UnknownExecutionError(execution_id)
            holder = self._claims.get(execution_id, (None, None))
            if not force and claim_is_live(*holder, asker=owner, now=now):
                return False
            self._claims[execution_id] = (owner, now + lease_seconds)
            return True

    def release_execution(self, execution_id: str, *, owner: str) -> None:
        with self._lock:
            if execution_id not in self._executions:
                raise UnknownExecutionError(execution_id)
            if self._claims.get(execution_id, ("", 0.0))[0] == owner:
                del self._claims[execution_id]

    def get_tool_calls(self, execution_id: str) -> list[ToolCallRecord]:
        with self._lock:
            if execution_id not in self._executions:
                raise UnknownExecutionError(execution_id)
            return sorted(self._tool_calls.get(execution_id, {}).values(), key=lambda r: r.started_at)

    # --- memory ---------------------------------------------------------------------------------

    def memory_get(self, scope: MemoryScope, owner: str, key: str, default: Any = None) -> Any:
        where = (memory_scope(scope), owner, memory_key(key))
        with self._lock:
            text = self._memory.get(where)
        return default if text is None else decode_value(text)

    def memory_set(self, scope: MemoryScope, owner: str, key: str, value: Any) -> None:
        stored = memory_scope(scope)
        text = encode_value(memory_key(key), value)
        with self._lock:
            self._memory[(stored, owner, key)] = text

    def memory_delete(self, scope: MemoryScope, owner: str, key: str) -> None:
        where = (memory_scope(scope), owner, memory_key(key))
        with self._lock:
            self._memory.pop(where, None)

    def memory_list(self, scope: MemoryScope, owner: str) -> dict[str, Any]:
        stored = memory_scope(scope)
        with self._lock:
            found = {k[2]: text for k, text in self._memory.items() if k[:2] == (stored, owner)}
        return {key: decode_value(text) for key, text in sorted(found.items())}

    def _forget_execution_memory(self, execution: Execution) -> None:
        """An ended execution's own memory goes with it (called under the lock)."""
        if execution.status.is_terminal:
            self._memory = {k: v for k, v in self._memory.items() if k[:2] != ("execution", execution.id)}

    def close(self) -> None:
        """Nothing to release."""

    # --- internals ------------------------------------------------------------------------------

    def _thread(self, thread_id: str) -> ThreadInfo:
        info = self._threads.get(thread_id)
        if info is None:
            raise UnknownThreadError(thread_id)
        return info


def _copied(info: ThreadInfo) -> ThreadInfo:
    return dataclasses.replace(info, metadata=copy.deepcopy(info.metadata))


def _deep(execution: Execution) -> Execution:
    """A copy sharing nothing mutable (the parts it holds are frozen values)."""
    clone = execution.copy()
    clone.result = copy.deepcopy(execution.result)
    clone.output_schema = copy.deepcopy(execution.output_schema)
    return clone


def _page(items: list[Any], limit: int | None, cursor: str | None) -> Page[Any]:
    """Newest first by (created_at, id), starting after `cursor`."""
    items.sort(key=lambda x: (x.created_at, x.id), reverse=True)
    if cursor is not None:
        after = decode_cursor(cursor)
        items = [x for x in items if (x.created_at, x.id) < after]
    if limit is None or len(items) <= limit:
        return Page(items)
    last = items[limit - 1]
    return Page(items[:limit], encode_cursor(last.created_at, last.id))
