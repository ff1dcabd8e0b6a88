"""Crash-safety and many writers, with real processes: SIGKILL in the middle of a tool call, then resume
in another process; four processes appending to one thread at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import Agent, ExecutionStatus
from loopline.errors import ExecutionClaimedError, InterruptedCallError
from loopline.store import SQLiteStore, Store, open_store

SCRIPTS = Path(__file__).resolve().parents[1] / "processes"
sys.path.insert(0, str(SCRIPTS))
from crash_agent import make_agent, step_one, step_two  # noqa: E402


def _kill_inside_tool(db: Path, effects: Path, tool_name: str) -> str:
    """Start an agent in another process, SIGKILL it once its tool has had its effect; the execution id."""
    ready = db.parent / "ready"
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "crash_worker.py"), str(db), str(effects), str(ready),
                             tool_name], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the worker died before reaching the tool"
            assert time.monotonic() < deadline, "the worker never reached the tool"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.stdout is not None
        return proc.stdout.readline().strip()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    yield tmp_path / "loopline.db", tmp_path / "effects.log"


def test_a_non_idempotent_call_killed_mid_run_is_paused_and_never_run_twice(paths: tuple[Path, Path]) -> None:
    db, effects = paths
    execution_id = _kill_inside_tool(db, effects, "charge")
    assert effects.read_text() == f"charge 42 {execution_id}:call_crash_1\n"

    store = SQLiteStore(db)
    stored = store.get_execution(execution_id)
    assert (stored.status, stored.running_tool_calls) == (ExecutionStatus.RUNNING, ("call_crash_1",))
    [record] = store.get_tool_calls(execution_id)
    assert (record.name, record.status, record.result) == ("charge", "started", None)

    agent = make_agent(store, effects)
    agent.resume(execution_id)  # no force needed: the killed process's claim died with it
    assert agent.get_execution_status().status is ExecutionStatus.PAUSED
    assert [c.id for c in agent.interrupted_tool_calls] == ["call_crash_1"]
    with pytest.raises(InterruptedCallError):
        agent.run_tools(agent.interrupted_tool_calls)

    # The application checks the side effect by the call's idempotency key, and records the outcome.
    assert f"{execution_id}:call_crash_1" in effects.read_text()
    agent.record_tool_result("call_crash_1", "charged 42")
    assert agent.get_execution_status().status is ExecutionStatus.RUNNING
    agent.add_messages(step_two("The customer was charged 42."))
    agent.run_tools(Agent.extract_tool_calls(step_two("The customer was charged 42.")))

    result = agent.retrieve_execution_result()
    assert (result.status, result.result) == (ExecutionStatus.COMPLETED, "The customer was charged 42.")
    assert effects.read_text().count("charge 42") == 1
    roles = [m.role for m in store.get_messages(stored.thread_id)]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    assert [r.status for r in store.get_tool_calls(execution_id)] == ["finished", "finished"]


def test_an_idempotent_call_killed_mid_run_is_run_again_by_resume(paths: tuple[Path, Path]) -> None:
    db, effects = paths
    execution_id = _kill_inside_tool(db, effects, "lookup")
    store = SQLiteStore(db)
    agent = make_agent(store, effects)
    agent.resume(execution_id, force=True)
    status = agent.get_execution_status()
    assert (status.status, status.pending_tool_calls, status.awaiting_decision) == (ExecutionStatus.RUNNING, (), ())
    assert effects.read_text().count(f"lookup 42 {execution_id}:call_crash_1") == 2  # same key both times
    assert agent.thread[-1].tool_results[0].content == "balance ok for 42"
    agent.add_messages(step_two("Balance is fine."))
    agent.run_tools(Agent.extract_tool_calls(step_two("Balance is fine.")))
    assert agent.retrieve_execution_result().result == "Balance is fine."


def test_resume_from_a_fresh_process_view_sees_everything(paths: tuple[Path, Path]) -> None:
    db, effects = paths
    first = make_agent(SQLiteStore(db), effects)
    first.add_task(input="look it up")
    first.add_messages(step_one("lookup"))
    thread = first.thread_id
    # Another store object on the same file stands for another process.
    other = make_agent(SQLiteStore(db), effects)
    assert [e.id for e in other.list_executions()] == [first.execution.id]
    assert other.get_execution(first.execution.id).pending_ids == ("call_crash_1",)
    other.resume(first.execution.id, force=True)
    assert other.pending_tool_calls[0].id == "call_crash_1"  # never started: the loop runs it
    other.run_tools(other.pending_tool_calls)
    assert [m.role for m in SQLiteStore(db).get_messages(thread)] == ["user", "assistant", "tool"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_processes_append_to_one_thread(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    location = str(tmp_path / "shared.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    store: Store = open_store(location)
    thread = store.create_thread()
    procs = [subprocess.Popen([sys.executable, str(SCRIPTS / "append_worker.py"), location, thread, f"p{n}", "250"])
             for n in range(4)]
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    texts = [m.text for m in store.get_messages(thread)]
    assert len(texts) == 1000 and len(set(texts)) == 1000
    for n in range(4):
        mine = [int(t.split(":")[1]) for t in texts if t.startswith(f"p{n}:")]
        assert mine == list(range(250)), f"process {n}'s messages are missing or out of order"
    assert store.get_thread(thread).length == 1000
    store.close()


def test_a_second_resume_still_knows_the_interrupted_call(paths: tuple[Path, Path]) -> None:
    db, effects = paths
    execution_id = _kill_inside_tool(db, effects, "charge")
    first = make_agent(SQLiteStore(db), effects)
    first.resume(execution_id, force=True)
    # This process too goes away without deciding; another one resumes.
    second = make_agent(SQLiteStore(db), effects)
    second.resume(execution_id, force=True)
    assert second.get_execution_status().status is ExecutionStatus.PAUSED
    assert [c.id for c in second.interrupted_tool_calls] == ["call_crash_1"]
    assert second.pending_tool_calls == []
    assert effects.read_text().count("charge 42") == 1


def test_a_writer_that_lost_its_claim_is_stopped(paths: tuple[Path, Path]) -> None:
    db, effects = paths
    original = make_agent(SQLiteStore(db), effects)
    original.add_task(input="charge")
    original.add_messages(step_one("lookup"))
    usurper = make_agent(SQLiteStore(db), effects)
    usurper.resume(original.execution.id, force=True)
    with pytest.raises(ExecutionClaimedError):
        original.run_tools(Agent.extract_tool_calls(step_one("lookup")))
    assert effects.exists() is False  # the call never ran in the process that lost its claim


def test_the_same_call_cannot_run_twice_at_once(paths: tuple[Path, Path]) -> None:
    import threading

    from loopline.errors import DuplicateToolCallError

    db, effects = paths
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    agent = make_agent(SQLiteStore(db), effects, after_effect=hold)
    agent.add_task(input="charge")
    agent.add_messages(step_one("charge"))
    calls = Agent.extract_tool_calls(step_one("charge"))
    runner = threading.Thread(target=agent.run_tools, args=(calls,))
    runner.start()
    started.wait(5)
    with pytest.raises(DuplicateToolCallError, match="already running"):
        agent.run_tools(calls)
    release.set()
    runner.join(5)
    assert effects.read_text().count("charge 42") == 1
