"""Anthropic Messages."""

from __future__ import annotations

from typing import ClassVar

from .._base import LLMProvider
from .._common import AdapterBase
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
    translator = staticmethod(events.translator)
    make_response = staticmethod(made.make_response)
    synthesize_stream = staticmethod(made.synthesize_stream)

    def make_adapter(self, provider: LLMProvider) -> AdapterBase:
        return AnthropicAdapter()
