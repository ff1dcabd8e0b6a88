"""What the tasks benchmark found under load: the engine's SQLite file syncs once per commit, and a
worker whose event loop is busy still says it is alive."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loopline.tasks import Tasks
from loopline.workers import Events, on_task


def test_the_engine_database_beside_a_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    """DBOS's default rollback journal syncs the file several times per commit (each enqueue, each state
    change); WAL syncs once. The mode is stored in the file, so every process that opens it gets it."""
    db = tmp_path / "tasks.db"
    Tasks(str(db)).create("nobody", "wait for a worker")
    with sqlite3.connect(tmp_path / "tasks.db.tasks.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@on_task
def _echo(task: Any) -> Any:
    return task.input.text


def test_a_worker_whose_event_loop_is_blocked_keeps_its_heartbeat(tmp_path: Path) -> None:
    """Tasks share the worker's event loop; while it is busy for longer than the lease, the heartbeat
    must still be written, or other workers recover tasks that are running."""
    db = str(tmp_path / "tasks.db")
    events = Events(db, name="busy", heartbeat_seconds=0.1, lease_seconds=1.0)
    events.handler = _echo

    async def block_the_loop() -> float:
        async with events:
            time.sleep(2.5)  # the loop is stuck: no coroutine runs meanwhile
            beat = next(w.heartbeat_at for w in events.tasks.table.workers() if w.id == events.executor_id)
            return time.time() - beat

    assert asyncio.run(block_the_loop()) < 1.0


def test_add_events_numbers_several_events_in_order_in_one_call(tmp_path: Path) -> None:
    tasks = Tasks(str(tmp_path / "tasks.db"))
    task = tasks.report_external_task(agent_id="elsewhere", input="done already")
    assert tasks.table.add_events(task.id, [("step", {"step": 1}), ("usage", {"input_tokens": 3})]) == [2, 3]
    assert tasks.table.add_event(task.id, "log", {"message": "after"}) == 4
    assert [(e.seq, e.type, e.data) for e in tasks.table.events(task.id)][1:] == [
        (2, "step", {"step": 1}), (3, "usage", {"input_tokens": 3}), (4, "log", {"message": "after"})]


def test_cancel_requested_reads_the_cancelled_tasks_among_many_in_one_call(tmp_path: Path) -> None:
    tasks = Tasks(str(tmp_path / "tasks.db"))
    waiting = [tasks.create("nobody", f"task {i}") for i in range(3)]
    tasks.cancel(waiting[1].id)
    ids = [t.id for t in waiting]
    assert tasks.table.cancel_requested([*ids, "task_unknown"]) == [waiting[1].id]
    assert tasks.table.cancel_requested([]) == []


def test_a_running_agent_task_is_cancelled_at_its_next_step(tmp_path: Path, monkeypatch: Any) -> None:
    """The worker's cancel watcher reads all its running tasks at once; a cancel still reaches the task."""
    import worker_app

    monkeypatch.setenv("STEPS", "50")
    monkeypatch.setenv("TOOL_SECONDS", "0.05")
    db = str(tmp_path / "tasks.db")
    events = Events(db, agents=worker_app.agents, model=worker_app.MODEL, name="canceller")

    async def cancel_one() -> tuple[str, list[str]]:
        async with events:
            tasks = Tasks(db)
            task = await tasks.acreate("researcher", "keep looking")
            while (await tasks.aget(task.id)).status != "RUNNING":
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            await tasks.acancel(task.id)
            done = await asyncio.to_thread(tasks.get(task.id).wait, 30)
            return done.status, [e.type for e in tasks.events(task.id, follow=False)]

    status, kinds = asyncio.run(cancel_one())
    assert status == "CANCELLED"
    assert kinds[-2:] == ["status", "finished"] and "step" in kinds


_ORPHAN = """
import sys
from loopline import Agent
from loopline.store import open_store

store = open_store(sys.argv[1])
print(Agent("researcher", "You research.", store=store).add_task(sys.argv[3], thread_id=sys.argv[2]).id)
"""


def test_an_execution_started_by_a_killed_worker_but_not_recorded_is_resumed_not_doubled(
        tmp_path: Path, monkeypatch: Any) -> None:
    """A worker killed between starting a task's execution and writing its id on the task: the worker that
    takes the task over continues that execution; a second one would put the prompt in the thread twice."""
    import worker_app

    monkeypatch.setenv("STEPS", "2")
    db = str(tmp_path / "tasks.db")
    tasks = Tasks(db)
    task = tasks.create("researcher", "find it")
    tasks.table.update(task.id, lambda r: {**r, "status": "RUNNING", "attempts": 1, "started_at": time.time(),
                                           "worker": "host:killed"})
    done = subprocess.run([sys.executable, "-c", _ORPHAN, db, str(task.thread_id), "find it"], capture_output=True,
                          text=True, check=True)  # that process (the execution's claim holder) is gone now
    orphan = done.stdout.strip()
    events = Events(db, agents=worker_app.agents, model=worker_app.MODEL, name="successor")

    async def take_over() -> Any:
        async with events:
            return await asyncio.to_thread(tasks.get(task.id).wait, 60)

    finished = asyncio.run(take_over())
    assert finished.status == "COMPLETED"
    assert finished.execution_id == orphan
    assert [e.id for e in tasks.store.list_executions(thread_id=str(task.thread_id), limit=None)] == [orphan]
    assert [m.role for m in tasks.store.get_messages(str(task.thread_id))].count("user") == 1
