"""Remote workers' endpoints (`/v1/workers/{worker_id}/...`) and the relay that hands them tasks.

A remote worker (`Events(base_url=...)`) heartbeats (`POST .../heartbeat`: who it is, what it serves,
what it runs; the answer names the tasks to cancel and those handed to another worker), follows its
assignments as server-sent events (`GET .../assignments`: `assignment` and `cancel` events; every
assignment still open is sent again on each connection), reads and writes the rows of the tasks
assigned to it (`.../tasks/{task_id}`, its events, its `result`) and the store of their agents'
executions (`POST .../store`). Every write names the attempt the worker was given: a worker that is
no longer the task's assignee is refused with 409, and a result reported twice is applied once. All is
limited to the caller's organisation; the assignment table is the truth every server process reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .._sse import comment, encode
from ..errors import (
    ConcurrentUpdateError,
    ExecutionClaimedError,
    InvalidInputError,
    LooplineError,
    MemoryValueError,
    StoreUnavailableError,
    UnknownExecutionError,
    UnknownTaskError,
    UnknownThreadError,
    UsageError,
)
from ..loop import ExecutionStatus
from ..store import Assignment, AssignmentTable, task_table
from ..workers import Relay
from ._auth import Caller, caller
from ._remote_store import scoped_call
from ._state import ServerState

__all__ = ["on_shutdown", "on_startup", "router"]

router = APIRouter(prefix="/v1/workers", tags=["remote workers"])
Who = Annotated[Caller, Depends(caller)]
log = logging.getLogger("loopline.server")

_TERMINAL = {s.value for s in ExecutionStatus if s.is_terminal}
_STREAM_POLL = 0.15
"""How often a worker's stream looks for new assignments and cancels (in the assignment table)."""
_WORKER_FIELDS = ("status", "worker", "attempts", "started_at", "execution_id", "current_action", "progress",
                  "usage", "cost_usd", "steps", "used_tools")
"""What a worker may change in its task's record (the rest is the creator's)."""
_RESULT_FIELDS = ("usage", "cost_usd", "steps")


# --- lifespan ---------------------------------------------------------------------------------------


async def on_startup(app: FastAPI) -> None:
    """Start the relay (unless `ServerSettings.relay` is off)."""
    state: ServerState = app.state.loopline
    if state.settings.relay:
        relay = Relay(state.store, lease_seconds=state.settings.worker_lease_seconds)
        await relay.start()
        state.relay = relay


async def on_shutdown(app: FastAPI) -> None:
    state: ServerState = app.state.loopline
    relay, state.relay = state.relay, None
    if relay is not None:
        await relay.stop()


# --- bodies -------------------------------------------------------------------------------------------


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    host: str = ""
    pid: int = 0
    lease: float = Field(10.0, gt=0, le=3600)
    agents: list[str] | None = None
    """The agent ids it serves (None: every one, with a catch-all handler)."""
    executors: dict[str, Any] = Field(default_factory=dict)
    """The executors it runs, each with its input schema."""
    concurrency: int = Field(1, ge=1, le=10_000)
    running: list[tuple[str, int]] = Field(default_factory=list)
    """The tasks it runs now, each with its attempt."""
    stopping: bool = False


class StoreCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: str
    args: dict[str, Any] = Field(default_factory=dict)


class TaskWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: int
    record: dict[str, Any]
    expected_updated_at: float
    events: list[tuple[str, dict[str, Any]]] = Field(default_factory=list)


class TaskEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: int
    events: list[tuple[str, dict[str, Any]]]


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: int
    status: str
    result: Any = None
    error: dict[str, Any] | None = None
    only_from: list[str] | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


# --- errors ---------------------------------------------------------------------------------------------


class _Refused(LooplineError):
    """A report from a worker that is not (any more) the task's assignee."""

    def __init__(self, task_id: str, worker_id: str, current: Assignment | None, attempt: int) -> None:
        now = "never assigned" if current is None else f"attempt {current.attempt} is {current.worker_id}'s"
        super().__init__(f"task {task_id} is not worker {worker_id}'s in attempt {attempt} ({now}): it was handed "
                         "to another worker; this one must stop working on it")
        self.task_id = task_id


def _error(status: int, exc: Exception, *, item: str | None = None, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc), "field": field}
    if item is not None:
        body["id"] = item
    return JSONResponse({"error": body}, status_code=status)


