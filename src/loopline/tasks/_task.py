"""`Task`: one unit of work handed to a worker, as its creator and its handler see it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import TaskFailedError, TaskTimeoutError, UsageError
from ..loop import ExecutionStatus
from ._config import TaskConfig

if TYPE_CHECKING:
    from ._tasks import Tasks

__all__ = ["FINISHED_EVENT", "LocalTaskTest", "Task", "TaskEvent", "TaskInput"]

FINISHED_EVENT = "finished"
"""The last event of every task: its final status, result or error."""
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class TaskInput:
    """What the task asks: the prompt, and files by URL (stored, fetched by whoever runs the task)."""

    text: str = ""
    file_urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "file_urls": list(self.file_urls)}


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One stored event of a task; `id` increases by one per event of the task (the SSE id)."""

    id: int
    task_id: str
    type: str
    """`status`, `step`, `tool_call`, `tool_result`, `usage`, `progress`, `alert`, `log`, `finished`."""
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class LocalTaskTest:
    """A task to run a handler on in this process, with no worker and no engine (`handler.test()`)."""

    input: str
    agent_id: str = "local-test"
    file_urls: tuple[str, ...] = ()
    output_format: str = "text"
    output_schema: dict[str, Any] | None = None
    config: TaskConfig = field(default_factory=TaskConfig)


