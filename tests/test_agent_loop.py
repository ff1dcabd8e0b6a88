"""The manual agent loop, end to end, against scripted Chat Completions responses.

    agent.add_task(input=...)
    while not agent.is_finished():
        response = <model>
        agent.add_messages(response)
        calls = Agent.extract_tool_calls(response)
        if calls:
            agent.run_tools(calls)

Every test uses its own `InMemoryStore` except the one about the process-wide default store.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pydantic
import pytest
from openai.types.chat import ChatCompletion

import loopline
from chat_responses import (
    MODEL,
    assistant_message,
    call,
    completion,
    expected_assistant,
    expected_system,
    expected_tool,
    expected_user,
    finish_call,
    raw_call,
    tool_message,
    usage,
)
from loopline import (
    Agent,
    Execution,
    ExecutionResult,
    ExecutionStatus,
    InMemoryStore,
    Limits,
    RunConfig,
    ToolCall,
    ToolCallResult,
    Usage,
    tool,
)
from loopline.agent import _agent as agent_module
from loopline.errors import ExecutionFinishedError
from loopline.loop import cost_of

REMINDER = ("You replied without calling a tool. When the task is done (or cannot be done), call the "
            "`finish` tool with the result; otherwise continue with the tools you have.")
NOT_RUN = "Error: not run; the execution ended before this call could run"


# --- fixtures and helpers ---------------------------------------------------------------------------


class FrozenClock:
    """Stands in for the `time` module inside `loopline.agent._agent`: time moves only when told."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(time.time())
    monkeypatch.setattr(agent_module, "time", frozen)
    return frozen


_release_slow = threading.Event()


@pytest.fixture
def release_slow_tool() -> Iterator[None]:
    _release_slow.clear()
    yield
    _release_slow.set()  # lets a timed-out call's thread end now instead of after its own wait


@tool
def get_weather(city: str) -> dict[str, str]:
    """The current weather in a city."""
    return {"city": city, "sky": "sunny"}


@tool
def boom() -> str:
    """Always fails."""
    raise RuntimeError("disk on fire")


@tool
def slow() -> str:
    """Takes its time."""
    _release_slow.wait(5)
    return "done"


def without_durations(results: Sequence[ToolCallResult]) -> list[ToolCallResult]:
    return [dataclasses.replace(r, duration=0.0) for r in results]


def assert_thread_valid(wire: list[dict[str, Any]]) -> None:
    """Every assistant tool call is answered by exactly one tool message right after its turn."""
    for i, message in enumerate(wire):
        if message["role"] != "assistant" or not message.get("tool_calls"):
            continue
        answers = []
        for later in wire[i + 1:]:
            if later["role"] != "tool":
                break
            answers.append(later["tool_call_id"])
        assert sorted(answers) == sorted(c["id"] for c in message["tool_calls"]), (message, answers)


def drive(agent: Agent, responses: Iterable[Any]) -> int:
    """Run the manual loop over scripted responses; returns how many responses were used."""
    script = iter(responses)
    used = 0
    while not agent.is_finished():
        response = next(script)
        used += 1
        agent.add_messages(response)
        calls = Agent.extract_tool_calls(response)
        if calls:
            agent.run_tools(calls)
    return used


def result_of(agent: Agent, status: ExecutionStatus, result: Any = None, *, error: str | None = None,
              error_code: str | None = None, usage: Usage, steps: int) -> ExecutionResult:
    assert agent.execution is not None
    # Cost accrues response by response; priced on the summed usage it may differ in the last bit.
    cost = agent.execution.cost_usd
    assert cost == pytest.approx(cost_of(MODEL, usage), rel=1e-9, abs=1e-12)
    return ExecutionResult(status=status, result=result, error=error, error_code=error_code,
                           execution_id=agent.execution.id, thread_id=agent.execution.thread_id, usage=usage,
                           steps=steps, cost_usd=cost)


def usage_of(*responses: dict[str, Any]) -> Usage:
    """The sum loopline should report for these responses."""
    total = Usage()
    for r in responses:
        u = r["usage"]
        total = total + Usage(input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"],
                              cached_tokens=u["prompt_tokens_details"]["cached_tokens"],
                              reasoning_tokens=u["completion_tokens_details"]["reasoning_tokens"], requests=1)
    return total


# --- a full loop ------------------------------------------------------------------------------------


