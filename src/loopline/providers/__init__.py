"""The providers layer: one adapter per wire API, each owning both directions.

Adapters render tools and the neutral conversation into request arguments and parse responses (SDK
objects or dicts) back into neutral messages with usage and stop reason. No vendor format leaves
this package. Builds on `loopline.messages` and `loopline.tools`.
"""

from __future__ import annotations

from typing import Any

from ._base import LLMProvider, ProviderAdapter, Renderer
from ._detect import describe_format
from ._openai_chat import OpenAIChatAdapter

__all__ = ["LLMProvider", "OpenAIChatAdapter", "ProviderAdapter", "Renderer", "describe_format", "get_adapter"]

_ADAPTERS: dict[LLMProvider, Any] = {LLMProvider.OPEN_AI: OpenAIChatAdapter()}


def get_adapter(provider: LLMProvider | str) -> ProviderAdapter:
    """The adapter for a provider (an `LLMProvider` or its value, such as `"openai"`)."""
    try:
        key = LLMProvider(provider)
    except ValueError:
        known = ", ".join(p.value for p in LLMProvider)
        raise ValueError(f"unknown llm_provider {provider!r}; known providers: {known}") from None
    adapter: ProviderAdapter = _ADAPTERS[key]
    return adapter
