"""A worker that has tasks in flight but no heartbeat row (taken for dead and forgotten by the others, it
took a task before its next beat, then died) still has its tasks recovered by a live worker."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from workers_helpers import start_worker, stop_worker

from loopline.tasks import Tasks


def test_a_dead_worker_without_a_heartbeat_row_has_its_tasks_recovered(tmp_path: Path) -> None:
    db = str(tmp_path / "tasks.db")
    env = {"TOOL_SECONDS": "3"}
    doomed = start_worker(db, "--name", "doomed", "--lease", "2", env=env, log=tmp_path / "doomed.log")
    tasks = Tasks(db)
    survivor: subprocess.Popen[bytes] | None = None
    try:
        task = tasks.create("researcher", "who recovers me")
        deadline = time.monotonic() + 30
        while tasks.get(task.id).status != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        doomed.kill()
        doomed.wait()
        (row,) = [r for r in tasks.table.workers() if r.data.get("name") == "doomed"]
        assert tasks.table.forget_worker(row.id, heartbeat_at=row.heartbeat_at)  # as if taken for dead before
        survivor = start_worker(db, "--name", "survivor", "--lease", "2", env=env, log=tmp_path / "survivor.log")
        done = task.wait(60)
        assert (done.status, done.result) == ("COMPLETED", "answer to who recovers me"), done.error
        assert done.worker is not None and done.worker.endswith(":survivor")
        assert [e.type for e in done.events(follow=False)].count("recovered") == 1
    finally:
        if doomed.poll() is None:
            doomed.kill()
        if survivor is not None:
            stop_worker(survivor)
        tasks.store.close()
