"""Task trees across real worker processes, on SQLite and PostgreSQL: independent nodes run at once on
different workers, results reach dependants, failures block them (or not, with on_failure="continue"),
bad trees are refused before anything is written, cancelling the root cancels the rest, a worker killed
mid-node costs nothing that completed, and the seed's task composition runs as a tree and as two calls."""

from __future__ import annotations

import contextlib
import json
import signal
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

from loopline.errors import InvalidInputError, TaskFailedError, TaskTimeoutError, UnknownExecutorError  # noqa: E402
from loopline.executors import TaskManager, TaskTreeNode  # noqa: E402
from loopline.tasks import Task, Tasks  # noqa: E402

RUNNER = HERE / "run_executor_worker.py"
EXECUTOR_SECONDS = 0.3
PARALLEL_SECONDS = 3.0
"""How long each node of the diamond takes: its parallel branches must start within that of each other."""


class Cluster:
    """A database, a ledger of executor runs, and worker processes serving executor_app."""

    def __init__(self, db: str, where: Path, env: dict[str, str] | None = None) -> None:
        self.db, self.where = db, where
        self.ledger = where / "ledger.jsonl"
        self.env = {"LEDGER": str(self.ledger), "EXECUTOR_SECONDS": str(EXECUTOR_SECONDS), **(env or {})}
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.tasks = Tasks(db)
        self.manager = TaskManager(self.tasks)

    def start(self, name: str) -> None:
        """A worker (agents, executors, no handler) taking one task of each executor at a time, so
        parallel nodes of one executor go to different workers."""
        self.workers[name] = start_worker(self.db, "--name", name, "--lease", "2", "--concurrency", "1",
                                          script=RUNNER, env=self.env, log=self.where / f"{name}.log")

    def stop(self) -> None:
        for proc in self.workers.values():
            stop_worker(proc)

    def runs(self) -> list[dict[str, Any]]:
        """add_numbers runs, oldest first."""
        if not self.ledger.exists():
            return []
        entries = [json.loads(line) for line in self.ledger.read_text().splitlines()]
        return [e for e in entries if e.get("executor") == "add_numbers"]

    def diagnosis(self, root: Task) -> str:
        """The nodes' states and the end of each worker's log, for a tree that did not end."""
        nodes = {n: (t.status, t.worker) for n, t in self.tasks.tree(root.id).items()}
        logs = {p.name: p.read_text()[-1500:] for p in sorted(self.where.glob("*.log"))}
        return f"nodes: {nodes}\nlogs: {logs}"

    def task_rows(self) -> int:
        return len(self.tasks.table.list(organization_id=None, limit=10_000))


def _cluster(db: str, where: Path, *names: str, env: dict[str, str] | None = None) -> Cluster:
    cluster = Cluster(db, where, env)
    try:
        for name in names:
            cluster.start(name)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def sqlite_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    where = tmp_path_factory.mktemp("trees")
    cluster = _cluster(str(where / "trees.sqlite"), where, "tree-1", "tree-2")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of the test's own (its own workers, its own engine tables)."""
    if request.param == "sqlite":
        return str(tmp_path / "tree.sqlite")
    return str(request.getfixturevalue("pg_empty_url"))


def _diamond() -> TaskTreeNode:
    """a -> (b, c in parallel) -> d; each adds its numbers to its dependencies' totals."""
    a = TaskTreeNode("a", executor="add_numbers", inputs={"numbers": [1, 0.5]})
    b = a.add_child(TaskTreeNode("b", executor="add_numbers", inputs={"numbers": [10]}))
    a.add_child(TaskTreeNode("c", executor="add_numbers", inputs={"numbers": [100]}))
    b.add_child(TaskTreeNode("d", executor="add_numbers", inputs={"numbers": [1000]}, dependencies=["c"]))
    return a


def _check_diamond(cluster: Cluster, root: Task) -> None:
    """Results flowed along the edges, b and c overlapped on two workers, each node ran once."""
    assert root.status == "COMPLETED", root.error
    assert root.result == {"a": {"total": 1.5}, "b": {"total": 11.5}, "c": {"total": 101.5}, "d": {"total": 1113.0}}
    nodes = cluster.tasks.tree(root.id)
    assert {n: t.status for n, t in nodes.items()} == dict.fromkeys("abcd", "COMPLETED")
    assert nodes["d"].to_json()["inputs"]["dependencies"] == {"b": {"total": 11.5}, "c": {"total": 101.5}}
    runs = {tuple(r["numbers"]): r for r in cluster.runs() if r["numbers"][0] in (10, 100)}
    b, c = runs[(10,)], runs[(100,)]
    assert b["pid"] != c["pid"], "the parallel branches ran on one worker"
    assert abs(b["at"] - c["at"]) < PARALLEL_SECONDS, "the parallel branches did not overlap"
    assert len([r for r in cluster.runs() if r["numbers"] in ([1, 0.5], [10], [100], [1000])]) == 4


