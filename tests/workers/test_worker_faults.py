"""Faults of real worker processes, on a real SQLite file and a real PostgreSQL database: a worker
killed with SIGKILL mid-task, stopped with SIGTERM (finished within the grace period or handed back), a
worker that loses its database connection, and live workers racing to recover a dead one. Every test
checks the records the tasks left: statuses, events, the thread's messages, and a ledger of tool runs."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from workers_helpers import start_worker, stop_worker

from loopline.errors import StoreError
from loopline.tasks import Task, Tasks, live_workers

LEASE = "2"
# The messages of a 3-step task of worker_app's researcher: the prompt, two lookups, the finish call.
ROLES = ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "tasks.db") if request.param == "sqlite" else str(request.getfixturevalue("pg_empty_url"))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes a test started: killed at its end, whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _worker(procs: list[subprocess.Popen[bytes]], db: str, name: str, tmp_path: Path, *args: str,
            env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = start_worker(db, "--name", name, "--lease", LEASE, "--app", "faults_app", *args, env=env,
                        log=tmp_path / f"{name}.log")
    procs.append(proc)
    return proc


def _until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `timeout` seconds. A read
    refused by the database (its connections cut by a test) counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(StoreError):
            found = check()
            if found:
                return found
        time.sleep(0.05)
    pytest.fail(f"not within {timeout:g} s: {what}")


def _ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _runs(path: Path, task: Task) -> Counter[str]:
    """How many times each tool call of the task ran (its queries start with the prompt)."""
    return Counter(e["query"] for e in _ledger(path) if e["query"].startswith(task.input.text + "#"))


def _roles(tasks: Tasks, task: Task) -> list[str]:
    assert task.thread_id is not None
    return [str(m.role.value if hasattr(m.role, "value") else m.role) for m in tasks.store.get_messages(task.thread_id)]


def _events(task: Task) -> list[str]:
    return [e.type for e in task.events(follow=False)]


def _ended(tasks: Tasks, ids: list[str], statuses: tuple[str, ...] = ("COMPLETED",)) -> bool:
    return all(tasks.get(i).status in statuses for i in ids)


def _log(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text(errors="replace")


# --- kill -9 mid-task ---------------------------------------------------------------------------------


def test_killed_worker_tasks_complete_on_a_live_worker(db: str, tmp_path: Path,
                                                       procs: list[subprocess.Popen[bytes]]) -> None:
    """The tool takes longer than the lease: the workers that resume the tasks (re-running the
    interrupted calls) must keep their own heartbeats meanwhile, or they would be recovered in turn."""
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "3", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, env={**env, "TOOL_SECONDS": "60"})  # killed inside its first lookups
    tasks = Tasks(db)
    ids = [tasks.create("researcher", f"kill-{i}").id for i in range(3)]
    # Every task is inside its first tool call on worker a.
    _until("a runs every task's first lookup",
           lambda: {e["query"] for e in _ledger(ledger) if e["pid"] == a.pid} >= {f"kill-{i}#0" for i in range(3)})
    survivors = [_worker(procs, db, name, tmp_path, env=env) for name in ("b", "c")]
    a.kill()
    a.wait()
    killed_at = time.time()
    _until("every task completed on b or c", lambda: _ended(tasks, ids), timeout=60)
    resumed = []
    for task in (tasks.get(i) for i in ids):
        assert task.result == f"answer to {task.input.text}"
        assert task.to_json()["worker"].endswith((":b", ":c"))
        events = list(task.events(follow=False))
        recovered = [e for e in events if e.type == "recovered"]
        assert len(recovered) == 1 and recovered[0].data["previous_worker"].endswith(":a")
        resumed.append(recovered[0].created_at - killed_at)
        assert [e.type for e in events].count("finished") == 1
        assert _roles(tasks, task) == ROLES  # nothing lost, nothing twice
        runs = _runs(ledger, task)
        assert runs[f"{task.input.text}#0"] == 2  # interrupted, run again once (idempotent)
        assert runs[f"{task.input.text}#1"] == 1
        execution = tasks.store.get_execution(str(task.execution_id))
        assert execution.status.value == "COMPLETED"
    assert {e["pid"] for e in _ledger(ledger)} <= {a.pid, *(p.pid for p in survivors)}
    print(f"kill -9 -> recovered event: {', '.join(f'{s:.2f} s' for s in resumed)}")
    assert [stop_worker(p) for p in survivors] == [0, 0]


def test_interrupted_non_idempotent_call_pauses_the_task(db: str, tmp_path: Path,
                                                         procs: list[subprocess.Popen[bytes]]) -> None:
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "30", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, env=env)
    tasks = Tasks(db)
    task = tasks.create("clerk", "charge it")
    _until("a runs charge", lambda: [e for e in _ledger(ledger) if e["pid"] == a.pid])
    b = _worker(procs, db, "b", tmp_path, env=env)
    a.kill()
    a.wait()
    _until("the task is PAUSED", lambda: tasks.get(task.id).status == "PAUSED", timeout=60)
    time.sleep(1.0)  # nothing more happens to it
    task = tasks.get(task.id)
    assert task.status == "PAUSED"
    assert len(_ledger(ledger)) == 1  # charge ran once, never again
    execution = tasks.store.get_execution(str(task.execution_id))
    assert execution.status.value == "PAUSED"
    assert len(execution.awaiting_decision) == 1
    assert "recovered" in _events(task) and "finished" not in _events(task)
    assert stop_worker(b) == 0


def test_killed_worker_restarted_under_its_name_recovers_its_tasks(db: str, tmp_path: Path,
                                                                   procs: list[subprocess.Popen[bytes]]) -> None:
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "1.5", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, env={**env, "TOOL_SECONDS": "60"})
    tasks = Tasks(db)
    ids = [tasks.create("researcher", f"own-{i}").id for i in range(2)]
    _until("a runs both first lookups", lambda: len({e["query"] for e in _ledger(ledger)}) >= 2)
    a.kill()
    a.wait()
    again = _worker(procs, db, "a", tmp_path, env=env)
    _until("both tasks completed on the restarted a", lambda: _ended(tasks, ids), timeout=60)
    for task in (tasks.get(i) for i in ids):
        assert _roles(tasks, task) == ROLES
        assert list(_runs(ledger, task).values()) == [2, 1]
        assert _events(task).count("recovered") == 1
    assert {e["pid"] for e in _ledger(ledger)} == {a.pid, again.pid}
    assert stop_worker(again) == 0


def test_a_frozen_worker_taken_for_dead_does_not_fail_the_tasks_taken_from_it(
        pg_empty_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A worker stopped (SIGSTOP: a VM paused, a long GC) past its lease is taken for dead and its tasks
    run on another; when it wakes up, its late writes are refused, and it leaves the tasks alone (it
    does not record them FAILED over the worker that now runs them). PostgreSQL only: a SQLite process
    frozen inside a write transaction holds the file's one write lock, and every writer waits for it."""
    db = pg_empty_url
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "0.5", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, env={**env, "TOOL_SECONDS": "3"})
    tasks = Tasks(db)
    ids = [tasks.create("researcher", f"frozen-{i}").id for i in range(2)]
    _until("a runs both tasks", lambda: len(_ledger(ledger)) >= 2)
    b = _worker(procs, db, "b", tmp_path, env=env)
    a.send_signal(signal.SIGSTOP)
    try:
        _until("b took both tasks over", lambda: all("recovered" in _events(tasks.get(i)) for i in ids))
    finally:
        a.send_signal(signal.SIGCONT)
    _until("every task ended", lambda: _ended(tasks, ids, ("COMPLETED", "FAILED", "CANCELLED")), timeout=60)
    _until("a woke up and found each task's execution taken", lambda: all(
        any(e.type == "log" and "lost the task's execution" in e.data["message"] for e in tasks.get(i).events(
            follow=False)) for i in ids))
    for task in (tasks.get(i) for i in ids):
        assert task.status == "COMPLETED", (task.status, task.error)
        assert task.to_json()["worker"].endswith(":b")
        assert _events(task).count("finished") == 1
        assert _roles(tasks, task) == ROLES
        assert tasks.store.get_execution(str(task.execution_id)).status.value == "COMPLETED"
    assert a.poll() is None
    assert [stop_worker(p) for p in (a, b)] == [0, 0]