_ANSWERS: tuple[tuple[type[Exception], int, str | None, str | None], ...] = (
    # (error, status, the attribute holding the id it names, the attribute holding the field). An unknown
    # id's answer is exactly every other route's (the id is in its message): another organisation's reads
    # the same.
    (UnknownThreadError, 404, None, None), (UnknownExecutionError, 404, None, None),
    (UnknownTaskError, 404, None, None), (ConcurrentUpdateError, 409, "thread_id", None),
    (ExecutionClaimedError, 409, "execution_id", None), (MemoryValueError, 400, None, "key"),
    (InvalidInputError, 400, None, "field"), (StoreUnavailableError, 503, None, None), (UsageError, 400, None, None))


def _answer(exc: Exception) -> JSONResponse:
    """Loopline's errors as the body the worker's client reads back into them (with the id they name)."""
    if isinstance(exc, _Refused):
        return JSONResponse({"error": {"type": "TaskReassignedError", "message": str(exc), "field": None,
                                       "id": exc.task_id}}, status_code=409)
    for kind, status, item, field in _ANSWERS:
        if isinstance(exc, kind):
            return _error(status, exc, item=item and getattr(exc, item), field=field and getattr(exc, field))
    log.error("a remote worker's call failed: %s: %s", type(exc).__name__, exc)
    return _error(500, exc)


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.loopline
    return state


def _check_id(value: str, field: str) -> None:
    if not value or len(value) > 200 or any(not (c.isalnum() or c in "_.:-") for c in value):
        raise InvalidInputError(f"{field} takes 1 to 200 letters, digits or _.:-", field=field)


async def _run(fn: Any, *args: Any) -> Any:
    """A blocking call (the store's) off the event loop; loopline's errors as the worker's body."""
    try:
        return await asyncio.to_thread(fn, *args)
    except LooplineError as exc:
        return _answer(exc)


# --- heartbeat ------------------------------------------------------------------------------------------


@router.post("/{worker_id}/heartbeat")
async def heartbeat(worker_id: str, body: Heartbeat, request: Request, who: Who) -> Any:
    """The worker is alive: its row (`remote: true`) says what it serves; the answer names the tasks it
    runs that were cancelled (`cancel`) or handed to another worker (`lost`)."""
    return await _run(_beat, _state(request), who, worker_id, body)


def _beat(state: ServerState, who: Caller, worker_id: str, body: Heartbeat) -> dict[str, Any]:
    _check_id(worker_id, "worker_id")
    table = task_table(state.store)
    assignments = AssignmentTable(table.store)
    now = time.time()
    # A name is another's while its worker is live, and while a silent one still holds another
    # organisation's tasks (until the relay hands them on): heartbeats under it would keep them there. A
    # worker on the database's or a relay's, always: its row is how the others know to recover its tasks.
    held = any(a.organization_id != who.organization_id for a in assignments.open_for(worker_id))
    for row in table.workers():
        live = held or now - row.heartbeat_at <= float(row.data.get("lease") or 10.0)
        if row.id == worker_id and (not row.data.get("remote") or (
                live and row.data.get("organization_id") != who.organization_id)):
            raise ConcurrentUpdateError(f"a live worker already runs as {worker_id} (or one whose tasks are still "
                                        "to be handed on): give this one another name (Events(name=...))",
                                        thread_id="")
    data = body.model_dump(exclude={"running"})
    data.update(remote=True, organization_id=who.organization_id, running=[t for t, _ in body.running])
    table.beat(worker_id, data, at=0.0 if body.stopping else None)
    cancel, lost = [], []
    for task_id, attempt in body.running:
        current = assignments.current(task_id)
        if not _holds(current, worker_id, attempt):
            lost.append(task_id)
            continue
        try:
            if table.get(task_id, organization_id=who.organization_id).get("cancel_requested"):
                cancel.append(task_id)
        except UnknownTaskError:
            lost.append(task_id)
    return {"cancel": cancel, "lost": lost}


def _holds(current: Assignment | None, worker_id: str, attempt: int) -> bool:
    """Whether the worker's attempt is the task's latest, not handed on (it may have ended: a late event
    of the attempt that ended the task is still its own)."""
    return current is not None and (current.worker_id, current.attempt) == (worker_id, attempt) and (
        current.state != "lapsed")


# --- assignments stream -----------------------------------------------------------------------------