def test_parallel_tool_calls_then_finish(store: InMemoryStore) -> None:
    finished_order: list[str] = []
    time_done = threading.Event()

    @tool
    def get_forecast(city: str) -> dict[str, str]:
        """The weather in a city (slow)."""
        time.sleep(0.05)
        time_done.wait(2)  # the second call finishes first
        finished_order.append("get_forecast")
        return {"city": city, "sky": "sunny"}

    @tool
    def get_time(city: str) -> str:
        """The local time in a city."""
        finished_order.append("get_time")
        time_done.set()
        return "12:00"

    agent = Agent("travel", instructions="You are a travel assistant.", tools=[get_forecast, get_time], store=store)
    execution = agent.add_task(input="Weather and time in Paris?")
    assert agent.is_finished() is False
    assert agent.messages == [expected_system("You are a travel assistant."),
                              expected_user("Weather and time in Paris?")]

    forecast = call("call_jYdIdRZHxZTn5bWCq5jlMrJi", "get_forecast", city="Paris")
    clock_call = call("call_TmlTVWQbzrXCZ4jNsCVNbNqu", "get_time", city="Paris")
    first = completion(forecast, clock_call, usage=usage(71, 46, cached_tokens=10, reasoning_tokens=5))
    agent.add_messages(first)
    step1 = [expected_system("You are a travel assistant."), expected_user("Weather and time in Paris?"),
             expected_assistant(forecast, clock_call)]
    assert agent.messages == step1
    assert agent.is_finished() is False

    calls = Agent.extract_tool_calls(first)
    assert calls == [
        ToolCall(id="call_jYdIdRZHxZTn5bWCq5jlMrJi", name="get_forecast", arguments={"city": "Paris"},
                 raw_arguments='{"city": "Paris"}'),
        ToolCall(id="call_TmlTVWQbzrXCZ4jNsCVNbNqu", name="get_time", arguments={"city": "Paris"},
                 raw_arguments='{"city": "Paris"}'),
    ]
    results = agent.run_tools(calls)
    assert finished_order == ["get_time", "get_forecast"]
    assert without_durations(results) == [
        ToolCallResult(tool_call_id="call_jYdIdRZHxZTn5bWCq5jlMrJi", function_name="get_forecast",
                       payload={"city": "Paris"}, result={"city": "Paris", "sky": "sunny"}, is_success=True,
                       content='{"city":"Paris","sky":"sunny"}'),
        ToolCallResult(tool_call_id="call_TmlTVWQbzrXCZ4jNsCVNbNqu", function_name="get_time",
                       payload={"city": "Paris"}, result="12:00", is_success=True, content="12:00"),
    ]
    step2 = [*step1, expected_tool("call_jYdIdRZHxZTn5bWCq5jlMrJi", '{"city":"Paris","sky":"sunny"}'),
             expected_tool("call_TmlTVWQbzrXCZ4jNsCVNbNqu", "12:00")]
    assert agent.messages == step2
    assert agent.is_finished() is False
    assert agent.retrieve_execution_result() == result_of(agent, ExecutionStatus.RUNNING,
                                                          usage=usage_of(first), steps=1)

    done = finish_call("call_fin", "Sunny in Paris, 12:00 local time.")
    second = completion(done, usage=usage(140, 25))
    agent.add_messages(second)
    assert agent.messages == [*step2, expected_assistant(done)]
    agent.run_tools(Agent.extract_tool_calls(second))
    final = [*step2, expected_assistant(done), expected_tool("call_fin", "Sunny in Paris, 12:00 local time.")]
    assert agent.messages == final
    assert_thread_valid(agent.messages)

    assert agent.is_finished() is True
    expected = ExecutionResult(status=ExecutionStatus.COMPLETED, result="Sunny in Paris, 12:00 local time.",
                               error=None, error_code=None, execution_id=execution.id,
                               thread_id=execution.thread_id,
                               usage=Usage(input_tokens=211, output_tokens=71, cached_tokens=10,
                                           reasoning_tokens=5, requests=2),
                               steps=2, cost_usd=pytest.approx((201 * 2.50 + 10 * 1.25 + 71 * 10.00) / 1e6))
    assert agent.retrieve_execution_result() == expected
    assert expected.ok
    assert agent.execution is execution
    assert execution.tool_calls == 3
    # the store holds the same thread the agent renders
    assert store.get_messages(execution.thread_id) == agent.thread
    # neutrally, the two results of one response are one tool message with two parts
    assert [(m.role, len(m.parts)) for m in agent.thread] == [("user", 1), ("assistant", 2), ("tool", 2),
                                                              ("assistant", 1), ("tool", 1)]


