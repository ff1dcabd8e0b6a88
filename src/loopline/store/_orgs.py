"""Threads and executions as one organisation sees them, in a SQL store's database.

Threads and executions carry no organisation of their own: they belong to one through its tasks. A
thread is the organisation's when one of its tasks has that `thread_id`; an execution is when its
thread is. `organization_id=None` sees everything (a server without keys). Anything else is not found,
exactly as an id that does not exist, so a caller cannot tell another organisation's ids from unknown ones.
"""

from __future__ import annotations

from ..errors import UnknownExecutionError, UnknownThreadError
from ..loop import Execution, ExecutionStatus, execution_from_json
from ._protocol import Page, ThreadInfo
from ._sql import _THREAD_COLUMNS, SqlStore, _after, _execution_filters, _paged, _thread

__all__ = ["OrganizationView"]

_OWNED_THREADS = "id IN (SELECT thread_id FROM tasks WHERE organization_id = ? AND thread_id IS NOT NULL)"
_OWNED_EXECUTIONS = f"thread_id {_OWNED_THREADS.removeprefix('id ')}"


class OrganizationView:
    """Reads of threads and executions limited to one organisation's (None: every one)."""

    def __init__(self, store: SqlStore, organization_id: str | None) -> None:
        self.store = store
        self.organization_id = organization_id

    def owns_thread(self, thread_id: str) -> bool:
        """Whether one of the organisation's tasks is on the thread (always, for the unscoped view)."""
        if self.organization_id is None:
            return True
        with self.store._read() as cur:
            cur.execute(self.store._sql("SELECT 1 FROM tasks WHERE organization_id = ? AND thread_id = ? LIMIT 1"),
                        (self.organization_id, thread_id))
            return cur.fetchone() is not None

    def thread(self, thread_id: str) -> ThreadInfo:
        """The thread, or `UnknownThreadError` (also for another organisation's)."""
        if not self.owns_thread(thread_id):
            raise UnknownThreadError(thread_id)
        return self.store.get_thread(thread_id)

    def threads(self, *, limit: int = 50, cursor: str | None = None) -> Page[ThreadInfo]:
        """The organisation's threads, newest first."""
        if self.organization_id is None:
            return self.store.list_threads(limit=limit, cursor=cursor)
        after, params = _after(cursor)
        clauses = [_OWNED_THREADS, *([after] if after else [])]
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT {_THREAD_COLUMNS} FROM threads WHERE {' AND '.join(clauses)} "
                                        f"ORDER BY created_at DESC, id DESC LIMIT {int(limit) + 1}"),
                        [self.organization_id, *params])
            rows = cur.fetchall()
        return _paged([_thread(r) for r in rows], limit)

    def execution(self, execution_id: str) -> Execution:
        """The execution, or `UnknownExecutionError` (also for another organisation's)."""
        try:
            execution = self.store.get_execution(execution_id)
        except UnknownExecutionError:
            raise UnknownExecutionError(execution_id) from None
        if not self.owns_thread(execution.thread_id):
            raise UnknownExecutionError(execution_id)
        return execution

    def executions(self, *, agent_name: str | None = None, thread_id: str | None = None,
                   status: ExecutionStatus | None = None, limit: int = 50,
                   cursor: str | None = None) -> Page[Execution]:
        """The organisation's executions, newest first, filtered."""
        if self.organization_id is None:
            return self.store.list_executions(agent_name=agent_name, thread_id=thread_id, status=status,
                                              limit=limit, cursor=cursor)
        clauses, params = _execution_filters(agent_name=agent_name, thread_id=thread_id, status=status, cursor=cursor)
        clauses, params = [_OWNED_EXECUTIONS, *clauses], [self.organization_id, *params]
        with self.store._read() as cur:
            cur.execute(self.store._sql(f"SELECT data FROM executions WHERE {' AND '.join(clauses)} "
                                        f"ORDER BY created_at DESC, id DESC LIMIT {int(limit) + 1}"), params)
            rows = cur.fetchall()
        return _paged([execution_from_json(r[0]) for r in rows], limit)
