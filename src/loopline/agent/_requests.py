"""Turning the agent's thread into one request: incremental rendering, and fitting the context window.

A request for a named model is fitted (`loopline.context`): while the thread fits the model's window
minus the reply reserve it goes whole (and while a byte count shows it cannot come near, nothing is
even tokenised); past that, the fitter keeps the task message and the newest
turns, and the renderer starts over once on the new window, then appends again (the fitter leaves
room, so a refit is rare). Without a model name (the manual loop's `request_kwargs()` as before),
nothing is fitted. The stored thread is never changed.

The manual loop sends `agent.messages` itself, so what those carry decides what reaches the server:
a request is never rendered while tool calls wait for results (every API refuses it), and the
instructions travel in the shape each API takes (see `conversation_of`, `InstructionsWatch`).
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Sequence, Set
from typing import Any

from ..context import IMAGE_TOKENS, ContextFitter, ContextPolicy, TokenCounter, context_window
from ..errors import ContextOverflowError, PendingToolCallsError, UnknownToolCallError
from ..loop import Execution
from ..messages import FilePart, Message, TextPart, message_to_json
from ..providers import LLMProvider, LossyRenderingWarning, Renderer, get_adapter
from ..tools import ToolDefinition

__all__ = [
    "InstructionsNotSentWarning",
    "InstructionsWatch",
    "RequestBuilder",
    "check_answered",
    "check_results_known",
    "conversation_of",
    "task_index",
]

_COUNTERS: dict[str, TokenCounter] = {}
_COUNTERS_LOCK = threading.Lock()


def _counter(model: str) -> TokenCounter:
    """One counter per model for the process: counts are cached by message id, so agents that share
    a thread (a hand-off) share the work."""
    with _COUNTERS_LOCK:
        counter = _COUNTERS.get(model)
        if counter is None:
            counter = _COUNTERS[model] = TokenCounter(model)
        return counter


def task_index(messages: Sequence[Message], execution: Execution) -> int | None:
    """Where the execution's task message is in its thread (the last user message with its input
    text), or `None` when it cannot be told."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.role == "user" and message.text == execution.input:
            return index
    return None


def check_answered(execution: Execution) -> None:
    """Refuses to render a request while calls of the last response have no result: every API
    rejects a call without its result (a 400), so the mistake is named here instead."""
    if execution.pending_tool_calls and not execution.is_finished:
        ids = list(execution.pending_ids)
        raise PendingToolCallsError(
            f"execution {execution.id}: tool calls {ids} have no results yet, and no provider accepts a request "
            "until they do; call run_tools(...) first (agent.pending_tool_calls lists them)", tool_call_ids=ids)


def check_results_known(execution: Execution, message: Message, *, answered: Set[str]) -> None:
    """Refuses tool results (added as wire messages) that answer no waiting call: most often the
    response that made the call was never given to `add_messages`. (A finished execution refuses
    them anyway, as finished.)"""
    waiting = execution.pending_ids
    unknown = [p.tool_call_id for p in message.tool_results if p.tool_call_id not in waiting]
    if not unknown or execution.is_finished:
        return
    known = [i for i in unknown if i in answered]
    why = (f"call(s) {known} are in the thread but no longer waiting (answered already?)" if known else
           "add_messages may have been skipped for the response that made the call: add that response "
           "first, then its results (or let run_tools add them)")
    raise UnknownToolCallError(
        f"execution {execution.id} is not waiting for tool call(s) {unknown} (waiting for "
        f"{list(waiting) or 'none'}); {why}", tool_call_id=unknown[0])


def conversation_of(provider: LLMProvider, request: dict[str, Any]) -> list[dict[str, Any]]:
    """What `agent.messages` holds for `provider`: the request's conversation, with the instructions
    first wherever the API takes them there.

    Chat Completions' messages already start with them. The Responses API takes them as
    `instructions` or as a system item first in `input` (the same to the model): the item goes first,
    so a loop that sends `input=agent.messages` alone sends them. Anthropic takes no system turn in
    `messages` at all; `agent.system` (`InstructionsWatch.system`) is for its `system` argument.
    """
    adapter = get_adapter(provider)
    messages: list[dict[str, Any]] = request[adapter.messages_key]
    instructions = request.get(adapter.instructions_key) if adapter.instructions_key else None
    if not instructions:
        return messages
    return [*adapter.render_message(Message(role="system", parts=(TextPart(text=instructions),))), *messages]


