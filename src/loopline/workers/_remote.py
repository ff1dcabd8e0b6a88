"""A remote worker: `Events(base_url=..., api_key=...)` takes its tasks from a loopline server instead of
the database. It opens a server-sent event stream (`GET /v1/workers/{id}/assignments`) that brings it
`assignment` and `cancel` events, heartbeats over HTTP while it works (the answer names the tasks to
cancel, and those handed to another worker meanwhile), and runs each task with the same `Runner` as a
local worker, on `AssignedTasks`: the agent's steps are committed to the server's store, its events,
progress and result reported to the server.

A stream that breaks is opened again, with backoff and jitter; the server sends the assignments not yet
finished again on every connection, and the worker takes each (task, attempt) once, so none is lost and
none runs twice. A report the server refuses (the task was handed to another worker, this one having
been silent too long) ends the task here without touching it there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx2

from .._http_api import RetryPolicy, json_body
from .._sse import ServerSentEvent, SSEDecoder
from ..errors import LooplineError, StoreUnavailableError, TaskReassignedError, UsageError
from ..executors import describe
from ._assigned_tasks import AssignedTasks
from ._remote_http import Connection, ServerCalls, error_from
from ._run import HandBack, Runner

if TYPE_CHECKING:
    from ._worker import Events

__all__ = ["RemoteWorker", "remote_worker_id"]

log = logging.getLogger("loopline.workers")

_REOPEN = RetryPolicy(base_delay=0.5, max_delay=15.0)
"""Seconds before opening a broken stream again, doubled at each failure up to the most (with jitter)."""
_STREAM_TIMEOUT = httpx2.Timeout(30.0, connect=5.0, read=60.0)
"""A stream silent this long (the server sends a comment every few seconds) is taken for broken."""


def remote_worker_id(name: str | None, executor_id: str | None) -> str:
    """`<host>:<name>` (by default the name is `remote-<pid>`, unique on the host)."""
    return executor_id or f"{socket.gethostname()}:{name or f'remote-{os.getpid()}'}"


class RemoteWorker:
    """The remote side of one `Events`: its stream, its heartbeat and its running tasks."""

    def __init__(self, events: Events, worker_id: str, connection: Connection, calls: ServerCalls,
                 tasks: AssignedTasks) -> None:
        self.events = events
        self.connection = connection
        self.calls = calls
        self.tasks = tasks
        self.worker_id = worker_id
        self._path = f"/v1/workers/{self.worker_id}"
        self._done: set[tuple[str, int]] = set()
        self._lost: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: Runner | None = None
        self._slots: asyncio.Semaphore | None = None
        self.connections = 0
        """How many times the stream was opened (more than once: it broke and was opened again)."""

    async def run(self) -> None:
        """Serve until the worker stops; then hand back what is still running."""
        events = self.events
        assert events._stopped is not None
        self._loop = asyncio.get_running_loop()
        self._runner = Runner(self.tasks, events.agents, events.handler, events.model, self.worker_id,
                              events._run_sync, executors=events.executors, http_policy=events.http_policy,
                              cancelled=lambda task_id: task_id in events._cancelled,
                              handing_back=lambda task_id: task_id in events._handing_back)
        self._slots = asyncio.Semaphore(events.max_sync_workers)
        await asyncio.to_thread(self._first_beat)
        log.info("remote worker %s serving %s from %s", self.worker_id, events._served() or "every agent id",
                 self.connection.base_url)
        events._ready.set()
        restore = events._signals()
        stop_beating = self._start_heartbeat()
        stream = asyncio.create_task(self._follow())
        try:
            done, _ = await asyncio.wait({stream, asyncio.create_task(events._stopped.wait())},
                                         return_when=asyncio.FIRST_COMPLETED)
            if stream in done:
                stream.result()  # a refused key ends the worker with its error
            stream.cancel()
            await events._drain()
        finally:
            stream.cancel()
            with contextlib.suppress(BaseException):
                await stream
            for work in list(events._running.values()):
                work.cancel()
            await asyncio.gather(*events._running.values(), return_exceptions=True)
            await asyncio.to_thread(stop_beating)
            with contextlib.suppress(LooplineError):
                await asyncio.to_thread(self._beat, stopping=True)  # the server hands its tasks on at once
            self.calls.close()
            events._closed.set()
            restore()

    # --- the stream -----------------------------------------------------------------------------

    async def _follow(self) -> None:
        """Keep the assignment stream open; reopen it with backoff and jitter when it breaks."""
        failures = 0
        async with httpx2.AsyncClient(base_url=self.connection.base_url, headers=self.connection.headers(),
                                      timeout=_STREAM_TIMEOUT, trust_env=False) as client:
            while True:
                opened = self.connections
                try:
                    await self._stream(client)
                    reason = "the server ended it"
                except (httpx2.TransportError, StoreUnavailableError) as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self.connections > opened:  # it was up: start again from the shortest wait
                    failures = 0
                wait = _REOPEN.backoff(failures)
                log.warning("remote worker %s lost its stream (%s); opening it again in %.1f s", self.worker_id,
                            reason, wait)
                await asyncio.sleep(wait)
                failures += 1

    async def _stream(self, client: httpx2.AsyncClient) -> None:
        events = self.events
        agents = [] if events._served() is None else sorted({*events.agents, *(events.agent_ids or ())})
        params: dict[str, Any] = {"agent_id": agents,
                                  "executor": sorted(events.executors), "concurrency": events.max_sync_workers}
        async with client.stream("GET", f"{self._path}/assignments", params=params,
                                 headers={"Accept": "text/event-stream"}) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _stream_error(response, self.connection.base_url)
            self.connections += 1
            log.info("SSE connection established for real-time events (worker %s, %s)", self.worker_id,
                     self.connection.base_url)
            decoder = SSEDecoder()
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is not None:
                    self._on_event(event)

    def _on_event(self, event: ServerSentEvent) -> None:
        if event.event == "assignment":
            data = event.json()
            self._assigned(str(data["task"]["id"]), int(data["attempt"]))
        elif event.event == "cancel":
            self._cancel([str(event.json()["task_id"])], False)

    def _assigned(self, task_id: str, attempt: int) -> None:
        """Start the task, once per (task, attempt): a stream opened again sends what is still open."""
        table = self.tasks.http_table
        if (task_id, attempt) in self._done or table.attempts.get(task_id, 0) > attempt:
            return
        running = task_id in self.events._running
        table.attempts[task_id] = attempt
        if running:  # handed back to this same worker in a new attempt: the run goes on under it
            return
        self._lost.discard(task_id)
        self.events._running[task_id] = asyncio.create_task(self._serve(task_id, attempt))

    async def _serve(self, task_id: str, attempt: int) -> None:
        events = self.events
        assert self._runner is not None and self._slots is not None
        work: asyncio.Task[str] | None = None
        try:
            async with self._slots:  # relays of several servers may briefly give it more than it takes at once
                work = asyncio.create_task(self._runner.run(task_id))
                await work
        except HandBack:
            events._mark_handed_back(task_id)
            events._parked.add(task_id)
        except asyncio.CancelledError:
            if work is not None and not work.cancelled():
                raise
            if task_id in self._lost:
                log.warning("remote worker %s stopped task %s: the server handed it to another worker",
                            self.worker_id, task_id)
        except TaskReassignedError as exc:
            log.warning("remote worker %s stopped task %s: %s", self.worker_id, task_id, exc)
        except Exception:
            log.exception("remote worker %s could not run task %s", self.worker_id, task_id)
        finally:
            self.tasks.http_table.forget(task_id)
            self._done.add((task_id, self.tasks.http_table.attempts.get(task_id, attempt)))
            events._running.pop(task_id, None)
            events._cancelled.discard(task_id)

    def _cancel(self, task_ids: list[str], lost: bool) -> None:
        """Stop these running tasks: cancelled (the task ends CANCELLED), or lost (handed to another worker:
        nothing more is written for it here)."""
        events = self.events
        for task_id in task_ids:
            work = events._running.get(task_id)
            if work is None or task_id in events._cancelled or task_id in self._lost:
                continue
            (self._lost if lost else events._cancelled).add(task_id)
            work.cancel()

    # --- heartbeat ------------------------------------------------------------------------------

    def _identity(self, *, stopping: bool = False) -> dict[str, Any]:
        events = self.events
        table = self.tasks.http_table
        return {"name": events.name, "host": socket.gethostname(), "pid": os.getpid(), "lease": events.lease_seconds,
                "agents": events._served(), "concurrency": events.max_sync_workers,
                "executors": {k: describe(v)["input_schema"] for k, v in events.executors.items()},
                "running": [[t, table.attempts.get(t, 0)] for t in sorted(events._running)], "stopping": stopping}

    def _beat(self, *, stopping: bool = False) -> None:
        answer = self.calls.call("POST", f"{self._path}/heartbeat", self._identity(stopping=stopping))
        loop = self._loop
        if loop is not None and not stopping and (answer.get("cancel") or answer.get("lost")):
            loop.call_soon_threadsafe(self._cancel, list(answer.get("cancel") or ()), False)
            loop.call_soon_threadsafe(self._cancel, list(answer.get("lost") or ()), True)

    def _first_beat(self) -> None:
        """Say who this worker is before its stream opens; a server out of reach is waited for (the stream
        says so), a refused key ends the worker."""
        with contextlib.suppress(StoreUnavailableError):
            self._beat()

    def _start_heartbeat(self) -> Callable[[], None]:
        """Heartbeats from a thread of their own, like a local worker's (a busy event loop is not a dead worker)."""
        stop = threading.Event()

        def beat() -> None:
            failures = 0
            while not stop.wait(min(self.events.heartbeat_seconds * (2 ** min(failures, 2)),
                                    self.events.lease_seconds / 2)):
                try:
                    self._beat()
                    failures = 0
                except LooplineError as exc:
                    failures += 1
                    log.warning("remote worker %s could not send its heartbeat (attempt %d): %s", self.worker_id,
                                failures, exc)

        thread = threading.Thread(target=beat, name=f"loopline-heartbeat-{self.worker_id}", daemon=True)
        thread.start()

        def stop_beating() -> None:
            stop.set()
            thread.join()

        return stop_beating


def _stream_error(response: httpx2.Response, server: str) -> Exception:
    """A refused stream: a misuse (a bad key) ends the worker; anything else is waited out."""
    error = error_from(response.status_code, json_body(response), server)
    if isinstance(error, UsageError):
        return error
    return StoreUnavailableError(str(error), store=server)