# --- SIGTERM: finish within the grace period, or hand back ------------------------------------------


def _no_orphans(tasks: Tasks, ids: list[str]) -> None:
    """No task is RUNNING unless a live worker runs it."""
    live = {w["id"] for w in live_workers(tasks.table)}
    for task in (tasks.get(i) for i in ids):
        assert task.status != "RUNNING" or task.to_json().get("worker") in live, (task.id, task.status, live)


def test_sigterm_lets_running_tasks_finish_within_the_grace_period(db: str, tmp_path: Path,
                                                                   procs: list[subprocess.Popen[bytes]]) -> None:
    ledger = tmp_path / "ledger.jsonl"
    a = _worker(procs, db, "a", tmp_path, "--grace", "30", env={"TOOL_SECONDS": "1", "LEDGER": str(ledger)})
    tasks = Tasks(db)
    ids = [tasks.create("researcher", f"grace-{i}").id for i in range(2)]
    _until("a runs both tasks", lambda: len(_ledger(ledger)) >= 2)
    assert stop_worker(a, sig=signal.SIGTERM) == 0
    for task in (tasks.get(i) for i in ids):
        assert task.status == "COMPLETED" and task.to_json()["worker"].endswith(":a")
        assert "handed_back" not in _events(task)
        assert _roles(tasks, task) == ROLES
    assert not live_workers(tasks.table)


