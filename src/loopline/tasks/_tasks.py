"""`Tasks`: create, find, watch and cancel tasks, from any process that reaches the database."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

from ..agent import cancel_execution
from ..errors import (
    ExecutionFinishedError,
    InvalidInputError,
    TasksUnavailableError,
    UnknownTaskError,
    UsageError,
)
from ..loop import ExecutionStatus
from ..messages import new_id
from ..store import Page, Store, TaskEventRow, TaskTable, default_store, open_store, task_table
from ._checks import check_executor_inputs, check_id, check_schema, checked_urls, error_of, live_workers
from ._config import TaskConfig
from ._task import FINISHED_EVENT, Task, TaskEvent
from ._tree import advance, advance_all, create_tree
from .engine import MAX_PRIORITY, Engine, engine_for, engine_url, import_dbos, workflow_id

__all__ = ["OUTPUT_FORMATS", "Tasks", "live_workers"]

OUTPUT_FORMATS = ("text", "markdown", "json")
_TERMINAL = {s.value for s in ExecutionStatus if s.is_terminal}
_POLL = 0.05


class Tasks:
    """The task API: `Tasks()` uses the default database (`LOOPLINE_DB`, else the embedded SQLite file);
    `Tasks("postgresql://...")` or `Tasks("tasks.db")` another; `Tasks(store=...)` an open store;
    `Tasks(base_url=..., api_key=...)` a server over HTTP (a `RemoteTasks`; `Tasks()` too if LOOPLINE_BASE_URL is set).

    Every method has an `a`-prefixed async twin that does not block the event loop.
    """

    def __new__(cls, *args: Any, **options: Any) -> Tasks:  # subclasses may take other arguments
        from ._remote import RemoteTasks  # here: it builds on this class

        database = (args[0] if args else options.get("location")) is not None or options.get("store") is not None
        remote = not database and (options.get("base_url") or os.environ.get("LOOPLINE_BASE_URL"))
        return super().__new__(RemoteTasks if cls is Tasks and remote else cls)

    def __init__(self, location: str | None = None, *, store: Store | None = None, organization_id: str = "",
                 engine: Engine | None = None, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 30.0) -> None:
        if (location is not None and store is not None) or base_url is not None or api_key is not None:
            raise UsageError("Tasks takes a location or a store, not both; or a server's base_url (and api_key) alone")
        self.store: Store = store if store is not None else open_store(location) if location else default_store()
        self.table: TaskTable = task_table(self.store)
        self.organization_id = organization_id
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The engine client (DBOS), connected on first use."""
        if self._engine is None:
            self._engine = engine_for(engine_url(self.store))
        return self._engine

    def __repr__(self) -> str:
        return f"Tasks({self.store!r})"

    # --- creating ------------------------------------------------------------------------------

    def create(self, agent_id: str | None = None, prompt: str = "", *, executor: str | None = None,
               inputs: dict[str, Any] | None = None, file_urls: Sequence[str] = (), thread_id: str | None = None,
               events_streaming: bool = True, output_format: str = "text", output_schema: dict[str, Any] | None = None,
               priority: int = 0, config: TaskConfig | dict[str, Any] | None = None,
               idempotency_key: str | None = None, require_worker: bool = False) -> Task:
        """Hand a task to the workers of `agent_id` (or of `executor`) and return it at once (PENDING).

        Args:
            agent_id: Which agent (an `Agent`'s name) or handler runs it.
            prompt: The task, as the user message of the agent's execution.
            executor: Instead of an agent, the id of an executor (`@executor_register`) to run with
                `inputs`, which are checked against its input schema here, before anything is queued.
            file_urls: Files by URL; stored with the task, fetched by the worker, never by `create`.
            thread_id: Continue this thread (tasks of one thread run one at a time, in creation order);
                without it the task starts a new thread, known at once as `task.thread_id`.
            output_format: `text`, `markdown` or `json`; `json` with `output_schema` makes the
                agent's finish tool take and check that JSON Schema.
            priority: Among tasks that start new threads, higher starts first (-100000 to 100000).
            config: Limits and settings (`TaskConfig`, or a dict of its fields).
            idempotency_key: Creating again with the same key returns the task made the first time.
            require_worker: Refuse (`TasksUnavailableError`) when no live worker serves `agent_id`;
                by default the task waits PENDING for one.

        Raises:
            InvalidInputError: A field is not what it takes (named in the message; `inputs.<path>` for
                an executor's inputs).
            UnknownExecutorError: No executor `executor` is registered here or served by a live worker.
            UnknownThreadError: `thread_id` is not in the store.
            TasksUnavailableError: `require_worker` and no live worker serves the agent.
            MissingExtraError: The `tasks` extra (DBOS) is not installed.
        """
        record = self._new_record(*self._target(agent_id, executor, prompt, inputs), file_urls=file_urls,
                                  thread_id=thread_id, events_streaming=events_streaming,
                                  output_format=output_format, output_schema=output_schema, priority=priority,
                                  config=config, idempotency_key=idempotency_key)
        if executor is not None:
            record.update(kind="executor", executor=executor, inputs=inputs or {})
        return self._submit(record, require_worker=require_worker)

    def _target(self, agent_id: str | None, executor: str | None, prompt: str,
                inputs: dict[str, Any] | None) -> tuple[str, str]:
        """The queue's id and the prompt of a task for an agent or an executor (its inputs checked)."""
        if (agent_id is None) == (executor is None):
            raise InvalidInputError("a task names an agent_id or an executor (one of them)", field="agent_id")
        if executor is None:
            if inputs is not None:
                raise InvalidInputError("inputs go to an executor; an agent's task takes a prompt", field="inputs")
            return agent_id, prompt  # type: ignore[return-value]  # its type is checked with the other fields
        check_id("executor", executor)
        check_executor_inputs(self.table, executor, inputs)
        return executor, prompt or f"run {executor}"

    def _submit(self, record: dict[str, Any], *, require_worker: bool) -> Task:
        """Store the checked record and hand it to the engine (or return the task its idempotency key made)."""
        agent_id = record["agent_id"]
        idempotency_key = record.get("idempotency_key")
        if idempotency_key is not None:
            existing = self.table.find_key(self.organization_id, idempotency_key)
            if existing is not None:
                return Task(existing, self)
        if self._engine is None:
            import_dbos()  # a missing `tasks` extra is told before anything is written, not as a FAILED task
        if require_worker and not [w for w in live_workers(self.table, agent_id) if record.get("kind") != "executor"
                                   or agent_id in (w.get("executors") or {})]:  # a catch-all runs no executor
            raise TasksUnavailableError(f"no live worker serves agent {agent_id!r}: start one (`loopline worker "
                                        "app.py:agents`), or create the task without require_worker to queue it")
        if record["thread_id"] is not None:  # UnknownThreadError before anything is written
            record["thread_created_at"] = self.store.get_thread(record["thread_id"]).created_at
        self.engine.prepare(record)  # the engine reachable (and its extra installed) before anything is written
        if record["thread_id"] is None:
            record["thread_id"] = self.store.create_thread(metadata={"task_id": record["id"]})
        stored, created = self.table.insert(record)
        if not created:  # another process created it with the same idempotency key meanwhile
            if not record["continues_thread"]:
                self.store.delete_thread(record["thread_id"])
            return Task(stored, self)
        self._event(record["id"], "status", {"status": "PENDING"})
        try:
            self.engine.enqueue(stored)
        except Exception as exc:
            self._finish(record["id"], "FAILED", error=error_of(exc, code="enqueue_failed"))
            raise TasksUnavailableError(f"task {record['id']} could not be queued ({type(exc).__name__}: {exc}); "
                                        "it is stored FAILED") from exc
        return Task(stored, self)

    async def acreate(self, agent_id: str | None = None, prompt: str = "", **options: Any) -> Task:
        return await asyncio.to_thread(lambda: self.create(agent_id, prompt, **options))

    def _new_record(self, agent_id: str, prompt: str, *, file_urls: Sequence[str], thread_id: str | None,
                    events_streaming: bool, output_format: str, output_schema: dict[str, Any] | None,
                    priority: int, config: TaskConfig | dict[str, Any] | None,
                    idempotency_key: str | None) -> dict[str, Any]:
        """The new task's record, every field checked (nothing is written before this passes)."""
        check_id("agent_id", agent_id)
        if not isinstance(prompt, str):
            raise InvalidInputError(f"prompt takes text, got {type(prompt).__name__}", field="prompt")
        urls = checked_urls(file_urls)
        if not prompt.strip() and not urls:
            raise InvalidInputError("a task needs a prompt (or file_urls)", field="prompt")
        if thread_id is not None:
            check_id("thread_id", thread_id)
        if output_format not in OUTPUT_FORMATS:
            raise InvalidInputError(f"output_format takes one of {list(OUTPUT_FORMATS)}, got {output_format!r}",
                                    field="output_format")
        check_schema(output_schema)
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > MAX_PRIORITY:
            raise InvalidInputError(f"priority takes a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}, "
                                    f"got {priority!r}", field="priority")
        if idempotency_key is not None and (not isinstance(idempotency_key, str)
                                            or not 0 < len(idempotency_key) <= 255):
            raise InvalidInputError("idempotency_key takes text of 1 to 255 characters", field="idempotency_key")
        if not isinstance(events_streaming, bool):
            raise InvalidInputError("events_streaming takes True or False", field="events_streaming")
        settings = config if isinstance(config, TaskConfig) else TaskConfig.from_json(config)
        now = time.time()
        return {"id": new_id("task"), "organization_id": self.organization_id, "agent_id": agent_id,
                "status": "PENDING", "input": {"text": prompt, "file_urls": urls}, "thread_id": thread_id,
                "continues_thread": thread_id is not None, "execution_id": None, "idempotency_key": idempotency_key,
                "events_streaming": events_streaming, "output_format": output_format, "output_schema": output_schema,
                "priority": priority, "config": settings.to_json(), "result": None, "error": None,
                "progress": None, "current_action": None, "created_at": now, "updated_at": now, "source": "queued"}

    def report_external_task(self, *, agent_id: str, id: str | None = None, input: str = "", result: Any = None,
                             duration: float | None = None, used_tools: Sequence[str] | None = None,
                             status: str = "COMPLETED", error: str | None = None,
                             thread_id: str | None = None) -> Task:
        """Record a task that ran elsewhere, already ended (COMPLETED by default, or FAILED with `error`)."""
        check_id("agent_id", agent_id)
        if id is not None:
            check_id("id", id)
        status = getattr(status, "value", status)  # an ExecutionStatus or its word
        if status not in _TERMINAL:
            raise InvalidInputError(f"an external task is reported once it has ended: status takes one of "
                                    f"{sorted(_TERMINAL)}, got {status!r}", field="status")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not math.isfinite(duration) or duration < 0):
            raise InvalidInputError(f"duration takes seconds, 0 or more, got {duration!r}", field="duration")
        if isinstance(used_tools, str) or not all(isinstance(t, str) and t for t in used_tools or ()):
            raise InvalidInputError(f"used_tools takes a list of tool names, got {used_tools!r}", field="used_tools")
        tools = list(used_tools or ())
        if thread_id is not None:
            self.store.get_thread(thread_id)  # UnknownThreadError before anything is written
        if id is not None and _exists(self.table, id):
            raise InvalidInputError(f"a task with id {id!r} already exists", field="id")
        now = time.time()
        record = self._new_record(agent_id, input or "(external task)", file_urls=(), thread_id=thread_id,
                                  events_streaming=False, output_format="text", output_schema=None, priority=0,
                                  config=None, idempotency_key=None)
        record.update(id=id or record["id"], status=status, source="external", result=result, used_tools=tools,
                      duration=duration, started_at=now - (duration or 0.0), finished_at=now, progress=1.0,
                      error=None if error is None else {"type": "ExternalError", "message": error, "code": "external"})
        stored, created = self.table.insert(record)
        if not created:
            raise InvalidInputError(f"a task with id {id!r} already exists", field="id")
        self._event(stored["id"], FINISHED_EVENT, {"status": status, "result": result, "error": record["error"]})
        return Task(stored, self)

    # --- reading -------------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        """The task with this id (`UnknownTaskError` if none, or another organisation's)."""
        return Task(self._record(task_id), self)

    async def aget(self, task_id: str) -> Task:
        return await asyncio.to_thread(self.get, task_id)

    def list(self, *, agent_id: str | None = None, status: str | Sequence[str] | None = None,
             thread_id: str | None = None, limit: int = 50, cursor: str | None = None) -> Page[Task]:
        """Tasks newest first, filtered; `Page.next_cursor` continues."""
        wanted = [status] if isinstance(status, str) else list(status or ())
        page = self.table.list(organization_id=self.organization_id, agent_id=agent_id,
                               status=[ExecutionStatus(s).value for s in wanted], thread_id=thread_id,
                               limit=limit, cursor=cursor)
        return Page([Task(r, self) for r in page], page.next_cursor)

    async def alist(self, **filters: Any) -> Page[Task]:
        return await asyncio.to_thread(lambda: self.list(**filters))

    def cancel(self, task_id: str) -> Task:
        return Task(self._cancel(task_id), self)

    async def acancel(self, task_id: str) -> Task:
        return await asyncio.to_thread(self.cancel, task_id)

    def resume(self, task_id: str) -> Task:
        """Queue a PAUSED task again once its decisions are made, and a worker resumes its execution where
        it stopped. A task pauses when a tool needs approval or when a worker died inside a call that is not
        idempotent; decide on its execution with an `Agent` of the same definition
        (`agent.resume(task.execution_id)`, then `approve`, `reject`, `rerun_tool_calls` or
        `record_tool_result`). Undecided calls pause it again.

        Raises:
            UsageError: The task is not PAUSED.
        """
        def change(record: dict[str, Any]) -> dict[str, Any]:
            if record["status"] != "PAUSED":
                raise UsageError(f"task {task_id} is {record['status']}, not PAUSED: only a paused task is resumed")
            record.update(status="PENDING", runs=int(record.get("runs") or 0) + 1, current_action="queued again")
            return record

        self._record(task_id)  # another organisation's task is not found
        record = self.table.update(task_id, change, events=[("status", {"status": "PENDING", "resumed": True})])
        self.engine.enqueue(record)
        return Task(record, self)

    async def aresume(self, task_id: str) -> Task:
        return await asyncio.to_thread(self.resume, task_id)

    def events(self, task_id: str, *, after: int = 0, follow: bool = True,
               timeout: float | None = None) -> Iterator[TaskEvent]:
        self._record(task_id)
        return self._events(task_id, after=after, follow=follow, timeout=timeout)

    # --- the seed's other shape: execute_task / execute_task_async / get_task_status ----------------

    def execute_task(self, task: Task | str, *, timeout: float | None = None) -> Any:
        """Run a created task to its end (blocking) and return its result (`TaskFailedError` if it failed)."""
        return self._as_task(task).wait(timeout).result_or_raise()

    def execute_task_async(self, task: Task | str) -> Task:
        """Return the task at once as an execution handle (`.id`, `.wait()`, `.on_alert(...)`)."""
        return self._as_task(task)

    def get_task_status(self, task_id: str) -> dict[str, Any]:
        """`state`, `progress`, `current_action`, `error` (and `result` once done) of a task."""
        task = self.get(task_id)
        return {"id": task.id, "state": task.status, "progress": task.progress, "current_action": task.current_action,
                "error": task.error, "result": task.result, "execution_id": task.execution_id,
                "thread_id": task.thread_id}

    def _as_task(self, task: Task | str) -> Task:
        return self.get(task) if isinstance(task, str) else task

    # --- what Task and the workers call ------------------------------------------------------------

    def _record(self, task_id: str) -> dict[str, Any]:
        return self.table.get(task_id, organization_id=self.organization_id)

    def _event(self, task_id: str, kind: str, data: dict[str, Any]) -> int:
        return self.table.add_event(task_id, kind, data)

    def _save(self, task: Task) -> dict[str, Any]:
        stored = self._record(task.id)
        if task.status == "CANCELLED" and stored["status"] != "CANCELLED":
            return self._cancel(task.id)
        if task.status in _TERMINAL and stored["status"] not in _TERMINAL:
            error = task.error if task.status == "FAILED" else None
            self._finish(task.id, task.status, result=task.result, error=error)
            return self._record(task.id)

        def change(record: dict[str, Any]) -> dict[str, Any]:
            if record["status"] in _TERMINAL and task.status != record["status"]:
                raise UsageError(f"task {task.id} already ended {record['status']}; its status cannot change")
            record.update(status=task.status, result=task.result, error=task.error, progress=task.progress,
                          current_action=task.current_action)
            return record

        record = self.table.update(task.id, change)
        if record["status"] != stored["status"]:
            self._event(task.id, "status", {"status": record["status"]})
        return record

    def _report(self, task_id: str, *, progress: float | None, current_action: str | None) -> dict[str, Any]:
        if progress is not None and (isinstance(progress, bool) or not isinstance(progress, (int, float))
                                     or not 0 <= progress <= 1):
            raise InvalidInputError(f"progress takes a number from 0 to 1, got {progress!r}", field="progress")

        def change(record: dict[str, Any]) -> dict[str, Any]:
            if progress is not None:
                record["progress"] = float(progress)
            if current_action is not None:
                record["current_action"] = str(current_action)
            return record

        record = self.table.update(task_id, change)
        self._event(task_id, "progress", {"progress": record.get("progress"),
                                          "current_action": record.get("current_action")})
        return record

    def _cancel(self, task_id: str) -> dict[str, Any]:
        record = self._record(task_id)
        if record["status"] in _TERMINAL:
            return record
        if record.get("kind") == "tree":  # marked first, so no node ending meanwhile moves it on; then every node
            self.table.update(task_id, lambda r: None if r["status"] in _TERMINAL else {**r, "cancel_requested": True})
            for node_task in record["nodes"].values():
                self._cancel(node_task)
            self._finish(task_id, "CANCELLED")
            return self._record(task_id)
        marked = self.table.update(task_id, lambda r: None if r["status"] in _TERMINAL
                                   else {**r, "cancel_requested": True})
        if marked["status"] in _TERMINAL:
            return marked
        if marked["status"] == "PENDING":  # not started: off the queue, and nothing will run it now
            self.engine.cancel(workflow_id(marked))
            self._finish(task_id, "CANCELLED", error=None, only_from=("PENDING",))
        elif marked["status"] == "PAUSED":  # waiting for a decision, with no process behind it: end it here
            if marked.get("execution_id"):
                with contextlib.suppress(ExecutionFinishedError):
                    cancel_execution(self.store, marked["execution_id"])
            self._finish(task_id, "CANCELLED", error=None, only_from=("PAUSED",))
        # A running task is stopped by its worker at the next step, which records CANCELLED. Its workflow
        # is not cancelled in the engine: the engine would then log the workflow's end as an error, and
        # never recover it if its worker died, leaving it RUNNING; recovered, it ends CANCELLED at once.
        return self._record(task_id)

    # --- task trees ---------------------------------------------------------------------------------

    def create_tree(self, nodes: Sequence[Mapping[str, Any]], *, name: str = "") -> Task:
        """Create a task tree (see `loopline.executors.TaskManager`); returns its root task, whose
        `result` is each node's result by node id once every node has ended."""
        return self.get(create_tree(self, nodes, name=name))

    def tree(self, root_id: str) -> dict[str, Task]:
        """The nodes of a task tree, by node id."""
        root = self._record(root_id)
        if root.get("kind") != "tree":
            raise UsageError(f"task {root_id} is not the root of a task tree")
        return {node: self.get(task_id) for node, task_id in root["nodes"].items()}

    def advance_trees(self) -> int:
        """Move every unfinished tree on (a worker's watchdog calls it, in case the process that ended
        a node died before it did); returns how many trees it looked at."""
        return advance_all(self)

    def _finish(self, task_id: str, status: str, *, result: Any = None, error: dict[str, Any] | None = None,
                only_from: Sequence[str] | None = None, advance_tree: bool = True, **fields: Any) -> bool:
        """End the task (once): its record, then its `status` and `finished` events, then (for a node of
        a task tree) the tree moves on. False if it had already ended (or was not in `only_from`)."""
        ended = False
        parent: list[str] = []

        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal ended
            if record["status"] in _TERMINAL or (only_from is not None and record["status"] not in only_from):
                return None
            ended = True
            parent[:] = [record["parent_id"]] if record.get("parent_id") else []
            now = time.time()
            record.update(status=status, result=result, error=error, finished_at=now, **fields)
            if status == "COMPLETED":
                record["progress"] = 1.0
            if record.get("started_at"):
                record["duration"] = now - record["started_at"]
            return record

        record = self.table.update(task_id, change, events=[("status", {"status": status}), (FINISHED_EVENT, {
            "status": status, "result": result, "error": error})])  # with the record: who sees it ended sees them
        if ended and parent and advance_tree:
            self._event(parent[0], "node", {"node_id": record.get("node_id"), "task_id": task_id, "status": status})
            advance(self, parent[0])
        return ended

    def _events(self, task_id: str, *, after: int, follow: bool, timeout: float | None) -> Iterator[TaskEvent]:
        reader = _EventReader(task_id, after, follow, timeout)
        while True:
            events, wait = reader.take(self.table.events(task_id, after=reader.after))
            yield from events
            if wait is None:
                return
            time.sleep(wait)

    async def _aevents(self, task_id: str, *, after: int, follow: bool,
                       timeout: float | None) -> AsyncIterator[TaskEvent]:
        reader = _EventReader(task_id, after, follow, timeout)
        while True:
            events, wait = reader.take(await asyncio.to_thread(self.table.events, task_id, after=reader.after))
            for event in events:
                yield event
            if wait is None:
                return
            await asyncio.sleep(wait)

    def _on_alert(self, task_id: str, handler: Callable[[TaskEvent], Any]) -> Callable[[], None]:
        stop = threading.Event()

        def listen() -> None:
            after = 0
            while not stop.is_set():
                for event in self._events(task_id, after=after, follow=False, timeout=None):
                    after = event.id
                    if event.type == "alert":
                        handler(event)
                    if event.type == FINISHED_EVENT:
                        return
                stop.wait(0.1)

        threading.Thread(target=listen, name=f"loopline-alerts-{task_id}", daemon=True).start()
        return stop.set


def _exists(table: TaskTable, task_id: str) -> bool:
    """Whether any organisation has a task with this id (ids are unique across them)."""
    try:
        table.get(task_id)
    except UnknownTaskError:
        return False
    return True


class _EventReader:
    """Following a task's events, without I/O (the sync and async readers share it): given each batch
    read after `after`, the events to yield and how long to wait before reading again (None: stop, after
    the `finished` event, when not following, or when `timeout` has passed)."""

    def __init__(self, task_id: str, after: int, follow: bool, timeout: float | None) -> None:
        self.task_id = task_id
        self.after = after
        self._follow = follow
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._delay = _POLL

    def take(self, rows: Sequence[TaskEventRow]) -> tuple[list[TaskEvent], float | None]:
        events = []
        for row in rows:
            self.after = row.seq
            events.append(TaskEvent(row.seq, self.task_id, row.type, row.data, row.created_at))
            if row.type == FINISHED_EVENT:
                return events, None
        if rows:
            self._delay = _POLL
            return events, 0.0
        if not self._follow or (self._deadline is not None and time.monotonic() >= self._deadline):
            return events, None
        wait, self._delay = self._delay, min(self._delay * 1.5, 0.5)
        return events, wait
