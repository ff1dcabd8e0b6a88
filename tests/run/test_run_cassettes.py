"""End to end from cassettes: `run`, `arun`, `stream` and `astream` on Chat Completions, Responses and
Anthropic Messages, with the real `openai` and `anthropic` SDK clients (fake keys, default base URLs;
vcrpy answers in place of the network), plus one thread handed from Chat to Anthropic to Responses.

The cassettes in cassettes/runs/ were made by tools/record_runs.py (see the note in each). Requests match
on their parsed JSON body, so a change to what loopline sends shows up as a request with no recording.
Expected usage comes from the recorded responses themselves, read here independently of loopline's
parsers; expected calls, results and messages are spelled out.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopline import Agent, ExecutionResult, ExecutionStatus, Message, SQLiteStore, Usage
from loopline.agent import Finished, RunEvent, StatusChanged, ToolResult, UsageReport
from loopline.messages import ReasoningPart, TextPart, ToolCallPart, ToolResultPart
from loopline.providers import ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart
from loopline.testing import REQUEST_HEADERS, RESPONSE_HEADERS, use_cassette
from sdk_clients import sdk_client

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import trip_desk as desk  # noqa: E402

MODELS = {"chat": desk.CHAT_MODEL, "responses": desk.RESPONSES_MODEL, "anthropic": desk.ANTHROPIC_MODEL}
PROVIDER = {"chat": "openai", "responses": "openai_responses", "anthropic": "anthropic"}
PRICES = {"chat": (0.15, 0.075, 0.60), "responses": (0.25, 0.025, 2.00), "anthropic": (3.00, 0.30, 15.00)}
"""USD per million tokens (input, cached input, output) of gpt-4o-mini, gpt-5-mini and Claude Sonnet 4.6."""

DATE = "2025-06-14"
ANSWER = ("The cheapest direct flight is Norwegian DY1310 on 14 June 2025, leaving Oslo at 07:05 and landing in "
          "Lisbon at 09:55, for 1840 NOK. Lisbon will be sunny when you land: 18-27 °C with a light wind of 14 km/h.")
FARE = "The 1840 NOK fare is about 157.87 EUR (at 0.0858 EUR per NOK)."
NOTE = ("Your cheapest direct flight is Norwegian DY1310 on 14 June, leaving Oslo at 07:05 and landing in Lisbon at "
        "09:55 for 1840 NOK (about 157.87 EUR). Pack sunglasses and light clothes: Lisbon expects sunny skies and "
        "18-27 °C.")
FLIGHTS = [
    {"flight": "TP1753", "carrier": "TAP Air Portugal", "departs": "11:40", "arrives": "14:25", "stops": 0,
     "price": 2140, "currency": "NOK"},
    {"flight": "DY1310", "carrier": "Norwegian", "departs": "07:05", "arrives": "09:55", "stops": 0, "price": 1840,
     "currency": "NOK"},
    {"flight": "LH863", "carrier": "Lufthansa", "departs": "06:00", "arrives": "12:10", "stops": 1, "price": 1690,
     "currency": "NOK"},
]
WEATHER = {"city": "Lisbon", "date": DATE, "high_c": 27, "low_c": 18, "sky": "sunny", "wind_kmh": 14}
NOT_IATA = ("Error: tool 'find_flights' raised ValueError: origin 'Oslo' is not an IATA airport code "
            "(three capital letters, e.g. 'OSL')")

# The researcher's three steps: what it calls, and what each call gives back (name, is_error, content).
RESEARCH: list[tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, bool, Any]]]] = [
    ([("find_flights", {"origin": "Oslo", "destination": "Lisbon", "date": DATE}),
      ("get_weather", {"city": "Lisbon", "date": DATE})],
     [("find_flights", True, NOT_IATA), ("get_weather", False, WEATHER)]),
    ([("find_flights", {"origin": "OSL", "destination": "LIS", "date": DATE})],
     [("find_flights", False, FLIGHTS)]),
    ([("finish", {"result": ANSWER, "is_success": True})],
     [("finish", False, ANSWER)]),
]
NARRATION = ["I'll search for flights and check the Lisbon forecast at the same time.",
             "The flight search wants airport codes, so I'll retry with OSL and LIS.",
             "I have the flights and the forecast."]
"""What Claude says before its calls at each step (the OpenAI models call without a word)."""


@pytest.fixture(autouse=True)
def _default_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs' default base URLs, whatever the environment says."""
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _client(api: str, way: str) -> Any:
    return sdk_client(api, asynchronous=desk.is_async(way), api_key="test-key-not-real")


# --- what the cassette recorded, read without loopline ----------------------------------------------


def _interactions(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text())["interactions"])


def _api_of(uri: str) -> str:
    return {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "anthropic"}[
        re.sub(r"^https://[^/]+", "", uri)]