def test_sdk_objects_drive_the_same_loop_as_dicts(store: InMemoryStore) -> None:
    weather = call("call_1", "get_weather", city="Oslo")
    done = finish_call("call_2", "Sunny in Oslo.")
    responses = [completion(weather, usage=usage(30, 10)), completion(done, usage=usage(50, 8))]

    by_dict = Agent("a", instructions="Be brief.", tools=[get_weather], store=store)
    by_dict.add_task(input="Oslo?")
    drive(by_dict, responses)

    by_sdk = Agent("b", instructions="Be brief.", tools=[get_weather], store=store)
    by_sdk.add_task(input="Oslo?")
    sdk_responses = [ChatCompletion.model_validate(r) for r in responses]
    assert Agent.extract_tool_calls(sdk_responses[0]) == Agent.extract_tool_calls(responses[0])
    assert drive(by_sdk, sdk_responses) == 2

    assert by_sdk.messages == by_dict.messages == [
        expected_system("Be brief."), expected_user("Oslo?"), expected_assistant(weather),
        expected_tool("call_1", '{"city":"Oslo","sky":"sunny"}'), expected_assistant(done),
        expected_tool("call_2", "Sunny in Oslo."),
    ]
    assert by_sdk.retrieve_execution_result() == result_of(
        by_sdk, ExecutionStatus.COMPLETED, "Sunny in Oslo.", usage=usage_of(*responses), steps=2)


# --- the finish tool --------------------------------------------------------------------------------


def test_finish_with_is_success_false_fails_with_model_failure(store: InMemoryStore) -> None:
    agent = Agent("a", instructions="Try.", store=store)
    agent.add_task(input="Book a flight to the Moon.")
    give_up = finish_call("call_f", "No airline flies to the Moon.", is_success=False)
    response = completion(give_up)
    assert drive(agent, [response]) == 1

    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED, "No airline flies to the Moon.",
        error="the model reported that the task failed: No airline flies to the Moon.",
        error_code="model_failure", usage=usage_of(response), steps=1)
    assert agent.messages == [expected_system("Try."), expected_user("Book a flight to the Moon."),
                              expected_assistant(give_up), expected_tool("call_f", "No airline flies to the Moon.")]


class Forecast(pydantic.BaseModel):
    city: str
    temperature_c: float


def _pydantic_error(value: Any) -> str:
    try:
        pydantic.TypeAdapter(Forecast).validate_python(value)
    except pydantic.ValidationError as exc:
        return "; ".join(f"{'/'.join(map(str, e['loc'])) or 'result'}: {e['msg']}" for e in exc.errors())
    raise AssertionError(f"{value!r} is a valid Forecast")


def test_output_schema_rejects_invalid_results_until_a_valid_one(store: InMemoryStore) -> None:
    agent = Agent("a", instructions="Forecast.", store=store)
    agent.add_task(input="Paris tomorrow?", output_schema=Forecast)
    finish_schema = next(t for t in agent.get_tools() if t["function"]["name"] == "finish")
    assert finish_schema["function"]["parameters"]["properties"]["result"]["anyOf"][0] == {
        "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}},
        "required": ["city", "temperature_c"], "type": "object"}

    missing_field = finish_call("call_1", {"city": "Paris"})
    responses = [completion(missing_field)]
    agent.add_messages(responses[-1])
    [first] = agent.run_tools(Agent.extract_tool_calls(responses[-1]))
    first_error = ("invalid arguments for tool 'finish': result does not match the output schema: "
                   "temperature_c: Field required")
    assert dataclasses.replace(first, duration=0.0) == ToolCallResult(
        tool_call_id="call_1", function_name="finish", payload={"result": {"city": "Paris"}, "is_success": True},
        result=None, is_success=False, content=f"Error: {first_error}", error=first_error)
    assert agent.is_finished() is False

    plain_text = finish_call("call_2", "Paris, 21.5 C")
    responses.append(completion(plain_text))
    agent.add_messages(responses[-1])
    agent.run_tools(Agent.extract_tool_calls(responses[-1]))
    second_error = ("invalid arguments for tool 'finish': result does not match the output schema: "
                    + _pydantic_error("Paris, 21.5 C"))
    assert agent.is_finished() is False

    valid = finish_call("call_3", {"city": "Paris", "temperature_c": 21.5})
    responses.append(completion(valid))
    agent.add_messages(responses[-1])
    agent.run_tools(Agent.extract_tool_calls(responses[-1]))
    assert agent.is_finished() is True

    result = agent.retrieve_execution_result()
    assert result == result_of(agent, ExecutionStatus.COMPLETED, Forecast(city="Paris", temperature_c=21.5),
                               usage=usage_of(*responses), steps=3)
    assert type(result.result) is Forecast
    assert agent.messages == [
        expected_system("Forecast."), expected_user("Paris tomorrow?"),
        expected_assistant(missing_field), expected_tool("call_1", f"Error: {first_error}"),
        expected_assistant(plain_text), expected_tool("call_2", f"Error: {second_error}"),
        expected_assistant(valid), expected_tool("call_3", '{"city":"Paris","temperature_c":21.5}'),
    ]


