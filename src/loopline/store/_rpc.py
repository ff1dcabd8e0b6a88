"""The store protocol as JSON calls, for a process that reaches a store only through a server (a remote
worker's `HttpStore`): `call_args` turns a call's arguments into JSON, `run_call` performs it on the
server's store, `call_result` reads its answer back. Messages and executions travel as the store's own
JSON (what the SQL stores keep in their rows), so a remote write is stored byte for byte as a local one.
Only the calls an agent's run needs are offered; the server decides who may make them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from ..loop import ExecutionStatus, execution_from_json, execution_to_json
from ..messages import SCHEMA_VERSION, Message, message_from_json, message_to_json
from ._protocol import Page, Store, ThreadInfo, ToolCallRecord

__all__ = ["STORE_CALLS", "call_args", "call_result", "run_call"]

STORE_CALLS = ("create_thread", "get_thread", "get_messages", "append_messages", "commit", "get_execution",
               "list_executions", "claim_execution", "release_execution", "get_tool_calls", "memory_get",
               "memory_set", "memory_delete", "memory_list")
"""What a remote store may ask (no listing, forking or deleting of threads: an agent's run needs none)."""

_MISSING = {"missing": True}


def call_args(**args: Any) -> dict[str, Any]:
    """A call's keyword arguments as JSON (messages, executions and tool call records in the store's JSON)."""
    out = dict(args)
    if "messages" in out:
        out["messages"] = [_message_json(m) for m in out["messages"]]
    if "execution" in out:
        out["execution"] = execution_to_json(out["execution"])
    if "tool_calls" in out:
        out["tool_calls"] = [dataclasses.asdict(r) for r in out["tool_calls"]]
    if out.get("status") is not None:
        out["status"] = ExecutionStatus(out["status"]).value
    return out


def _decoded_args(args: dict[str, Any]) -> dict[str, Any]:
    out = dict(args)
    if "messages" in out:
        out["messages"] = [message_from_json(m["data"], int(m["version"])) for m in out["messages"]]
    if "execution" in out:
        out["execution"] = execution_from_json(out["execution"])
    if "tool_calls" in out:
        out["tool_calls"] = [ToolCallRecord(**r) for r in out["tool_calls"]]
    return out


def run_call(store: Store, op: str, args: dict[str, Any]) -> Any:
    """Perform the call on `store` and return its answer as JSON (the store's errors propagate)."""
    if op not in STORE_CALLS:
        raise UsageError(f"a remote store offers {list(STORE_CALLS)}, not {op!r}")
    kwargs = _decoded_args(args)
    if op == "memory_get":
        kwargs["default"] = _MISSING
    value = getattr(store, op)(**kwargs)
    return _RESULTS.get(op, _same)(value)


def call_result(op: str, value: Any, *, default: Any = None) -> Any:
    """The answer of a call made with `call_args`, as the store protocol returns it."""
    if op == "memory_get":
        return default if value == _MISSING else value
    return _READ_RESULTS.get(op, _same)(value)


def _same(value: Any) -> Any:
    return value


def _message_json(message: Message) -> dict[str, Any]:
    return {"data": message_to_json(message), "version": SCHEMA_VERSION}


def _page(value: Page[Any]) -> dict[str, Any]:
    return {"items": [execution_to_json(e) for e in value], "next_cursor": value.next_cursor}


_RESULTS: dict[str, Callable[[Any], Any]] = {
    "get_thread": dataclasses.asdict,
    "get_messages": lambda messages: [_message_json(m) for m in messages],
    "get_execution": execution_to_json,
    "list_executions": _page,
    "get_tool_calls": lambda records: [dataclasses.asdict(r) for r in records],
}

_READ_RESULTS: dict[str, Callable[[Any], Any]] = {
    "get_thread": lambda data: ThreadInfo(**data),
    "get_messages": lambda items: [message_from_json(m["data"], int(m["version"])) for m in items],
    "get_execution": execution_from_json,
    "list_executions": lambda data: Page([execution_from_json(e) for e in data["items"]], data["next_cursor"]),
    "get_tool_calls": lambda items: [ToolCallRecord(**r) for r in items],
}

