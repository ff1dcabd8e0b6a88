"""The OpenAI Responses API adapter against recorded real traffic (`tests/wire/openai/responses`).

Every recorded response must parse into the message, tool calls, usage and stop reason it holds; every
stream must reassemble (from event dicts, SDK event objects or raw SSE text) into what its terminal
event says, and a stream cut short must be refused with a `ResponseParseError`; every request's input
must be what loopline renders for the conversation it encodes; a response must render back as the
items the API accepted in the next request of its cassette.

Comparisons are of parsed JSON (key order never matters) after `normalise_items`, which removes only
differences the API treats as equal. Where a recorded client sent back something the API does not
treat as equal (another id, no reasoning item), a strict xfail says so, and a content-level test
checks that the same calls and text went back.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import pytest
from openai._models import construct_type
from openai.types.responses import Response, ResponseStreamEvent

import wire
from loopline import Agent, InMemoryStore, LLMProvider, Message, Tool, ToolCall, ToolDefinition, Usage
from loopline.errors import ProviderErrorResponse, ResponseParseError
from loopline.messages import (
    OpaquePart,
    Part,
    ReasoningPart,
    RefusalPart,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from loopline.providers import OpenAIResponsesAdapter

API = "openai/responses"
PROVIDER = "openai_responses"


def _plain_response(w: wire.WireFile) -> bool:
    return not w.stream and not w.is_error


def _tools_of_type(kind: str) -> Any:
    return lambda w: any(t.get("type") == kind for t in w.request.get("tools") or [])


RESPONSES = wire.params(API, _plain_response)
STREAMS = wire.params(API, lambda w: w.stream and not w.is_error)
ERRORS = wire.params(API, lambda w: w.is_error)
REQUESTS = wire.params(API)
LOOPS = wire.pairs(API, lambda first, _second: not first.is_error)
FUNCTION_TOOLS = wire.params(API, _tools_of_type("function"))
CUSTOM_TOOLS = wire.params(API, _tools_of_type("custom"))
CLIENT_DEVIATIONS = {
    "001_parallel-two-calls.json+002_two-outputs-replayed.json":
        "pydantic-ai (2025-03) sent an empty assistant message before the calls and left out their fc_ item "
        "ids; loopline sends the calls as they came, ids included, and no empty message",
    "003_stream-single-call.json+004_stream-final-after-output.json":
        "pydantic-ai sent the fc_ item id as the call_id (the file's notes); loopline sends the call's own "
        "call_id, and its item id as id",
    "009_stream-reasoning-call.json+010_stream-after-output.json":
        "llm-openai-plugin left out the reasoning item and the item id and re-serialised the arguments "
        "('{\"number\": \"5\"}'); loopline sends the reasoning item and the call back as they came",
}
"""Pairs whose request n+1 differs from the rendering of response n in more than equal forms, and why."""


# --- helpers ----------------------------------------------------------------------------------------


def normalise_item(item: dict[str, Any]) -> dict[str, Any]:
    """One input item with only the differences the API treats as equal removed.

    - a role message's `"type": "message"` is the same as none (it is the only type a role item has);
    - a role message's content holding exactly one text part (`input_text`, or `output_text` with no
      annotations) is the same as that text as a plain string.

    Nothing else is touched (key order needs no normalising: dicts compare without it).
    """
    out = dict(item)
    if "role" not in out:
        return out
    if out.get("type") == "message":
        del out["type"]
    content = out.get("content")
    if isinstance(content, list) and len(content) == 1 and _plain_text(content[0]):
        out["content"] = content[0]["text"]
    return out


def _plain_text(part: Any) -> bool:
    """A text part with nothing but its text (and an output_text's empty annotations)."""
    return isinstance(part, dict) and ((part.get("type") == "input_text" and set(part) == {"type", "text"}) or (
        part.get("type") == "output_text" and not part.get("annotations")
        and set(part) <= {"type", "text", "annotations"}))


def normalise_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [normalise_item(i) for i in items]


def request_input(request: dict[str, Any]) -> list[dict[str, Any]]:
    """A recorded request's input as a list: a string input is the same as one user message holding it."""
    value = request["input"]
    return [{"role": "user", "content": value}] if isinstance(value, str) else list(value)


def normalise_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """One wire tool with `"description": ""` removed (the same as none)."""
    out = copy.deepcopy(tool)
    if out.get("description") == "":
        del out["description"]
    return out


def sdk(type_: Any, value: Any) -> Any:
    """An SDK object built as the SDK client builds it from a body: `construct_type`, the client's path
    under its default `_strict_response_validation=False`. Strict validation (`Response.model_validate`,
    a `TypeAdapter` of `ResponseStreamEvent`) rejects these recordings: the installed SDK requires
    `usage.input_tokens_details.cache_write_tokens`, and `sequence_number` on every event, which the API
    did not send when they were recorded."""
    return construct_type(type_=type_, value=value)


def as_response(w: wire.WireFile, form: str) -> Any:
    return sdk(Response, w.response) if form == "sdk" else w.response


def as_stream(w: wire.WireFile, form: str) -> Any:
    return {"dicts": lambda: w.response, "raw_sse": lambda: w.data["raw_sse"],
            "sdk": lambda: [sdk(ResponseStreamEvent, e) for e in w.response]}[form]()


def terminal(w: wire.WireFile) -> dict[str, Any]:
    """The response the terminal event of a recorded stream carries."""
    [last] = [e for e in w.response if e["type"] in ("response.completed", "response.incomplete")]
    assert last is w.response[-1]
    return last["response"]  # type: ignore[no-any-return]


def expected_stop(response: dict[str, Any]) -> tuple[StopReason, str]:
    """The normalised and the raw stop reason of a recorded response, read from the wire."""
    if response["status"] == "incomplete":
        reason = response["incomplete_details"]["reason"]
        return {"max_output_tokens": "length", "content_filter": "content_filter"}[reason], f"incomplete:{reason}"
    assert response["status"] == "completed"
    calls = any(i["type"] in ("function_call", "custom_tool_call") for i in response["output"])
    return ("tool_calls" if calls else "stop"), "completed"


def expected_usage(response: dict[str, Any]) -> Usage:
    usage = response["usage"]
    return Usage(input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"],
                 cached_tokens=usage["input_tokens_details"]["cached_tokens"],
                 reasoning_tokens=usage["output_tokens_details"]["reasoning_tokens"], requests=1)


def expected_parts(response: dict[str, Any]) -> tuple[Part, ...]:
    """The parts a recorded response holds, built from the wire without loopline's parser."""
    parts: list[Part] = []
    for item in response["output"]:
        if item["type"] == "message":
            shared = {"item_id": item["id"], "status": item["status"]}
            for block in item["content"]:
                if block["type"] == "refusal":
                    parts.append(RefusalPart(text=block["refusal"], provider_details=shared))
                else:
                    extra = {"annotations": block["annotations"]} if block["annotations"] else {}
                    parts.append(TextPart(text=block["text"], provider_details={**shared, **extra}))
        elif item["type"] in ("function_call", "custom_tool_call"):
            custom = item["type"] == "custom_tool_call"
            parts.append(ToolCallPart(id=item["call_id"], name=item["name"], tool_type="custom" if custom else
                                      "function", arguments=item["input" if custom else "arguments"],
                                      provider_details={"item_id": item["id"]}))
        elif item["type"] == "reasoning":
            parts.append(ReasoningPart(text="\n\n".join(s["text"] for s in item["summary"]), provider=PROVIDER,
                                       redacted=bool(item.get("encrypted_content")), provider_details={"item": item}))
        else:
            parts.append(OpaquePart(provider=PROVIDER, data=item))
    return tuple(parts)


def expected_message(response: dict[str, Any]) -> Message:
    stop, raw = expected_stop(response)
    details = {k: response[k] for k in ("id", "service_tier") if response.get(k)}
    return Message(role="assistant", parts=expected_parts(response), provider=PROVIDER, model=response["model"],
                   usage=expected_usage(response), stop_reason=stop, raw_stop_reason=raw, provider_details=details)


def comparable(message: Message) -> Message:
    """The message without what is minted per parse (id, time)."""
    return dataclasses.replace(message, id="msg", created_at=0.0)


def call_dict(call: ToolCall, part: ToolCallPart) -> dict[str, Any]:
    """A parsed call in the shape of the corpus's `derived_tool_calls` (`item_id` from the part)."""
    custom = call.type == "custom"
    return {"id": call.id, "item_id": (part.provider_details or {}).get("item_id"),
            "type": "custom_tool_call" if custom else "function_call", "name": call.name,
            **({"input": call.raw_arguments} if custom else {"arguments": call.arguments})}


def parsed_calls(response: Any) -> list[dict[str, Any]]:
    calls = Agent.extract_tool_calls(response, llm_provider=LLMProvider.OPEN_AI_RESPONSES)
    parts = [p for m in OpenAIResponsesAdapter().parse(response) for p in m.tool_calls]
    return [call_dict(c, p) for c, p in zip(calls, parts, strict=True)]


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def turn_after(first: wire.WireFile, second: wire.WireFile) -> list[dict[str, Any]]:
    """The items request n+1 added for response n: those after request n's input, up to the first
    tool result or user message (what the client sent back of the model's turn)."""
    before, after = request_input(first.request), request_input(second.request)
    assert after[:len(before)] == before, "request n+1 does not extend request n"
    turn = []
    for item in after[len(before):]:
        if item.get("type") in ("function_call_output", "custom_tool_call_output") or item.get("role") == "user":
            break
        turn.append(item)
    return turn


def response_of(w: wire.WireFile) -> Any:
    return w.data["raw_sse"] if w.stream else w.response


def _no_op(**_kwargs: Any) -> None:
    return None


# --- responses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_response_parses_into_its_message(w: wire.WireFile, form: str) -> None:
    messages = OpenAIResponsesAdapter().parse(as_response(w, form))

    assert [comparable(m) for m in messages] == [comparable(expected_message(w.response))]


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_extract_tool_calls_matches_derived(w: wire.WireFile, form: str) -> None:
    assert parsed_calls(as_response(w, form)) == w.derived_tool_calls


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_usage_and_stop_reason_are_normalised(w: wire.WireFile, form: str) -> None:
    [message] = OpenAIResponsesAdapter().parse(as_response(w, form))

    assert (message.usage, message.stop_reason, message.raw_stop_reason) == (
        expected_usage(w.response), *expected_stop(w.response))


@pytest.mark.parametrize("w", ERRORS)
def test_error_body_raises_provider_error(w: wire.WireFile) -> None:
    error = w.response["error"]
    for parse in (OpenAIResponsesAdapter().parse,
                  lambda r: Agent.extract_tool_calls(r, llm_provider=LLMProvider.OPEN_AI_RESPONSES)):
        with pytest.raises(ProviderErrorResponse) as info:
            parse(w.response)

        exc = info.value
        assert (exc.provider, exc.code, exc.error_type, exc.body) == (PROVIDER, error["code"], error["type"],
                                                                      w.response)
        assert error["message"] in str(exc)


@pytest.mark.parametrize("w", RESPONSES)
def test_failed_response_raises_provider_error(w: wire.WireFile) -> None:
    """A response whose status is `failed` carries an error object instead of output."""
    failed = {**w.response, "status": "failed", "output": [],
              "error": {"code": "server_error", "message": "The model failed to generate a response."}}

    with pytest.raises(ProviderErrorResponse) as info:
        OpenAIResponsesAdapter().parse(failed)

    assert (info.value.code, info.value.body) == ("server_error", failed)
    assert "failed to generate" in str(info.value)


# --- streams ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dicts", "sdk", "raw_sse"])
@pytest.mark.parametrize("w", STREAMS)
def test_stream_reassembles_to_its_terminal_response(w: wire.WireFile, form: str) -> None:
    """A whole stream, as event dicts, as SDK event objects or as the raw SSE text, parses into the
    message its terminal event's response holds: the derived calls, the streamed text, the usage."""
    [message] = OpenAIResponsesAdapter().parse(as_stream(w, form))
    response = terminal(w)

    assert comparable(message) == comparable(expected_message(response))
    assert parsed_calls(as_stream(w, form)) == w.derived_tool_calls
    assert message.text == streamed_text(w.response)
    assert message.usage == expected_usage(response)


@pytest.mark.parametrize("w", STREAMS)
def test_stream_output_is_rebuilt_from_item_events(w: wire.WireFile) -> None:
    """A terminal event whose response has an empty `output` (as some gateways send it) is filled from
    the item events. Only `encrypted_content` may differ: the API encrypts a reasoning item anew for
    `output_item.done` and for the terminal event, and either ciphertext is the same reasoning."""
    events = copy.deepcopy(w.response)
    events[-1]["response"]["output"] = []

    rebuilt = OpenAIResponsesAdapter().reassemble(events)

    def blank(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**i, "encrypted_content": "…"} if "encrypted_content" in i else i for i in items]

    assert blank(rebuilt["output"]) == blank(terminal(w)["output"])
    assert {k: v for k, v in rebuilt.items() if k != "output"} == {k: v for k, v in terminal(w).items()
                                                                   if k != "output"}


