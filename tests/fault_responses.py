"""The bodies the fault server answers with in tests/run/test_faults.py: Chat Completions and Anthropic
Messages responses and streams, shaped like tests/run/test_run.py and tests/run/test_stream.py (after tests/wire),
the recorded streams a test cuts, and error bodies."""

from __future__ import annotations

import json
from typing import Any

import wire
from fault_server import Action, Json, Sse, sse

STREAMING = ["stream", "astream"]


def _call(turn: int) -> tuple[str, dict[str, Any]]:
    return ("get_weather", {"city": "Oslo"}) if turn == 1 else ("finish", {"result": "Oslo: sunny",
                                                                          "is_success": True})


def chat_body(turn: int) -> dict[str, Any]:
    name, args = _call(turn)
    return {"id": f"chatcmpl-{turn}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": f"call_{turn}", "type": "function",
                                "function": {"name": name, "arguments": json.dumps(args)}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def anthropic_body(turn: int) -> dict[str, Any]:
    name, args = _call(turn)
    return {"id": f"msg_{turn}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
            "content": [{"type": "tool_use", "id": f"toolu_{turn}", "name": name, "input": args}],
            "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}


def chat_sse(turn: int) -> str:
    name, args = _call(turn)
    text = json.dumps(args)
    head = {"id": f"chatcmpl-{turn}", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    return sse([
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": f"call_{turn}", "type": "function", "function": {"name": name, "arguments": ""}}]},
            "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": text[:9]}}]},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": text[9:]}}]},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**head, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}},
    ], done=True)


def anthropic_sse(turn: int) -> str:
    name, args = _call(turn)
    text = json.dumps(args)
    return sse([
        {"type": "message_start", "message": {"id": f"msg_{turn}", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-6", "content": [], "stop_reason": None,
                                              "stop_sequence": None,
                                              "usage": {"input_tokens": 10, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": f"toolu_{turn}", "name": name, "input": {}}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": text[:9]}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": text[9:]}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ], named=True)


def ok(kind: str, mode: str, turn: int) -> Action:
    """A successful answer to turn `turn`: JSON for run/arun, SSE for stream/astream."""
    if mode in STREAMING:
        return Sse(chat_sse(turn) if kind == "openai" else anthropic_sse(turn))
    return Json(chat_body(turn) if kind == "openai" else anthropic_body(turn))


def error_body(kind: str, status: int, message: str) -> dict[str, Any]:
    """An error body as each API sends it (tests/wire openai/responses/014, anthropic/messages/010)."""
    if kind == "openai":
        kinds = {400: "invalid_request_error", 429: "requests", 500: "server_error"}
        return {"error": {"message": message, "type": kinds.get(status, "server_error"), "param": None,
                          "code": "rate_limit_exceeded" if status == 429 else None}}
    kinds = {400: "invalid_request_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
    return {"type": "error", "error": {"type": kinds[status], "message": message}, "request_id": "req_fault"}


def recorded_stream(kind: str) -> tuple[str, str]:
    """A real recorded stream (its raw SSE, byte for byte) and the tool call it makes."""
    api, name = (("openai/chat.completions", "005_stream-single-call.json") if kind == "openai"
                 else ("anthropic/messages", "012_stream-text-then-tool-use.json"))
    [recorded] = [w for w in wire.load(api) if w.name == name]
    [call] = recorded.derived_tool_calls
    return recorded.data["raw_sse"], call["name"]
