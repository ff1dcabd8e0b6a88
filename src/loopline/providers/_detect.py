"""Recognising which wire API a response came from, to name the mistake when formats are mixed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CHAT_COMPLETION", "ERROR_BODY", "describe_format", "to_plain"]

CHAT_COMPLETION = "an OpenAI Chat Completions response"
ERROR_BODY = "a provider error body"


def to_plain(response: Any) -> Any:
    """A dict (or list) view of an SDK response object; dicts and lists pass through unchanged."""
    if isinstance(response, (dict, list, str, bytes)):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=True, warnings=False)
    if isinstance(response, tuple):
        return list(response)
    return response


_ANTHROPIC_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                               "message_delta", "message_stop", "ping"})

_FORMATS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    (CHAT_COMPLETION, lambda d: d.get("object") == "chat.completion" or "choices" in d),
    ("an OpenAI Chat Completions stream chunk", lambda d: d.get("object") == "chat.completion.chunk"),
    ("an OpenAI Responses API response", lambda d: d.get("object") == "response" or ("output" in d and "status" in d)),
    ("an OpenAI Responses API stream event", lambda d: str(d.get("type", "")).startswith("response.")),
    ("an Anthropic Messages response", lambda d: d.get("type") == "message" and isinstance(d.get("content"), list)),
    ("an Anthropic Messages stream event", lambda d: d.get("type") in _ANTHROPIC_EVENTS),
    (ERROR_BODY, lambda d: bool(d.get("error"))),
)


def describe_format(data: Any) -> str | None:
    """A human name for the wire format `data` looks like, or `None` when it looks like none."""
    if not isinstance(data, dict):
        return None
    return next((name for name, looks_like in _FORMATS if looks_like(data)), None)
