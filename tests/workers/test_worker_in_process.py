"""A worker in the caller's own event loop (`async with Events(...)`), as a notebook or the README runs
one: the loop stays usable after the worker stops, a second worker can start on it, and cancelling a
running task is an ordinary end, not an error in the worker's log."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from loopline import Agent, tool
from loopline.testing import ScriptedModel, call, reply
from loopline.workers import Events

pytest.importorskip("dbos")


@tool
async def wait_for_seat(flight: str) -> str:
    """Wait a little for a seat on a full flight."""
    await asyncio.sleep(0.1)
    return f"{flight} is still full"


def _keeps_waiting(request: dict[str, Any]) -> Any:
    return reply(call("wait_for_seat", flight="TP1753"))


def _finishes(request: dict[str, Any]) -> Any:
    return reply(call("finish", result="done", is_success=True))


class _Errors(logging.Handler):
    """The ERROR records DBOS logs (its logger does not propagate, so caplog does not see them)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_event_loop_runs_threads_and_another_worker_after_a_worker_stops(tmp_path: Path) -> None:
    from loopline.tasks import Tasks

    tasks = Tasks(str(tmp_path / "tasks.db"))
    agent = Agent("closer", "You finish.")

    async def main() -> list[Any]:
        results = []
        for _ in range(2):  # DBOS made its thread pool the loop's default executor, and shut it down
            async with Events(store=tasks.store, agents=[agent], model=ScriptedModel(_finishes)):
                task = await tasks.acreate("closer", "Finish.")
                results.append(await task.await_result(timeout=30))
            results.append(await asyncio.to_thread(lambda: "threads still run"))
        return results

    assert asyncio.run(main()) == ["done", "threads still run", "done", "threads still run"]


def test_cancelling_a_running_task_ends_it_cancelled_without_an_error_logged(tmp_path: Path) -> None:
    from loopline.tasks import Tasks

    tasks = Tasks(str(tmp_path / "tasks.db"))
    watcher = Agent("seat_watcher", "You get travellers onto full flights.", tools=[wait_for_seat])
    errors = _Errors()
    logging.getLogger("dbos").addHandler(errors)

    async def main() -> tuple[str, list[str]]:
        async with Events(store=tasks.store, agents=[watcher], model=ScriptedModel(_keeps_waiting)):
            task = await tasks.acreate("seat_watcher", "Get me on TP1753.")
            seen = []
            async for event in task.aevents(timeout=30):
                seen.append(event.type)
                if event.type == "tool_call":
                    await tasks.acancel(task.id)
            await asyncio.sleep(0.3)  # the workflow's end, after the task's, is where DBOS would log
        return task.refresh().status, seen

    try:
        status, seen = asyncio.run(main())
    finally:
        logging.getLogger("dbos").removeHandler(errors)
    assert status == "CANCELLED"
    assert seen[-2:] == ["status", "finished"]
    assert [r.getMessage() for r in errors.records] == []


def test_async_with_serves_the_handler_given_to_the_worker(tmp_path: Path) -> None:
    from loopline.tasks import Tasks
    from loopline.workers import on_task

    tasks = Tasks(str(tmp_path / "tasks.db"))

    @on_task
    async def handle(task: Any) -> Any:
        return {"echo": task.input.text}

    async def main() -> Any:
        async with Events(store=tasks.store, on_execution_request=handle, agent_ids=["helpdesk"]):
            task = await tasks.acreate("helpdesk", "What can you do?")
            return await task.await_result(timeout=30)

    assert asyncio.run(main()) == {"echo": "What can you do?"}
