"""`ScriptedModel`: scripts in every wire format drive `run`, `arun`, `stream`, `astream` and the manual loop."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import threading
import warnings
from typing import Any
from unittest.mock import ANY

import pytest
from openai.types.chat import ChatCompletion

import wire
from loopline import Agent, InMemoryStore, LLMProvider, tool
from loopline.agent import Finished, ToolResult
from loopline.errors import ProviderErrorResponse, ScriptError, ScriptExhaustedError, UsageError
from loopline.providers import Model, StreamingModel, TextDelta, ToolCallDelta, ToolCallStart
from loopline.testing import Call, Reply, ScriptedModel, assert_result, assert_tool_calls, call, reply

PROVIDERS = [LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES, LLMProvider.ANTHROPIC]
MODES = ["run", "arun", "stream", "astream"]


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


def _agent(provider: LLMProvider = LLMProvider.OPEN_AI) -> Agent:
    return Agent("a", instructions="Be brief.", tools=[get_weather], llm_provider=provider, store=InMemoryStore())


def _drive(agent: Agent, model: Any, mode: str, question: str = "Weather in Oslo?") -> tuple[Any, list[Any]]:
    """Run the agent in `mode`; the result and the events (none for run/arun)."""
    if mode == "run":
        return agent.run(question, model=model), []
    if mode == "arun":
        return asyncio.run(agent.arun(question, model=model)), []
    if mode == "stream":
        events = list(agent.stream(question, model=model))
    else:
        async def collect() -> list[Any]:
            return [e async for e in agent.astream(question, model=model)]
        events = asyncio.run(collect())
    assert isinstance(events[-1], Finished)
    return events[-1].result, events


WEATHER = [reply("Let me look.", call("get_weather", city="Oslo")),
           reply(call("finish", result="Oslo: sunny", is_success=True))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", PROVIDERS, ids=[p.value for p in PROVIDERS])
def test_replies_drive_every_mode_in_every_format(provider: LLMProvider, mode: str) -> None:
    model = ScriptedModel(WEATHER, provider=provider)
    assert isinstance(model, Model) and isinstance(model, StreamingModel)
    agent = _agent(provider)
    result, events = _drive(agent, model, mode)

    assert_result(result, ok=True, value="Oslo: sunny", error=None)
    assert_tool_calls(agent, [call("get_weather", city="Oslo"), call("finish", result="Oslo: sunny", is_success=True)])
    assert [m.role for m in agent.thread] == ["user", "assistant", "tool", "assistant", "tool"]
    assert (agent.thread[1].text, agent.thread[1].provider, agent.thread[1].model) == (
        "Let me look.", provider.value, "scripted-model")
    assert result.usage.requests == 2 and result.usage.input_tokens == 20
    assert len(model.requests) == 2 and model.remaining == 0
    assert "sunny in Oslo" in json.dumps(model.requests[1])  # the tool's result went back, in that API's shape
    if mode in ("stream", "astream"):
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me look."
        starts = [e for e in events if isinstance(e, ToolCallStart)]
        assert [s.name for s in starts] == ["get_weather", "finish"]
        first_turn = events[: events.index(starts[1])]
        assert json.loads("".join(e.arguments for e in first_turn if isinstance(e, ToolCallDelta))) == {"city": "Oslo"}
        assert sum(isinstance(e, ToolCallDelta) for e in first_turn) > 1  # cut into pieces, as a provider streams
        assert [e.result.function_name for e in events if isinstance(e, ToolResult)] == ["get_weather", "finish"]


def test_requests_are_recorded_as_deep_copies_in_the_provider_shape() -> None:
    def answer(request: dict[str, Any]) -> Any:
        request["messages"].clear()  # what the function is given is its own copy
        return reply("Hi.")

    model = ScriptedModel(answer, provider="anthropic")
    agent = Agent("a", instructions="Be brief.", llm_provider="anthropic", store=InMemoryStore())
    agent.run("Hello", model=model)
    [request] = model.requests
    assert request["system"] == "Be brief."
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    assert [t["name"] for t in request["tools"]] == ["finish"]


@pytest.mark.parametrize("provider", PROVIDERS, ids=[p.value for p in PROVIDERS])
def test_the_provider_is_told_from_the_first_response(provider: LLMProvider) -> None:
    body = WEATHER[1].render(provider)
    assert ScriptedModel([reply("x"), body]).provider is provider
    assert ScriptedModel([reply("x")]).provider is LLMProvider.OPEN_AI
    assert ScriptedModel(lambda request: body, provider=provider).provider is provider


def test_mixing_formats_is_a_named_error() -> None:
    chat, anthropic = WEATHER[0].render("openai"), WEATHER[0].render("anthropic")
    with pytest.raises(ScriptError, match=r"script item 1 is an Anthropic Messages response, but item 0 is an "
                                          r"OpenAI Chat Completions response, so it speaks openai"):
        ScriptedModel([chat, anthropic])
    with pytest.raises(ScriptError, match="script item 0 is an OpenAI Chat Completions response, but it speaks "
                                          "anthropic"):
        ScriptedModel([chat], provider="anthropic")
    assert ScriptedModel([chat], provider="ollama").provider is LLMProvider.OLLAMA  # a Chat Completions server
    with pytest.raises(ScriptError, match="no known format"):
        ScriptedModel([{"role": "assistant", "content": "hi"}])
    with pytest.raises(ScriptError, match="list of message dicts is not a response"):
        ScriptedModel([[{"role": "assistant", "content": "hi"}]])
    with pytest.raises(ScriptError, match="takes a list of responses or a function"):
        ScriptedModel("hello")  # type: ignore[arg-type]


def test_running_out_says_how_many_were_scripted_and_shows_the_request() -> None:
    model = ScriptedModel([reply(call("get_weather", city="Oslo"))])
    with pytest.raises(ScriptExhaustedError) as info:
        _agent().run("Weather in Oslo?", model=model)
    message = str(info.value)
    assert message.startswith("ScriptedModel has no answer for request 2: it was scripted with 1 response, and all "
                              "were used. The request that had no answer:\n{")
    assert '"content": "sunny in Oslo"' in message and '"tools": [\n    "get_weather",\n    "finish"\n  ]' in message
    assert info.value.scripted == 1 and info.value.request == model.requests[1]


def test_an_exception_scripts_a_provider_failure() -> None:
    model = ScriptedModel([ConnectionError("the server hung up")])
    agent = _agent()
    result = agent.run("Weather?", model=model)
    assert_result(result, ok=False, status="failed", error_code="provider_error", error="the server hung up")
    assert [m.role for m in agent.thread] == ["user"]


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_an_exception_inside_a_stream_cuts_it_and_nothing_is_added(mode: str) -> None:
    [recorded] = [w for w in wire.load("openai/chat.completions") if w.name == "005_stream-single-call.json"]
    cut = [*recorded.response[:3], ConnectionResetError("stream cut"), *recorded.response[3:]]
    agent = _agent()
    result, events = _drive(agent, ScriptedModel([cut]), mode)
    assert_result(result, status="failed", error_code="provider_error", error="stream cut")
    assert any(isinstance(e, ToolCallStart) for e in events)  # it streamed, then broke off
    assert [m.role for m in agent.thread] == ["user"]
    with pytest.raises(ConnectionResetError):
        ScriptedModel([cut]).complete({})


@pytest.mark.parametrize("provider", PROVIDERS, ids=[p.value for p in PROVIDERS])
@pytest.mark.parametrize("mode", ["run", "stream"])
def test_an_error_body_fails_the_execution_like_the_provider(provider: LLMProvider, mode: str) -> None:
    api = {"openai": "openai/chat.completions", "openai_responses": "openai/responses",
           "anthropic": "anthropic/messages"}[provider.value]
    [error] = [w for w in wire.load(api) if w.is_error]
    result, _ = _drive(_agent(provider), ScriptedModel([error.response]), mode)
    assert_result(result, ok=False, error_code="provider_error", error=error.response["error"]["message"])


@pytest.mark.parametrize("mode", MODES)
def test_recorded_responses_and_streams_play_as_recorded(mode: str) -> None:
    """The first turn is a real recorded stream (played whole or streamed), the second a recorded-shape
    response; each can be asked for either way."""
    [recorded] = [w for w in wire.load("openai/responses") if w.name == "003_stream-single-call.json"]
    [derived] = recorded.derived_tool_calls
    finish = {"type": "function_call", "id": "fc_9", "call_id": "call_9", "name": "finish", "status": "completed",
              "arguments": json.dumps({"result": "London", "is_success": True})}
    second = {"id": "resp_9", "object": "response", "status": "completed", "model": "gpt-5-mini", "output": [finish],
              "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}

    @tool
    def get_capital(country: str) -> str:
        """The capital of a country."""
        return "London"

    agent = Agent("a", tools=[get_capital], llm_provider="openai_responses", store=InMemoryStore())
    model = ScriptedModel([recorded.data["raw_sse"], second])
    assert model.provider is LLMProvider.OPEN_AI_RESPONSES
    result, _ = _drive(agent, model, mode)
    assert_result(result, ok=True, value="London")
    assert_tool_calls(agent, [call(derived["name"], derived["arguments"]), "finish"])


def test_sdk_objects_are_accepted() -> None:
    body = WEATHER[1].render("openai")
    model = ScriptedModel([ChatCompletion.model_validate(body)])
    assert model.provider is LLMProvider.OPEN_AI
    assert_result(_agent().run("x", model=model), ok=True, value="Oslo: sunny")


def test_a_function_answers_every_request_and_sees_it() -> None:
    def answer(request: dict[str, Any]) -> Any:
        results = [m for m in request["messages"] if m["role"] == "tool"]
        if not results:
            return reply(call("get_weather", city="Oslo"), call("get_weather", city="Rome"))
        return reply(call("finish", result=" / ".join(m["content"] for m in results), is_success=True))

    model = ScriptedModel(answer)
    for _ in range(2):  # a function never runs out
        result = _agent().run("Compare.", model=model)
        assert_result(result, ok=True, value="sunny in Oslo / sunny in Rome")
    assert len(model.requests) == 4 and model.remaining == 0


def test_a_function_answering_in_another_format_is_refused() -> None:
    model = ScriptedModel(lambda request: WEATHER[0].render("anthropic"))
    with pytest.raises(ScriptError, match="answered request 1 with an Anthropic Messages response, but this "
                                          "ScriptedModel speaks openai; pass provider="):
        _agent().run("x", model=model)


def test_respond_drives_the_manual_loop() -> None:
    model = ScriptedModel(WEATHER, provider="anthropic")
    agent = _agent(LLMProvider.ANTHROPIC)
    agent.add_task("Weather in Oslo?")
    while not agent.is_finished():
        response = model.respond(agent)
        agent.add_messages(response)
        if calls := Agent.extract_tool_calls(response, llm_provider=model.provider):
            agent.run_tools(calls)
    assert_result(agent, ok=True, value="Oslo: sunny")
    assert model.requests[0]["system"] == "Be brief."


def test_concurrent_arun_shares_one_model_safely() -> None:
    """Many executions at once on one model: each request gets exactly one answer, none twice."""
    count = 40
    model = ScriptedModel([reply(call("finish", result=f"answer {n}", is_success=True)) for n in range(count)])

    async def all_at_once() -> list[Any]:
        return await asyncio.gather(*(_agent().arun(f"q{n}", model=model) for n in range(count)))

    results = asyncio.run(all_at_once())
    assert sorted(r.result for r in results) == sorted(f"answer {n}" for n in range(count))
    assert len(model.requests) == count and model.remaining == 0

    threaded = ScriptedModel([reply(f"t{n}") for n in range(count)])
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(threaded.complete({"messages": []}))) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    texts = [s["choices"][0]["message"]["content"] for s in seen]
    assert sorted(texts) == sorted(f"t{n}" for n in range(count))
    assert sorted(s["id"] for s in seen) == sorted(f"chatcmpl-scripted-{n}" for n in range(1, count + 1))


def test_a_reply_needs_arguments_for_its_calls() -> None:
    with pytest.raises(UsageError, match=r"call\('finish', \{\}\) for a call without any"):
        reply(call("finish"))


def test_an_error_body_in_the_manual_loop_raises_the_provider_error() -> None:
    model = ScriptedModel([{"error": {"message": "boom", "type": "server_error"}}])
    agent = _agent()
    agent.add_task("x")
    with pytest.raises(ProviderErrorResponse, match="boom"):
        agent.add_messages(model.respond(agent))


def test_replies_report_the_model_name_unless_they_name_one() -> None:
    model = ScriptedModel([reply(call("get_weather", city="Oslo")), reply("Done.", model="gpt-4o-2024-08-06")],
                          name="gpt-test")
    agent = _agent()
    assert_result(agent.run("x", model=model), ok=True, value="Done.")
    assert [m.model for m in agent.thread if m.role == "assistant"] == ["gpt-test", "gpt-4o-2024-08-06"]


# --- mistakes in a script are the test's bugs: ScriptError, out of run(), with the cause -------------


@pytest.mark.parametrize(("item", "says"), [
    ("Hello there", r"script item 0 is text without a single server-sent event \('Hello there'\); .* "
                    r"write reply\('Hello there'\)"),
    (b": keep-alive\n\n", "script item 0 is text without a single server-sent event"),
    ("data: {not json}\n\n", "script item 0 is text that is no valid server-sent-event stream"),
    ([], "script item 0 is an empty stream"),
    (ConnectionError, r"script item 0 is the exception class ConnectionError; give an instance"),
    ([ConnectionError], "a list holding something other than event dicts or exception instances"),
])
def test_items_that_cannot_be_played_are_refused_when_scripted(item: Any, says: str) -> None:
    with pytest.raises(ScriptError, match=says):
        ScriptedModel([item])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", [[], "", "plain text", ValueError], ids=["empty", "blank", "text", "class"])
def test_a_function_answering_something_unplayable_stops_the_run(mode: str, answer: Any) -> None:
    asked: list[dict[str, Any]] = []

    def respond(request: dict[str, Any]) -> Any:
        asked.append(request)
        if len(asked) > 3:  # what happened before: the loop asked again and again, forever
            return reply(call("finish", result="looped", is_success=True))
        return answer

    with pytest.raises(ScriptError, match="the function's answer to request 1 is"):
        _drive(_agent(), ScriptedModel(respond), mode)
    assert len(asked) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_function_that_raises_is_a_script_error_chained_to_its_exception(mode: str) -> None:
    def respond(request: dict[str, Any]) -> Any:
        return reply(request["input"][-1])  # a bug: Chat Completions requests have no "input"

    with pytest.raises(ScriptError, match=r"the function answering request 1 \(.*respond\) raised KeyError: "
                                          "'input'. To script a provider failure, return the exception") as info:
        _drive(_agent(), ScriptedModel(respond), mode)
    assert isinstance(info.value.__cause__, KeyError)
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize("mode", ["arun", "astream"])
def test_async_functions_answer_arun_and_astream(mode: str) -> None:
    async def respond(request: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        if not any(m["role"] == "tool" for m in request["messages"]):
            return reply(call("get_weather", city="Oslo"))
        return reply(call("finish", result="async: sunny", is_success=True))

    model = ScriptedModel([respond, respond])
    result, _ = _drive(_agent(), model, mode)
    assert_result(result, ok=True, value="async: sunny")
    result, _ = _drive(_agent(), ScriptedModel(respond), mode)
    assert_result(result, ok=True, value="async: sunny")


@pytest.mark.parametrize("mode", ["run", "stream"])
def test_an_async_function_in_a_sync_run_says_to_use_arun(mode: str) -> None:
    async def respond(request: dict[str, Any]) -> Any:
        return reply("never")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the coroutine is closed, never left un-awaited
        with pytest.raises(ScriptError, match=r"is async \(.*respond\); async functions answer arun\(\) and "
                                              r"astream\(\) only"):
            _drive(_agent(), ScriptedModel(respond), mode)


@pytest.mark.parametrize("mode", ["arun", "astream"])
def test_an_async_function_that_raises_is_a_script_error(mode: str) -> None:
    async def respond(request: dict[str, Any]) -> Any:
        raise LookupError("no such fixture")

    with pytest.raises(ScriptError, match="raised LookupError: no such fixture") as info:
        _drive(_agent(), ScriptedModel(respond), mode)
    assert isinstance(info.value.__cause__, LookupError)


def test_reply_arguments_must_be_json() -> None:
    for bad in (datetime.date(2025, 1, 1), {1, 2}, float("nan"), ANY):
        with pytest.raises(ScriptError, match=r"reply\(call\('book', ...\)\): the arguments must be JSON values"):
            reply(call("book", when=bad))
    assert reply(call("book", when="2025-01-01", seats=[1, 2], note=None)).calls[0].arguments == {
        "when": "2025-01-01", "seats": [1, 2], "note": None}


@pytest.mark.parametrize("mode", MODES)
def test_a_reply_that_cannot_be_rendered_is_a_script_error(mode: str) -> None:
    broken = Reply((Call("book", {"when": datetime.date(2025, 1, 1)}),))  # made without reply()'s checks
    with pytest.raises(ScriptError, match="reply 1 could not be rendered for openai: TypeError") as info:
        _drive(_agent(), ScriptedModel([broken]), mode)
    assert isinstance(info.value.__cause__, TypeError)


# --- running out shows the newest turn; respond() speaks the agent's API ------------------------------


def test_running_out_shows_the_newest_turn_of_a_long_request() -> None:
    @tool
    def fetch(url: str) -> str:
        """Fetch a page."""
        return "<html>" + "lorem ipsum " * 2000 + "</html>"

    model = ScriptedModel([reply(call("fetch", url="https://a")), reply(call("fetch", url="https://b"))])
    agent = Agent("a", instructions="You research.", tools=[fetch], store=InMemoryStore())
    with pytest.raises(ScriptExhaustedError) as info:
        agent.run("Compare a and b", model=model)
    message = str(info.value)
    assert len(message) < 6000
    assert '"tool_call_id": "call_2_0"' in message  # the result the model was to answer
    assert message.rstrip().endswith('"finish"\n  ]\n}')
    assert re.search(r"ipsum[ a-z]*\.\.\.\(\d{5} characters\)\.\.\.[ a-z]*ipsum", message)  # cut in the middle
    assert info.value.request == model.requests[2]  # the whole request is kept on the error


@pytest.mark.parametrize("provider", PROVIDERS, ids=[p.value for p in PROVIDERS])
def test_respond_renders_replies_for_the_agents_provider_when_the_script_fixes_none(provider: LLMProvider) -> None:
    model = ScriptedModel([reply(call("get_weather", city="Oslo")), reply(call("finish", result="ok",
                                                                                 is_success=True))])
    agent = _agent(provider)
    agent.add_task("Weather in Oslo?")
    while not agent.is_finished():
        response = model.respond(agent)
        agent.add_messages(response)
        if calls := Agent.extract_tool_calls(response, llm_provider=provider):
            agent.run_tools(calls)
    assert_result(agent, ok=True, value="ok")
    assert_tool_calls(agent, [call("get_weather", city="Oslo"), "finish"])
    fixed = ScriptedModel([reply("Hi.")], provider="openai")
    chat = _agent(LLMProvider.OPEN_AI)
    chat.add_task("x")
    assert fixed.respond(chat)["object"] == "chat.completion"  # a provider given is kept
