"""Turning the agent's thread into one request: incremental rendering, and fitting the context window.

A request for a named model is fitted (`loopline.context`): while the thread fits the model's window
minus the reply reserve it goes whole; past that, the fitter keeps the task message and the newest
turns, and the renderer starts over once on the new window, then appends again (the fitter leaves
room, so a refit is rare). Without a model name (the manual loop's `request_kwargs()` as before),
nothing is fitted. The stored thread is never changed.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from typing import Any

from ..context import ContextFitter, ContextPolicy, TokenCounter, context_window
from ..loop import Execution
from ..messages import Message
from ..providers import LLMProvider, LossyRenderingWarning, Renderer, get_adapter
from ..tools import ToolDefinition

__all__ = ["RequestBuilder", "task_index"]

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


class RequestBuilder:
    """The renderers and fitters of one agent, kept per provider and model between requests."""

    def __init__(self) -> None:
        self._renderers: dict[tuple[LLMProvider, str | None], Renderer] = {}
        self._fitters: dict[tuple[LLMProvider, str], ContextFitter | None] = {}
        self._policy: ContextPolicy | None = None
        self._fixed: dict[tuple[LLMProvider, str], tuple[str | None, list[ToolDefinition], int]] = {}

    def build(self, provider: LLMProvider, messages: Sequence[Message], *, system: str | None,
              tools: list[dict[str, Any]], definitions: Sequence[ToolDefinition], model: str | None,
              policy: ContextPolicy, pinned: int | None, parallel: bool, thread_id: str | None,
              warn: bool) -> dict[str, Any]:
        """The request arguments (`ContextOverflowError` when even the task and the newest turn do
        not fit the model's window)."""
        key = (provider, model)
        renderer = self._renderers.get(key)
        fitter = self._fitter(provider, model, policy) if model is not None else None
        if fitter is not None and model is not None:
            fitted = fitter.fit(messages, pinned=pinned,
                                fixed_tokens=self._fixed_tokens(provider, model, system, definitions))
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

    def _fitter(self, provider: LLMProvider, model: str, policy: ContextPolicy) -> ContextFitter | None:
        """The model's fitter; `None` (and no token counting at all) when fitting is off or the
        model's window is unknown."""
        if self._policy != policy:  # a new policy: every fitter is made again
            self._fitters.clear()
            self._policy = policy
        if (provider, model) in self._fitters:
            return self._fitters[(provider, model)]
        window = policy.context_window or context_window(model)
        fitter = ContextFitter(policy, _counter(model), window) if policy.enabled and window else None
        self._fitters[(provider, model)] = fitter
        return fitter

    def _fixed_tokens(self, provider: LLMProvider, model: str, system: str | None,
                      definitions: Sequence[ToolDefinition]) -> int:
        """Tokens of the system prompt and tools, counted again only when they change."""
        known = self._fixed.get((provider, model))
        if known is not None and known[0] == system and known[1] == definitions:
            return known[2]
        counter = _counter(model)
        tokens = counter.count_system(system) + counter.count_tools(definitions)
        self._fixed[(provider, model)] = (system, list(definitions), tokens)
        return tokens
