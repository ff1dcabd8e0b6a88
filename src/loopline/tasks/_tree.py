"""Task trees: a root task and its nodes (tasks for agents or executors) with dependencies.

A node is queued when every node it depends on has ended, with their results as its inputs
(`inputs["dependencies"][node_id]` for an executor; for an agent, appended to its prompt as JSON).
A node whose dependency failed (or was cancelled) fails too, naming it, unless it says
`on_failure="continue"`. The tree ends when every node has: COMPLETED when all completed, else
FAILED listing the nodes that did not. Advancing is idempotent and driven by whoever ends a node
(and, in case that process died just then, by every worker's watchdog), so a tree survives any
worker's crash: nodes already completed are never run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..messages import new_id

if TYPE_CHECKING:
    from ._tasks import Tasks

__all__ = ["TREE_AGENT_ID", "advance", "build_tree"]

TREE_AGENT_ID = "loopline.tree"
"""The `agent_id` of every tree's root task (no worker runs it: its nodes run)."""
_TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
_ON_FAILURE = ("fail", "continue")


def build_tree(tasks: Tasks, nodes: Sequence[Mapping[str, Any]], *, name: str = "") -> list[dict[str, Any]]:
    """The root's and the nodes' records, every node checked (unique ids, known dependencies, no cycle,
    a valid target and inputs), before anything is written. Each node is a mapping with `id`, either
    `agent_id` and `prompt` or `executor` and `inputs`, and optionally `dependencies`, `on_failure`,
    `config`, `output_format`, `output_schema`."""
    if not nodes:
        raise InvalidInputError("a task tree needs at least one node", field="nodes")
    ids = [str(n.get("id") or "") for n in nodes]
    for i, node_id in enumerate(ids):
        if not node_id:
            raise InvalidInputError(f"node {i} has no id", field=f"nodes[{i}].id")
        if ids.count(node_id) > 1:
            raise InvalidInputError(f"two nodes have the id {node_id!r}", field=f"nodes[{i}].id")
    for node in nodes:
        for dep in node.get("dependencies") or ():
            if dep not in ids:
                raise InvalidInputError(f"node {node['id']!r} depends on {dep!r}, which is not a node of the tree",
                                        field=f"{node['id']}.dependencies")
        if node.get("on_failure", "fail") not in _ON_FAILURE:
            raise InvalidInputError(f"node {node['id']!r}: on_failure takes 'fail' or 'continue'",
                                    field=f"{node['id']}.on_failure")
    _refuse_cycles({n["id"]: list(n.get("dependencies") or ()) for n in nodes})
    root_id = new_id("task")
    records = [_node_record(tasks, node, root_id) for node in nodes]
    now = time.time()
    root = {"id": root_id, "organization_id": tasks.organization_id, "agent_id": TREE_AGENT_ID, "kind": "tree",
            "status": "RUNNING", "input": {"text": name or f"task tree of {len(nodes)} nodes", "file_urls": []},
            "thread_id": None, "nodes": {r["node_id"]: r["id"] for r in records}, "result": None, "error": None,
            "progress": 0.0, "current_action": None, "created_at": now, "updated_at": now, "started_at": now,
            "config": {}, "source": "tree"}
    return [root, *records]


def _node_record(tasks: Tasks, node: Mapping[str, Any], root_id: str) -> dict[str, Any]:
    deps = list(node.get("dependencies") or ())
    executor = node.get("executor")
    inputs = node.get("inputs")
    if executor is not None and deps:
        inputs = {**(inputs or {}), "dependencies": {d: None for d in deps}}  # the shape it will be given
    try:
        agent_id, prompt = tasks._target(node.get("agent_id"), executor, str(node.get("prompt") or ""), inputs)
        record = tasks._new_record(agent_id, prompt, file_urls=node.get("file_urls") or (), thread_id=None,
                                   events_streaming=True, output_format=node.get("output_format", "text"),
                                   output_schema=node.get("output_schema"), priority=int(node.get("priority", 0)),
                                   config=node.get("config"), idempotency_key=None)
    except InvalidInputError as exc:
        raise InvalidInputError(f"node {node['id']!r}: {exc}", field=f"{node['id']}.{exc.field}") from None
    if executor is not None:
        record.update(kind="executor", executor=executor, inputs=dict(node.get("inputs") or {}))
    record.update(parent_id=root_id, node_id=str(node["id"]), dependencies=deps,
                  on_failure=node.get("on_failure", "fail"), waiting=True)
    return record


