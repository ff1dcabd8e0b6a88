"""The relay: how a server process (`loopline serve`) hands tasks to remote workers. It is a worker on the
engine like any other, but it runs nothing itself: it follows the queues of the agent and executor ids
that live remote workers serve (their heartbeat rows say which, with `remote: true`), and for each task
the engine hands it, it writes an assignment to one of those workers with a free slot, then watches the
task until it ends. When the worker's heartbeat lapses, the task is assigned again, to another worker, in
a new attempt: that worker resumes the agent's execution from its last committed step.

It never records a task's end itself (the worker's result does; a PAUSED task stays PAUSED): ending the
engine's workflow when the task has ended is all it does. Several relays (several server processes on one
database) share the work through the engine and the assignment table; each recovers the workflows of a
relay that died."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import os
import random
import socket
import threading
import time
from typing import Any

from ..loop import ExecutionStatus
from ..store import Assignment, AssignmentTable, Store, WorkerRow, owner_is_gone, process_owner
from ..tasks import Tasks, engine_url

__all__ = ["Relay"]

_HANDED_BACK = "\0handed back"

log = logging.getLogger("loopline.workers")

_TERMINAL = {s.value for s in ExecutionStatus if s.is_terminal}
_ENDED = (*_TERMINAL, "PAUSED")
_WATCH_SECONDS = 0.5
"""How often the relay reads the tasks it handed out (their status; their workers' heartbeats are in its
view). The worker's result frees its slot at once (the server closes the assignment), so this only
bounds how soon a silent worker's task is seen and handed on."""
_REREAD_SECONDS = 1.0
"""How often the records of the tasks waiting for a free remote worker are read again (a cancel, or an
end from elsewhere)."""
_VIEW_SECONDS = 0.25
"""How old the relay's one view of the workers and their open assignments may get; also how long its
desk waits between passes when nothing wakes it."""