@pytest.mark.parametrize("taker", ["b", "a"])
def test_sigterm_hands_back_tasks_that_outlast_the_grace_period(db: str, taker: str, tmp_path: Path,
                                                                procs: list[subprocess.Popen[bytes]]) -> None:
    """Tasks still inside a long tool call when the grace period ends are handed back (PENDING), and
    complete on another worker (`b`), or on the same one restarted (`a`): resumed, never FAILED or
    CANCELLED, the interrupted idempotent call run again once."""
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "0.5", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, "--grace", "0.5", env={**env, "TOOL_SECONDS": "8"})
    tasks = Tasks(db)
    ids = [tasks.create("researcher", f"back-{i}").id for i in range(2)]
    _until("a runs both tasks", lambda: len(_ledger(ledger)) >= 2)
    assert stop_worker(a, sig=signal.SIGTERM) == 0
    _no_orphans(tasks, ids)
    for task in (tasks.get(i) for i in ids):
        assert task.status == "PENDING"
        assert _events(task)[-1] == "handed_back" and _events(task).count("handed_back") == 1
    _worker(procs, db, taker, tmp_path, env=env)
    _until(f"both tasks completed on {taker}", lambda: _ended(tasks, ids, ("COMPLETED", "FAILED", "CANCELLED")),
           timeout=60)
    for task in (tasks.get(i) for i in ids):
        assert task.status == "COMPLETED", (task.status, task.error)
        assert task.to_json()["worker"].endswith(f":{taker}")
        assert _roles(tasks, task) == ROLES
        assert list(_runs(ledger, task).values()) == [2, 1]
        assert tasks.store.get_execution(str(task.execution_id)).status.value == "COMPLETED"


def test_sigterm_hands_back_an_interrupted_non_idempotent_call_as_paused(
        db: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "8", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, "--grace", "0.5", env=env)
    tasks = Tasks(db)
    task = tasks.create("clerk", "charge it")
    _until("a runs charge", lambda: _ledger(ledger))
    assert stop_worker(a, sig=signal.SIGTERM) == 0
    assert tasks.get(task.id).status == "PENDING"
    b = _worker(procs, db, "b", tmp_path, env=env)
    _until("the task is PAUSED", lambda: tasks.get(task.id).status not in ("PENDING", "RUNNING"), timeout=60)
    task = tasks.get(task.id)
    assert task.status == "PAUSED"
    assert len(_ledger(ledger)) == 1
    assert len(tasks.store.get_execution(str(task.execution_id)).awaiting_decision) == 1
    assert stop_worker(b) == 0


# --- losing the database connection -------------------------------------------------------------------


def _outage(url: str, seconds: float) -> int:
    """Cut every connection to `url`'s database and refuse new ones for `seconds`, cutting again each
    0.2 s (PostgreSQL: ALLOW_CONNECTIONS false + pg_terminate_backend, from the maintenance database).
    Returns how many backends were terminated."""
    import psycopg

    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    cut = 0
    with psycopg.connect(url, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        try:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                     "AND pid <> pg_backend_pid()", (dbname,)).fetchall()
                cut += len(rows)
                time.sleep(0.2)
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
    return cut


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.xfail(strict=False, reason=(
    "known intermittent stall (1 run in 3 on a loaded 2-core machine): after the outage both workers log that "
    "they reach the database again, yet their tasks make no progress for 90 s; not yet understood")))])
