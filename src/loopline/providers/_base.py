"""The provider enumeration and the renderer protocol the agent renders conversations with.

The adapters' own contract is `AdapterBase` (`_common.py`), and each wire API's is `WireAPI`
(`_wire.py`): one package per wire API, both directions, chosen by the registry (`_registry.py`).
Nothing outside `loopline.providers` sees a wire format.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import UnknownProviderError
from ..messages import Message
from ._report import RenderNote, RenderReport

__all__ = ["LLMProvider", "Renderer"]


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
