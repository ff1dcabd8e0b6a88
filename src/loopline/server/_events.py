"""`GET /v1/tasks/{task_id}/events`: a task's events as server-sent events, or as one JSON page.

Each event goes out with its number as the SSE id, so a client that reconnects with `Last-Event-ID`
gets exactly the events after it. The stream ends after the `finished` event (or, with `follow=false`,
after what is stored now); while nothing happens, a `: keepalive` comment every
`sse_heartbeat_seconds` keeps proxies from closing it. The database is read in a worker thread and the
stream waits with `asyncio.sleep`, so thousands of open streams never block the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from .._sse import comment, encode
from ..store import TaskEventRow, TaskTable
from ..tasks import Task
from ._auth import Caller, caller, server_state
from ._errors import ERROR_RESPONSES, ApiError
from ._params import checked_id, tasks_of

__all__ = ["event_json", "router"]

router = APIRouter(prefix="/v1", tags=["tasks"], responses=ERROR_RESPONSES)

FINISHED = "finished"
_FIRST_DELAY, _MAX_DELAY = 0.05, 0.5


def event_json(row: TaskEventRow) -> dict[str, Any]:
    """One event as the API shows it (the `data:` of its SSE event, an item of the JSON page)."""
    return {"id": row.seq, "task_id": row.task_id, "type": row.type, "data": row.data, "created_at": row.created_at}


@router.get("/tasks/{task_id}/events", summary="A task's events (SSE, or JSON with format=json)",
            responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}})
async def task_events(*, task_id: str, request: Request, who: Annotated[Caller, Depends(caller)], after: int = 0,
                      follow: bool = True, format: Literal["sse", "json"] = "sse",
                      last_event_id: Annotated[str | None, Header()] = None) -> Response:
    """Events numbered above `after` (or above the `Last-Event-ID` header, which wins), oldest first."""
    checked_id("task_id", task_id)
    start = _start(after, last_event_id)
    tasks = tasks_of(request, who)
    task: Task = await asyncio.to_thread(tasks.get, task_id)  # another organisation's: 404, as an unknown one
    if format == "json":
        rows = await asyncio.to_thread(tasks.table.events, task_id, after=start)
        return JSONResponse({"items": [event_json(r) for r in rows]})
    state = server_state(request)
    stream = _stream(tasks.table, task_id, start, follow=follow, ended=task.is_finished,
                     heartbeat=state.settings.sse_heartbeat_seconds, stopping=state.stopping)
    return StreamingResponse(state.streams.open(who.client, stream), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _start(after: int, last_event_id: str | None) -> int:
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise ApiError(400, f"Last-Event-ID takes an event id (a whole number), got {last_event_id!r}",
                           field="Last-Event-ID")
        return int(last_event_id)
    if after < 0:
        raise ApiError(400, f"after takes an event id, 0 or more, got {after}", field="after")
    return after


async def _stream(table: TaskTable, task_id: str, after: int, *, follow: bool, ended: bool, heartbeat: float,
                  stopping: threading.Event) -> AsyncIterator[bytes]:
    """The events after `after`, then live ones until `finished`. A task that had already ended when
    the stream opened gets no more events, so its stream ends once what is stored has been sent. A
    stopping server ends the stream (the client resumes elsewhere from its last event id)."""
    delay, quiet_since = _FIRST_DELAY, time.monotonic()
    while True:
        rows = await asyncio.to_thread(table.events, task_id, after=after)
        for row in rows:
            after = row.seq
            yield encode(event_json(row), event=row.type, id=row.seq)
            if row.type == FINISHED:
                return
        now = time.monotonic()
        if rows:
            delay, quiet_since = _FIRST_DELAY, now
            continue
        if not follow or ended or stopping.is_set():
            return
        if now - quiet_since >= heartbeat:
            yield comment("keepalive")
            quiet_since = now
        await asyncio.sleep(min(delay, max(0.01, quiet_since + heartbeat - now)))
        delay = min(delay * 1.5, _MAX_DELAY)
