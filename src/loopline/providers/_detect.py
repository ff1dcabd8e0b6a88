"""Recognising which wire API a dict came from, to route it and to name the mistake when formats mix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "ANTHROPIC_EVENT",
    "ANTHROPIC_MESSAGE",
    "CHAT_CHUNK",
    "CHAT_COMPLETION",
    "ERROR_BODY",
    "RESPONSES_EVENT",
    "RESPONSES_RESPONSE",
    "describe_format",
]

CHAT_COMPLETION = "an OpenAI Chat Completions response"
CHAT_CHUNK = "an OpenAI Chat Completions stream chunk"
RESPONSES_RESPONSE = "an OpenAI Responses API response"
RESPONSES_EVENT = "an OpenAI Responses API stream event"
ANTHROPIC_MESSAGE = "an Anthropic Messages response"
ANTHROPIC_EVENT = "an Anthropic Messages stream event"
ERROR_BODY = "a provider error body"

_ANTHROPIC_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                               "message_delta", "message_stop", "ping"})

def _kind(data: dict[str, Any]) -> str:
    kind = data.get("type")
    return kind if isinstance(kind, str) else ""


_FORMATS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    # Azure opens a stream with a chunk whose object is "" (prompt filter results, no choices yet).
    (CHAT_CHUNK, lambda d: d.get("object") == "chat.completion.chunk" or (d.get("object") == "" and "choices" in d)),
    (CHAT_COMPLETION, lambda d: d.get("object") == "chat.completion" or "choices" in d),
    (RESPONSES_RESPONSE, lambda d: d.get("object") == "response" or ("output" in d and "status" in d)),
    (RESPONSES_EVENT, lambda d: _kind(d).startswith("response.")),
    # A Responses output item is also {"type": "message", "content": [...]}, but has no model.
    (ANTHROPIC_MESSAGE, lambda d: d.get("type") == "message" and isinstance(d.get("content"), list) and "model" in d),
    (ANTHROPIC_EVENT, lambda d: d.get("type") in _ANTHROPIC_EVENTS or (d.get("type") == "error" and "_event" in d)),
    (ERROR_BODY, lambda d: bool(d.get("error"))),
)


def describe_format(data: Any) -> str | None:
    """A human name for the wire format `data` looks like, or `None` when it looks like none."""
    if not isinstance(data, dict):
        return None
    return next((name for name, looks_like in _FORMATS if looks_like(data)), None)
