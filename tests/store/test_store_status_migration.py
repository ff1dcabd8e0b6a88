"""Migration 0002: a database written before execution statuses were upper case opens with them upper case.

The old database is made the way loopline did before the change, with plain SQL: the migrations table,
the first migration's schema, and execution rows whose status column and stored JSON hold the
lower-case words. Opening it with a store applies the second migration; the rows then read back,
and are found by status, as any execution written today.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from store_helpers import MIGRATION_NAMES

from loopline.errors import StoredDataError
from loopline.loop import ExecutionStatus
from loopline.store import MIGRATIONS, SQLiteStore, Store

OLD_MIGRATION = MIGRATIONS[0]
THREAD = "thr_old_0001"
T0 = 1_764_851_533.1234567  # 17 significant digits: the migration must keep them all

Execute = Callable[[str, tuple[Any, ...]], None]


def old_record(execution_id: str, history: list[str], result: Any) -> dict[str, Any]:
    """An execution as the version before wrote it to the `data` column (its JSON, field for field)."""
    return {
        "id": execution_id, "thread_id": THREAD, "agent_name": "old-agent", "input": "summarise ü 🚀",
        "status": history[-1], "created_at": T0, "updated_at": T0 + len(history) - 1, "result": result,
        "error": None,
        "usage": {"input_tokens": 12, "output_tokens": 3, "cached_tokens": 0, "reasoning_tokens": 0,
                  "cache_write_tokens": 0, "requests": 1},
        "steps": 1, "tool_calls": 0, "finish_reminders": 0, "pending_tool_calls": [], "running_tool_calls": [],
        "limits": {"max_steps": 50, "max_duration": None, "max_finish_reminders": 2, "max_total_tokens": None,
                   "max_cost_usd": None, "max_tool_calls": None, "final_turn": False},
        "status_history": [[status, T0 + i] for i, status in enumerate(history)],
        "parent_execution_id": None, "finish_tool_name": "finish", "require_finish": False, "output_schema": None,
        "cost_usd": 0.0000125, "final_turn_given": False, "awaiting_approval": [], "awaiting_decision": [],
        "schema_version": 1,
    }


# A result that looks like a status field, and a NUL escape (which PostgreSQL's jsonb would refuse):
# the migration must leave both as they were.
COMPLETED = old_record("exe_old_done", ["pending", "running", "completed"],
                       {"status": "completed", "note": "nul \u0000 here", "big": 2**63 - 1})
PAUSED = old_record("exe_old_paused", ["pending", "running", "paused"], None)


def write_old_database(execute: Execute, dialect: str, real: str) -> None:
    """The first migration's schema and lower-case rows, as the version before left them."""
    execute(f"CREATE TABLE loopline_migrations (name TEXT PRIMARY KEY, applied_at {real} NOT NULL)", ())
    for statement in filter(str.strip, getattr(OLD_MIGRATION, dialect).split(";")):
        execute(statement, ())
    execute("INSERT INTO loopline_migrations (name, applied_at) VALUES (?, ?)", (OLD_MIGRATION.name, T0))
    execute("INSERT INTO threads (id, created_at, updated_at, length, metadata) VALUES (?, ?, ?, 0, '{}')",
            (THREAD, T0, T0))
    for record in (COMPLETED, PAUSED):
        execute("INSERT INTO executions (id, thread_id, agent_name, status, created_at, updated_at, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (record["id"], THREAD, record["agent_name"], record["status"], record["created_at"],
                 record["updated_at"], old_json(record)))


