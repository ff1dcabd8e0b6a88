"""A process killed with SIGKILL while it runs an execution frees it at once (its claim names its pid):
`resume` works in a new process without force, and `add_task` on its thread ends it (FAILED,
`process_died`, its running call answered as interrupted) and goes on. A live process keeps its
claim for as long as it holds the execution, a long model request included. Real processes, on
SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loopline import Agent, ExecutionStatus
from loopline.errors import ExecutionClaimedError, ThreadBusyError
from loopline.store import Store, open_store

SCRIPTS = Path(__file__).resolve().parents[1] / "processes"
sys.path.insert(0, str(SCRIPTS))
from hold_worker import make_holder  # noqa: E402


@dataclass
class Holder:
    """A worker process holding an execution."""

    process: subprocess.Popen[str]
    execution_id: str
    thread_id: str

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "claims.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def store(location: str) -> Iterator[Store]:
    made = open_store(location)
    yield made
    made.close()


@pytest.fixture
def start_holder(location: str, tmp_path: Path) -> Iterator[Callable[..., Holder]]:
    started: list[subprocess.Popen[str]] = []

    def start(mode: str, *lease: str) -> Holder:
        ready = tmp_path / f"ready-{len(started)}"
        proc = subprocess.Popen([sys.executable, str(SCRIPTS / "hold_worker.py"), location, mode, str(ready), *lease],
                                stdout=subprocess.PIPE, text=True)
        started.append(proc)
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the worker died before holding its execution"
            assert time.monotonic() < deadline, "the worker never got to hold its execution"
            time.sleep(0.02)
        assert proc.stdout is not None
        return Holder(proc, proc.stdout.readline().strip(), proc.stdout.readline().strip())

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_resume_right_after_sigkill_needs_no_force(store: Store, start_holder: Callable[..., Holder]) -> None:
    holder = start_holder("tool")
    holder.kill()
    agent = make_holder(store)
    agent.resume(holder.execution_id)  # at once, no force: the claim died with its process
    assert [c.id for c in agent.interrupted_tool_calls] == ["call_wait"]
    agent.record_tool_result("call_wait", "waited enough")
    agent.add_messages([{"role": "assistant", "content": "Done waiting."}])
    result = agent.retrieve_execution_result()
    assert (result.status, result.result) == (ExecutionStatus.COMPLETED, "Done waiting.")


@pytest.mark.parametrize("mode", ["model", "tool"])
def test_add_task_ends_a_killed_processs_execution_and_goes_on(store: Store, start_holder: Callable[..., Holder],
                                                               mode: str) -> None:
    holder = start_holder(mode)
    holder.kill()
    writer = Agent("writer", store=store)
    writer.add_task("Go on.", thread_id=holder.thread_id)
    dead = store.get_execution(holder.execution_id)
    assert (dead.status, dead.error and dead.error.code) == (ExecutionStatus.FAILED, "process_died")
    assert dead.error is not None and "died" in dead.error.message
    assert (dead.pending_tool_calls, dead.running_tool_calls) == ((), ())
    roles = [m.role for m in store.get_messages(holder.thread_id)]
    if mode == "model":
        assert roles == ["user", "user"]
    else:
        assert roles == ["user", "assistant", "tool", "user"]
        [result] = writer.thread[2].tool_results
        assert (result.tool_call_id, result.is_error) == ("call_wait", True)
        assert "may or may not" in result.content
    writer.add_messages([{"role": "assistant", "content": "Went on."}])
    assert writer.retrieve_execution_result().status is ExecutionStatus.COMPLETED


def test_a_live_process_keeps_its_claim_through_a_long_model_request(
        store: Store, start_holder: Callable[..., Holder]) -> None:
    holder = start_holder("model", "1.0")  # one-second leases, renewed by the heartbeat
    time.sleep(2.5)  # the process waits on its "model" for more than two leases
    with pytest.raises(ExecutionClaimedError, match="loopline executions cancel"):
        make_holder(store).resume(holder.execution_id)
    with pytest.raises(ThreadBusyError, match="wait=") as busy:
        Agent("writer", store=store).add_task("Go on.", thread_id=holder.thread_id)
    assert busy.value.execution_id == holder.execution_id and "loopline executions cancel" in str(busy.value)
    holder.kill()
    make_holder(store).resume(holder.execution_id)


def test_wait_gives_up_on_a_live_holder_and_takes_a_dead_ones_thread(
        store: Store, start_holder: Callable[..., Holder]) -> None:
    holder = start_holder("model")
    writer = Agent("writer", store=store)
    began = time.monotonic()
    with pytest.raises(ThreadBusyError, match=r"\(waited 1 s\)"):
        writer.add_task("Go on.", thread_id=holder.thread_id, wait=1.0)
    assert 1.0 <= time.monotonic() - began < 10
    killer = threading.Timer(0.5, holder.kill)
    killer.start()
    try:
        writer.add_task("Go on.", thread_id=holder.thread_id, wait=30.0)  # free once the holder is killed
    finally:
        killer.join()
    assert store.get_execution(holder.execution_id).status is ExecutionStatus.FAILED
    assert [m.role for m in writer.thread] == ["user", "user"]


def test_a_forked_child_keeps_its_own_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    import loopline.agent._claims as claims_module

    monkeypatch.setattr(claims_module, "CLAIM_SECONDS", 0.6)
    db = tmp_path / "fork.db"
    make_holder(open_store(db)).add_task("The parent's keeper runs.")
    ready = tmp_path / "ready"

    def child() -> None:
        agent = make_holder(open_store(db))  # kept: the keeper lets go of the claims of dropped agents
        execution = agent.add_task("The child's task.")
        ready.write_text(execution.id)
        time.sleep(30)

    process = multiprocessing.get_context("fork").Process(target=child, daemon=True)
    process.start()
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() or not ready.read_text():
            assert time.monotonic() < deadline, "the child never started its task"
            time.sleep(0.02)
        time.sleep(2)  # three leases: only the child's own keeper can have kept its claim
        with pytest.raises(ExecutionClaimedError):
            make_holder(open_store(db)).resume(ready.read_text())
    finally:
        process.kill()
        process.join(10)



def test_a_dropped_agents_claim_lapses_while_its_process_lives(
        store: Store, start_holder: Callable[..., Holder]) -> None:
    holder = start_holder("drop", "1.0")  # one-second leases; the agent is garbage once its task starts
    time.sleep(2.5)
    make_holder(store).resume(holder.execution_id)  # the keeper stopped renewing a claim no one can use