class InstructionsNotSentWarning(UserWarning):
    """A manual loop on Anthropic sent `agent.messages` without `system=agent.system`: the model did
    not see the agent's instructions."""


class InstructionsWatch:
    """Notices a manual loop on Anthropic that sends `agent.messages` without the instructions.

    Anthropic takes the system prompt beside the messages, so `agent.messages` cannot carry it, and a
    loop written after the Chat Completions one (`messages=agent.messages` alone) sends none. Which
    arguments went out is not visible here, so the watch goes by what was read: when a response
    comes back after the messages were read and the instructions never were (`agent.system`, or
    `request_kwargs()`, which holds them), it warns.
    """

    __slots__ = ("_messages_read", "_system_read")

    def __init__(self) -> None:
        self._messages_read = self._system_read = False

    def read_messages(self, provider: LLMProvider, instructions: str, *, sending: bool) -> None:
        """The messages were read for `provider`; `sending`: for a request (not a report)."""
        if get_adapter(provider).system_apart and instructions.strip() and sending:
            self._messages_read = True

    def read_system(self) -> None:
        self._system_read = True

    def system(self, instructions: str) -> Any:
        """The instructions as Anthropic's `system` argument (its adapter says how), read for a request."""
        self._system_read = True
        return get_adapter(LLMProvider.ANTHROPIC).system_argument(instructions)

    def check(self, provider: LLMProvider, agent_name: str) -> None:
        """A response arrived: warn if the request it answers went out without the instructions."""
        if get_adapter(provider).system_apart and self._messages_read and not self._system_read:
            warnings.warn(InstructionsNotSentWarning(
                f"agent {agent_name!r}: agent.messages for Anthropic cannot carry the instructions, and "
                "agent.system was never read, so the model did not see them; pass system=agent.system "
                "to messages.create (or splat **agent.request_kwargs())"), stacklevel=3)
        self._messages_read = False


class RequestBuilder:
    """The renderers and fitters of one agent, kept per provider and model between requests."""

    def __init__(self) -> None:
        self._renderers: dict[tuple[LLMProvider, str | None], Renderer] = {}
        self._fitters: dict[tuple[LLMProvider, str], _Fitting | None] = {}
        self._policy: ContextPolicy | None = None
        self._fixed: dict[tuple[LLMProvider, str], tuple[str | None, list[ToolDefinition], _Fixed]] = {}

    def build(self, provider: LLMProvider, messages: Sequence[Message], *, system: str | None,
              tools: list[dict[str, Any]], definitions: Sequence[ToolDefinition], model: str | None,
              policy: ContextPolicy, pinned: int | None, parallel: bool, thread_id: str | None,
              warn: bool, max_tokens: int | None = None) -> dict[str, Any]:
        """The request arguments (`ContextOverflowError` when even the task and the newest turn do
        not fit the model's window). `max_tokens`: the reply limit the request will carry; the window
        keeps at least that much room (providers refuse input plus `max_tokens` over the window)."""
        if model is not None and max_tokens is not None and max_tokens > policy.reply_reserve:
            window = policy.context_window or context_window(model)
            if policy.enabled and window and window <= max_tokens:
                raise ContextOverflowError(f"the reply may take {max_tokens:,} tokens (max_tokens), which leaves no "
                                           f"room in {model}'s window of {window:,}", needed=max_tokens,
                                           window=window, reserve=max_tokens)
            policy = dataclasses.replace(policy, reply_reserve=max_tokens)
        key = (provider, model)
        fitting = self._fitting(provider, model, policy) if model is not None else None
        renderer = self._renderers.get(key)  # after _fitting, which forgets renderings of an old policy
        if fitting is not None and model is not None:
            fixed = self._fixed.get((provider, model))
            if fixed is None or fixed[0] != system or fixed[1] != definitions:
                fixed = self._fixed[(provider, model)] = (system, list(definitions), _Fixed(model, system, definitions))
            fitter = fitting.fitter_if_needed(messages, fixed[2].bytes)
            if fitter is not None:
                fitted = fitter.fit(messages, pinned=pinned, fixed_tokens=fixed[2].tokens())
                if fitted.refitted:
                    renderer = None
                messages = fitted.messages
        if renderer is None:
            renderer = self._renderers[key] = get_adapter(provider).renderer()
        adapter = get_adapter(provider)
        kwargs = adapter.request_kwargs(system=system, messages=renderer.render(messages), tools=tools)
        if not parallel:
            adapter.one_call_at_a_time(kwargs)
        fresh = renderer.new_notes()
        if warn and fresh:
            detail = "; ".join(str(n) for n in fresh[:5]) + (f"; and {len(fresh) - 5} more" if len(fresh) > 5 else "")
            warnings.warn(LossyRenderingWarning(f"rendering thread {thread_id} for {provider.value}: {detail}"),
                          stacklevel=4)
        return kwargs

    def report_renderer(self, provider: LLMProvider) -> Renderer:
        """The unfitted renderer of `provider` (what `get_messages(report=True)` reports on)."""
        renderer = self._renderers.get((provider, None))
        if renderer is None:
            renderer = self._renderers[(provider, None)] = get_adapter(provider).renderer()
        return renderer

    def _fitting(self, provider: LLMProvider, model: str, policy: ContextPolicy) -> _Fitting | None:
        """The model's fitting; `None` (and no token counting at all) when fitting is off or the
        model's window is unknown."""
        if self._policy != policy:  # a new policy: every fitting is made again, and every fitted rendering
            self._fitters.clear()
            self._renderers = {k: v for k, v in self._renderers.items() if k[1] is None}
            self._policy = policy
        if (provider, model) in self._fitters:
            return self._fitters[(provider, model)]
        window = policy.context_window or context_window(model)
        if policy.enabled and window and window <= policy.reply_reserve:
            raise ContextOverflowError(f"the reply reserve of {policy.reply_reserve:,} tokens leaves no room in "
                                       f"{model}'s window of {window:,}", needed=policy.reply_reserve,
                                       window=window, reserve=policy.reply_reserve)
        fitting = _Fitting(policy, model, window) if policy.enabled and window else None
        self._fitters[(provider, model)] = fitting
        return fitting


