"""Tool calls without results in the seed loop: a request is never rendered while calls wait for
results (every API answers such a request with a 400), and a tool result for a call nobody is
waiting for says what most likely happened."""

from __future__ import annotations

from typing import Any

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, LLMProvider, tool
from loopline.errors import PendingToolCallsError, UnknownToolCallError
from loopline.providers import make_response
from loopline.testing import ScriptedModel, call, reply

APIS = [LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES, LLMProvider.ANTHROPIC]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"12 degrees in {city}"


def agent_on(provider: LLMProvider = LLMProvider.OPEN_AI) -> Agent:
    agent = Agent("seed", instructions="Be brief.", tools=[get_weather], llm_provider=provider, store=InMemoryStore())
    agent.add_task(input="Weather in Oslo and Rome?")
    return agent


def two_calls(provider: LLMProvider) -> dict[str, Any]:
    return make_response(provider, [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})])


def renderings(agent: Agent) -> dict[str, Any]:
    """Every way the seed loop reads the conversation for a request."""
    return {"messages": lambda: agent.messages, "get_messages": agent.get_messages,
            "get_messages(other)": lambda: agent.get_messages(LLMProvider.ANTHROPIC),
            "request_kwargs": agent.request_kwargs}


@pytest.mark.parametrize("provider", APIS, ids=str)
def test_no_request_is_rendered_while_calls_wait_for_results(provider: LLMProvider) -> None:
    agent = agent_on(provider)
    response = two_calls(provider)
    agent.add_messages(response)
    ids = [c.id for c in agent.extract_tool_calls(response)]

    for name, render in renderings(agent).items():
        with pytest.raises(PendingToolCallsError) as caught:
            render()
        assert caught.value.tool_call_ids == ids, name
        assert f"tool calls {ids} have no results yet" in str(caught.value)
        assert "call run_tools(...) first" in str(caught.value)

    agent.run_tools(agent.extract_tool_calls(response)[:1])  # one answered, one still waiting
    with pytest.raises(PendingToolCallsError) as caught:
        agent.request_kwargs()
    assert caught.value.tool_call_ids == ids[1:]

    agent.run_tools(agent.extract_tool_calls(response)[1:])
    rendered = {name: render() for name, render in renderings(agent).items()}
    assert len(rendered["messages"]) == len(rendered["get_messages"])
    assert agent.is_finished() is False


def test_the_loop_run_drives_is_not_refused() -> None:
    """`run` asks for a request only when no call waits (its state machine runs the tools first)."""
    agent = Agent("seed", instructions="Be brief.", tools=[get_weather], store=InMemoryStore())
    model = ScriptedModel([reply(call("get_weather", city="Oslo"), call("get_weather", city="Rome")),
                           reply(call("finish", result="Oslo 12, Rome 12", is_success=True))])
    result = agent.run("Weather in Oslo and Rome?", model=model)
    assert (result.status, result.result) == (ExecutionStatus.COMPLETED, "Oslo 12, Rome 12")


def test_a_result_for_a_call_never_added_names_the_likely_skip() -> None:
    agent = agent_on()
    before, execution = agent.thread, agent.execution
    assert execution is not None
    with pytest.raises(UnknownToolCallError) as caught:
        agent.add_messages([{"role": "tool", "tool_call_id": "call_9", "content": "12 degrees"}])
    assert str(caught.value) == (
        f"execution {execution.id} is not waiting for tool call(s) ['call_9'] (waiting for none); "
        "add_messages may have been skipped for the response that made the call: add that response first, "
        "then its results (or let run_tools add them)")
    assert caught.value.tool_call_id == "call_9"
    assert agent.thread == before


def test_a_result_for_another_call_names_the_calls_that_wait() -> None:
    agent = agent_on()
    agent.add_messages(make_response(LLMProvider.OPEN_AI, [("get_weather", {"city": "Oslo"})]))
    with pytest.raises(UnknownToolCallError, match=r"\(waiting for \['call_1_0'\]\); add_messages may have been "
                                                   r"skipped for the response that made the call"):
        agent.add_messages([{"role": "tool", "tool_call_id": "call_9", "content": "12 degrees"}])
    assert [c.id for c in agent.pending_tool_calls] == ["call_1_0"]


def test_a_second_result_for_an_answered_call_says_so() -> None:
    agent = agent_on()
    response = make_response(LLMProvider.OPEN_AI, [("get_weather", {"city": "Oslo"})])
    agent.add_messages(response)
    agent.run_tools(agent.extract_tool_calls(response))
    with pytest.raises(UnknownToolCallError, match=r"call\(s\) \['call_1_0'\] are in the thread but no longer "
                                                   r"waiting \(answered already\?\)"):
        agent.add_messages([{"role": "tool", "tool_call_id": "call_1_0", "content": "12 degrees"}])


def test_a_result_for_a_waiting_call_is_taken() -> None:
    agent = agent_on()
    agent.add_messages(make_response(LLMProvider.OPEN_AI, [("get_weather", {"city": "Oslo"})]))
    added = agent.add_messages([{"role": "tool", "tool_call_id": "call_1_0", "content": "12 degrees"}])
    assert [p.content for m in added for p in m.tool_results] == ["12 degrees"]
    assert agent.messages[-1] == {"role": "tool", "tool_call_id": "call_1_0", "content": "12 degrees"}
