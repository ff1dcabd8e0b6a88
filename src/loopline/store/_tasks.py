"""Task records, their events and the workers' heartbeats, in a SQL store's database.

The rows of `loopline.tasks`: a task is one JSON record beside the columns queries filter on (its
organisation, agent, status, thread, idempotency key and times), so the record can grow without a
migration. Each task's events are numbered 1, 2, 3 ... in the order they were written, which is what
lets a subscriber that reconnects ask for exactly what it missed. Workers write a heartbeat row that
others read to find the dead ones. Only SQL stores (SQLite and PostgreSQL) have these tables: tasks
are handed between processes, which an in-memory store cannot do.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TasksUnavailableError, UnknownTaskError
from ._protocol import Page, Store, decode_cursor, encode_cursor
from ._sql import Cursor, SqlStore

__all__ = ["TaskEventRow", "TaskTable", "WorkerRow", "task_table"]

_COLUMNS = "id, organization_id, agent_id, status, thread_id, idempotency_key, created_at, updated_at, data"
_BATCH = 500
"""Ids per `IN (...)` list (SQLite takes at most 32,766 parameters a statement, older builds 999)."""


@dataclass(frozen=True, slots=True)
class TaskEventRow:
    """One stored event of a task."""

    task_id: str
    seq: int
    """1 for the task's first event, then one more for each (the SSE event id)."""
    type: str
    created_at: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """A worker's last heartbeat."""

    id: str
    """Its executor id."""
    heartbeat_at: float
    data: dict[str, Any]


def task_table(store: Store) -> TaskTable:
    """The task table of `store`'s database; refused for stores other processes cannot reach."""
    if not isinstance(store, SqlStore) or getattr(store, "path", None) == ":memory:":
        raise TasksUnavailableError(
            f"tasks need a database that workers share (a SQLite file or PostgreSQL), not {store!r}: "
            "set LOOPLINE_DB to a file path or a postgresql:// URL, or pass Tasks(store=...)")
    return TaskTable(store)


