"""`TaskTable.many`: many task records in one read (the server's relay reads every task it holds at once),
on a SQLite file and on PostgreSQL, past the size of one `IN (...)` list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline.store import SQLiteStore, TaskTable


@pytest.fixture(params=["sqlite-file", "postgres"])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskTable]:
    if request.param == "postgres":
        yield TaskTable(request.getfixturevalue("pg_store"))
        return
    store = SQLiteStore(tmp_path / "tasks.db")
    yield TaskTable(store)
    store.close()


def _record(n: int) -> dict[str, object]:
    now = time.time()
    return {"id": f"task-{n:05d}", "agent_id": "a", "status": "PENDING", "created_at": now, "updated_at": now,
            "cancel_requested": n % 7 == 0}


def test_many_reads_every_known_id_once_and_leaves_out_unknown_ones(table: TaskTable) -> None:
    table.insert_many([_record(n) for n in range(1200)])  # more than two `IN` lists' worth
    wanted = [f"task-{n:05d}" for n in range(1200)] + ["task-00003", "missing"]
    found = table.many(wanted)
    assert sorted(found) == [f"task-{n:05d}" for n in range(1200)]
    assert found["task-00007"]["cancel_requested"] is True and found["task-00008"]["cancel_requested"] is False
    assert table.many([]) == {}
    asked = table.cancel_requested(["task-00000", "task-00001", "task-00014", "missing"])
    assert sorted(asked) == ["task-00000", "task-00014"]
