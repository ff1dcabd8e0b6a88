"""The worker's side of DBOS Transact: the one workflow every task runs as, launching and stopping DBOS
in this process, and recovering a dead worker's tasks. Imported only when a worker starts (importing
`dbos` takes about half a second)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from ..errors import UsageError
from ..tasks.engine import APP_NAME, APP_VERSION, WORKFLOW_NAME, import_dbos, queue_name, queue_settings

__all__ = ["DBOSWorker"]

dbos = import_dbos()
DBOS = dbos.DBOS

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

    async def launch(self, serve: Callable[[str], Awaitable[str]], agent_ids: Sequence[str] | None,
                     concurrency: int) -> None:
        """Start taking tasks of `agent_ids` (every agent's when None), `concurrency` at a time."""
        if "runner" in _serving:
            raise UsageError("a loopline worker is already running in this process (DBOS runs one per process)")
        _serving["runner"] = serve
        try:
            DBOS(config={"name": APP_NAME, "system_database_url": self.url, "executor_id": self.executor_id,
                         "application_version": APP_VERSION, "log_level": "WARNING",
                         "notification_listener_polling_interval_sec": 0.05, "max_executor_threads": concurrency + 4})
            if agent_ids is not None:
                DBOS.listen_queues([name for a in agent_ids for name in _queues(a)])
            DBOS.launch()  # from inside the running loop: DBOS runs the workflows on it
            self._launched = True
            for agent_id in agent_ids or ():
                for continuing in (False, True):
                    await DBOS.register_queue_async(queue_name(agent_id, continuing=continuing),
                                                    **queue_settings(continuing=continuing,
                                                                     worker_concurrency=concurrency),
                                                    on_conflict="always_update")
        except BaseException:
            await self.destroy()
            raise

    async def recover(self, executor_ids: list[str]) -> int:
        """Hand the in-flight tasks of dead workers back to the queues (any live worker then takes them);
        how many this call handed back. Several workers may race to recover one: DBOS re-enqueues a
        workflow only while it is still PENDING under a dead executor id, so each is handed back once,
        and counted by the one call that did it (`DBOS._recover_pending_workflows` counts every workflow
        it saw, also those another worker had just handed back)."""
        return await asyncio.to_thread(_recover, executor_ids)

    async def destroy(self) -> None:
        """Stop DBOS in this process (tasks still in flight stay PENDING for recovery)."""
        _serving.pop("runner", None)
        await asyncio.to_thread(DBOS.destroy, workflow_completion_timeout_sec=0)
        self._launched = False


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


def _queues(agent_id: str) -> list[str]:
    return [queue_name(agent_id), queue_name(agent_id, continuing=True)]