class Relay:
    """Hands the tasks of remote workers' ids to them, in one server process."""

    def __init__(self, store: Store, *, lease_seconds: float = 10.0) -> None:
        self.tasks = Tasks(store=store)
        self.assignments = AssignmentTable(self.tasks.table.store)
        self.lease_seconds = lease_seconds
        self.relay_id = f"relay:{socket.gethostname()}:{os.getpid()}"
        self._process = process_owner("relay")
        self._engine: Any = None
        self._duties: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        self._view_lock = threading.Lock()
        self._view: tuple[float, list[WorkerRow], dict[str, int]] = (0.0, [], {})
        self._desk = _Desk(self)
        self.assigned = 0
        """How many assignments this relay made (reassignments included)."""

    async def start(self) -> None:
        from ._dbos import DBOSWorker

        self._started_at = time.time()
        await asyncio.to_thread(self._beat)
        engine = DBOSWorker(engine_url(self.tasks.store), self.relay_id)
        await engine.launch(self._serve, [], 16, follow=self._queues)
        self._engine = engine
        self._duties = [asyncio.create_task(self._keep_beating()), asyncio.create_task(self._desk.run())]
        log.info("relay %s hands tasks to remote workers", self.relay_id)

    async def stop(self) -> None:
        for duty in self._duties:
            duty.cancel()
        await asyncio.gather(*self._duties, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._beat, 0.0)  # the other relays take its tasks over at once
        if self._engine is not None:
            await self._engine.destroy()
            self._engine = None

    def slot_freed(self) -> None:
        """A remote worker's task ended in this server process: look at the workers again now, not when the
        view is next due (its slot then goes to a waiting task at once). Safe from any thread."""
        with self._view_lock:
            self._view = (0.0, *self._view[1:])
        self._desk.wake()

    # --- which queues -----------------------------------------------------------------------------

    async def _queues(self) -> list[str]:
        """The queues of the ids that live remote workers with a free slot serve (every agent's queue when
        one of them has a catch-all handler), except those a live worker on the database serves.

        Queues are per id, not per organisation, and every organisation's workers may name any id: were
        the relay to follow the queue of an id a database worker serves, a remote worker of one
        organisation naming it would have the relay take another organisation's tasks away from the
        database worker that runs them. So an id a database worker serves goes to database workers (which
        serve every organisation), and remote workers get the ids no database worker serves."""
        from ..tasks.engine import EXECUTOR_QUEUE_PREFIX
        from ._dbos import DBOS, queues_of

        rows, local, used = await asyncio.to_thread(lambda: (self._remote_rows(), self._database_rows(),
                                                              self._seen()[1]))
        agents: set[str] = set()
        executors: set[str] = set()
        every_agent = False
        for row in rows:
            if int(row.data.get("concurrency") or 1) <= used.get(row.id, 0):
                continue
            served = row.data.get("agents")
            every_agent = every_agent or served is None
            agents.update(served or ())
            executors.update(row.data.get("executors") or {})
        agents = {a for a in agents if not _serves(local, a, executor=False)}
        executors = {e for e in executors if not _serves(local, e, executor=True)}
        names = queues_of(sorted(agents)) + queues_of(sorted(executors), executor=True)
        if every_agent and not _serves(local, None, executor=False):
            names += [q.name for q in await DBOS.list_queues_async() if not q.name.startswith(EXECUTOR_QUEUE_PREFIX)
                      and not _serves(local, _agent_of(q.name), executor=False)]
        return names

    def _seen(self) -> tuple[list[WorkerRow], dict[str, int]]:
        """The workers' rows and each worker's open assignments, read at most every `_VIEW_SECONDS`."""
        with self._view_lock:
            at, rows, used = self._view
            if time.monotonic() - at >= _VIEW_SECONDS:
                rows, used = self.tasks.table.workers(), self.assignments.open_counts()
                self._view = (time.monotonic(), rows, used)
            return rows, used

    def _remote_rows(self) -> list[WorkerRow]:
        """Remote workers whose heartbeat is fresh and that are not stopping."""
        return [r for r in self._live_rows() if r.data.get("remote") and not r.data.get("stopping")]

    def _database_rows(self) -> list[WorkerRow]:
        """Live workers on the database (not remote, not relays)."""
        return [r for r in self._live_rows() if not r.data.get("remote") and not r.data.get("relay")]

    def _live_rows(self) -> list[WorkerRow]:
        now = time.time()
        return [r for r in self._seen()[0] if now - r.heartbeat_at <= float(r.data.get("lease") or self.lease_seconds)]

    def _hand_back(self, record: dict[str, Any]) -> bool:
        """Give a task no remote worker of its organisation can take back to the engine, in a new run, when a
        worker on the database serves its id (the relay no longer follows that queue, so it goes there).
        False when none does: the task waits here for a remote worker of its organisation."""
        task_id = record["id"]
        if not _serves(self._database_rows(), record["agent_id"], executor=record.get("kind") == "executor"):
            return False

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if current["status"] in _ENDED:
                return None
            return {**current, "runs": int(current.get("runs") or 0) + 1}

        moved = self.tasks.table.update(task_id, change)
        if moved["status"] in _ENDED:
            return False
        self.assignments.end(task_id)
        self.tasks.engine.enqueue(moved)
        log.warning("relay %s gave task %s back to the engine: no remote worker of its organisation serves %r, a "
                    "worker on the database does", self.relay_id, task_id, record["agent_id"])
        return True

    # --- one task -----------------------------------------------------------------------------------

    async def _serve(self, task_id: str) -> str:
        """Assign the task, watch it, assign it again when its worker is gone; its status once it ended."""
        while True:
            record, current = await asyncio.to_thread(lambda: (self.tasks.table.get(task_id),
                                                               self.assignments.current(task_id)))
            if record["status"] in _ENDED:
                await asyncio.to_thread(self.assignments.end, task_id)
                return str(record["status"])
            worker = current.worker_id if current is not None and current.is_open else None
            if worker is None or not await asyncio.to_thread(self._alive, worker):
                if record.get("cancel_requested"):
                    self.tasks._finish(task_id, "CANCELLED")
                    return "CANCELLED"
                made = await self._desk.assignment(record)
                if made == _HANDED_BACK:
                    return "PENDING"
                if not isinstance(made, Assignment):
                    continue  # read the record again: cancelled, or ended elsewhere, meanwhile?
                self.assigned += 1
                if current is not None:
                    log.warning("relay %s handed task %s from %s (silent) to %s (attempt %d)", self.relay_id,
                                task_id, current.worker_id, made.worker_id, made.attempt)
                worker = made.worker_id
            status = await self._desk.watched(task_id, worker)
            if status is not None:
                await asyncio.to_thread(self.assignments.end, task_id)
                return status

    def _decide(self, waiting: list[_Held], watched: list[_Held], *, read_waiting: bool,
                read_watched: bool) -> list[tuple[_Held, Any]]:
        """What becomes of the tasks the relay holds, in one pass (in a worker thread): each watched task
        that ended (its status) or whose worker fell silent (None); each waiting task, in the order the
        engine would take them, assigned to a free worker (its `Assignment`), handed back to the engine
        (`_HANDED_BACK`), or to be read again (None: it ended, or was asked to cancel, meanwhile). Records
        are read once for all of them (watched ones every `_WATCH_SECONDS`, waiting ones every
        `_REREAD_SECONDS`)."""
        ids = [h.task_id for h in watched] if read_watched else []
        ids += [h.task_id for h in waiting] if read_waiting else []
        records = self.tasks.table.many(ids) if ids else {}
        out: list[tuple[_Held, Any]] = []
        for held in watched:
            record = records.get(held.task_id)
            if record is not None and record["status"] in _ENDED:
                out.append((held, str(record["status"])))
            elif (read_watched and record is None) or not self._alive(held.worker_id):
                out.append((held, None))
        none_free: set[tuple[str, str, bool]] = set()
        for held in sorted(waiting, key=operator.attrgetter("order")):
            record = records.get(held.task_id, held.record) if read_waiting else held.record
            if (read_waiting and held.task_id not in records) or record["status"] in _ENDED or \
                    record.get("cancel_requested"):
                out.append((held, None))
                continue
            kind = (str(record.get("organization_id") or ""), str(record["agent_id"]), record.get("kind") == "executor")
            if kind in none_free:
                continue
            worker = self._pick(record)
            if worker is None:
                if self._hand_back(record):
                    out.append((held, _HANDED_BACK))
                else:
                    none_free.add(kind)
                continue
            made = self.assignments.assign(held.task_id, worker, relay=self.relay_id,
                                           organization_id=record.get("organization_id", ""), unless_status=_ENDED)
            out.append((held, made))  # None: it ended meanwhile
        return out

    def _alive(self, worker_id: str) -> bool:
        """Whether the worker's heartbeat is fresh. For a lease after the relay starts, every worker is: the
        server may just have come back, and its workers need that long to reach it again."""
        rows, _ = self._seen()
        row = next((r for r in rows if r.id == worker_id), None)
        lease = float(row.data.get("lease") or self.lease_seconds) if row is not None else self.lease_seconds
        if time.time() - self._started_at < lease:
            return True
        return row is not None and not row.data.get("stopping") and time.time() - row.heartbeat_at <= lease

    def _pick(self, record: dict[str, Any]) -> str | None:
        """A live remote worker of the task's organisation serving its agent (or executor), with the most
        free slots (ties drawn at random); the slot is counted as taken in the view until it is read again."""
        _, used = self._seen()
        executor = record.get("kind") == "executor"
        best: list[tuple[int, float, str]] = []
        for row in self._remote_rows():
            if str(row.data.get("organization_id") or "") != str(record.get("organization_id") or ""):
                continue
            served = row.data.get("agents")
            if executor and record["agent_id"] not in (row.data.get("executors") or {}):
                continue
            if not executor and served is not None and record["agent_id"] not in served:
                continue
            free = int(row.data.get("concurrency") or 1) - used.get(row.id, 0)
            if free > 0:
                best.append((free, random.random(), row.id))
        if not best:
            return None
        with self._view_lock:
            chosen = max(best)[2]
            used[chosen] = used.get(chosen, 0) + 1
        return chosen

    # --- liveness -------------------------------------------------------------------------------------

    def _beat(self, at: float | None = None) -> None:
        self.tasks.table.beat(self.relay_id, {"relay": True, "agents": [], "lease": self.lease_seconds,
                                              "host": socket.gethostname(), "pid": os.getpid(),
                                              "process": self._process}, at=at)

    async def _keep_beating(self) -> None:
        """Say the relay is alive, and take over the workflows of relays that are not."""
        while True:
            await asyncio.sleep(self.lease_seconds / 4)
            try:
                await asyncio.to_thread(self._beat)
                await self._recover_relays()
            except Exception as exc:
                log.warning("relay %s could not beat or recover: %s", self.relay_id, exc)

    async def _recover_relays(self) -> None:
        now = time.time()
        for row in await asyncio.to_thread(self.tasks.table.workers):
            if not row.data.get("relay") or row.id == self.relay_id:
                continue
            gone = owner_is_gone(str(row.data.get("process") or ""))
            if gone or now - row.heartbeat_at > float(row.data.get("lease") or self.lease_seconds):
                count = await self._engine.recover([row.id])
                if count:
                    log.warning("relay %s took over %d task(s) of relay %s", self.relay_id, count, row.id)
                await asyncio.to_thread(self.tasks.table.forget_worker, row.id, heartbeat_at=row.heartbeat_at)