def _sse_data(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ") and line != "data: [DONE]"]


def _raw_usage(api: str, body: dict[str, Any]) -> dict[str, Any]:
    """The usage object of a recorded response, from its JSON body or from its stream's events."""
    if "json" in body:
        return dict(body["json"]["usage"])
    events = _sse_data(body["string"])
    if api == "chat":
        return dict(next(e["usage"] for e in events if e.get("usage")))
    if api == "responses":
        return dict(next(e["response"]["usage"] for e in events if e["type"] == "response.completed"))
    start = next(e["message"]["usage"] for e in events if e["type"] == "message_start")
    return {**start, **next(e["usage"] for e in events if e["type"] == "message_delta")}


def _usage(api: str, raw: dict[str, Any]) -> Usage:
    if api == "chat":
        return Usage(input_tokens=raw["prompt_tokens"], output_tokens=raw["completion_tokens"],
                     cached_tokens=raw["prompt_tokens_details"]["cached_tokens"],
                     reasoning_tokens=raw["completion_tokens_details"]["reasoning_tokens"], requests=1)
    if api == "responses":
        return Usage(input_tokens=raw["input_tokens"], output_tokens=raw["output_tokens"],
                     cached_tokens=raw["input_tokens_details"]["cached_tokens"],
                     reasoning_tokens=raw["output_tokens_details"]["reasoning_tokens"], requests=1)
    read, written = raw["cache_read_input_tokens"], raw["cache_creation_input_tokens"]
    return Usage(input_tokens=raw["input_tokens"] + read + written, output_tokens=raw["output_tokens"],
                 cached_tokens=read, cache_write_tokens=written, requests=1)


def recorded_usage(path: Path, api: str) -> list[Usage]:
    """Each recorded response's usage, in order, for the requests made to `api`."""
    return [_usage(api, _raw_usage(api, i["response"]["body"])) for i in _interactions(path)
            if _api_of(i["request"]["uri"]) == api]


def recorded_requests(path: Path, api: str) -> list[dict[str, Any]]:
    return [i["request"]["body"]["json"] for i in _interactions(path) if _api_of(i["request"]["uri"]) == api]


def cost(api: str, usages: list[Usage]) -> float:
    plain, cached, out = PRICES[api]
    return sum((u.input_tokens - u.cached_tokens) * plain + u.cached_tokens * cached + u.output_tokens * out
               for u in usages) / 1_000_000


def total(usages: list[Usage]) -> Usage:
    return sum(usages, Usage())


# --- what loopline did, summarised for whole-value comparison ---------------------------------------


def _part(part: Any) -> tuple[Any, ...]:
    match part:
        case TextPart():
            return ("text", part.text)
        case ToolCallPart():
            return ("call", part.name, json.loads(part.arguments))
        case ToolResultPart():
            content = part.content if part.is_error or part.name == "finish" else json.loads(part.content)
            return ("result", part.name, part.is_error, content)
        case ReasoningPart():
            return ("reasoning", part.provider)
    return (part.kind,)


def summary(message: Message) -> tuple[Any, ...]:
    return (message.role, message.provider, [_part(p) for p in message.parts])


def researcher_messages(api: str) -> list[tuple[Any, ...]]:
    """The thread the researcher leaves on `api`: the question, then each step's response and results."""
    messages: list[tuple[Any, ...]] = [("user", None, [("text", desk.QUESTION)])]
    for step, (calls, results) in enumerate(RESEARCH):
        said = {"anthropic": [("text", NARRATION[step])], "responses": [("reasoning", "openai_responses")]}
        messages.append(("assistant", PROVIDER[api], [*said.get(api, []), *(("call", n, a) for n, a in calls)]))
        messages.append(("tool", None, [("result", *r) for r in results]))
    return messages


def compress(events: list[RunEvent]) -> list[tuple[Any, ...]]:
    """Stream events with consecutive deltas of one text or call joined (call arguments parsed)."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        match event:
            case TextDelta(text=text) if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + text)
            case TextDelta(text=text):
                out.append(("text", text))
            case ReasoningDelta(text=text):
                out.append(("reasoning", text))
            case ToolCallStart(index=index, name=name):
                out += [("start", index, name), ("args", index, "")]
            case ToolCallDelta(index=index, arguments=piece):
                at = max(i for i, e in enumerate(out) if e[:2] == ("args", index))
                out[at] = ("args", index, out[at][2] + piece)
            case ToolCallEnd(index=index):
                out.append(("end", index))
            case UsageReport(usage=usage):
                out.append(("usage", usage))
            case ToolResult(result=result):
                out.append(("result", result.function_name, result.is_error))
            case StatusChanged(status=status):
                out.append(("status", status))
            case Finished(result=result):
                out.append(("finished", result.status))
    return [("args", e[1], json.loads(e[2])) if e[0] == "args" else e for e in out]


def expected_stream(api: str, steps: list[tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, bool, Any]]]],
                    usages: list[Usage], narration: list[str | None]) -> list[tuple[Any, ...]]:
    """The events a run of `steps` streams on `api`: Claude's text block, when it says something, comes
    first (its calls then count from index 1), the Responses reasoning item takes output index 0, and
    Chat ends all its calls at the finish reason."""
    events: list[tuple[Any, ...]] = []
    for (calls, results), usage, said in zip(steps, usages, narration, strict=True):
        first = 1 if api == "responses" or (api == "anthropic" and said) else 0
        if api == "anthropic" and said:
            events.append(("text", said))
        for i, (name, args) in enumerate(calls, start=first):
            events += [("start", i, name), ("args", i, args)] + ([] if api == "chat" else [("end", i)])
        events += [("end", i) for i in range(len(calls))] if api == "chat" else []
        events.append(("usage", usage))
        events += [("result", name, is_error) for name, is_error, _ in results]
    return [*events, ("status", ExecutionStatus.COMPLETED), ("finished", ExecutionStatus.COMPLETED)]


def assert_calls_answered_in_order(thread: list[Message]) -> None:
    """Every result answers the call before it, in the order the calls were made."""
    for asked, answered in itertools.pairwise(thread):
        if asked.role == "assistant" and asked.tool_calls:
            assert [r.tool_call_id for r in answered.tool_results] == [c.id for c in asked.tool_calls]


# --- the tests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("way", desk.WAYS)
@pytest.mark.parametrize("api", list(MODELS))
def test_the_researcher_replays_end_to_end(api: str, way: str, tmp_path: Path) -> None:
    cassette_path = desk.CASSETTES / f"{api}_{way}.yaml"
    db = tmp_path / "threads.db"
    agent = desk.researcher(SQLiteStore(db))
    with use_cassette(cassette_path) as cassette:
        result, events = desk.run_one_way(agent, way, desk.QUESTION, model=MODELS[api], client=_client(api, way))
        assert cassette.all_played and cassette.play_count == len(RESEARCH)

    assert (result.status, result.error, result.result, result.steps) == (ExecutionStatus.COMPLETED, None, ANSWER, 3)
    usages = recorded_usage(cassette_path, api)
    assert result.usage == total(usages)
    assert result.cost_usd == pytest.approx(cost(api, usages), rel=1e-9)
    assert result.cost_usd > 0

    stored = SQLiteStore(db).get_messages(result.thread_id)
    assert [summary(m) for m in stored] == researcher_messages(api)
    assert stored == agent.thread
    assert_calls_answered_in_order(stored)

    if way in ("stream", "astream"):
        narration: list[str | None] = list(NARRATION) if api == "anthropic" else [None] * 3
        assert compress(events) == expected_stream(api, RESEARCH, usages, narration)
        totals = [e for e in events if isinstance(e, UsageReport)]
        assert [e.total for e in totals] == [total(usages[: n + 1]) for n in range(len(usages))]
        assert totals[-1].cost_usd == pytest.approx(result.cost_usd)
        streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert streamed == "".join(m.text for m in stored if m.role == "assistant")
    else:
        assert events == []


def _handoff(db: Path) -> tuple[list[ExecutionResult], list[RunEvent], list[Agent]]:
    store = SQLiteStore(db)
    researcher, budget, writer = desk.researcher(store), desk.budget_checker(store), desk.note_writer(store)
    with use_cassette(desk.CASSETTES / "handoff.yaml") as cassette:
        first, _ = desk.run_one_way(researcher, "run", desk.QUESTION, model=MODELS["chat"],
                                    client=_client("chat", "run"))
        budget.add_task(desk.CONVERT, thread_id=first.thread_id)
        second, events = desk.run_one_way(budget, "stream", None, model=MODELS["anthropic"],
                                          client=_client("anthropic", "stream"))
        writer.add_task(desk.WRITE_UP, thread_id=first.thread_id)
        third, _ = desk.run_one_way(writer, "arun", None, model=MODELS["responses"],
                                    client=_client("responses", "arun"))
        assert cassette.all_played
    return [first, second, third], events, [researcher, budget, writer]


CONVERSION = {"amount": 1840, "from": "NOK", "to": "EUR", "rate": 0.0858, "converted": 157.87}
BUDGET_STEPS: list[tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, bool, Any]]]] = [
    ([("convert_currency", {"amount": 1840, "from_currency": "NOK", "to_currency": "EUR"})],
     [("convert_currency", False, CONVERSION)]),
    ([("finish", {"result": FARE, "is_success": True})], [("finish", False, FARE)]),
]


def test_a_thread_handed_from_chat_to_anthropic_to_responses_replays(tmp_path: Path) -> None:
    path, db = desk.CASSETTES / "handoff.yaml", tmp_path / "threads.db"
    (first, second, third), events, agents = _handoff(db)

    assert [(r.status, r.error, r.result, r.steps) for r in (first, second, third)] == [
        (ExecutionStatus.COMPLETED, None, ANSWER, 3), (ExecutionStatus.COMPLETED, None, FARE, 2),
        (ExecutionStatus.COMPLETED, None, NOTE, 1)]
    assert first.thread_id == second.thread_id == third.thread_id
    assert len({r.execution_id for r in (first, second, third)}) == 3
    for result, api in zip((first, second, third), ("chat", "anthropic", "responses"), strict=True):
        usages = recorded_usage(path, api)
        assert result.usage == total(usages)
        assert result.cost_usd == pytest.approx(cost(api, usages), rel=1e-9)

    stored = SQLiteStore(db).get_messages(first.thread_id)
    assert [summary(m) for m in stored] == [
        *researcher_messages("chat"),
        ("user", None, [("text", desk.CONVERT)]),
        ("assistant", "anthropic", [("text", "I'll convert the 1840 NOK fare to euros."),
                                    ("call", *BUDGET_STEPS[0][0][0])]),
        ("tool", None, [("result", *BUDGET_STEPS[0][1][0])]),
        ("assistant", "anthropic", [("call", *BUDGET_STEPS[1][0][0])]),
        ("tool", None, [("result", *BUDGET_STEPS[1][1][0])]),
        ("user", None, [("text", desk.WRITE_UP)]),
        ("assistant", "openai_responses", [("reasoning", "openai_responses"), ("text", NOTE)]),
    ]
    assert stored == agents[2].thread
    assert_calls_answered_in_order(stored)
    assert compress(events) == expected_stream("anthropic", BUDGET_STEPS, recorded_usage(path, "anthropic"),
                                               ["I'll convert the 1840 NOK fare to euros.", None])


def test_the_handoff_requests_render_the_foreign_history_for_each_api() -> None:
    """What the cassette holds is what loopline sent (replays match on it): Chat's history as Anthropic
    turns and as Responses items, the failed call still marked as failed, and no instructions of another
    agent anywhere."""
    path = desk.CASSETTES / "handoff.yaml"
    claude = recorded_requests(path, "anthropic")[0]
    roles = [m["role"] for m in claude["messages"]]
    assert roles == [*["user", "assistant"] * 3, "user"] and claude["system"] == desk.budget_checker().instructions
    first_results = claude["messages"][2]["content"]
    assert [(b["type"], b["is_error"], b["content"].startswith("Error: ")) for b in first_results] == [
        ("tool_result", True, True), ("tool_result", False, False)]
    assert claude["messages"][-1]["content"][-1] == {"type": "text", "text": desk.CONVERT}

    responses = recorded_requests(path, "responses")[0]
    kinds = [item.get("type", item.get("role")) for item in responses["input"]]
    assert kinds == ["user", "function_call", "function_call", "function_call_output", "function_call_output",
                     "function_call", "function_call_output", "function_call", "function_call_output", "user",
                     "message", "function_call", "function_call_output", "function_call", "function_call_output",
                     "user"]
    assert responses["instructions"] == desk.note_writer().instructions
    everything = json.dumps([claude, responses])
    assert desk.researcher().instructions not in everything


CASSETTES = sorted(desk.CASSETTES.glob("*.yaml"))


def test_every_way_on_every_api_has_a_cassette() -> None:
    names = {p.stem for p in CASSETTES}
    assert names == {f"{api}_{way}" for api in MODELS for way in desk.WAYS} | {"handoff"}


@pytest.mark.parametrize("path", CASSETTES, ids=[p.name for p in CASSETTES])
def test_run_cassettes_are_secret_free_and_say_how_they_were_made(path: Path) -> None:
    text = path.read_text()
    data = yaml.safe_load(text)
    for item in data["interactions"]:
        assert {k.lower() for k in item["request"]["headers"]} <= REQUEST_HEADERS
        assert {k.lower() for k in item["response"]["headers"]} <= RESPONSE_HEADERS
        streamed = isinstance(item["request"]["body"], dict) and item["request"]["body"]["json"].get("stream")
        assert ("string" in item["response"]["body"]) == bool(streamed)  # SSE text exactly when asked to stream
    assert not re.search(r"sk-[A-Za-z0-9_-]{8,}|sk-ant-|Bearer |org-[A-Za-z0-9]{10,}|proj_[A-Za-z0-9]{10,}", text)
    assert "test-key-not-real" not in text and "scripted-no-key" not in text
    note = data["metadata"]["loopline"]["note"]
    assert note.startswith(("Scripted, not a live model", "Live traffic"))
