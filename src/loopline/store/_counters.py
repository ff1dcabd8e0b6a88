"""What a task's HTTP requests have used, in a SQL store's database, shared by every process.

A task's fetches may run in several worker processes (a task tree, a resumed task), and its limits
(`max_pages`, `requests_per_second`, `concurrent_requests`) hold across all of them, so the counts
live in one row per task, read and changed in one write transaction (the row locked meanwhile on
PostgreSQL; SQLite's write transaction locks the whole database). Each request in flight holds a
slot with a lapse time, so the slots of a process that died are freed rather than held forever.
This module only counts; what the limits mean for a request is decided by `loopline.executors`.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from ._protocol import Store
from ._sql import Cursor, SqlStore
from ._sqlite import SQLiteStore

__all__ = ["PolicyCounters", "policy_counters"]


def policy_counters(store: Store | None) -> PolicyCounters:
    """The counters of `store`'s database; where other processes cannot share them (no store, an
    in-memory store, an in-memory SQLite database) this process's own, kept in a private in-memory
    SQLite database so both count the same way."""
    if isinstance(store, SqlStore) and getattr(store, "path", None) != ":memory:":
        return PolicyCounters(store)
    return _local_counters()


@functools.cache
def _local_counters() -> PolicyCounters:
    return PolicyCounters(SQLiteStore(":memory:"))


class PolicyCounters:
    """The `http_policy_counters` rows: one per task id."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def take_page(self, task_id: str, limit: int | None) -> int | None:
        """Count one more page fetched for the task and return the count, or None (nothing counted)
        when `limit` pages were already fetched."""
        with self.store._write() as cur:
            pages, _, _ = self._row(cur, task_id)
            if limit is not None and pages >= limit:
                return None
            cur.execute(self.store._sql("UPDATE http_policy_counters SET pages = ?, updated_at = ? WHERE task_id = ?"),
                        (pages + 1, time.time(), task_id))
            return pages + 1

    def acquire(self, task_id: str, holder: str, *, interval: float | None, concurrency: int | None,
                lease: float) -> float:
        """Take a request slot for `holder`: 0.0 when taken, else the seconds to wait before asking again.

        `interval` is the least time between two requests' starts (1 / requests per second);
        `concurrency` the most slots held at once; a slot lapses `lease` seconds after it is taken.
        """
        with self.store._write() as cur:
            _, next_at, holders = self._row(cur, task_id)
            now = time.time()  # read once the row is ours: a time read before waiting for it would be stale
            holders = {h: until for h, until in holders.items() if until > now}
            if concurrency is not None and len(holders) >= concurrency:
                return float(max(0.01, min(0.05, min(holders.values()) - now)))
            if interval is not None and next_at > now:
                return float(next_at - now)
            holders[holder] = now + lease
            next_at = now + interval if interval is not None else next_at
            cur.execute(self.store._sql("UPDATE http_policy_counters SET next_request_at = ?, holders = ?, "
                                        "updated_at = ? WHERE task_id = ?"),
                        (next_at, json.dumps(holders), now, task_id))
            return 0.0

    def release(self, task_id: str, holder: str) -> None:
        """Give back `holder`'s slot (nothing happens when it already lapsed)."""
        with self.store._write() as cur:
            _, _, holders = self._row(cur, task_id)
            if holders.pop(holder, None) is not None:
                cur.execute(self.store._sql("UPDATE http_policy_counters SET holders = ?, updated_at = ? "
                                            "WHERE task_id = ?"), (json.dumps(holders), time.time(), task_id))

    def pages(self, task_id: str) -> int:
        """The pages counted for the task so far."""
        with self.store._read() as cur:
            cur.execute(self.store._sql("SELECT pages FROM http_policy_counters WHERE task_id = ?"), (task_id,))
            row = cur.fetchone()
            return 0 if row is None else int(row[0])

    def _row(self, cur: Cursor, task_id: str) -> tuple[int, float, dict[str, Any]]:
        """The task's row inside the write transaction, made first when missing, locked where rows lock."""
        cur.execute(self.store._sql("INSERT INTO http_policy_counters (task_id, updated_at) VALUES (?, ?) "
                                    "ON CONFLICT (task_id) DO NOTHING"), (task_id, time.time()))
        cur.execute(self.store._sql("SELECT pages, next_request_at, holders FROM http_policy_counters "
                                    f"WHERE task_id = ?{self.store.lock_row}"), (task_id,))
        pages, next_at, holders = cur.fetchone()
        return int(pages), float(next_at), dict(json.loads(holders))
