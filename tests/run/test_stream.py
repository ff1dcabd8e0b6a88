"""`agent.stream()` / `astream()` with the real SDK clients, over real recorded streams.

The first turn of each run is a recorded stream from tests/wire, sent byte for byte as the
server sent it; the second is a stream in the same shape that calls the finish tool. Only the network
is replaced (an httpx2 transport), so the SDKs' own SSE handling runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest

import wire
from loopline import Agent, ExecutionStatus, InMemoryStore, tool
from loopline.agent import Finished, StatusChanged, ToolResult, UsageReport
from loopline.providers import TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart
from sdk_clients import sdk_client


@tool
def get_capital(country: str) -> str:
    """The capital of a country."""
    return {"UK": "London", "France": "Paris"}[country]


@tool
def get_weather(location: str) -> str:
    """The weather at a location."""
    return f"foggy in {location}"


def _sse(events: list[dict[str, Any]], *, named: bool = False, done: bool = False) -> str:
    lines = [(f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events]
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


def _chat_finish() -> str:
    head = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    args = json.dumps({"result": "London", "is_success": True})
    return _sse([
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_fin", "type": "function", "function": {"name": "finish", "arguments": ""}}]},
            "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args[:9]}}]},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args[9:]}}]},
                              "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**head, "choices": [], "usage": {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}},
    ], done=True)


def _anthropic_finish() -> str:
    args = json.dumps({"result": "foggy", "is_success": True})
    return _sse([
        {"type": "message_start", "message": {"id": "msg_2", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-6", "content": [], "stop_reason": None,
                                              "usage": {"input_tokens": 90, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_fin", "name": "finish", "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": args}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop"},
    ], named=True)


def _responses_finish() -> str:
    args = json.dumps({"result": "Paris", "is_success": True})
    item = {"type": "function_call", "id": "fc_fin", "call_id": "call_fin", "name": "finish", "arguments": args,
            "status": "completed"}
    response = {"id": "resp_2", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5-mini",
                "output": [item], "usage": {"input_tokens": 90, "output_tokens": 12, "total_tokens": 102},
                "error": None, "incomplete_details": None, "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": []}
    return _sse([
        {"type": "response.created", "sequence_number": 0, "response": {**response, "status": "in_progress",
                                                                        "output": []}},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0,
         "item": {**item, "arguments": "", "status": "in_progress"}},
        {"type": "response.function_call_arguments.delta", "sequence_number": 2, "output_index": 0,
         "item_id": "fc_fin", "delta": args},
        {"type": "response.function_call_arguments.done", "sequence_number": 3, "output_index": 0,
         "item_id": "fc_fin", "arguments": args},
        {"type": "response.output_item.done", "sequence_number": 4, "output_index": 0, "item": item},
        {"type": "response.completed", "sequence_number": 5, "response": response},
    ], named=True)


CASES = {
    "openai": ("openai/chat.completions", "005_stream-single-call.json", _chat_finish, "openai:gpt-4o-mini",
               get_capital, "London"),
    "anthropic": ("anthropic/messages", "012_stream-text-then-tool-use.json", _anthropic_finish,
                  "anthropic:claude-sonnet-4-6", get_weather, "foggy"),
    "responses": ("openai/responses", "003_stream-single-call.json", _responses_finish,
                  "openai_responses:gpt-5-mini", get_capital, "Paris"),
}


def _client(kind: str, bodies: list[str], *, asynchronous: bool) -> Any:
    queue = list(bodies)

    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=queue.pop(0).encode(), headers={"content-type": "text/event-stream"})

    return sdk_client(kind, server="https://api.example.test", asynchronous=asynchronous,
                      transport=httpx2.MockTransport(handle))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", list(CASES))
def test_stream_yields_deltas_then_results_and_finishes(kind: str, mode: str) -> None:
    api, name, finish, model, the_tool, answer = CASES[kind]
    [recorded] = [w for w in wire.load(api) if w.name == name]
    client = _client(kind, [recorded.data["raw_sse"], finish()], asynchronous=mode == "async")
    agent = Agent("a", tools=[the_tool], store=InMemoryStore())
    if mode == "sync":
        events = list(agent.stream("Go.", model=model, client=client))
    else:
        async def collect() -> list[Any]:
            return [e async for e in agent.astream("Go.", model=model, client=client)]
        events = asyncio.run(collect())

    [derived] = recorded.derived_tool_calls
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.id, s.name) for s in starts] == [(derived["id"], derived["name"]), ("call_fin" if kind != "anthropic"
                                                                                    else "toolu_fin", "finish")]
    first_args = "".join(e.arguments for e in events[: events.index(starts[1])] if isinstance(e, ToolCallDelta))
    assert json.loads(first_args) == derived["arguments"]
    assert sum(isinstance(e, ToolCallEnd) for e in events) == 2
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == agent.thread[1].text  # what streamed is what the thread holds
    results = [e.result for e in events if isinstance(e, ToolResult)]
    assert [r.function_name for r in results] == [derived["name"], "finish"]
    assert [e.status for e in events if isinstance(e, StatusChanged)] == [ExecutionStatus.COMPLETED]
    assert len([e for e in events if isinstance(e, UsageReport)]) == 2
    assert isinstance(events[-1], Finished)
    assert (events[-1].result.status, events[-1].result.result) == (ExecutionStatus.COMPLETED, answer)


def test_a_stream_cut_in_the_middle_fails_cleanly_and_adds_nothing() -> None:
    [recorded] = [w for w in wire.load("openai/chat.completions") if w.name == "005_stream-single-call.json"]
    cut = recorded.data["raw_sse"][: len(recorded.data["raw_sse"]) // 2]
    agent = Agent("a", tools=[get_capital], store=InMemoryStore())
    events = list(agent.stream("Go.", model="openai:gpt-4o-mini",
                               client=_client("openai", [cut], asynchronous=False)))
    result = events[-1].result  # type: ignore[union-attr]
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "provider_error")
    assert "cut off" in (result.error or "")
    assert [m.role for m in agent.thread] == ["user"]
