"""The Anthropic Messages adapter against recorded real traffic (`tests/wire/anthropic/messages`).

Every recorded response (as a dict and as the SDK's `Message`) must parse into the message its content
blocks hold, with normalised usage and stop reason, and give exactly the curator's derived tool calls;
every recorded stream (event dicts, SDK event objects, raw SSE text) must reassemble into what its
events add up to, and a stream cut before `message_stop` must be refused with `ResponseParseError`;
every recorded request must be what loopline renders for the same conversation; a response must render
back as the assistant turn the provider accepted in the next request of its cassette.

Comparisons are of parsed JSON (key order never matters) after `normalise_message`, which removes only
differences the API treats as equal. Expected values are built from the wire here, never by loopline.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import pytest
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from pydantic import TypeAdapter, ValidationError

import wire
from loopline import Agent, InMemoryStore, LLMProvider, Message, Tool, ToolCall, Usage
from loopline.errors import ProviderErrorResponse, ResponseParseError, UnknownToolCallError
from loopline.messages import OpaquePart, Part, ReasoningPart, StopReason, TextPart, ToolCallPart
from loopline.providers import AnthropicAdapter

API = "anthropic/messages"
PROVIDER = "anthropic"

STOP_REASONS: dict[str, StopReason] = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}
"""The recorded stop_reasons and what loopline must call them."""

DERIVED_TYPE = {"tool_use": "function"}
"""The corpus calls an Anthropic tool call `tool_use`; loopline's `ToolCall.type` for it is `function`."""

UNREPRESENTABLE_TOOL_KEYS = frozenset({"defer_loading"})
"""Recorded tool fields a `ToolDefinition` has no place for (015's tool-search beta): not compared."""

_EVENT = TypeAdapter(RawMessageStreamEvent)


def _plain_response(w: wire.WireFile) -> bool:
    return not w.stream and not w.is_error


def _has_tool_results(w: wire.WireFile) -> bool:
    return any(isinstance(m["content"], list) and any(b["type"] == "tool_result" for b in m["content"])
               for m in w.request["messages"])


def _results_answer_their_calls(w: wire.WireFile) -> bool:
    """Whether every tool_result answers a tool_use of the assistant turn just before it.

    013 is recorded with a tool_result for `toolu_01DYJ...` after an assistant turn that called
    `toolu_01Uiy...`: the API accepted it, but an agent rightly refuses a result for a call it never saw.
    """
    messages = w.request["messages"]
    for before, message in itertools.pairwise(messages):
        calls = {b["id"] for b in before["content"] if b["type"] == "tool_use"} if isinstance(
            before["content"], list) else set()
        results = {b["tool_use_id"] for b in message["content"] if b["type"] == "tool_result"} if isinstance(
            message["content"], list) else set()
        if not results <= calls:
            return False
    return True


def _has_function_tools(w: wire.WireFile) -> bool:
    return any("input_schema" in t for t in w.request.get("tools") or [])


RESPONSES = wire.params(API, _plain_response)
ERRORS = wire.params(API, lambda w: w.is_error)
STREAMS = wire.params(API, lambda w: w.stream and not w.is_error)
REQUESTS = wire.params(API)
HISTORIES = wire.params(API, lambda w: _has_tool_results(w) and _results_answer_their_calls(w))
MISMATCHED_HISTORIES = wire.params(API, lambda w: _has_tool_results(w) and not _results_answer_their_calls(w))
LOOPS = wire.pairs(API, lambda first, _second: _plain_response(first))
FUNCTION_TOOLS = wire.params(API, _has_function_tools)

# --- helpers ----------------------------------------------------------------------------------------


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def canonical(value: Any) -> str:
    """JSON text that is equal exactly when two values are equal as JSON (types included, order not)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def normalise_message(message: dict[str, Any]) -> dict[str, Any]:
    """One wire message with only the differences the API treats as equal removed.

    - string content is the same as one text block;
    - a tool_result's `"is_error": false` is the same as no `is_error`;
    - a tool_result's content as a list of text blocks is the same as their texts joined.
    """
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    out = []
    for block in blocks:
        if block.get("type") != "tool_result":
            out.append(block)
            continue
        result = dict(block)
        if result.get("is_error") is False:
            del result["is_error"]
        if isinstance(result.get("content"), list) and all(c.get("type") == "text" for c in result["content"]):
            result["content"] = "".join(c["text"] for c in result["content"])
        out.append(result)
    return {**message, "content": out}


def normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [normalise_message(m) for m in messages]


def call_dict(call: ToolCall) -> dict[str, Any]:
    """A parsed call in the shape of the corpus's `derived_tool_calls`."""
    return {"id": call.id, "type": call.type, "name": call.name, "arguments": call.arguments}


