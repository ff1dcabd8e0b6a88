"""Edge cases where a naive rendering would build a request the target API refuses, or parsing
would fail on valid input; each must be handled and, where something is dropped, said so."""

from __future__ import annotations

import json

import pytest

from loopline import LLMProvider, Message
from loopline.errors import ResponseParseError, UsageError
from loopline.messages import ReasoningPart, TextPart, ToolCallPart, ToolResultPart
from loopline.providers import AnthropicAdapter, OpenAIChatAdapter, get_adapter
from loopline.store import SQLiteStore, open_store
from provider_rules import anthropic_violations, chat_violations


def _render(provider: LLMProvider, messages: list[Message]) -> tuple[list[dict], list[str]]:  # type: ignore[type-arg]
    renderer = get_adapter(provider).renderer()
    out = renderer.render(messages)
    return out, [n.reason for n in renderer.report.notes]


def test_a_response_cut_off_while_reasoning_drops_its_lone_reasoning_item_for_responses() -> None:
    cut = Message(role="assistant", stop_reason="length", provider="openai_responses", parts=(
        ReasoningPart(provider="openai_responses", redacted=True,
                      provider_details={"item": {"type": "reasoning", "id": "rs_1", "summary": []}}),))
    out, notes = _render(LLMProvider.OPEN_AI_RESPONSES, [Message.user("hi"), cut, Message.user("go on")])
    assert [i.get("type", "message") for i in out] == ["message", "message"]
    assert notes == ["a reasoning item with nothing after it, which the Responses API refuses"]


def test_whitespace_only_text_is_not_sent_to_anthropic() -> None:
    reply = Message(role="assistant", parts=(TextPart(text="\n\n"),))
    out, notes = _render(LLMProvider.ANTHROPIC, [Message.user("hi"), reply, Message.user("and?")])
    assert anthropic_violations({"messages": out}) == []
    assert notes == ["nothing in it can be sent to Anthropic, which rejects empty turns"]


def test_an_empty_error_result_gets_content_for_anthropic() -> None:
    call = Message(role="assistant", parts=(ToolCallPart(id="toolu_1", name="t", arguments="{}"),))
    result = Message(role="tool", parts=(ToolResultPart(tool_call_id="toolu_1", name="t", content="", is_error=True),))
    out = AnthropicAdapter().renderer().render([Message.user("hi"), call, result])
    assert out[-1]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Error",
                                   "is_error": True}]


def test_an_assistant_turn_with_nothing_for_chat_is_dropped_and_said() -> None:
    only_reasoning = Message(role="assistant", parts=(ReasoningPart(text="hmm", provider="anthropic"),))
    out, notes = _render(LLMProvider.OPEN_AI, [Message.user("hi"), only_reasoning, Message.user("go on")])
    assert chat_violations({"messages": out}) == []
    assert len(notes) == 2 and "nothing in it" in notes[1]


def test_sse_lines_split_only_on_cr_and_lf() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "a\u2028b"}, "finish_reason": "stop"}]}
    raw = "data: " + json.dumps(chunk, ensure_ascii=False) + "\n\ndata: [DONE]\n\n"
    [message] = OpenAIChatAdapter().parse(raw)
    assert message.text == "a\u2028b"


def test_an_exhausted_stream_is_an_error_not_an_empty_answer() -> None:
    with pytest.raises(ResponseParseError, match="already consumed"):
        OpenAIChatAdapter().parse(iter(()))


def test_store_locations_are_never_guessed(tmp_path: object) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/a.db"), SQLiteStore)
    with pytest.raises(UsageError, match="neither"):
        open_store("postgresql+psycopg://u@h/db")


def _chunk(delta: dict, finish: str | None = None, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"id": "c", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def test_parallel_stream_calls_without_an_index_stay_apart() -> None:
    chunks = [
        _chunk({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                     "function": {"name": "pay", "arguments": '{"amount":1}'}}]}),
        _chunk({"tool_calls": [{"id": "c2", "type": "function", "function": {"name": "pay", "arguments": "{"}}]}),
        _chunk({"tool_calls": [{"function": {"arguments": '"amount":2}'}}]}, finish="tool_calls"),
    ]
    [message] = OpenAIChatAdapter().parse(chunks)
    assert [(c.id, c.arguments) for c in message.tool_calls] == [("c1", '{"amount":1}'), ("c2", '{"amount":2}')]


def test_an_error_in_the_middle_of_a_stream_is_the_providers_error() -> None:
    from loopline.errors import ProviderErrorResponse

    chunks = [_chunk({"role": "assistant", "content": "Hel"}), {"error": {"message": "overloaded", "type": "server"}}]
    with pytest.raises(ProviderErrorResponse, match="overloaded"):
        OpenAIChatAdapter().parse(chunks)


def test_azures_opening_chunk_does_not_hide_the_stream() -> None:
    opening = {"id": "", "object": "", "model": "", "choices": [], "prompt_filter_results": []}
    [message] = OpenAIChatAdapter().parse([opening, _chunk({"role": "assistant", "content": "hi"}, finish="stop")])
    assert message.text == "hi"


def test_tool_output_every_store_can_hold() -> None:
    from loopline.tools import render_result

    assert render_result("file-\udcff.txt\x00") == "file-\ufffd.txt\ufffd"
