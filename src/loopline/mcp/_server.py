"""An agent served as one MCP tool: `agent_server` builds the server, `serve_agent` runs it over stdio or
streamable HTTP (the official `mcp` SDK's low-level `Server`).

The tool is named after the agent and described by its instructions; it takes `prompt` (the task) and an
optional `thread_id` (continue that conversation), and answers with the execution's result as text, the
execution and thread ids in a second text block (a model that called the tool can continue the thread),
and `{"result", "execution_id", "thread_id"}` as structured content (its `result` typed by
`output_schema`, when one is given).

Every call runs on a fresh `Agent` with the served agent's definition (name, instructions, tools,
provider, store, config): an `Agent` object runs one execution at a time, and an MCP server takes calls
from many clients at once. A lock would serialise calls that have nothing to do with each other; fresh
agents run side by side, and calls on one thread are still kept apart by the store (a second call on a
thread that is still running answers that the thread is busy).

While it runs, a call whose client sent a progress token gets a progress notification for each tool
call the model starts, tool result, finished step and status change (from `agent.astream`; a model that cannot stream
runs with `arun`, and only its start and end are reported). A failed, paused or cancelled execution,
and a task that cannot start (an unknown thread, a busy one), come back as a tool error (`isError`) with
loopline's message; an unknown tool name or arguments that are not `prompt`/`thread_id` strings are
protocol errors (invalid params). A client that cancels its request cancels the execution (CANCELLED,
as `arun` does when its task is cancelled).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from ..agent import Agent, Finished, StatusChanged, ToolResult, UsageReport
from ..errors import LooplineError, MissingExtraError

try:
    import anyio
    import mcp_types as types
    from mcp.server import Server
    from mcp.server.context import ServerRequestContext
    from mcp.server.stdio import stdio_server
    from mcp.shared.exceptions import MCPError
    from mcp_types.jsonrpc import INVALID_PARAMS
except ImportError as exc:  # pragma: no cover - the extra is installed where the tests run
    raise MissingExtraError(package="mcp", extra="mcp") from exc

from ..loop import ExecutionResult, ExecutionStatus
from ..providers import Model, StreamingModel, ToolCallStart, resolve_model
from ..tools import OutputSchema, json_schema_of

__all__ = ["agent_server", "agent_tool", "serve", "serve_agent"]

_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "description": "The task for the agent, sent as the user message."},
        "thread_id": {"type": "string", "description": "Continue this thread (the thread_id of an earlier "
                                                       "call's result); omit it to start a new conversation."},
    },
    "required": ["prompt"],
    "additionalProperties": False,
}


def agent_tool(agent: Agent, output_schema: OutputSchema | None = None) -> types.Tool:
    """The MCP tool that stands for `agent`: its name, its instructions, a prompt and an optional thread id."""
    result_schema = json_schema_of(output_schema) or {}
    return types.Tool(
        name=agent.name,
        description=agent.instructions or f"Runs the loopline agent {agent.name!r} on a task.",
        input_schema=_INPUT_SCHEMA,
        output_schema={
            "type": "object",
            "properties": {"result": result_schema, "execution_id": {"type": "string"},
                           "thread_id": {"type": "string"}},
            "required": ["result", "execution_id", "thread_id"],
        },
    )


def agent_server(agent: Agent, model: Model | str, *, output_schema: OutputSchema | None = None) -> Server[Any]:
    """An MCP server with one tool that runs tasks through `agent` on `model` (see the module docstring)."""
    resolved = resolve_model(model, default_provider=agent.llm_provider)
    tool = agent_tool(agent, output_schema)

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name != tool.name:
            raise MCPError(INVALID_PARAMS, f"no tool named {params.name!r}: this server has one tool, {tool.name!r}")
        prompt, thread_id = _arguments(params.arguments or {})
        return await _call(agent.copy(), resolved, prompt, thread_id, output_schema=output_schema, ctx=ctx)

    return Server(agent.name, instructions=agent.instructions or None, on_list_tools=list_tools,
                  on_call_tool=call_tool)


def serve_agent(agent: Agent, model: Model | str, *, transport: Literal["stdio", "http"] = "stdio",
                host: str = "127.0.0.1", port: int = 8000, output_schema: OutputSchema | None = None) -> None:
    """Serve `agent` as an MCP tool until the client goes away (stdio) or the process is stopped (HTTP,
    at `http://HOST:PORT/mcp`)."""
    serve(agent_server(agent, model, output_schema=output_schema), transport=transport, host=host, port=port)


def serve(server: Server[Any], *, transport: Literal["stdio", "http"] = "stdio", host: str = "127.0.0.1",
          port: int = 8000) -> None:
    """Run an MCP server over stdio (until the client goes away) or streamable HTTP at `http://HOST:PORT/mcp`."""
    if transport == "http":
        import uvicorn

        app = server.streamable_http_app(host=host)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    else:
        anyio.run(_serve_stdio, server)


async def _serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _arguments(arguments: Mapping[str, Any]) -> tuple[str, str | None]:
    """`prompt` and `thread_id`, checked: anything else is the client's mistake (invalid params)."""
    unknown = sorted(set(arguments) - {"prompt", "thread_id"})
    prompt, thread_id = arguments.get("prompt"), arguments.get("thread_id")
    if unknown:
        raise MCPError(INVALID_PARAMS, f"unknown arguments {unknown}: the tool takes prompt and thread_id")
    if not isinstance(prompt, str) or not prompt.strip():
        raise MCPError(INVALID_PARAMS, "prompt is required: give the task as a non-empty string")
    if thread_id is not None and not isinstance(thread_id, str):
        raise MCPError(INVALID_PARAMS, f"thread_id must be a string (a thread id such as thr_...), got "
                                       f"{type(thread_id).__name__}")
    return prompt, thread_id or None