def derived_calls(w: wire.WireFile) -> list[dict[str, Any]]:
    """The curator's derived calls with the one naming difference mapped (`tool_use` -> `function`)."""
    return [{**c, "type": DERIVED_TYPE[c["type"]]} for c in w.derived_tool_calls]


def expected_usage(usage: dict[str, Any]) -> Usage:
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    return Usage(input_tokens=usage["input_tokens"] + cache_read + cache_write, output_tokens=usage["output_tokens"],
                 cached_tokens=cache_read, requests=1)


def expected_part(block: dict[str, Any]) -> Part:
    """The neutral part one response content block holds."""
    kind = block["type"]
    if kind == "text":
        return TextPart(text=block["text"])
    if kind == "thinking":
        return ReasoningPart(text=block["thinking"], signature=block["signature"], provider=PROVIDER)
    if kind == "redacted_thinking":
        return ReasoningPart(redacted=True, provider=PROVIDER, provider_details={"data": block["data"]})
    if kind == "tool_use":
        return ToolCallPart(id=block["id"], name=block["name"], arguments=compact_json(block["input"]))
    return OpaquePart(provider=PROVIDER, data=block)


def expected_message(response: dict[str, Any]) -> Message:
    """The neutral message a recorded response holds, built from the wire without loopline's parser."""
    reason = response["stop_reason"]
    return Message(role="assistant", parts=tuple(expected_part(b) for b in response["content"]), provider=PROVIDER,
                   model=response["model"], usage=expected_usage(response["usage"]), stop_reason=STOP_REASONS[reason],
                   raw_stop_reason=reason,
                   provider_details={k: response[k] for k in ("id", "stop_sequence") if response.get(k)})


def comparable(message: Message) -> Message:
    """The message without what is minted per parse (id, time)."""
    return dataclasses.replace(message, id="msg", created_at=0.0)


def as_response(w: wire.WireFile, form: str) -> Any:
    return SDKMessage.model_validate(w.response) if form == "sdk" else w.response


def sdk_event(event: dict[str, Any]) -> Any:
    """The SDK object of one stream event; `ping` is no `RawMessageStreamEvent`, so it stays a dict."""
    try:
        return _EVENT.validate_python(event)
    except ValidationError:
        assert event["type"] == "ping", f"an SDK-invalid event that is not a ping: {event}"
        return event


def stream_source(w: wire.WireFile, form: str) -> Any:
    if form == "sdk":
        return [sdk_event(e) for e in w.response]
    return w.data["raw_sse"] if form == "raw_sse" else w.response


def first_user_text(message: dict[str, Any]) -> str:
    assert message["role"] == "user"
    content = message["content"]
    if isinstance(content, str):
        return content
    [block] = content
    assert block["type"] == "text"
    return str(block["text"])


def tool_from_recorded(spec: dict[str, Any]) -> Tool:
    return Tool.from_spec({"type": "function", "function": {
        "name": spec["name"], "description": spec.get("description", ""), "parameters": spec["input_schema"],
        "strict": spec.get("strict", False)}}, _no_op)


def _no_op(**_kwargs: Any) -> None:
    return None


@dataclasses.dataclass
class StreamTruth:
    """What a stream's events add up to, read from the event dicts alone."""

    text: str
    blocks: dict[int, dict[str, Any]]
    raw_inputs: dict[int, str]
    usage: dict[str, Any]
    stop_reason: str


def stream_truth(events: list[dict[str, Any]]) -> StreamTruth:
    text: list[str] = []
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, list[str]] = {}
    usage: dict[str, Any] = {}
    stop_reason = ""
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            usage = dict(event["message"]["usage"])
        elif kind == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"])
        elif kind == "content_block_delta":
            block, delta = blocks[event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                text.append(delta["text"])
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] += delta["signature"]
            else:
                assert delta["type"] == "input_json_delta", delta
                partial.setdefault(event["index"], []).append(delta["partial_json"])
        elif kind == "message_delta":
            usage.update({k: v for k, v in event["usage"].items() if v is not None})
            stop_reason = event["delta"]["stop_reason"]
    raw_inputs = {i: "".join(p) for i, p in partial.items()}
    for index, raw in raw_inputs.items():
        blocks[index]["input"] = json.loads(raw) if raw else {}
    return StreamTruth(text="".join(text), blocks=blocks, raw_inputs=raw_inputs, usage=usage,
                       stop_reason=stop_reason)