def _refuse_cycles(graph: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node):], node]
            raise InvalidInputError(f"the tree has a cycle: {' -> '.join(cycle)}", field=f"{node}.dependencies")
        state[node] = 1
        for dep in graph[node]:
            visit(dep, [*path, node])
        state[node] = 2

    for node in graph:
        visit(node, [])


def advance(tasks: Tasks, root_id: str) -> dict[str, Any]:
    """Queue the nodes whose dependencies have ended, fail those a failed dependency blocks, and end the
    tree once every node has; returns the root's record. Safe to call any number of times, anywhere."""
    for _ in range(1000):  # each pass settles at least one node, or stops
        root = tasks.table.get(root_id)
        if root["status"] in _TERMINAL or root.get("cancel_requested"):  # cancelling: `Tasks._cancel` ends it
            return root
        nodes = {node: tasks.table.get(task_id) for node, task_id in root["nodes"].items()}
        if not _step(tasks, root, nodes):
            return _settle_root(tasks, root, nodes)
    return tasks.table.get(root_id)


def _step(tasks: Tasks, root: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> bool:
    """One pass over the waiting nodes; True if one was failed (which may block others)."""
    for node_id, record in nodes.items():
        if record["status"] in _TERMINAL or record.get("cancel_requested"):
            continue
        deps = [nodes[d] for d in record.get("dependencies") or ()]
        if any(d["status"] not in _TERMINAL for d in deps):
            continue
        failed = [d for d in deps if d["status"] != "COMPLETED"]
        if failed and record.get("on_failure", "fail") != "continue":
            names = ", ".join(f"{d['node_id']} ({d['status']})" for d in failed)
            tasks._finish(record["id"], "FAILED", error={"type": "DependencyFailed", "code": "dependency_failed",
                                                         "message": f"dependency {names} did not complete",
                                                         "dependencies": [d["node_id"] for d in failed]},
                          advance_tree=False)
            _node_event(tasks, root["id"], node_id, record["id"], "FAILED")
            return True
        released = _release(tasks, record, deps) if record.get("waiting") else record
        tasks.engine.enqueue(released)  # again for a node already queued: the engine ignores it
    return False


def _release(tasks: Tasks, record: dict[str, Any], deps: list[dict[str, Any]]) -> dict[str, Any]:
    """Give the node its dependencies' results and mark it queued."""
    results = {d["node_id"]: d.get("result") for d in deps}

    def change(current: dict[str, Any]) -> dict[str, Any] | None:
        if not current.get("waiting"):
            return None
        current["waiting"] = False
        if current.get("kind") == "executor":
            current["inputs"] = {**(current.get("inputs") or {}), **({"dependencies": results} if results else {})}
        elif results:
            current["input"]["text"] += "\n\nResults of the tasks this one depends on:\n" + json.dumps(results,
                                                                                                    indent=2)
        return current

    return tasks.table.update(record["id"], change)


def _settle_root(tasks: Tasks, root: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ended = [r for r in nodes.values() if r["status"] in _TERMINAL]
    progress = len(ended) / len(nodes)
    if len(ended) < len(nodes):
        if root.get("progress") != progress:
            tasks.table.update(root["id"], lambda r: {**r, "progress": progress,
                                                      "current_action": f"{len(ended)} of {len(nodes)} nodes ended"})
        return tasks.table.get(root["id"])
    results = {node: r.get("result") for node, r in nodes.items()}
    not_done = sorted(node for node, r in nodes.items() if r["status"] != "COMPLETED")
    if not not_done:
        tasks._finish(root["id"], "COMPLETED", result=results)
    else:
        tasks._finish(root["id"], "FAILED", result=results, error={
            "type": "TreeFailed", "code": "nodes_failed", "nodes": not_done,
            "message": f"{len(not_done)} of {len(nodes)} nodes did not complete: {', '.join(not_done)}"})
    return tasks.table.get(root["id"])


def _node_event(tasks: Tasks, root_id: str, node_id: str, task_id: str, status: str) -> None:
    tasks._event(root_id, "node", {"node_id": node_id, "task_id": task_id, "status": status})