def test_output_schema_with_is_success_false_keeps_the_explanation(store: InMemoryStore) -> None:
    agent = Agent("a", store=store)
    agent.add_task(input="Forecast for Atlantis?", output_schema=Forecast)
    response = completion(finish_call("call_1", "Atlantis is not a real city.", is_success=False))
    drive(agent, [response])
    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED, "Atlantis is not a real city.",
        error="the model reported that the task failed: Atlantis is not a real city.",
        error_code="model_failure", usage=usage_of(response), steps=1)


# --- text replies and the required finish tool -------------------------------------------------------


def test_text_reply_without_tool_calls_completes_with_the_text(store: InMemoryStore) -> None:
    agent = Agent("a", instructions="Answer.", tools=[get_weather], store=store)
    agent.add_task(input="Say hi.")
    response = completion(text="Hi!", usage=usage(12, 3))
    assert agent.add_messages(response)[0].text == "Hi!"
    assert Agent.extract_tool_calls(response) == []
    assert agent.is_finished() is True
    assert agent.retrieve_execution_result() == result_of(agent, ExecutionStatus.COMPLETED, "Hi!",
                                                          usage=usage_of(response), steps=1)
    assert agent.messages == [expected_system("Answer."), expected_user("Say hi."), expected_assistant(text="Hi!")]


def test_required_finish_tool_reminds_and_then_fails(store: InMemoryStore) -> None:
    agent = Agent("a", instructions="Answer.", store=store, require_finish_tool=True,
                  config=RunConfig(max_finish_reminders=2))
    agent.add_task(input="Say hi.")
    replies = [completion(text=f"Hi {n}!") for n in range(1, 4)]
    expected = [expected_system("Answer."), expected_user("Say hi.")]

    for n, reply in enumerate(replies[:2], start=1):
        agent.add_messages(reply)
        expected += [expected_assistant(text=f"Hi {n}!"), expected_user(REMINDER)]
        assert agent.messages == expected
        assert agent.is_finished() is False
        assert agent.get_execution_status().finish_reminders == n

    agent.add_messages(replies[2])
    assert agent.messages == [*expected, expected_assistant(text="Hi 3!")]
    assert agent.is_finished() is True
    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED, error="the model replied 3 times without calling the `finish` tool, which "
        "this agent requires (Limits.max_finish_reminders)", error_code="finish_required",
        usage=usage_of(*replies), steps=3)


def test_required_finish_tool_with_zero_reminders_fails_on_the_first_text_reply(store: InMemoryStore) -> None:
    agent = Agent("a", store=store, require_finish_tool=True, config=RunConfig(max_finish_reminders=0))
    agent.add_task(input="Say hi.")
    reply = completion(text="Hi!")
    assert drive(agent, [reply]) == 1
    assert agent.messages == [expected_user("Say hi."), expected_assistant(text="Hi!")]
    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED, error="the model replied 1 times without calling the `finish` tool, which "
        "this agent requires (Limits.max_finish_reminders)", error_code="finish_required",
        usage=usage_of(reply), steps=1)


def test_reminded_model_can_still_finish(store: InMemoryStore) -> None:
    agent = Agent("a", store=store, require_finish_tool=True)
    agent.add_task(input="Say hi.")
    done = finish_call("call_1", "Hi!")
    responses = [completion(text="Hi!"), completion(done)]
    assert drive(agent, responses) == 2
    assert agent.messages == [expected_user("Say hi."), expected_assistant(text="Hi!"), expected_user(REMINDER),
                              expected_assistant(done), expected_tool("call_1", "Hi!")]
    assert agent.retrieve_execution_result() == result_of(agent, ExecutionStatus.COMPLETED, "Hi!",
                                                          usage=usage_of(*responses), steps=2)


def test_output_schema_implies_the_finish_tool_is_required(store: InMemoryStore) -> None:
    agent = Agent("a", store=store)  # require_finish_tool defaults to False
    agent.add_task(input="Forecast Paris.", output_schema=Forecast)
    agent.add_messages(completion(text="Sunny, 21.5 C"))
    assert agent.is_finished() is False
    assert agent.messages == [expected_user("Forecast Paris."), expected_assistant(text="Sunny, 21.5 C"),
                              expected_user(REMINDER)]

    # the next task of the same agent, without a schema, ends on text again
    agent.cancel()
    agent.add_task(input="Say hi.")
    agent.add_messages(completion(text="Hi!"))
    assert agent.retrieve_execution_result().status is ExecutionStatus.COMPLETED


# --- limits -------------------------------------------------------------------------------------------


