"""`Events`: a worker process's loop. It takes tasks from the engine's queues, runs each with the agent
of its agent id (or the handler), heartbeats so others know it is alive, recovers the tasks of workers
whose heartbeat lapsed, and stops gracefully (SIGINT / SIGTERM / `stop()`): running tasks get a grace
period to finish, then are handed back at their next step, and no task is left RUNNING with no process
behind it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..agent import Agent
from ..errors import StoreError, UsageError
from ..executors import ExecutableTask, describe, load_entry_points, registered_executors
from ..providers import Model
from ..store import Store, owner_is_gone, process_owner
from ..tasks import Tasks, engine_url, live_workers
from ._assigned_tasks import AssignedTasks
from ._handler import TaskHandler, on_task
from ._remote import RemoteWorker, remote_worker_id
from ._remote_http import Connection, ServerCalls
from ._run import HandBack, Runner

__all__ = ["Events"]

log = logging.getLogger("loopline.workers")


class Events:
    """A worker: `await Events(agents=[researcher]).start()` runs tasks until `stop()` or a signal.

    Args:
        location: The database (a SQLite path or `postgresql://` URL); the default store otherwise.
        agents: Agents whose tasks this worker runs (a task's `agent_id` is an agent's name).
        model: The model the agents run with (a name or a `Model`); else `LOOPLINE_MODEL`. A task's
            `TaskConfig(model=...)` overrides it.
        agent_ids: Agent ids the handler serves; by default a worker with a handler serves every agent
            id (those of `agents` go to the agents).
        name: The worker's name; its executor id (stable across restarts, which is how its unfinished
            tasks are recovered when it comes back) is `<host>:<name>`. By default `worker-1`,
            `worker-2`, ...: the first not used by a live worker on this host.
        max_sync_workers: Tasks this worker runs at once (sync handlers run in threads).
        grace_seconds: On stop, how long running tasks may take to finish before they are handed back.
        heartbeat_seconds / lease_seconds: How often the worker says it is alive, and after how long
            without a word others take its tasks.
        executors: The executors it runs (`ExecutableTask` classes); by default every registered one,
            the built-in `http_request` included.
        allow_private_addresses / allowed_networks: What the HTTP policy of its tasks may reach beyond
            the public internet (private and loopback addresses, or only these networks): the worker's
            choice, never a task's.
        on_execution_request: The handler (`@on_task`, or any function taking `task`) for tasks no served
            agent runs, so that `async with Events(on_execution_request=handle):` serves it too.
        base_url / api_key / organization_id: A remote worker: it takes its tasks from the loopline server
            at `base_url` (over server-sent events) instead of the database, and its agents' steps, events
            and results are stored there; without a location or store, `LOOPLINE_BASE_URL`,
            `LOOPLINE_API_KEY` and `LOOPLINE_ORGANIZATION_ID` configure it (and `LOOPLINE_AGENT_ID` the
            agent id its handler serves, when `agent_ids` is not given).
    """

    def __init__(self, location: str | None = None, *, store: Store | None = None, agents: Iterable[Agent] = (),
                 model: Model | str | None = None, agent_ids: Iterable[str] | None = None, name: str | None = None,
                 executor_id: str | None = None, max_sync_workers: int = 8, grace_seconds: float = 30.0,
                 heartbeat_seconds: float = 2.0, lease_seconds: float = 10.0,
                 executors: Iterable[type[ExecutableTask]] | None = None, allow_private_addresses: bool = False,
                 allowed_networks: Iterable[str] = (), on_execution_request: Callable[..., Any] | None = None,
                 base_url: str | None = None, api_key: str | None = None, organization_id: str | None = None) -> None:
        self.remote: RemoteWorker | None = None
        connection = None if location is not None or store is not None else Connection.configured(
            base_url, api_key, organization_id)
        if connection is None and base_url is not None:
            raise UsageError("Events takes a base_url (a remote worker) or a database (location / store), not both")
        if connection is None:
            self.tasks = Tasks(location, store=store)
        else:  # a remote worker: its tasks, store and reports go through the server
            executor_id = remote_worker_id(name, executor_id)
            calls = ServerCalls(connection)
            self.tasks = AssignedTasks(calls, executor_id)
            self.remote = RemoteWorker(self, executor_id, connection, calls, self.tasks)
        self.agents: dict[str, Agent] = {}
        for agent in agents:
            if not isinstance(agent, Agent):
                raise UsageError(f"Events(agents=...) takes loopline Agents, got {type(agent).__name__}")
            if agent.name in self.agents:
                raise UsageError(f"two agents named {agent.name!r}: a task's agent_id must name one agent")
            self.agents[agent.name] = agent
        self.model = model if model is not None else (os.environ.get("LOOPLINE_MODEL") or None)
        self.agent_ids = None if agent_ids is None else sorted(set(agent_ids))
        if self.remote is not None and agent_ids is None and os.environ.get("LOOPLINE_AGENT_ID"):
            self.agent_ids = [os.environ["LOOPLINE_AGENT_ID"]]  # the agent id a remote handler serves
        if isinstance(max_sync_workers, bool) or not isinstance(max_sync_workers, int) or max_sync_workers < 1:
            raise UsageError(f"max_sync_workers takes a whole number, 1 or more, got {max_sync_workers!r}")
        if not 0 < heartbeat_seconds < lease_seconds:
            raise UsageError("heartbeat_seconds must be above 0 and below lease_seconds")
        self.max_sync_workers = max_sync_workers
        self.grace_seconds = grace_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_seconds = lease_seconds
        self.name = name
        self.executor_id = executor_id
        self.handler: TaskHandler | None = None if on_execution_request is None else _handler(on_execution_request)
        self._executor_choice = None if executors is None else list(executors)
        self.http_policy = {"allow_private": bool(allow_private_addresses), "allowed_networks": tuple(allowed_networks)}
        self.executors: dict[str, type[ExecutableTask]] = {}
        self._stopping = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._cancelled: set[str] = set()
        self._handing_back: set[str] = set()
        self._parked: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._process = ""
        self._quiet_until = 0.0
        self._unlisted: dict[str, float] = {}  # executor id -> when first seen with tasks in flight and no row
        """Until when this worker takes no other worker for dead: it was cut off itself (see `_recover_dead`)."""
        self.recovered = 0

    def __repr__(self) -> str:
        return f"Events(name={self.name!r}, agents={sorted(self.agents)}, executor_id={self.executor_id!r})"

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, on_execution_request: Callable[..., Any] | None = None) -> None:
        """Run tasks until `stop()` (or SIGINT / SIGTERM in the main thread). `on_execution_request`:
        the handler (`@on_task`, or any function taking `task`) for tasks no served agent runs."""
        if on_execution_request is not None:
            self.handler = _handler(on_execution_request)
        self.executors = _served_executors(self._executor_choice)
        if not self.agents and self.handler is None and not self.executors:
            raise UsageError("a worker needs agents (Events(agents=[...])), a handler "
                             "(start(on_execution_request=...)) or executors (@executor_register) to serve")
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._closed = asyncio.Event()
        self._stopping.clear()
        if self.remote is not None:
            await self.remote.run()
            return
        self._claim_identity()
        from ._dbos import DBOSWorker

        engine = DBOSWorker(engine_url(self.tasks.store), str(self.executor_id))
        served = self._served()
        runner = Runner(self.tasks, self.agents, self.handler, self.model, str(self.executor_id), self._run_sync,
                        executors=self.executors, http_policy=self.http_policy,
                        cancelled=lambda task_id: task_id in self._cancelled,
                        handing_back=lambda task_id: task_id in self._handing_back)
        agent_ids = None if served is None else sorted({*self.agents, *(self.agent_ids or ())})
        await engine.launch(lambda task_id: self._serve(runner, task_id), agent_ids, self.max_sync_workers,
                            sorted(self.executors), known=sorted({*self.agents, *(self.agent_ids or ())}))
        log.info("worker %s serving %s", self.executor_id, served or "every agent id")
        self._ready.set()
        restore = self._signals()
        stop_beating = self._start_heartbeat()
        duties = [asyncio.create_task(self._watchdog(engine)), asyncio.create_task(self._watch_cancels())]
        try:
            await self._stopped.wait()
            await self._drain()
        finally:
            for duty in duties:
                duty.cancel()
            await asyncio.gather(*duties, return_exceptions=True)
            await asyncio.to_thread(stop_beating)  # before the last beat, which says the worker stopped
            self._settle_handed_back()
            with contextlib.suppress(Exception):
                self.tasks.table.beat(str(self.executor_id), self._identity(), at=0.0)  # others recover at once
            await engine.destroy()
            self._closed.set()  # parked tasks end now, unrecorded: the engine keeps them for recovery
            restore()

    def stop(self) -> None:
        """Stop taking tasks and end `start()` (thread-safe; running tasks get `grace_seconds`)."""
        self._stopping.set()
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)

    async def __aenter__(self) -> Events:
        """Start the worker in the background (`async with Events(...) as events:`); stopped at exit."""
        self._ready = asyncio.Event()
        self._background = asyncio.create_task(self.start(self.handler))
        waiting = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({self._background, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if self._background in done:
            waiting.cancel()
            self._background.result()  # raises what start raised
        return self

    async def wait(self) -> None:
        """Inside `async with Events() as events:`, block until the worker stops (`stop()`, SIGINT or
        SIGTERM), so a program serves until it is told to stop; raises what ended it otherwise."""
        if self._background is not None:
            await asyncio.shield(self._background)

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        if self._background is not None:
            await self._background

    def run(self, on_execution_request: Callable[..., Any] | None = None) -> None:
        """`start` for a script: blocks until stopped."""
        asyncio.run(self.start(on_execution_request))

    # --- one task ----------------------------------------------------------------------------------

    async def _serve(self, runner: Runner, task_id: str) -> str:
        if self._stopping.is_set():
            return await self._park(task_id)
        work = asyncio.create_task(runner.run(task_id))  # a task of its own, so a cancel stops it alone
        self._running[task_id] = work
        try:
            return await work
        except HandBack:
            return await self._park(task_id)
        finally:
            self._running.pop(task_id, None)
            self._cancelled.discard(task_id)

    async def _park(self, task_id: str) -> str:
        """A task handed back: recorded PENDING, and its workflow left unfinished in the engine (so the
        workers that recover this one's tasks run it), until the process stops."""
        self._handing_back.add(task_id)
        self._parked.add(task_id)
        self._mark_handed_back(task_id)
        # Not returning: the engine would record the workflow done. Not "wait until cancelled" either: the
        # cancellation at exit may already have been spent cutting the task's step short, and a second one
        # never comes. CancelledError is what the engine does not record.
        await self._closed.wait()
        raise asyncio.CancelledError(f"task {task_id} was handed back")

    def _mark_handed_back(self, task_id: str) -> None:
        action = "handed back by a stopping worker"
        marked = False

        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal marked
            if record["status"] not in ("RUNNING", "PENDING") or (
                    record["status"] == "PENDING" and record.get("current_action") == action):
                return None  # ended, or already handed back (parked, then settled as the worker stops)
            marked = True
            record.update(status="PENDING", current_action=action)
            return record

        with contextlib.suppress(Exception):
            self.tasks.table.update(task_id, change)
            if marked:
                self.tasks._event(task_id, "handed_back", {"worker": self.executor_id})

    async def _run_sync(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(fn)

    async def _drain(self) -> None:
        """Let running tasks finish for `grace_seconds`, then hand the rest back at their next step."""
        deadline = time.monotonic() + self.grace_seconds
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._handing_back.update(self._running)
        until = time.monotonic() + 5.0
        while any(t not in self._parked for t in self._running) and time.monotonic() < until:  # at a step's end
            await asyncio.sleep(0.05)

    def _settle_handed_back(self) -> None:
        """Tasks still mid-step when the worker stops: their executions are fenced (this process's late
        writes are refused), and they are recorded PENDING for the worker that recovers them."""
        fence = process_owner("handback")
        for task_id in list(self._running):
            with contextlib.suppress(Exception):
                execution_id = self.tasks.table.get(task_id).get("execution_id")
                if execution_id:
                    self.tasks.store.claim_execution(execution_id, owner=fence, lease_seconds=self.lease_seconds,
                                                     force=True)
                self._mark_handed_back(task_id)

    # --- liveness, recovery, cancellation -------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(), "lease": self.lease_seconds,
                "process": self._process, "agents": self._served(),
                "executors": {k: describe(v)["input_schema"] for k, v in self.executors.items()},
                "running": sorted(self._running), "started_at": getattr(self, "_started_at", None)}

    def _served(self) -> list[str] | None:
        """The agent and executor ids this worker takes tasks of (None: every id, for a catch-all handler)."""
        if self.handler is not None and self.agent_ids is None:
            return None
        return sorted({*self.agents, *(self.agent_ids or ()), *self.executors})

    def _claim_identity(self) -> None:
        """Settle the name and executor id; refuse one a live worker uses. A worker whose heartbeat is
        fresh but whose process on this host is gone (killed, then restarted at once under its name) is
        not live: the restarted worker takes its executor id back, and with it its unfinished tasks."""
        host = socket.gethostname()
        self._process = process_owner("worker")
        live = {w["id"] for w in live_workers(self.tasks.table, lease=self.lease_seconds)
                if not owner_is_gone(str(w.get("process") or ""))}
        if self.executor_id is None:
            if self.name is None:
                n = 1
                while f"{host}:worker-{n}" in live:
                    n += 1
                self.name = f"worker-{n}"
            self.executor_id = f"{host}:{self.name}"
        elif self.name is None:
            self.name = self.executor_id
        if self.executor_id in live:
            raise UsageError(f"a live worker already runs as {self.executor_id}: give this one another name "
                             "(Events(name=...), loopline worker --name)")
        self._started_at = time.time()
        self.tasks.table.beat(self.executor_id, self._identity())

    def _start_heartbeat(self) -> Callable[[], None]:
        """Heartbeats from a thread of their own, so a worker whose event loop is busy is not taken for
        dead: the steps of many tasks share that loop, and under load it went seconds between turns (4
        workers of 32 tasks on 2 cores: others recovered tasks that were still running, and both ended
        them). Returns what stops the thread."""
        stop = threading.Event()
        thread = threading.Thread(target=self._heartbeat, args=(stop,), name=f"loopline-heartbeat-{self.name}",
                                  daemon=True)
        thread.start()

        def stop_beating() -> None:
            stop.set()
            thread.join()

        return stop_beating

    def _heartbeat(self, stop: threading.Event) -> None:
        failures, last = 0, time.time()
        while not stop.is_set():
            try:
                self.tasks.table.beat(str(self.executor_id), self._identity())
                now = time.time()
                if failures or now - last > self.lease_seconds:
                    # The others may have been cut off as long, and their connection pools back off as long again.
                    quiet = max(self.lease_seconds, now - last)
                    self._quiet_until = max(self._quiet_until, now + quiet)
                    log.warning("worker %s reaches the database again after %.1f s; it takes no other worker's "
                                "tasks for %.1f s, while the others reconnect", self.executor_id, now - last, quiet)
                failures, last = 0, now
            except StoreError as exc:
                failures += 1
                log.warning("worker %s cannot write its heartbeat (attempt %d): %s; retrying",
                            self.executor_id, failures, exc)
            stop.wait(min(self.heartbeat_seconds * (2 ** min(failures, 3)), self.lease_seconds / 2))

    async def _watchdog(self, engine: Any) -> None:
        """Recover the tasks of workers whose heartbeat lapsed (or that said they stopped)."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._recover_dead(engine)
                await asyncio.to_thread(self.tasks.advance_trees)  # in case a node's worker died as it ended
            except Exception as exc:
                log.warning("worker %s could not check for dead workers: %s", self.executor_id, exc)

    async def _recover_dead(self, engine: Any) -> None:
        """Recover workers whose heartbeat lapsed, unless this one's own lapsed too, or did lately: then
        the database was out of reach for all (its connections cut, or none to be had), and the others
        are as alive as this one; they get time to reconnect and beat again (`_heartbeat` sets how long)."""
        rows = await asyncio.to_thread(self.tasks.table.workers)
        now = time.time()
        own = next((r for r in rows if r.id == self.executor_id), None)
        if own is None or now - own.heartbeat_at > self.lease_seconds:
            self._quiet_until = max(self._quiet_until, now + self.lease_seconds)
        if now < self._quiet_until:
            return
        for row in rows:
            lease = float(row.data.get("lease", self.lease_seconds))
            if row.id == self.executor_id or now - row.heartbeat_at <= lease:
                continue
            count = await engine.recover([row.id])  # what this call handed back: racing workers count each once
            self.recovered += count
            if count:
                log.warning("worker %s recovered %d task(s) of %s (no heartbeat for %.0f s)",
                            self.executor_id, count, row.id, now - row.heartbeat_at)
            await asyncio.to_thread(self.tasks.table.forget_worker, row.id, heartbeat_at=row.heartbeat_at)
        await self._recover_unlisted(engine, {r.id for r in rows}, now)

    async def _recover_unlisted(self, engine: Any, listed: set[str], now: float) -> None:
        """Recover workers that have tasks in flight but no heartbeat row at all (one taken for dead and
        forgotten, that took a task before its next beat and then died): seen so for a whole lease, since a
        live one writes its row again within a heartbeat."""
        unlisted = await engine.pending_executors() - listed - {self.executor_id}
        self._unlisted = {e: self._unlisted.get(e, now) for e in unlisted}
        for executor_id, since in self._unlisted.items():
            if now - since > self.lease_seconds:
                count = await engine.recover([executor_id])
                self.recovered += count
                if count:
                    log.warning("worker %s recovered %d task(s) of %s (tasks in flight, no heartbeat row)",
                                self.executor_id, count, executor_id)

    async def _watch_cancels(self) -> None:
        """Every 0.2 s, which running tasks were asked to cancel (in one query: one per task was five reads a
        second for each running task), and stop those at once, so calls running now are recorded as interrupted."""
        while True:
            await asyncio.sleep(0.2)
            running = dict(self._running)
            if not running:
                continue
            with contextlib.suppress(Exception):
                for task_id in await asyncio.to_thread(self.tasks.table.cancel_requested, list(running)):
                    if task_id not in self._cancelled:
                        self._cancelled.add(task_id)
                        running[task_id].cancel()

    def _signals(self) -> Callable[[], None]:
        """SIGINT and SIGTERM stop the worker gracefully (only where signals can be handled: the main thread)."""
        if threading.current_thread() is not threading.main_thread() or self._loop is None:
            return lambda: None
        loop = self._loop
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)

        def restore() -> None:
            for sig in installed:
                loop.remove_signal_handler(sig)

        return restore


def _served_executors(chosen: list[type[ExecutableTask]] | None) -> dict[str, type[ExecutableTask]]:
    """The executors a worker runs: those given, else every one registered in the process (and those
    installed packages declare under the `loopline.executors` entry points)."""
    if chosen is not None:
        return {describe(cls)["id"]: cls for cls in chosen}
    try:
        load_entry_points()
    except Exception as exc:  # a broken plug-in must not stop the worker; say so
        log.warning("could not load the executors installed packages declare: %s: %s", type(exc).__name__, exc)
    return registered_executors()


def _handler(fn: Callable[..., Any]) -> TaskHandler:
    """`fn` as a checked handler (it already is one when decorated with `@on_task`)."""
    return fn if isinstance(fn, TaskHandler) else on_task(fn)
