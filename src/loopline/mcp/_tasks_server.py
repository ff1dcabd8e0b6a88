"""Tasks and executors served over MCP: `tasks_server(tasks)` gives an MCP client (an IDE, an assistant,
another agent) the task API of `loopline.tasks`, run by the workers of that database.

Tools: `create_task` (for an agent with a prompt, or an executor with inputs; optionally waiting up to
`wait_seconds` for its end), `get_task` (status, progress, current action, result, error), `cancel_task`,
and `list_executors` (the executors registered here or served by live workers, with their input schemas).
Each answers with the task as JSON text and as structured content. loopline's refusals (a field that is
not what it takes, an unknown task or executor, inputs that fail the executor's schema) come back as tool
errors (`isError`) naming the field; arguments of the wrong type are protocol errors (invalid params).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import LooplineError, MissingExtraError, TaskTimeoutError
from ..tasks import Task, Tasks, live_workers, registered_executor_schemas

try:
    import mcp_types as types
    from mcp.server import Server
    from mcp.server.context import ServerRequestContext
    from mcp.shared.exceptions import MCPError
    from mcp_types.jsonrpc import INVALID_PARAMS
except ImportError as exc:  # pragma: no cover - the extra is installed where the tests run
    raise MissingExtraError(package="mcp", extra="mcp") from exc

__all__ = ["tasks_server"]

_TASK_ID = {"type": "string", "description": "The task's id (task_...)."}
_TOOLS = [
    types.Tool(name="create_task", description=(
        "Hand a task to loopline's workers: an agent's (agent_id and prompt) or an executor's (executor and "
        "inputs). Returns the task; with wait_seconds, waits up to that long for it to end."),
        input_schema={"type": "object", "additionalProperties": False, "properties": {
            "agent_id": {"type": "string", "description": "The agent (its name) that runs the prompt."},
            "prompt": {"type": "string", "description": "The task for the agent."},
            "executor": {"type": "string", "description": "Instead of an agent: the executor's id."},
            "inputs": {"type": "object", "description": "The executor's inputs (its input schema)."},
            "thread_id": {"type": "string", "description": "Continue this thread."},
            "wait_seconds": {"type": "number", "minimum": 0, "maximum": 600,
                             "description": "Wait up to this long for the task to end."}}}),
    types.Tool(name="get_task", description="A task's status, progress, current action, result and error.",
               input_schema={"type": "object", "properties": {"task_id": _TASK_ID}, "required": ["task_id"],
                             "additionalProperties": False}),
    types.Tool(name="cancel_task", description="Cancel a task: off the queue, or stopped at its next step.",
               input_schema={"type": "object", "properties": {"task_id": _TASK_ID}, "required": ["task_id"],
                             "additionalProperties": False}),
    types.Tool(name="list_executors", description="The executors tasks can name, with their input schemas.",
               input_schema={"type": "object", "properties": {}, "additionalProperties": False}),
]


def tasks_server(tasks: Tasks, *, name: str = "loopline-tasks") -> Server[Any]:
    """An MCP server offering `tasks`' API (see the module docstring)."""
    handlers: dict[str, Callable[[Tasks, Mapping[str, Any]], Awaitable[Any]]] = {
        "create_task": _create, "get_task": _get, "cancel_task": _cancel, "list_executors": _executors}

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_TOOLS)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        handler = handlers.get(params.name)
        if handler is None:
            raise MCPError(INVALID_PARAMS, f"no tool named {params.name!r}: this server has {sorted(handlers)}")
        try:
            answer = await handler(tasks, params.arguments or {})
        except LooplineError as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"{type(exc).__name__}: {exc}")],
                                        is_error=True)
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(answer, default=str))],
                                    structured_content=answer)

    return Server(name, instructions="loopline's tasks: create them for agents or executors, follow and cancel them.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _text(arguments: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = arguments.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise MCPError(INVALID_PARAMS, f"{key} must be a non-empty string")
    return value


def _known(arguments: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise MCPError(INVALID_PARAMS, f"unknown arguments {unknown}: the tool takes {sorted(allowed)}")


def _view(task: Task) -> dict[str, Any]:
    return {"id": task.id, "status": task.status, "agent_id": task.agent_id, "thread_id": task.thread_id,
            "execution_id": task.execution_id, "progress": task.progress, "current_action": task.current_action,
            "result": task.result, "error": task.error}


async def _create(tasks: Tasks, arguments: Mapping[str, Any]) -> dict[str, Any]:
    _known(arguments, {"agent_id", "prompt", "executor", "inputs", "thread_id", "wait_seconds"})
    inputs, wait = arguments.get("inputs"), arguments.get("wait_seconds")
    if inputs is not None and not isinstance(inputs, dict):
        raise MCPError(INVALID_PARAMS, "inputs must be an object")
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 600):
        raise MCPError(INVALID_PARAMS, "wait_seconds must be a number from 0 to 600")
    task = await tasks.acreate(_text(arguments, "agent_id"), str(arguments.get("prompt") or ""),
                               executor=_text(arguments, "executor"), inputs=inputs,
                               thread_id=_text(arguments, "thread_id"))
    if wait:
        try:
            await asyncio.to_thread(task.wait, float(wait))
        except TaskTimeoutError:
            task.refresh()  # still running: the client gets it as it is, and can ask again
    return _view(task)


async def _get(tasks: Tasks, arguments: Mapping[str, Any]) -> dict[str, Any]:
    _known(arguments, {"task_id"})
    return _view(await tasks.aget(str(_text(arguments, "task_id", required=True))))


async def _cancel(tasks: Tasks, arguments: Mapping[str, Any]) -> dict[str, Any]:
    _known(arguments, {"task_id"})
    return _view(await tasks.acancel(str(_text(arguments, "task_id", required=True))))


async def _executors(tasks: Tasks, arguments: Mapping[str, Any]) -> dict[str, Any]:
    _known(arguments, set())
    published = {k: v for w in await asyncio.to_thread(live_workers, tasks.table)
                 for k, v in (w.get("executors") or {}).items()}
    return {"executors": {**published, **registered_executor_schemas()}}
