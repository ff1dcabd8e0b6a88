"""Stream deltas: what a response says while it streams, in one vocabulary for every wire API.

Each adapter has a translator that turns its raw stream events, one at a time, into these deltas.
They are for showing progress; the finished response is still parsed from the whole stream by the
adapter's reassembly, so a delta never decides anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._base import LLMProvider

__all__ = ["Delta", "ReasoningDelta", "TextDelta", "ToolCallDelta", "ToolCallEnd", "ToolCallStart", "translator"]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More text of the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """More readable reasoning (thinking, a reasoning summary)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model began a tool call."""

    index: int
    """Position among the response's calls as the stream numbers them (stable within one stream)."""
    id: str
    """The call's id (empty when the provider sends it later)."""
    name: str
    """The tool's name."""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """More of a tool call's arguments, as raw text."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    """A tool call's arguments are complete."""

    index: int


Delta: TypeAlias = TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | ToolCallEnd
Translator: TypeAlias = Callable[[dict[str, Any]], list[Delta]]


def translator(provider: LLMProvider) -> Translator:
    """A fresh, stateful translator of one stream's raw events (as dicts) into deltas."""
    if provider is LLMProvider.ANTHROPIC:
        return _anthropic()
    if provider is LLMProvider.OPEN_AI_RESPONSES:
        return _responses()
    return _chat()


def _chat() -> Translator:
    open_calls: set[int] = set()

    def feed(chunk: dict[str, Any]) -> list[Delta]:
        out: list[Delta] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                out.append(TextDelta(delta["content"]))
            for key in ("reasoning_content", "reasoning"):
                if isinstance(delta.get(key), str) and delta[key]:
                    out.append(ReasoningDelta(delta[key]))
            for call in delta.get("tool_calls") or []:
                out.extend(_chat_call(call, open_calls))
            if choice.get("finish_reason"):
                out.extend(ToolCallEnd(i) for i in sorted(open_calls))
                open_calls.clear()
        return out

    return feed


def _chat_call(call: dict[str, Any], open_calls: set[int]) -> list[Delta]:
    index = int(call.get("index", 0))
    body = call.get(call.get("type") or "function") or call.get("function") or {}
    out: list[Delta] = []
    if index not in open_calls:
        open_calls.add(index)
        out.append(ToolCallStart(index, str(call.get("id") or ""), str(body.get("name") or "")))
    piece = body.get("arguments", body.get("input"))
    if isinstance(piece, str) and piece:
        out.append(ToolCallDelta(index, piece))
    return out


def _anthropic() -> Translator:
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


def _responses() -> Translator:
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
