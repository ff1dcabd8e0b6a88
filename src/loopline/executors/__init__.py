"""Executors and task trees: work that is not a model conversation (`ExecutableTask`, registered with
`@executor_register()`), run by workers as tasks like agents are, and trees of executor and agent tasks
with dependencies (`TaskTreeNode`, `TaskManager`)."""

from ._agents import agent_executor
from ._executable import (
    ENTRY_POINT_GROUP,
    ExecutableTask,
    describe,
    executor_register,
    get_executor,
    load_entry_points,
    registered_executors,
)
from ._isolated import IsolatedFailure, run_isolated
from ._memory import TaskMemory, memory_for
from ._trees import TaskManager, TaskTreeNode

__all__ = ["ENTRY_POINT_GROUP", "ExecutableTask", "IsolatedFailure", "TaskManager", "TaskMemory", "TaskTreeNode",
           "agent_executor", "memory_for",
           "describe", "executor_register", "get_executor", "load_entry_points", "registered_executors", "run_isolated"]
