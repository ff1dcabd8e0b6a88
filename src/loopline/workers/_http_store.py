"""`HttpStore`: the store protocol over a loopline server, for a remote worker. Every step a remote
agent commits is stored in the server's database (so a task handed to another worker after this one
died resumes from its last committed step), and the claim fencing of the SQL stores applies unchanged:
the server runs each call on its own store. The server allows only the threads and executions of the
worker's organisation's tasks; any other answers as unknown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import UsageError
from ..loop import Execution, ExecutionStatus
from ..messages import Message
from ..store import MemoryScope, Page, ThreadInfo, ToolCallRecord, call_args, call_result
from ._remote_http import ServerCalls

__all__ = ["HttpStore"]


class HttpStore:
    """The calls an agent's run makes of its store, made on the server's store (`POST
    /v1/workers/{worker_id}/store`). Listing, forking and deleting threads are not offered."""

    def __init__(self, calls: ServerCalls, worker_id: str) -> None:
        self._calls = calls
        self._path = f"/v1/workers/{worker_id}/store"

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
        self._call("commit", execution=execution, messages=list(messages), expected_length=expected_length,
                   tool_calls=list(tool_calls), owner=owner, claim_seconds=claim_seconds)

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
        return bool(self._call("claim_execution", execution_id=execution_id, owner=owner,
                               lease_seconds=lease_seconds, force=force))

    def release_execution(self, execution_id: str, *, owner: str) -> None:
        self._call("release_execution", execution_id=execution_id, owner=owner)

    def get_tool_calls(self, execution_id: str) -> list[ToolCallRecord]:
        records: list[ToolCallRecord] = self._call("get_tool_calls", execution_id=execution_id)
        return records

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