def _serves(rows: list[WorkerRow], served_id: str | None, *, executor: bool) -> bool:
    """Whether one of these workers takes the tasks of `served_id` (None: of every agent id, which only a
    catch-all handler does). A catch-all handler takes every agent's tasks but no executor's."""
    for row in rows:
        served = row.data.get("agents")
        if executor:
            if served_id in (row.data.get("executors") or {}):
                return True
        elif served is None or (served_id is not None and served_id in served):
            return True
    return False


def _agent_of(queue: str) -> str:
    """The agent id of an agent's queue name (`loopline.agent.<id>` or `loopline.agent.<id>.threads`)."""
    name = queue.removeprefix("loopline.agent.")
    return name.removesuffix(".threads")


class _Held:
    """A task the relay holds: waiting for a free worker, or watched while `worker_id` runs it."""

    __slots__ = ("future", "order", "record", "task_id", "worker_id")

    def __init__(self, task_id: str, *, record: dict[str, Any] | None = None, worker_id: str = "") -> None:
        self.task_id = task_id
        self.record = record or {}
        self.worker_id = worker_id
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.order = (-int(self.record.get("priority") or 0), float(self.record.get("created_at") or 0.0), task_id)
        """The engine's order of tasks that start threads: higher priority first, then oldest first."""


