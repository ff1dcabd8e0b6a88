"""Translating Anthropic Messages stream events into deltas, one event at a time."""

from __future__ import annotations

from typing import Any

from .._deltas import Delta, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, Translator

__all__ = ["translator"]


def translator() -> Translator:
    """A fresh, stateful translator of one stream's events (as dicts) into deltas."""
    calls: set[int] = set()

    def feed(event: dict[str, Any]) -> list[Delta]:
        kind = event.get("type")
        index = event.get("index")
        if kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            block = event["content_block"]
            if block.get("type") == "tool_use" and isinstance(index, int):
                calls.add(index)
                return [ToolCallStart(index, str(block.get("id", "")), str(block.get("name", "")))]
            return []
        if kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            delta = event["delta"]
            match delta.get("type"):
                case "text_delta":
                    return [TextDelta(str(delta.get("text", "")))]
                case "thinking_delta":
                    return [ReasoningDelta(str(delta.get("thinking", "")))]
                case "input_json_delta" if index in calls:
                    return [ToolCallDelta(int(index), str(delta.get("partial_json", "")))]
            return []
        if kind == "content_block_stop" and index in calls:
            return [ToolCallEnd(int(index))]
        return []

    return feed
