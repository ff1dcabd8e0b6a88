"""The providers layer: one package per wire API, each owning both directions, behind one registry.

Adapters render tools and the neutral conversation into request arguments and parse responses (SDK
objects or dicts) back into neutral messages with usage and stop reason. Each wire API (`WireAPI`)
lives in its own package (`_chat/`, `_responses/`, `_anthropic/`); `REGISTRY` says which one a
provider speaks. No vendor format leaves this package. Builds on `loopline.messages` and
`loopline.tools`. `request_guard` (the check before every model request) and `parse_sse` are here for
`loopline.testing`.
"""

from __future__ import annotations

from . import _guard as request_guard
from ._anthropic import AnthropicAdapter, AnthropicModel
from ._base import LLMProvider, Renderer
from ._chat import ChatProfile, OpenAIChatAdapter, OpenAIChatModel
from ._common import AdapterBase, to_plain
from ._deltas import Delta, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart
from ._detect import describe_format
from ._models import Model, StreamingModel
from ._ratelimit import RequestLimiter, shared_limiter
from ._registry import (
    REGISTRY,
    Registry,
    detect_provider,
    get_adapter,
    make_response,
    resolve_model,
    synthesize_stream,
    translator,
    wire_api,
)
from ._report import LossyRenderingWarning, RenderNote, RenderReport
from ._responses import OpenAIResponsesAdapter, OpenAIResponsesModel
from ._sse import parse_sse
from ._wire import WireAPI

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
    "REGISTRY",
    "ReasoningDelta",
    "Registry",
    "RenderNote",
    "RenderReport",
    "Renderer",
    "RequestLimiter",
    "StreamingModel",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "WireAPI",
    "describe_format",
    "detect_provider",
    "get_adapter",
    "make_response",
    "parse_sse",
    "request_guard",
    "resolve_model",
    "shared_limiter",
    "synthesize_stream",
    "to_plain",
    "translator",
    "wire_api",
]
