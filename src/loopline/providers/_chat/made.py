"""Chat Completions responses and chunk streams made up for test doubles (see `providers._made`)."""

from __future__ import annotations

from typing import Any

from .._common import json_dumps
from .._made import Content, calls, pieces

__all__ = ["make_response", "synthesize_stream"]


def make_response(content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """The whole response body the API would send for `content` (see `providers.make_response`)."""
    text = "".join(p for p in content if isinstance(p, str))
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    made_calls = calls(content)
    if made_calls:
        message["tool_calls"] = [{"id": f"call_{turn}_{i}", "type": "function",
                                  "function": {"name": name, "arguments": json_dumps(dict(args))}}
                                 for i, (name, args) in enumerate(made_calls)]
    return {"id": f"chatcmpl-scripted-{turn}", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if made_calls else "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def synthesize_stream(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream events the API sends for `response` (see `providers.synthesize_stream`)."""
    head: dict[str, Any] = {k: response[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")
                            if k in response}
    head["object"] = "chat.completion.chunk"
    chunks: list[dict[str, Any]] = []
    for choice in response.get("choices") or []:
        index = choice.get("index", 0)
        chunks.extend({**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
                      for delta in _deltas(choice.get("message") or {}))
        chunks.append({**head, "choices": [{"index": index, "delta": {},
                                            "finish_reason": choice.get("finish_reason") or "stop"}]})
    if response.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": response["usage"]})
    return chunks


def _deltas(message: dict[str, Any]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": message.get("role") or "assistant", "content": ""}]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str):
        deltas.extend({"reasoning_content": piece} for piece in pieces(reasoning))
    deltas.extend({"content": piece} for piece in pieces(_text(message.get("content"))))
    if message.get("refusal"):
        deltas.extend({"refusal": piece} for piece in pieces(str(message["refusal"])))
    calls = list(message.get("tool_calls") or [])
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, dict) and legacy.get("name"):
        calls = [{"type": "function", "function": legacy}]  # streamed as the tool call it is read as
    for index, call in enumerate(calls):
        deltas.extend({"tool_calls": [fragment]} for fragment in _call(index, call))
    return deltas


def _text(content: Any) -> str:
    if isinstance(content, list):  # a stream has one text: the blocks' texts, joined
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return content if isinstance(content, str) else ""


def _call(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    kind = call.get("type") or "function"
    body = call.get(kind) or {}
    key = "arguments" if kind == "function" else "input"
    raw = body.get(key)
    text = "" if raw is None else raw if isinstance(raw, str) else json_dumps(raw)
    first: dict[str, Any] = {"index": index, "type": kind, kind: {"name": body.get("name"), key: ""}}
    if call.get("id"):
        first["id"] = call["id"]
    more = {"index": index} if kind == "function" else {"index": index, "type": kind}  # as OpenAI streams them
    return [first, *({**more, kind: {key: piece}} for piece in pieces(text))]
