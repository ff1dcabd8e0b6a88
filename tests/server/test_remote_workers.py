"""Remote workers against a real server: `loopline serve` in a subprocess, remote worker processes
(`Events(base_url=...)` with a scripted model) that take their tasks over SSE, and, for the protocol's
edges, a test that plays a remote worker over raw HTTP. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from remote_workers_helpers import CuttableProxy, restart_server, start_remote_worker, stop, wait_for
from server_helpers import ServerStarter

from loopline._sse import SSEDecoder
from loopline.store import AssignmentTable
from loopline.tasks import Task, Tasks

ENDED = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def server(db: str, module_servers: ServerStarter) -> str:
    return module_servers(db).url


@pytest.fixture(scope="module")
def log(server_log: Path) -> Path:
    return server_log


@pytest.fixture(scope="module")
def tasks(db: str) -> Iterator[Tasks]:
    made = Tasks(db)
    yield made
    made.store.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def remote(db: str, log: Path, ledger: Path) -> Iterator[Any]:
    """Starts remote worker processes for one test (`remote(base_url, *args, env=...)`), stopped after it."""
    started: list[Any] = []

    def start(base_url: str, *args: str, env: dict[str, str] | None = None) -> Any:
        proc = start_remote_worker(base_url, db, *args, env={"LEDGER": str(ledger), **(env or {})}, log=log)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop(proc, sig=signal.SIGKILL if proc.poll() is None and proc.returncode else signal.SIGTERM)


def ended(tasks: Tasks, task: Task, timeout: float = 60.0) -> Task:
    return wait_for(lambda: (found := tasks.get(task.id)).status in ENDED and found, timeout=timeout)


def kinds(tasks: Tasks, task: Task) -> list[str]:
    return [e.type for e in tasks.events(task.id, follow=False)]


def runs(ledger: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []


# --- the main path ------------------------------------------------------------------------------------


def test_a_task_runs_on_a_remote_worker_with_its_events_and_result_in_the_servers_database(
        server: str, tasks: Tasks, remote: Any) -> None:
    remote(server, "--name", "main")
    task = tasks.create("researcher", "remote hello")
    done = ended(tasks, task)
    assert (done.status, done.result) == ("COMPLETED", "answer to remote hello")
    record = tasks.table.get(task.id)
    assert record["worker"].endswith(":main") and record["steps"] == 3
    calls = [e.data["name"] for e in tasks.events(task.id, follow=False) if e.type == "tool_call"]
    assert calls == ["lookup", "lookup", "finish"]
    seen = kinds(tasks, task)
    assert seen.count("finished") == 1 and seen[-1] == "finished"
    # The agent's execution is in the server's store, every step committed there.
    execution = tasks.store.get_execution(record["execution_id"])
    assert execution.status.value == "COMPLETED" and execution.thread_id == task.thread_id
    assert [m.role for m in tasks.store.get_messages(task.thread_id)][:2] == ["user", "assistant"]
    made = AssignmentTable(tasks.table.store).current(task.id)
    assert made is not None and (made.attempt, made.state, made.worker_id) == (1, "ended", record["worker"])


def test_tasks_waiting_for_a_remote_worker_go_to_it_highest_priority_first(server: str, db: str, remote: Any) -> None:
    """The relay holds the tasks while the one slot is busy, and hands it on in the engine's order."""
    org = Tasks(db, organization_id="ordered")  # no other test's worker takes this organisation's tasks
    try:
        remote(server, "--name", "one-slot", "--organization", "ordered", "--concurrency", "1")
        blocker = org.create("researcher", "hold the slot slow=1")
        wait_for(lambda: org.get(blocker.id).status == "RUNNING", timeout=30.0)
        waiting = [org.create("researcher", f"priority {p}", priority=p) for p in (0, 5, -5, 10, 1)]
        done = [ended(org, task) for task in [blocker, *waiting]]
        assert {t.status for t in done} == {"COMPLETED"}
        started = sorted(done[1:], key=lambda t: float(org.table.get(t.id)["started_at"]))
        assert [org.table.get(t.id)["priority"] for t in started] == [10, 5, 1, 0, -5]
    finally:
        org.store.close()


