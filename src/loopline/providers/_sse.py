"""Server-sent events: the raw text of a stream into its events, per the HTML living standard.

Only the fields a provider stream uses are kept (`event`, `data`); comments and `id`/`retry` lines are
skipped. `data: [DONE]` ends a Chat Completions stream and is dropped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ResponseParseError

__all__ = ["parse_sse"]


def parse_sse(text: str | bytes, *, provider: str) -> list[dict[str, Any]]:
    """The JSON payloads of the stream's events, in order; each carries its event name as `_event`
    when the stream named it and the payload has no `type` of its own."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    events: list[dict[str, Any]] = []
    name: str | None = None
    data: list[str] = []
    # Only CR, LF and CRLF end lines in SSE (str.splitlines would also split on U+2028 inside JSON).
    for line in [*re.split(r"\r\n|\r|\n", text), ""]:
        if not line:
            if data:
                _emit(events, name, "\n".join(data), provider)
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    return events


def _emit(events: list[dict[str, Any]], name: str | None, payload: str, provider: str) -> None:
    if payload.strip() == "[DONE]":
        return
    try:
        value = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise ResponseParseError(f"stream event {len(events)} is not JSON ({exc.msg}): {payload[:120]}",
                                 provider=provider, field=f"events[{len(events)}]") from None
    if not isinstance(value, dict):
        raise ResponseParseError(f"stream event {len(events)} is not a JSON object", provider=provider,
                                 field=f"events[{len(events)}]")
    if name is not None and "type" not in value:
        value["_event"] = name
    events.append(value)