def old_json(record: dict[str, Any]) -> str:
    """The record's JSON text as the version before wrote it (compact, non-ASCII as it is)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def upper_cased(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "status": record["status"].upper(),
            "status_history": [[status.upper(), when] for status, when in record["status_history"]]}


def check_migrated(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """The status column and the stored JSON are upper case; everything else is as it was."""
    assert [m.name for m in MIGRATIONS] == MIGRATION_NAMES
    assert sorted((row[0], row[1], json.loads(row[2])) for row in rows) == [
        ("exe_old_done", "COMPLETED", upper_cased(COMPLETED)), ("exe_old_paused", "PAUSED", upper_cased(PAUSED))]

    done = store.get_execution("exe_old_done")
    assert done.status == "COMPLETED"
    assert done.status is ExecutionStatus.COMPLETED
    assert [(status, when) for status, when in done.status_history] == [
        ("PENDING", T0), ("RUNNING", T0 + 1), ("COMPLETED", T0 + 2)]
    assert done.result == {"status": "completed", "note": "nul \u0000 here", "big": 2**63 - 1}
    assert done.to_result().ok
    assert [e.id for e in store.list_executions(status=ExecutionStatus.COMPLETED, thread_id=THREAD)] == [done.id]
    assert [e.id for e in store.list_executions(status=ExecutionStatus.PAUSED, thread_id=THREAD)] == ["exe_old_paused"]
    assert store.list_executions(status=ExecutionStatus.RUNNING, thread_id=THREAD) == []


def sqlite_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, status, data FROM executions").fetchall()
    finally:
        conn.close()


def test_sqlite_file_from_before_reads_back_upper_case(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    with conn:
        write_old_database(conn.execute, "sqlite", "REAL")
    conn.close()

    store = SQLiteStore(path)
    try:
        assert store.applied_migrations() == [m.name for m in MIGRATIONS]
        check_migrated(store, sqlite_rows(path))
    finally:
        store.close()
    again = SQLiteStore(path)  # nothing left to apply: the rows stay as they are
    try:
        check_migrated(again, sqlite_rows(path))
        assert again.applied_migrations() == [m.name for m in MIGRATIONS]
    finally:
        again.close()


def test_sqlite_migration_keeps_the_rest_of_the_stored_text(tmp_path: Path) -> None:
    """SQLite edits the JSON text in place: only the status words change, byte for byte."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    with conn:
        write_old_database(conn.execute, "sqlite", "REAL")
    conn.close()
    SQLiteStore(path).close()
    assert sorted((row[0], row[2]) for row in sqlite_rows(path)) == [
        (record["id"], old_json(upper_cased(record))) for record in (COMPLETED, PAUSED)]


def test_postgres_database_from_before_reads_back_upper_case(pg_empty_url: str) -> None:
    import psycopg

    from loopline.store._postgres import PostgresStore

    with psycopg.connect(pg_empty_url) as conn:
        write_old_database(lambda sql, params: conn.execute(sql.replace("?", "%s"), params), "postgres",
                           "DOUBLE PRECISION")

    def rows() -> list[tuple[Any, ...]]:
        with psycopg.connect(pg_empty_url) as conn:
            return conn.execute("SELECT id, status, data FROM executions").fetchall()

    store = PostgresStore(pg_empty_url, min_size=0, max_size=2)
    try:
        assert store.applied_migrations() == [m.name for m in MIGRATIONS]
        check_migrated(store, rows())
    finally:
        store.close()
    again = PostgresStore(pg_empty_url, min_size=0, max_size=2)
    try:
        check_migrated(again, rows())
    finally:
        again.close()


def test_sqlite_migration_rewrites_every_row_past_one_page_and_skips_unreadable_ones(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    with conn:
        write_old_database(conn.execute, "sqlite", "REAL")
        many = [old_record(f"exe_many_{n:04d}", ["pending", "running", "failed"], None) for n in range(1200)]
        conn.executemany("INSERT INTO executions (id, thread_id, agent_name, status, created_at, updated_at, data) "
                         "VALUES (?, ?, 'old-agent', ?, ?, ?, ?)",
                         [(r["id"], THREAD, r["status"], r["created_at"], r["updated_at"], old_json(r)) for r in many])
        conn.execute("INSERT INTO executions (id, thread_id, agent_name, status, created_at, updated_at, data) "
                     "VALUES ('exe_garbled', ?, 'old-agent', 'cancelled', 0, 0, 'not json')", (THREAD,))
    conn.close()

    store = SQLiteStore(path)
    try:
        failed = store.list_executions(status=ExecutionStatus.FAILED, limit=None)
        assert sorted(e.id for e in failed) == [r["id"] for r in many]
        assert {(e.status, tuple(s for s, _ in e.status_history)) for e in failed} == {
            ("FAILED", ("PENDING", "RUNNING", "FAILED"))}
        with pytest.raises(StoredDataError, match="not JSON"):
            store.get_execution("exe_garbled")
    finally:
        store.close()
    assert [row[1:] for row in sqlite_rows(path) if row[0] == "exe_garbled"] == [("CANCELLED", "not json")]
