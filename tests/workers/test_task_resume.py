"""A task paused for approval is decided on its execution, queued again with `Tasks.resume`, and finished
by a real worker process where the execution stopped."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import approval_app
from workers_helpers import start_worker, stop_worker

from loopline.errors import UsageError
from loopline.tasks import Tasks


def test_a_paused_task_is_decided_then_resumed_to_its_end(tmp_path: Path) -> None:
    db = str(tmp_path / "tasks.db")
    worker = start_worker(db, "--app", "approval_app", "--lease", "2", log=tmp_path / "worker.log")
    tasks = Tasks(db)
    try:
        task = tasks.create("cautious", "pay the bill")
        deadline = time.monotonic() + 30
        while task.refresh().status != "PAUSED" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert task.status == "PAUSED" and task.execution_id is not None
        with pytest.raises(UsageError, match="not PAUSED"):
            tasks.resume(tasks.report_external_task(agent_id="elsewhere", input="done").id)

        decider = approval_app.cautious.copy(store=tasks.store)
        decider.resume(task.execution_id)
        (asked,) = decider.pending_approvals
        decider.approve(asked.id)

        resumed = tasks.resume(task.id)
        assert resumed.status == "PENDING"
        done = resumed.wait(30)
        assert (done.status, done.result) == ("COMPLETED", "moved 5"), done.error
        execution = tasks.store.get_execution(task.execution_id)
        assert execution.status.value == "COMPLETED" and execution.tool_calls == 2
        statuses = [e.data["status"] for e in done.events(follow=False) if e.type == "status"]
        assert statuses == ["PENDING", "RUNNING", "PAUSED", "PENDING", "RUNNING", "COMPLETED"]
    finally:
        assert stop_worker(worker) == 0
        tasks.store.close()
