"""An agent made before a fork (a module-level agent in a prefork worker pool: multiprocessing on Linux,
Celery prefork, gunicorn --preload) claims its executions in the name of the process that uses it, a
forked child, not the parent that made it: once the parent has exited, a third process finds the child's
running execution busy instead of settling it as `process_died`, and two forked siblings have owners of
their own, so one cannot resume the other's running execution. Real `os.fork()` in a subprocess, on a
real SQLite file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopline import Agent, ExecutionStatus
from loopline.errors import ThreadBusyError
from loopline.store import open_store

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

FORKING = r'''
import json, os, sys, time
from pathlib import Path
from loopline import Agent, tool
from loopline.errors import ExecutionClaimedError
from loopline.store import open_store

db, out, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
CALL = [{"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_wait", "type": "function", "function": {"name": "wait_here", "arguments": "{}"}}]}]


@tool
def wait_here() -> str:
    """Stay inside a slow tool call until the test kills this process."""
    (out / f"{os.getpid()}.json").write_text(json.dumps(
        {"pid": os.getpid(), "execution_id": AGENT.execution.id, "thread_id": AGENT.thread_id, "seen": SEEN}))
    time.sleep(600)
    return "waited"


AGENT = Agent("forked", tools=[wait_here], store=open_store(db))  # made in the parent, before any fork
SEEN: dict[str, str] = {}


def hold(resume: str | None = None) -> None:
    """In a forked child: (try to resume a sibling's execution, then) run a task into the slow tool."""
    AGENT.store = open_store(db)  # a SQLite connection is not to be used across a fork; the agent is the parent's
    if resume is not None:
        try:
            AGENT.resume(resume)
            SEEN["resume"] = "resumed"
        except ExecutionClaimedError:
            SEEN["resume"] = "ExecutionClaimedError"
        if AGENT.execution is not None and not AGENT.execution.is_finished:
            os._exit(3)  # took the sibling's execution: the test sees no record of this child
    AGENT.add_task("Wait here.")
    AGENT.add_messages(CALL)
    AGENT.run_tools(AGENT.pending_tool_calls)


def child(resume: str | None = None) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            hold(resume)
        finally:
            os._exit(0)
    return pid


def record_of(pid: int) -> dict:
    path = out / f"{pid}.json"
    deadline = time.monotonic() + 60
    while not path.exists():
        if os.waitpid(pid, os.WNOHANG) != (0, 0) or time.monotonic() > deadline:
            sys.exit(f"child {pid} did not reach its tool")
        time.sleep(0.02)
    time.sleep(0.05)
    return json.loads(path.read_text())


first = record_of(child())
if mode == "siblings":
    record_of(child(resume=first["execution_id"]))
os._exit(0)  # the parent exits once its children are in their tools; they run on
'''


@pytest.fixture
def forked(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The database and the folder where each child writes its record; kills every child at the end."""
    out = tmp_path / "records"
    out.mkdir()
    db = str(tmp_path / "forked.db")
    yield db, out
    for record in out.glob("*.json"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(record.stem), signal.SIGKILL)


def _fork(db: str, out: Path, mode: str) -> list[dict[str, object]]:
    """Run the forking parent to its exit; the records of the children it left running, oldest first."""
    errors = out.parent / "stderr.txt"
    with errors.open("w") as stderr:  # a file, not a pipe: the children that run on would hold a pipe open
        done = subprocess.run([sys.executable, "-c", FORKING, db, str(out), mode], stdout=subprocess.DEVNULL,
                              stderr=stderr, timeout=120, check=False)
    assert done.returncode == 0, errors.read_text()
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    return sorted(records, key=lambda r: len(r["seen"]))


def _claimed_by(db: str, execution_id: str) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("SELECT claimed_by FROM executions WHERE id = ?", (execution_id,)).fetchone()[0])


def test_a_third_process_finds_a_forked_childs_execution_busy_after_its_parent_exited(
        forked: tuple[str, Path]) -> None:
    db, out = forked
    [child] = _fork(db, out, "orphan")  # the parent that made the agent has exited
    store = open_store(db)
    with pytest.raises(ThreadBusyError):
        Agent("forked", store=store).add_task("Next.", thread_id=str(child["thread_id"]))
    running = store.get_execution(str(child["execution_id"]))
    assert (running.status, running.error) == (ExecutionStatus.RUNNING, None)  # not settled as process_died
    store.close()
    assert _claimed_by(db, str(child["execution_id"])).split(":")[1] == str(child["pid"])


def test_forked_siblings_have_owners_of_their_own(forked: tuple[str, Path]) -> None:
    db, out = forked
    first, second = _fork(db, out, "siblings")
    assert second["seen"] == {"resume": "ExecutionClaimedError"}  # it could not take its sibling's execution
    owners = [_claimed_by(db, str(r["execution_id"])) for r in (first, second)]
    assert [o.split(":")[1] for o in owners] == [str(first["pid"]), str(second["pid"])]
    assert owners[0].split(":")[3] == owners[1].split(":")[3]  # one agent (its tag), two processes
    store = open_store(db)
    statuses = [store.get_execution(str(r["execution_id"])).status for r in (first, second)]
    assert statuses == [ExecutionStatus.RUNNING] * 2
    store.close()
