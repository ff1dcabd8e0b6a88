"""`@on_task` handlers: checked at decoration, run by real worker processes (sync `handle` and async
`handle_async` of tests/workers/worker_app.py) on a SQLite file and on PostgreSQL, and in-process by
`handler.test()`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from workers_helpers import start_worker, stop_worker

from loopline.errors import UsageError
from loopline.tasks import LocalTaskTest, Task, Tasks
from loopline.workers import TaskHandler, on_task

SCHEMA = {"type": "object", "properties": {"skills": {"type": "array"}}, "required": ["skills"]}


@pytest.fixture(scope="module", params=["handle", "handle_async"])
def handler(request: pytest.FixtureRequest, db: str, worker_log: Path) -> Iterator[str]:
    """A handler-only worker running the sync or the async handler; the handler's name."""
    proc = start_worker(db, "--handler-only", "--handler", request.param, "--lease", "2", log=worker_log)
    yield str(request.param)
    stop_worker(proc)


# --- run by a worker -------------------------------------------------------------------------------------


def test_a_handler_returns_the_result(tasks: Tasks, handler: str) -> None:
    task = tasks.create("summarizer", "summarize this")
    done = task.wait(30)
    expected = {"echo": "summarize this", "agent_id": "summarizer"} if handler == "handle" else {
        "echo async": "summarize this"}
    assert (done.status, done.result, done.error) == ("COMPLETED", expected, None)
    assert (done.progress, done.worker is not None) == (1.0, True)
    assert [e.data.get("status") for e in done.events(follow=False) if e.type == "status"] == [
        "PENDING", "RUNNING", "COMPLETED"]


def test_a_handler_may_set_task_result_and_return_the_task(tasks: Tasks, handler: str) -> None:
    done = tasks.create("summarizer", "set-result please").wait(30)
    key = "set" if handler == "handle" else "set async"
    assert (done.status, done.result) == ("COMPLETED", {key: "set-result please"})


def test_a_handler_reports_progress_and_current_action(tasks: Tasks, handler: str) -> None:
    done = tasks.create("summarizer", "report halfway").wait(30)
    progress = [e.data for e in done.events(follow=False) if e.type == "progress"]
    assert progress == [{"progress": 0.5, "current_action": "halfway"}]
    assert done.progress == 1.0  # COMPLETED


def test_a_handler_that_raises_fails_its_task_and_the_worker_goes_on(tasks: Tasks, handler: str) -> None:
    failed = tasks.create("summarizer", "please raise").wait(30)
    kind = "RuntimeError" if handler == "handle" else "ValueError"
    message = f"{'handler' if handler == 'handle' else 'async handler'} refused 'please raise'"
    assert failed.status == "FAILED" and failed.result is None
    assert failed.error is not None
    assert (failed.error["type"], failed.error["message"]) == (kind, message)
    logs = [e for e in failed.events(follow=False) if e.type == "log"]
    assert len(logs) == 1 and logs[0].data["level"] == "error"
    assert logs[0].data["message"] == f"{kind}: {message}"
    assert "Traceback (most recent call last)" in logs[0].data["traceback"]
    assert f"{kind}: {message}" in logs[0].data["traceback"]
    assert "worker_app.py" in logs[0].data["traceback"]
    events = list(failed.events(follow=False))
    assert events[-1].type == "finished" and events[-1].data["status"] == "FAILED"

    after = tasks.create("summarizer", "still there?").wait(30)
    assert after.status == "COMPLETED"


# --- checked at decoration --------------------------------------------------------------------------------


def test_a_handler_without_a_task_parameter_is_refused_at_decoration() -> None:
    def summarize(job: Any) -> Any:
        return job

    with pytest.raises(UsageError, match=r"summarize must take a `task` parameter.*it takes \(job\)"):
        on_task(summarize)
    with pytest.raises(UsageError, match="must take a `task` parameter"):
        on_task(test_task=LocalTaskTest(input="x"))(summarize)

    async def needs_more(task: Any, other: Any) -> Any:
        return task

    with pytest.raises(UsageError, match="'other' needs a default"):
        on_task(needs_more)
    with pytest.raises(UsageError, match="LocalTaskTest"):
        on_task(test_task="What can you do?")(lambda task: task)  # type: ignore[arg-type]


def test_sync_and_async_handlers_are_both_accepted() -> None:
    @on_task
    def sync_handler(task: Any) -> Any:
        return 1

    @on_task
    async def async_handler(task: Any, extra: int = 2) -> Any:
        return 2

    assert isinstance(sync_handler, TaskHandler) and not sync_handler.is_async
    assert isinstance(async_handler, TaskHandler) and async_handler.is_async
    assert sync_handler.__name__ == "sync_handler"


# --- handler.test() ----------------------------------------------------------------------------------------


def test_handler_test_runs_its_local_task_in_process() -> None:
    seen: list[Task] = []

    @on_task(test_task=LocalTaskTest(input="What can you do?", output_format="json", output_schema=SCHEMA))
    def capable(task: Task) -> Any:
        seen.append(task)
        task.report(progress=0.5, current_action="listing skills")
        return {"skills": ["search", task.input.text]}

    done = capable.test()
    assert (done.status, done.result, done.error) == ("COMPLETED", {"skills": ["search", "What can you do?"]}, None)
    assert (seen[0].output_format, seen[0].output_schema, seen[0].status) == ("json", SCHEMA, "RUNNING")
    assert done.agent_id == "local-test"


def test_handler_test_of_an_async_handler_that_sets_the_result() -> None:
    @on_task(test_task=LocalTaskTest(input="hi", agent_id="greeter"))
    async def greet(task: Task) -> Task:
        await asyncio.sleep(0)
        task.result = f"hello, {task.input.text}"
        return task

    done = greet.test()
    assert (done.status, done.result, done.agent_id) == ("COMPLETED", "hello, hi", "greeter")


async def test_handler_test_works_inside_a_running_event_loop() -> None:
    @on_task(test_task=LocalTaskTest(input="boom"))
    def broken(task: Task) -> Any:
        raise KeyError(task.input.text)

    done = broken.test()
    assert done.status == "FAILED" and done.error is not None
    assert (done.error["type"], done.error["message"]) == ("KeyError", "'boom'")


def test_handler_test_without_a_test_task_is_refused() -> None:
    @on_task
    def plain(task: Task) -> Any:
        return None

    with pytest.raises(UsageError, match="has no test task"):
        plain.test()