class TaskTable:
    """Reads and writes task records: each a dict with at least `id`, `agent_id`, `status`,
    `created_at` and `updated_at` (and `organization_id`, `thread_id`, `idempotency_key` when set)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def insert(self, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a new task; with an idempotency key already used in its organisation, return that
        task instead (and False: nothing was created)."""
        with self.store._write() as cur:
            key = record.get("idempotency_key")
            if key is not None:
                found = self._select(cur, "organization_id = ? AND idempotency_key = ?",
                                     (record.get("organization_id", ""), key), lock=True)
                if found is not None:
                    return found, False
            # Another process may insert the same key between the check and here: then its task is the one.
            conflict = " ON CONFLICT (organization_id, idempotency_key) DO NOTHING" if key is not None else ""
            cur.execute(self.store._sql(f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                        f"{conflict}"), _row(record))
            if key is not None and int(getattr(cur, "rowcount", 1)) == 0:
                found = self._select(cur, "organization_id = ? AND idempotency_key = ?",
                                     (record.get("organization_id", ""), key))
                if found is not None:
                    return found, False
        return record, True

    def insert_many(self, records: Sequence[dict[str, Any]]) -> None:
        """Store several new tasks in one transaction (a task tree: all of it, or nothing)."""
        with self.store._write() as cur:
            for record in records:
                cur.execute(self.store._sql(f"INSERT INTO tasks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                            _row(record))

    def find_key(self, organization_id: str, idempotency_key: str) -> dict[str, Any] | None:
        """The task created with this idempotency key in the organisation, if any."""
        with self.store._read() as cur:
            return self._select(cur, "organization_id = ? AND idempotency_key = ?", (organization_id, idempotency_key))

    def get(self, task_id: str, *, organization_id: str | None = None) -> dict[str, Any]:
        """The task's record; another organisation's task is not found, exactly like a missing one."""
        with self.store._read() as cur:
            found = self._select(cur, "id = ?", (task_id,))
        if found is None or (organization_id is not None and found.get("organization_id", "") != organization_id):
            raise UnknownTaskError(task_id)
        return found

    def list(self, *, organization_id: str | None = "", agent_id: str | None = None, status: Sequence[str] = (),
             thread_id: str | None = None, limit: int = 50, cursor: str | None = None) -> Page[dict[str, Any]]:
        """Newest first, `limit` at a time (`Page.next_cursor` continues); `organization_id=None`: every
        organisation's (for the workers' own bookkeeping)."""
        clauses: builtins.list[str] = ["organization_id = ?"] if organization_id is not None else ["1 = 1"]
        params: builtins.list[Any] = [organization_id] if organization_id is not None else []
        if agent_id is not None:
            clauses.append("agent_id = ?")
            params.append(agent_id)
        if status:
            clauses.append(f"status IN ({', '.join('?' for _ in status)})")
            params.extend(status)
        if thread_id is not None:
            clauses.append("thread_id = ?")
            params.append(thread_id)
        if cursor is not None:
            created, item_id = decode_cursor(cursor)
            clauses.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params.extend([created, created, item_id])
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT data FROM tasks WHERE {' AND '.join(clauses)} "
                                        f"ORDER BY created_at DESC, id DESC LIMIT {int(limit) + 1}"), params)
            records = [json.loads(row[0]) for row in cur.fetchall()]
        if len(records) <= limit:
            return Page(records)
        last = records[limit - 1]
        return Page(records[:limit], encode_cursor(last["created_at"], last["id"]))

    def earlier_unfinished(self, thread_id: str, created_at: float, task_id: str) -> builtins.list[str]:
        """Tasks on `thread_id` created before this one that have not ended (they go first)."""
        with self.store._read() as cur:
            cur.execute(self.store._sql(
                "SELECT id FROM tasks WHERE thread_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) "
                "AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED') ORDER BY created_at, id"),
                (thread_id, created_at, created_at, task_id))
            return [row[0] for row in cur.fetchall()]

    def cancel_requested(self, task_ids: Sequence[str]) -> builtins.list[str]:
        """Those of `task_ids` asked to cancel: one query for all the tasks a worker runs."""
        return [task_id for task_id, r in self.many(task_ids).items() if r.get("cancel_requested")]

    def many(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of those of `task_ids` that exist, by id: one query per 500 ids."""
        ids = builtins.list(dict.fromkeys(task_ids))
        found: dict[str, dict[str, Any]] = {}
        with self.store._read() as cur:
            for start in range(0, len(ids), _BATCH):
                chunk = ids[start:start + _BATCH]
                cur.execute(self.store._sql(f"SELECT data FROM tasks WHERE id IN ({', '.join('?' for _ in chunk)})"),
                            chunk)
                for row in cur.fetchall():
                    record = json.loads(row[0])
                    found[record["id"]] = record
        return found

    def update(self, task_id: str, change: Callable[[dict[str, Any]], dict[str, Any] | None], *,
               events: Sequence[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any]:
        """Read, change and write the task in one transaction (the row locked meanwhile). `change` gets
        a copy of the record and returns the new one, or None to leave it as it is. `events` (type, data)
        are appended in the same transaction when the record changes, so no reader sees one without the other."""
        with self.store._write() as cur:
            found = self._select(cur, "id = ?", (task_id,), lock=True)
            if found is None:
                raise UnknownTaskError(task_id)
            new = change(json.loads(json.dumps(found)))
            if new is None:
                return found
            new["updated_at"] = time.time()
            cur.execute(self.store._sql("UPDATE tasks SET status = ?, thread_id = ?, updated_at = ?, data = ? "
                                        "WHERE id = ?"),
                        (new["status"], new.get("thread_id"), new["updated_at"], json.dumps(new), task_id))
            self._append_events(cur, task_id, events)
            return new

    # --- events ---------------------------------------------------------------------------------

    def add_event(self, task_id: str, type: str, data: dict[str, Any]) -> int:
        """Append an event; returns its number (one more than the task's last)."""
        return self.add_events(task_id, [(type, data)])[-1]

    def add_events(self, task_id: str, events: Sequence[tuple[str, dict[str, Any]]]) -> builtins.list[int]:
        """Append events (type, data) in this order, in one transaction; returns their numbers."""
        with self.store._write() as cur:
            if self._select(cur, "id = ?", (task_id,), lock=True) is None:
                raise UnknownTaskError(task_id)
            return self._append_events(cur, task_id, events)

    def _append_events(self, cur: Cursor, task_id: str,
                       events: Sequence[tuple[str, dict[str, Any]]]) -> builtins.list[int]:
        """Append events in the caller's transaction, which holds the task's row locked."""
        if not events:
            return []
        cur.execute(self.store._sql("SELECT COALESCE(MAX(seq), 0) FROM task_events WHERE task_id = ?"), (task_id,))
        first, now = int(cur.fetchone()[0]) + 1, time.time()
        rows = [(task_id, first + i, kind, now, json.dumps(data)) for i, (kind, data) in enumerate(events)]
        self.store._insert_many(cur, "INSERT INTO task_events (task_id, seq, type, created_at, data) "
                                     "VALUES (?, ?, ?, ?, ?)", rows)
        return [row[1] for row in rows]

    def events(self, task_id: str, *, after: int = 0, limit: int = 500) -> builtins.list[TaskEventRow]:
        """The task's events numbered above `after`, oldest first."""
        with self.store._read() as cur:
            cur.execute(self.store._sql("SELECT seq, type, created_at, data FROM task_events WHERE task_id = ? "
                                        f"AND seq > ? ORDER BY seq LIMIT {int(limit)}"), (task_id, after))
            return [TaskEventRow(task_id, int(seq), kind, float(at), json.loads(data))
                    for seq, kind, at, data in cur.fetchall()]

    # --- workers --------------------------------------------------------------------------------

    def beat(self, worker_id: str, data: dict[str, Any], *, at: float | None = None) -> None:
        """Record that the worker is alive (now, or at `at`: 0 says it stopped)."""
        now = time.time() if at is None else at
        with self.store._write() as cur:
            cur.execute(self.store._sql("DELETE FROM workers WHERE id = ?"), (worker_id,))
            cur.execute(self.store._sql("INSERT INTO workers (id, heartbeat_at, data) VALUES (?, ?, ?)"),
                        (worker_id, now, json.dumps(data)))

    def workers(self) -> builtins.list[WorkerRow]:
        """Every worker's last heartbeat, the most recent first."""
        with self.store._read() as cur:
            cur.execute("SELECT id, heartbeat_at, data FROM workers ORDER BY heartbeat_at DESC")
            return [WorkerRow(wid, float(at), json.loads(data)) for wid, at, data in cur.fetchall()]

    def forget_worker(self, worker_id: str, *, heartbeat_at: float) -> bool:
        """Remove the worker's row if its heartbeat is still the one read (another worker that already
        took over, or the worker coming back, wins); True when this call removed it."""
        with self.store._write() as cur:
            cur.execute(self.store._sql("DELETE FROM workers WHERE id = ? AND heartbeat_at = ?"),
                        (worker_id, heartbeat_at))
            return int(getattr(cur, "rowcount", 0)) > 0

    # --- internals ------------------------------------------------------------------------------

    def _select(self, cur: Cursor, where: str, params: tuple[Any, ...], *, lock: bool = False) -> dict[str, Any] | None:
        lock_row = self.store.lock_row if lock else ""
        cur.execute(self.store._sql(f"SELECT data FROM tasks WHERE {where}{lock_row}"), params)
        row = cur.fetchone()
        return None if row is None else dict(json.loads(row[0]))


def _row(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["id"], record.get("organization_id", ""), record["agent_id"], record["status"],
            record.get("thread_id"), record.get("idempotency_key"), record["created_at"], record["updated_at"],
            json.dumps(record))
