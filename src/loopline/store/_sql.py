"""The store protocol over SQL, written once for SQLite and PostgreSQL.

A subclass supplies connections and transactions (`_write`, `_read`) and the few words that differ
between dialects; every query, the append with its position check, pagination, claims and memory
live here. Messages and executions are stored as versioned JSON beside the columns queries filter on.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from ..errors import ConcurrentUpdateError, UnknownExecutionError, UnknownThreadError
from ..loop import Execution, ExecutionStatus, execution_from_json, execution_to_json
from ..messages import SCHEMA_VERSION, Message, message_from_json, message_to_json, new_id
from ._migrations import MIGRATIONS, check_known
from ._owner import claim_is_live, fenced
from ._protocol import MemoryScope, Page, ThreadInfo, ToolCallRecord, decode_cursor, encode_cursor
from ._values import decode_value, encode_value, memory_key, memory_scope

__all__ = ["Cursor", "SqlStore"]


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


_THREAD_COLUMNS = "id, created_at, updated_at, length, metadata, parent_thread_id"
_CALL_COLUMNS = ("execution_id, tool_call_id, name, arguments, status, started_at, finished_at, result, is_error, "
                 "duration")


class SqlStore:
    """Shared implementation; see `SQLiteStore` and `PostgresStore`."""

    dialect: ClassVar[str]
    lock_row: ClassVar[str] = ""
    """Appended to the SELECT that reads a thread's length before an append (`FOR UPDATE` where the
    database locks rows; SQLite locks the whole database for the write transaction instead)."""

    # --- provided by each dialect ---------------------------------------------------------------

    def _write(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor inside a write transaction, committed on success and rolled back on error."""
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for reading."""
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        """The query in the driver's placeholder style (written with `?`)."""
        return text

    def close(self) -> None:
        raise NotImplementedError

    # --- schema ---------------------------------------------------------------------------------

    def _lock_schema(self, cur: Cursor) -> None:
        """Run first in the migration transaction, so processes opening one fresh database at once
        migrate it one after another (SQLite's write transaction already locks the whole database)."""

    def _migrate(self, where: str) -> None:
        with self._write() as cur:
            self._lock_schema(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS loopline_migrations (name TEXT PRIMARY KEY, applied_at "
                        + ("DOUBLE PRECISION" if self.dialect == "postgres" else "REAL") + " NOT NULL)")
            cur.execute("SELECT name FROM loopline_migrations")
            applied = {row[0] for row in cur.fetchall()}
            check_known(applied, where=where)
            for migration in MIGRATIONS:
                if migration.name in applied:
                    continue
                for statement in filter(str.strip, getattr(migration, self.dialect).split(";")):
                    cur.execute(statement)
                if migration.rewrite_execution is not None:
                    self._rewrite_executions(cur, migration.rewrite_execution)
                cur.execute(self._sql("INSERT INTO loopline_migrations (name, applied_at) VALUES (?, ?)"),
                            (migration.name, time.time()))

    def _rewrite_executions(self, cur: Cursor, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Pass every stored execution's JSON through `rewrite`, a page of rows at a time (by id)."""
        last = ""
        while True:
            cur.execute(self._sql("SELECT id, data FROM executions WHERE id > ? ORDER BY id LIMIT 500"), (last,))
            rows = cur.fetchall()
            if not rows:
                return
            for execution_id, data in rows:
                text = _rewritten(data, rewrite)
                if text is not None:
                    cur.execute(self._sql("UPDATE executions SET data = ? WHERE id = ?"), (text, execution_id))
            last = rows[-1][0]

    def applied_migrations(self) -> list[str]:
        """The names of the migrations this database has, in the order they were applied."""
        with self._read() as cur:
            cur.execute("SELECT name FROM loopline_migrations ORDER BY applied_at, name")
            return [row[0] for row in cur.fetchall()]

    # --- threads --------------------------------------------------------------------------------

    def create_thread(self, *, metadata: dict[str, Any] | None = None, parent_thread_id: str | None = None) -> str:
        thread_id = new_id("thr")
        with self._write() as cur:
            self._insert_thread(cur, thread_id, metadata or {}, parent_thread_id)
        return thread_id

    def _insert_thread(self, cur: Cursor, thread_id: str, metadata: dict[str, Any], parent: str | None) -> None:
        now = time.time()
        cur.execute(self._sql(f"INSERT INTO threads ({_THREAD_COLUMNS}) VALUES (?, ?, ?, 0, ?, ?)"),
                    (thread_id, now, now, json.dumps(metadata), parent))

    def get_thread(self, thread_id: str) -> ThreadInfo:
        with self._read() as cur:
            cur.execute(self._sql(f"SELECT {_THREAD_COLUMNS} FROM threads WHERE id = ?"), (thread_id,))
            row = cur.fetchone()
        if row is None:
            raise UnknownThreadError(thread_id)
        return _thread(row)

    def list_threads(self, *, limit: int = 50, cursor: str | None = None) -> Page[ThreadInfo]:
        where, params = _after(cursor)
        with self._read() as cur:
            cur.execute(self._sql(f"SELECT {_THREAD_COLUMNS} FROM threads {'WHERE ' + where if where else ''} "
                                  "ORDER BY created_at DESC, id DESC LIMIT ?"), (*params, limit + 1))
            rows = cur.fetchall()
        return _paged([_thread(r) for r in rows], limit)

    def fork_thread(self, thread_id: str, *, upto: int | None = None) -> str:
        fork = new_id("thr")
        with self._write() as cur:
            cur.execute(self._sql(f"SELECT {_THREAD_COLUMNS} FROM threads WHERE id = ?{self.lock_row}"), (thread_id,))
            row = cur.fetchone()
            if row is None:
                raise UnknownThreadError(thread_id)
            info = _thread(row)
            count = info.length if upto is None else max(0, min(upto, info.length))
            self._insert_thread(cur, fork, info.metadata, thread_id)
            cur.execute(self._sql("INSERT INTO messages (thread_id, seq, id, role, schema_version, created_at, data) "
                                  "SELECT ?, seq, id, role, schema_version, created_at, data FROM messages "
                                  "WHERE thread_id = ? AND seq < ?"), (fork, thread_id, count))
            cur.execute(self._sql("UPDATE threads SET length = ? WHERE id = ?"), (count, fork))
        return fork

    def delete_thread(self, thread_id: str) -> None:
        with self._write() as cur:
            # Lock the thread first: an execution committed meanwhile would keep its memory otherwise.
            self._require(cur, "threads", thread_id, UnknownThreadError, lock=True)
            cur.execute(self._sql("SELECT id FROM executions WHERE thread_id = ?"), (thread_id,))
            executions = [row[0] for row in cur.fetchall()]
            cur.execute(self._sql("DELETE FROM threads WHERE id = ?"), (thread_id,))
            if _rowcount(cur) == 0:
                raise UnknownThreadError(thread_id)
            cur.execute(self._sql("DELETE FROM memory WHERE scope = 'thread' AND owner = ?"), (thread_id,))
            for execution_id in executions:
                cur.execute(self._sql("DELETE FROM memory WHERE scope = 'execution' AND owner = ?"), (execution_id,))

    def get_messages(self, thread_id: str, *, start: int = 0) -> list[Message]:
        with self._read() as cur:
            cur.execute(self._sql("SELECT data, schema_version FROM messages WHERE thread_id = ? AND seq >= ? "
                                  "ORDER BY seq"), (thread_id, start))
            rows = cur.fetchall()
            if not rows:
                cur.execute(self._sql("SELECT 1 FROM threads WHERE id = ?"), (thread_id,))
                if cur.fetchone() is None:
                    raise UnknownThreadError(thread_id)
        return [message_from_json(data, version) for data, version in rows]

    def append_messages(self, thread_id: str, messages: Sequence[Message], *,
                        expected_length: int | None = None) -> int:
        with self._write() as cur:
            return self._append(cur, thread_id, messages, expected_length)

    def _append(self, cur: Cursor, thread_id: str, messages: Sequence[Message], expected: int | None) -> int:
        cur.execute(self._sql(f"SELECT length FROM threads WHERE id = ?{self.lock_row}"), (thread_id,))
        row = cur.fetchone()
        if row is None:
            raise UnknownThreadError(thread_id)
        length = int(row[0])
        if expected is not None and length != expected:
            raise ConcurrentUpdateError(f"thread {thread_id} has {length} messages, not the {expected} expected: "
                                        "another writer appended first", thread_id=thread_id)
        if not messages:
            return length
        rows = [(thread_id, length + i, m.id, m.role, SCHEMA_VERSION, m.created_at, message_to_json(m))
                for i, m in enumerate(messages)]
        self._insert_many(cur, "INSERT INTO messages (thread_id, seq, id, role, schema_version, created_at, data) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        cur.execute(self._sql("UPDATE threads SET length = ?, updated_at = ? WHERE id = ?"),
                    (length + len(messages), time.time(), thread_id))
        return length + len(messages)

    def _insert_many(self, cur: Cursor, sql: str, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            cur.execute(self._sql(sql), row)

    # --- executions -----------------------------------------------------------------------------

    def commit(self, execution: Execution, messages: Sequence[Message] = (), *,
               expected_length: int | None = None, tool_calls: Sequence[ToolCallRecord] = (),
               owner: str | None = None, claim_seconds: float | None = None) -> None:
        with self._write() as cur:
            if owner is not None:
                self._fence(cur, execution, owner)
            # Always through `_append`, even with nothing to append: its read of the thread locks the
            # row where the database locks rows, so a thread deleted meanwhile is UnknownThreadError,
            # not a foreign key violation.
            self._append(cur, execution.thread_id, messages, expected_length)
            cur.execute(self._sql(
                "INSERT INTO executions (id, thread_id, agent_name, status, created_at, updated_at, "
                "parent_execution_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "status = excluded.status, updated_at = excluded.updated_at, data = excluded.data"),
                (execution.id, execution.thread_id, execution.agent_name, execution.status.value,
                 execution.created_at, execution.updated_at, execution.parent_execution_id,
                 execution_to_json(execution)))
            for r in tool_calls:
                cur.execute(self._sql(
                    f"INSERT INTO tool_calls ({_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (execution_id, tool_call_id) DO UPDATE SET status = excluded.status, "
                    "finished_at = excluded.finished_at, result = excluded.result, is_error = excluded.is_error, "
                    "duration = excluded.duration"),
                    (r.execution_id, r.tool_call_id, r.name, r.arguments, r.status, r.started_at, r.finished_at,
                     r.result, r.is_error, r.duration))
            self._forget_execution_memory(cur, execution)
            if owner is not None and claim_seconds is not None:
                self._set_claim(cur, execution.id, owner, time.time() + claim_seconds)

    def _fence(self, cur: Cursor, execution: Execution, owner: str) -> None:
        """Refuse a writer that lost its claim (another owner holds a live one), or whose execution
        another process has ended meanwhile (a writer never reopens an ended execution)."""
        cur.execute(self._sql(f"SELECT claimed_by, claimed_until, status FROM executions WHERE id = ?{self.lock_row}"),
                    (execution.id,))
        row = cur.fetchone()
        if row is not None:
            fenced(execution, owner, holder=row[0], until=row[1], stored=ExecutionStatus(row[2]), now=time.time())

    def get_execution(self, execution_id: str) -> Execution:
        with self._read() as cur:
            cur.execute(self._sql("SELECT data FROM executions WHERE id = ?"), (execution_id,))
            row = cur.fetchone()
        if row is None:
            raise UnknownExecutionError(execution_id)
        return execution_from_json(row[0])

    def list_executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                        status: ExecutionStatus | None = None, limit: int | None = 50,
                        cursor: str | None = None) -> Page[Execution]:
        clauses, params = _execution_filters(agent_name=agent_name, thread_id=thread_id, status=status, cursor=cursor)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        bound = f" LIMIT {int(limit) + 1}" if limit is not None else ""
        with self._read() as cur:
            cur.execute(self._sql(f"SELECT data FROM executions {where} ORDER BY created_at DESC, id DESC{bound}"),
                        params)
            rows = cur.fetchall()
        return _paged([execution_from_json(r[0]) for r in rows], limit)

    def claim_execution(self, execution_id: str, *, owner: str, lease_seconds: float = 60.0,
                        force: bool = False) -> bool:
        now = time.time()
        with self._write() as cur:
            cur.execute(self._sql(f"SELECT claimed_by, claimed_until FROM executions WHERE id = ?{self.lock_row}"),
                        (execution_id,))
            row = cur.fetchone()
            if row is None:
                raise UnknownExecutionError(execution_id)
            if not force and claim_is_live(row[0], row[1], asker=owner, now=now):
                return False
            self._set_claim(cur, execution_id, owner, now + lease_seconds)
            return True

    def _set_claim(self, cur: Cursor, execution_id: str, owner: str, until: float) -> None:
        cur.execute(self._sql("UPDATE executions SET claimed_by = ?, claimed_until = ? WHERE id = ?"),
                    (owner, until, execution_id))

    def release_execution(self, execution_id: str, *, owner: str) -> None:
        with self._write() as cur:
            self._require(cur, "executions", execution_id, UnknownExecutionError)
            cur.execute(self._sql("UPDATE executions SET claimed_by = NULL, claimed_until = NULL "
                                  "WHERE id = ? AND claimed_by = ?"), (execution_id, owner))

    def _require(self, cur: Cursor, table: str, item_id: str, error: type[UnknownThreadError | UnknownExecutionError],
                 *, lock: bool = False) -> None:
        cur.execute(self._sql(f"SELECT 1 FROM {table} WHERE id = ?{self.lock_row if lock else ''}"), (item_id,))
        if cur.fetchone() is None:
            raise error(item_id)

    def get_tool_calls(self, execution_id: str) -> list[ToolCallRecord]:
        with self._read() as cur:
            cur.execute(self._sql(f"SELECT {_CALL_COLUMNS} FROM tool_calls WHERE execution_id = ? "
                                  "ORDER BY started_at, tool_call_id"), (execution_id,))
            rows = cur.fetchall()
            if not rows:
                self._require(cur, "executions", execution_id, UnknownExecutionError)
        return [ToolCallRecord(execution_id=r[0], tool_call_id=r[1], name=r[2], arguments=r[3], status=r[4],
                               started_at=r[5], finished_at=r[6], result=r[7], is_error=bool(r[8]), duration=r[9])
                for r in rows]

    # --- memory ---------------------------------------------------------------------------------

    def memory_get(self, scope: MemoryScope, owner: str, key: str, default: Any = None) -> Any:
        where = (memory_scope(scope), owner, memory_key(key))
        with self._read() as cur:
            cur.execute(self._sql("SELECT value FROM memory WHERE scope = ? AND owner = ? AND key = ?"), where)
            row = cur.fetchone()
        return default if row is None else decode_value(row[0])

    def memory_set(self, scope: MemoryScope, owner: str, key: str, value: Any) -> None:
        stored = memory_scope(scope)
        text = encode_value(memory_key(key), value)
        with self._write() as cur:
            cur.execute(self._sql("INSERT INTO memory (scope, owner, key, value, updated_at) VALUES (?, ?, ?, ?, ?) "
                                  "ON CONFLICT (scope, owner, key) DO UPDATE SET value = excluded.value, "
                                  "updated_at = excluded.updated_at"),
                        (stored, owner, key, text, time.time()))

    def memory_delete(self, scope: MemoryScope, owner: str, key: str) -> None:
        where = (memory_scope(scope), owner, memory_key(key))
        with self._write() as cur:
            cur.execute(self._sql("DELETE FROM memory WHERE scope = ? AND owner = ? AND key = ?"), where)

    def memory_list(self, scope: MemoryScope, owner: str) -> dict[str, Any]:
        stored = memory_scope(scope)
        with self._read() as cur:
            cur.execute(self._sql("SELECT key, value FROM memory WHERE scope = ? AND owner = ? ORDER BY key"),
                        (stored, owner))
            return {k: decode_value(v) for k, v in cur.fetchall()}

    def _forget_execution_memory(self, cur: Cursor, execution: Execution) -> None:
        """An ended execution's own memory goes with it, in the transaction that ends it."""
        if execution.status.is_terminal:
            cur.execute(self._sql("DELETE FROM memory WHERE scope = 'execution' AND owner = ?"), (execution.id,))


def _rewritten(data: str, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> str | None:
    """A stored execution's JSON after `rewrite`; `None` for a row that holds no JSON object (reading it
    reports it as it did before, so a migration never fails on it)."""
    try:
        record = json.loads(data)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    return json.dumps(rewrite(record), ensure_ascii=False, separators=(",", ":"))


def _thread(row: Sequence[Any]) -> ThreadInfo:
    return ThreadInfo(id=row[0], created_at=row[1], updated_at=row[2], length=int(row[3]),
                      metadata=json.loads(row[4]) if row[4] else {}, parent_thread_id=row[5])


def _execution_filters(*, agent_name: str | None, thread_id: str | None, status: ExecutionStatus | None,
                       cursor: str | None) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (and their parameters) of a page of executions: the filters given, and the
    position after `cursor`."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("agent_name", agent_name), ("thread_id", thread_id),
                          ("status", None if status is None else ExecutionStatus(status).value)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    after, after_params = _after(cursor)
    if after:
        clauses.append(after)
        params.extend(after_params)
    return clauses, params


def _after(cursor: str | None) -> tuple[str, list[Any]]:
    if cursor is None:
        return "", []
    created, item_id = decode_cursor(cursor)
    return "(created_at < ? OR (created_at = ? AND id < ?))", [created, created, item_id]


def _paged(items: list[Any], limit: int | None) -> Page[Any]:
    if limit is None or len(items) <= limit:
        return Page(items)
    last = items[limit - 1]
    return Page(items[:limit], encode_cursor(last.created_at, last.id))


def _rowcount(cur: Cursor) -> int:
    return int(getattr(cur, "rowcount", 0))