# --- responses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_response_parses_into_its_message(w: wire.WireFile, form: str) -> None:
    messages = AnthropicAdapter().parse(as_response(w, form))

    assert [comparable(m) for m in messages] == [comparable(expected_message(w.response))]


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_usage_and_stop_reason_are_normalised(w: wire.WireFile, form: str) -> None:
    [message] = AnthropicAdapter().parse(as_response(w, form))
    usage = w.response["usage"]
    cache_read = usage.get("cache_read_input_tokens") or 0
    reason = w.response["stop_reason"]

    assert (message.usage, message.stop_reason, message.raw_stop_reason) == (
        Usage(input_tokens=usage["input_tokens"] + cache_read + (usage.get("cache_creation_input_tokens") or 0),
              output_tokens=usage["output_tokens"], cached_tokens=cache_read, requests=1),
        STOP_REASONS[reason], reason)


@pytest.mark.parametrize("w", RESPONSES)
def test_prompt_cache_counters_add_to_input(w: wire.WireFile) -> None:
    """Every recorded cache counter is 0 (or absent), so this copy of each response sets them: cache
    reads and writes are both part of the input, and reads are the cached tokens."""
    response = {**w.response, "usage": {**w.response["usage"], "cache_read_input_tokens": 1000,
                                        "cache_creation_input_tokens": 300}}

    [message] = AnthropicAdapter().parse(response)

    assert message.usage is not None
    assert (message.usage.input_tokens, message.usage.cached_tokens, message.usage.output_tokens) == (
        w.response["usage"]["input_tokens"] + 1300, 1000, w.response["usage"]["output_tokens"])


def test_every_recorded_stop_reason_is_covered() -> None:
    """The mapping above is checked against the recordings, max_tokens (016) included."""
    reasons = {w.response["stop_reason"] for w in wire.load(API) if _plain_response(w)}
    assert reasons == set(STOP_REASONS)


@pytest.mark.parametrize("form", ["dict", "sdk"])
@pytest.mark.parametrize("w", RESPONSES)
def test_extract_tool_calls_matches_derived(w: wire.WireFile, form: str) -> None:
    calls = Agent.extract_tool_calls(as_response(w, form), llm_provider=LLMProvider.ANTHROPIC)

    assert [call_dict(c) for c in calls] == derived_calls(w)
    assert [(c.raw_arguments, c.arguments_error) for c in calls] == [
        (compact_json(b["input"]), None) for b in w.response["content"] if b["type"] == "tool_use"]


@pytest.mark.parametrize("w", ERRORS)
def test_error_body_raises_provider_error(w: wire.WireFile) -> None:
    error = w.response["error"]
    parsers = (AnthropicAdapter().parse, lambda r: Agent.extract_tool_calls(r, llm_provider=LLMProvider.ANTHROPIC))
    for parse in parsers:
        with pytest.raises(ProviderErrorResponse) as info:
            parse(w.response)

        exc = info.value
        assert (exc.provider, exc.error_type, exc.code, exc.body) == (PROVIDER, error["type"], error.get("code"),
                                                                      w.response)
        assert error["message"] in str(exc)


# --- streams ------------------------------------------------------------------------------------------


def test_only_ping_events_fail_sdk_validation() -> None:
    """The installed SDK's `RawMessageStreamEvent` has no `ping`; every other recorded event validates
    and dumps back to exactly the recorded dict."""
    streams = [w for w in wire.load(API) if w.stream and not w.is_error]
    invalid, changed = set(), []
    for w in streams:
        for n, event in enumerate(w.response):
            try:
                obj = _EVENT.validate_python(event)
            except ValidationError:
                invalid.add(event["type"])
                continue
            if obj.model_dump(mode="json", exclude_unset=True) != event:
                changed.append(f"{w.name}[{n}]")
    assert (invalid, changed) == ({"ping"}, [])


