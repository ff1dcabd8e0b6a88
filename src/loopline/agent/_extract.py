"""`Agent.extract_tool_calls`: one method that reads a response in the right format from the class and
from an agent.

Called on an agent it reads the agent's provider (an Anthropic agent's response is an Anthropic
response); called on the class without `llm_provider`, the response's own shape says which API wrote
it. It never guesses a format a response does not have: an explicit provider that does not match
raises `ProviderMismatchError`.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..providers import LLMProvider, detect_provider, get_adapter
from ..tools import ToolCall

__all__ = ["ExtractToolCalls", "ToolCallExtractor"]


class ToolCallExtractor:
    """`extract_tool_calls` as reached from the class or from one agent (which gives its provider)."""

    __slots__ = ("_provider",)

    def __init__(self, provider: LLMProvider | None) -> None:
        self._provider = provider

    def __call__(self, llm_response: Any, llm_provider: LLMProvider | str | None = None) -> list[ToolCall]:
        """The tool calls in a model response, with arguments parsed (bad arguments are recorded on
        the call, never raised: running it produces an error result the model can react to).

        The response is read as `llm_provider`'s; without it, as the agent's provider's (called on an
        agent), or as the API its shape shows (called on the class), else as Chat Completions.
        """
        provider = llm_provider or self._provider or detect_provider(llm_response) or LLMProvider.OPEN_AI
        messages = get_adapter(provider).parse(llm_response)
        return [ToolCall.from_part(p) for m in messages if m.role == "assistant" for p in m.tool_calls]


class _Speaking(Protocol):
    """An agent, as far as the descriptor reads it."""

    llm_provider: LLMProvider


class ExtractToolCalls:
    """The descriptor behind `Agent.extract_tool_calls`: on an agent, its provider is the default."""

    def __get__(self, agent: _Speaking | None, owner: type | None = None) -> ToolCallExtractor:
        return ToolCallExtractor(agent.llm_provider if agent is not None else None)