def test_a_diamond_runs_its_branches_at_once_on_two_workers_on_sqlite_and_postgresql(
        fresh_db: str, tmp_path: Path) -> None:
    cluster = _cluster(fresh_db, tmp_path, "diamond-1", "diamond-2", env={"EXECUTOR_SECONDS": str(PARALLEL_SECONDS)})
    try:
        root = cluster.manager.distribute_task_tree(_diamond(), name="diamond")
        assert root.status == "RUNNING" and root.agent_id == "loopline.tree"
        seen = _watch_progress(cluster.tasks, root.id)
        with contextlib.suppress(TaskTimeoutError):
            root.wait(60)
        assert root.status == "COMPLETED", cluster.diagnosis(root)
        assert {"1 of 4 nodes ended", "3 of 4 nodes ended"} <= seen  # the tree's progress, as tasks.get shows it
        _check_diamond(cluster, root)
        kinds = [(e.type, e.data.get("node_id"), e.data.get("status")) for e in root.events(timeout=5)]
        assert {k for k in kinds if k[0] == "node"} == {("node", n, "COMPLETED") for n in "abcd"}
        assert kinds[-1] == ("finished", None, "COMPLETED")
        assert cluster.tasks.get(root.id).progress == 1.0
    finally:
        cluster.stop()


def test_a_worker_killed_mid_tree_loses_nothing_that_completed(fresh_db: str, tmp_path: Path) -> None:
    """A chain a -> b -> c, and e beside it: b's worker is killed while b runs; the other worker
    recovers b, the tree completes, and only b ran twice."""
    cluster = _cluster(fresh_db, tmp_path, "crash-1", "crash-2", env={"EXECUTOR_SECONDS": "2"})
    try:
        a = TaskTreeNode("a", executor="add_numbers", inputs={"numbers": [1]})
        b = a.add_child(TaskTreeNode("b", executor="add_numbers", inputs={"numbers": [2]}))
        b.add_child(TaskTreeNode("c", executor="add_numbers", inputs={"numbers": [3]}))
        e = TaskTreeNode("e", executor="add_numbers", inputs={"numbers": [4]})
        root = cluster.manager.distribute_task_tree([a, e])
        node_b = cluster.tasks.tree(root.id)["b"]
        deadline = time.monotonic() + 30
        while not [r for r in cluster.runs() if r["numbers"] == [2]]:  # b's executor is under way
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert node_b.refresh().status == "RUNNING"
        worker = str(node_b.to_json()["worker"]).rsplit(":", 1)[-1]
        victim = cluster.workers[worker]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)

        with contextlib.suppress(TaskTimeoutError):
            root.wait(60)

        assert root.status == "COMPLETED", cluster.diagnosis(root)
        assert root.result == {"a": {"total": 1}, "b": {"total": 3}, "c": {"total": 6}, "e": {"total": 4}}
        runs = [(r["numbers"][0], r["pid"]) for r in cluster.runs()]
        assert sorted(n for n, _ in runs) == [1, 2, 2, 3, 4]  # b again, nothing else
        assert next(pid for n, pid in runs if n == 2) == victim.pid
        assert node_b.refresh().to_json()["attempts"] == 2
        assert [ev.type for ev in node_b.events(timeout=5)].count("recovered") == 1
    finally:
        cluster.stop()


def _watch_progress(tasks: Tasks, root_id: str) -> set[str]:
    """The root's `current_action`s seen until it ends."""
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        root = tasks.get(root_id)
        if root.current_action:
            seen.add(root.current_action)
        if root.is_finished:
            break
        time.sleep(0.05)
    return seen


