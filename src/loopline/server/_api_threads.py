"""`/v1/threads` and `/v1/executions`: what agents wrote, as the caller's organisation may see it.

Threads and executions belong to an organisation through its tasks (`loopline.store.OrganizationView`);
another organisation's id answers 404 exactly as an unknown one. Messages and executions are shown as
the store serializes them (`message_to_dict`, `execution_to_json`), each with its schema version.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from ..loop import Execution, ExecutionStatus, execution_to_json
from ..messages import message_to_dict
from ..store import OrganizationView, ThreadInfo
from ._auth import Caller, caller, server_state
from ._errors import ERROR_RESPONSES, ApiError
from ._params import checked_cursor, checked_id, checked_limit, page_json

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["threads and executions"], responses=ERROR_RESPONSES)
Who = Annotated[Caller, Depends(caller)]
_SUMMARY = ("id", "thread_id", "agent_name", "status", "input", "created_at", "updated_at", "parent_execution_id",
            "steps", "tool_calls", "usage", "cost_usd", "error")


def _view(request: Request, who: Caller) -> OrganizationView:
    return server_state(request).view(who.organization_id, everything=who.sees_everything)


def thread_json(info: ThreadInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def execution_json(execution: Execution) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(execution_to_json(execution))
    return data


def execution_summary(execution: Execution) -> dict[str, Any]:
    """An execution in a list: what it is and how far it got, without its limits and call bookkeeping."""
    data = execution_json(execution)
    return {name: data.get(name) for name in _SUMMARY}


@router.get("/threads", summary="List threads")
def list_threads(request: Request, who: Who, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    view = _view(request, who)
    return page_json(view.threads(limit=checked_limit(limit), cursor=checked_cursor(cursor)), thread_json)


@router.get("/threads/{thread_id}", summary="Get a thread")
def get_thread(thread_id: str, request: Request, who: Who) -> dict[str, Any]:
    return thread_json(_view(request, who).thread(checked_id("thread_id", thread_id)))


@router.get("/threads/{thread_id}/messages", summary="A thread's messages")
def thread_messages(thread_id: str, request: Request, who: Who, start: int = 0) -> dict[str, Any]:
    """The messages from position `start` (0: the first) on."""
    view = _view(request, who)
    view.thread(checked_id("thread_id", thread_id))
    if start < 0:
        raise ApiError(400, f"start takes a position, 0 or more, got {start}", field="start")
    return {"items": [message_to_dict(m) for m in view.store.get_messages(thread_id, start=start)]}


@router.get("/executions", summary="List executions")
def list_executions(*, request: Request, who: Who, agent_name: str | None = None, thread_id: str | None = None,
                    status: str | None = None, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    try:
        wanted = None if status is None else ExecutionStatus(status)
    except ValueError:
        raise ApiError(400, f"status takes an execution status word, got {status!r}", field="status") from None
    view = _view(request, who)
    page = view.executions(agent_name=agent_name, thread_id=thread_id, status=wanted, limit=checked_limit(limit),
                           cursor=checked_cursor(cursor))
    return page_json(page, execution_summary)


@router.get("/executions/{execution_id}", summary="Get an execution")
def get_execution(execution_id: str, request: Request, who: Who) -> dict[str, Any]:
    return execution_json(_view(request, who).execution(checked_id("execution_id", execution_id)))


@router.get("/executions/{execution_id}/messages", summary="The messages of an execution's thread")
def execution_messages(execution_id: str, request: Request, who: Who, start: int = 0) -> dict[str, Any]:
    view = _view(request, who)
    execution = view.execution(checked_id("execution_id", execution_id))
    if start < 0:
        raise ApiError(400, f"start takes a position, 0 or more, got {start}", field="start")
    return {"items": [message_to_dict(m) for m in view.store.get_messages(execution.thread_id, start=start)]}


@router.get("/executions/{execution_id}/tool_calls", summary="An execution's tool calls")
def execution_tool_calls(execution_id: str, request: Request, who: Who) -> dict[str, Any]:
    view = _view(request, who)
    view.execution(checked_id("execution_id", execution_id))
    return {"items": [dataclasses.asdict(r) for r in view.store.get_tool_calls(execution_id)]}
