"""Responses and streams made up in each API's real shape: what test doubles answer with.

`make_response` writes a whole response body from intent (text pieces and tool calls, in order), with
ids, stop reason and usage as the API sends them. `synthesize_stream` turns a whole response into the
stream events the provider would have sent for it, so `agent.stream()` over a test double sees deltas
shaped like the real API's: Chat Completions chunks, Anthropic Messages events, Responses API events.
Each translation is exact in one sense that matters and is tested on every recorded response: the
adapter's stream reassembly gives back the response the events were made from, so the agent's thread
is the same whether it ran or streamed. Text and arguments are cut into small pieces so tests see
more than one delta. Nothing here parses or validates a response beyond what the translation needs;
the adapter does that when the events are read. Like every vendor format, they live in this package.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._anthropic_stream import RAW_INPUT
from ._base import LLMProvider
from ._common import json_dumps
from ._detect import ERROR_BODY, describe_format

__all__ = ["PIECE", "make_response", "synthesize_stream"]

Content = Sequence[str | tuple[str, Mapping[str, Any]]]
"""What a made-up response says, in order: text pieces, and tool calls as (name, arguments)."""


def make_response(provider: LLMProvider | str, content: Content, *, turn: int = 1, model: str = "scripted-model",
                  input_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    """The whole response body `provider`'s API would send for `content`; `turn` numbers its ids
    (they must differ between the responses of one conversation)."""
    kind = LLMProvider.of(provider)
    usage = (input_tokens, output_tokens)
    if kind is LLMProvider.ANTHROPIC:
        return _anthropic_response(content, turn, model, usage)
    if kind is LLMProvider.OPEN_AI_RESPONSES:
        return _responses_response(content, turn, model, usage)
    return _chat_response(content, turn, model, usage)


def _calls(content: Content) -> list[tuple[str, Mapping[str, Any]]]:
    return [p for p in content if not isinstance(p, str)]


def _chat_response(content: Content, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    text = "".join(p for p in content if isinstance(p, str))
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    calls = _calls(content)
    if calls:
        message["tool_calls"] = [{"id": f"call_{turn}_{i}", "type": "function",
                                  "function": {"name": name, "arguments": json_dumps(dict(args))}}
                                 for i, (name, args) in enumerate(calls)]
    return {"id": f"chatcmpl-scripted-{turn}", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def _responses_response(content: Content, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    for i, piece in enumerate(content):
        if not isinstance(piece, str):
            output.append({"type": "function_call", "id": f"fc_{turn}_{i}", "call_id": f"call_{turn}_{i}",
                           "name": piece[0], "arguments": json_dumps(dict(piece[1])), "status": "completed"})
        elif piece:
            output.append({"type": "message", "id": f"msg_{turn}_{i}", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": piece, "annotations": []}]})
    return {"id": f"resp_scripted_{turn}", "object": "response", "created_at": 0, "status": "completed",
            "model": model, "output": output, "error": None, "incomplete_details": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage),
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}


def _anthropic_response(content: Content, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    blocks = [{"type": "text", "text": p} if isinstance(p, str) else
              {"type": "tool_use", "id": f"toolu_{turn}_{i}", "name": p[0], "input": dict(p[1])}
              for i, p in enumerate(content) if not isinstance(p, str) or p]
    return {"id": f"msg_scripted_{turn}", "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": "tool_use" if _calls(content) else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}

PIECE = 12
"""Characters per streamed piece of text or arguments."""


def synthesize_stream(response: dict[str, Any], provider: LLMProvider) -> list[dict[str, Any]]:
    """The stream events `provider`'s API sends for `response` (a whole response body, or an error body)."""
    if describe_format(response) == ERROR_BODY:
        return [copy.deepcopy(response)]  # an error body: every reassembly raises the provider's error
    translate: Callable[[dict[str, Any]], list[dict[str, Any]]] = _chat
    if provider is LLMProvider.ANTHROPIC:
        translate = _anthropic
    elif provider is LLMProvider.OPEN_AI_RESPONSES:
        translate = _responses
    return translate(copy.deepcopy(response))


def _pieces(text: str) -> list[str]:
    return [text[i:i + PIECE] for i in range(0, len(text), PIECE)]


# --- Chat Completions -------------------------------------------------------------------------------


