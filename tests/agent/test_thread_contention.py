"""Four processes start 25 tasks each on one thread at once, each finished at once by a made-up reply:
a process that finds the thread busy gets `ThreadBusyError` (never a lower-level conflict) and tries
again, or waits with `add_task(wait=...)`. Every input is in the thread once, each process's in its own
order. Real processes, on SQLite and PostgreSQL (`tools/bench/thread_contention.py` times the same)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loopline import ExecutionStatus
from loopline.store import open_store

SCRIPTS = Path(__file__).resolve().parents[1] / "processes"
sys.path.insert(0, str(SCRIPTS))
from thread_task_worker import inputs_by_tag  # noqa: E402

PROCESSES, TASKS = 4, 25


@pytest.mark.parametrize("mode", ["retry", "wait"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_processes_take_turns_on_one_thread(backend: str, mode: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    location = str(tmp_path / "turns.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = open_store(location)
    thread = store.create_thread()
    procs = [subprocess.Popen([sys.executable, str(SCRIPTS / "thread_task_worker.py"), location, thread, f"p{n}",
                               str(TASKS), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(PROCESSES)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * PROCESSES, [err for _, err in outputs]
    if mode == "wait":  # waiting never reports the thread busy
        assert [json.loads(out)["busy"] for out, _ in outputs] == [0] * PROCESSES

    messages = store.get_messages(thread)
    assert inputs_by_tag(messages) == {f"p{n}": list(range(TASKS)) for n in range(PROCESSES)}
    assert len(messages) == 2 * PROCESSES * TASKS  # each task: its input, then its reply
    executions = store.list_executions(thread_id=thread, limit=None)
    assert len(executions) == PROCESSES * TASKS
    assert {e.status for e in executions} == {ExecutionStatus.COMPLETED}
    store.close()
