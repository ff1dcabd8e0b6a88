"""Running one task, whichever engine handed it over: by a served agent (its execution is the task's,
resumed where the last committed step left it when the task comes back after a crash) or by the
handler. Every path ends the task exactly once, with its result or a named error."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..agent import Agent
from ..errors import ExecutionClaimedError, LooplineError, StoreUnavailableError, UsageError
from ..executors import ExecutableTask, HttpPolicy, IsolatedFailure, memory_for, policy_scope, run_isolated
from ..loop import ExecutionResult, ExecutionStatus
from ..providers import Model, resolve_model
from ..store import settle
from ..tasks import LocalTaskTest, Task, TaskConfig, Tasks
from ._progress import TaskProgress

if TYPE_CHECKING:
    from ._handler import TaskHandler

__all__ = ["HandBack", "Runner", "run_local"]

_TERMINAL = {s.value for s in ExecutionStatus if s.is_terminal}
_THREAD_WAIT = 0.1
_RETRY_FIRST, _RETRY_MOST = 0.5, 15.0
"""Seconds before running a task on after the database was lost, doubled at each failure up to the most."""

log = logging.getLogger("loopline.workers")

T = TypeVar("T")


class HandBack(BaseException):
    """Raised at a step boundary of a task that a stopping worker gives back to the queue."""


@dataclass
class Runner:
    """Runs the tasks a worker takes."""

    tasks: Tasks
    agents: Mapping[str, Agent]
    handler: TaskHandler | None
    model: Model | str | None
    worker_id: str
    run_sync: Callable[[Callable[[], Any]], Awaitable[Any]]
    cancelled: Callable[[str], bool]
    handing_back: Callable[[str], bool] = lambda _: False
    executors: Mapping[str, type[ExecutableTask]] = field(default_factory=dict)
    http_policy: dict[str, Any] = field(default_factory=dict)
    """The worker's own HTTP settings (`allow_private`, `allowed_networks`): a task cannot widen them."""
    models: dict[tuple[str, str], Model] = field(default_factory=dict)
    """Models resolved from names, one per name and wire API (so an SDK client and its connections are
    made once per worker, not once per task)."""

    async def run(self, task_id: str) -> str:
        """Run the task to its end (or to PAUSED); returns its status. Safe to call again for a task that
        was cut short (the engine recovering it): a finished task is left alone, an agent's execution resumed.

        Losing the database (`StoreUnavailableError`) is not the task's failure: the worker waits (with
        backoff, saying so in its log) and runs the task on from what was committed. A tool call whose
        result was not committed counts as interrupted: run again if idempotent, else the task PAUSES for
        a decision. A handler is run again from the start (at least once, as after a crash). Nothing is
        recorded COMPLETED that the store does not hold as done."""
        delay, retry = _RETRY_FIRST, False
        while True:
            try:
                return await self._run_once(task_id, retry=retry)
            except StoreUnavailableError as exc:
                if self.handing_back(task_id):
                    raise HandBack() from exc
                log.warning("worker %s lost the database while running task %s (%s); retrying in %.1f s from what "
                            "was committed", self.worker_id, task_id, exc, delay)
                await asyncio.sleep(delay)
                delay, retry = min(delay * 2, _RETRY_MOST), True

    async def _run_once(self, task_id: str, *, retry: bool) -> str:
        record = await self._io(lambda: self.tasks.table.get(task_id))
        if record["status"] in _TERMINAL or (retry and self._taken_over(record)):
            return str(record["status"])
        if record.get("cancel_requested") or not await self._thread_free(record):
            await self._io(lambda: self.tasks._finish(task_id, "CANCELLED"))
            return "CANCELLED"
        record = await self._io(functools.partial(self._started, task_id, retry=retry, before=record))
        policy = HttpPolicy.from_config(TaskConfig.from_json(record.get("config")), **self.http_policy)
        try:
            with policy_scope(policy, task_id, self.tasks.store):  # what http_request may reach for this task
                await self._dispatch(record)
        except asyncio.CancelledError:
            if self.cancelled(task_id):
                self.tasks._finish(task_id, "CANCELLED")
                return "CANCELLED"
            raise  # the worker is stopping: the task goes back to the engine
        except Exception as exc:
            if self.handing_back(task_id):  # its execution was fenced while the worker stops: not a failure
                raise HandBack() from exc
            await self._io(functools.partial(self._fault, task_id, exc))
        return str((await self._io(lambda: self.tasks.table.get(task_id)))["status"])

    async def _io(self, work: Callable[[], T]) -> T:
        """Bookkeeping on the task's record and store: off the event loop when each call is a round trip to
        a server (PostgreSQL, a remote worker's server), so its other tasks go on meanwhile (see
        `loopline.store.settle`)."""
        return await settle(self.tasks.store, work)

    async def _dispatch(self, record: dict[str, Any]) -> None:
        """The task's executor, its agent, or else the handler runs it."""
        if record.get("kind") == "executor":
            await self._run_executor(record)
        elif record["agent_id"] in self.agents:
            await self._run_agent(record)
        elif self.handler is not None:
            await self._run_handler(record)
        else:
            raise UsageError(f"worker {self.worker_id} has no agent {record['agent_id']!r} and no handler")

    def _taken_over(self, record: dict[str, Any]) -> bool:
        """Whether another worker took the task while this one could not reach the database (it was taken
        for dead): the task is that worker's now."""
        return record["status"] == "RUNNING" and record.get("worker") != self.worker_id

    async def _thread_free(self, record: dict[str, Any]) -> bool:
        """Wait until the tasks created earlier on the same thread have ended; False if cancelled meanwhile.
        Not for an earlier task still queued to continue the thread: the engine gave this task the thread's
        one turn, so that one waits for it (made within the same millisecond, they run in either order). A
        task that started its thread has no earlier task on it: nothing to read."""
        thread_id = record.get("thread_id") if record.get("continues_thread") else None

        def waits() -> bool:
            earlier = self.tasks.table.earlier_unfinished(str(thread_id), record["created_at"], record["id"])
            return any(self._runs_first(task_id, record) for task_id in earlier)

        while thread_id and await self._io(waits):
            if self.cancelled(record["id"]):
                return False
            try:
                await asyncio.sleep(_THREAD_WAIT)
            except asyncio.CancelledError:
                if self.cancelled(record["id"]):
                    return False
                raise
        return True

    def _runs_first(self, task_id: str, record: dict[str, Any]) -> bool:
        """Whether the earlier task `task_id` of the thread goes before `record`'s: always, unless it is still
        queued on the same engine queue (whose one turn for the thread went to this task). One queued for
        another agent or executor starts on its own queue, so this task waits for it."""
        earlier = self.tasks.table.get(task_id)
        same_queue = (earlier["agent_id"], earlier.get("kind")) == (record["agent_id"], record.get("kind"))
        return not (same_queue and earlier.get("continues_thread") and earlier["status"] == "PENDING")

    def _started(self, task_id: str, *, retry: bool, before: dict[str, Any]) -> dict[str, Any]:
        """The task RUNNING on this worker, with its event in the same write: `before` is its record as read
        just now (RUNNING: a worker died with it, and this one takes over)."""
        attempt = int(before.get("attempts") or 0) + 1
        event: tuple[str, dict[str, Any]]
        if retry:
            event = ("log", {"level": "warning", "message": f"worker {self.worker_id} runs the task on after losing "
                             "the database"})
        elif before.get("status") == "RUNNING":
            event = ("recovered", {"worker": self.worker_id, "previous_worker": before.get("worker"),
                                   "attempt": attempt})
        else:
            event = ("status", {"status": "RUNNING", "worker": self.worker_id})

        def change(record: dict[str, Any]) -> dict[str, Any]:
            record.update(status="RUNNING", worker=self.worker_id, attempts=int(record.get("attempts") or 0) + 1,
                          started_at=record.get("started_at") or time.time())
            return record

        return self.tasks.table.update(task_id, change, events=[event])

    async def _run_handler(self, record: dict[str, Any]) -> None:
        assert self.handler is not None
        task = Task(record, self.tasks)
        result = await self.handler.handle(task, run_sync=self.run_sync)
        self.tasks._finish(record["id"], "COMPLETED", result=_json_safe(result))

    async def _run_agent(self, record: dict[str, Any]) -> None:
        task_id = record["id"]
        config = TaskConfig.from_json(record.get("config"))
        served = self.agents[record["agent_id"]]
        agent = served.copy(store=self.tasks.store, config=config.run_config(served.config))
        model = self._model(config, agent)
        schema = record.get("output_schema") if record.get("output_format") == "json" else None
        execution_id = record.get("execution_id") or await self._io(lambda: self._unrecorded_execution(record))
        if execution_id:
            execution = await self._io(lambda: self.tasks.store.get_execution(execution_id))
            if execution.is_finished:
                await self._io(lambda: self._ended(task_id, execution.to_result()))
                return
            # The engine saw its worker die; commit fencing stops a zombie. Off the event loop: resuming re-runs
            # interrupted idempotent calls, and the worker's heartbeat must go on meanwhile.
            await self.run_sync(lambda: agent.resume(execution_id, force=True))
        else:
            files = list(record["input"].get("file_urls") or ()) or None
            execution = await self.run_sync(lambda: agent.add_task(
                record["input"]["text"] or "(see the attached files)", thread_id=record.get("thread_id"),
                files=files, output_schema=schema, wait=60.0))
            recorded = {"execution_id": execution.id, "thread_id": execution.thread_id}
            await self._io(lambda: self.tasks.table.update(task_id, lambda r: {**r, "execution_id": execution.id},
                                                           events=[("execution", recorded)]))  # one write
        progress = TaskProgress(self.tasks, task_id, self.tasks.store, cancelled=lambda: self.cancelled(task_id),
                                handing_back=lambda: self.handing_back(task_id), hand_back=HandBack,
                                detailed=bool(record.get("events_streaming", True)))
        result = await agent.arun(model=model, progress=progress)
        await self._io(lambda: self._ended(task_id, result))

    async def _run_executor(self, record: dict[str, Any]) -> None:
        """A fresh instance of the executor runs the task's inputs; cancelling the task calls its `cancel()`."""
        task_id = record["id"]
        cls = self.executors.get(record["executor"])
        if cls is None:
            raise UsageError(f"worker {self.worker_id} does not run executor {record['executor']!r}")
        config = TaskConfig.from_json(record.get("config"))
        instance = cls()
        inputs = dict(record.get("inputs") or {})
        isolated = config.max_memory_mb is not None or bool(getattr(cls, "isolated", False))
        memory = memory_for(self.tasks.store, task_id=task_id, executor_id=record["executor"],
                            memory_scope=config.memory_scope)
        instance.memory = None if isolated else memory
        try:
            await self._execute(task_id, record, config, instance, inputs, isolated=isolated)
        finally:
            if memory.scope == "execution":  # session memory ends with the task
                memory.clear()

    async def _execute(self, task_id: str, record: dict[str, Any], config: TaskConfig, instance: ExecutableTask,
                       inputs: dict[str, Any], *, isolated: bool) -> None:
        cls = type(instance)
        job = asyncio.ensure_future(run_isolated(cls, inputs, max_memory_mb=config.max_memory_mb) if isolated
                                    else instance.execute(inputs))
        deadline = None if config.max_duration_seconds is None else time.monotonic() + config.max_duration_seconds
        try:
            while not job.done():
                await asyncio.wait({job}, timeout=0.2)
                stop = self.cancelled(task_id) or self.handing_back(task_id)
                late = deadline is not None and time.monotonic() > deadline and not job.done()
                if (stop or late) and not job.done():
                    await _stop_executor(instance, job, isolated=isolated)
                    if late and not stop:
                        self.tasks._finish(task_id, "FAILED", error={
                            "type": "ExecutorTimeout", "code": "max_duration", "message": f"executor "
                            f"{record['executor']!r} ran past max_duration_seconds={config.max_duration_seconds:g}"})
                        return
                    raise HandBack() if self.handing_back(task_id) else asyncio.CancelledError()
        except asyncio.CancelledError:  # the worker stopping under it: the executor still gets to clean up
            if not job.done() or job.cancelled():  # (at the loop's end, `execute` is cancelled with the rest)
                await _stop_executor(instance, job, isolated=isolated)
            raise
        try:
            result = job.result()
        except IsolatedFailure as exc:
            self.tasks._finish(task_id, "FAILED", error={"type": exc.error_type or "ExecutorFailed", "code": exc.code,
                                                         "message": str(exc), "traceback": exc.trace})
            return
        if isinstance(result, dict) and result.get("status") == "failed":
            self.tasks._finish(task_id, "FAILED", result=_json_safe(result), error={
                "type": "ExecutorFailed", "code": "executor_failed",
                "message": str(result.get("error") or "the executor reported failure")})
            return
        self.tasks._finish(task_id, "COMPLETED", result=_json_safe(result))

    def _unrecorded_execution(self, record: dict[str, Any]) -> str | None:
        """The execution an earlier attempt started but was killed before recording on the task: on the
        task's thread, begun after the task first started (earlier tasks of the thread had ended by then,
        later ones wait for this one). Recorded now, so it is resumed instead of started a second time."""
        if int(record.get("attempts") or 0) < 2 or not record.get("thread_id") or not record.get("started_at"):
            return None
        found = [e for e in self.tasks.store.list_executions(thread_id=record["thread_id"], limit=None)
                 if e.created_at >= record["started_at"]]
        if not found:
            return None
        execution_id = found[-1].id  # the oldest: newest come first
        self.tasks.table.update(record["id"], lambda r: {**r, "execution_id": execution_id})
        self.tasks._event(record["id"], "execution", {"execution_id": execution_id, "thread_id": record["thread_id"]})
        return execution_id

    def _model(self, config: TaskConfig, agent: Agent) -> Model:
        chosen = config.model or self.model
        if chosen is None:
            raise UsageError("no model to run the agent with: give the worker one (Events(model=...), --model, the "
                             "file's MODEL or LOOPLINE_MODEL), or the task (TaskConfig(model=...))")
        if not isinstance(chosen, str):
            return chosen
        key = (chosen, agent.llm_provider.value)
        if key not in self.models:
            self.models[key] = resolve_model(chosen, default_provider=agent.llm_provider)
        return self.models[key]

    def _ended(self, task_id: str, result: ExecutionResult) -> None:
        status = result.status.value
        if status == "PAUSED":
            def change(record: dict[str, Any]) -> dict[str, Any]:
                record.update(status="PAUSED",
                              current_action="waiting for a decision (approval or an interrupted call)")
                return record

            self.tasks.table.update(task_id, change)
            self.tasks._event(task_id, "status", {"status": "PAUSED", "execution_id": result.execution_id})
            return
        error = None if result.error is None else {"type": "ExecutionFailed", "message": result.error,
                                                   "code": result.error_code}
        self.tasks._finish(task_id, status, result=_json_safe(result.result) if status == "COMPLETED" else None,
                           error=error, usage={"input_tokens": result.usage.input_tokens,
                                               "output_tokens": result.usage.output_tokens},
                           cost_usd=result.cost_usd, steps=result.steps)

    def _fault(self, task_id: str, exc: Exception) -> None:
        if isinstance(exc, StoreUnavailableError):
            raise exc  # not the task's failure: `run` tries again
        if isinstance(exc, ExecutionClaimedError):
            self._lost(task_id, exc)
        else:
            self._failed(task_id, exc)

    def _lost(self, task_id: str, exc: ExecutionClaimedError) -> None:
        """This worker's write of the task's execution was refused: another worker took it over (this
        one was taken for dead), or someone ended it. Not a failure of the task: the execution's own end
        is the task's, and an execution another worker runs is left to that worker."""
        execution = self.tasks.store.get_execution(exc.execution_id)
        if execution.is_finished:
            self._ended(task_id, execution.to_result())
            return
        self.tasks._event(task_id, "log", {"level": "warning", "message": f"worker {self.worker_id} lost the "
                                           f"task's execution to another worker: {exc}"})

    def _failed(self, task_id: str, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc))
        self.tasks._event(task_id, "log", {"level": "error", "message": f"{type(exc).__name__}: {exc}",
                                           "traceback": text})
        code = "loopline_error" if isinstance(exc, LooplineError) else "handler_error"
        self.tasks._finish(task_id, "FAILED", error={"type": type(exc).__name__, "message": str(exc), "code": code,
                                                     "traceback": text})


