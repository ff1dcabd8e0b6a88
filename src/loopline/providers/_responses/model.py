"""The Responses API model: requests to `client.responses` through the `openai` SDK."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._base import LLMProvider
from .._models import SDKModel

__all__ = ["OpenAIResponsesModel"]


@dataclass
class OpenAIResponsesModel(SDKModel):
    """The OpenAI Responses API through the `openai` SDK."""

    provider: LLMProvider = LLMProvider.OPEN_AI_RESPONSES

    def _resource(self, client: Any) -> Any:
        return client.responses
