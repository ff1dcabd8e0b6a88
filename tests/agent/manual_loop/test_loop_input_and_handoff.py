"""The manual agent loop against scripted Chat Completions responses: bad input from the model,
hand-off, other input shapes, cancel.

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
from typing import Any

import pytest
from loop_helpers import (
    NOT_RUN,
    FrozenClock,
    assert_thread_valid,
    boom,
    drive,
    get_weather,
    result_of,
    slow,
    usage_of,
    without_durations,
)
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
    ToolCallResult,
    Usage,
)
from loopline.loop import cost_of

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


def _researcher_finishes(store: InMemoryStore, clock: FrozenClock) -> tuple[Agent, Execution, list[dict[str, Any]]]:
    """Agent A looks the weather up and finishes, one step a second. Returns A, its execution record
    (checked whole) and the thread it wrote, as rendered."""
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
    return a, expected_a, a_wire


def test_hand_off_by_thread_id(store: InMemoryStore, clock: FrozenClock) -> None:
    a, expected_a, a_wire = _researcher_finishes(store, clock)
    ex_a, t0 = a.execution, clock.start
    assert ex_a is not None
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
