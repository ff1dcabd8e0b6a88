"""The server's side of a remote worker's `HttpStore`: each store call is made on the server's store,
limited to the caller's organisation. A thread is the organisation's when one of its tasks is on it, an
execution when its thread is, memory when its owner is (an agent's memory is kept apart per
organisation). Anything else answers as unknown, exactly as an id that does not exist."""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInputError, UnknownExecutionError, UnknownThreadError
from ..store import OrganizationView, Store, memory_scope, run_call, task_table

__all__ = ["scoped_call"]

_THREAD_CALLS = ("get_thread", "get_messages", "append_messages")
_EXECUTION_CALLS = ("get_execution", "claim_execution", "release_execution", "get_tool_calls")
_MEMORY_CALLS = ("memory_get", "memory_set", "memory_delete", "memory_list")


def scoped_call(store: Store, organization_id: str | None, op: str, args: dict[str, Any]) -> Any:
    """Run the call for the organisation (None: a caller that sees everything); its JSON answer."""
    if not isinstance(args, dict):
        raise InvalidInputError("args takes a JSON object of the call's arguments", field="args")
    if organization_id is not None:
        args = _checked(store, organization_id, op, dict(args))
    return run_call(store, op, args)


def _checked(store: Store, organization_id: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments once every thread, execution and memory owner they name is the organisation's."""
    if op in _THREAD_CALLS:
        _own_thread(store, organization_id, str(args.get("thread_id")))
    elif op in _EXECUTION_CALLS:
        _own_execution(store, organization_id, str(args.get("execution_id")))
    elif op == "commit":
        committed = _execution_json(args.get("execution"))
        _own_thread(store, organization_id, str(committed.get("thread_id")))
        _own_calls(committed, args.get("tool_calls"))
        try:  # an execution that exists stays where it is: only one of the organisation's may be written
            _own_execution(store, organization_id, str(committed.get("id")))
        except UnknownExecutionError:
            if _exists(store, str(committed.get("id"))):
                raise
    elif op == "list_executions":
        if not args.get("thread_id"):
            raise InvalidInputError("a remote worker lists the executions of one thread: give thread_id",
                                    field="thread_id")
        _own_thread(store, organization_id, str(args["thread_id"]))
    elif op in _MEMORY_CALLS:
        args["owner"] = _memory_owner(store, organization_id, str(args.get("scope")), str(args.get("owner")))
    return args


def _execution_json(text: Any) -> dict[str, Any]:
    try:
        committed = json.loads(str(text))
    except ValueError:
        committed = None
    if not isinstance(committed, dict):
        raise InvalidInputError("a commit's execution takes the execution's JSON (as call_args writes it)",
                                field="execution")
    return committed


def _own_calls(committed: dict[str, Any], tool_calls: Any) -> None:
    """A commit's tool call records are the committed execution's (each names its execution: another
    one's would be written into it)."""
    for record in tool_calls or ():
        if not isinstance(record, dict) or record.get("execution_id") != committed.get("id"):
            raise InvalidInputError("each of a commit's tool_calls is one of the committed execution's (its "
                                    "execution_id is the execution's id)", field="tool_calls")


def _memory_owner(store: Store, organization_id: str, scope: str, owner: str) -> str:
    stored = memory_scope(scope)  # an unknown scope is refused here (UsageError)
    if stored == "thread":
        _own_thread(store, organization_id, owner)
    elif stored == "execution" and owner.startswith("task:"):
        _own_task(store, organization_id, owner.removeprefix("task:"))
    elif stored == "execution":
        _own_execution(store, organization_id, owner)
    elif organization_id:
        return f"org:{organization_id}/{owner}"  # each organisation's agent memory apart
    return owner


def _own_thread(store: Store, organization_id: str, thread_id: str) -> None:
    if not OrganizationView(task_table(store).store, organization_id).owns_thread(thread_id):
        raise UnknownThreadError(thread_id)


def _own_execution(store: Store, organization_id: str, execution_id: str) -> None:
    execution = store.get_execution(execution_id)
    try:
        _own_thread(store, organization_id, execution.thread_id)
    except UnknownThreadError:
        raise UnknownExecutionError(execution_id) from None


def _own_task(store: Store, organization_id: str, task_id: str) -> None:
    task_table(store).get(task_id, organization_id=organization_id)


def _exists(store: Store, execution_id: str) -> bool:
    try:
        store.get_execution(execution_id)
    except UnknownExecutionError:
        return False
    return True
