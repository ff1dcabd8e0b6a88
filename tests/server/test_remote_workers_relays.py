"""Relays of several server processes on one database: a server killed while its relay watched a task
leaves the task's engine workflow behind; the relay of another server takes it over, and it ends with
the task (which the remote worker, connected to a server that stayed up, completed meanwhile)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remote_workers_helpers import start_remote_worker, stop, wait_for
from server_helpers import ServerStarter

from loopline.store import AssignmentTable
from loopline.tasks import Tasks


@pytest.fixture
def tasks(db: str) -> Iterator[Tasks]:
    made = Tasks(db)
    yield made
    made.store.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


def test_a_dead_servers_relay_has_its_tasks_taken_over_by_another_servers(
        db: str, servers: ServerStarter, tasks: Tasks, ledger: Path, server_log: Path) -> None:
    relaying = servers(db)
    serving = servers(db, "--no-relay")  # the worker's server: it stays up
    worker: Any = start_remote_worker(serving.url, db, "--name", "relayed", env={"LEDGER": str(ledger)},
                                      log=server_log)
    try:
        task = tasks.create("researcher", "outlive the relay slow=2")
        wait_for(ledger.exists)  # the worker runs it: the first server's relay assigned it
        relaying.proc.send_signal(signal.SIGKILL)
        relaying.proc.wait()
        wait_for(lambda: tasks.get(task.id).status == "COMPLETED", timeout=60)
        assert tasks.engine.state(task.id) == "PENDING"  # its workflow was left behind with the dead relay
        servers(db)  # another relay: it takes the dead one's workflows over
        wait_for(lambda: tasks.engine.state(task.id) == "SUCCESS", timeout=60)
        made = AssignmentTable(tasks.table.store).current(task.id)
        assert made is not None and (made.attempt, made.state) == (1, "ended")
        assert [e.type for e in tasks.events(task.id, follow=False)].count("finished") == 1
    finally:
        stop(worker)