@pytest.mark.parametrize("form", ["dicts", "sdk", "raw_sse"])
@pytest.mark.parametrize("w", STREAMS)
def test_stream_reassembles_to_what_its_events_say(w: wire.WireFile, form: str) -> None:
    """A whole stream, as event dicts, SDK event objects or the raw SSE text, parses into one assistant
    message with the derived tool calls, the streamed text, reasoning, opaque blocks, usage and stop."""
    truth = stream_truth(w.response)
    blocks = [truth.blocks[i] for i in sorted(truth.blocks)]

    [message] = AnthropicAdapter().parse(stream_source(w, form))
    calls = [ToolCall.from_part(p) for p in message.tool_calls]

    assert message.role == "assistant"
    assert [p.kind for p in message.parts] == [expected_part(b).kind for b in blocks]
    assert [call_dict(c) for c in calls] == derived_calls(w)
    assert [(c.raw_arguments, c.arguments_error) for c in calls] == [
        (truth.raw_inputs[i], None) for i in sorted(truth.blocks) if truth.blocks[i]["type"] == "tool_use"]
    assert message.text == truth.text
    assert message.reasoning == tuple(p for b in blocks if isinstance(p := expected_part(b), ReasoningPart))
    assert [p for p in message.parts if isinstance(p, OpaquePart)] == [
        p for b in blocks if isinstance(p := expected_part(b), OpaquePart)]
    assert (message.usage, message.stop_reason, message.raw_stop_reason) == (
        expected_usage(truth.usage), STOP_REASONS[truth.stop_reason], truth.stop_reason)


def test_streams_hold_what_the_curator_says() -> None:
    """Guards the stream tests above against a corpus that no longer exercises what they claim."""
    streams = {w.name[:3]: stream_truth(w.response) for w in wire.load(API) if w.stream and not w.is_error}

    assert [b["type"] for b in streams["008"].blocks.values()] == ["redacted_thinking", "redacted_thinking", "text"]
    [thinking, _] = streams["009"].blocks.values()
    assert thinking["type"] == "thinking" and thinking["thinking"] and thinking["signature"]
    assert [b["type"] for b in streams["015"].blocks.values()] == [
        "text", "server_tool_use", "tool_search_tool_result", "text", "tool_use"]


@pytest.mark.parametrize("w", STREAMS)
def test_streamed_response_renders_back_as_its_blocks(w: wire.WireFile) -> None:
    """A reassembled stream goes back to Anthropic as the content blocks its events add up to (empty
    text blocks left out: Anthropic rejects them), with nothing of loopline's own added."""
    truth = stream_truth(w.response)
    adapter = AnthropicAdapter()
    [message] = adapter.parse(w.response)

    rendered = adapter.render_message(message)

    assert canonical(rendered) == canonical([{"role": "assistant", "content": [
        truth.blocks[i] for i in sorted(truth.blocks) if truth.blocks[i] != {"type": "text", "text": ""}]}])


def _event_cuts(w: wire.WireFile) -> list[tuple[str, Any]]:
    """Every prefix of the event list that stops before `message_stop` (at least one event)."""
    stop = [e["type"] for e in w.response].index("message_stop")
    return [(f"events[:{k}]", w.response[:k]) for k in range(1, stop + 1)]


