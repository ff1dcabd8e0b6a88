"""The Chat Completions model: requests to `client.chat.completions` through the `openai` SDK."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .._models import SDKModel

__all__ = ["OpenAIChatModel"]


@dataclass
class OpenAIChatModel(SDKModel):
    """OpenAI Chat Completions (and OpenAI-compatible servers) through the `openai` SDK."""

    _EMPTY = ("messages",)
    _STREAM_OPTIONS: ClassVar[Mapping[str, Any]] = {"stream_options": {"include_usage": True}}

    def _resource(self, client: Any) -> Any:
        return client.chat.completions
