"""Anthropic Messages."""

from __future__ import annotations

from typing import Any, ClassVar

from .._base import LLMProvider
from .._deltas import Translator
from .._made import Content
from .._wire import WireAPI
from . import events, made
from .adapter import AnthropicAdapter
from .detect import FORMATS
from .model import AnthropicModel

__all__ = ["AnthropicAdapter", "AnthropicMessages", "AnthropicModel"]


class AnthropicMessages(WireAPI):
    """`POST /v1/messages`."""

    provider: ClassVar[LLMProvider] = LLMProvider.ANTHROPIC
    url_path: ClassVar[str] = "/messages"
    formats = FORMATS
    model_class = AnthropicModel

    def __init__(self) -> None:
        self._adapter = AnthropicAdapter()

    def adapter(self, provider: LLMProvider) -> AnthropicAdapter:
        return self._adapter

    def translator(self) -> Translator:
        return events.translator()

    def make_response(self, content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
        return made.make_response(content, turn, model, usage)

    def synthesize_stream(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        return made.synthesize_stream(response)
