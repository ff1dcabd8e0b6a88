"""Translating Chat Completions stream chunks into deltas, one chunk at a time."""

from __future__ import annotations

from typing import Any

from .._deltas import Delta, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, Translator

__all__ = ["translator"]


def translator() -> Translator:
    """A fresh, stateful translator of one stream's chunks (as dicts) into deltas."""
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
                out.extend(_call(call, open_calls))
            if choice.get("finish_reason"):
                out.extend(ToolCallEnd(i) for i in sorted(open_calls))
                open_calls.clear()
        return out

    return feed

def _call(call: dict[str, Any], open_calls: set[int]) -> list[Delta]:
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
