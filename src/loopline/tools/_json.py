"""Turning tool arguments and results into and out of the text the model reads and writes."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic_core

from ..messages import FilePart

__all__ = ["clean_text", "parse_arguments", "render_result", "split_files"]


def parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse a model's argument string into a dict; on failure return `({}, reason)`.

    An empty (or all-blank) string means no arguments, as several providers send it that way.
    """
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON ({exc.msg} at position {exc.pos}): {_clip(raw)}"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}: {_clip(raw)}"
    return value, None


def render_result(value: Any) -> str:
    """The text the model reads for a tool's return value.

    Strings pass through; `None` becomes `null`; everything else (dicts, lists, pydantic models,
    dataclasses, dates) is JSON; what JSON cannot express falls back to `str()`.
    """
    if isinstance(value, str):
        return clean_text(value)
    try:
        return clean_text(pydantic_core.to_json(value, fallback=str, inf_nan_mode="strings").decode())
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError):
        return clean_text(str(value))


def split_files(value: Any) -> tuple[str, tuple[FilePart, ...] | None]:
    """The text and the files the model reads for a tool's return value.

    A `FilePart`, or a list or tuple holding some, gives its files apart (images reach the model as
    images, not as JSON of their base64) and the rest as text, each item rendered by `render_result`
    and joined by newlines; any other value is all text.
    """
    items = value if isinstance(value, (list, tuple)) else [value]
    files = tuple(item for item in items if isinstance(item, FilePart))
    if not files:
        return render_result(value), None
    return "\n".join(render_result(item) for item in items if not isinstance(item, FilePart)), files


_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def clean_text(text: str) -> str:
    """Text every store and provider takes: lone surrogates (what `os.fsdecode` makes of undecodable
    file names) become U+FFFD, and NUL (which PostgreSQL text cannot hold) becomes U+FFFD too."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
