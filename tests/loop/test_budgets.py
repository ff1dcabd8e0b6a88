"""Budgets (tokens, cost, tool calls) end an execution naming the budget, or give one last turn."""

from __future__ import annotations

import pytest

from chat_responses import call, completion, finish_call, usage
from loopline import Agent, ExecutionStatus, InMemoryStore, RunConfig, tool
from loopline.loop import Price, cost_of, price_for, set_price
from loopline.messages import Usage


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _agent(**limits: object) -> Agent:
    agent = Agent("a", tools=[lookup], store=InMemoryStore(), config=RunConfig(**limits))  # type: ignore[arg-type]
    agent.add_task(input="go")
    return agent


def _step(agent: Agent, response: dict) -> None:  # type: ignore[type-arg]
    agent.add_messages(response)
    if not agent.is_finished():
        agent.run_tools(Agent.extract_tool_calls(response))


def test_a_token_budget_fails_the_execution_and_names_it() -> None:
    agent = _agent(max_total_tokens=200)
    _step(agent, completion(call("call_1", "lookup", key="a"), usage=usage(120, 20)))
    assert not agent.is_finished()
    agent.add_messages(completion(call("call_2", "lookup", key="b"), usage=usage(150, 20)))
    result = agent.retrieve_execution_result()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_total_tokens")
    assert "310 tokens, over its budget of 200" in (result.error or "")
    [closed] = agent.thread[-1].tool_results  # the call that would have gone past it never ran
    assert (closed.tool_call_id, closed.is_error) == ("call_2", True)


def test_a_tool_call_budget_stops_a_response_that_would_go_past_it() -> None:
    agent = _agent(max_tool_calls=2)
    _step(agent, completion(call("call_1", "lookup", key="a")))
    agent.add_messages(completion(call("call_2", "lookup", key="b"), call("call_3", "lookup", key="c")))
    result = agent.retrieve_execution_result()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_tool_calls")
    assert agent.get_execution_status().tool_calls == 1


def test_a_cost_budget_uses_the_price_table() -> None:
    agent = _agent(max_cost_usd=0.001)
    _step(agent, completion(call("call_1", "lookup", key="a"), usage=usage(300, 20)))  # gpt-4o: $0.00095
    assert not agent.is_finished()
    agent.add_messages(completion(call("call_2", "lookup", key="b"), usage=usage(300, 20)))
    result = agent.retrieve_execution_result()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_cost_usd")
    assert result.cost_usd == pytest.approx(2 * (300 * 2.50 + 20 * 10.00) / 1e6)


def test_final_turn_lets_the_model_finish_with_what_it_has() -> None:
    agent = _agent(max_tool_calls=1, final_turn=True)
    _step(agent, completion(call("call_1", "lookup", key="a")))
    agent.add_messages(completion(call("call_2", "lookup", key="b")))
    assert not agent.is_finished()
    assert "budget ran out" in agent.thread[-1].text and agent.thread[-1].role == "user"
    final = completion(finish_call("call_3", "partial: a"), call("call_4", "lookup", key="c"))
    agent.add_messages(final)
    agent.run_tools(agent.pending_tool_calls)
    result = agent.retrieve_execution_result()
    assert (result.status, result.result) == (ExecutionStatus.COMPLETED, "partial: a")
    skipped = [p for m in agent.thread for p in m.tool_results if p.tool_call_id == "call_4"]
    assert skipped[0].is_error and "not run" in skipped[0].content


def test_final_turn_without_a_finish_call_fails() -> None:
    agent = _agent(max_tool_calls=1, final_turn=True)
    _step(agent, completion(call("call_1", "lookup", key="a")))
    agent.add_messages(completion(call("call_2", "lookup", key="b")))
    agent.add_messages(completion(call("call_3", "lookup", key="c")))
    result = agent.retrieve_execution_result()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_tool_calls")


def test_prices_match_the_longest_prefix_and_can_be_overridden() -> None:
    assert price_for("gpt-4o-mini-2024-07-18") == Price(0.15, 0.60, cached_input=0.075)
    assert price_for("gpt-4o-2024-08-06") == Price(2.50, 10.00, cached_input=1.25)
    assert price_for("some-local-model") is None and cost_of("some-local-model", Usage(input_tokens=9)) == 0.0
    usage_ = Usage(input_tokens=1000, cached_tokens=400, cache_write_tokens=100, output_tokens=50)
    assert cost_of("claude-sonnet-4-5", usage_) == pytest.approx((500 * 3 + 400 * 0.3 + 100 * 3.75 + 50 * 15) / 1e6)
    set_price("my-model", Price(1.0, 2.0))
    try:
        assert cost_of("my-model-v2", Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == 3.0
    finally:
        set_price("my-model", None)
