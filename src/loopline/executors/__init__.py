"""Executors, task trees and the policies that govern them: work that is not a model conversation
(`ExecutableTask`, registered with `@executor_register()`), run by workers as tasks like agents are;
trees of executor and agent tasks with dependencies (`TaskTreeNode`, `TaskManager`); and the HTTP
executor and `http_request` tool, with the `HttpPolicy` built from a task's `TaskConfig` and the guard
against server-side request forgery. Builds on `loopline.tools`, `loopline.store`, `loopline.agent`
and `loopline.tasks`.
"""

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
from ._guard import address_problem
from ._http import HttpResponse, fetch, fetch_sync
from ._http_tool import HttpExecutor, PolicyScope, current_policy, current_scope, http_request, policy_scope
from ._isolated import IsolatedFailure, run_isolated
from ._memory import TaskMemory, memory_for
from ._policy import DEFAULT_MAX_RESPONSE_BYTES, HttpPolicy
from ._trees import TaskManager, TaskTreeNode

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ENTRY_POINT_GROUP",
    "ExecutableTask",
    "HttpExecutor",
    "HttpPolicy",
    "HttpResponse",
    "IsolatedFailure",
    "PolicyScope",
    "TaskManager",
    "TaskMemory",
    "TaskTreeNode",
    "address_problem",
    "agent_executor",
    "current_policy",
    "current_scope",
    "describe",
    "executor_register",
    "fetch",
    "fetch_sync",
    "get_executor",
    "http_request",
    "load_entry_points",
    "memory_for",
    "policy_scope",
    "registered_executors",
    "run_isolated",
]
