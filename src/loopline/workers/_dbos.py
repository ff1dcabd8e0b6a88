"""The worker's side of DBOS Transact: the one workflow every task runs as, launching and stopping DBOS
in this process, and recovering a dead worker's tasks. Imported only when a worker starts (importing
`dbos` takes about half a second)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import UsageError
from ..tasks.engine import (
    APP_NAME,
    APP_VERSION,
    EXECUTOR_QUEUE_PREFIX,
    WORKFLOW_NAME,
    import_dbos,
    prepare_database,
    queue_name,
    queue_settings,
)

__all__ = ["DBOSWorker"]

dbos = import_dbos()
DBOS = dbos.DBOS

_FOLLOW_SECONDS = 0.25
"""How often a worker with a catch-all handler looks for new queues (DBOS itself looks every second)."""

_serving: dict[str, Callable[[str], Awaitable[str]]] = {}
"""What the workflow calls (under "runner"): the running worker's task runner (one worker per process,
as DBOS is one per process)."""


@DBOS.workflow(name=WORKFLOW_NAME, max_recovery_attempts=None)  # type: ignore[untyped-decorator]
async def _task_workflow(task_id: str) -> str:
    """Every task is this workflow; its id is the task's id. It holds no state of its own: the task's
    record and the agent's execution are in loopline's store, so running it again continues the task."""
    serve = _serving.get("runner")
    if serve is None:  # launched for another purpose, or stopping
        raise RuntimeError("no loopline worker is serving in this process")
    return await serve(task_id)


class DBOSWorker:
    """DBOS launched in this process, serving loopline's queues."""

    def __init__(self, url: str, executor_id: str) -> None:
        self.url = url
        self.executor_id = executor_id
        self._launched = False
        self._following: asyncio.Task[None] | None = None

    async def launch(self, serve: Callable[[str], Awaitable[str]], agent_ids: Sequence[str] | None,
                     concurrency: int, executor_ids: Sequence[str] = (), *, known: Sequence[str] = (),
                     follow: Callable[[], Awaitable[list[str]]] | None = None) -> None:
        """Start taking tasks of `agent_ids` (every agent's when None) and of `executor_ids`, `concurrency` at
        a time: on the queues of `agent_ids`, of the `known` agents and of `executor_ids` (those of other
        agent ids keep their own settings). `follow`: instead, the queues it names, asked again as they
        change (the server's relay takes the tasks of the ids its remote workers serve)."""
        if "runner" in _serving:
            raise UsageError("a loopline worker is already running in this process (DBOS runs one per process)")
        _serving["runner"] = serve
        own = [name for e in executor_ids for name, _ in _queues(e, executor=True)]
        try:
            prepare_database(self.url)
            instance = DBOS(config={"name": APP_NAME, "system_database_url": self.url,
                                    "executor_id": self.executor_id, "application_version": APP_VERSION,
                                    "log_level": "WARNING", "notification_listener_polling_interval_sec": 0.05,
                                    "max_executor_threads": concurrency + 4})
            listened = [] if follow is not None else own if agent_ids is None else [
                n for a in agent_ids for n, _ in _queues(a)] + own
            DBOS.listen_queues(listened)
            DBOS.launch()  # from inside the running loop: DBOS runs the workflows on it
            self._launched = True
            queues = [q for a in sorted({*(agent_ids or ()), *known}) for q in _queues(a)] + [
                q for e in executor_ids for q in _queues(e, executor=True)]
            for name, continuing in queues:
                await DBOS.register_queue_async(name, **queue_settings(continuing=continuing,
                                                                       worker_concurrency=concurrency),
                                                on_conflict="always_update")
            if follow is None and agent_ids is None:
                follow = functools.partial(_catch_all_queues, own)
            if follow is not None:
                await _follow_queues(instance, follow)
                self._following = asyncio.create_task(self._keep_following(instance, follow))
        except BaseException:
            await self.destroy()
            raise

    async def _keep_following(self, instance: Any, follow: Callable[[], Awaitable[list[str]]]) -> None:
        while True:
            await asyncio.sleep(_FOLLOW_SECONDS)
            with contextlib.suppress(Exception):
                await _follow_queues(instance, follow)

    async def recover(self, executor_ids: list[str]) -> int:
        """Hand the in-flight tasks of dead workers back to the queues (any live worker then takes them);
        how many this call handed back. Several workers may race to recover one: DBOS re-enqueues a
        workflow only while it is still PENDING under a dead executor id, so each is handed back once,
        and counted by the one call that did it (`DBOS._recover_pending_workflows` counts every workflow
        it saw, also those another worker had just handed back)."""
        return await asyncio.to_thread(_recover, executor_ids)

    async def pending_executors(self) -> set[str]:
        """The executor ids that have tasks in flight (PENDING workflows of loopline's version)."""
        found = await DBOS.list_workflows_async(status="PENDING", app_version=APP_VERSION, load_input=False,
                                                load_output=False)
        return {str(w.executor_id) for w in found if w.executor_id}

    async def destroy(self) -> None:
        """Stop DBOS in this process (tasks still in flight stay PENDING for recovery).

        DBOS made its thread pool the default executor of this event loop and shuts it down here; the
        loop gets a fresh one, so `asyncio.to_thread` (and a later worker) still work on a loop that
        outlives the worker, such as a notebook's."""
        _serving.pop("runner", None)
        if self._following is not None:
            self._following.cancel()
        try:
            await asyncio.to_thread(DBOS.destroy, workflow_completion_timeout_sec=0)
        finally:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="asyncio"))
            self._launched = False


def _queues(agent_id: str, *, executor: bool = False) -> list[tuple[str, bool]]:
    """The queues of an agent's (or executor's) tasks, each with whether it holds those continuing a thread."""
    return [(queue_name(agent_id, continuing=c, executor=executor), c) for c in (False, True)]


def _recover(executor_ids: list[str]) -> int:
    """DBOS's own recovery (`dbos._recovery.recover_pending_workflows`), counting what it re-enqueued."""
    from dbos._dbos import _get_dbos_instance
    from dbos._shard_keys import bind_shard_keys
    from dbos._utils import INTERNAL_QUEUE_NAME

    sys_db = _get_dbos_instance()._sys_db
    done = 0
    for executor_id in executor_ids:
        for workflow in sys_db.get_pending_workflows(executor_id, APP_VERSION):
            with bind_shard_keys({workflow.workflow_id: workflow.shard_key}):
                done += bool(sys_db.reenqueue_for_recovery(workflow.workflow_id, executor_ids, INTERNAL_QUEUE_NAME))
    return done


async def _follow_queues(instance: Any, follow: Callable[[], Awaitable[list[str]]]) -> None:
    """DBOS listens to every queue or to a fixed list, so the list is renewed as queues appear (DBOS reads
    it again each time it looks for new queues)."""
    instance._listening_queues = sorted(set(await follow()))


async def _catch_all_queues(own: list[str]) -> list[str]:
    """A worker with a catch-all handler takes every agent's tasks, and its own executors' but no other
    executor's (it could only fail them)."""
    names = [q.name for q in await DBOS.list_queues_async() if not q.name.startswith(EXECUTOR_QUEUE_PREFIX)]
    return [*names, *own]


def queues_of(ids: Sequence[str], *, executor: bool = False) -> list[str]:
    """The queue names of these agent (or executor) ids."""
    return [name for i in ids for name, _ in _queues(i, executor=executor)]
