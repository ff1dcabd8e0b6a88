"""OpenAI Chat Completions, and the OpenAI-compatible servers that speak it (each a `ChatProfile`)."""

from __future__ import annotations

from typing import Any, ClassVar

from .._base import LLMProvider
from .._deltas import Translator
from .._made import Content
from .._wire import WireAPI
from . import events, made
from .adapter import PROFILES, ChatProfile, OpenAIChatAdapter
from .detect import FORMATS
from .model import OpenAIChatModel

__all__ = ["ChatCompletions", "ChatProfile", "OpenAIChatAdapter", "OpenAIChatModel", "PROFILES"]


class ChatCompletions(WireAPI):
    """`POST /v1/chat/completions`: one adapter per server profile."""

    provider: ClassVar[LLMProvider] = LLMProvider.OPEN_AI
    url_path: ClassVar[str] = "/chat/completions"
    formats = FORMATS
    model_class = OpenAIChatModel

    def __init__(self) -> None:
        self._adapters = {p: OpenAIChatAdapter(profile) for p, profile in PROFILES.items()}

    @property
    def providers(self) -> tuple[LLMProvider, ...]:
        return tuple(self._adapters)

    def adapter(self, provider: LLMProvider) -> OpenAIChatAdapter:
        return self._adapters[provider]

    def translator(self) -> Translator:
        return events.translator()

    def make_response(self, content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
        return made.make_response(content, turn, model, usage)

    def synthesize_stream(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        return made.synthesize_stream(response)
