"""`Agent`: the public face of the loop.

An agent is a definition (name, instructions, tools, provider, config) and a thin face over the
`ExecutionState` of its current execution, which owns the machine, the thread, the store and the
claim; the run drivers (`_run`) and the loop (`loopline.loop.steps`) work on that state. The manual
loop (bring your own client) is: `add_task`, then while not `is_finished()`: call the model with
`messages` / `get_tools()`, `add_messages(response)`, `extract_tool_calls(response)`, `run_tools(calls)`.

Decisions (when an execution ends, what a limit does) belong to `loopline.loop`; wire formats belong
to `loopline.providers`. This module wires them to a store and never decides either.
"""

from __future__ import annotations

import functools
import html
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

from .._html import guarded
from ..errors import NoActiveTaskError, TaskAlreadyRunningError, UnknownToolCallError, UsageError
from ..loop import Execution, ExecutionResult, ExecutionStatus, RunConfig, execution_html
from ..messages import Message, new_id
from ..providers import LLMProvider, Model, RenderReport, StreamingModel, get_adapter, resolve_model
from ..store import Page, Store, default_store, settle
from ..tools import OutputSchema, Tool, ToolCall, ToolCallResult, ToolLike, ToolSource, as_tool, json_schema_of
from ..tools import finish_tool as make_finish_tool
from . import _run
from ._claims import CLAIM_SECONDS, ProcessOwner
from ._decisions import reopen
from ._events import RunEvent
from ._extract import ExtractToolCalls
from ._files import FileInput
from ._input import TaskInput, task_message, task_text
from ._memory import AgentMemory
from ._progress import Progress, progress_for
from ._requests import InstructionsWatch, RequestBuilder, check_answered, conversation_of
from ._state import ExecutionState
from ._toolbox import Toolbox
from ._turns import start

__all__ = ["Agent", "CLAIM_SECONDS"]