async def test_a_tree_mixes_executors_and_agents_through_the_async_forms(sqlite_cluster: Cluster) -> None:
    total = TaskTreeNode("total", executor="add_numbers", inputs={"numbers": [4, 5]})
    explain = total.add_child(TaskTreeNode("explain", agent_id="researcher", prompt="Explain the total."))
    explain.add_child(TaskTreeNode("count", executor="add_numbers", inputs={"numbers": [1]}))

    root = await sqlite_cluster.manager.adistribute_task_tree(total)
    await root.await_result(60)

    root = await sqlite_cluster.tasks.aget(root.id)
    assert root.status == "COMPLETED", root.error
    assert root.result["total"] == {"total": 9} and root.result["count"] == {"total": 1}
    assert root.result["explain"].startswith("answer to Explain the total.")
    assert '"total": 9' in root.result["explain"]  # the executor's result, appended to the agent's prompt
    nodes = sqlite_cluster.tasks.tree(root.id)
    assert nodes["count"].to_json()["inputs"]["dependencies"] == {"explain": root.result["explain"]}
    assert await sqlite_cluster.manager.aexecute_task("add_numbers", {"numbers": [2, 2]}, timeout=30) == {"total": 4}
    with pytest.raises(TaskFailedError, match="refused politely"):
        sqlite_cluster.manager.execute_task("refuses", {}, timeout=30)


def test_a_failed_node_fails_its_dependants_unless_they_continue(sqlite_cluster: Cluster) -> None:
    bad = TaskTreeNode("bad", executor="refuses", inputs={})
    blocked = bad.add_child(TaskTreeNode("blocked", executor="add_numbers", inputs={"numbers": [1]}))
    blocked.add_child(TaskTreeNode("after", executor="add_numbers", inputs={"numbers": [2]}))
    bad.add_child(TaskTreeNode("anyway", executor="slow", inputs={"seconds": 0}, on_failure="continue"))
    ok = TaskTreeNode("ok", executor="add_numbers", inputs={"numbers": [3]})
    runs = len(sqlite_cluster.runs())

    root = sqlite_cluster.manager.distribute_task_tree([bad, ok]).wait(30)

    nodes = sqlite_cluster.tasks.tree(root.id)
    assert {n: t.status for n, t in nodes.items()} == {"bad": "FAILED", "blocked": "FAILED", "after": "FAILED",
                                                       "anyway": "COMPLETED", "ok": "COMPLETED"}
    assert nodes["bad"].error is not None and nodes["bad"].error["message"] == "refused politely"
    for node, dependency in (("blocked", "bad"), ("after", "blocked")):
        error = nodes[node].error
        assert error is not None and error["type"] == "DependencyFailed" and error["dependencies"] == [dependency]
        assert f"dependency {dependency} (FAILED)" in error["message"]
    assert nodes["anyway"].to_json()["inputs"]["dependencies"]["bad"] == {"status": "failed",
                                                                          "error": "refused politely"}
    assert root.status == "FAILED" and root.error is not None
    assert root.error["nodes"] == ["after", "bad", "blocked"]
    assert root.result["ok"] == {"total": 3} and root.result["anyway"] == {"slept": 0}
    assert [r["numbers"] for r in sqlite_cluster.runs()[runs:]] == [[3]]  # nothing blocked ever ran


def test_bad_trees_are_refused_before_anything_is_written(sqlite_cluster: Cluster) -> None:
    def refused(tree: list[TaskTreeNode], error: type[Exception] = InvalidInputError) -> str:
        with pytest.raises(error) as caught:
            sqlite_cluster.manager.distribute_task_tree(tree)
        return str(caught.value)

    before = sqlite_cluster.task_rows()
    x = TaskTreeNode("x", executor="add_numbers", inputs={"numbers": [1]}, dependencies=["z"])
    y = TaskTreeNode("y", executor="add_numbers", inputs={"numbers": [1]}, dependencies=["x"])
    z = TaskTreeNode("z", executor="add_numbers", inputs={"numbers": [1]}, dependencies=["y"])
    assert "cycle" in refused([x, y, z]) and "x -> z -> y -> x" in refused([x, y, z])
    ok = TaskTreeNode("ok", executor="add_numbers", inputs={"numbers": [1]})
    unknown = TaskTreeNode("mystery", executor="no_such_executor", dependencies=["ok"])
    assert "no_such_executor" in refused([ok, unknown], UnknownExecutorError)
    invalid = TaskTreeNode("typo", executor="add_numbers", inputs={"numbers": ["one"]}, dependencies=["ok"])
    message = refused([ok, invalid])
    assert message.startswith("node 'typo': inputs.numbers.0")
    orphan = TaskTreeNode("orphan", executor="add_numbers", inputs={"numbers": [1]}, dependencies=["nobody"])
    assert "'orphan' depends on 'nobody'" in refused([orphan])
    twice = [TaskTreeNode("same", executor="slow", inputs={"seconds": 0}) for _ in range(2)]
    assert "'same'" in refused(twice)
    assert "on_failure" in refused([TaskTreeNode("odd", executor="slow", inputs={"seconds": 0}, on_failure="skip")])
    assert sqlite_cluster.task_rows() == before


