"""`Agent`: the public face of the loop.

An agent holds its instructions and tools, the conversation of its current execution, and the state
machine that runs it. The manual loop (bring your own client) is: `add_task`, then while not
`is_finished()`: call the model with `messages` / `get_tools()`, `add_messages(response)`,
`extract_tool_calls(response)`, `run_tools(calls)`.

Decisions (when an execution ends, what a limit does) belong to `loopline.loop`; wire formats belong
to `loopline.providers`. This module wires them to a store and never decides either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from time import monotonic
from typing import Any, Literal, overload

from .._html import guarded
from ..errors import (
    NoActiveTaskError,
    TaskAlreadyRunningError,
    ToolDefinitionError,
    UsageError,
)
from ..loop import Execution, ExecutionMachine, ExecutionResult, ExecutionStatus, RunConfig, execution_html
from ..messages import Message, new_id
from ..providers import (
    LLMProvider,
    Model,
    RenderReport,
    StreamingModel,
    get_adapter,
    resolve_model,
)
from ..store import Page, Store, ToolCallRecord, default_store, process_owner
from ..tools import (
    FINISH_TOOL_NAME,
    OutputSchema,
    Tool,
    ToolCall,
    ToolCallResult,
    ToolContext,
    ToolLike,
    arun_calls,
    as_tool,
    json_schema_of,
    run_calls,
)
from ..tools import finish_tool as make_finish_tool
from . import _run
from ._claims import KEEPER, ClaimHolder
from ._decisions import CLAIM_SECONDS, Decisions
from ._events import RunEvent
from ._extract import ExtractToolCalls
from ._files import FileInput
from ._index import CallIds, resolve_calls
from ._input import TaskInput, task_message, task_text
from ._memory import AgentMemory
from ._progress import progress_for
from ._requests import InstructionsWatch, RequestBuilder, check_answered, check_results_known, conversation_of
from ._turns import ThreadTurns

__all__ = ["Agent", "CLAIM_SECONDS"]

class Agent(Decisions, ClaimHolder, ThreadTurns):
    """An LLM agent: instructions, tools, and the execution of its current task.

    Args:
        name: Names the agent in stored executions; an agent with the same name and tools can
            pick up its executions.
        instructions: The system prompt. It belongs to the agent, not the thread: an agent that
            continues another's thread speaks with its own instructions.
        tools: Functions (made into tools as by `@tool`) or `Tool` objects.
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

    def __init__(
        self,
        name: str,
        instructions: str = "",
        tools: Iterable[ToolLike] = (),
        llm_provider: LLMProvider | str = LLMProvider.OPEN_AI,
        *,
        store: Store | None = None,
        config: RunConfig | None = None,
        require_finish_tool: bool = False,
        finish_tool: bool = True,
    ) -> None:
        self.name = name
        self.instructions = instructions
        self.llm_provider = LLMProvider.of(llm_provider)
        self.store: Store = store if store is not None else default_store()
        if config is not None and not isinstance(config, RunConfig):
            raise UsageError(f"config must be a RunConfig, got {type(config).__name__}")
        self.config = config if config is not None else RunConfig()
        self.require_finish_tool = require_finish_tool
        self.use_finish_tool = finish_tool
        self.tools: tuple[Tool, ...] = tuple(as_tool(t) for t in tools)
        self._tools_by_name = _index_tools(self.tools, reserved=FINISH_TOOL_NAME if finish_tool else None)
        self._machine: ExecutionMachine | None = None
        self._finish: Tool | None = make_finish_tool() if finish_tool else None
        self._messages: list[Message] = []
        self._requests = RequestBuilder()
        self._instructions_watch = InstructionsWatch()
        self._call_ids = CallIds()
        self._task_index: int | None = None
        self._rendered_tools: dict[LLMProvider, list[dict[str, Any]]] = {}
        self._lock = threading.RLock()
        self._owner = process_owner(new_id("agent"))  # host:pid:start:agent-id, see loopline.store.process_owner
        self._claimed_at: float | None = None
        self._rerun_now: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, llm_provider={self.llm_provider.value!r}, tools={len(self.tools)})"

    def _repr_html_(self) -> str:
        """In Jupyter: the current execution with its conversation step by step (calls folded)."""
        machine = self._machine
        if machine is None:
            return guarded(lambda: f"<div>{html.escape(repr(self))}: no task yet (add_task or run)</div>", "agent")
        return guarded(lambda: execution_html(machine.execution, self._messages), "this agent's execution")

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
                backoff) before `ThreadBusyError`; 0 refuses at once.

        Raises:
            TaskAlreadyRunningError: The current execution has not ended.
            InvalidInputError: `input` or `files` cannot be sent and stored (`None`, a number, bad base64, ...).
            ThreadBusyError: Another execution holds `thread_id` (still, after `wait` seconds).
            UnknownThreadError: `thread_id` is not in this agent's store.
        """
        current = self._machine.execution if self._machine else None
        if current is not None and not current.is_finished:
            raise TaskAlreadyRunningError(
                f"agent {self.name!r} is still running execution {current.id} ({current.status.value}); "
                "finish it, or cancel() it, before add_task (or use another Agent object for a task in parallel)",
                execution_id=current.id)
        if output_schema is not None and not self.use_finish_tool:
            raise UsageError("output_schema needs the finish tool; create the agent with finish_tool=True")
        # Everything that can fail on the caller's input is checked before anything is created.
        first = task_message(input, files, self.llm_provider)
        finish = make_finish_tool(output_schema) if self.use_finish_tool else None
        make = functools.partial(Execution, agent_name=self.name, input=task_text(first), limits=self.config.limits(),
                                 finish_tool_name=finish.name if finish else None,
                                 require_finish=self.require_finish_tool or output_schema is not None,
                                 output_schema=json_schema_of(output_schema))
        history: list[Message] = []
        if thread_id is None:
            machine = ExecutionMachine(make(thread_id=self.store.create_thread()))
            self._commit_start(machine, first, 0)
        else:
            machine, history = self._start(make, thread_id, first, wait)
        self._claimed_at = monotonic()
        KEEPER.hold(self, machine.execution.id)
        self._machine, self._finish, self._rendered_tools = machine, finish, {}
        self._messages = [*history, first]
        self._task_index = len(history)
        return machine.execution

    def _commit_start(self, machine: ExecutionMachine, first: Message, length: int) -> None:
        """Commit the first message and the execution with this process's claim on it, in one transaction
        (so no other process ever sees it unclaimed, and takes it for abandoned)."""
        machine.start(time.time())
        self.store.commit(machine.execution, [first], expected_length=length, owner=self._owner,
                          claim_seconds=CLAIM_SECONDS)

    @property
    def memory(self) -> AgentMemory:
        """Key-value memory with JSON values, in the agent's store: `agent` scope (permanent, shared by
        every agent of this name), `thread` (the current conversation) or `execution` (this task)."""
        return AgentMemory(self)

    # --- loopline drives the loop --------------------------------------------------------------

    def run(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
            params: Mapping[str, Any] | None = None, progress: bool | None = None) -> ExecutionResult:
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
        return _run.run(self, resolved, progress_for(progress))

    async def arun(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
                   params: Mapping[str, Any] | None = None, progress: bool | None = None) -> ExecutionResult:
        """`run` for asyncio; cancelling the task ends the execution CANCELLED with nothing lost."""
        resolved = self._prepare_run(input, model, client, params, asynchronous=True)
        return await _run.arun(self, resolved, progress_for(progress))

    def stream(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
               params: Mapping[str, Any] | None = None) -> Iterator[RunEvent]:
        """`run`, streaming: yields text and tool-call deltas as the model writes them, then tool
        results, status changes and usage, and last `Finished` with the result."""
        return _run.stream(self, self._prepare_run(input, model, client, params, streaming=True))

    def astream(self, input: TaskInput | None = None, *, model: Model | str, client: Any = None,
                params: Mapping[str, Any] | None = None) -> AsyncIterator[RunEvent]:
        """`stream` for asyncio (`async for event in agent.astream(...)`)."""
        return _run.astream(self, self._prepare_run(input, model, client, params, streaming=True, asynchronous=True))

    def _prepare_run(self, input: TaskInput | None, model: Model | str, client: Any,
                     params: Mapping[str, Any] | None, *, streaming: bool = False, asynchronous: bool = False) -> Model:
        """The model to run with, checked as far as it can be before a task is added: a failure here
        (a wrong client, a missing key, bad input) leaves no execution and no thread behind."""
        resolved = resolve_model(model, client=client, default_provider=self.llm_provider, params=params)
        configure = getattr(resolved, "configured", None)  # the SDK-backed models take retries and timeout
        if configure is not None:
            resolved = configure(max_retries=self.config.max_retries, timeout=self.config.request_timeout,
                                 retry_delay=self.config.retry_delay_seconds)
        if streaming and not isinstance(resolved, StreamingModel):  # before a task is added, not after
            raise _run.cannot_stream(resolved)
        _run.check_input(self, input, resolved, asynchronous=asynchronous)
        return resolved

    # --- the manual loop --------------------------------------------------------------------------

    def is_finished(self) -> bool:
        """True once the current execution has ended (this also applies the time limit)."""
        return self._apply(lambda m: m.check_clock(time.time())).execution.is_finished

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
    def system(self) -> list[dict[str, Any]]:
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
        provider = LLMProvider.of(llm_provider or self.llm_provider)
        rendered = self._rendered_tools.get(provider)
        if rendered is None:
            definitions = [t.definition for t in self._all_tools().values()]
            rendered = self._rendered_tools[provider] = get_adapter(provider).render_tools(definitions)
        return list(rendered)

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
        ex = self._require_machine().execution
        if ex.status is ExecutionStatus.PAUSED:
            raise UsageError(f"execution {ex.id} is PAUSED: decide its held calls first (approve / reject, or "
                             "rerun_tool_calls / record_tool_result); no provider accepts the thread as it is")
        check_answered(ex)
        tools = self.get_tools(provider) if include_tools else []
        definitions = [t.definition for t in self._all_tools().values()] if include_tools and model else []
        return self._requests.build(provider, self._messages, system=self.instructions or None, tools=tools,
                                    definitions=definitions, model=model, policy=self.config.context,
                                    pinned=self._task_index, parallel=self.config.parallel_tool_calls,
                                    thread_id=self.thread_id, warn=warn, max_tokens=max_tokens)

    def add_messages(self, response: Any, llm_provider: LLMProvider | str | None = None) -> list[Message]:
        """Add a model response (SDK object or dict) or a list of wire message dicts to the execution.

        A response with tool calls waits for `run_tools`; a reply without tool calls ends the
        execution with its text (unless the finish tool is required). Returns the neutral messages
        that were appended.
        """
        provider = LLMProvider.of(llm_provider or self.llm_provider)
        parsed = get_adapter(provider).parse(response)
        self._instructions_watch.check(provider, self.name)
        added: list[Message] = []

        def feed(machine: ExecutionMachine) -> list[Message]:
            # All messages are applied to one fork: a bad item later in a list changes nothing.
            now = time.time()
            for message in parsed:
                if message.role == "assistant":
                    added.extend(machine.on_model_message(self._call_ids.unique(message, self._messages, added), now))
                    held = [c.id for c in machine.execution.pending_tool_calls if self._needs_approval(c.name)]
                    machine.hold_for_approval(held, now)
                elif message.role == "tool":
                    added.extend(machine.on_tool_results(self._results_from_message(machine, message), now))
                elif message.role == "user":
                    added.extend(machine.on_user_message(message, now))
                else:
                    raise UsageError("system messages belong to the agent: set Agent(instructions=...) instead")
            return added

        self._apply(feed)
        return added

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
        tool_calls = resolve_calls(tool_calls, self._require_machine().execution.pending_tool_calls)
        started = self._begin_tools(tool_calls)
        if not started:
            return []
        with self._running(tool_calls):
            results = run_calls(tool_calls, self._all_tools(), self._context,
                                default_timeout=self.config.tool_timeout, parallel=self.config.parallel_tool_calls,
                                time_left=self._require_machine().execution.time_left(time.time()))
        self._finish_tools(results, started)
        return results

    async def arun_tools(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallResult]:
        """`run_tools` for asyncio code: async tools are awaited, sync tools run in threads."""
        tool_calls = resolve_calls(tool_calls, self._require_machine().execution.pending_tool_calls)
        started = self._begin_tools(tool_calls)
        if not started:
            return []
        with self._running(tool_calls):
            results = await arun_calls(tool_calls, self._all_tools(), self._context,
                                       default_timeout=self.config.tool_timeout,
                                       parallel=self.config.parallel_tool_calls,
                                       time_left=self._require_machine().execution.time_left(time.time()))
        self._finish_tools(results, started)
        return results

    def _begin_tools(self, tool_calls: Sequence[ToolCall]) -> dict[str, ToolCallRecord]:
        """Record the calls as started (in the store too) before any of them runs."""
        machine = self._require_machine()
        if not tool_calls:
            return {}
        now = time.time()
        records = {c.id: ToolCallRecord(execution_id=machine.execution.id, tool_call_id=c.id, name=c.name,
                                        arguments=c.raw_arguments, status="started", started_at=now)
                   for c in tool_calls}

        def begin(machine: ExecutionMachine) -> list[Message]:
            machine.begin_tools(tool_calls, now)
            return []

        self._apply(begin, tool_calls=list(records.values()))
        return records

    def _finish_tools(self, results: Sequence[ToolCallResult], started: dict[str, ToolCallRecord]) -> None:
        now = time.time()
        done = [dataclasses.replace(started[r.tool_call_id], status="finished", finished_at=now, result=r.content,
                                    is_error=r.is_error, duration=r.duration) for r in results]
        self._apply(lambda m: m.on_tool_results(results, now), tool_calls=done)

    @property
    def pending_tool_calls(self) -> list[ToolCall]:
        """Calls of the last response that have no result yet (after `resume`, run these first)."""
        ex = self._require_machine().execution
        held = {*ex.awaiting_decision, *ex.awaiting_approval}
        return [ToolCall.from_part(c) for c in ex.pending_tool_calls if c.id not in held]

    # --- reading state ----------------------------------------------------------------------------

    @property
    def execution(self) -> Execution | None:
        """The current (or last) execution, or `None` before the first `add_task`."""
        return self._machine.execution if self._machine else None

    @property
    def thread_id(self) -> str | None:
        """The thread of the current (or last) execution."""
        return self._machine.execution.thread_id if self._machine else None

    @property
    def thread(self) -> list[Message]:
        """The neutral messages of the current thread (a copy)."""
        return list(self._messages)

    def retrieve_execution_result(self, *, execution_id: str | None = None) -> ExecutionResult:
        """Status, result, error, ids and usage of the current (or last) execution, or of any execution
        in the agent's store by `execution_id` (one a past process ran, for instance); raises
        `UnknownExecutionError` for an unknown id."""
        if execution_id is None or (self._machine is not None and self._machine.execution.id == execution_id):
            return self._apply(lambda m: m.check_clock(time.time())).execution.to_result()
        return self.store.get_execution(execution_id).to_result()

    def get_execution_status(self) -> Execution:
        """A snapshot of the current (or last) execution's record."""
        return self._apply(lambda m: m.check_clock(time.time())).execution.copy()

    def list_executions(self, *, status: ExecutionStatus | None = None, limit: int | None = 50,
                        cursor: str | None = None) -> Page[Execution]:
        """This agent's executions in its store (made by any process), newest first; pass the page's
        `next_cursor` as `cursor` for the next page."""
        return self.store.list_executions(agent_name=self.name, status=status, limit=limit, cursor=cursor)

    def get_execution(self, execution_id: str) -> Execution:
        """One execution from the store; raises `UnknownExecutionError` for an unknown id."""
        return self.store.get_execution(execution_id)

    # --- internals --------------------------------------------------------------------------------

    def _require_machine(self) -> ExecutionMachine:
        if self._machine is None:
            raise NoActiveTaskError(f"agent {self.name!r} has no task yet; call add_task(input=...) first")
        return self._machine

    def _all_tools(self) -> dict[str, Tool]:
        if self._finish is None:
            return self._tools_by_name
        return {**self._tools_by_name, self._finish.name: self._finish}

    def _context(self, call: ToolCall) -> ToolContext:
        execution = self._require_machine().execution
        return ToolContext(tool_call_id=call.id, execution_id=execution.id, thread_id=execution.thread_id,
                           agent_name=self.name)

    def _apply(self, event: Callable[[ExecutionMachine], Sequence[Message]], *,
               tool_calls: Sequence[ToolCallRecord] = ()) -> ExecutionMachine:
        """Apply an event to a fork of the machine, commit what it produced, and only then adopt it.

        If the event is refused (a misuse error) or the store fails, the agent's state, its local
        thread and the store are as they were. Reads that change nothing write nothing.
        """
        with self._lock:
            machine = self._require_machine()
            trial = machine.fork()
            messages = list(event(trial))
            if messages or tool_calls or trial.execution != machine.execution:
                self.store.commit(trial.execution, messages, expected_length=len(self._messages),
                                  tool_calls=tool_calls, owner=self._owner, claim_seconds=self._claim_to_take(trial))
            machine.adopt(trial)
            self._messages.extend(messages)
            self._keep_claim(machine.execution)
            return machine

    @contextlib.contextmanager
    def _running(self, tool_calls: Sequence[ToolCall]) -> Iterator[None]:
        """While the calls run: if they are cut off (an exception, a cancelled
        task, Ctrl-C), record that each may or may not have had its effect, then let it propagate."""
        try:
            yield
        except BaseException:
            self._apply(lambda m: m.interrupt_tools(tool_calls, time.time()))
            raise

    def _results_from_message(self, machine: ExecutionMachine, message: Message) -> list[ToolCallResult]:
        """Tool results the user supplied as wire messages, in the shape the machine takes.

        A result for the finish tool is not taken at its word: the finish call's own arguments are
        checked (output schema included) exactly as `run_tools` would.
        """
        pending = {c.id: c for c in machine.execution.pending_tool_calls}
        check_results_known(machine.execution, message, answered=self._call_ids.of(self._messages))
        results = []
        for part in message.tool_results:
            call = pending.get(part.tool_call_id)
            if call is not None and self._finish is not None and call.name == self._finish.name:
                results += run_calls([ToolCall.from_part(call)], {call.name: self._finish}, self._context)
                continue
            payload = ToolCall.from_part(call).arguments if call else {}
            results.append(ToolCallResult(tool_call_id=part.tool_call_id, function_name=part.name or (
                call.name if call else ""), payload=payload, result=part.content, is_success=not part.is_error,
                content=part.content, error=part.content if part.is_error else None))
        return results


def _index_tools(tools: Sequence[Tool], *, reserved: str | None) -> dict[str, Tool]:
    by_name: dict[str, Tool] = {}
    for t in tools:
        if t.name == reserved:
            raise ToolDefinitionError(
                f"tool name {t.name!r} is reserved for the built-in finish tool; rename the tool, "
                "or create the agent with finish_tool=False", tool_name=t.name)
        if t.name in by_name:
            raise ToolDefinitionError(f"two tools are named {t.name!r}; tool names must be unique",
                                      tool_name=t.name)
        by_name[t.name] = t
    return by_name