async def _call(agent: Agent, model: Model, prompt: str, thread_id: str | None, *, output_schema: OutputSchema | None,
                ctx: ServerRequestContext[Any]) -> types.CallToolResult:
    """Start the task, run it to its end reporting progress, and answer with its result."""
    try:
        agent.add_task(prompt, thread_id=thread_id, output_schema=output_schema)
    except LooplineError as exc:  # an unknown or busy thread: the caller can do something about it
        return _error(f"the task could not start: {exc}")
    progress = _Progress(ctx)
    try:
        if isinstance(model, StreamingModel):
            result = await _stream(agent, model, progress)
        else:
            await progress.report("running")
            result = await agent.arun(model=model)
    except (asyncio.CancelledError, anyio.get_cancelled_exc_class()):
        _cancel(agent)  # the client cancelled its request (also when it fell between two of the agent's steps)
        raise
    except LooplineError as exc:  # the model's client could not be built, the store failed
        _cancel(agent)
        return _error(f"execution {_execution_id(agent)} stopped: {exc}")
    return _answer(result)


async def _stream(agent: Agent, model: Model, progress: _Progress) -> ExecutionResult:
    events = agent.astream(model=model)
    async for event in events:
        if isinstance(event, Finished):
            return event.result
        message = _describe(event)
        if message is not None:
            await progress.report(message)
    return agent.retrieve_execution_result()


def _describe(event: object) -> str | None:
    """The progress message for a stream event; `None` for the deltas in between."""
    if isinstance(event, ToolCallStart):
        return f"calling {event.name}"
    if isinstance(event, ToolResult):
        return f"{event.result.function_name} {'failed' if event.result.is_error else 'returned'}"
    if isinstance(event, UsageReport):
        return f"step done ({event.total.input_tokens + event.total.output_tokens} tokens so far)"
    if isinstance(event, StatusChanged):
        return f"status {event.status.value}"
    return None


class _Progress:
    """Progress notifications for one call (nothing is sent when the client gave no progress token)."""

    def __init__(self, ctx: ServerRequestContext[Any]) -> None:
        self._session = ctx.session
        self._count = 0

    async def report(self, message: str) -> None:
        self._count += 1
        await self._session.report_progress(self._count, message=message)


def _cancel(agent: Agent) -> None:
    execution = agent.execution
    if execution is not None and not execution.is_finished:
        try:
            agent.cancel()
        except LooplineError as exc:  # the store failed: the execution's process is seen to be gone later
            print(f"loopline: cancelling execution {execution.id} failed: {exc}", file=sys.stderr)


def _execution_id(agent: Agent) -> str:
    return agent.execution.id if agent.execution is not None else "-"


def _answer(result: ExecutionResult) -> types.CallToolResult:
    ids = f"execution {result.execution_id} on thread {result.thread_id} (pass thread_id to continue it)"
    match result.status:
        case ExecutionStatus.COMPLETED:
            value = _plain(result.result)
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            return types.CallToolResult(
                content=[types.TextContent(type="text", text=text), types.TextContent(type="text", text=ids)],
                structured_content={"result": value, "execution_id": result.execution_id,
                                    "thread_id": result.thread_id})
        case ExecutionStatus.FAILED:
            code = f" ({result.error_code})" if result.error_code else ""
            return _error(f"execution {result.execution_id} failed{code}: {result.error}", ids)
        case ExecutionStatus.PAUSED:
            return _error(f"execution {result.execution_id} paused: its tool calls await a decision, which a "
                          "person takes in Python (Agent.resume, then approve, reject or rerun_tool_calls)", ids)
        case _:
            return _error(f"execution {result.execution_id} ended {result.status.value}", ids)


def _plain(value: Any) -> Any:
    """A result as JSON values: one that `output_schema`'s pydantic model parsed becomes its dict again."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _error(message: str, *more: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text) for text in (message, *more)],
                                is_error=True)
