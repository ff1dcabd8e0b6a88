"""From MCP's shapes to loopline's: tool names the providers accept, and tool results as model text and files."""

from __future__ import annotations

import re
from typing import Any

from ..messages import FilePart
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

    Text parts joined by newlines, with images and audio (and image resources) as `FilePart`s beside
    it, in a list, which the tool runner sends to the model as files where its provider's API takes
    them in a tool result; structured content (a JSON object) when there is no content. An error's
    files are only named in its text (it becomes an error message).
    """
    is_error = bool(_field(result, "is_error", "isError"))
    structured = _field(result, "structured_content", "structuredContent")
    content = list(result.content or ())
    if not content and structured is not None:
        return structured, is_error
    as_files = [None if is_error else _part_file(part) for part in content]
    files = [f for f in as_files if f is not None]
    text = "\n".join(_part_text(part) for part, file in zip(content, as_files, strict=True) if file is None)
    if not files:
        return text, is_error
    return [*([text] if text else []), *files], is_error


def _part_file(part: Any) -> FilePart | None:
    """An image or audio part (or an image resource) as a file; `None` for what is read as text."""
    kind = getattr(part, "type", "")
    if kind in ("image", "audio"):
        return FilePart(media_type=str(_field(part, "mime_type", "mimeType")), data=str(part.data))
    resource = getattr(part, "resource", None) if kind == "resource" else None
    mime = str(_field(resource, "mime_type", "mimeType") or "")
    if resource is not None and getattr(resource, "blob", None) is not None and mime.startswith("image/"):
        name = str(resource.uri).rstrip("/").rsplit("/", 1)[-1] or None
        return FilePart(media_type=mime, data=str(resource.blob), filename=name)
    return None


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
