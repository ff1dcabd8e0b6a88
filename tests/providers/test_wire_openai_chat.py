"""The OpenAI Chat Completions adapter against recorded real traffic (`tests/wire/openai/chat.completions`).

Every recorded response must parse into the message, tool calls, usage and stop reason it holds;
every recorded request must be what loopline renders for the same conversation; a response must
render back as the assistant message the provider accepted in the next request of its cassette.

Comparisons are of parsed JSON (key order never matters) after `normalise_message`, which removes
only differences the API treats as equal. Stream files are left to one strict-xfail test until the
adapter reassembles streams.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

import wire
from loopline import Agent, InMemoryStore, LLMProvider, Message, Tool, ToolCall, ToolDefinition, Usage
from loopline.errors import ProviderErrorResponse
from loopline.messages import RefusalPart, StopReason, TextPart, ToolCallPart
from loopline.providers import OpenAIChatAdapter

API = "openai/chat.completions"

STOP_REASONS: dict[str, StopReason] = {"stop": "stop", "tool_calls": "tool_calls", "length": "length"}
"""The recorded finish_reasons and what loopline must call them."""


def _plain_response(w: wire.WireFile) -> bool:
    return not w.stream and not w.is_error


def _has_tool_history(w: wire.WireFile) -> bool:
    return any(m.get("role") == "tool" or (m.get("role") == "assistant" and m.get("tool_calls"))
               for m in w.request["messages"])


def _tools_of_type(kind: str) -> Any:
    return lambda w: any(t.get("type") == kind for t in w.request.get("tools") or [])


RESPONSES = wire.params(API, _plain_response)
ERRORS = wire.params(API, lambda w: w.is_error)
REQUESTS = wire.params(API)
HISTORIES = wire.params(API, _has_tool_history)
LOOPS = wire.pairs(API, lambda first, _second: _plain_response(first))
FUNCTION_TOOLS = wire.params(API, _tools_of_type("function"))
CUSTOM_TOOLS = wire.params(API, _tools_of_type("custom"))

# --- helpers ----------------------------------------------------------------------------------------


def normalise_message(message: dict[str, Any]) -> dict[str, Any]:
    """One wire message with only the differences the API treats as equal removed.

    - an assistant message's `"content": null` next to `tool_calls` is the same as no `content` key;
    - an assistant message's `"refusal": null` and `"annotations": []` are the same as no key.

    Nothing else is touched (key order needs no normalising: dicts compare without it).
    """
    out = dict(message)
    if out.get("role") == "assistant":
        if out.get("tool_calls") and "content" in out and out["content"] is None:
            del out["content"]
        if "refusal" in out and out["refusal"] is None:
            del out["refusal"]
        if "annotations" in out and out["annotations"] == []:
            del out["annotations"]
    return out


def normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [normalise_message(m) for m in messages]


def normalise_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """One wire tool with only these removed: `"strict": false` (the default when absent) and
    `"description": ""` (the same as none)."""
    out = copy.deepcopy(tool)
    body = out.get(out.get("type", "function"), {})
    if body.get("strict", False) is False:
        body.pop("strict", None)
    if body.get("description") == "":
        del body["description"]
    return out


def call_dict(call: ToolCall) -> dict[str, Any]:
    """A parsed call in the shape of the corpus's `derived_tool_calls`."""
    if call.type == "custom":
        return {"id": call.id, "type": "custom", "name": call.name, "input": call.raw_arguments}
    return {"id": call.id, "type": call.type, "name": call.name, "arguments": call.arguments}


def first_choice(response: dict[str, Any]) -> dict[str, Any]:
    """The choice a loop continues with: index 0 (a request with `n=2` has two)."""
    [choice] = [c for c in response["choices"] if c["index"] == 0]
    return choice  # type: ignore[no-any-return]


def expected_usage(response: dict[str, Any]) -> Usage:
    usage = response["usage"]
    return Usage(input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"],
                 cached_tokens=usage["prompt_tokens_details"]["cached_tokens"],
                 reasoning_tokens=usage["completion_tokens_details"]["reasoning_tokens"], requests=1)


