"""Telling a Responses API response or stream event by its shape."""

from __future__ import annotations

from typing import Any

from .._detect import Format

__all__ = ["FORMATS", "RESPONSES_EVENT", "RESPONSES_RESPONSE"]

RESPONSES_RESPONSE = "an OpenAI Responses API response"
RESPONSES_EVENT = "an OpenAI Responses API stream event"


def _kind(data: dict[str, Any]) -> str:
    kind = data.get("type")
    return kind if isinstance(kind, str) else ""


FORMATS: tuple[Format, ...] = (
    (RESPONSES_RESPONSE, lambda d: d.get("object") == "response" or ("output" in d and "status" in d)),
    (RESPONSES_EVENT, lambda d: _kind(d).startswith("response.")),
)
"""This API's formats, in the order they are tried."""