async def _stop_executor(instance: ExecutableTask, job: asyncio.Future[Any], *, isolated: bool) -> None:
    """Call the executor's `cancel()` (to stop what it started elsewhere), then end its `execute` (an
    isolated one's by killing its process, where its own `cancel()` cannot reach)."""
    try:
        if not isolated:
            await instance.cancel()
    finally:
        job.cancel()
        with contextlib.suppress(BaseException):
            await job


def _json_safe(value: Any) -> Any:
    """The value as stored JSON: pydantic models by their dump, anything else unknown as its text."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


async def run_local(handler: TaskHandler, test: LocalTaskTest, tasks: Tasks) -> Task:
    """Run `handler` on the test task in this process: no worker, no engine."""
    record = tasks._new_record(test.agent_id, test.input, file_urls=test.file_urls, thread_id=None,
                               events_streaming=True, output_format=test.output_format,
                               output_schema=test.output_schema, priority=0, config=test.config, idempotency_key=None)
    record["thread_id"] = tasks.store.create_thread(metadata={"task_id": record["id"]})
    tasks.table.insert(record)
    runner = Runner(tasks, {}, handler, None, "local-test", asyncio.to_thread, cancelled=lambda _: False)
    await runner.run(record["id"])
    return tasks.get(record["id"])
