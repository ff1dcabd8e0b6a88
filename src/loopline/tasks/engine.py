"""The engine that queues, dispatches, limits and recovers tasks, behind a small interface.

loopline's own store keeps each task's record and events (so `get`, `list` and `events` read the
same tables whatever the engine); the engine carries the work: `enqueue` hands a task to the workers
of its agent, `cancel` takes it off the queue, and a worker serves the engine's queues. Only DBOS
Transact is shipped (`loopline[tasks]`); it is imported the first time a task is handed out, never by
`import loopline`.

Layout in the engine: two queues per agent id, so a worker takes only the tasks of the agents it
serves. A task that starts a new thread goes to `loopline.agent.<id>`, ordered by priority then
creation; a task that continues a thread goes to `loopline.agent.<id>.threads`, partitioned by thread
with one task running per partition, so the tasks of one thread run one at a time in creation order
(priority does not reorder a conversation) while different threads run in parallel. The worker also
waits, before it starts a thread's task, for earlier tasks of that thread still running from the
other queue. An executor's tasks go to `loopline.executor.<id>` (and `.threads`), which a worker with a
catch-all handler leaves to the workers that have that executor. The task id is the workflow id, which
makes enqueueing the same task twice harmless.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from ..errors import MissingExtraError
from ..store import Store

__all__ = ["APP_NAME", "APP_VERSION", "EXECUTOR_QUEUE_PREFIX", "MAX_PRIORITY", "POLL_SECONDS", "WORKFLOW_NAME",
           "DBOSEngine", "Engine", "engine_for", "engine_url", "import_dbos", "prepare_database", "queue_name",
           "queue_settings", "workflow_id"]

APP_NAME = "loopline"
APP_VERSION = "loopline-tasks-1"
"""Every loopline process enqueues and serves this version, so any worker may take any task (and
recover any dead worker's); it changes only when the workflow's arguments change."""
WORKFLOW_NAME = "loopline.task"
POLL_SECONDS = 0.05
"""How often a worker looks for new tasks: 50 ms keeps idle enqueue-to-start well under 100 ms at a
cost of one small query per queue per poll."""
_PRIORITY_BASE = 1_000_000
_MAX_ENGINE_PRIORITY = 2**31 - 1
MAX_PRIORITY = 100_000
"""Priorities run from -MAX_PRIORITY to MAX_PRIORITY; higher starts first."""


EXECUTOR_QUEUE_PREFIX = "loopline.executor."
"""Executors' queues are named apart, so a worker with a catch-all handler can leave alone those of
executors it does not have."""


def workflow_id(task: dict[str, Any]) -> str:
    """The engine's id of the task's current run: the task id, and `<id>.run<N>` once a paused task is
    queued again (`Tasks.resume`): each run is a workflow of its own."""
    runs = int(task.get("runs") or 0)
    return task["id"] if runs == 0 else f"{task['id']}.run{runs}"


def queue_name(agent_id: str, *, continuing: bool = False, executor: bool = False) -> str:
    """The engine queue of one agent's (or, with `executor`, one executor's) tasks: those that start a
    thread, or those that continue one."""
    return (EXECUTOR_QUEUE_PREFIX if executor else "loopline.agent.") + agent_id + (".threads" if continuing else "")


def _task_queue(task: dict[str, Any]) -> tuple[str, bool]:
    """The queue a task goes to, and whether it continues a thread."""
    continuing = bool(task.get("continues_thread"))
    return queue_name(task["agent_id"], continuing=continuing, executor=task.get("kind") == "executor"), continuing


class Engine(Protocol):
    """What `Tasks` needs of an engine (a Temporal one would implement the same)."""

    url: str

    def enqueue(self, task: dict[str, Any]) -> None:
        """Queue the task (its `id`, `agent_id`, `thread_id`, `priority`); again for the same id does nothing."""
        ...

    def prepare(self, task: dict[str, Any]) -> None:
        """Make ready to enqueue `task` (connect, create its queue); raises if the engine cannot take it."""
        ...

    def cancel(self, task_id: str) -> None:
        """Take the task off the queue, or tell the engine it should stop."""
        ...

    def state(self, task_id: str) -> str | None:
        """The engine's own word for where the task is (DBOS: ENQUEUED, PENDING, SUCCESS, ...), None if unknown."""
        ...


