"""`loopline executions cancel ID` and `loopline executions resume ID PATH.py:NAME`, run as real processes
against an execution whose worker process was killed with SIGKILL (or still lives)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import ExecutionStatus, SQLiteStore

WORKER = Path(__file__).resolve().parents[1] / "processes" / "hold_worker.py"

AGENT_FILE = textwrap.dedent('''\
    from loopline import Agent, tool
    from loopline.testing import ScriptedModel, reply


    @tool
    def wait_here(seconds: int) -> str:
        """Wait (not idempotent)."""
        return f"waited {seconds}"


    holder = Agent("holder", tools=[wait_here])
    MODEL = ScriptedModel([reply("Resumed and done.")])
''')


class Worker:
    """hold_worker.py holding an execution in a SQLite file."""

    def __init__(self, db: Path, mode: str) -> None:
        ready = db.parent / f"ready-{mode}"
        self.process = subprocess.Popen([sys.executable, str(WORKER), str(db), mode, str(ready)],
                                        stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert self.process.poll() is None and time.monotonic() < deadline, "the worker never held its execution"
            time.sleep(0.02)
        assert self.process.stdout is not None
        self.execution_id = self.process.stdout.readline().strip()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def workers(db: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.kill()


def _start(workers: list[Worker], db: Path, mode: str) -> Worker:
    workers.append(Worker(db, mode))
    return workers[-1]


def _loopline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loopline.cli", *args], check=False, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_cancel_ends_a_killed_processs_execution(db: Path, workers: list[Worker]) -> None:
    worker = _start(workers, db, "tool")
    worker.kill()
    done = _loopline("executions", "cancel", worker.execution_id, "--db", str(db), cwd=db.parent)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"execution {worker.execution_id} CANCELLED")
    store = SQLiteStore(db)
    execution = store.get_execution(worker.execution_id)
    assert (execution.status, execution.pending_tool_calls) == (ExecutionStatus.CANCELLED, ())
    [result] = store.get_messages(execution.thread_id)[-1].tool_results
    assert result.is_error and "may or may not" in result.content

    again = _loopline("executions", "cancel", worker.execution_id, "--db", str(db), cwd=db.parent)
    assert again.returncode == 2 and "already ended (CANCELLED)" in again.stderr


def test_cancel_refuses_a_live_processs_execution_unless_forced(db: Path, workers: list[Worker]) -> None:
    worker = _start(workers, db, "model")
    refused = _loopline("executions", "cancel", worker.execution_id, "--db", str(db), cwd=db.parent)
    assert refused.returncode == 1
    assert "live process" in refused.stderr and "--force" in refused.stderr
    assert SQLiteStore(db).get_execution(worker.execution_id).status is ExecutionStatus.RUNNING
    forced = _loopline("executions", "cancel", worker.execution_id, "--force", "--json", "--db", str(db),
                       cwd=db.parent)
    assert forced.returncode == 0, forced.stderr
    assert '"status": "CANCELLED"' in forced.stdout
    assert SQLiteStore(db).get_execution(worker.execution_id).status is ExecutionStatus.CANCELLED


def test_resume_runs_a_killed_processs_execution_to_its_end(db: Path, workers: list[Worker]) -> None:
    worker = _start(workers, db, "model")  # killed while waiting for the model
    worker.kill()
    (db.parent / "agent.py").write_text(AGENT_FILE)
    done = _loopline("executions", "resume", worker.execution_id, "agent.py:holder", "--db", str(db), "--no-stream",
                     cwd=db.parent)
    assert done.returncode == 0, done.stderr
    assert "status     COMPLETED" in done.stdout and "Resumed and done." in done.stdout
    execution = SQLiteStore(db).get_execution(worker.execution_id)
    assert (execution.status, execution.result) == (ExecutionStatus.COMPLETED, "Resumed and done.")


def test_resume_says_which_decision_a_paused_execution_needs(db: Path, workers: list[Worker]) -> None:
    worker = _start(workers, db, "tool")  # killed inside a call that is not idempotent
    worker.kill()
    (db.parent / "agent.py").write_text(AGENT_FILE)
    paused = _loopline("executions", "resume", worker.execution_id, "agent.py:holder", "--db", str(db),
                       cwd=db.parent)
    assert paused.returncode == 1
    assert "await a decision" in paused.stderr and "rerun_tool_calls" in paused.stderr
    assert "wait_here" in paused.stdout  # the summary names the held call
    assert SQLiteStore(db).get_execution(worker.execution_id).status is ExecutionStatus.PAUSED


def test_resume_of_a_live_processs_execution_names_the_ways_out(db: Path, workers: list[Worker]) -> None:
    worker = _start(workers, db, "model")
    (db.parent / "agent.py").write_text(AGENT_FILE)
    refused = _loopline("executions", "resume", worker.execution_id, "agent.py:holder", "--db", str(db),
                        cwd=db.parent)
    assert refused.returncode == 1
    assert "live process" in refused.stderr and "loopline executions cancel" in refused.stderr
    assert "--force" in refused.stderr
