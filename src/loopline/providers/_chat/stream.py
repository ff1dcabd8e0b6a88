"""Reassembling a Chat Completions stream (its chunks) into the response body it adds up to.

Tool-call fragments are keyed by their `index`; the first fragment of a call carries its id and
name, later ones append to its arguments. A chunk with no choices carries usage. A stream that never
says why it stopped (no `finish_reason`) was cut off, and is refused rather than passed as complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ResponseParseError
from .._common import error_response

__all__ = ["reassemble_chat"]


@dataclass
class _Call:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    extra_content: Any = None


@dataclass
class _Choice:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_reason: str | None = None


def reassemble_chat(chunks: list[dict[str, Any]], *, provider: str) -> dict[str, Any]:
    """The `chat.completion` body that `chunks` (a whole stream, in order) add up to."""
    choices: dict[int, _Choice] = {}
    head: dict[str, Any] = {}
    usage: Any = None
    for n, chunk in enumerate(chunks):
        if chunk.get("error"):  # an error sent in the middle of the stream
            raise error_response(chunk, provider)
        if chunk.get("object") not in (None, "", "chat.completion.chunk"):
            raise ResponseParseError(f"stream item {n} is not a chat.completion.chunk (object={chunk.get('object')!r})",
                                     provider=provider, field=f"chunks[{n}]")
        for key in ("id", "model", "created", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                head.setdefault(key, chunk[key])
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            _add(choices, choice, n, provider)
    if not choices:
        raise ResponseParseError("the stream holds no choices (it ended before any content)", provider=provider)
    unfinished = [i for i, c in choices.items() if c.finish_reason is None]
    if unfinished:
        raise ResponseParseError(f"the stream was cut off: choice {unfinished[0]} never got a finish_reason",
                                 provider=provider, field="finish_reason")
    return {**head, "object": "chat.completion", "usage": usage,
            "choices": [_body(i, c) for i, c in sorted(choices.items())]}


def _add(choices: dict[int, _Choice], choice: Any, n: int, provider: str) -> None:
    where = f"chunks[{n}].choices"
    if not isinstance(choice, dict) or not isinstance(choice.get("index", 0), int):
        raise ResponseParseError(f"{where} holds a malformed choice", provider=provider, field=where)
    state = choices.setdefault(choice.get("index", 0), _Choice())
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise ResponseParseError(f"{where}: delta is not an object", provider=provider, field=where)
    state.role = delta.get("role") or state.role
    for key, pieces in (("content", state.content), ("refusal", state.refusal),
                        ("reasoning_content", state.reasoning), ("reasoning", state.reasoning)):
        value = delta.get(key)
        if isinstance(value, str):
            pieces.append(value)
    for fragment in delta.get("tool_calls") or []:
        _add_call(state, fragment, where, provider)
    if choice.get("finish_reason"):
        state.finish_reason = choice["finish_reason"]


def _add_call(state: _Choice, fragment: Any, where: str, provider: str) -> None:
    if not isinstance(fragment, dict) or not isinstance(fragment.get("index", 0), int):
        raise ResponseParseError(f"{where}: malformed tool call fragment", provider=provider, field=where)
    call = state.calls.setdefault(_index_of(state, fragment), _Call())
    call.id = fragment.get("id") or call.id
    call.type = fragment.get("type") or call.type
    body = fragment.get(call.type) or fragment.get("function") or {}
    if not isinstance(body, dict):
        raise ResponseParseError(f"{where}: tool call body is not an object", provider=provider, field=where)
    call.name = body.get("name") or call.name
    call.extra_content = fragment.get("extra_content") or call.extra_content  # Gemini's thought signature
    piece = body.get("arguments" if call.type == "function" else "input")
    if isinstance(piece, str):
        call.arguments.append(piece)


def _index_of(state: _Choice, fragment: dict[str, Any]) -> int:
    """A fragment's call: by `index`; servers that omit it (Gemini's endpoint) start each call with its
    id, so a fragment with a new id is a new call, and one without continues the last."""
    if "index" in fragment:
        return int(fragment["index"])
    last = max(state.calls, default=-1)
    new_id = fragment.get("id")
    if last < 0 or (new_id and state.calls[last].id and new_id != state.calls[last].id):
        return last + 1
    return last


def _body(index: int, choice: _Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": choice.role, "content": "".join(choice.content) or None}
    if choice.refusal:
        message["refusal"] = "".join(choice.refusal)
    if choice.reasoning:
        message["reasoning_content"] = "".join(choice.reasoning)
    if choice.calls:
        message["tool_calls"] = [_call_body(c) for _, c in sorted(choice.calls.items())]
    return {"index": index, "message": message, "finish_reason": choice.finish_reason}


def _call_body(call: _Call) -> dict[str, Any]:
    key = "input" if call.type == "custom" else "arguments"
    out: dict[str, Any] = {"type": call.type, call.type: {"name": call.name, key: "".join(call.arguments)}}
    if call.id:
        out["id"] = call.id
    if call.extra_content is not None:
        out["extra_content"] = call.extra_content
    return out