class Task:
    """A task and its state: `status` (the executions' words: PENDING, RUNNING, PAUSED, COMPLETED,
    FAILED, CANCELLED), `result`, `error`, `progress` and `current_action`, kept up to date by the
    worker. Get one from `Tasks.create` / `Tasks.get`; a handler gets one as its `task` argument.

    Changing `status`, `result`, `progress` or `current_action` (directly or with `set_status`) and
    calling `save()` writes them; `refresh()` reads the stored state again.
    """

    def __init__(self, record: dict[str, Any], tasks: Tasks) -> None:
        self._tasks = tasks
        self._load(record)

    def _load(self, record: dict[str, Any]) -> None:
        self._record = record
        self.id: str = record["id"]
        self.agent_id: str = record["agent_id"]
        self.organization_id: str = record.get("organization_id", "")
        self.status: str = record["status"]
        self.input = TaskInput(record["input"].get("text", ""), tuple(record["input"].get("file_urls", ())))
        self.thread_id: str | None = record.get("thread_id")
        self.execution_id: str | None = record.get("execution_id")
        self.result: Any = record.get("result")
        self.error: dict[str, Any] | None = record.get("error")
        self.progress: float | None = record.get("progress")
        self.current_action: str | None = record.get("current_action")
        self.output_format: str = record.get("output_format", "text")
        self.output_schema: dict[str, Any] | None = record.get("output_schema")
        self.priority: int = record.get("priority", 0)
        self.events_streaming: bool = record.get("events_streaming", True)
        self.idempotency_key: str | None = record.get("idempotency_key")
        self.config = TaskConfig.from_json(record.get("config"))
        self.created_at: float = record["created_at"]
        self.updated_at: float = record["updated_at"]
        self.started_at: float | None = record.get("started_at")
        self.finished_at: float | None = record.get("finished_at")
        self.worker: str | None = record.get("worker")
        self.used_tools: list[str] = list(record.get("used_tools") or ())

    def __repr__(self) -> str:
        return f"Task(id={self.id!r}, agent_id={self.agent_id!r}, status={self.status!r})"

    @property
    def is_finished(self) -> bool:
        return ExecutionStatus(self.status).is_terminal

    def to_json(self) -> dict[str, Any]:
        """The stored record (as the CLI's `--json` and the HTTP API show it)."""
        return dict(self._record)

    # --- changing it --------------------------------------------------------------------------------

    def set_status(self, status: str | ExecutionStatus) -> Task:
        """Set the status to write with `save()`; `CANCELLED` then cancels the task."""
        self.status = ExecutionStatus(status).value if not isinstance(status, ExecutionStatus) else status.value
        return self

    def save(self) -> Task:
        """Write `status`, `result`, `error`, `progress` and `current_action` as set on this object."""
        self._load(self._tasks._save(self))
        return self

    def refresh(self) -> Task:
        """Read the task's stored state again."""
        self._load(self._tasks._record(self.id))
        return self

    def cancel(self) -> Task:
        """Cancel it: taken off the queue if it has not started; stopped at its next step if running
        (calls already running are recorded as interrupted); ended with its execution if PAUSED. A
        finished task is left as it is."""
        self._load(self._tasks._cancel(self.id))
        return self

    def report(self, *, progress: float | None = None, current_action: str | None = None) -> None:
        """From a handler: how far it is (0 to 1) and what it does now, written at once."""
        self._load(self._tasks._report(self.id, progress=progress, current_action=current_action))

    def alert(self, message: str, *, level: str = "warning", **data: Any) -> None:
        """From a handler: an alert event for whoever watches the task (`execution.on_alert`)."""
        self._tasks._event(self.id, "alert", {"message": message, "level": level, **data})

    # --- waiting for it -----------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Task:
        """Block until the task ends; returns it (refreshed). `TaskTimeoutError` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _POLL
        while not self.refresh().is_finished:
            if deadline is not None and time.monotonic() >= deadline:
                raise TaskTimeoutError(f"task {self.id} did not end within {timeout:g} s (it is {self.status})",
                                       task_id=self.id, status=self.status)
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.5)
        return self

    async def await_result(self, timeout: float | None = None) -> Any:
        """Wait (without blocking the event loop) for the task to end; its result, or `TaskFailedError`."""
        await asyncio.to_thread(self.wait, timeout)
        return self.result_or_raise()

    def result_or_raise(self) -> Any:
        """The result of a COMPLETED task; `TaskFailedError` for a FAILED or CANCELLED one."""
        if self.status == ExecutionStatus.COMPLETED.value:
            return self.result
        if not self.is_finished:
            raise UsageError(f"task {self.id} has not ended ({self.status}); wait() for it first")
        message = (self.error or {}).get("message") or self.status.lower()
        raise TaskFailedError(f"task {self.id} ended {self.status}: {message}", task_id=self.id, status=self.status,
                              error=self.error)

    # --- its events ---------------------------------------------------------------------------------

    def events(self, *, after: int = 0, follow: bool = True, timeout: float | None = None) -> Iterator[TaskEvent]:
        """Its events numbered above `after` (0: from the first); with `follow`, live ones as they are
        written until the `finished` event (or `timeout` seconds of waiting)."""
        return self._tasks._events(self.id, after=after, follow=follow, timeout=timeout)

    async def aevents(self, *, after: int = 0, follow: bool = True,
                      timeout: float | None = None) -> AsyncIterator[TaskEvent]:
        """`events` for asyncio: `async for event in task.aevents(): ...`."""
        async for event in self._tasks._aevents(self.id, after=after, follow=follow, timeout=timeout):
            yield event

    def on_alert(self, handler: Callable[[TaskEvent], Any]) -> Callable[[], None]:
        """Call `handler` (in a background thread) for each alert the task's handler emits, until the
        task ends; returns a function that stops listening."""
        return self._tasks._on_alert(self.id, handler)

    @classmethod
    def report_external_task(cls, *, agent_id: str, id: str | None = None, input: str = "", result: Any = None,
                             duration: float | None = None, used_tools: list[str] | None = None,
                             status: str = "COMPLETED", error: str | None = None, thread_id: str | None = None,
                             tasks: Tasks | None = None) -> Task:
        """Record a task that ran elsewhere (another system, by hand), so it is listed with the rest."""
        from ._tasks import Tasks

        return (tasks or Tasks()).report_external_task(agent_id=agent_id, id=id, input=input, result=result,
                                                      duration=duration, used_tools=used_tools, status=status,
                                                      error=error, thread_id=thread_id)