def test_max_steps_fails_after_the_last_allowed_responses_tools_ran(store: InMemoryStore) -> None:
    ran: list[str] = []

    @tool
    def lookup(query: str) -> str:
        """Looks something up."""
        ran.append(query)
        return f"nothing about {query}"

    def stubborn_model() -> Iterator[dict[str, Any]]:
        n = 0
        while True:
            n += 1
            yield completion(call(f"call_{n}", "lookup", query=f"q{n}"), usage=usage(10, 2))

    agent = Agent("a", tools=[lookup], store=store, config=RunConfig(max_steps=2))
    agent.add_task(input="Find it.")
    assert drive(agent, stubborn_model()) == 2
    assert ran == ["q1", "q2"]
    assert agent.is_finished() is True
    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED,
        error="the execution reached its limit of 2 model responses without finishing (Limits.max_steps)",
        error_code="max_steps", usage=Usage(input_tokens=20, output_tokens=4, requests=2), steps=2)
    assert agent.messages == [
        expected_user("Find it."),
        expected_assistant(call("call_1", "lookup", query="q1")), expected_tool("call_1", "nothing about q1"),
        expected_assistant(call("call_2", "lookup", query="q2")), expected_tool("call_2", "nothing about q2"),
    ]


def test_max_duration_closes_pending_calls(store: InMemoryStore, clock: FrozenClock) -> None:
    agent = Agent("a", tools=[get_weather], store=store, config=RunConfig(max_duration=0.2))
    agent.add_task(input="Weather in two cities?")
    calls = (call("call_a", "get_weather", city="Rome"), call("call_b", "get_weather", city="Bern"))
    response = completion(*calls)
    agent.add_messages(response)

    clock.advance(0.1)
    assert agent.is_finished() is False
    clock.advance(0.5)
    assert agent.is_finished() is True

    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED,
        error="the execution ran longer than its limit of 0.2 seconds (Limits.max_duration)",
        error_code="max_duration", usage=usage_of(response), steps=1)
    assert agent.messages == [expected_user("Weather in two cities?"), expected_assistant(*calls),
                              expected_tool("call_a", NOT_RUN), expected_tool("call_b", NOT_RUN)]
    assert_thread_valid(agent.messages)
    status = agent.get_execution_status()
    assert status.pending_tool_calls == ()
    assert status.status_history == [(ExecutionStatus.PENDING, status.created_at),
                                     (ExecutionStatus.RUNNING, clock.start),
                                     (ExecutionStatus.FAILED, clock.start + 0.6)]
    # the closed calls cannot be run any more
    with pytest.raises(ExecutionFinishedError):
        agent.run_tools(Agent.extract_tool_calls(response))
    assert agent.store.get_messages(agent.thread_id) == agent.thread


def test_max_duration_with_real_time_passing_in_a_tool(store: InMemoryStore) -> None:
    @tool
    def dawdle() -> str:
        """Slow on purpose."""
        time.sleep(0.25)
        return "finally"

    agent = Agent("a", tools=[dawdle], store=store, config=RunConfig(max_duration=0.2))
    agent.add_task(input="Take your time.")
    response = completion(call("call_1", "dawdle"))
    assert drive(agent, [response]) == 1  # the limit, not the script, ends the loop
    assert agent.retrieve_execution_result() == result_of(
        agent, ExecutionStatus.FAILED,
        error="the execution ran longer than its limit of 0.2 seconds (Limits.max_duration)",
        error_code="max_duration", usage=usage_of(response), steps=1)
    assert agent.messages == [expected_user("Take your time."), expected_assistant(call("call_1", "dawdle")),
                              expected_tool("call_1", "finally")]


# --- bad input from the model ------------------------------------------------------------------------


BAD_CALLS = [
    pytest.param(call("call_1", "get_wether", city="Paris"),
                 "unknown tool 'get_wether'; the available tools are: boom, finish, get_weather, slow",
                 {"city": "Paris"}, id="unknown-tool"),
    pytest.param(raw_call("call_1", "get_weather", '{"city": Paris}'),
                 "tool 'get_weather': arguments are not valid JSON (Expecting value at position 9): "
                 '{"city": Paris}', {}, id="not-json"),
    pytest.param(raw_call("call_1", "get_weather", '["Paris"]'),
                 "tool 'get_weather': arguments must be a JSON object, got list: [\"Paris\"]", {}, id="not-object"),
    pytest.param(call("call_1", "get_weather", city=42),
                 "invalid arguments for tool 'get_weather': city: Input should be a valid string", {"city": 42},
                 id="schema-type"),
    pytest.param(call("call_1", "get_weather", town="Paris"),
                 "invalid arguments for tool 'get_weather': city: Field required; town: Extra inputs are not "
                 "permitted", {"town": "Paris"},
                 id="schema-missing"),
    pytest.param(call("call_1", "boom"), "tool 'boom' raised RuntimeError: disk on fire", {}, id="raises"),
    pytest.param(call("call_1", "slow"), "tool 'slow' did not finish within 0.2 seconds", {}, id="timeout"),
]


