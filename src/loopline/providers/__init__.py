"""The providers layer: one adapter per wire API, each owning both directions.

Adapters render tools and the neutral conversation into request arguments and parse responses (SDK
objects or dicts) back into neutral messages with usage and stop reason. No vendor format leaves
this package. Builds on `loopline.messages` and `loopline.tools`.
"""

from __future__ import annotations

from typing import Any

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
from ._sse import parse_sse

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
    "detect_provider",
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
_WIRE_APIS = tuple(_ADAPTERS[p] for p in (LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES,
                                          LLMProvider.ANTHROPIC))


def get_adapter(provider: LLMProvider | str) -> AdapterBase:
    """The adapter for a provider (an `LLMProvider` or its value, such as `"openai"`)."""
    key = LLMProvider.of(provider)
    adapter = _ADAPTERS.get(key)
    if adapter is None:
        raise NotImplementedError(f"no adapter for {key.value} yet")
    return adapter


def detect_provider(response: Any) -> LLMProvider | None:
    """The wire API `response` came from, told by its shape, or `None` when nothing tells.

    Takes what `AdapterBase.parse` takes. A response, a stream event, a list of events and raw
    stream text say which API wrote them; an SDK object an adapter has just parsed is that adapter's
    (nothing is parsed twice); an SDK stream object is otherwise told by the URL it was read from
    (it is not read here: that would use it up). A list of message dicts does not say (Chat
    Completions and Anthropic messages look alike).
    """
    if not isinstance(response, (dict, list, str, bytes)):
        # The seed loop hands the SDK object it just gave add_messages: the adapter that parsed it knows it.
        known = next((a.provider for a in _WIRE_APIS if a._last is not None and a._last[0] is response), None)
        if known is not None or not callable(getattr(response, "model_dump", None)):
            return known or _stream_provider(response)
    data = to_plain(response)
    if isinstance(data, (str, bytes)):
        data = parse_sse(data, provider="unknown")
    items = [to_plain(item) for item in data] if isinstance(data, list) else [data]
    found = next((f for f in map(describe_format, items) if f is not None), None)
    return next((a.provider for a in _WIRE_APIS if found in (a.response_format, a.event_format)), None)


def _stream_provider(stream: Any) -> LLMProvider | None:
    """The API an SDK stream object was read from, by its HTTP response's URL path."""
    path = str(getattr(getattr(getattr(stream, "response", None), "url", None), "path", ""))
    ends = {"/chat/completions": LLMProvider.OPEN_AI, "/responses": LLMProvider.OPEN_AI_RESPONSES,
            "/messages": LLMProvider.ANTHROPIC}
    return next((provider for end, provider in ends.items() if path.endswith(end)), None)
