"""The OpenAI Responses API."""

from __future__ import annotations

from typing import Any, ClassVar

from .._base import LLMProvider
from .._deltas import Translator
from .._made import Content
from .._wire import WireAPI
from . import events, made
from .adapter import OpenAIResponsesAdapter
from .detect import FORMATS
from .model import OpenAIResponsesModel

__all__ = ["OpenAIResponsesAdapter", "OpenAIResponsesModel", "Responses"]


class Responses(WireAPI):
    """`POST /v1/responses`."""

    provider: ClassVar[LLMProvider] = LLMProvider.OPEN_AI_RESPONSES
    url_path: ClassVar[str] = "/responses"
    formats = FORMATS
    model_class = OpenAIResponsesModel

    def __init__(self) -> None:
        self._adapter = OpenAIResponsesAdapter()

    def adapter(self, provider: LLMProvider) -> OpenAIResponsesAdapter:
        return self._adapter

    def translator(self) -> Translator:
        return events.translator()

    def make_response(self, content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
        return made.make_response(content, turn, model, usage)

    def synthesize_stream(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        return made.synthesize_stream(response)
