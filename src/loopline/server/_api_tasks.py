"""`/v1/tasks` and `/v1/trees`: `Tasks` over HTTP, for the caller's organisation.

Each endpoint is the `Tasks` / `Task` method of the same name on the server's store and engine client,
so a task made here is run by any worker on the database. The endpoints that touch the database are
plain `def`s (FastAPI runs them in its thread pool); the event stream is in `_events`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from ..tasks import Task
from ._auth import Caller, caller
from ._errors import ERROR_RESPONSES, ApiError
from ._params import Body, checked_cursor, checked_id, checked_limit, page_json, require_thread, tasks_of

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["tasks"], responses=ERROR_RESPONSES)
Who = Annotated[Caller, Depends(caller)]
_UNSET_FIELDS = {"kind": "agent", "executor": None, "started_at": None, "finished_at": None, "usage": None,
                 "cost_usd": None, "steps": None, "worker": None}
"""Fields a stored record gets only once they mean something (a worker takes it, it ends); shown as
unset before, so every task has the same keys."""


def task_json(task: Task) -> dict[str, Any]:
    """A task as the API shows it: its stored record, with every field named."""
    return {**_UNSET_FIELDS, **task.to_json()}


class CreateTask(Body):
    """`Tasks.create`'s arguments (see its docstring for what each means)."""

    agent_id: str | None = None
    executor: str | None = None
    prompt: str = ""
    inputs: dict[str, Any] | None = None
    file_urls: list[str] = Field(default_factory=list)
    thread_id: str | None = None
    events_streaming: bool = True
    output_format: str = "text"
    output_schema: dict[str, Any] | None = None
    priority: int = 0
    config: dict[str, Any] | None = None
    idempotency_key: str | None = None
    require_worker: bool = False


class ExternalTask(Body):
    """`Tasks.report_external_task`'s arguments: a task that ran elsewhere and has ended."""

    agent_id: str
    id: str | None = None
    input: str = ""
    result: Any = None
    duration: float | None = None
    used_tools: list[str] | None = None
    status: str = "COMPLETED"
    error: str | None = None
    thread_id: str | None = None


class Progress(Body):
    progress: float | None = None
    current_action: str | None = None


class Alert(Body):
    message: str
    level: str = "warning"
    data: dict[str, Any] = Field(default_factory=dict)


class TaskChange(Body):
    """What `Task.save()` writes: only the fields sent change."""

    status: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    progress: float | None = None
    current_action: str | None = None


class Tree(Body):
    nodes: list[dict[str, Any]]
    name: str = ""


def _created(task: Task) -> JSONResponse:
    return JSONResponse(task_json(task), status_code=201)


@router.post("/tasks", status_code=201, summary="Create a task")
def create_task(body: CreateTask, request: Request, who: Who) -> JSONResponse:
    """Hand a task to the workers of `agent_id` (or of `executor`); it is returned at once, PENDING.
    Nothing is stored when any field is refused. `file_urls` are stored, never fetched by the server."""
    require_thread(request, who, body.thread_id)
    return _created(tasks_of(request, who).create(**body.model_dump()))


@router.get("/tasks", summary="List tasks")
def list_tasks(*, request: Request, who: Who, agent_id: str | None = None,
               status: Annotated[list[str] | None, Query()] = None, thread_id: str | None = None,
               limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """The organisation's tasks, newest first; `next_cursor` continues. `status` may repeat."""
    tasks, cursor = tasks_of(request, who), checked_cursor(cursor)
    try:
        page = tasks.list(agent_id=agent_id, status=status, thread_id=thread_id, limit=checked_limit(limit),
                          cursor=cursor)
    except ValueError as exc:  # a word that is no status
        raise ApiError(400, str(exc), field="status") from None
    return page_json(page, task_json)


@router.post("/tasks/external", status_code=201, summary="Report a task that ran elsewhere")
def report_external_task(body: ExternalTask, request: Request, who: Who) -> JSONResponse:
    require_thread(request, who, body.thread_id)
    return _created(tasks_of(request, who).report_external_task(**body.model_dump()))


@router.get("/tasks/{task_id}", summary="Get a task")
def get_task(task_id: str, request: Request, who: Who) -> dict[str, Any]:
    return task_json(tasks_of(request, who).get(checked_id("task_id", task_id)))


@router.post("/tasks/{task_id}/cancel", summary="Cancel a task")
def cancel_task(task_id: str, request: Request, who: Who) -> dict[str, Any]:
    return task_json(tasks_of(request, who).cancel(checked_id("task_id", task_id)))


@router.post("/tasks/{task_id}/resume", summary="Queue a PAUSED task again")
def resume_task(task_id: str, request: Request, who: Who) -> dict[str, Any]:
    return task_json(tasks_of(request, who).resume(checked_id("task_id", task_id)))


@router.post("/tasks/{task_id}/progress", summary="Report a task's progress")
def report_progress(task_id: str, body: Progress, request: Request, who: Who) -> dict[str, Any]:
    task = tasks_of(request, who).get(checked_id("task_id", task_id))
    task.report(progress=body.progress, current_action=body.current_action)
    return task_json(task)


@router.post("/tasks/{task_id}/alert", status_code=204, summary="Send an alert event for a task")
def alert(task_id: str, body: Alert, request: Request, who: Who) -> Response:
    clash = sorted({"message", "level"} & set(body.data))
    if clash:
        raise ApiError(400, f"data cannot hold {clash[0]!r}: it is a field of the alert itself", field="data")
    tasks_of(request, who).get(checked_id("task_id", task_id)).alert(body.message, level=body.level, **body.data)
    return Response(status_code=204)


@router.patch("/tasks/{task_id}", summary="Change a task's status, result, error or progress")
def change_task(task_id: str, body: TaskChange, request: Request, who: Who) -> dict[str, Any]:
    """What `Task.save()` writes, for the fields sent (a terminal status ends the task)."""
    task = tasks_of(request, who).get(checked_id("task_id", task_id))
    sent = body.model_fields_set
    if "status" in sent:
        try:
            task.set_status(body.status or "")
        except ValueError:
            raise ApiError(400, f"status takes a task status word (PENDING, RUNNING, PAUSED, COMPLETED, FAILED, "
                                f"CANCELLED), got {body.status!r}", field="status") from None
    for name in ("result", "error", "progress", "current_action"):
        if name in sent:
            setattr(task, name, getattr(body, name))
    return task_json(task.save())


@router.post("/trees", status_code=201, summary="Create a task tree")
def create_tree(body: Tree, request: Request, who: Who) -> JSONResponse:
    """The nodes of `TaskManager` / `Tasks.create_tree`; returns the root task."""
    return _created(tasks_of(request, who).create_tree(body.nodes, name=body.name))


@router.get("/tasks/{task_id}/tree", summary="The nodes of a task tree")
def get_tree(task_id: str, request: Request, who: Who) -> dict[str, Any]:
    nodes = tasks_of(request, who).tree(checked_id("task_id", task_id))
    return {"nodes": {node: task_json(task) for node, task in nodes.items()}}
