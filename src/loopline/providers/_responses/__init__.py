"""The OpenAI Responses API."""

from __future__ import annotations

from typing import ClassVar

from .._base import LLMProvider
from .._common import AdapterBase
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
    translator = staticmethod(events.translator)
    make_response = staticmethod(made.make_response)
    synthesize_stream = staticmethod(made.synthesize_stream)

    def make_adapter(self, provider: LLMProvider) -> AdapterBase:
        return OpenAIResponsesAdapter()