@pytest.mark.usefixtures("release_slow_tool")
@pytest.mark.parametrize(("bad_call", "error", "payload"), BAD_CALLS)
def test_bad_model_input_becomes_an_error_result(store: InMemoryStore, bad_call: dict[str, Any], error: str,
                                                 payload: dict[str, Any]) -> None:
    agent = Agent("a", instructions="Use tools.", tools=[get_weather, boom, slow], store=store,
                  config=RunConfig(tool_timeout=0.2))
    agent.add_task(input="Go.")
    first = completion(bad_call)
    agent.add_messages(first)
    results = agent.run_tools(Agent.extract_tool_calls(first))
    assert without_durations(results) == [
        ToolCallResult(tool_call_id="call_1", function_name=bad_call["function"]["name"], payload=payload,
                       result=None, is_success=False, content=f"Error: {error}", error=error)]
    assert results[0].is_error
    assert agent.is_finished() is False
    # the model reads the error in the next request ...
    seen = [expected_system("Use tools."), expected_user("Go."), expected_assistant(bad_call),
            expected_tool("call_1", f"Error: {error}")]
    assert agent.messages == seen
    # ... and can still finish
    done = finish_call("call_2", "Could not do it.")
    second = completion(done)
    agent.add_messages(second)
    agent.run_tools(Agent.extract_tool_calls(second))
    assert agent.messages == [*seen, expected_assistant(done), expected_tool("call_2", "Could not do it.")]
    assert agent.retrieve_execution_result() == result_of(agent, ExecutionStatus.COMPLETED, "Could not do it.",
                                                          usage=usage_of(first, second), steps=2)


@pytest.mark.usefixtures("release_slow_tool")
def test_bad_calls_do_not_spoil_good_ones_in_the_same_response(store: InMemoryStore) -> None:
    agent = Agent("a", tools=[get_weather, boom, slow], store=store, config=RunConfig(tool_timeout=0.2))
    agent.add_task(input="Go.")
    calls = [call("c1", "nope"), call("c2", "get_weather", city="Lima"), raw_call("c3", "get_weather", "{"),
             call("c4", "boom"), call("c5", "slow"), call("c6", "get_weather", city="Quito")]
    response = completion(*calls)
    agent.add_messages(response)
    results = agent.run_tools(Agent.extract_tool_calls(response))
    assert [(r.tool_call_id, r.is_success) for r in results] == [
        ("c1", False), ("c2", True), ("c3", False), ("c4", False), ("c5", False), ("c6", True)]
    assert agent.messages[-6:] == [expected_tool(r.tool_call_id, r.content) for r in results]
    assert agent.messages[-5] == expected_tool("c2", '{"city":"Lima","sky":"sunny"}')
    assert agent.messages[-1] == expected_tool("c6", '{"city":"Quito","sky":"sunny"}')
    assert_thread_valid(agent.messages)
    assert agent.is_finished() is False


# --- hand-off between agents, and execution records ---------------------------------------------------