def _chat(response: dict[str, Any]) -> list[dict[str, Any]]:
    head: dict[str, Any] = {k: response[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier")
                            if k in response}
    head["object"] = "chat.completion.chunk"
    chunks: list[dict[str, Any]] = []
    for choice in response.get("choices") or []:
        index = choice.get("index", 0)
        chunks.extend({**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
                      for delta in _chat_deltas(choice.get("message") or {}))
        chunks.append({**head, "choices": [{"index": index, "delta": {},
                                            "finish_reason": choice.get("finish_reason") or "stop"}]})
    if response.get("usage") is not None:
        chunks.append({**head, "choices": [], "usage": response["usage"]})
    return chunks


def _chat_deltas(message: dict[str, Any]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = [{"role": message.get("role") or "assistant", "content": ""}]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str):
        deltas.extend({"reasoning_content": piece} for piece in _pieces(reasoning))
    deltas.extend({"content": piece} for piece in _pieces(_chat_text(message.get("content"))))
    if message.get("refusal"):
        deltas.extend({"refusal": piece} for piece in _pieces(str(message["refusal"])))
    calls = list(message.get("tool_calls") or [])
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, dict) and legacy.get("name"):
        calls = [{"type": "function", "function": legacy}]  # streamed as the tool call it is read as
    for index, call in enumerate(calls):
        deltas.extend({"tool_calls": [fragment]} for fragment in _chat_call(index, call))
    return deltas


def _chat_text(content: Any) -> str:
    if isinstance(content, list):  # a stream has one text: the blocks' texts, joined
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return content if isinstance(content, str) else ""


def _chat_call(index: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    kind = call.get("type") or "function"
    body = call.get(kind) or {}
    key = "arguments" if kind == "function" else "input"
    raw = body.get(key)
    text = "" if raw is None else raw if isinstance(raw, str) else json_dumps(raw)
    first: dict[str, Any] = {"index": index, "type": kind, kind: {"name": body.get("name"), key: ""}}
    if call.get("id"):
        first["id"] = call["id"]
    more = {"index": index} if kind == "function" else {"index": index, "type": kind}  # as OpenAI streams them
    return [first, *({**more, kind: {key: piece}} for piece in _pieces(text))]


# --- Anthropic Messages -----------------------------------------------------------------------------


def _anthropic(message: dict[str, Any]) -> list[dict[str, Any]]:
    usage = message.get("usage")
    start = {**{k: v for k, v in message.items() if k != "content"}, "content": [], "stop_reason": None,
             "stop_sequence": None}
    if isinstance(usage, dict):
        start["usage"] = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message.get("content") or []):
        events.extend(_anthropic_block(index, block))
    delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason"),
                                                                "stop_sequence": message.get("stop_sequence")}}
    if isinstance(usage, dict):
        delta["usage"] = {"output_tokens": usage.get("output_tokens")}
    return [*events, delta, {"type": "message_stop"}]


def _anthropic_block(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    kind = block.get("type")
    shell = dict(block)
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        shell["text"] = ""
        deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(str(block.get("text", "")))]
        if isinstance(block.get("citations"), list) and block["citations"]:
            del shell["citations"]
            deltas += [{"type": "citations_delta", "citation": c} for c in block["citations"]]
    elif kind == "thinking":
        shell["thinking"] = ""
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in _pieces(str(block.get("thinking", "")))]
        if isinstance(block.get("signature"), str) and block["signature"]:
            shell["signature"] = ""
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        raw = shell.pop(RAW_INPUT, None)
        shell["input"] = {}
        text = raw if isinstance(raw, str) else json_dumps(block.get("input") or {})
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in _pieces(text)]
    return [{"type": "content_block_start", "index": index, "content_block": shell},
            *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
            {"type": "content_block_stop", "index": index}]


# --- Responses API ----------------------------------------------------------------------------------


_TERMINAL = {"failed": "response.failed", "incomplete": "response.incomplete"}


def _responses(response: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**response, "status": "in_progress", "output": [], "usage": None}},
        {"type": "response.in_progress", "response": {**response, "status": "in_progress", "output": [],
                                                      "usage": None}}]
    for index, item in enumerate(response.get("output") or []):
        events.extend(_responses_item(index, item))
    events.append({"type": _TERMINAL.get(str(response.get("status")), "response.completed"), "response": response})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _responses_item(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    kind = item.get("type")
    ref = {"output_index": index, **({"item_id": item["id"]} if item.get("id") else {})}
    shell = {**item, "status": "in_progress"} if "status" in item else dict(item)
    middle: list[dict[str, Any]] = []
    if kind == "message" and isinstance(item.get("content"), list):
        shell["content"] = []
        for position, part in enumerate(item["content"]):
            middle += _responses_part(ref, "content", position, part)
    elif kind == "reasoning":
        for where in ("summary", "content"):
            if isinstance(item.get(where), list):
                shell[where] = []
                for position, part in enumerate(item[where]):
                    middle += _responses_part(ref, where, position, part)
    elif kind in ("function_call", "custom_tool_call"):
        key, prefix = (("arguments", "response.function_call_arguments") if kind == "function_call"
                       else ("input", "response.custom_tool_call_input"))
        raw = item.get(key)
        text = raw if isinstance(raw, str) else json_dumps(raw or {})
        shell[key] = ""
        middle = [{"type": f"{prefix}.delta", **ref, "delta": piece} for piece in _pieces(text)]
        middle.append({"type": f"{prefix}.done", **ref, key: text})
    return [{"type": "response.output_item.added", "output_index": index, "item": shell}, *middle,
            {"type": "response.output_item.done", "output_index": index, "item": item}]


_PART_EVENTS = {  # part type -> (event prefix of its string, the string's field)
    "output_text": ("response.output_text", "text"),
    "refusal": ("response.refusal", "refusal"),
    "reasoning_text": ("response.reasoning_text", "text"),
    "summary_text": ("response.reasoning_summary_text", "text"),
}


def _responses_part(ref: dict[str, Any], where: str, position: int, part: Any) -> list[dict[str, Any]]:
    if not isinstance(part, dict):
        return []
    index_key, part_events = (("summary_index", "response.reasoning_summary_part") if where == "summary"
                              else ("content_index", "response.content_part"))
    at = {**ref, index_key: position}
    stream = _PART_EVENTS.get(str(part.get("type")))
    if stream is None or not isinstance(part.get(stream[1]), str):
        return [{"type": f"{part_events}.{step}", **at, "part": part} for step in ("added", "done")]
    prefix, name = stream
    shell = {**part, name: ""}
    if isinstance(part.get("annotations"), list):
        shell["annotations"] = []
    return [{"type": f"{part_events}.added", **at, "part": shell},
            *({"type": f"{prefix}.delta", **at, "delta": piece} for piece in _pieces(part[name])),
            {"type": f"{prefix}.done", **at, name: part[name]},
            {"type": f"{part_events}.done", **at, "part": part}]
