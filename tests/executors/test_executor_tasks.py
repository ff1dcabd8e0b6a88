"""Executor tasks run by real worker processes: inputs checked before anything is queued, failure and
exceptions end the task FAILED with the error, cancelling calls the executor's `cancel()`, a worker with
only executors (and those of installed packages) serves them, and an agent runs as an executor in a tree."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "workers"))

from workers_helpers import start_worker, stop_worker  # noqa: E402

from loopline.errors import InvalidInputError, TasksUnavailableError, UnknownExecutorError  # noqa: E402
from loopline.executors import ENTRY_POINT_GROUP, TaskManager, TaskTreeNode  # noqa: E402
from loopline.tasks import Task, TaskConfig, Tasks, live_workers  # noqa: E402

RUNNER = HERE / "run_executor_worker.py"


class Served:
    """The module's database, ledger and executors-only worker."""

    def __init__(self, db: Path, ledger: Path, worker: subprocess.Popen[bytes]) -> None:
        self.db, self.ledger, self.worker = str(db), ledger, worker
        self.tasks = Tasks(self.db)

    def ledger_entries(self) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        return [json.loads(line) for line in self.ledger.read_text().splitlines()]

    def counts(self) -> tuple[int, int]:
        """Task rows in loopline's table, and workflows in the engine's database."""
        with sqlite3.connect(self.db) as db, sqlite3.connect(self.db + ".tasks.sqlite") as engine:
            return (db.execute("SELECT count(*) FROM tasks").fetchone()[0],
                    engine.execute("SELECT count(*) FROM workflow_status").fetchone()[0])


