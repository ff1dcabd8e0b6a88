"""Agent tasks run by real worker processes (tests/workers/worker_app.py's `researcher` and its scripted
model), on a SQLite file and on PostgreSQL: a task is its agent's execution, seen by the existing API;
output schemas; threads (one task at a time, in order) and parallel threads; priorities; cancelling."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workers_helpers import WorkerStarter

from loopline.loop import Execution, ExecutionStatus
from loopline.messages import ToolResultPart
from loopline.tasks import Task, TaskConfig, Tasks

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}


@pytest.fixture(scope="module")
def tasks(tasks: Tasks, worker: None) -> Tasks:
    """The module's tasks, with its worker running."""
    return tasks


def _running_span(execution: Execution) -> tuple[float, float]:
    """When the execution started running and when it ended."""
    history = execution.status_history
    started = next(at for status, at in history if status == ExecutionStatus.RUNNING)
    return started, history[-1][1]


def _wait_for(task: Task, predicate: object, timeout: float = 20.0) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate(task.refresh()):
            return task
        time.sleep(0.05)
    raise AssertionError(f"{task!r} never got there: {task.to_json()}")


# --- a task is an execution -----------------------------------------------------------------------------


def test_an_agent_task_is_an_execution_the_existing_api_reads(tasks: Tasks, db: str) -> None:
    task = tasks.create("researcher", "sales of March", config=TaskConfig(max_steps=10))
    assert task.status == "PENDING" and task.thread_id is not None and task.execution_id is None
    done = task.wait(30)
    assert (done.status, done.result, done.error) == ("COMPLETED", "answer to sales of March", None)

    execution = tasks.store.get_execution(str(done.execution_id))
    assert (execution.status, execution.thread_id, execution.agent_name) == (ExecutionStatus.COMPLETED,
                                                                            task.thread_id, "researcher")
    assert execution.result == done.result and execution.steps == 3 and execution.limits.max_steps == 10
    messages = tasks.store.get_messages(str(task.thread_id))
    assert [m.role for m in messages if m.role != "system"][:2] == ["user", "assistant"]
    assert next(m for m in messages if m.role == "user").text == "sales of March"

    record = done.to_json()
    assert record["usage"] == {"input_tokens": execution.usage.input_tokens,
                               "output_tokens": execution.usage.output_tokens}
    assert record["usage"]["input_tokens"] > 0
    assert (record["steps"], record["cost_usd"]) == (3, execution.cost_usd)
    assert done.used_tools == ["lookup", "finish"]
    assert (done.progress, done.current_action) == (1.0, "finished (COMPLETED)")

    shown = subprocess.run([sys.executable, "-m", "loopline.cli", "--db", db, "executions", "show",
                            str(done.execution_id), "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["execution"]["status"] == "COMPLETED"


def test_progress_and_current_action_follow_the_loop(tasks: Tasks) -> None:
    task = tasks.create("researcher", "watch me slow=0.8", config=TaskConfig(max_steps=10))
    calling = _wait_for(task, lambda t: t.current_action == "calling lookup")
    assert calling.status == "RUNNING" and calling.progress == pytest.approx(0.1)
    assert calling.execution_id is not None
    _wait_for(task, lambda t: t.current_action == "calling lookup" and t.progress == pytest.approx(0.2))
    done = task.wait(30)
    assert (done.progress, done.current_action) == (1.0, "finished (COMPLETED)")
    progress = [e.data for e in done.events(follow=False) if e.type == "step"]
    assert [p["step"] for p in progress] == [1, 2, 3]


def test_a_json_task_gives_the_finish_tool_its_schema(tasks: Tasks) -> None:
    task = tasks.create("researcher", "tabulate", output_format="json", output_schema=SCHEMA)
    done = task.wait(30)
    assert (done.status, done.result) == ("COMPLETED", {"answer": "tabulate"})
    execution = tasks.store.get_execution(str(done.execution_id))
    assert execution.output_schema == SCHEMA
    finishes = [c for c in tasks.store.get_tool_calls(execution.id) if c.name == "finish"]
    assert [c.is_error for c in finishes] == [True, False]  # the string result was refused to the model
    assert "does not match the output schema" in str(finishes[0].result)


def test_an_output_schema_applies_only_to_json_tasks(tasks: Tasks) -> None:
    done = tasks.create("researcher", "plain", output_format="text", output_schema=SCHEMA).wait(30)
    assert (done.status, done.result) == ("COMPLETED", "answer to plain")
    assert tasks.store.get_execution(str(done.execution_id)).output_schema is None


# --- threads ----------------------------------------------------------------------------------------------


def test_tasks_on_one_thread_run_one_at_a_time_in_creation_order(tasks: Tasks) -> None:
    first = tasks.create("researcher", "t0 slow=0.4")
    later = [tasks.create("researcher", f"t{i} slow=0.2", thread_id=first.thread_id) for i in (1, 2, 3)]
    done = [t.wait(60) for t in (first, *later)]
    assert [t.status for t in done] == ["COMPLETED"] * 4
    assert done[3].result == "answer to t3 slow=0.2 (after t0 slow=0.4 / t1 slow=0.2 / t2 slow=0.2)"
    assert {t.thread_id for t in done} == {first.thread_id}
    executions = [tasks.store.get_execution(str(t.execution_id)) for t in done]
    assert [e.created_at for e in executions] == sorted(e.created_at for e in executions)
    spans = [_running_span(e) for e in executions]
    for (_, ended), (started, _) in itertools.pairwise(spans):
        assert ended <= started  # each began after the one before it ended
    assert tasks.store.get_execution(str(done[1].execution_id)).thread_id == first.thread_id


def test_a_task_continuing_a_thread_sees_its_earlier_messages(tasks: Tasks) -> None:
    first = tasks.create("researcher", "remember the llama").wait(30)
    second = tasks.create("researcher", "what animal?", thread_id=first.thread_id).wait(30)
    assert second.result == "answer to what animal? (after remember the llama)"
    executions = tasks.store.list_executions(thread_id=str(first.thread_id))
    assert {e.id for e in executions} == {first.execution_id, second.execution_id}


def test_tasks_on_different_threads_run_in_parallel(tasks: Tasks) -> None:
    both = [tasks.create("researcher", f"parallel {i} slow=1") for i in range(2)]
    spans = [_running_span(tasks.store.get_execution(str(t.wait(30).execution_id))) for t in both]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # they overlapped


# --- cancelling ------------------------------------------------------------------------------------------


def test_cancelling_a_pending_task_ends_it_at_once_and_it_never_runs(tasks: Tasks) -> None:
    first = tasks.create("researcher", "hold the thread slow=1")
    queued = tasks.create("researcher", "never run", thread_id=first.thread_id)
    cancelled = queued.cancel()
    assert cancelled.status == "CANCELLED" and cancelled.is_finished
    assert first.wait(30).status == "COMPLETED"
    time.sleep(0.5)
    after = queued.refresh()
    assert (after.status, after.execution_id, after.started_at) == ("CANCELLED", None, None)
    types = [e.type for e in after.events(follow=False)]
    assert types == ["status", "status", "finished"]
    assert [e.data["status"] for e in after.events(follow=False)][:2] == ["PENDING", "CANCELLED"]


@pytest.mark.parametrize("how", ["cancel", "set_status"])
def test_cancelling_a_running_task_interrupts_its_running_call(tasks: Tasks, how: str) -> None:
    task = tasks.create("researcher", f"cancel by {how} slow=4")
    _wait_for(task, lambda t: t.current_action == "calling lookup")
    started = time.monotonic()
    if how == "cancel":
        tasks.cancel(task.id)
    else:
        task.set_status("CANCELLED").save()
    done = task.wait(10)
    assert done.status == "CANCELLED"
    assert time.monotonic() - started < 3.0  # it did not wait for the 4 s call to end
    execution = tasks.store.get_execution(str(done.execution_id))
    assert execution.status == ExecutionStatus.CANCELLED
    results = [p for m in tasks.store.get_messages(str(done.thread_id)) for p in m.parts
               if isinstance(p, ToolResultPart)]
    assert [(p.name, p.is_error) for p in results] == [("lookup", True)]
    assert "interrupted while running" in results[0].content
    events = list(done.events(follow=False))
    assert events[-1].type == "finished" and events[-1].data["status"] == "CANCELLED"


def test_the_worker_keeps_running_tasks_after_a_cancel(tasks: Tasks) -> None:
    assert tasks.create("researcher", "after the cancels").wait(30).result == "answer to after the cancels"


# --- priorities -----------------------------------------------------------------------------------------


def test_priority_orders_tasks_that_start_threads_when_the_worker_is_full(tmp_path: Path,
                                                                          workers: WorkerStarter) -> None:
    db = str(tmp_path / "one-at-a-time.db")
    workers(db, "--concurrency", "1", "--lease", "2")
    tasks = Tasks(db)
    release = tmp_path / "release"
    blocker = tasks.create("researcher", f"block until={release}")
    _wait_for(blocker, lambda t: t.status == "RUNNING")
    queued = {p: tasks.create("researcher", f"priority {p}", priority=p) for p in (0, 5, -5, 10, 1)}
    assert blocker.refresh().status == "RUNNING"
    release.touch()
    done = {p: t.wait(60) for p, t in queued.items()}
    order = sorted(done, key=lambda p: done[p].started_at or 0.0)
    assert order == [10, 5, 1, 0, -5]
    for before, after in itertools.pairwise(order):  # one at a time
        assert (done[before].finished_at or 0.0) <= (done[after].started_at or 0.0)
    assert min(t.started_at or 0.0 for t in done.values()) >= (blocker.refresh().finished_at or 0.0)
    tasks.store.close()
