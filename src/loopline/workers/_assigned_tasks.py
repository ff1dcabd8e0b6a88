"""The task API a remote worker's `Runner` uses, over HTTP: `AssignedTasks` is `Tasks` on an `HttpStore` and
an `HttpTaskTable`, limited to the tasks the server assigned to this worker (`Tasks(base_url=...)` is
the API's client, for anyone), so the runner, the progress reports and the handler's `Task` run unchanged
on a remote worker. Each write names the attempt the worker was given; the server refuses (409,
`TaskReassignedError`) a worker that is no longer the task's assignee, and applies a result once."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConcurrentUpdateError, StoreUnavailableError, UsageError
from ..store import TaskTable
from ..tasks import Tasks
from ..tasks.engine import Engine
from ._http_store import HttpStore
from ._remote_http import ServerCalls

__all__ = ["AssignedTasks", "HttpTaskTable"]

_UPDATE_TRIES = 50


class HttpTaskTable(TaskTable):
    """The task rows a remote worker reads and writes, on the server (`/v1/workers/{id}/tasks/...`): a
    task of its organisation to read; only a task assigned to it (in the attempt it was given) to write."""

    def __init__(self, calls: ServerCalls, worker_id: str) -> None:  # no database: everything goes to the server
        self._calls = calls
        self._path = f"/v1/workers/{worker_id}/tasks"
        self.attempts: dict[str, int] = {}
        """The attempt each task was assigned to this worker in (sent with every write)."""
        self._written: dict[str, dict[str, Any]] = {}
        """Each running task's record as last read or written here."""

    def get(self, task_id: str, *, organization_id: str | None = None) -> dict[str, Any]:
        record: dict[str, Any] = self._calls.call("GET", f"{self._path}/{task_id}")
        if task_id in self.attempts:
            self._written[task_id] = record
        return record

    def update(self, task_id: str, change: Callable[[dict[str, Any]], dict[str, Any] | None], *,
               events: Sequence[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any]:
        """Change the record as last read or written here, and write it back only if nobody wrote it
        meanwhile (the server compares `updated_at`); read and change again when someone did. (Not read
        first each time: the worker writes its task's record many times a step, mostly nobody else does.)"""
        for _ in range(_UPDATE_TRIES):
            found = self._written.pop(task_id, None) or self.get(task_id)
            new = change(copy.deepcopy(found))
            if new is None:
                self._written[task_id] = found
                return found
            try:
                written: dict[str, Any] = self._calls.call("PUT", f"{self._path}/{task_id}", {
                    "attempt": self.attempts.get(task_id, 0), "record": new,
                    "expected_updated_at": found["updated_at"], "events": [list(e) for e in events]})
            except ConcurrentUpdateError:
                continue
            self._written[task_id] = written
            return written
        raise StoreUnavailableError(f"task {task_id} kept changing under {_UPDATE_TRIES} writes in a row",
                                    store=self._calls.connection.base_url)

    def add_events(self, task_id: str, events: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        answer = self._calls.call("POST", f"{self._path}/{task_id}/events", {
            "attempt": self.attempts.get(task_id, 0), "events": [list(e) for e in events]})
        return [int(seq) for seq in answer["seqs"]]

    def earlier_unfinished(self, thread_id: str, created_at: float, task_id: str) -> list[str]:
        answer = self._calls.call("GET", f"{self._path}/{task_id}/earlier")
        return [str(t) for t in answer["items"]]

    def cancel_requested(self, task_ids: Sequence[str]) -> list[str]:
        raise UsageError("a remote worker learns of cancels from its stream and its heartbeat")

    def finish(self, task_id: str, body: dict[str, Any]) -> bool:
        """Report the task's end (its status, result, error, usage); False when it had already ended."""
        answer = self._calls.call("POST", f"{self._path}/{task_id}/result",
                                  {"attempt": self.attempts.get(task_id, 0), **body})
        self._written.pop(task_id, None)
        return bool(answer["applied"])

    def forget(self, task_id: str) -> None:
        """The task left this worker: its record is read afresh if it comes back."""
        self._written.pop(task_id, None)


class AssignedTasks(Tasks):
    """`Tasks` for a remote worker's runner: the server's store and task rows, over HTTP."""

    def __init__(self, calls: ServerCalls, worker_id: str) -> None:  # no database, no engine
        self.store = HttpStore(calls, worker_id)
        self.http_table = HttpTaskTable(calls, worker_id)
        self.table = self.http_table
        self.organization_id = calls.connection.organization_id or ""
        self._engine = None

    def __repr__(self) -> str:
        return f"AssignedTasks({self.store!r})"

    @property
    def engine(self) -> Engine:
        raise UsageError("a remote worker does not create or queue tasks: use Tasks(base_url=...) for that")

    def _record(self, task_id: str) -> dict[str, Any]:
        return self.table.get(task_id)

    def _finish(self, task_id: str, status: str, *, result: Any = None, error: dict[str, Any] | None = None,
                only_from: Sequence[str] | None = None, advance_tree: bool = True, **fields: Any) -> bool:
        """The end goes to the server, which records it (once), with its events, and moves a task tree on."""
        return self.http_table.finish(task_id, {"status": status, "result": result, "error": error,
                                                "only_from": None if only_from is None else list(only_from),
                                                "fields": fields})