def test_hand_off_by_thread_id(store: InMemoryStore, clock: FrozenClock) -> None:
    t0 = clock.start
    a = Agent("researcher", instructions="A", tools=[get_weather], store=store)
    ex_a = a.add_task(input="Research the weather in Lisbon.")
    clock.advance(1)
    lookup = call("call_1", "get_weather", city="Lisbon")
    done = finish_call("call_2", "Lisbon: sunny.")
    responses = [completion(lookup, usage=usage(40, 9)), completion(done, usage=usage(60, 7))]
    a.add_messages(responses[0])
    a.run_tools(Agent.extract_tool_calls(responses[0]))
    clock.advance(1)
    a.add_messages(responses[1])
    a.run_tools(Agent.extract_tool_calls(responses[1]))
    assert a.is_finished() is True

    a_wire = [expected_user("Research the weather in Lisbon."), expected_assistant(lookup),
              expected_tool("call_1", '{"city":"Lisbon","sky":"sunny"}'), expected_assistant(done),
              expected_tool("call_2", "Lisbon: sunny.")]
    assert a.messages == [expected_system("A"), *a_wire]
    expected_a = Execution(
        id=ex_a.id, thread_id=ex_a.thread_id, agent_name="researcher", input="Research the weather in Lisbon.",
        status=ExecutionStatus.COMPLETED, created_at=ex_a.created_at, updated_at=t0 + 2, result="Lisbon: sunny.",
        error=None, usage=usage_of(*responses), steps=2, tool_calls=2, finish_reminders=0, pending_tool_calls=(),
        limits=Limits(), finish_tool_name="finish", cost_usd=pytest.approx(cost_of(MODEL, usage_of(*responses))),
        status_history=[(ExecutionStatus.PENDING, ex_a.created_at), (ExecutionStatus.RUNNING, t0),
                        (ExecutionStatus.COMPLETED, t0 + 2)],
    )
    assert a.get_execution_status() == expected_a

    clock.advance(1)
    b = Agent("writer", instructions="B", store=store)
    ex_b = b.add_task(input="Write it up.", thread_id=ex_a.thread_id)
    assert ex_b.thread_id == ex_a.thread_id
    assert ex_b.id != ex_a.id
    assert b.thread_id == a.thread_id
    assert b.messages == [expected_system("B"), *a_wire, expected_user("Write it up.")]
    expected_b_running = Execution(
        id=ex_b.id, thread_id=ex_a.thread_id, agent_name="writer", input="Write it up.",
        status=ExecutionStatus.RUNNING, created_at=ex_b.created_at, updated_at=t0 + 3, limits=Limits(),
        finish_tool_name="finish",
        status_history=[(ExecutionStatus.PENDING, ex_b.created_at), (ExecutionStatus.RUNNING, t0 + 3)],
    )
    assert b.get_execution_status() == expected_b_running
    assert b.get_execution(ex_b.id) == expected_b_running

    clock.advance(1)
    reply = completion(text="Lisbon will be sunny.", usage=usage(80, 6))
    b.add_messages(reply)
    assert b.is_finished() is True
    expected_b = dataclasses.replace(
        expected_b_running, status=ExecutionStatus.COMPLETED, updated_at=t0 + 4, result="Lisbon will be sunny.",
        usage=usage_of(reply), steps=1, cost_usd=pytest.approx(cost_of(MODEL, usage_of(reply))),
        status_history=[*expected_b_running.status_history, (ExecutionStatus.COMPLETED, t0 + 4)])
    assert b.get_execution_status() == expected_b
    assert b.retrieve_execution_result() == ExecutionResult(
        status=ExecutionStatus.COMPLETED, result="Lisbon will be sunny.", error=None, error_code=None,
        execution_id=ex_b.id, thread_id=ex_a.thread_id, usage=usage_of(reply), steps=1,
        cost_usd=pytest.approx(cost_of(MODEL, usage_of(reply))))

    # each agent lists its own executions; any agent on the store can read any execution
    assert a.list_executions() == [expected_a]
    assert b.list_executions() == [expected_b]
    assert b.list_executions(status=ExecutionStatus.FAILED) == []
    assert a.get_execution(ex_b.id) == expected_b
    assert b.get_execution(ex_a.id) == expected_a
    assert store.list_executions(thread_id=ex_a.thread_id) == [expected_b, expected_a]

    # the thread holds both agents' turns, in order
    b_wire = [expected_user("Write it up."), expected_assistant(text="Lisbon will be sunny.")]
    assert b.messages == [expected_system("B"), *a_wire, *b_wire]
    assert store.get_messages(ex_a.thread_id) == b.thread

    # and A, picking the thread up again, sees B's turns under its own instructions
    a.add_task(input="Thanks. Anything else?", thread_id=ex_a.thread_id)
    assert a.messages == [expected_system("A"), *a_wire, *b_wire, expected_user("Thanks. Anything else?")]
    assert [e.id for e in a.list_executions()] == [a.execution.id, ex_a.id]  # type: ignore[union-attr]


def test_default_store_is_shared_by_agents_without_a_store() -> None:
    a = Agent("default-store-a", instructions="A")
    b = Agent("default-store-b", instructions="B")
    assert a.store is b.store is loopline.store.default_store()

    ex_a = a.add_task(input="Hello from A.")
    a.add_messages(completion(text="Done."))
    ex_b = b.add_task(input="Hello from B.", thread_id=ex_a.thread_id)
    assert b.messages == [expected_system("B"), expected_user("Hello from A."), expected_assistant(text="Done."),
                          expected_user("Hello from B.")]
    assert b.get_execution(ex_a.id).status is ExecutionStatus.COMPLETED
    assert ex_b.id in [e.id for e in b.list_executions()]


# --- other shapes add_messages takes ----------------------------------------------------------------


