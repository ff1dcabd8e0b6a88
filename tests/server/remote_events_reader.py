"""Follow a task's events over HTTP from its own process: `python remote_events_reader.py TASK_ID [--async]`.

`Tasks()` is remote by the environment (`LOOPLINE_BASE_URL`, `LOOPLINE_API_KEY`,
`LOOPLINE_ORGANIZATION_ID`). Prints one JSON line per event (`{"id", "type"}`), then `{"result": ...}`
once the task has ended."""

from __future__ import annotations

import asyncio
import json
import sys

from loopline.tasks import Tasks


def _line(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def follow(task_id: str) -> None:
    tasks = Tasks()
    task = tasks.get(task_id)
    for event in task.events(timeout=60):
        _line(id=event.id, type=event.type)
    _line(result=task.wait(30).result, kind=type(tasks).__name__)


async def afollow(task_id: str) -> None:
    tasks = Tasks()
    task = await tasks.aget(task_id)
    async for event in task.aevents(timeout=60):
        _line(id=event.id, type=event.type)
    _line(result=await task.await_result(30), kind=type(tasks).__name__)


if __name__ == "__main__":
    if "--async" in sys.argv:
        asyncio.run(afollow(sys.argv[1]))
    else:
        follow(sys.argv[1])