class Agent:
    """An LLM agent: instructions, tools, and the execution of its current task.

    Args:
        name: Names the agent in stored executions; an agent with the same name and tools can
            pick up its executions.
        instructions: The system prompt. It belongs to the agent, not the thread: an agent that
            continues another's thread speaks with its own instructions.
        tools: Functions (made into tools as by `@tool`), `Tool` objects, or tool sources such as
            `loopline.mcp.MCPServerStdio` (their tools are listed on first use; `close()` stops them).
        llm_provider: The wire API `messages`, `get_tools()` and `add_messages` speak by default.
        store: Where threads and executions live; by default the process-wide store from
            `LOOPLINE_DB` (a path, `:memory:` or a `postgresql://` URL), else a SQLite file in the
            user data directory.
        config: How executions run: budgets (steps, duration, tokens, cost, tool calls), tool
            timeout, parallel tool calls, request retries, timeout, rate and concurrency limits, and
            context fitting. `RunConfig()` by default; `agent.config` may be replaced between tasks.
        require_finish_tool: When true, a text reply without a tool call does not end the
            execution; the model is reminded to call the finish tool. Implied by `output_schema`.
        finish_tool: Offer the built-in finish tool (on by default).
    """

    def __init__(self, name: str, instructions: str = "", tools: Iterable[ToolLike | ToolSource] = (),
                 llm_provider: LLMProvider | str = LLMProvider.OPEN_AI, *, store: Store | None = None,
                 config: RunConfig | None = None, require_finish_tool: bool = False, finish_tool: bool = True) -> None:
        self.name = name
        self.instructions = instructions
        self.llm_provider = LLMProvider.of(llm_provider)
        self.store: Store = store if store is not None else default_store()
        if config is not None and not isinstance(config, RunConfig):
            raise UsageError(f"config must be a RunConfig, got {type(config).__name__}")
        self.config = config if config is not None else RunConfig()
        self.require_finish_tool = require_finish_tool
        self.use_finish_tool = finish_tool
        given = tuple(tools)
        self.tool_sources: tuple[ToolSource, ...] = tuple(t for t in given if isinstance(t, ToolSource))
        self.tools: tuple[Tool, ...] = tuple(as_tool(t) for t in given if not isinstance(t, ToolSource))
        self._definition = Toolbox(self.tools, make_finish_tool() if finish_tool else None,  # never changes
                                   self.tool_sources)
        self._tools = self._definition  # the current task's: the definition's, finish tool shaped for the task
        self._state: ExecutionState | None = None
        self._requests = RequestBuilder()
        self._instructions_watch = InstructionsWatch()
        self._owner = ProcessOwner(new_id("agent"))  # host:pid:start:agent-id of the process using the agent

    def close(self) -> None:
        """Stop what the agent's tool sources hold (MCP server processes, connections); they start again
        on next use. Also done at process exit."""
        for source in self.tool_sources:
            source.close()

    def copy(self, *, store: Store | None = None, config: RunConfig | None = None) -> Agent:
        """A new agent with this one's definition and no task, for running tasks side by side (an agent
        holds one execution at a time). Tool sources (MCP servers) are shared, as by every agent of a process."""
        tools: list[Tool | ToolSource] = [*self.tools, *self.tool_sources]
        return Agent(self.name, self.instructions, tools, self.llm_provider,
                     store=store if store is not None else self.store, config=config or self.config,
                     require_finish_tool=self.require_finish_tool, finish_tool=self.use_finish_tool)

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, llm_provider={self.llm_provider.value!r}, tools={len(self.tools)})"

    def _repr_html_(self) -> str:
        """In Jupyter: the current execution with its conversation step by step (calls folded)."""
        state = self._state
        if state is None:
            return guarded(lambda: f"<div>{html.escape(repr(self))}: no task yet (add_task or run)</div>", "agent")
        return guarded(lambda: execution_html(state.execution, list(state.thread)), "this agent's execution")

    # --- starting a task --------------------------------------------------------------------------

    def add_task(
        self,
        input: TaskInput,
        thread_id: str | None = None,
        files: Iterable[FileInput] | None = None,
        output_schema: OutputSchema | None = None,
        *,
        wait: float = 0.0,
    ) -> Execution:
        """Start an execution of `input`, on a new thread or continuing `thread_id`.

        Tasks on one thread run one at a time. An execution on the thread whose process has died is
        ended first (FAILED, `error_code` `process_died`, its running calls answered as interrupted):
        at once when that process ran on this host, else once its claim's lease lapses (15 s).

        Args:
            input: The task, sent as a user message: text, or a list of content parts (strings,
                `TextPart` / `FilePart`, or text and image blocks as a provider's API writes them, such
                as `{"type": "text", "text": ...}` and `{"type": "image_url", "image_url": {"url": ...}}`).
            thread_id: Continue this thread (for example another agent's `ExecutionResult.thread_id`);
                the agent sees every earlier message, under its own instructions.
            files: Files or images to attach: local paths, `http(s)` URLs, bytes, `FilePart` objects, or
                `{"name": "data.csv", "content": "<base64>"}`. A text file (CSV, JSON, Markdown, code) goes
                to a provider that has no file part for it as text naming the file.
            output_schema: A pydantic model or JSON Schema the result must match; the finish tool's
                `result` takes this shape and the execution's result is the parsed value.
            wait: Seconds to wait for a busy thread to become free (checking again with a short
                backoff) before `ThreadBusyError`; 0 refuses at once. A finite number, 0 or more.

        Raises:
            TaskAlreadyRunningError: The current execution has not ended.
            ConfigError: `wait` is not a finite number of seconds, 0 or more (`None`, `"5"`, NaN, a bool).
            InvalidInputError: `input` or `files` cannot be sent and stored (`None`, a number, bad base64, ...).
            ThreadBusyError: Another execution holds `thread_id` (still, after `wait` seconds).
            UnknownThreadError: `thread_id` is not in this agent's store.
        """
        _check_ended(self._state, self.name, "add_task")
        if output_schema is not None and not self.use_finish_tool:
            raise UsageError("output_schema needs the finish tool; create the agent with finish_tool=True")
        # Everything that can fail on the caller's input is checked before anything is created.
        first = task_message(input, files, self.llm_provider)
        tools = self._definition.for_task(output_schema, finish=self.use_finish_tool)
        make = functools.partial(Execution, agent_name=self.name, input=task_text(first), limits=self.config.limits(),
                                 finish_tool_name=tools.finish.name if tools.finish else None,
                                 require_finish=self.require_finish_tool or output_schema is not None,
                                 output_schema=json_schema_of(output_schema))
        self._state = start(self.store, make, thread_id, first, owner=self._owner, tools=tools, wait=wait)
        self._tools = tools
        return self._state.execution

    @property
    def memory(self) -> AgentMemory:
        """Key-value memory with JSON values, in the agent's store: `agent` scope (permanent, shared by
        every agent of this name), `thread` (the current conversation) or `execution` (this task)."""
        return AgentMemory(self.store, self.name, lambda: self.execution)

    # --- loopline drives the loop --------------------------------------------------------------

    def run(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
            params: Mapping[str, Any] | None = None, progress: bool | Progress | None = None) -> ExecutionResult:
        """Run the task to its end: call the model, run its tools, repeat until it finishes.

        Args:
            input: Start a task with this input; without it, continue the task already added (or resumed).
            model: A model name (`"gpt-4o"` on the agent's provider, or `"anthropic:claude-sonnet-4-5"`,
                `"openai_responses:gpt-5-mini"`, `"ollama:qwen2.5"`), or a `Model` object.
            client: An `openai` or `anthropic` SDK client to use (else one is built from the environment).
            params: Extra request arguments for every model call (temperature, max_tokens, ...).
            progress: Show live progress (status, steps, tool calls, tokens, cost): `None` shows it
                only inside Jupyter, `True` also on a terminal (stderr), `False` nowhere.

        Works in plain scripts and inside Jupyter (it never needs an event loop). An error the
        client raises after the retries ends the execution FAILED with `error_code` `provider_error`.
        """
        resolved = self._prepare_run(input, model, client, params)
        return _run.run(self._current(), self, resolved, progress_for(progress))

    async def arun(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
                   params: Mapping[str, Any] | None = None, progress: bool | Progress | None = None) -> ExecutionResult:
        """`run` for asyncio; cancelling the task ends the execution CANCELLED with nothing lost."""
        resolved = self._prepare_run(input, model, client, params, asynchronous=True, start=False)
        if input is not None:  # off the event loop when the store is a server's (see `loopline.store.settle`)
            await settle(self.store, functools.partial(self.add_task, input))
        return await _run.arun(self._current(), self, resolved, progress_for(progress))

    def stream(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
               params: Mapping[str, Any] | None = None) -> Iterator[RunEvent]:
        """`run`, streaming: yields text and tool-call deltas as the model writes them, then tool
        results, status changes and usage, and last `Finished` with the result."""
        resolved = self._prepare_run(input, model, client, params, streaming=True)
        return _run.stream(self._current(), self, resolved)

    def astream(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
                params: Mapping[str, Any] | None = None) -> AsyncIterator[RunEvent]:
        """`stream` for asyncio (`async for event in agent.astream(...)`)."""
        resolved = self._prepare_run(input, model, client, params, streaming=True, asynchronous=True)
        return _run.astream(self._current(), self, resolved)

    def _prepare_run(self, input: TaskInput | None, model: Model | str, client: Any,
                     params: Mapping[str, Any] | None, *, streaming: bool = False, asynchronous: bool = False,
                     start: bool = True) -> Model:
        """The model to run with, checked as far as it can be before a task is added: a failure here
        (a wrong client, a missing key, bad input) leaves no execution and no thread behind. With `start`,
        then the task of `input` (if any) is added."""
        resolved = resolve_model(model, client=client, default_provider=self.llm_provider, params=params)
        configure = getattr(resolved, "configured", None)  # the SDK-backed models take retries and timeout
        if configure is not None:
            resolved = configure(max_retries=self.config.max_retries, timeout=self.config.request_timeout,
                                 retry_delay=self.config.retry_delay_seconds)
        if streaming and not isinstance(resolved, StreamingModel):  # before a task is added, not after
            raise _run.cannot_stream(resolved)
        # `run(input)` starts a task; `run()` continues the one `add_task` (or `resume`) set up. The client
        # is built (or checked) before the task is added, and `add_task` checks the input before it creates anything.
        if input is None and self._state is None:
            raise UsageError("run() without input needs a task: pass input=..., or call add_task first")
        connect = getattr(resolved, "connect", None)  # the SDK-backed models build or check their client
        if connect is not None:
            connect(asynchronous=asynchronous)
        if input is not None and start:
            self.add_task(input)
        return resolved

    # --- the manual loop --------------------------------------------------------------------------

    def is_finished(self) -> bool:
        """True once the current execution has ended (this also applies the time limit)."""
        return self._current().check_clock().execution.is_finished

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation rendered for the agent's provider, system prompt first (Chat Completions'
        system message, the Responses API's first input item); Anthropic takes it apart, as
        `system=agent.system`.

        Rendering is incremental: only messages added since the last call are converted. Treat the
        returned dicts as read-only; they are reused between calls. `PendingToolCallsError` while
        the last response's tool calls have no results (`run_tools` first).
        """
        return self.get_messages()

    @property
    def system(self) -> Any:
        """The instructions as Anthropic's `system` argument (text blocks), which Anthropic messages
        cannot carry: its manual loop sends `system=agent.system, messages=agent.messages` (a response
        to messages sent without it gets an `InstructionsNotSentWarning`)."""
        return self._instructions_watch.system(self.instructions)

    @overload
    def get_messages(self, llm_provider: LLMProvider | str | None = None, *,
                     report: Literal[False] = False) -> list[dict[str, Any]]: ...
    @overload
    def get_messages(self, llm_provider: LLMProvider | str | None = None, *,
                     report: Literal[True]) -> tuple[list[dict[str, Any]], RenderReport]: ...
    def get_messages(self, llm_provider: LLMProvider | str | None = None, *,
                     report: bool = False) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], RenderReport]:
        """The conversation rendered for `llm_provider` (the agent's own by default).

        For Chat Completions the system prompt comes first, for the Responses API it is the first input
        item (send these as `input` without `instructions`); Anthropic takes it apart (`agent.system`,
        or `request_kwargs`). A thread written on another provider may hold what this one
        cannot take (reasoning only its author reads, provider-private blocks): it is dropped or
        converted, and never silently: with `report=True` the `RenderReport` is returned alongside,
        otherwise a `LossyRenderingWarning` says what happened.
        """
        provider = LLMProvider.of(llm_provider or self.llm_provider)
        kwargs = self._render(provider, include_tools=False, warn=not report)
        messages = conversation_of(provider, kwargs)
        self._instructions_watch.read_messages(provider, self.instructions, sending=not report)
        return (messages, self._requests.report_renderer(provider).report) if report else messages

    def get_tools(self, llm_provider: LLMProvider | str | None = None) -> list[dict[str, Any]]:
        """The tools (the finish tool included) in `llm_provider`'s request format."""
        return self._tools.render(LLMProvider.of(llm_provider or self.llm_provider))

    def request_kwargs(self, llm_provider: LLMProvider | str | None = None, *, include_tools: bool = True,
                       model: str | None = None, max_tokens: int | None = None) -> dict[str, Any]:
        """Ready-to-splat request arguments for `llm_provider`: `{"messages", "tools"}` for Chat
        Completions, `{"system", "messages", "tools"}` for Anthropic, `{"instructions", "input",
        "tools"}` for the Responses API. What had to be dropped or converted is warned about.

        With `model` (e.g. `"gpt-4o"`) the conversation is fitted into its context window by
        `config.context`, with room for `max_tokens` (the reply limit you send), the stored thread
        unchanged; `ContextOverflowError` when even the task and the newest turn do not fit, and
        `PendingToolCallsError` while the last response's tool calls have no results.
        """
        self._instructions_watch.read_system()  # every provider's arguments carry the instructions
        return self._render(LLMProvider.of(llm_provider or self.llm_provider), include_tools=include_tools, warn=True,
                            model=model, max_tokens=max_tokens)

    def _render(self, provider: LLMProvider, *, include_tools: bool, warn: bool,
                model: str | None = None, max_tokens: int | None = None) -> dict[str, Any]:
        state = self._current()
        ex = state.execution
        if ex.status is ExecutionStatus.PAUSED:
            raise UsageError(f"execution {ex.id} is PAUSED: decide its held calls first (approve / reject, or "
                             "rerun_tool_calls / record_tool_result); no provider accepts the thread as it is")
        check_answered(ex)
        tools = self.get_tools(provider) if include_tools else []
        definitions = [t.definition for t in state.tools.all.values()] if include_tools and model else []
        return self._requests.build(provider, state.thread, system=self.instructions or None, tools=tools,
                                    definitions=definitions, model=model, policy=self.config.context,
                                    pinned=state.task_index, parallel=self.config.parallel_tool_calls,
                                    thread_id=ex.thread_id, warn=warn, max_tokens=max_tokens)

    def add_messages(self, response: Any, llm_provider: LLMProvider | str | None = None) -> list[Message]:
        """Add a model response (SDK object or dict) or a list of wire message dicts to the execution.

        A response with tool calls waits for `run_tools`; a reply without tool calls ends the
        execution with its text (unless the finish tool is required). Returns the neutral messages
        that were appended.

        The time limit is applied first, as `is_finished()` does: a response that comes after
        `max_duration` has run out ends the execution FAILED (`max_duration`) and is not added, and
        `ExecutionFinishedError` (naming `max_duration`) is raised, as for any ended execution.
        """
        state = self._current()
        state.check_clock()  # a late response is refused by the ended execution below, never added
        provider = LLMProvider.of(llm_provider or self.llm_provider)
        parsed = get_adapter(provider).parse(response)
        self._instructions_watch.check(provider, self.name)
        return state.add(parsed)

    extract_tool_calls = ExtractToolCalls()
    """`(response, llm_provider=None)`: the tool calls in a response, read as the agent's provider's
    (on the class: as the API its shape shows). See `ToolCallExtractor`."""

    def run_tools(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallResult]:
        """Run the calls (concurrently), append their results, and return them in call order.

        Never raises for what the model asked: unknown tools, bad arguments, failing or slow tools
        become error results. Calling the finish tool ends the execution. The calls are recorded as
        started before they run, so an interruption is recorded too (as an error result that says the
        tool may have had its effect).
        """
        return self._current().run_tools(tool_calls, self.config)

    async def arun_tools(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallResult]:
        """`run_tools` for asyncio code: async tools are awaited, sync tools run in threads."""
        return await self._current().arun_tools(tool_calls, self.config)

    @property
    def pending_tool_calls(self) -> list[ToolCall]:
        """Calls of the last response that have no result yet (after `resume`, run these first)."""
        return self._current().runnable_calls()

    # --- reading state ----------------------------------------------------------------------------

    @property
    def execution(self) -> Execution | None:
        """The current (or last) execution, or `None` before the first `add_task`."""
        return self._state.execution if self._state else None

    @property
    def thread_id(self) -> str | None:
        """The thread of the current (or last) execution."""
        return self._state.execution.thread_id if self._state else None

    @property
    def thread(self) -> list[Message]:
        """The neutral messages of the current thread (a copy)."""
        return list(self._state.thread) if self._state else []

    def retrieve_execution_result(self, *, execution_id: str | None = None) -> ExecutionResult:
        """Status, result, error, ids and usage of the current (or last) execution, or of any execution
        in the agent's store by `execution_id` (one a past process ran, for instance); raises
        `UnknownExecutionError` for an unknown id."""
        if execution_id is None or (self._state is not None and self._state.execution.id == execution_id):
            return self._current().check_clock().execution.to_result()
        return self.store.get_execution(execution_id).to_result()

    def get_execution_status(self) -> Execution:
        """A snapshot of the current (or last) execution's record."""
        return self._current().check_clock().execution.copy()

    def list_executions(self, *, status: ExecutionStatus | None = None, limit: int | None = 50,
                        cursor: str | None = None) -> Page[Execution]:
        """This agent's executions in its store (made by any process), newest first; pass the page's
        `next_cursor` as `cursor` for the next page."""
        return self.store.list_executions(agent_name=self.name, status=status, limit=limit, cursor=cursor)

    def get_execution(self, execution_id: str) -> Execution:
        """One execution from the store; raises `UnknownExecutionError` for an unknown id."""
        return self.store.get_execution(execution_id)

    # --- decisions from outside the loop ------------------------------------------------------------

    def resume(self, execution_id: str, *, output_schema: OutputSchema | None = None,
               force: bool = False) -> Execution:
        """Reattach an execution that was interrupted (its process was killed), in any process.

        The agent must have the same name and tools. Tool calls with recorded results are not run
        again. A call that was started and has no result is run again now if its tool is idempotent
        (`@tool(idempotent=True)`); otherwise the execution is PAUSED with the call in
        `interrupted_tool_calls`, for `rerun_tool_calls` or `record_tool_result` to decide. Calls of
        the last response that never started are in `pending_tool_calls`: run them before calling
        the model again (`agent.run()` does both).

        Args:
            execution_id: The execution to resume.
            output_schema: The pydantic model of the result, to get it back as a model instance (the
                store keeps its JSON Schema, which checks the result either way).
            force: Take the execution even if another process still holds its claim. Only for when
                you know that process is gone (one killed on this host is seen to be gone without it).

        Raises:
            ExecutionClaimedError: Another live process holds the execution.
            ExecutionFinishedError: The execution has already ended.
        """
        _check_ended(self._state, self.name, "resuming another")
        execution = reopen(self.store, execution_id, agent_name=self.name, owner=str(self._owner), force=force)
        tools = self._definition.for_task(output_schema or execution.output_schema,
                                          finish=execution.finish_tool_name is not None)
        # Nothing is committed if this raises: the agent keeps what it had, and no half-resumed state runs a tool.
        self._state, again = ExecutionState.reopen(self.store, execution, owner=self._owner, tools=tools)
        self._tools = tools
        if again:
            self._state.run_tools(again, self.config)
        return execution

    def rerun_tool_calls(self, call_ids: Sequence[str] | None = None) -> list[ToolCallResult]:
        """Decide to run interrupted calls again (all of them by default), and run them now."""
        state = self._current()
        ids = list(call_ids) if call_ids is not None else [c.id for c in self.interrupted_tool_calls]
        state.decide(lambda machine, now: machine.rerun(ids, now))
        return state.run_tools([c for c in state.runnable_calls() if c.id in ids], self.config)

    def record_tool_result(self, call_id: str, content: str, *, is_error: bool = False) -> None:
        """Decide an interrupted call by recording what it came to (for example after checking its
        side effect through its idempotency key), without running it again."""
        state = self._current()
        call = next((c for c in state.execution.pending_tool_calls if c.id == call_id), None)
        if call is None:
            raise UnknownToolCallError(f"execution {state.execution.id} is not waiting for tool call {call_id!r}",
                                       tool_call_id=call_id)
        state.record_result(ToolCall.from_part(call), content, is_error=is_error)

    @property
    def pending_approvals(self) -> list[ToolCall]:
        """Calls waiting for a person's approval (the execution is PAUSED until each is decided)."""
        ex = self._current().execution
        return [ToolCall.from_part(c) for c in ex.pending_tool_calls if c.id in ex.awaiting_approval]

    def approve(self, call_id: str) -> None:
        """Allow a call to a tool that needs approval; it runs with the next `run_tools` (or `run()`)."""
        self._current().decide(lambda machine, now: machine.approve([call_id], now))

    def reject(self, call_id: str, reason: str = "") -> None:
        """Refuse a call to a tool that needs approval: the model is told it was rejected, and why."""
        if call_id not in self._current().execution.awaiting_approval:
            raise UnknownToolCallError(f"no call {call_id!r} is awaiting approval", tool_call_id=call_id)
        self.record_tool_result(call_id, "Error: a person rejected this call" + (f": {reason}" if reason else ""),
                                is_error=True)

    @property
    def interrupted_tool_calls(self) -> list[ToolCall]:
        """Calls that were running when a process died, waiting for a decision (the execution is PAUSED)."""
        ex = self._current().execution
        return [ToolCall.from_part(c) for c in ex.pending_tool_calls if c.id in ex.awaiting_decision]

    def cancel(self) -> ExecutionResult:
        """End the current execution CANCELLED. Calls that never started get error results; calls
        already running keep their place and their results are recorded when they return."""
        return self._current().cancel()

    # --- internals --------------------------------------------------------------------------------

    def _current(self) -> ExecutionState:
        """The state of the current (or last) execution."""
        if self._state is None:
            raise NoActiveTaskError(f"agent {self.name!r} has no task yet; call add_task(input=...) first")
        return self._state


def _check_ended(state: ExecutionState | None, name: str, doing: str) -> None:
    """An agent runs one execution at a time: refuse to start another while its current one runs."""
    current = state.execution if state else None
    if current is not None and not current.is_finished:
        raise TaskAlreadyRunningError(
            f"agent {name!r} is still running execution {current.id} ({current.status.value}); finish it, "
            f"or cancel() it, before {doing} (or use another Agent object for a task in parallel)",
            execution_id=current.id)
