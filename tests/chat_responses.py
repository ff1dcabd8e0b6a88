"""Builders for OpenAI Chat Completions bodies, shaped exactly like the recorded ones.

Responses follow tests/wire/openai/chat.completions/001_parallel-two-tools.json: `content`
is null when the model only calls tools, `refusal` and `logprobs` are null, `annotations` is an
empty list, and `arguments` is a JSON-encoded string.

    completion(call("call_1", "get_weather", city="Paris"), usage=usage(71, 46))
    completion(text="It is sunny in Paris.")

The `expected_*` helpers build what loopline renders back for the next request.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

__all__ = [
    "assistant_message",
    "call",
    "completion",
    "expected_assistant",
    "expected_system",
    "expected_tool",
    "expected_user",
    "finish_call",
    "raw_call",
    "tool_message",
    "usage",
]

MODEL = "gpt-4o-2024-08-06"
_sequence = itertools.count(1)


def call(id: str, name: str, /, **arguments: Any) -> dict[str, Any]:
    """One function tool call as it appears in `choices[0].message.tool_calls`."""
    return raw_call(id, name, json.dumps(arguments))


def raw_call(id: str, name: str, arguments: str, /) -> dict[str, Any]:
    """A tool call whose `arguments` string is given verbatim (for broken or empty arguments)."""
    return {"function": {"arguments": arguments, "name": name}, "id": id, "type": "function"}


def finish_call(id: str, result: Any, /, *, is_success: bool = True) -> dict[str, Any]:
    """A call of loopline's built-in finish tool."""
    return call(id, "finish", result=result, is_success=is_success)


def usage(prompt_tokens: int = 71, completion_tokens: int = 46, /, *, cached_tokens: int = 0,
          reasoning_tokens: int = 0) -> dict[str, Any]:
    """A `usage` object with the details blocks real responses carry."""
    return {
        "completion_tokens": completion_tokens,
        "completion_tokens_details": {
            "accepted_prediction_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": reasoning_tokens,
            "rejected_prediction_tokens": 0,
        },
        "prompt_tokens": prompt_tokens,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": cached_tokens},
        "total_tokens": prompt_tokens + completion_tokens,
    }


_default_usage = usage


def assistant_message(*tool_calls: dict[str, Any], text: str | None = None,
                      refusal: str | None = None) -> dict[str, Any]:
    """The `message` object of a choice (also usable on its own as a wire message dict)."""
    message: dict[str, Any] = {
        "annotations": [],
        "content": text,
        "refusal": refusal,
        "role": "assistant",
    }
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    return message


def completion(*tool_calls: dict[str, Any], text: str | None = None, finish_reason: str | None = None,
               usage: dict[str, Any] | None = None, refusal: str | None = None,
               model: str = MODEL) -> dict[str, Any]:
    """A whole non-streamed `chat.completion` body.

    `finish_reason` defaults to `tool_calls` when there are calls and `stop` otherwise; `usage`
    defaults to the counts of the recorded example.
    """
    if finish_reason is None:
        finish_reason = "tool_calls" if tool_calls else "stop"
    n = next(_sequence)
    return {
        "choices": [
            {
                "finish_reason": finish_reason,
                "index": 0,
                "logprobs": None,
                "message": assistant_message(*tool_calls, text=text, refusal=refusal),
            }
        ],
        "created": 1756419063 + n,
        "id": f"chatcmpl-loopline{n:015d}",
        "model": model,
        "object": "chat.completion",
        "service_tier": "default",
        "system_fingerprint": "fp_df0f7b956c",
        "usage": usage if usage is not None else _default_usage(),
    }


def tool_message(tool_call_id: str, content: str) -> dict[str, Any]:
    """A `role: tool` request message, as a user of the API would write it."""
    return {"content": content, "role": "tool", "tool_call_id": tool_call_id}


# --- what loopline renders for the next request ---------------------------------------------------


def expected_system(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text}


def expected_user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def expected_assistant(*tool_calls: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """An assistant turn as rendered: `content` only when there is text or no call at all."""
    out: dict[str, Any] = {"role": "assistant"}
    if text or not tool_calls:
        out["content"] = text or ""
    if tool_calls:
        out["tool_calls"] = [{"id": c["id"], "type": "function",
                              "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                             for c in tool_calls]
    return out


def expected_tool(tool_call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": tool_call_id, "content": content}