@pytest.mark.parametrize("w", STREAMS)
def test_stream_output_is_rebuilt_from_deltas_alone(w: wire.WireFile) -> None:
    """With no `*.done` event but the terminal one, and that one's output empty, the calls, their ids
    and the text are rebuilt from the `*.added` and `*.delta` events."""
    events = [copy.deepcopy(e) for e in w.response if not e["type"].endswith(".done")]
    events[-1]["response"]["output"] = []
    adapter = OpenAIResponsesAdapter()

    [rebuilt], [whole] = adapter.parse(events), adapter.parse(w.response)

    assert [p.kind for p in rebuilt.parts] == [p.kind for p in whole.parts]
    assert (rebuilt.tool_calls, rebuilt.text) == (whole.tool_calls, whole.text)


@pytest.mark.parametrize("w", STREAMS)
def test_stream_cut_before_its_terminal_event_is_refused(w: wire.WireFile) -> None:
    """Every prefix of the stream that lacks the terminal event raises a ResponseParseError saying the
    stream was cut off, never another exception and never a message."""
    adapter = OpenAIResponsesAdapter()
    for end in range(1, len(w.response)):
        with pytest.raises(ResponseParseError, match="cut off"):
            adapter.parse(w.response[:end])


@pytest.mark.parametrize("w", STREAMS)
def test_raw_stream_cut_anywhere_is_refused(w: wire.WireFile) -> None:
    """Raw SSE text cut at any point before the end of the terminal event's JSON raises a
    ResponseParseError (cut off, or an event that is not whole JSON)."""
    text: str = w.data["raw_sse"]
    end = len(text.rstrip())
    cuts = sorted({*range(0, end, max(1, end // 60)), end - 1, end - 2, text.rfind("event:")})
    adapter = OpenAIResponsesAdapter()
    for cut in cuts:
        with pytest.raises(ResponseParseError):
            adapter.parse(text[:cut])


@pytest.mark.parametrize("w", STREAMS)
def test_stream_with_keepalives_repeats_and_padding_parses_the_same(w: wire.WireFile) -> None:
    """Keepalive events and SSE comments are skipped, JSON padded with spaces is read, and an event
    repeated with the same sequence_number (as a resumed stream may repeat it) counts once."""
    adapter = OpenAIResponsesAdapter()
    [expected] = adapter.parse(w.response)
    noisy: list[dict[str, Any]] = []
    for event in w.response:
        noisy += [event, {"type": "keepalive"}]
    if all("sequence_number" in e for e in w.response):
        noisy = [*w.response[:3], *w.response]  # repeats, and out of order
        noisy = [*noisy[:2], {"type": "keepalive", "sequence_number": 10_000}, *noisy[2:]]
    raw = "".join(f": keepalive\n\nevent: {e['type']}\ndata:  {json.dumps(e)}   \n\n" for e in noisy)

    for source in (noisy, raw):
        [message] = adapter.parse(source)
        assert comparable(message) == comparable(expected)


@pytest.mark.parametrize("kind", ["error", "response.failed"])
@pytest.mark.parametrize("w", STREAMS)
def test_error_or_failed_event_raises_provider_error(w: wire.WireFile, kind: str) -> None:
    """An `error` event, or a `response.failed` one, in place of the terminal event is the provider's
    error, not a cut-off stream."""
    error = {"code": "server_error", "message": "An error occurred while processing."}
    last = ({"type": "error", **error, "param": None, "sequence_number": len(w.response)} if kind == "error" else
            {**w.response[-1], "type": kind, "response": {**terminal(w), "status": "failed", "error": error}})

    with pytest.raises(ProviderErrorResponse) as info:
        OpenAIResponsesAdapter().parse([*w.response[:-1], last])

    assert (info.value.provider, info.value.code) == (PROVIDER, "server_error")
    assert "An error occurred" in str(info.value)


# --- requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("w", REQUESTS)
def test_adapter_renders_recorded_request_input(w: wire.WireFile) -> None:
    """Parse each recorded input item into a neutral message, render them all: the same items."""
    adapter = OpenAIResponsesAdapter()
    recorded = request_input(w.request)
    neutral = [adapter.parse_wire_message(item) for item in recorded]

    kwargs = adapter.request_kwargs(system=w.request.get("instructions"), messages=adapter.renderer().render(neutral),
                                    tools=[])

    assert normalise_items(kwargs["input"]) == normalise_items(recorded)
    assert kwargs.get("instructions") == w.request.get("instructions")
    assert "tools" not in kwargs


@pytest.mark.parametrize("pair", LOOPS)
def test_response_renders_as_the_next_request_sent_it(pair: tuple[wire.WireFile, wire.WireFile],
                                                       request: pytest.FixtureRequest) -> None:
    """Interaction n's response, parsed and rendered, is what request n+1 sent back of that turn."""
    first, second = pair
    deviation = CLIENT_DEVIATIONS.get(f"{first.name}+{second.name}")
    if deviation:
        request.applymarker(pytest.mark.xfail(reason=deviation, strict=True))
    adapter = OpenAIResponsesAdapter()
    [message] = adapter.parse(response_of(first))

    assert normalise_items(adapter.render_message(message)) == normalise_items(turn_after(first, second))


@pytest.mark.parametrize("pair", LOOPS)
def test_response_content_is_what_the_next_request_sent_back(pair: tuple[wire.WireFile, wire.WireFile]) -> None:
    """Whatever a client left out or rewrote, the calls (name, parsed arguments, call id) and the text
    loopline renders for response n are those request n+1 sent back; the one exception is a call id
    sent as the call's fc_ item id (003+004, a pydantic-ai quirk the API accepts)."""
    first, second = pair
    adapter = OpenAIResponsesAdapter()
    [ours] = adapter.parse(response_of(first))
    theirs = [adapter.parse_wire_message(item) for item in turn_after(first, second)]
    their_calls = [p for m in theirs for p in m.tool_calls]

    assert [(c.name, json.loads(c.arguments)) for c in ours.tool_calls] == [
        (c.name, json.loads(c.arguments)) for c in their_calls]
    for call, their in zip(ours.tool_calls, their_calls, strict=True):
        assert their.id in (call.id, (call.provider_details or {}).get("item_id"))
    assert ours.text == "".join(m.text for m in theirs)


def test_agent_loop_sends_the_recorded_request() -> None:
    """The public manual loop on 005 (reasoning then a call) builds request 006 exactly: the reasoning
    item verbatim, the call with its item id, the tool's result, and the tools."""
    [first] = [w for w in wire.load(API) if w.name.startswith("005_")]
    [second] = [w for w in wire.load(API) if w.name.startswith("006_")]
    [result] = [i["output"] for i in second.request["input"] if i.get("type") == "function_call_output"]
    tools = [Tool.from_spec(spec, lambda city: result) for spec in second.request["tools"]]
    agent = Agent(name="wire-responses", tools=tools, llm_provider=LLMProvider.OPEN_AI_RESPONSES,
                  store=InMemoryStore(), finish_tool=False)
    agent.add_task(input=second.request["input"][0]["content"])

    agent.add_messages(first.response)
    agent.run_tools(Agent.extract_tool_calls(first.response, llm_provider=LLMProvider.OPEN_AI_RESPONSES))

    assert agent.request_kwargs() == {"input": second.request["input"], "tools": second.request["tools"]}
    agent.add_messages(second.response)
    assert agent.is_finished()
    assert agent.retrieve_execution_result().result == second.response["output"][0]["content"][0]["text"]


@pytest.mark.parametrize("w", FUNCTION_TOOLS)
def test_function_tools_render_as_recorded(w: wire.WireFile) -> None:
    """Flat function tools with `strict` always sent (left out, the Responses API makes a tool strict)."""
    specs = [t for t in w.request["tools"] if t["type"] == "function"]
    tools = [Tool.from_spec(spec, _no_op) for spec in specs]

    rendered = OpenAIResponsesAdapter().render_tools([t.definition for t in tools])

    assert [normalise_tool(t) for t in rendered] == [normalise_tool(t) for t in specs]
    assert all(isinstance(t["strict"], bool) for t in rendered)


@pytest.mark.parametrize("w", CUSTOM_TOOLS)
def test_custom_tools_render_as_recorded(w: wire.WireFile) -> None:
    """A custom tool's grammar rides in `ToolDefinition.provider_details["format"]`."""
    specs = [t for t in w.request["tools"] if t["type"] == "custom"]
    definitions = [ToolDefinition(name=s["name"], description=s.get("description", ""), parameters={},
                                  tool_type="custom", provider_details={"format": s["format"]} if "format" in s
                                  else None) for s in specs]

    rendered = OpenAIResponsesAdapter().render_tools(definitions)

    assert [normalise_tool(t) for t in rendered] == [normalise_tool(t) for t in specs]




# --- rendering what other providers wrote -------------------------------------------------------------


def test_foreign_parts_are_dropped_or_converted_and_said_so() -> None:
    """Reasoning and blocks only another provider reads are dropped, a refusal in a user message is
    sent as text; each is a note of the renderer's report, and nothing else is touched."""
    assistant = Message(role="assistant", provider="anthropic", parts=(
        ReasoningPart(text="hmm", provider="anthropic", signature="sig"),
        TextPart(text="Let me look.", provider_details={"anthropic": {"citations": []}}),
        OpaquePart(provider="anthropic", data={"type": "server_tool_use"}),
        ToolCallPart(id="toolu_01A", name="look", arguments="{}"),
    ))
    user = Message(role="user", parts=(TextPart(text="Go on."), RefusalPart(text="no")))
    renderer = OpenAIResponsesAdapter().renderer()

    items = renderer.render([assistant, user])

    assert items == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look.",
                                                              "annotations": []}]},
        {"type": "function_call", "call_id": "toolu_01A", "name": "look", "arguments": "{}"},
        {"role": "user", "content": [{"type": "input_text", "text": "Go on."}, {"type": "input_text", "text": "no"}]},
    ]
    assert [(n.part_kind, n.action) for n in renderer.report.notes] == [
        ("reasoning", "dropped"), ("opaque", "dropped"), ("refusal", "converted")]
    assert all("anthropic" in n.reason for n in renderer.report.dropped)


