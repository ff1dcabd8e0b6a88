"""Telling an Anthropic Messages response or stream event by its shape."""

from __future__ import annotations

from .._detect import Format

__all__ = ["ANTHROPIC_EVENT", "ANTHROPIC_MESSAGE", "FORMATS"]

ANTHROPIC_MESSAGE = "an Anthropic Messages response"
ANTHROPIC_EVENT = "an Anthropic Messages stream event"

_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop", "ping"})

FORMATS: tuple[Format, ...] = (
    # A Responses output item is also {"type": "message", "content": [...]}, but has no model.
    (ANTHROPIC_MESSAGE, lambda d: d.get("type") == "message" and isinstance(d.get("content"), list) and "model" in d),
    (ANTHROPIC_EVENT, lambda d: d.get("type") in _EVENTS or (d.get("type") == "error" and "_event" in d)),
)
"""This API's formats, in the order they are tried."""
