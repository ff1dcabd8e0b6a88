"""Translating Responses API stream events into deltas, one event at a time."""

from __future__ import annotations

from typing import Any

from .._deltas import Delta, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, Translator

__all__ = ["translator"]


def translator() -> Translator:
    """A fresh, stateful translator of one stream's events (as dicts) into deltas."""
    calls: set[int] = set()

    def feed(event: dict[str, Any]) -> list[Delta]:
        kind = event.get("type")
        index = event.get("output_index")
        raw_item = event.get("item")
        item: dict[str, Any] = raw_item if isinstance(raw_item, dict) else {}
        if kind == "response.output_item.added" and item.get("type") in ("function_call", "custom_tool_call"):
            calls.add(int(index or 0))
            return [ToolCallStart(int(index or 0), str(item.get("call_id", "")), str(item.get("name", "")))]
        if kind in ("response.function_call_arguments.delta", "response.custom_tool_call_input.delta"):
            return [ToolCallDelta(int(index or 0), str(event.get("delta", "")))]
        if kind == "response.output_item.done" and int(index or 0) in calls:
            return [ToolCallEnd(int(index or 0))]
        if kind == "response.output_text.delta":
            return [TextDelta(str(event.get("delta", "")))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ReasoningDelta(str(event.get("delta", "")))]
        return []

    return feed
