"""Which remote worker runs which task: the assignments a server's relay makes (`loopline serve`), one row
per attempt. This table is the truth every server process reads: the one a worker's assignment stream is
connected to sends it what is assigned to it here, whichever process made the assignment, and a report
from a worker is accepted only while its attempt is the task's open one."""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ._sql import SqlStore

__all__ = ["Assignment", "AssignmentTable"]

_OPEN = "assigned"
_ENDED_STATES = ("ended", "lapsed")

_COLUMNS = "task_id, attempt, worker_id, organization_id, state, assigned_at, ended_at, relay"


@dataclass(frozen=True, slots=True)
class Assignment:
    """One attempt at a task by one remote worker."""

    task_id: str
    attempt: int
    """1 for the first worker, one more each time the task is handed to another."""
    worker_id: str
    organization_id: str
    state: str
    """`assigned` while the worker runs it, `ended` once the task ended or paused, `lapsed` once it was
    handed to another worker (its heartbeat lapsed)."""
    assigned_at: float
    ended_at: float | None
    relay: str
    """The relay (server process) that made it."""

    @property
    def is_open(self) -> bool:
        return self.state == _OPEN


class AssignmentTable:
    """Reads and writes `task_assignments` (migration `0006_task_assignments`)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def assign(self, task_id: str, worker_id: str, *, organization_id: str, relay: str,
               unless_status: Sequence[str] = ()) -> Assignment | None:
        """Give the task to `worker_id` as a new attempt, closing its open one (`lapsed`); None, and nothing
        written, when the task's status is in `unless_status` (it ended meanwhile). The task's row is locked
        meanwhile, so a result being applied and a reassignment happen one after the other."""
        with self.store._write() as cur:
            cur.execute(self.store._sql(f"SELECT status FROM tasks WHERE id = ?{self.store.lock_row}"), (task_id,))
            row = cur.fetchone()
            if row is None or row[0] in unless_status:
                return None
            now = time.time()
            cur.execute(self.store._sql("UPDATE task_assignments SET state = 'lapsed', ended_at = ? "
                                        "WHERE task_id = ? AND state = ?"), (now, task_id, _OPEN))
            cur.execute(self.store._sql("SELECT COALESCE(MAX(attempt), 0) FROM task_assignments WHERE task_id = ?"),
                        (task_id,))
            made = Assignment(task_id, int(cur.fetchone()[0]) + 1, worker_id, organization_id, _OPEN, now, None, relay)
            cur.execute(self.store._sql(f"INSERT INTO task_assignments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                        (made.task_id, made.attempt, made.worker_id, made.organization_id, made.state,
                         made.assigned_at, made.ended_at, made.relay))
            return made

    def current(self, task_id: str) -> Assignment | None:
        """The task's latest attempt (open or not), None if it was never assigned."""
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT {_COLUMNS} FROM task_assignments WHERE task_id = ? "
                                        "ORDER BY attempt DESC LIMIT 1"), (task_id,))
            row = cur.fetchone()
        return None if row is None else _assignment(row)

    def open_for(self, worker_id: str) -> builtins.list[Assignment]:
        """The worker's open assignments, oldest first (what its stream sends it, again after a reconnect)."""
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT {_COLUMNS} FROM task_assignments WHERE worker_id = ? AND state = ? "
                                        "ORDER BY assigned_at, task_id"), (worker_id, _OPEN))
            return [_assignment(row) for row in cur.fetchall()]

    def open_with_tasks(self, worker_id: str) -> builtins.list[tuple[Assignment, float, str]]:
        """`open_for`, each with its task's `updated_at` and its record as stored (JSON text, for the caller
        to parse only when it changed): one query for the whole stream's look."""
        columns = ", ".join(f"a.{c.strip()}" for c in _COLUMNS.split(","))
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT {columns}, t.updated_at, t.data FROM task_assignments a JOIN tasks t "
                                        "ON t.id = a.task_id WHERE a.worker_id = ? AND a.state = ? "
                                        "ORDER BY a.assigned_at, a.task_id"), (worker_id, _OPEN))
            return [(_assignment(row[:8]), float(row[8]), str(row[9])) for row in cur.fetchall()]

    def open_counts(self) -> dict[str, int]:
        """How many open assignments each worker has (its slots in use)."""
        with self.store._read() as cur:
            cur.execute(self.store._sql("SELECT worker_id, COUNT(*) FROM task_assignments WHERE state = ? "
                                        "GROUP BY worker_id"), (_OPEN,))
            return {worker_id: int(count) for worker_id, count in cur.fetchall()}

    def end(self, task_id: str) -> None:
        """Close the task's open attempt: the task ended (or paused)."""
        with self.store._write() as cur:
            cur.execute(self.store._sql("UPDATE task_assignments SET state = 'ended', ended_at = ? "
                                        "WHERE task_id = ? AND state = ?"), (time.time(), task_id, _OPEN))


def _assignment(row: Sequence[object]) -> Assignment:
    return Assignment(str(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]),  # type: ignore[call-overload]
                      float(row[5]), None if row[6] is None else float(row[6]), str(row[7]))  # type: ignore[arg-type]