def test_wire_message_list_with_user_supplied_tool_results(store: InMemoryStore) -> None:
    agent = Agent("a", instructions="Plan.", tools=[get_weather], store=store)
    agent.add_task(input="Weather in Rome and Bern?")
    rome = call("call_r", "get_weather", city="Rome")
    bern = call("call_b", "get_weather", city="Bern")
    added = agent.add_messages([assistant_message(rome, bern), tool_message("call_r", "Rome: 24 C"),
                                tool_message("call_b", "Bern: 15 C")])
    assert [m.role for m in added] == ["assistant", "tool", "tool"]
    assert agent.messages == [expected_system("Plan."), expected_user("Weather in Rome and Bern?"),
                              expected_assistant(rome, bern), expected_tool("call_r", "Rome: 24 C"),
                              expected_tool("call_b", "Bern: 15 C")]
    status = agent.get_execution_status()
    assert (status.status, status.steps, status.tool_calls, status.pending_tool_calls, status.usage) == (
        ExecutionStatus.RUNNING, 1, 2, (), Usage())

    # a user message may be added between turns, as a wire dict too
    agent.add_messages([{"role": "user", "content": "Celsius, please."}])
    done = finish_call("call_f", "Rome 24 C, Bern 15 C.")
    final = completion(done)
    assert drive(agent, [final]) == 1
    assert agent.messages[-3:] == [expected_user("Celsius, please."), expected_assistant(done),
                                   expected_tool("call_f", "Rome 24 C, Bern 15 C.")]
    assert agent.retrieve_execution_result() == result_of(agent, ExecutionStatus.COMPLETED, "Rome 24 C, Bern 15 C.",
                                                          usage=usage_of(final), steps=2)
    assert_thread_valid(agent.messages)


def test_a_response_buffer_reused_across_turns_is_parsed_anew(store: InMemoryStore) -> None:
    """A client that recycles one response dict (filled in place each turn) must not replay the old turn."""
    agent = Agent("a", tools=[get_weather], store=store)
    agent.add_task(input="Weather in Oslo?")
    lookup = call("call_1", "get_weather", city="Oslo")
    done = finish_call("call_2", "Oslo: sunny.")
    buffer = completion(lookup)
    agent.add_messages(buffer)
    agent.run_tools(Agent.extract_tool_calls(buffer))

    buffer.clear()
    buffer.update(completion(done))
    agent.add_messages(buffer)
    assert [c.id for c in Agent.extract_tool_calls(buffer)] == ["call_2"]
    agent.run_tools(Agent.extract_tool_calls(buffer))
    assert agent.messages == [expected_user("Weather in Oslo?"), expected_assistant(lookup),
                              expected_tool("call_1", '{"city":"Oslo","sky":"sunny"}'), expected_assistant(done),
                              expected_tool("call_2", "Oslo: sunny.")]
    assert agent.retrieve_execution_result().result == "Oslo: sunny."
    assert len({m.id for m in agent.thread}) == len(agent.thread)


def test_sdk_object_with_text_reply(store: InMemoryStore) -> None:
    agent = Agent("a", store=store)
    agent.add_task(input="Hi?")
    response = completion(text="Hello.", usage=usage(5, 2))
    agent.add_messages(ChatCompletion.model_validate(response))
    assert agent.retrieve_execution_result() == result_of(agent, ExecutionStatus.COMPLETED, "Hello.",
                                                          usage=usage_of(response), steps=1)


# --- cancel ---------------------------------------------------------------------------------------------


def test_cancel_closes_pending_calls(store: InMemoryStore) -> None:
    agent = Agent("a", tools=[get_weather], store=store)
    agent.add_task(input="Three cities.")
    calls = [call("c1", "get_weather", city="Oslo"), call("c2", "get_weather", city="Riga"),
             call("c3", "get_weather", city="Kyiv")]
    response = completion(*calls)
    agent.add_messages(response)
    agent.run_tools(Agent.extract_tool_calls(response)[:1])  # answer only the first

    cancelled = agent.cancel()
    expected = result_of(agent, ExecutionStatus.CANCELLED, usage=usage_of(response), steps=1)
    assert cancelled == expected
    assert agent.is_finished() is True
    assert agent.retrieve_execution_result() == expected
    assert agent.messages == [expected_user("Three cities."), expected_assistant(*calls),
                              expected_tool("c1", '{"city":"Oslo","sky":"sunny"}'),
                              expected_tool("c2", NOT_RUN), expected_tool("c3", NOT_RUN)]
    assert_thread_valid(agent.messages)
    assert [s for s, _ in agent.get_execution_status().status_history] == [
        ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.CANCELLED]
    # cancelling again changes nothing
    assert agent.cancel() == expected
    assert len(agent.messages) == 5
    assert store.get_messages(agent.thread_id) == agent.thread  # type: ignore[arg-type]
