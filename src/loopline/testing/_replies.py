"""`reply(...)`: a model response written by intent, rendered in whichever wire format it is asked for.

A test that only cares what the model says (some text, some tool calls) should not have to spell
out a Chat Completions body, a Responses API body and an Anthropic message. A `Reply` is rendered
by the `ScriptedModel` that plays it, in that model's format, as a complete response shaped like
the real API's (ids, stop reason, usage), so the adapter under test parses it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import ScriptError
from ..providers import LLMProvider, make_response
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
        content = [p if isinstance(p, str) else (p.name, p.arguments or {}) for p in self.content]
        return make_response(provider, content, turn=turn, model=self.model or model,
                             input_tokens=self.input_tokens, output_tokens=self.output_tokens)


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