def _plugin(where: Path) -> Path:
    """An installed package (a dist-info beside its module) declaring the executor `plugin_tripler`."""
    where.mkdir()
    (where / "ll_plugin_tripler.py").write_text(
        "from loopline.executors import ExecutableTask\n\n"
        "class Tripler(ExecutableTask):\n"
        "    id = 'plugin_tripler'\n\n"
        "    def get_input_schema(self):\n"
        "        return {'type': 'object', 'properties': {'n': {'type': 'number'}}, 'required': ['n']}\n\n"
        "    async def execute(self, inputs):\n        return {'tripled': inputs['n'] * 3}\n")
    info = where / "ll_plugin_tripler-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ll-plugin-tripler\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntripler = ll_plugin_tripler:Tripler\n")
    return where


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One worker with executors only (no agents, no handler): executor_app's and an installed plugin's."""
    root = tmp_path_factory.mktemp("executor_tasks")
    plugin = _plugin(root / "site")
    path = os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")])
    ledger = root / "ledger.jsonl"
    worker = start_worker(str(root / "tasks.sqlite"), "--executors-only", "--lease", "2", script=RUNNER,
                          env={"LEDGER": str(ledger), "PYTHONPATH": path}, log=root / "worker.log")
    try:
        yield Served(root / "tasks.sqlite", ledger, worker)
    finally:
        assert stop_worker(worker) == 0, (root / "worker.log").read_text()[-3000:]


def _wait_status(task: Task, status: str, timeout: float = 20.0) -> Task:
    deadline = time.monotonic() + timeout
    while task.refresh().status != status:
        assert time.monotonic() < deadline, f"{task.id} is {task.status}, not {status}"
        time.sleep(0.05)
    return task


def test_a_worker_with_only_executors_serves_them(served: Served) -> None:
    (worker,) = live_workers(served.tasks.table)
    assert set(worker["executors"]) >= {"add_numbers", "slow", "refuses", "agent.researcher", "plugin_tripler"}
    assert worker["agents"] == sorted(worker["executors"])  # its queues: the executors', nothing else
    assert worker["executors"]["slow"]["required"] == ["seconds"]  # the schema it publishes

    task = served.tasks.create(executor="add_numbers", inputs={"numbers": [1, 2, 3.5]}).wait(20)

    assert (task.status, task.result) == ("COMPLETED", {"total": 6.5})
    assert task.to_json()["worker"] == worker["id"]
    plugged = served.tasks.create(executor="plugin_tripler", inputs={"n": 7}).wait(20)
    assert (plugged.status, plugged.result) == ("COMPLETED", {"tripled": 21})  # an installed package's executor


def test_invalid_inputs_are_refused_before_anything_is_queued(served: Served) -> None:
    before = served.counts()
    with pytest.raises(InvalidInputError) as caught:
        served.tasks.create(executor="add_numbers", inputs={"numbers": [1, "two"]})
    assert caught.value.field == "inputs.numbers.1" and "'two' is not of type 'number'" in str(caught.value)
    with pytest.raises(InvalidInputError) as missing:
        served.tasks.create(executor="add_numbers", inputs={"number": [1]})
    assert missing.value.field == "inputs"
    with pytest.raises(UnknownExecutorError) as unknown:
        served.tasks.create(executor="no_such_executor", inputs={})
    assert "no_such_executor" in str(unknown.value) and "add_numbers" in str(unknown.value)
    assert served.counts() == before


def test_a_process_without_the_executor_checks_inputs_against_the_workers_schema(served: Served) -> None:
    """The creating process never imported executor_app: the schema comes from the worker's heartbeat."""
    script = ("import sys\nfrom loopline.tasks import Tasks\nfrom loopline.errors import InvalidInputError\n"
              "tasks = Tasks(sys.argv[1])\n"
              "try:\n    tasks.create(executor='slow', inputs={'seconds': -1})\n"
              "except InvalidInputError as e:\n    print('refused', e.field)\n"
              "print(tasks.create(executor='slow', inputs={'seconds': 0}).wait(20).status)\n")
    before = served.counts()
    out = subprocess.run([sys.executable, "-c", script, served.db], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.stdout.split() == ["refused", "inputs.seconds", "COMPLETED"], out.stderr
    assert served.counts() == (before[0] + 1, before[1] + 1)  # only the valid one


def test_a_reported_failure_or_an_exception_ends_the_task_failed_with_its_error(served: Served) -> None:
    reported = served.tasks.create(executor="refuses", inputs={}).wait(20)
    raised = served.tasks.create(executor="refuses", inputs={"raise": True}).wait(20)

    assert reported.status == "FAILED"
    assert reported.error is not None and reported.error["type"] == "ExecutorFailed"
    assert reported.error["message"] == "refused politely"
    assert raised.status == "FAILED"
    assert raised.error is not None and raised.error["type"] == "ValueError"
    assert raised.error["message"] == "refused by raising" and "execute" in raised.error["traceback"]
    finished = [e for e in raised.events(timeout=5) if e.type == "finished"]
    assert finished[0].data["status"] == "FAILED" and finished[0].data["error"]["message"] == "refused by raising"


def test_cancelling_a_running_executor_calls_its_cancel_and_ends_it_cancelled(served: Served) -> None:
    task = _wait_status(served.tasks.create(executor="slow", inputs={"seconds": 30}), "RUNNING")
    started = time.monotonic()

    task.cancel()
    task.wait(10)

    assert task.status == "CANCELLED" and time.monotonic() - started < 5
    assert {"executor": "slow", "cancelled": True} in [{k: e[k] for k in ("executor", "cancelled")}
                                                     for e in served.ledger_entries() if "cancelled" in e]
    assert [e.data["status"] for e in task.events(timeout=5) if e.type == "status"] == [
        "PENDING", "RUNNING", "CANCELLED"]


def test_max_duration_ends_a_running_executor(served: Served) -> None:
    cancels = sum(1 for e in served.ledger_entries() if e.get("cancelled"))
    started = time.monotonic()
    task = served.tasks.create(executor="slow", inputs={"seconds": 30},
                               config=TaskConfig(max_duration_seconds=1)).wait(15)

    assert task.status == "FAILED" and time.monotonic() - started < 10
    assert task.error is not None and task.error["type"] == "ExecutorTimeout"
    assert "max_duration_seconds=1" in task.error["message"]
    assert sum(1 for e in served.ledger_entries() if e.get("cancelled")) == cancels + 1


def test_an_agent_runs_as_an_executor_in_a_tree(served: Served) -> None:
    total = TaskTreeNode("total", executor="add_numbers", inputs={"numbers": [2, 3]})
    total.add_child(TaskTreeNode("explain", executor="agent.researcher", inputs={"prompt": "Explain the total."}))

    root = TaskManager(served.tasks).distribute_task_tree(total).wait(30)

    assert root.status == "COMPLETED", root.error
    assert root.result["total"] == {"total": 5}
    answer = root.result["explain"]["result"]
    assert answer.startswith("answer to Explain the total.") and "{'total': {'total': 5}}" in answer
    nodes = served.tasks.tree(root.id)
    assert nodes["explain"].to_json()["inputs"]["dependencies"] == {"total": {"total": 5}}
    with pytest.raises(InvalidInputError) as caught:  # an agent executor's input is its prompt
        served.tasks.create(executor="agent.researcher", inputs={"prompt": ""})
    assert caught.value.field == "inputs.prompt"


def test_a_worker_with_a_catch_all_handler_leaves_other_executors_alone(served: Served, tmp_path: Path) -> None:
    """A plain worker (agents and a handler for every other agent id, no executors) beside the executors'
    worker: executor tasks all go to the worker that has the executor, never failed by the other one,
    while the plain worker still takes handler tasks of agent ids it first hears of now."""
    plain = start_worker(served.db, "--name", "plain", "--lease", "2", log=tmp_path / "plain.log")
    try:
        (executors_worker,) = [w["id"] for w in live_workers(served.tasks.table) if w["name"] != "plain"]
        sums = [served.tasks.create(executor="add_numbers", inputs={"numbers": [n]}) for n in range(8)]
        handled = served.tasks.create(f"new-agent-{time.time_ns()}", "hello").wait(20)
        for n, task in enumerate(sums):
            task.wait(20)
            assert (task.status, task.result, task.worker) == ("COMPLETED", {"total": n}, executors_worker), task.error
        assert handled.status == "COMPLETED" and handled.result["echo"] == "hello"
        assert handled.worker is not None and handled.worker.endswith(":plain")
    finally:
        assert stop_worker(plain) == 0


def test_executor_tasks_on_one_thread_run_in_creation_order(served: Served) -> None:
    thread_id = served.tasks.store.create_thread()
    first = served.tasks.create(executor="slow", inputs={"seconds": 0.5}, thread_id=thread_id)
    second = served.tasks.create(executor="add_numbers", inputs={"numbers": [1]}, thread_id=thread_id)

    assert (first.wait(20).status, second.wait(20).status) == ("COMPLETED", "COMPLETED"), (first.error, second.error)
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at


def test_a_stopping_worker_lets_the_executor_clean_up_and_hands_its_task_back(tmp_path: Path) -> None:
    db, ledger = str(tmp_path / "stop.sqlite"), tmp_path / "ledger.jsonl"
    args = ("--executors-only", "--lease", "2", "--grace", "0.5")
    first = start_worker(db, *args, script=RUNNER, env={"LEDGER": str(ledger)}, log=tmp_path / "first.log")
    tasks = Tasks(db)
    task = _wait_status(tasks.create(executor="slow", inputs={"seconds": 3}), "RUNNING")

    code = stop_worker(first)  # past its grace period, mid-execute
    told = f"exit status {code}, log: {(tmp_path / 'first.log').read_text()[-2000:]}"

    assert code == 0 and task.refresh().status == "PENDING", told
    assert ledger.exists(), told
    assert [(e["executor"], e["pid"]) for e in map(json.loads, ledger.read_text().splitlines())
            if e.get("cancelled")] == [("slow", first.pid)]
    second = start_worker(db, *args, script=RUNNER, env={"LEDGER": str(ledger)}, log=tmp_path / "second.log")
    try:
        task.wait(30)
        assert (task.status, task.result) == ("COMPLETED", {"slept": 3}), task.error
        assert "handed_back" in [e.type for e in task.events(timeout=5)]
    finally:
        assert stop_worker(second) == 0


def test_a_catch_all_worker_alone_neither_runs_nor_counts_for_an_executor(tmp_path: Path) -> None:
    """With only a plain worker (a handler for every agent id, no executors) alive, an executor task
    waits for a worker that has the executor, and `require_worker` says there is none."""
    sys.path.insert(0, str(HERE))
    import executor_app  # noqa: F401 - this process knows the executors' schemas, the worker does not

    db = str(tmp_path / "plain.sqlite")
    plain = start_worker(db, "--name", "plain", "--lease", "2", log=tmp_path / "plain.log")
    try:
        tasks = Tasks(db)
        with pytest.raises(TasksUnavailableError, match="add_numbers"):
            tasks.create(executor="add_numbers", inputs={"numbers": [1]}, require_worker=True)
        waiting = tasks.create(executor="add_numbers", inputs={"numbers": [1]})
        handled = tasks.create("someone", "hi").wait(20)
        assert handled.status == "COMPLETED"  # the worker is taking tasks
        time.sleep(1.0)
        assert waiting.refresh().status == "PENDING"
    finally:
        assert stop_worker(plain) == 0