def test_a_thread_continues_on_a_remote_worker(server: str, tasks: Tasks, remote: Any) -> None:
    remote(server, "--name", "threads")
    first = ended(tasks, tasks.create("researcher", "first question"))
    second = ended(tasks, tasks.create("researcher", "second question", thread_id=first.thread_id))
    assert second.result == "answer to second question (after first question)"


def test_an_executor_task_runs_on_a_remote_worker(server: str, tasks: Tasks, remote: Any) -> None:
    remote(server, "--name", "executors", "--app", "executor_app")
    task = tasks.create(executor="add_numbers", inputs={"numbers": [1, 2, 3.5]})
    done = ended(tasks, task)
    assert (done.status, done.result) == ("COMPLETED", {"total": 6.5})


# --- faults -------------------------------------------------------------------------------------------------


def test_a_remote_worker_whose_connections_are_cut_reconnects_and_completes_its_task_once(
        server: str, tasks: Tasks, remote: Any, ledger: Path, log: Path) -> None:
    proxy = CuttableProxy(int(urlsplit(server).port or 0))
    try:
        remote(proxy.url, "--name", "cut", env={"STEPS": "6", "TOOL_SECONDS": "0.3"})
        task = tasks.create("researcher", "through a bad network")
        wait_for(lambda: tasks.get(task.id).status == "RUNNING")
        cuts = 0
        while tasks.get(task.id).status not in ENDED and cuts < 40:
            time.sleep(0.25)
            cuts += proxy.cut() > 0
        done = ended(tasks, task)
    finally:
        proxy.close()
    assert cuts >= 3
    assert (done.status, done.result) == ("COMPLETED", "answer to through a bad network")
    assert kinds(tasks, task).count("finished") == 1
    queries = [r["query"] for r in runs(ledger)]
    assert sorted(set(queries)) == [f"through a bad network#{i}" for i in range(5)]
    # A lookup runs again only when its result was not committed before the cut (it is idempotent).
    assert all(queries.count(q) <= 2 for q in queries)
    lines = [line for line in log.read_text().splitlines() if ":cut," in line]
    assert sum("SSE connection established for real-time events" in line for line in lines) >= 2


def test_a_remote_worker_killed_mid_task_has_it_taken_over_by_another_that_resumes_it(
        server: str, tasks: Tasks, remote: Any, ledger: Path) -> None:
    first = remote(server, "--name", "doomed")
    task = tasks.create("researcher", "survive slow=3")
    wait_for(lambda: len(runs(ledger)) == 2, timeout=30)  # the second lookup has started on the first worker
    first.kill()
    first.wait()
    remote(server, "--name", "heir")
    done = ended(tasks, task)
    assert (done.status, done.result) == ("COMPLETED", "answer to survive slow=3")
    record = tasks.table.get(task.id)
    assert record["worker"].endswith(":heir")
    recovered = [e for e in tasks.events(task.id, follow=False) if e.type == "recovered"]
    assert len(recovered) == 1 and str(recovered[0].data["previous_worker"]).endswith(":doomed")
    lookups = [r["query"] for r in runs(ledger)]
    # The first lookup was committed by the dead worker and not run again; the interrupted one ran twice.
    assert lookups == ["survive slow=3#0", "survive slow=3#1", "survive slow=3#1"]
    assert len({r["pid"] for r in runs(ledger)}) == 2
    made = AssignmentTable(tasks.table.store).current(task.id)
    assert made is not None and made.attempt >= 2 and made.worker_id.endswith(":heir")  # again to it if it was slow
    assert kinds(tasks, task).count("finished") == 1


