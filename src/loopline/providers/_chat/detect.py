"""Telling a Chat Completions response or stream chunk by its shape."""

from __future__ import annotations

from .._detect import Format

__all__ = ["CHAT_CHUNK", "CHAT_COMPLETION", "FORMATS"]

CHAT_COMPLETION = "an OpenAI Chat Completions response"
CHAT_CHUNK = "an OpenAI Chat Completions stream chunk"

FORMATS: tuple[Format, ...] = (
    # Azure opens a stream with a chunk whose object is "" (prompt filter results, no choices yet).
    (CHAT_CHUNK, lambda d: d.get("object") == "chat.completion.chunk" or (d.get("object") == "" and "choices" in d)),
    (CHAT_COMPLETION, lambda d: d.get("object") == "chat.completion" or "choices" in d),
)
"""This API's formats, in the order they are tried (a chunk also has `choices`)."""
