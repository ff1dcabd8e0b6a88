"""`TaskTreeNode` and `TaskManager`: the seed's task trees, over `Tasks.create_tree`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..tasks import Task, TaskConfig, Tasks

__all__ = ["TaskManager", "TaskTreeNode"]


@dataclass
class TaskTreeNode:
    """One node: an executor with `inputs`, or an agent with a `prompt`; `dependencies` are the ids of
    nodes that must complete first (their results reach this one as `inputs["dependencies"][id]`, or
    appended to an agent's prompt). `children` nest nodes the seed's way: each child depends on its parent."""

    id: str
    executor: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    agent_id: str | None = None
    prompt: str = ""
    dependencies: list[str] = field(default_factory=list)
    on_failure: str = "fail"
    config: TaskConfig | None = None
    output_format: str = "text"
    output_schema: dict[str, Any] | None = None
    children: list[TaskTreeNode] = field(default_factory=list)

    def add_child(self, child: TaskTreeNode) -> TaskTreeNode:
        self.children.append(child)
        return child

    def flatten(self) -> list[dict[str, Any]]:
        """This node and its descendants as the node mappings `Tasks.create_tree` takes."""
        out: list[dict[str, Any]] = []

        def walk(node: TaskTreeNode, parent: str | None) -> None:
            deps = list(node.dependencies) + ([parent] if parent and parent not in node.dependencies else [])
            spec: dict[str, Any] = {"id": node.id, "dependencies": deps, "on_failure": node.on_failure,
                                    "output_format": node.output_format, "output_schema": node.output_schema}
            if node.executor is not None:
                spec.update(executor=node.executor, inputs=node.inputs)
            else:
                spec.update(agent_id=node.agent_id, prompt=node.prompt)
            if node.config is not None:
                spec["config"] = node.config.to_json()
            out.append(spec)
            for child in node.children:
                walk(child, node.id)

        walk(self, None)
        return out


class TaskManager:
    """Distributes task trees to the workers: `TaskManager().distribute_task_tree(tree)` returns the
    tree's root task at once; `wait()` it for every node's result."""

    def __init__(self, tasks: Tasks | None = None) -> None:
        self.tasks = tasks if tasks is not None else Tasks()

    def distribute_task_tree(self, tree: TaskTreeNode | Iterable[TaskTreeNode], *, name: str = "") -> Task:
        """Check the whole tree (cycles, unknown executors, invalid inputs: refused naming the node)
        and queue the nodes that depend on nothing; the rest follow as their dependencies complete."""
        roots = [tree] if isinstance(tree, TaskTreeNode) else list(tree)
        if not roots or not all(isinstance(r, TaskTreeNode) for r in roots):
            raise UsageError("distribute_task_tree takes a TaskTreeNode (or a list of them)")
        nodes = [spec for root in roots for spec in root.flatten()]
        return self.tasks.create_tree(nodes, name=name)

    async def adistribute_task_tree(self, tree: TaskTreeNode | Iterable[TaskTreeNode], *, name: str = "") -> Task:
        return await asyncio.to_thread(self.distribute_task_tree, tree, name=name)

    def execute_task(self, executor: str, inputs: dict[str, Any], *, timeout: float | None = None) -> Any:
        """Run one executor task to its end and return its result (`TaskFailedError` if it failed)."""
        return self.tasks.create(executor=executor, inputs=inputs).wait(timeout).result_or_raise()

    async def aexecute_task(self, executor: str, inputs: dict[str, Any], *, timeout: float | None = None) -> Any:
        task = await self.tasks.acreate(executor=executor, inputs=inputs)
        return await task.await_result(timeout)