_BOUND_SCALE = 1.25
"""The largest factor a counter scales token counts by (models counted with a stand-in encoding)."""
_BOUND_PER_MESSAGE = 64
"""More than the overhead a counter adds for one message with its calls and results."""
_BOUND_PER_REQUEST = 1024
"""More than the overhead a counter adds for one request with tools (Anthropic's tool prompt: 600)."""


class _Fixed:
    """What a request holds besides messages: its size in bytes at once, its tokens when needed."""

    def __init__(self, model: str, system: str | None, definitions: Sequence[ToolDefinition]) -> None:
        self._model, self._system, self._definitions = model, system, list(definitions)
        self.bytes = len((system or "").encode()) + sum(len(repr(d).encode()) for d in definitions)
        self._tokens: int | None = None

    def tokens(self) -> int:
        if self._tokens is None:
            counter = _counter(self._model)
            self._tokens = counter.count_system(self._system) + counter.count_tools(self._definitions)
        return self._tokens


class _Fitting:
    """Fitting for one provider and model, tokenizer-free while it cannot matter.

    No BPE token spans less than one byte, so the UTF-8 size of everything a request holds (scaled
    and padded as generously as any counter's estimate is) bounds its tokens from above. While that
    bound is under the limit the request cannot overflow, and nothing is tokenised: the encoder (tens
    of megabytes) is loaded only for conversations that come near the window. From then on the
    fitter counts (once per message) and fits.
    """

    def __init__(self, policy: ContextPolicy, model: str, window: int) -> None:
        self._policy, self._model, self._window = policy, model, window
        self._limit = window - policy.reply_reserve
        self._fitter: ContextFitter | None = None
        self._seen, self._last_id, self._bytes = 0, "", 0

    def fitter_if_needed(self, messages: Sequence[Message], fixed_bytes: int) -> ContextFitter | None:
        if self._fitter is None and self._bound(messages, fixed_bytes) > self._limit:
            self._fitter = ContextFitter(self._policy, _counter(self._model), self._window)
        return self._fitter

    def _bound(self, messages: Sequence[Message], fixed_bytes: int) -> int:
        if len(messages) < self._seen or (self._seen and messages[self._seen - 1].id != self._last_id):
            self._seen, self._bytes = 0, 0  # not an append: measure again
        for message in messages[self._seen:]:
            # Tokens never outnumber bytes, except for files, which a counter charges a fixed estimate.
            files = sum(1 for p in message.parts if isinstance(p, FilePart))
            self._bytes += len(message_to_json(message).encode()) + files * IMAGE_TOKENS
        self._seen, self._last_id = len(messages), messages[-1].id if messages else ""
        padding = _BOUND_PER_MESSAGE * len(messages) + _BOUND_PER_REQUEST
        return int(_BOUND_SCALE * (self._bytes + fixed_bytes)) + padding