def expected_message(response: dict[str, Any]) -> Message:
    """The neutral message a recorded response holds, built from the wire without loopline's parser."""
    choice = first_choice(response)
    wire_message = choice["message"]
    parts: list[Any] = []
    if wire_message.get("content"):
        parts.append(TextPart(text=wire_message["content"]))
    if wire_message.get("refusal"):
        parts.append(RefusalPart(text=wire_message["refusal"]))
    for call in wire_message.get("tool_calls") or []:
        kind = call["type"]
        body = call[kind]
        parts.append(ToolCallPart(id=call["id"], name=body["name"], tool_type=kind,
                                  arguments=body["arguments"] if kind == "function" else body["input"]))
    return Message(role="assistant", parts=tuple(parts), provider="openai", model=response["model"],
                   usage=expected_usage(response), stop_reason=STOP_REASONS[choice["finish_reason"]],
                   raw_stop_reason=choice["finish_reason"])


def comparable(message: Message) -> Message:
    """The message without what is minted per parse (id, time) or provider-private (details)."""
    return dataclasses.replace(message, id="msg", created_at=0.0, provider_details=None)


def as_response(w: wire.WireFile, form: str) -> Any:
    return ChatCompletion.model_validate(w.response) if form == "sdk" else w.response


def split_system(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The leading system prompt (or `None`) and the rest of a recorded request's messages."""
    if messages and messages[0]["role"] == "system":
        content = messages[0]["content"]
        assert isinstance(content, str), "a system prompt in content blocks is not supported by this test"
        return content, messages[1:]
    return None, messages


def function_tools(request: dict[str, Any]) -> list[Tool]:
    return [Tool.from_spec(spec, _no_op) for spec in request.get("tools") or [] if spec["type"] == "function"]


def _no_op(**_kwargs: Any) -> None:
    return None


# --- responses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_response_parses_into_its_message(w: wire.WireFile, form: str) -> None:
    messages = OpenAIChatAdapter().parse(as_response(w, form))

    assert [comparable(m) for m in messages] == [comparable(expected_message(w.response))]
    assert (messages[0].provider_details or {}).get("id") == w.response["id"]


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_extract_tool_calls_matches_derived(w: wire.WireFile, form: str) -> None:
    calls = Agent.extract_tool_calls(as_response(w, form), llm_provider=LLMProvider.OPEN_AI)

    assert [call_dict(c) for c in calls] == w.derived_tool_calls
    assert [(c.raw_arguments, c.arguments_error) for c in calls] == [
        (call[call["type"]]["arguments" if call["type"] == "function" else "input"], None)
        for call in first_choice(w.response)["message"].get("tool_calls") or []
    ]


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_usage_and_stop_reason_are_normalised(w: wire.WireFile, form: str) -> None:
    [message] = OpenAIChatAdapter().parse(as_response(w, form))
    finish_reason = first_choice(w.response)["finish_reason"]

    assert (message.usage, message.stop_reason, message.raw_stop_reason) == (
        expected_usage(w.response), STOP_REASONS[finish_reason], finish_reason)


@pytest.mark.parametrize("w", ERRORS)
def test_error_body_raises_provider_error(w: wire.WireFile) -> None:
    error = w.response["error"]
    for parse in (OpenAIChatAdapter().parse, Agent.extract_tool_calls):
        with pytest.raises(ProviderErrorResponse) as info:
            parse(w.response)

        exc = info.value
        assert (exc.provider, exc.code, exc.error_type, exc.body) == ("openai", error["code"], error["type"],
                                                                      w.response)
        assert error["message"] in str(exc)


STREAMS = [w for w in wire.load(API) if w.stream and not w.is_error]


@pytest.mark.parametrize("form", ["dicts", "sdk", "raw_sse"])
@pytest.mark.parametrize("w", STREAMS, ids=[w.name for w in STREAMS])
def test_stream_reassembles_to_the_derived_calls(w: wire.WireFile, form: str) -> None:
    """A whole stream, as chunk dicts, as SDK chunk objects or as the raw SSE text, parses into one
    assistant message with exactly the derived tool calls, the streamed text and the usage chunk."""
    from openai.types.chat import ChatCompletionChunk

    source: Any = {"dicts": w.response, "raw_sse": w.data["raw_sse"],
                   "sdk": [ChatCompletionChunk.model_validate(c) for c in w.response]}[form]
    [message] = OpenAIChatAdapter().parse(source)
    assert message.role == "assistant"
    assert [call_dict(ToolCall.from_part(p)) for p in message.tool_calls] == w.derived_tool_calls
    text = "".join(d["content"] for c in w.response for ch in c.get("choices") or []
                   if isinstance(d := ch.get("delta") or {}, dict) and isinstance(d.get("content"), str))
    assert message.text == text
    usage = next((c["usage"] for c in reversed(w.response) if c.get("usage")), None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (
        (usage["prompt_tokens"], usage["completion_tokens"]) if usage else (0, 0)) if message.usage else usage is None


# --- requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("w", REQUESTS)
def test_adapter_renders_recorded_request_messages(w: wire.WireFile) -> None:
    """Parse each recorded request message into a neutral one, render them all: the same messages."""
    adapter = OpenAIChatAdapter()
    recorded = w.request["messages"]
    system, rest = split_system(recorded)
    neutral = [adapter.parse_wire_message(m) for m in rest]

    kwargs = adapter.request_kwargs(system=system, messages=adapter.renderer().render(neutral), tools=[])

    assert normalise_messages(kwargs["messages"]) == normalise_messages(recorded)


@pytest.mark.parametrize("w", HISTORIES)
def test_agent_renders_recorded_history(w: wire.WireFile) -> None:
    """The public loop: a task per user turn, the recorded replies fed back with `add_messages`.

    A user message starts a task (continuing the thread) when the previous execution has ended, as
    after a final text answer; otherwise it is fed like any other message.
    """
    recorded = w.request["messages"]
    system, rest = split_system(recorded)
    assert rest and rest[0]["role"] == "user", "a recorded conversation starts with a user message"
    agent = Agent(name=f"wire-{w.name}", instructions=system or "", tools=function_tools(w.request),
                  store=InMemoryStore())

    turns: list[list[dict[str, Any]]] = []
    for message in rest:
        if message["role"] == "user":
            turns.append([])
        turns[-1].append(message)
    for user, *replies in turns:
        if agent.execution is None or agent.execution.is_finished:
            assert isinstance(user["content"], str)
            agent.add_task(input=user["content"], thread_id=agent.thread_id)
        else:
            agent.add_messages([user])
        if replies:
            agent.add_messages(replies)

    assert normalise_messages(agent.messages) == normalise_messages(recorded)


@pytest.mark.parametrize("pair", LOOPS)
def test_response_renders_as_the_next_request_accepted_it(pair: tuple[wire.WireFile, wire.WireFile]) -> None:
    """Interaction n's response, parsed and rendered, is the assistant message of request n+1."""
    first, second = pair
    adapter = OpenAIChatAdapter()
    [message] = adapter.parse(first.response)
    sent_before = first.request["messages"]
    sent_after = second.request["messages"]
    assert sent_after[:len(sent_before)] == sent_before, "request n+1 does not extend request n"

    assert normalise_messages(adapter.render_message(message)) == [normalise_message(sent_after[len(sent_before)])]


@pytest.mark.parametrize("w", FUNCTION_TOOLS)
def test_function_tools_render_as_recorded(w: wire.WireFile) -> None:
    specs = [t for t in w.request["tools"] if t["type"] == "function"]

    rendered = OpenAIChatAdapter().render_tools([t.definition for t in function_tools(w.request)])

    assert [normalise_tool(t) for t in rendered] == [normalise_tool(t) for t in specs]


@pytest.mark.parametrize("w", CUSTOM_TOOLS)
def test_custom_tools_render_as_recorded(w: wire.WireFile) -> None:
    """A custom tool's grammar rides in `ToolDefinition.provider_details["format"]`."""
    specs = [t for t in w.request["tools"] if t["type"] == "custom"]
    definitions = [
        ToolDefinition(name=s["custom"]["name"], description=s["custom"].get("description", ""), parameters={},
                       tool_type="custom", provider_details={"format": s["custom"]["format"]} if "format" in
                       s["custom"] else None)
        for s in specs
    ]

    rendered = OpenAIChatAdapter().render_tools(definitions)

    assert [normalise_tool(t) for t in rendered] == [normalise_tool(t) for t in specs]