def _forget(held_by_id: dict[str, _Held], held: _Held) -> None:
    """Take `held` off the desk, unless another run of the same task (handed back to the engine and taken by
    this relay again) has taken its place meanwhile."""
    if held_by_id.get(held.task_id) is held:
        del held_by_id[held.task_id]


class _Desk:
    """The one loop of a relay over every task it holds. A relay may hold thousands (the engine hands it a
    queue's whole backlog); each waits on a future, and one pass in a worker thread (`Relay._decide`), when
    woken or every `_VIEW_SECONDS`, reads their records in one query and settles every one it can: free
    slots go to waiting tasks in order, and ended or orphaned watched tasks go back to their workflows."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._waiting: dict[str, _Held] = {}
        self._watched: dict[str, _Held] = {}
        self._woken: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read: dict[str, float] = {"waiting": 0.0, "watched": 0.0}

    async def assignment(self, record: dict[str, Any]) -> Any:
        """The task's new `Assignment`, `_HANDED_BACK`, or None when its record is to be read again."""
        held = _Held(record["id"], record=record)
        self._waiting[held.task_id] = held
        self.wake()
        try:
            return await held.future
        finally:
            _forget(self._waiting, held)

    async def watched(self, task_id: str, worker_id: str) -> str | None:
        """Until the task ends (its status) or its worker falls silent (None)."""
        held = _Held(task_id, worker_id=worker_id)
        self._watched[task_id] = held
        try:
            return await held.future  # type: ignore[no-any-return]
        finally:
            _forget(self._watched, held)

    def wake(self) -> None:
        """Make a pass now (from any thread)."""
        if self._loop is not None and self._woken is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the relay stopped
                self._loop.call_soon_threadsafe(self._woken.set)

    async def run(self) -> None:
        self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), _VIEW_SECONDS)
            self._woken.clear()
            waiting, watched = list(self._waiting.values()), list(self._watched.values())
            if not waiting and not watched:
                continue
            now = time.monotonic()
            read_waiting = now - self._read["waiting"] >= _REREAD_SECONDS
            read_watched = now - self._read["watched"] >= _WATCH_SECONDS
            try:
                settled = await asyncio.to_thread(self.relay._decide, waiting, watched, read_waiting=read_waiting,
                                                  read_watched=read_watched)
            except Exception as exc:
                log.warning("relay %s could not look at the tasks it holds: %s", self.relay.relay_id, exc)
                await asyncio.sleep(_VIEW_SECONDS)
                continue
            if read_waiting:
                self._read["waiting"] = now
            if read_watched:
                self._read["watched"] = now
            for held, value in settled:
                if not held.future.done():
                    held.future.set_result(value)
