"""The task API from the side of whoever hands out work (`Tasks`, `Task`), against real worker
processes on a SQLite file and on PostgreSQL: what `create` refuses (and that it then writes nothing),
idempotency keys, tasks no worker serves, external tasks, events, and Aesoperator's shape."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from workers_helpers import WorkerStarter

from loopline.errors import (
    ConfigError,
    InvalidInputError,
    TaskFailedError,
    TasksUnavailableError,
    UnknownThreadError,
    UsageError,
)
from loopline.store import InMemoryStore, SQLiteStore
from loopline.tasks import Task, TaskConfig, TaskEvent, Tasks, live_workers

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def _written(tasks: Tasks) -> tuple[int, int]:
    """How many tasks and threads the database holds."""
    return len(tasks.list(limit=10_000)), len(tasks.store.list_threads(limit=10_000))


# --- create: what it refuses ------------------------------------------------------------------------

BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("agent_id", {"agent_id": ""}),
    ("agent_id", {"agent_id": "two words"}),
    ("agent_id", {"agent_id": 7}),
    ("prompt", {"prompt": 42}),
    ("prompt", {"prompt": "   "}),
    ("file_urls", {"file_urls": "https://example.com/a.csv"}),
    ("file_urls[1]", {"file_urls": ["https://example.com/a.csv", "/etc/passwd"]}),
    ("thread_id", {"thread_id": "no such thread"}),
    ("output_format", {"output_format": "xml"}),
    ("output_schema", {"output_format": "json", "output_schema": {"type": "no-such-type"}}),
    ("output_schema", {"output_format": "json", "output_schema": {"properties": {"a": {"minLength": -1}}}}),
    ("output_schema", {"output_format": "json", "output_schema": ["not", "a", "schema"]}),
    ("priority", {"priority": 1.5}),
    ("priority", {"priority": True}),
    ("priority", {"priority": 100_001}),
    ("idempotency_key", {"idempotency_key": ""}),
    ("idempotency_key", {"idempotency_key": "k" * 256}),
    ("idempotency_key", {"idempotency_key": 12}),
    ("events_streaming", {"events_streaming": "yes"}),
]


@pytest.mark.parametrize(("field", "options"), BAD_FIELDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_create_refuses_a_bad_field_by_name_and_writes_nothing(tasks: Tasks, field: str,
                                                                options: dict[str, Any]) -> None:
    before = _written(tasks)
    arguments = {"agent_id": "researcher", "prompt": "hello", **options}
    with pytest.raises(InvalidInputError) as refused:
        tasks.create(**arguments)
    assert refused.value.field == field
    assert field.partition("[")[0] in str(refused.value)
    assert _written(tasks) == before


@pytest.mark.parametrize("config", [{"max_stepz": 3}, {"max_steps": 0}, {"max_duration_seconds": -1},
                                    {"memory_scope": "forever"}, {"allowed_domains": "example.com"},
                                    {"model": ""}, {"max_cost_usd": "cheap"}])
def test_create_refuses_a_bad_config_with_config_error_and_writes_nothing(tasks: Tasks,
                                                                          config: dict[str, Any]) -> None:
    before = _written(tasks)
    with pytest.raises(ConfigError) as refused:
        tasks.create("researcher", "hello", config=config)
    assert next(iter(config)).replace("_seconds", "") in str(refused.value)
    assert _written(tasks) == before


def test_task_config_refuses_a_bad_value_when_made() -> None:
    with pytest.raises(ConfigError, match="max_pages"):
        TaskConfig(max_pages=0)
    with pytest.raises(ConfigError, match="max_steps"):
        TaskConfig(max_steps=-2)


def test_an_unknown_thread_is_refused_before_anything_is_written(tasks: Tasks) -> None:
    before = _written(tasks)
    with pytest.raises(UnknownThreadError):
        tasks.create("researcher", "hello", thread_id="thr_does_not_exist")
    assert _written(tasks) == before


def test_tasks_need_a_database_other_processes_reach(tmp_path: Path) -> None:
    with pytest.raises(TasksUnavailableError, match="SQLite file or PostgreSQL"):
        Tasks(":memory:")
    with pytest.raises(TasksUnavailableError):
        Tasks(store=InMemoryStore())
    memory = SQLiteStore(":memory:")
    try:
        with pytest.raises(TasksUnavailableError):
            Tasks(store=memory)
    finally:
        memory.close()
    with pytest.raises(UsageError, match="not both"):
        Tasks(str(tmp_path / "a.db"), store=InMemoryStore())


# --- create: idempotency --------------------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_same_task(tasks: Tasks, worker: None) -> None:
    first = tasks.create("echoer", "once", idempotency_key="key-once")
    again = tasks.create("echoer", "a different prompt", idempotency_key="key-once", priority=5)
    assert again.id == first.id
    assert again.input.text == "once"
    assert first.wait(30).result == {"echo": "once", "agent_id": "echoer"}
    after = tasks.create("echoer", "once more", idempotency_key="key-once")
    assert (after.id, after.status) == (first.id, "COMPLETED")
    assert [t.id for t in tasks.list(agent_id="echoer") if t.idempotency_key == "key-once"] == [first.id]


_CREATE_AT_ONCE = """
import sys, time
from pathlib import Path
from loopline.tasks import Tasks
db, folder, keys = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
tasks = Tasks(db)
tasks.engine._connected()  # connected before the start, so both processes create at the same moment
print("ready", flush=True)
for key in keys:  # each key when its file appears, so the two processes create it within a millisecond
    while not (folder / key).exists():
        time.sleep(0.0002)
    print(tasks.create("echoer", "from " + key, idempotency_key=key).id, flush=True)