def test_workers_that_lose_the_database_retry_and_complete_their_tasks_once(
        pg_empty_url: str, workers: int, tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """Every connection of the workers is cut, and none can be made, for 4 s (twice their lease). They
    say so, wait, and run their tasks on: each completed once, nothing lost or twice in its thread. With
    two workers, neither takes the other for dead (both were cut off, not dead)."""
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "0.1", "LEDGER": str(ledger), "STEPS": "40"}
    names = ["a", "b"][:workers]
    running = [_worker(procs, pg_empty_url, name, tmp_path, "--concurrency", "2", env=env) for name in names]
    tasks = Tasks(pg_empty_url)
    ids = [tasks.create("researcher", f"outage-{i}").id for i in range(2 * workers)]
    _until("the tasks run", lambda: len(_ledger(ledger)) >= 2 * workers)
    assert _outage(pg_empty_url, 4.0) > 0
    _until("every task ended", lambda: _ended(tasks, ids, ("COMPLETED", "FAILED", "CANCELLED")), timeout=90)
    for task in (tasks.get(i) for i in ids):
        assert task.status == "COMPLETED", (task.status, task.error)
        assert task.result == f"answer to {task.input.text}"
        events = _events(task)
        assert events.count("finished") == 1 and "recovered" not in events
        assert _roles(tasks, task) == ["user"] + ["assistant", "tool"] * 40
        runs = _runs(ledger, task)
        assert set(runs) == {f"{task.input.text}#{n}" for n in range(39)}
        assert max(runs.values()) <= 2  # a call whose result was not committed runs again (idempotent)
        assert tasks.store.get_execution(str(task.execution_id)).status.value == "COMPLETED"
    assert all(proc.poll() is None for proc in running)  # they kept running
    said = "".join(_log(tmp_path, name) for name in names)
    assert "reaches the database again" in said, said[-3000:]
    assert [stop_worker(proc) for proc in running] == [0] * workers
    tasks.store.close()


# --- the watchdog -------------------------------------------------------------------------------------


def test_three_live_workers_recover_a_dead_one_exactly_once(db: str, tmp_path: Path,
                                                             procs: list[subprocess.Popen[bytes]]) -> None:
    """Three workers see the same lapsed heartbeat and race to recover it: each task is handed back once
    (the counts the workers log add up to the tasks), resumed once, and runs each step once after."""
    ledger = tmp_path / "ledger.jsonl"
    env = {"TOOL_SECONDS": "0.5", "LEDGER": str(ledger)}
    a = _worker(procs, db, "a", tmp_path, env={**env, "TOOL_SECONDS": "60"})
    tasks = Tasks(db)
    ids = [tasks.create("researcher", f"race-{i}").id for i in range(4)]
    _until("a runs every task's first lookup", lambda: len(_ledger(ledger)) >= 4)
    survivors = {name: _worker(procs, db, name, tmp_path, env=env) for name in ("b", "c", "d")}
    a.kill()
    a.wait()
    killed_at = time.time()
    _until("every task completed", lambda: _ended(tasks, ids), timeout=60)
    resumed = []
    for task in (tasks.get(i) for i in ids):
        events = list(task.events(follow=False))
        recovered = [e for e in events if e.type == "recovered"]
        assert len(recovered) == 1, [e.type for e in events]
        resumed.append(recovered[0].created_at - killed_at)
        assert [e.type for e in events].count("finished") == 1
        assert _roles(tasks, task) == ROLES
        assert list(_runs(ledger, task).values()) == [2, 1]  # the cut call again once, the next once
    said = {name: _log(tmp_path, name) for name in survivors}
    counts = [int(n) for text in said.values() for n in re.findall(r"recovered (\d+) task\(s\) of \S+:a ", text)]
    assert sum(counts) == len(ids), said
    print(f"kill -9 -> resumed ({len(survivors)} racing): {', '.join(f'{s:.2f} s' for s in resumed)}")
    assert [stop_worker(p) for p in survivors.values()] == [0, 0, 0]
