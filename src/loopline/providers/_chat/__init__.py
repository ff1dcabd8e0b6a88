"""OpenAI Chat Completions, and the OpenAI-compatible servers that speak it (each a `ChatProfile`)."""

from __future__ import annotations

from typing import ClassVar

from .._base import LLMProvider
from .._common import AdapterBase
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
    translator = staticmethod(events.translator)
    make_response = staticmethod(made.make_response)
    synthesize_stream = staticmethod(made.synthesize_stream)

    @property
    def providers(self) -> tuple[LLMProvider, ...]:
        return tuple(PROFILES)

    def make_adapter(self, provider: LLMProvider) -> AdapterBase:
        return OpenAIChatAdapter(PROFILES[provider])