def engine_url(store: Store) -> str:
    """Where the engine keeps its state for `store`: `LOOPLINE_TASKS_DB` if set; for a SQLite file, a
    file beside it (`<file>.tasks.sqlite`); for PostgreSQL, the same database (DBOS uses its own schema)."""
    explicit = os.environ.get("LOOPLINE_TASKS_DB", "").strip()
    if explicit:
        return explicit
    url = getattr(store, "url", None)
    if isinstance(url, str):
        return url
    path = Path(str(store.path)).expanduser().resolve()  # type: ignore[attr-defined]
    return f"sqlite:///{path.with_name(path.name + '.tasks.sqlite')}"


def prepare_database(url: str) -> None:
    """Put a SQLite system database in WAL mode before DBOS opens it. DBOS leaves SQLite in its default
    rollback journal, where every commit syncs the file several times (measured: 2.6 ms on an idle
    disk, over 20 ms under load, for each enqueue and each state change of a task); WAL syncs once and
    lets readers run beside the writer. The mode is stored in the file, so once is enough for every
    process; a file another process keeps locked for 5 s is left as it is."""
    if not url.startswith("sqlite:///"):
        return
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        return
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(path, timeout=5.0)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


_engines: dict[str, DBOSEngine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> DBOSEngine:
    """The process's engine client for `url` (made once)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = DBOSEngine(url)
        return engine


def import_dbos() -> Any:
    """The `dbos` module, or a clear error naming the extra."""
    try:
        import dbos
    except ImportError as exc:
        raise MissingExtraError(package="dbos", extra="tasks") from exc
    return dbos


class DBOSEngine:
    """Tasks on DBOS Transact, from a process that does not run them (`DBOSClient`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._queues: set[str] = set()
        self._lock = threading.Lock()

    def _connected(self) -> Any:
        with self._lock:
            if self._client is None:
                dbos = import_dbos()
                prepare_database(self.url)
                dbos.DBOS.migrate(self.url)  # the client never creates DBOS's tables itself
                self._client = dbos.DBOSClient(system_database_url=self.url, application_name=APP_NAME)
            return self._client

    def ensure_queue(self, name: str, *, continuing: bool) -> None:
        """Create a queue if no worker has yet (a worker's settings win over these)."""
        if name in self._queues:
            return
        self._connected().register_queue(name, **queue_settings(continuing=continuing), on_conflict="never_update")
        self._queues.add(name)

    def prepare(self, task: dict[str, Any]) -> None:
        name, continuing = _task_queue(task)
        self.ensure_queue(name, continuing=continuing)

    def enqueue(self, task: dict[str, Any]) -> None:
        self.prepare(task)
        name, continuing = _task_queue(task)
        options: dict[str, Any] = {"workflow_name": WORKFLOW_NAME, "queue_name": name,
                                   "workflow_id": workflow_id(task), "app_version": APP_VERSION}
        if continuing:
            options["queue_partition_key"] = task["thread_id"]
            options["priority"] = _thread_order(task)
        else:
            options["priority"] = _PRIORITY_BASE - int(task.get("priority") or 0)
        self._connected().enqueue(options, task["id"])

    def cancel(self, task_id: str) -> None:
        self._connected().cancel_workflow(task_id)

    def state(self, task_id: str) -> str | None:
        found = self._connected().retrieve_workflow(task_id).get_status() if self._exists(task_id) else None
        return None if found is None else str(found.status)

    def _exists(self, task_id: str) -> bool:
        return bool(self._connected().list_workflows(workflow_ids=[task_id], load_input=False, load_output=False))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.destroy()
                self._client = None
                self._queues.clear()


def _thread_order(task: dict[str, Any]) -> int:
    """The engine priority of a task continuing a thread: milliseconds from the thread's creation to the
    task's, so the thread's tasks leave its queue in creation order (DBOS orders a queue by priority,
    then by its own creation time, which on SQLite counts whole seconds: tasks made within one second
    would otherwise leave in any order). Past DBOS's largest priority (a thread 24 days old) the order
    falls back to DBOS's."""
    since = task["created_at"] - float(task.get("thread_created_at") or task["created_at"])
    return 1 + min(max(int(since * 1000), 0), _MAX_ENGINE_PRIORITY - 1)


def queue_settings(*, continuing: bool, worker_concurrency: int | None = None) -> dict[str, Any]:
    """`worker_concurrency` tasks per worker; one task per thread at a time on a continuing queue."""
    settings: dict[str, Any] = {"worker_concurrency": worker_concurrency, "polling_interval_sec": POLL_SECONDS}
    if continuing:
        settings["partition_concurrency"] = 1
    return settings
