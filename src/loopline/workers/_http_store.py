"""`HttpStore`: the store protocol over a loopline server, for a remote worker. Every step a remote
agent commits is stored in the server's database (so a task handed to another worker after this one
died resumes from its last committed step), and the claim fencing of the SQL stores applies unchanged:
the server runs each call on its own store. The server allows only the threads and executions of the
worker's organisation's tasks; any other answers as unknown."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..loop import Execution, ExecutionStatus
from ..messages import Message
from ..store import MemoryScope, Page, ThreadInfo, ToolCallRecord, call_args, call_result
from ._remote_http import ServerCalls

__all__ = ["HttpStore"]

_KEPT_EXECUTIONS = 1000
"""How many executions' tool call records an `HttpStore` keeps (a few kilobytes each; a worker runs tens at once)."""


class HttpStore:
    """The calls an agent's run makes of its store, made on the server's store (`POST
    /v1/workers/{worker_id}/store`). Listing, forking and deleting threads are not offered."""

    remote_calls = True
    """Each call is a round trip to the server: async drivers make them off the event loop
    (`loopline.store.settle`), so one worker's tasks wait for the server side by side."""

    def __init__(self, calls: ServerCalls, worker_id: str) -> None:
        self._calls = calls
        self._path = f"/v1/workers/{worker_id}/store"
        self._lock = threading.Lock()
        self._tool_calls: OrderedDict[str, dict[str, ToolCallRecord]] = OrderedDict()
        """The tool call records of the executions this worker ran last, by execution id: read from the
        server once, then kept up to date by this worker's own commits (while it holds the execution's
        claim nobody else writes them; once it ended, nobody does). A task's progress reads them several
        times a step; each read was a round trip. Dropped when the claim is taken again or a commit
        fails; the oldest go past `_KEPT_EXECUTIONS`."""

    def __repr__(self) -> str:
        return f"HttpStore({self._calls.connection.base_url!r})"

    def _call(self, op: str, *, default: Any = None, **args: Any) -> Any:
        answer = self._calls.call("POST", self._path, {"op": op, "args": call_args(**args)})
        return call_result(op, answer["value"], default=default)

    # --- threads --------------------------------------------------------------------------------

    def create_thread(self, *, metadata: dict[str, Any] | None = None) -> str:
        return str(self._call("create_thread", metadata=metadata))

    def get_thread(self, thread_id: str) -> ThreadInfo:
        info: ThreadInfo = self._call("get_thread", thread_id=thread_id)
        return info

    def list_threads(self, *, limit: int = 50, cursor: str | None = None) -> Page[ThreadInfo]:
        raise _not_offered("list_threads")

    def fork_thread(self, thread_id: str, *, upto: int | None = None) -> str:
        raise _not_offered("fork_thread")

    def delete_thread(self, thread_id: str) -> None:
        raise _not_offered("delete_thread")

    def get_messages(self, thread_id: str, *, start: int = 0) -> list[Message]:
        messages: list[Message] = self._call("get_messages", thread_id=thread_id, start=start)
        return messages

    def append_messages(self, thread_id: str, messages: Sequence[Message], *,
                        expected_length: int | None = None) -> int:
        return int(self._call("append_messages", thread_id=thread_id, messages=list(messages),
                              expected_length=expected_length))

    # --- executions -----------------------------------------------------------------------------

    def commit(self, execution: Execution, messages: Sequence[Message] = (), *,
               expected_length: int | None = None, tool_calls: Sequence[ToolCallRecord] = (),
               owner: str | None = None, claim_seconds: float | None = None) -> None:
        try:
            self._call("commit", execution=execution, messages=list(messages), expected_length=expected_length,
                       tool_calls=list(tool_calls), owner=owner, claim_seconds=claim_seconds)
        except BaseException:
            self._forget_calls(execution.id)
            raise
        with self._lock:
            known = self._tool_calls.get(execution.id)
            if known is None or owner is None:
                self._tool_calls.pop(execution.id, None)
                return
            for record in tool_calls:  # as the SQL stores write them: a known call keeps its name, arguments, start
                before = known.get(record.tool_call_id)
                known[record.tool_call_id] = record if before is None else dataclasses.replace(
                    before, status=record.status, finished_at=record.finished_at, result=record.result,
                    is_error=record.is_error, duration=record.duration)

    def get_execution(self, execution_id: str) -> Execution:
        execution: Execution = self._call("get_execution", execution_id=execution_id)
        return execution

    def list_executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                        status: ExecutionStatus | None = None, limit: int | None = 50,
                        cursor: str | None = None) -> Page[Execution]:
        page: Page[Execution] = self._call("list_executions", agent_name=agent_name, thread_id=thread_id,
                                           status=status, limit=limit, cursor=cursor)
        return page

    def claim_execution(self, execution_id: str, *, owner: str, lease_seconds: float = 60.0,
                        force: bool = False) -> bool:
        self._forget_calls(execution_id)
        return bool(self._call("claim_execution", execution_id=execution_id, owner=owner,
                               lease_seconds=lease_seconds, force=force))

    def release_execution(self, execution_id: str, *, owner: str) -> None:
        self._call("release_execution", execution_id=execution_id, owner=owner)

    def get_tool_calls(self, execution_id: str) -> list[ToolCallRecord]:
        with self._lock:
            known = self._tool_calls.get(execution_id)
            if known is not None:
                return sorted(known.values(), key=lambda r: (r.started_at, r.tool_call_id))
        records: list[ToolCallRecord] = self._call("get_tool_calls", execution_id=execution_id)
        with self._lock:
            self._tool_calls[execution_id] = {r.tool_call_id: r for r in records}
            while len(self._tool_calls) > _KEPT_EXECUTIONS:
                self._tool_calls.popitem(last=False)
        return records

    def _forget_calls(self, execution_id: str) -> None:
        with self._lock:
            self._tool_calls.pop(execution_id, None)

    # --- memory ---------------------------------------------------------------------------------

    def memory_get(self, scope: MemoryScope, owner: str, key: str, default: Any = None) -> Any:
        return self._call("memory_get", default=default, scope=scope, owner=owner, key=key)

    def memory_set(self, scope: MemoryScope, owner: str, key: str, value: Any) -> None:
        self._call("memory_set", scope=scope, owner=owner, key=key, value=value)

    def memory_delete(self, scope: MemoryScope, owner: str, key: str) -> None:
        self._call("memory_delete", scope=scope, owner=owner, key=key)

    def memory_list(self, scope: MemoryScope, owner: str) -> dict[str, Any]:
        values: dict[str, Any] = self._call("memory_list", scope=scope, owner=owner)
        return values

    def close(self) -> None:
        self._calls.close()


def _not_offered(op: str) -> UsageError:
    return UsageError(f"a remote worker's store does not offer {op}: an agent's run does not need it; use the "
                      "server's API (Tasks(base_url=...), GET /v1/threads) or a process that reaches the database")
