"""Gemini's OpenAI-compatible endpoint puts a thought signature on tool calls (`extra_content`) and wants it
back with the call; no other server may be sent it."""

from __future__ import annotations

import json
from typing import Any

from loopline import Agent, InMemoryStore, LLMProvider, tool
from loopline.providers import get_adapter

SIGNATURE = {"google": {"thought_signature": "CiQBjz1rX3c2k0Yf"}}


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


def _response(extra: dict[str, Any] | None) -> dict[str, Any]:
    call: dict[str, Any] = {"id": "function-call-1", "type": "function",
                            "function": {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}}
    if extra is not None:
        call["extra_content"] = extra
    return {"id": "gem-1", "object": "chat.completion", "created": 1, "model": "gemini-3-pro-preview",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def _chunks(extra: dict[str, Any]) -> list[dict[str, Any]]:
    head = {"id": "gem-1", "object": "chat.completion.chunk", "created": 1, "model": "gemini-3-pro-preview"}
    first = {"id": "function-call-1", "type": "function", "extra_content": extra,
             "function": {"name": "get_weather", "arguments": '{"city": '}}
    return [{**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [first]}}]},
            {**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": '"Oslo"}'}}]}}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]


def _sent_back(response: Any, to: LLMProvider) -> dict[str, Any]:
    agent = Agent("a", tools=[get_weather], llm_provider=LLMProvider.GEMINI_OPEN_AI, store=InMemoryStore())
    agent.add_task("Weather in Oslo?")
    agent.add_messages(response)
    agent.run_tools(agent.pending_tool_calls)
    messages, report = agent.get_messages(to, report=True)
    assistant = next(m for m in messages if m.get("role") == "assistant" or m.get("type") == "function_call")
    return {"assistant": assistant, "notes": [n.reason for n in report.notes]}


def test_the_signature_goes_back_to_gemini_with_its_call() -> None:
    sent = _sent_back(_response(SIGNATURE), LLMProvider.GEMINI_OPEN_AI)
    assert sent["assistant"]["tool_calls"][0]["extra_content"] == SIGNATURE and sent["notes"] == []


def test_a_streamed_call_keeps_its_signature_too() -> None:
    sent = _sent_back(_chunks(SIGNATURE), LLMProvider.GEMINI_OPEN_AI)
    assert sent["assistant"]["tool_calls"][0]["extra_content"] == SIGNATURE


def test_other_servers_never_get_it_and_the_drop_is_reported() -> None:
    sent = _sent_back(_response(SIGNATURE), LLMProvider.OPEN_AI)
    assert "extra_content" not in sent["assistant"]["tool_calls"][0]
    assert any("thought signature" in n for n in sent["notes"])


def test_calls_without_it_render_as_before() -> None:
    message = get_adapter(LLMProvider.GEMINI_OPEN_AI).parse(_response(None))[0]
    assert message.tool_calls[0].provider_details is None