"""


def test_the_same_idempotency_key_from_two_processes_at_once_makes_one_task(tasks: Tasks, worker: None,
                                                                            tmp_path: Path) -> None:
    keys = [f"race-{i}-{os.getpid()}-{time.time_ns()}" for i in range(12)]
    procs = [subprocess.Popen([sys.executable, "-c", _CREATE_AT_ONCE, tasks_url(tasks), str(tmp_path), *keys],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    for key in keys:
        (tmp_path / key).touch()
        time.sleep(0.05)
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err for _, err in outputs]
    ids = [out.split() for out, _ in outputs]
    assert ids[0] == ids[1]  # both were given the same task for each key
    made = [t for t in tasks.list(agent_id="echoer", limit=1000) if t.idempotency_key in keys]
    assert sorted(t.id for t in made) == sorted(ids[0])
    for task in made:
        assert task.wait(30).status == "COMPLETED"
        assert [e.type for e in task.events(follow=False)].count("finished") == 1


def tasks_url(tasks: Tasks) -> str:
    return str(getattr(tasks.store, "url", None) or tasks.store.path)  # type: ignore[attr-defined]


# --- external tasks ----------------------------------------------------------------------------------


def test_an_external_task_is_listed_with_the_rest_completed(tasks: Tasks) -> None:
    reported = Task.report_external_task(agent_id="scraper", input="prices of today", result={"rows": 3},
                                         duration=6.2, used_tools=["browser", "search"], tasks=tasks)
    assert reported.status == "COMPLETED"
    found = tasks.get(reported.id)
    assert (found.result, found.used_tools, found.input.text) == ({"rows": 3}, ["browser", "search"],
                                                                  "prices of today")
    assert found.to_json()["duration"] == 6.2
    assert found.finished_at is not None and found.started_at is not None
    assert found.finished_at - found.started_at == pytest.approx(6.2)
    assert reported.id in [t.id for t in tasks.list(agent_id="scraper", status="COMPLETED")]
    assert [e.type for e in found.events(follow=False)] == ["finished"]
    assert tasks.execute_task(found.id, timeout=1) == {"rows": 3}

    failed = tasks.report_external_task(agent_id="scraper", id="ext-run-1", input="x", status="FAILED",
                                        error="the site was down")
    assert (tasks.get("ext-run-1").status, failed.error and failed.error["message"]) == ("FAILED",
                                                                                         "the site was down")


@pytest.mark.parametrize(("field", "options"), [
    ("agent_id", {"agent_id": ""}),
    ("id", {"id": "has spaces"}),
    ("duration", {"duration": -1}),
    ("duration", {"duration": float("nan")}),
    ("duration", {"duration": "6s"}),
    ("status", {"status": "RUNNING"}),
    ("status", {"status": "DONE"}),
    ("used_tools", {"used_tools": "search"}),
    ("thread_id", {"thread_id": "thr_not_there"}),
])
def test_a_bad_external_task_is_refused_and_nothing_written(tasks: Tasks, field: str,
                                                            options: dict[str, Any]) -> None:
    before = _written(tasks)
    arguments = {"agent_id": "scraper", "input": "x", "result": 1, **options}
    with pytest.raises((InvalidInputError, UnknownThreadError)) as refused:
        Task.report_external_task(tasks=tasks, **arguments)
    if isinstance(refused.value, InvalidInputError):
        assert refused.value.field == field
    else:
        assert field == "thread_id"
    assert _written(tasks) == before


def test_an_external_task_id_already_taken_is_refused(tasks: Tasks) -> None:
    tasks.report_external_task(agent_id="scraper", id="ext-twice", input="x")
    with pytest.raises(InvalidInputError) as refused:
        tasks.report_external_task(agent_id="scraper", id="ext-twice", input="y")
    assert refused.value.field == "id"
    assert tasks.get("ext-twice").input.text == "x"


# --- events ----------------------------------------------------------------------------------------


def test_events_are_numbered_without_gaps_and_a_subscriber_resumes_with_after(tasks: Tasks, worker: None) -> None:
    task = tasks.create("researcher", "number the events")
    events = list(task.events(timeout=30))
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "finished" and [e.type for e in events].count("finished") == 1
    assert events[-1].data == {"status": "COMPLETED", "result": "answer to number the events", "error": None}
    assert {"status", "execution", "step", "usage", "tool_call", "tool_result"} <= {e.type for e in events}
    for cut in (1, 5, len(events) - 1):
        rest = list(tasks.events(task.id, after=cut, follow=False))
        assert rest == events[cut:]
    assert list(task.events(after=len(events), follow=False)) == []


def test_a_task_seen_ended_already_has_its_finished_event(tasks: Tasks, worker: None) -> None:
    for i in range(10):
        task = tasks.create("echoer", f"race {i}" + (" raise" if i % 2 else ""))
        while not task.refresh().is_finished:  # no sleep: look as soon as the worker writes
            pass
        events = list(task.events(follow=False))
        assert events[-1].type == "finished", [e.type for e in events]
        assert events[-1].data["status"] == task.status


async def test_aevents_streams_live_while_the_task_runs(tasks: Tasks, worker: None) -> None:
    task = await tasks.acreate("researcher", "stream me slow=0.6")
    seen: list[tuple[TaskEvent, str]] = []
    async for event in task.aevents(timeout=30):
        status = (await tasks.aget(task.id)).status if not seen else ""
        seen.append((event, status))
    assert seen[0][1] in ("PENDING", "RUNNING")  # the first event arrived long before the task ended
    assert seen[0][0].created_at < (await tasks.aget(task.id)).finished_at - 1.0  # type: ignore[operator]
    assert [e.id for e, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][0].type == "finished"
    assert await task.await_result(timeout=5) == "answer to stream me slow=0.6"


def test_on_alert_receives_the_alerts_a_handler_emits(tasks: Tasks, worker: None) -> None:
    execution = tasks.execute_task_async(tasks.create("alerter", "please alert"))
    alerts: list[TaskEvent] = []
    got = threading.Event()

    def on_alert(event: TaskEvent) -> None:
        alerts.append(event)
        got.set()

    stop = execution.on_alert(on_alert)
    try:
        assert got.wait(30)
    finally:
        stop()
    assert alerts[0].type == "alert"
    assert alerts[0].data == {"message": "alert from please alert", "level": "warning", "code": 7}
    assert execution.wait(30).status == "COMPLETED"
    assert len(alerts) == 1


# --- Aesoperator's shape ------------------------------------------------------------------------------


def test_execute_task_blocks_and_returns_the_result(tasks: Tasks, worker: None) -> None:
    task = tasks.create("researcher", "execute me")
    assert tasks.execute_task(task, timeout=30) == "answer to execute me"
    status = tasks.get_task_status(task.id)
    assert status == {"id": task.id, "state": "COMPLETED", "progress": 1.0, "current_action": "finished (COMPLETED)",
                      "error": None, "result": "answer to execute me", "execution_id": task.refresh().execution_id,
                      "thread_id": task.thread_id}


def test_execute_task_raises_task_failed_error_for_a_failed_task(tasks: Tasks, worker: None) -> None:
    task = tasks.create("echoer", "please raise")
    with pytest.raises(TaskFailedError) as failed:
        tasks.execute_task(task.id, timeout=30)
    assert failed.value.status == "FAILED"
    assert failed.value.error is not None and failed.value.error["type"] == "RuntimeError"
    assert "handler refused 'please raise'" in str(failed.value)
    status = tasks.get_task_status(task.id)
    assert status["state"] == "FAILED" and status["error"]["message"] == "handler refused 'please raise'"


def test_execute_task_async_returns_a_handle_at_once(tasks: Tasks, worker: None) -> None:
    task = tasks.create("researcher", "later slow=0.5")
    handle = tasks.execute_task_async(task)
    assert handle.id == task.id
    early = tasks.get_task_status(handle.id)
    assert early["state"] in ("PENDING", "RUNNING") and early["result"] is None
    assert set(early) == {"id", "state", "progress", "current_action", "error", "result", "execution_id",
                          "thread_id"}
    assert asyncio.run(handle.await_result(timeout=30)) == "answer to later slow=0.5"


# --- tasks nobody serves yet, require_worker, and the workers' names ----------------------------------


def test_tasks_wait_for_a_worker_that_serves_their_agent(tmp_path: Path, workers: WorkerStarter,
                                                        worker_log: Path) -> None:
    fresh_db = str(tmp_path / "fresh.db")  # no workers yet (on SQLite only: starting workers is the cost here)
    tasks = Tasks(fresh_db)
    with pytest.raises(TasksUnavailableError, match="no live worker serves agent 'researcher'"):
        tasks.create("researcher", "now", require_worker=True)
    assert _written(tasks) == (0, 0)
    workers(fresh_db, "--no-handler", "--lease", "2")  # the researcher agent only
    with pytest.raises(TasksUnavailableError, match="'writer'"):
        tasks.create("writer", "now", require_worker=True)
    assert _written(tasks) == (0, 0)
    served = tasks.create("researcher", "now", require_worker=True)
    waiting = tasks.create("writer", "for later")
    assert served.wait(30).result == "answer to now"
    time.sleep(0.5)
    assert waiting.refresh().status == "PENDING"
    dropped = tasks.create("writer", "dropped").cancel()  # pending, cancelled: ends at once
    assert dropped.status == "CANCELLED"

    workers(fresh_db, "--handler-only", "--lease", "2")
    assert waiting.wait(30).result == {"echo": "for later", "agent_id": "writer"}
    assert (dropped.refresh().status, dropped.started_at, dropped.worker) == ("CANCELLED", None, None)
    assert tasks.create("writer", "now", require_worker=True).wait(30).status == "COMPLETED"

    names = sorted(w["name"] for w in live_workers(tasks.table))
    assert names == ["worker-1", "worker-2"]  # two workers on one host: two names, two executor ids
    assert len({w["id"] for w in live_workers(tasks.table)}) == 2
    assert waiting.worker != served.refresh().worker

    with pytest.raises(RuntimeError, match="exited"):
        workers(fresh_db, "--name", "worker-1", "--lease", "2")
    assert "a live worker already runs as" in worker_log.read_text()
    assert sorted(w["name"] for w in live_workers(tasks.table)) == ["worker-1", "worker-2"]
    tasks.store.close()