def test_a_cancel_reaches_the_remote_worker_running_the_task(server: str, tasks: Tasks, remote: Any,
                                                             ledger: Path) -> None:
    remote(server, "--name", "cancels", env={"STEPS": "10"})
    task = tasks.create("researcher", "long job slow=1")
    wait_for(lambda: runs(ledger))
    tasks.cancel(task.id)
    done = ended(tasks, task, timeout=15)
    assert done.status == "CANCELLED"
    execution = tasks.store.get_execution(tasks.table.get(task.id)["execution_id"])
    assert execution.status.value == "CANCELLED"  # the worker ended the agent's run, not only the record
    time.sleep(1.5)
    assert len(runs(ledger)) < 9


# --- the protocol, played over raw HTTP ------------------------------------------------------------------


class RawWorker:
    """A remote worker played by the test: heartbeats from a thread, its assignment stream read by hand."""

    def __init__(self, server: str, worker_id: str, agent_id: str, organization: str = "") -> None:
        self.client = httpx2.Client(base_url=server, timeout=10.0,
                                    headers={"X-Loopline-Organization": organization} if organization else {})
        self.worker_id = worker_id
        self.agent_id = agent_id
        self.running: list[tuple[str, int]] = []
        self.answers: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self.beat()
        threading.Thread(target=self._beat, daemon=True).start()

    def beat(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.post(f"/v1/workers/{self.worker_id}/heartbeat", json={
            "agents": [self.agent_id], "concurrency": 1, "lease": 1.0,
            "running": [list(r) for r in self.running]}).json()
        self.answers.append(answer)
        return answer

    def _beat(self) -> None:
        while not self._stop.wait(0.25):
            self.beat()

    def silence(self) -> None:
        self._stop.set()

    def next_assignment(self, timeout: float = 30.0) -> dict[str, Any]:
        with self.client.stream("GET", f"/v1/workers/{self.worker_id}/assignments", timeout=timeout) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            decoder = SSEDecoder()
            for line in response.iter_lines():
                event = decoder.feed(line)
                if event is not None and event.event == "assignment":
                    data: dict[str, Any] = event.json()
                    self.running.append((data["task"]["id"], data["attempt"]))
                    return data
        raise AssertionError("the stream ended without an assignment")

    def result(self, task_id: str, attempt: int, value: Any) -> httpx2.Response:
        return self.client.post(f"/v1/workers/{self.worker_id}/tasks/{task_id}/result",
                                json={"attempt": attempt, "status": "COMPLETED", "result": value})

    def close(self) -> None:
        self.silence()
        self.client.close()


def test_a_result_reported_twice_is_applied_once(server: str, tasks: Tasks) -> None:
    worker = RawWorker(server, "raw-twice", "raw-twice-agent")
    try:
        task = tasks.create("raw-twice-agent", "report me twice")
        assignment = worker.next_assignment()
        assert (assignment["task"]["id"], assignment["attempt"]) == (task.id, 1)
        first = worker.result(task.id, 1, {"n": 1})
        again = worker.result(task.id, 1, {"n": 2})
    finally:
        worker.close()
    assert (first.status_code, first.json()["applied"]) == (200, True)
    assert (again.status_code, again.json()["applied"]) == (200, False)
    done = tasks.get(task.id)
    assert (done.status, done.result) == ("COMPLETED", {"n": 1})
    assert kinds(tasks, task).count("finished") == 1


def test_a_stale_attempt_is_refused_with_409_once_the_task_went_to_another_worker(server: str, tasks: Tasks) -> None:
    silent = RawWorker(server, "raw-silent", "raw-stale-agent")
    heir: RawWorker | None = None
    try:
        task = tasks.create("raw-stale-agent", "hand me on")
        assert silent.next_assignment()["attempt"] == 1
        heir = RawWorker(server, "raw-heir", "raw-stale-agent")
        silent.silence()  # its lease (1 s) lapses: the relay hands the task on
        assignment = heir.next_assignment()
        assert (assignment["task"]["id"], assignment["attempt"]) == (task.id, 2)
        refused = silent.result(task.id, 1, "late")
        assert refused.status_code == 409
        assert refused.json()["error"]["type"] == "TaskReassignedError"
        stale_write = silent.client.post(f"/v1/workers/raw-silent/tasks/{task.id}/events",
                                         json={"attempt": 1, "events": [["log", {"message": "zombie"}]]})
        assert stale_write.status_code == 409
        assert silent.beat()["lost"] == [task.id]  # its heartbeat answer tells it to stop
        accepted = heir.result(task.id, 2, "from the heir")
        assert (accepted.status_code, accepted.json()["applied"]) == (200, True)
    finally:
        silent.close()
        if heir is not None:
            heir.close()
    assert tasks.get(task.id).result == "from the heir"


def test_the_http_store_refuses_another_organisations_thread(server: str, tasks: Tasks) -> None:
    ours = Tasks(store=tasks.store, organization_id="acme")
    theirs = tasks.create("raw-nobody", "a thread of the default organisation")
    mine = ours.create("raw-nobody", "a thread of acme")
    with httpx2.Client(base_url=server, headers={"X-Loopline-Organization": "acme"}) as client:
        def call(op: str, **args: Any) -> httpx2.Response:
            return client.post("/v1/workers/acme-w/store", json={"op": op, "args": args})

        assert call("get_thread", thread_id=mine.thread_id).status_code == 200
        refused = call("get_thread", thread_id=theirs.thread_id)
        unknown = call("get_thread", thread_id="thr_does_not_exist")
        assert refused.status_code == unknown.status_code == 404
        assert refused.json()["error"]["type"] == unknown.json()["error"]["type"] == "UnknownThreadError"
        assert call("get_messages", thread_id=theirs.thread_id).status_code == 404
        assert call("append_messages", thread_id=theirs.thread_id, messages=[]).status_code == 404
        assert client.get(f"/v1/workers/acme-w/tasks/{theirs.id}").status_code == 404
    tasks.cancel(theirs.id)
    ours.cancel(mine.id)


def test_a_remote_worker_rides_out_its_servers_restart_and_its_task_completes_once(  # noqa: PLR0917
        db: str, server: str, servers: ServerStarter, tasks: Tasks, remote: Any, ledger: Path, log: Path) -> None:
    own = servers(db, "--no-relay")  # the module's server relays; this one only serves the worker
    remote(own.url, "--name", "restarts", "--lease", "8", env={"STEPS": "4"})  # a restart is no lapse
    task = tasks.create("researcher", "across a restart slow=1")
    wait_for(lambda: runs(ledger))  # the first lookup runs
    restart_server(own)
    done = ended(tasks, task)
    assert (done.status, done.result) == ("COMPLETED", "answer to across a restart slow=1")
    assert kinds(tasks, task).count("finished") == 1
    queries = [r["query"] for r in runs(ledger)]
    assert sorted(set(queries)) == [f"across a restart slow=1#{i}" for i in range(3)]
    assert all(queries.count(q) <= 2 for q in queries)
    lines = [line for line in log.read_text().splitlines() if ":restarts," in line]
    assert sum("SSE connection established for real-time events" in line for line in lines) >= 2


def test_a_stopping_remote_worker_hands_its_task_back_at_a_step_and_another_finishes_it(
        server: str, tasks: Tasks, remote: Any, ledger: Path) -> None:
    leaving = remote(server, "--name", "leaving", "--grace", "0.2", env={"STEPS": "4"})
    task = tasks.create("researcher", "hand back slow=1.5")
    wait_for(lambda: runs(ledger))  # its first lookup runs
    leaving.send_signal(signal.SIGTERM)
    assert leaving.wait(30) == 0
    assert tasks.get(task.id).status == "PENDING"  # handed back at the step's end, with no process behind it
    remote(server, "--name", "staying", env={"STEPS": "4"})
    done = ended(tasks, task)
    assert (done.status, tasks.table.get(task.id)["worker"].endswith(":staying")) == ("COMPLETED", True)
    assert "handed_back" in kinds(tasks, task)
    lookups = [(r["query"][-2:], r["pid"]) for r in runs(ledger)]
    assert [q for q, _ in lookups] == ["#0", "#1", "#2"] and lookups[0][1] != lookups[1][1] == lookups[2][1]