def test_cancelling_the_root_cancels_every_unfinished_node(sqlite_cluster: Cluster) -> None:
    done = TaskTreeNode("done", executor="slow", inputs={"seconds": 0})
    sleeper = done.add_child(TaskTreeNode("sleeper", executor="slow", inputs={"seconds": 30}))
    waiting = sleeper.add_child(TaskTreeNode("waiting", executor="slow", inputs={"seconds": 0}))
    waiting.add_child(TaskTreeNode("careless", executor="slow", inputs={"seconds": 0}, on_failure="continue"))
    root = sqlite_cluster.manager.distribute_task_tree(done)
    nodes = sqlite_cluster.tasks.tree(root.id)
    deadline = time.monotonic() + 20
    while nodes["sleeper"].refresh().status != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    sqlite_cluster.tasks.cancel(root.id)

    assert root.refresh().status == "CANCELLED"
    nodes["sleeper"].wait(10)
    time.sleep(1.0)  # a node wrongly released would be running by now
    assert {n: t.refresh().status for n, t in nodes.items()} == {"done": "COMPLETED", "sleeper": "CANCELLED",
                                                                 "waiting": "CANCELLED", "careless": "CANCELLED"}
    assert root.refresh().status == "CANCELLED"
    assert [e.data["status"] for e in root.events(timeout=5) if e.type == "finished"] == ["CANCELLED"]
    with sqlite3.connect(sqlite_cluster.db + ".tasks.sqlite") as engine:  # never queued, not even for a moment
        queued = {row[0] for row in engine.execute("SELECT workflow_uuid FROM workflow_status")}
    assert nodes["done"].id in queued and not {nodes["waiting"].id, nodes["careless"].id} & queued


def test_cancelling_a_tree_of_queued_nodes_ends_it_cancelled(sqlite_cluster: Cluster) -> None:
    """Every node ends at once here (none is running): the tree is CANCELLED, not settled as FAILED."""
    first = TaskTreeNode("first", executor="slow", inputs={"seconds": 0})
    first.add_child(TaskTreeNode("second", executor="slow", inputs={"seconds": 0}))
    tasks = Tasks(sqlite_cluster.db)
    root = TaskManager(tasks).distribute_task_tree(first)

    tasks.cancel(root.id)

    assert root.refresh().status == "CANCELLED"
    statuses = {n: t.wait(10).status for n, t in tasks.tree(root.id).items()}
    assert statuses["second"] == "CANCELLED" and statuses["first"] in ("CANCELLED", "COMPLETED")


def test_the_seeds_task_composition_as_a_tree_and_as_two_calls(sqlite_cluster: Cluster) -> None:
    research = TaskTreeNode("research", agent_id="researcher", prompt="Research solar panels.")
    research.add_child(TaskTreeNode("summary", agent_id="researcher", prompt="Summarise the research."))

    root = sqlite_cluster.manager.distribute_task_tree(research).wait(60)

    assert root.status == "COMPLETED", root.error
    assert root.result["research"] == "answer to Research solar panels."
    summary = root.result["summary"]
    assert summary.startswith("answer to Summarise the research.") and "answer to Research solar panels." in summary

    tasks = sqlite_cluster.tasks
    found = tasks.execute_task(tasks.create("researcher", "Research solar panels."), timeout=60)
    summarised = tasks.execute_task(tasks.create("researcher", f"Summarise the research: {found}"), timeout=60)
    assert found == "answer to Research solar panels."
    assert summarised == "answer to Summarise the research: answer to Research solar panels."


def test_a_cancel_cut_short_is_finished_by_the_watchdog(tmp_path: Path) -> None:
    """The process cancelling a tree died after marking its root: no node moves on, and the next
    worker watchdog pass (`advance_trees`) finishes the cancel."""
    tasks = Tasks(str(tmp_path / "cut.sqlite"))
    first = TaskTreeNode("first", agent_id="nobody-serves-this", prompt="wait")
    first.add_child(TaskTreeNode("then", agent_id="nobody-serves-this", prompt="wait", on_failure="continue"))
    root = TaskManager(tasks).distribute_task_tree(first)
    tasks.table.update(root.id, lambda r: {**r, "cancel_requested": True})  # what the cancel wrote first
    nodes = tasks.tree(root.id)
    tasks._finish(nodes["first"].id, "CANCELLED")  # and the one node it got to

    assert nodes["then"].refresh().status == "PENDING" and root.refresh().status == "RUNNING"
    assert tasks.advance_trees() == 1
    assert root.refresh().status == "CANCELLED" and nodes["then"].refresh().status == "CANCELLED"
