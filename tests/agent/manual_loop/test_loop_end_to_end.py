"""The manual agent loop against scripted Chat Completions responses: a full loop, the finish tool,
text replies, limits.

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
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from loop_helpers import (
    NOT_RUN,
    REMINDER,
    FrozenClock,
    assert_thread_valid,
    drive,
    get_weather,
    result_of,
    usage_of,
    without_durations,
)
from openai.types.chat import ChatCompletion

from chat_responses import (
    call,
    completion,
    expected_assistant,
    expected_system,
    expected_tool,
    expected_user,
    finish_call,
    usage,
)
from loopline import (
    Agent,
    Execution,
    ExecutionResult,
    ExecutionStatus,
    InMemoryStore,
    RunConfig,
    ToolCall,
    ToolCallResult,
    Usage,
    tool,
)
from loopline.errors import ExecutionFinishedError

# --- a full loop ------------------------------------------------------------------------------------


def _two_calls_at_once(store: InMemoryStore) -> tuple[Agent, Execution, list[dict[str, Any]]]:
    """The first step: one response asks for two calls, which run concurrently (the second finishes
    first) and whose results come back in call order. Returns the agent, its execution and the
    rendered thread so far."""
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
             expected_assistant(forecast, clock_call)]  # rendered once the calls have results (step2)
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
    return agent, execution, step2


def test_parallel_tool_calls_then_finish(store: InMemoryStore) -> None:
    agent, execution, step2 = _two_calls_at_once(store)
    done = finish_call("call_fin", "Sunny in Paris, 12:00 local time.")
    second = completion(done, usage=usage(140, 25))
    agent.add_messages(second)
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
        error="the model reported that it could not finish: No airline flies to the Moon.",
        error_code="model_reported_failure", usage=usage_of(response), steps=1)
    assert agent.messages == [expected_system("Try."), expected_user("Book a flight to the Moon."),
                              expected_assistant(give_up), expected_tool("call_f", "No airline flies to the Moon.")]


class Forecast(pydantic.BaseModel):
    city: str
    temperature_c: float


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
    first_error = ("invalid arguments for tool 'finish': result does not match the output schema Forecast: field "
                   "`temperature_c` is missing (expected number). The result must be object {city: string, "
                   "temperature_c: number}.")
    assert dataclasses.replace(first, duration=0.0) == ToolCallResult(
        tool_call_id="call_1", function_name="finish", payload={"result": {"city": "Paris"}, "is_success": True},
        result=None, is_success=False, content=f"Error: {first_error}", error=first_error)
    assert agent.is_finished() is False

    plain_text = finish_call("call_2", "Paris, 21.5 C")
    responses.append(completion(plain_text))
    agent.add_messages(responses[-1])
    agent.run_tools(Agent.extract_tool_calls(responses[-1]))
    second_error = ("invalid arguments for tool 'finish': result does not match the output schema Forecast: "
                    '`result` should be object {city: string, temperature_c: number}, got "Paris, 21.5 C" (string).')
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
        error="the model reported that it could not finish: Atlantis is not a real city.",
        error_code="model_reported_failure", usage=usage_of(response), steps=1)


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
    cut = agent.messages[-1]["content"]  # the tool was cut off when the time ran out, not waited for
    assert cut.startswith("Error: tool 'dawdle' did not finish within 0.") and "(max_duration)" in cut
    assert agent.messages == [expected_user("Take your time."), expected_assistant(call("call_1", "dawdle")),
                              expected_tool("call_1", cut)]
