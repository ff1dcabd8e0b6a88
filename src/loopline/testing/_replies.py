"""`reply(...)`: a model response written by intent, rendered in whichever wire format it is asked for.

A test that only cares what the model says (some text, some tool calls) should not have to spell
out a Chat Completions body, a Responses API body and an Anthropic message. A `Reply` is rendered
by the `ScriptedModel` that plays it, in that model's format, as a complete response shaped like
the real API's (ids, stop reason, usage), so the adapter under test parses it the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ScriptError
from ..providers import LLMProvider
from ..providers._common import json_dumps
from ._calls import Call

__all__ = ["Reply", "reply"]


@dataclass(frozen=True)
class Reply:
    """What the model says: text and tool calls, in order, and the tokens it reports."""

    content: tuple[str | Call, ...]
    """Text pieces and tool calls, in order."""
    input_tokens: int = 10
    """Prompt tokens the response reports."""
    output_tokens: int = 5
    """Completion tokens the response reports."""
    model: str | None = None
    """The model name the response reports; `None`: the name of the model that plays it."""

    @property
    def text(self) -> str:
        """The text pieces, joined."""
        return "".join(p for p in self.content if isinstance(p, str))

    @property
    def calls(self) -> list[Call]:
        """The tool calls, in order."""
        return [p for p in self.content if isinstance(p, Call)]

    def render(self, provider: LLMProvider | str = LLMProvider.OPEN_AI, *, turn: int = 1,
               model: str = "scripted-model") -> dict[str, Any]:
        """The complete response body `provider`'s API would send; `turn` numbers its ids (they must
        differ between the responses of one conversation); `model` is the name reported unless the
        reply names one."""
        kind = LLMProvider.of(provider)
        render: Callable[[Reply, int, str], dict[str, Any]] = _chat
        if kind is LLMProvider.ANTHROPIC:
            render = _anthropic
        elif kind is LLMProvider.OPEN_AI_RESPONSES:
            render = _responses
        return render(self, turn, self.model or model)


def reply(*content: str | Call, input_tokens: int = 10, output_tokens: int = 5, model: str | None = None) -> Reply:
    """A response by intent: `reply("Hello")`, `reply(call("get_weather", city="Oslo"))`,
    `reply("Let me look.", call("search", query="x"))`. Tool calls need their arguments spelled out
    (`call("finish", result="done", is_success=True)`), as values JSON can carry (a model sends JSON).

    Raises:
        ScriptError: A piece that is neither text nor a call, a call without arguments, or arguments
            JSON cannot carry (a `datetime`, a set, `unittest.mock.ANY`, NaN).
    """
    for piece in content:
        if isinstance(piece, Call) and piece.arguments is None:
            raise ScriptError(f"reply(call({piece.name!r})): a scripted call needs its arguments; write "
                              f"call({piece.name!r}, {{}}) for a call without any")
        if not isinstance(piece, (str, Call)):
            raise ScriptError(f"reply() takes text and call(...) values, got {type(piece).__name__}")
        if isinstance(piece, Call):
            _check_json(piece)
    return Reply(tuple(content), input_tokens=input_tokens, output_tokens=output_tokens, model=model)


def _check_json(piece: Call) -> None:
    try:
        json.dumps(piece.arguments, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"reply(call({piece.name!r}, ...)): the arguments must be JSON values, as a model "
                          f"sends them ({exc}); write dates and other objects as strings") from exc


def _arguments(call: Call) -> str:
    return json_dumps(call.arguments or {})


def _chat(r: Reply, turn: int, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": r.text or None, "refusal": None}
    if r.calls:
        message["tool_calls"] = [{"id": f"call_{turn}_{i}", "type": "function",
                                  "function": {"name": c.name, "arguments": _arguments(c)}}
                                 for i, c in enumerate(r.calls)]
    return {"id": f"chatcmpl-scripted-{turn}", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if r.calls else "stop"}],
            "usage": {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens,
                      "total_tokens": r.input_tokens + r.output_tokens}}


def _responses(r: Reply, turn: int, model: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    for i, piece in enumerate(r.content):
        if isinstance(piece, Call):
            output.append({"type": "function_call", "id": f"fc_{turn}_{i}", "call_id": f"call_{turn}_{i}",
                           "name": piece.name, "arguments": _arguments(piece), "status": "completed"})
        elif piece:
            output.append({"type": "message", "id": f"msg_{turn}_{i}", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": piece, "annotations": []}]})
    return {"id": f"resp_scripted_{turn}", "object": "response", "created_at": 0, "status": "completed",
            "model": model, "output": output, "error": None, "incomplete_details": None,
            "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                      "total_tokens": r.input_tokens + r.output_tokens,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}}


def _anthropic(r: Reply, turn: int, model: str) -> dict[str, Any]:
    content = [{"type": "tool_use", "id": f"toolu_{turn}_{i}", "name": p.name, "input": dict(p.arguments or {})}
               if isinstance(p, Call) else {"type": "text", "text": p}
               for i, p in enumerate(r.content) if not isinstance(p, str) or p]
    return {"id": f"msg_scripted_{turn}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": "tool_use" if r.calls else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens}}
