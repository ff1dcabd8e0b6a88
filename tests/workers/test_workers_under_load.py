"""What the tasks benchmark found under load: the engine's SQLite file syncs once per commit, and a
worker whose event loop is busy still says it is alive."""

from __future__ import annotations

import asyncio
import sqlite3
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
