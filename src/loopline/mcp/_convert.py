"""From MCP's shapes to loopline's: tool names the providers accept, and tool results as model text."""

from __future__ import annotations

import re
from typing import Any

from ..tools import TOOL_NAME_PATTERN

__all__ = ["is_tools_changed", "result_value", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_name(name: str) -> str:
    """`name` as a tool name every provider accepts: other characters become `_`, at most 64 long."""
    if TOOL_NAME_PATTERN.match(name):
        return name
    safe = _UNSAFE.sub("_", name)
    return (safe if safe[:1].isalpha() or safe[:1] == "_" else "_" + safe)[:64]


def is_tools_changed(message: Any) -> bool:
    """Whether a server notification says its tool list changed."""
    message = getattr(message, "root", message)
    return getattr(message, "method", None) == "notifications/tools/list_changed"


def result_value(result: Any) -> tuple[Any, bool]:
    """What the model reads for a `tools/call` result, and whether the server marked it an error.

    The content parts joined by newlines (images, audio and resources, which a tool result's text cannot
    hold, are named with their type and size); structured content (a JSON object) when there are none.
    """
    is_error = bool(_field(result, "is_error", "isError"))
    structured = _field(result, "structured_content", "structuredContent")
    parts = [_part_text(part) for part in result.content or ()]
    if not parts and structured is not None:
        return structured, is_error
    return "\n".join(parts), is_error


def _part_text(part: Any) -> str:
    kind = getattr(part, "type", "")
    if kind == "text":
        return str(part.text)
    if kind in ("image", "audio"):
        mime = _field(part, "mime_type", "mimeType")
        return f"[{kind} {mime}, {len(part.data) * 3 // 4} bytes, not shown]"
    if kind == "resource":
        resource = part.resource
        text = getattr(resource, "text", None)
        return str(text) if text is not None else f"[resource {resource.uri}]"
    if kind == "resource_link":
        return f"[resource link {part.uri}]"
    return f"[{kind or type(part).__name__} content]"


def _field(obj: Any, snake: str, camel: str) -> Any:
    """A field by its MCP SDK 2 name, or its SDK 1 name."""
    return getattr(obj, snake, getattr(obj, camel, None))
