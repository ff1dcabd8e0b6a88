"""Turning tool arguments and results into and out of the text the model reads and writes."""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

__all__ = ["parse_arguments", "render_result"]


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
        return value
    try:
        return pydantic_core.to_json(value, fallback=str, inf_nan_mode="strings").decode()
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError):
        return str(value)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
