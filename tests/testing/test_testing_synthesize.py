"""Streams synthesised from whole responses read back as those responses, for every recorded response.

A `ScriptedModel` asked to stream a whole response plays `synthesize_stream`'s events. For each
response in tests/wire (and each recorded stream, reassembled into its response first), the
adapter's stream reassembly of the synthesised events must give the same neutral message as parsing
the response itself (or the same provider error), and the stream's deltas must carry the same text
and arguments, cut into pieces.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import wire
from loopline.errors import LooplineError
from loopline.messages import Message, ReasoningPart
from loopline.providers import (
    LLMProvider,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    get_adapter,
    translator,
)
from loopline.testing import ScriptedModel, synthesize_stream

APIS = {"openai/chat.completions": LLMProvider.OPEN_AI, "openai/responses": LLMProvider.OPEN_AI_RESPONSES,
        "anthropic/messages": LLMProvider.ANTHROPIC}
FILES = [p for api in APIS for p in wire.params(api, prefix_ids=True)]


def _whole(recorded: wire.WireFile) -> tuple[LLMProvider, dict[str, Any]]:
    provider = APIS[recorded.api]
    response = get_adapter(provider).reassemble(recorded.response) if recorded.stream else recorded.response
    return provider, response


def _parsed(provider: LLMProvider, response: Any) -> list[Message] | tuple[str, str]:
    """The neutral messages (ids and times blanked), or the error's type and text."""
    try:
        messages = get_adapter(provider).parse(response)
    except LooplineError as exc:
        return type(exc).__name__, str(exc)
    return [dataclasses.replace(m, id="", created_at=0.0) for m in messages]


@pytest.mark.parametrize("recorded", FILES)
def test_reassembling_the_synthesised_stream_gives_the_response_back(recorded: wire.WireFile) -> None:
    provider, response = _whole(recorded)
    events = synthesize_stream(response, provider)
    assert _parsed(provider, events) == _parsed(provider, response)
    assert _parsed(provider, ScriptedModel([response]).stream({})) == _parsed(provider, response)


@pytest.mark.parametrize("recorded", [p for api in APIS for p in wire.params(api, lambda w: not w.is_error,
                                                                              prefix_ids=True)])
def test_the_deltas_carry_the_text_and_the_arguments_in_pieces(recorded: wire.WireFile) -> None:
    provider, response = _whole(recorded)
    translate = translator(provider)
    deltas = [d for event in synthesize_stream(response, provider) for d in translate(event)]
    parsed = _parsed(provider, response)
    assert isinstance(parsed, list)
    [message] = parsed
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == message.text
    readable = "".join(p.text or "" for p in message.parts if isinstance(p, ReasoningPart))
    assert "".join(d.text for d in deltas if isinstance(d, ReasoningDelta)) == readable
    arguments: dict[int, str] = {d.index: "" for d in deltas if isinstance(d, ToolCallStart)}
    for d in deltas:
        if isinstance(d, ToolCallDelta):
            arguments[d.index] += d.arguments
    assert list(arguments.values()) == [c.arguments for c in message.tool_calls]
    if len(message.text) > 12:
        assert sum(isinstance(d, TextDelta) for d in deltas) > 1


def test_an_error_body_streams_as_itself() -> None:
    body = {"error": {"message": "Overloaded", "type": "overloaded_error"}, "type": "error"}
    assert synthesize_stream(body, LLMProvider.ANTHROPIC) == [body]
    assert synthesize_stream(body, LLMProvider.ANTHROPIC)[0] is not body


def test_the_responses_items_alone_rebuild_the_output() -> None:
    """With the terminal event's output left empty (as some gateways send it), the item events still
    add up to the same response."""
    [recorded] = [w for w in wire.load("openai/responses") if w.name == "013_handoff-empty-args.json"]
    events = synthesize_stream(recorded.response, LLMProvider.OPEN_AI_RESPONSES)
    events[-1] = {**events[-1], "response": {**events[-1]["response"], "output": []}}
    events = [e for e in events if e["type"] != "response.output_item.done"]
    rebuilt = get_adapter(LLMProvider.OPEN_AI_RESPONSES).reassemble(events)
    strip = [{k: v for k, v in item.items() if k != "status"} for item in recorded.response["output"]]
    assert [{k: v for k, v in item.items() if k != "status"} for item in rebuilt["output"]] == strip