def _sse_cuts(w: wire.WireFile) -> list[tuple[str, Any]]:
    """Prefixes of the raw SSE text cut at every line start and in the middle of every line, up to
    (not including) the closing brace of the `message_stop` payload."""
    raw: str = w.data["raw_sse"]
    end = raw.rindex("}")
    assert "message_stop" in raw[raw.rindex("\n", 0, end):end]
    offsets: set[int] = set()
    start = 0
    for line in raw.splitlines(keepends=True):
        offsets.update({start, start + len(line) // 2})
        start += len(line)
    return [(f"raw_sse[:{k}]", raw[:k]) for k in sorted(o for o in offsets if o < end)]


@pytest.mark.parametrize("w", STREAMS)
def test_cut_stream_raises_parse_error(w: wire.WireFile) -> None:
    """A stream cut anywhere before `message_stop` is refused with ResponseParseError, never passed as
    complete and never another exception."""
    wrong: list[str] = []
    for where, prefix in _event_cuts(w) + _sse_cuts(w):
        try:
            AnthropicAdapter().parse(prefix)
        except ResponseParseError:
            continue
        except Exception as exc:  # the point is to name any other exception
            wrong.append(f"{where}: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{where}: parsed without error")
    assert wrong == []


# --- requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("w", REQUESTS)
def test_adapter_renders_recorded_request_messages(w: wire.WireFile) -> None:
    """Parse each recorded request message into neutral ones (a user turn may split into its tool results
    and the rest), render them all: the same messages, and the system prompt beside them."""
    adapter = AnthropicAdapter()
    recorded = w.request["messages"]
    neutral = [n for m in recorded for n in adapter.parse_wire_messages(m)]

    kwargs = adapter.request_kwargs(system=w.request.get("system"), messages=adapter.renderer().render(neutral),
                                    tools=[])

    expected = {"messages": normalise_messages(recorded)} | (
        {"system": w.request["system"]} if "system" in w.request else {})
    assert {**kwargs, "messages": normalise_messages(kwargs["messages"])} == expected


@pytest.mark.parametrize("w", HISTORIES)
def test_agent_renders_recorded_history(w: wire.WireFile) -> None:
    """The public loop: the first user text as the task, the rest of the recording fed back with
    `add_messages`; `request_kwargs()` is the recorded request."""
    recorded = w.request["messages"]
    tools = w.request["tools"]
    agent = Agent(name=f"wire-{w.name}", instructions=w.request.get("system") or "",
                  tools=[tool_from_recorded(t) for t in tools], llm_provider=LLMProvider.ANTHROPIC,
                  store=InMemoryStore())
    agent.add_task(input=first_user_text(recorded[0]))
    agent.add_messages(list(recorded[1:]))

    kwargs = agent.request_kwargs()

    expected = {"messages": normalise_messages(recorded)} | (
        {"system": w.request["system"]} if "system" in w.request else {})
    assert {k: normalise_messages(v) if k == "messages" else v for k, v in kwargs.items() if k != "tools"} == expected
    offered = kwargs["tools"]
    assert [t["name"] for t in offered] == [t["name"] for t in tools] + ["finish"]  # the built-in finish tool last
    assert [t["input_schema"] for t in offered[:-1]] == [t["input_schema"] for t in tools]


@pytest.mark.parametrize("w", MISMATCHED_HISTORIES)
def test_agent_refuses_a_result_for_a_call_it_never_saw(w: wire.WireFile) -> None:
    """013's recorded history answers a tool_use id that its assistant turn never made."""
    recorded = w.request["messages"]
    agent = Agent(name=f"wire-{w.name}", tools=[tool_from_recorded(t) for t in w.request["tools"]],
                  llm_provider=LLMProvider.ANTHROPIC, store=InMemoryStore())
    agent.add_task(input=first_user_text(recorded[0]))
    [orphan] = [b["tool_use_id"] for b in recorded[-1]["content"] if b["type"] == "tool_result"]

    with pytest.raises(UnknownToolCallError) as info:
        agent.add_messages(list(recorded[1:]))

    assert info.value.tool_call_id == orphan


@pytest.mark.parametrize("pair", LOOPS)
def test_response_renders_as_the_next_request_sent_it(pair: tuple[wire.WireFile, wire.WireFile]) -> None:
    """Interaction n's response, parsed and rendered, is byte-for-byte (as JSON) the assistant turn of
    request n+1, thinking signatures included."""
    first, second = pair
    adapter = AnthropicAdapter()
    [message] = adapter.parse(first.response)
    sent_before = first.request["messages"]
    sent_after = second.request["messages"]
    assert sent_after[:len(sent_before)] == sent_before, "request n+1 does not extend request n"

    rendered = adapter.render_message(message)

    assert canonical(rendered) == canonical([sent_after[len(sent_before)]])


def test_round_trips_cover_the_known_loops() -> None:
    names = {(a.name[:3], b.name[:3]) for a, b in (p.values[0] for p in LOOPS)}
    assert {("001", "002"), ("003", "014"), ("004", "005")} <= names


@pytest.mark.parametrize("w", FUNCTION_TOOLS)
def test_tools_render_as_recorded(w: wire.WireFile) -> None:
    """Each recorded client tool, made with `Tool.from_spec`, renders back as recorded (`strict` only when
    true, an empty description kept)."""
    specs = [t for t in w.request["tools"] if "input_schema" in t]

    rendered = AnthropicAdapter().render_tools([tool_from_recorded(t).definition for t in specs])

    assert rendered == [{k: v for k, v in t.items() if k not in UNREPRESENTABLE_TOOL_KEYS} for t in specs]

