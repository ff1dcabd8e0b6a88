"""Responses API responses and event streams made up for test doubles (see `providers._made`)."""

from __future__ import annotations

from typing import Any

from .._common import json_dumps
from .._made import Content, pieces

__all__ = ["make_response", "synthesize_stream"]


def make_response(content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """The whole response body the API would send for `content` (see `providers.make_response`)."""
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


_TERMINAL = {"failed": "response.failed", "incomplete": "response.incomplete"}


def synthesize_stream(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream events the API sends for `response` (see `providers.synthesize_stream`)."""
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {**response, "status": "in_progress", "output": [], "usage": None}},
        {"type": "response.in_progress", "response": {**response, "status": "in_progress", "output": [],
                                                      "usage": None}}]
    for index, item in enumerate(response.get("output") or []):
        events.extend(_item(index, item))
    events.append({"type": _TERMINAL.get(str(response.get("status")), "response.completed"), "response": response})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _item(index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
    kind = item.get("type")
    ref = {"output_index": index, **({"item_id": item["id"]} if item.get("id") else {})}
    shell = {**item, "status": "in_progress"} if "status" in item else dict(item)
    middle: list[dict[str, Any]] = []
    if kind == "message" and isinstance(item.get("content"), list):
        shell["content"] = []
        for position, part in enumerate(item["content"]):
            middle += _part(ref, "content", position, part)
    elif kind == "reasoning":
        for where in ("summary", "content"):
            if isinstance(item.get(where), list):
                shell[where] = []
                for position, part in enumerate(item[where]):
                    middle += _part(ref, where, position, part)
    elif kind in ("function_call", "custom_tool_call"):
        key, prefix = (("arguments", "response.function_call_arguments") if kind == "function_call"
                       else ("input", "response.custom_tool_call_input"))
        raw = item.get(key)
        text = raw if isinstance(raw, str) else json_dumps(raw or {})
        shell[key] = ""
        middle = [{"type": f"{prefix}.delta", **ref, "delta": piece} for piece in pieces(text)]
        middle.append({"type": f"{prefix}.done", **ref, key: text})
    return [{"type": "response.output_item.added", "output_index": index, "item": shell}, *middle,
            {"type": "response.output_item.done", "output_index": index, "item": item}]


_PART_EVENTS = {  # part type -> (event prefix of its string, the string's field)
    "output_text": ("response.output_text", "text"),
    "refusal": ("response.refusal", "refusal"),
    "reasoning_text": ("response.reasoning_text", "text"),
    "summary_text": ("response.reasoning_summary_text", "text"),
}


def _part(ref: dict[str, Any], where: str, position: int, part: Any) -> list[dict[str, Any]]:
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
            *({"type": f"{prefix}.delta", **at, "delta": piece} for piece in pieces(part[name])),
            {"type": f"{prefix}.done", **at, name: part[name]},
            {"type": f"{part_events}.done", **at, "part": part}]
