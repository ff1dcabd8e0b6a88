"""What every provider adapter offers, and the provider enumeration.

An adapter owns one wire API in both directions: tools and the conversation into request arguments,
responses (SDK objects or dicts) back into neutral messages. Nothing outside `loopline.providers`
sees a wire format.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import UnknownProviderError
from ..messages import Message
from ..tools import ToolDefinition
from ._report import RenderNote, RenderReport

__all__ = ["LLMProvider", "ProviderAdapter", "Renderer"]


class LLMProvider(str, enum.Enum):
    """The wire API a request is rendered for and a response is parsed from."""

    OPEN_AI = "openai"
    """OpenAI Chat Completions (`client.chat.completions.create`)."""
    OPEN_AI_RESPONSES = "openai_responses"
    """The OpenAI Responses API (`client.responses.create`)."""
    ANTHROPIC = "anthropic"
    """Anthropic Messages (`client.messages.create`)."""
    OLLAMA = "ollama"
    """Ollama's OpenAI-compatible Chat Completions endpoint."""
    GEMINI_OPEN_AI = "gemini_openai"
    """Google Gemini's OpenAI-compatible Chat Completions endpoint."""
    NVIDIA_NIM = "nvidia_nim"
    """NVIDIA NIM's OpenAI-compatible Chat Completions endpoint."""
    FRIENDLI_AI = "friendli_ai"
    """FriendliAI's OpenAI-compatible Chat Completions endpoint."""
    VLLM = "vllm"
    """vLLM's OpenAI-compatible Chat Completions server."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: LLMProvider | str) -> LLMProvider:
        """The member for `value` (a member or its string value); `UnknownProviderError` otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise UnknownProviderError(value, [p.value for p in cls]) from None


class Renderer(Protocol):
    """Renders an append-only list of messages incrementally: each call converts only what is new."""

    def render(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """The wire messages for `messages`; returns a new list each call (the dicts are shared)."""
        ...

    @property
    def report(self) -> RenderReport:
        """What the renderings so far dropped or converted."""
        ...

    def new_notes(self) -> list[RenderNote]:
        """Notes added since the last call."""
        ...


class ProviderAdapter(Protocol):
    """One wire API, both directions."""

    provider: LLMProvider

    def render_tools(self, tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
        """Tool definitions in the provider's `tools` request format."""
        ...

    def renderer(self) -> Renderer:
        """A fresh incremental renderer for one conversation."""
        ...

    def request_kwargs(self, *, system: str | None, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]]) -> dict[str, Any]:
        """Ready-to-splat request arguments from rendered parts."""
        ...

    def parse(self, response: Any) -> list[Message]:
        """Neutral messages from a response (SDK object or dict) or a list of wire message dicts."""
        ...