def test_refusal_goes_back_as_a_refusal_part_and_stops_as_refusal() -> None:
    response = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4o", "output": [
        {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
         "content": [{"type": "refusal", "refusal": "I can't help with that."}]}]}
    adapter = OpenAIResponsesAdapter()
    [message] = adapter.parse(response)

    assert (message.refusal, message.stop_reason, message.raw_stop_reason) == (
        "I can't help with that.", "refusal", "completed")
    assert adapter.render_message(message) == response["output"]


def test_results_of_custom_calls_are_custom_outputs_and_ids_are_made_acceptable() -> None:
    """A result knows nothing of its call's type: the renderer finds it among the calls before it. A
    call id the API would refuse (too long, odd characters) is replaced the same way in call and result."""
    long_id = "functions.math_exp:0/" + "x" * 80
    thread = [
        Message(role="assistant", parts=(ToolCallPart(id=long_id, name="math_exp", arguments="4 + 4",
                                                      tool_type="custom"),
                                         ToolCallPart(id="call_2", name="add", arguments='{"a":1}'))),
        Message(role="tool", parts=(ToolResultPart(tool_call_id=long_id, name="math_exp", content="8"),
                                    ToolResultPart(tool_call_id="call_2", name="add", content="1"))),
    ]

    items = OpenAIResponsesAdapter().renderer().render(thread)

    custom_id = items[0]["call_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", custom_id)
    assert items == [
        {"type": "custom_tool_call", "call_id": custom_id, "name": "math_exp", "input": "4 + 4"},
        {"type": "function_call", "call_id": "call_2", "name": "add", "arguments": '{"a":1}'},
        {"type": "custom_tool_call_output", "call_id": custom_id, "output": "8"},
        {"type": "function_call_output", "call_id": "call_2", "output": "1"},
    ]


def test_wire_items_keep_what_only_they_carry() -> None:
    """A developer message, an image, a list output and a server-side item render back as they came."""
    items = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,iVBO",
                                      "detail": "low"}]},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        {"type": "custom_tool_call", "call_id": "call_9", "name": "grep", "input": "x", "id": "ctc_9"},
        {"type": "custom_tool_call_output", "call_id": "call_9",
         "output": [{"type": "input_text", "text": "found"}]},
        {"type": "item_reference", "id": "msg_0"},
    ]
    adapter = OpenAIResponsesAdapter()
    neutral = [adapter.parse_wire_message(i) for i in items]

    assert adapter.renderer().render(neutral) == items
    assert [m.role for m in neutral] == ["system", "user", "assistant", "assistant", "tool", "assistant"]
    assert neutral[4].tool_results[0].content == "found"


def test_chat_completions_message_is_refused_as_an_input_item() -> None:
    with pytest.raises(ResponseParseError, match="Chat Completions"):
        OpenAIResponsesAdapter().parse([{"role": "assistant", "content": None, "tool_calls": []}])