@router.get("/{worker_id}/assignments")
async def assignments(worker_id: str, request: Request, who: Who, *,
                      agent_id: Annotated[list[str] | None, Query()] = None,
                      executor: Annotated[list[str] | None, Query()] = None,
                      concurrency: Annotated[int, Query(ge=1)] = 1) -> Any:
    """`text/event-stream` of the worker's `assignment` events (`{"task": record, "attempt": n}`; every open
    one again on each connection: the worker takes each once) and `cancel` events (`{"task_id": ...}`)."""
    try:
        _check_id(worker_id, "worker_id")
    except InvalidInputError as exc:
        return _answer(exc)
    state = _state(request)
    log.info("remote worker %s connected (organisation %r, agents %s, executors %s, %d at a time)", worker_id,
             who.organization_id, agent_id, executor, concurrency)
    return StreamingResponse(state.streams.open(who.client, _stream(state, who, worker_id, request)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(state: ServerState, who: Caller, worker_id: str, request: Request) -> AsyncIterator[bytes]:
    assignments = AssignmentTable(task_table(state.store).store)
    news = _News(assignments, who, worker_id)
    quiet_since = time.monotonic()
    yield comment("assignments of " + worker_id)
    while not (state.stopping.is_set() or await request.is_disconnected()):  # stopping: the worker reconnects
        out = await asyncio.to_thread(news.read)
        for chunk in out:
            yield chunk
        if out:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= state.settings.sse_heartbeat_seconds:
            yield comment("keepalive")
            quiet_since = time.monotonic()
        await asyncio.sleep(_STREAM_POLL)


class _News:
    """What one assignment stream has sent, and what it has yet to send."""

    def __init__(self, assignments: AssignmentTable, who: Caller, worker_id: str) -> None:
        self.assignments, self.who, self.worker_id = assignments, who, worker_id
        self.sent: set[tuple[str, int]] = set()
        self.cancels: set[str] = set()
        self.looked: dict[str, float] = {}
        """Each open assignment's task's `updated_at` when its record was last looked at (not changed since:
        nothing new to send about it, and its record is not parsed again)."""

    def read(self) -> list[bytes]:
        """The events not sent yet: open assignments, then cancels of assigned tasks (one query)."""
        out, looked = [], {}
        for made, updated_at, data in self.assignments.open_with_tasks(self.worker_id):
            if made.organization_id != self.who.organization_id:
                continue
            looked[made.task_id] = updated_at
            fresh = (made.task_id, made.attempt) not in self.sent
            if not fresh and self.looked.get(made.task_id) == updated_at:
                continue
            record = json.loads(data)
            if record.get("organization_id", "") != self.who.organization_id:
                continue
            if fresh:
                self.sent.add((made.task_id, made.attempt))
                out.append(encode({"task": record, "attempt": made.attempt, "assigned_at": made.assigned_at},
                                  event="assignment", id=f"{made.task_id}.{made.attempt}"))
            if record.get("cancel_requested") and made.task_id not in self.cancels:
                self.cancels.add(made.task_id)
                out.append(encode({"task_id": made.task_id}, event="cancel"))
        self.looked = looked
        return out


# --- the store ------------------------------------------------------------------------------------------


@router.post("/{worker_id}/store")
async def store_call(worker_id: str, body: StoreCall, request: Request, who: Who) -> Any:
    """One call of the store protocol (`op`, `args` as `loopline.store.call_args` makes them) on the server's
    store, limited to the caller's organisation's threads and executions; `{"value": answer}`."""
    state = _state(request)
    organization = None if who.sees_everything else who.organization_id
    value = await _run(scoped_call, state.store, organization, body.op, body.args)
    return value if isinstance(value, JSONResponse) else {"value": value}


# --- task rows --------------------------------------------------------------------------------------------


@router.get("/{worker_id}/tasks/{task_id}")
async def get_task(worker_id: str, task_id: str, request: Request, who: Who) -> Any:
    """A task of the caller's organisation (the worker reads those its task waits for, too)."""
    return await _run(lambda: task_table(_state(request).store).get(task_id, organization_id=who.organization_id))


@router.get("/{worker_id}/tasks/{task_id}/earlier")
async def earlier_tasks(worker_id: str, task_id: str, request: Request, who: Who) -> Any:
    """The unfinished tasks created before this one on its thread (they go first)."""
    def earlier() -> dict[str, Any]:
        table = task_table(_state(request).store)
        record = table.get(task_id, organization_id=who.organization_id)
        if not record.get("thread_id"):
            return {"items": []}
        return {"items": table.earlier_unfinished(record["thread_id"], record["created_at"], task_id)}

    return await _run(earlier)


@router.put("/{worker_id}/tasks/{task_id}")
async def put_task(worker_id: str, task_id: str, body: TaskWrite, request: Request,
                   who: Who) -> Any:
    """Write what a worker may change of its task's record, if nobody wrote it since `expected_updated_at`
    (409 `ConcurrentUpdateError` otherwise: read it again) and the attempt is still the task's (409
    `TaskReassignedError`)."""
    return await _run(_write_task, _state(request), who, worker_id, task_id, body)


def _write_task(state: ServerState, who: Caller, worker_id: str, task_id: str, body: TaskWrite) -> dict[str, Any]:
    table = task_table(state.store)
    assignments = AssignmentTable(table.store)
    status = body.record.get("status")
    if status in _TERMINAL:
        raise InvalidInputError("a task's end is reported to .../result, once", field="record.status")
    if body.record.get("execution_id") is not None:
        _check_execution(state, who, task_id, body.record["execution_id"])

    def change(record: dict[str, Any]) -> dict[str, Any] | None:
        if record.get("organization_id", "") != who.organization_id:
            raise UnknownTaskError(task_id)
        _assignee(assignments, task_id, worker_id, body.attempt)
        if record["updated_at"] != body.expected_updated_at:
            raise ConcurrentUpdateError(f"task {task_id} changed since it was read: read it again", thread_id="")
        if record["status"] in _TERMINAL:
            return None  # ended meanwhile (cancelled): nothing more to write
        record.update({k: body.record[k] for k in _WORKER_FIELDS if k in body.record})
        if record["status"] == "RUNNING":
            record["worker"] = worker_id
        return record

    return table.update(task_id, change, events=body.events)


def _check_execution(state: ServerState, who: Caller, task_id: str, execution_id: Any) -> None:
    """A task's execution is one on the task's own thread (any other, another organisation's too, would be
    cancelled or resumed as the task's)."""
    record = task_table(state.store).get(task_id, organization_id=who.organization_id)
    try:
        execution = state.store.get_execution(str(execution_id))
    except UnknownExecutionError:
        execution = None
    if execution is None or execution.thread_id != record.get("thread_id"):
        raise InvalidInputError(f"record.execution_id takes an execution on the task's thread, not {execution_id!r}",
                                field="record.execution_id")


def _assignee(assignments: AssignmentTable, task_id: str, worker_id: str, attempt: int) -> None:
    current = assignments.current(task_id)
    if not _holds(current, worker_id, attempt):
        raise _Refused(task_id, worker_id, current, attempt)


@router.post("/{worker_id}/tasks/{task_id}/events")
async def task_events(worker_id: str, task_id: str, body: TaskEvents, request: Request,
                      who: Who) -> Any:
    """Append events to the worker's task; `{"seqs": [their numbers]}`."""
    def append() -> dict[str, Any]:
        table = task_table(_state(request).store)
        table.get(task_id, organization_id=who.organization_id)
        _assignee(AssignmentTable(table.store), task_id, worker_id, body.attempt)
        return {"seqs": table.add_events(task_id, body.events)}

    return await _run(append)


@router.post("/{worker_id}/tasks/{task_id}/result")
async def task_result(worker_id: str, task_id: str, body: TaskResult, request: Request,
                      who: Who) -> Any:
    """The task's end (status, result, error, usage): applied once (`applied` false when it had already
    ended); refused with 409 from a worker that is not the task's assignee in that attempt."""
    return await _run(_finish, _state(request), who, worker_id, task_id, body)


def _finish(state: ServerState, who: Caller, worker_id: str, task_id: str, body: TaskResult) -> dict[str, Any]:
    if body.status not in _TERMINAL:
        raise InvalidInputError(f"status takes one of {sorted(_TERMINAL)}, got {body.status!r}", field="status")
    tasks = state.tasks(who.organization_id)
    tasks.table.get(task_id, organization_id=who.organization_id)
    assignments = AssignmentTable(task_table(state.store).store)
    _assignee(assignments, task_id, worker_id, body.attempt)
    fields = {k: body.fields[k] for k in _RESULT_FIELDS if k in body.fields}
    applied = tasks._finish(task_id, body.status, result=body.result, error=body.error, only_from=body.only_from,
                            **fields)
    assignments.end(task_id)
    if state.relay is not None:
        state.relay.slot_freed()
    return {"applied": applied, "task": tasks.table.get(task_id)}
