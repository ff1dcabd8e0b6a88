"""Anthropic Messages responses and event streams made up for test doubles (see `providers._made`)."""

from __future__ import annotations

from typing import Any

from .._common import json_dumps
from .._made import Content, calls, pieces
from .stream import RAW_INPUT

__all__ = ["make_response", "synthesize_stream"]


def make_response(content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """The whole response body the API would send for `content` (see `providers.make_response`)."""
    blocks = [{"type": "text", "text": p} if isinstance(p, str) else
              {"type": "tool_use", "id": f"toolu_{turn}_{i}", "name": p[0], "input": dict(p[1])}
              for i, p in enumerate(content) if not isinstance(p, str) or p]
    return {"id": f"msg_scripted_{turn}", "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": "tool_use" if calls(content) else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


def synthesize_stream(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream events the API sends for `response` (a whole message) (see `providers.synthesize_stream`)."""
    usage = response.get("usage")
    start = {**{k: v for k, v in response.items() if k != "content"}, "content": [], "stop_reason": None,
             "stop_sequence": None}
    if isinstance(usage, dict):
        start["usage"] = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(response.get("content") or []):
        events.extend(_block(index, block))
    delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": response.get("stop_reason"),
                                                                "stop_sequence": response.get("stop_sequence")}}
    if isinstance(usage, dict):
        delta["usage"] = {"output_tokens": usage.get("output_tokens")}
    return [*events, delta, {"type": "message_stop"}]


def _block(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    shell = dict(block)
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        shell["text"] = ""
        deltas = [{"type": "text_delta", "text": piece} for piece in pieces(str(block.get("text", "")))]
        if isinstance(block.get("citations"), list) and block["citations"]:
            del shell["citations"]
            deltas += [{"type": "citations_delta", "citation": c} for c in block["citations"]]
    elif kind == "thinking":
        shell["thinking"] = ""
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in pieces(str(block.get("thinking", "")))]
        if isinstance(block.get("signature"), str) and block["signature"]:
            shell["signature"] = ""
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        raw = shell.pop(RAW_INPUT, None)
        shell["input"] = {}
        text = raw if isinstance(raw, str) else json_dumps(block.get("input") or {})
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces(text)]
    return [{"type": "content_block_start", "index": index, "content_block": shell},
            *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
            {"type": "content_block_stop", "index": index}]
