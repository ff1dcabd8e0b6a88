"""The providers layer: one adapter per wire API, each owning both directions.

Adapters render tools and the neutral conversation into request arguments and parse responses (SDK
objects or dicts) back into neutral messages with usage and stop reason. No vendor format leaves
this package. Builds on `loopline.messages` and `loopline.tools`.
"""

from __future__ import annotations

from ._anthropic import AnthropicAdapter
from ._base import LLMProvider, Renderer
from ._common import AdapterBase, to_plain
from ._deltas import Delta, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, translator
from ._detect import describe_format
from ._made import make_response, synthesize_stream
from ._models import AnthropicModel, Model, OpenAIChatModel, OpenAIResponsesModel, StreamingModel, resolve_model
from ._openai_chat import PROFILES, ChatProfile, OpenAIChatAdapter
from ._openai_responses import OpenAIResponsesAdapter
from ._ratelimit import RequestLimiter, shared_limiter
from ._report import LossyRenderingWarning, RenderNote, RenderReport

__all__ = [
    "AdapterBase",
    "AnthropicAdapter",
    "AnthropicModel",
    "ChatProfile",
    "Delta",
    "LLMProvider",
    "LossyRenderingWarning",
    "Model",
    "OpenAIChatAdapter",
    "OpenAIChatModel",
    "OpenAIResponsesAdapter",
    "OpenAIResponsesModel",
    "ReasoningDelta",
    "RenderNote",
    "RenderReport",
    "Renderer",
    "RequestLimiter",
    "StreamingModel",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "describe_format",
    "get_adapter",
    "make_response",
    "resolve_model",
    "shared_limiter",
    "synthesize_stream",
    "to_plain",
    "translator",
]

_ADAPTERS: dict[LLMProvider, AdapterBase] = {p: OpenAIChatAdapter(profile) for p, profile in PROFILES.items()}
_ADAPTERS[LLMProvider.OPEN_AI_RESPONSES] = OpenAIResponsesAdapter()
_ADAPTERS[LLMProvider.ANTHROPIC] = AnthropicAdapter()


def get_adapter(provider: LLMProvider | str) -> AdapterBase:
    """The adapter for a provider (an `LLMProvider` or its value, such as `"openai"`)."""
    key = LLMProvider.of(provider)
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        raise NotImplementedError(f"no adapter for {key.value} yet")
    return adapter
