"""Trajectory assertions: tool calls (names, order, arguments) and how an execution ended, with whole
expected-against-actual reports when they fail."""

from __future__ import annotations

import dataclasses
import re
import time
from unittest.mock import ANY

import pytest

from loopline import Agent, ExecutionResult, ExecutionStatus, InMemoryStore, Message, RunConfig, tool
from loopline.errors import UsageError
from loopline.messages import ToolCallPart
from loopline.testing import (
    Call,
    ScriptedModel,
    assert_result,
    assert_tool_calls,
    call,
    reply,
    tool_calls,
)


@tool
def get_weather(city: str, days: int = 1) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@tool
def search(query: str, filters: dict[str, str] | None = None) -> str:
    """Search."""
    return "found"


def _trip() -> Agent:
    """An agent that called get_weather twice (in one response), search, then finish."""
    agent = Agent("a", tools=[get_weather, search], store=InMemoryStore())
    agent.run("Plan a trip.", model=ScriptedModel([
        reply(call("get_weather", city="Oslo", days=2), call("get_weather", city="Rome")),
        reply(call("search", query="flights", filters={"from": "OSL", "class": "economy"})),
        reply(call("finish", result="Go to Rome.", is_success=True)),
    ]))
    return agent


TRIP = [call("get_weather", city="Oslo", days=2), call("get_weather", city="Rome"),
        call("search", query="flights", filters={"from": "OSL", "class": "economy"}),
        call("finish", result="Go to Rome.", is_success=True)]


def test_tool_calls_reads_every_source_the_same() -> None:
    agent = _trip()
    result = agent.retrieve_execution_result()
    assert tool_calls(agent) == TRIP
    assert tool_calls(result, store=agent.store) == TRIP
    assert tool_calls(agent.thread) == TRIP
    assert tool_calls(agent, include_finish=False) == TRIP[:3]
    assert str(TRIP[2]) == 'search(query="flights", filters={"class": "economy", "from": "OSL"})'


def test_exact_order_and_arguments_pass_and_names_alone_match_any_arguments() -> None:
    agent = _trip()
    assert_tool_calls(agent, TRIP)
    assert_tool_calls(agent, ["get_weather", "get_weather", "search", "finish"])
    assert_tool_calls(agent, [call("get_weather", city=ANY, days=2), call("get_weather"), "search", "finish"])
    assert_tool_calls(agent, TRIP[:3], include_finish=False)


def test_an_exact_mismatch_shows_both_trajectories_and_a_diff() -> None:
    agent = _trip()
    with pytest.raises(AssertionError) as info:
        assert_tool_calls(agent, [call("get_weather", city="Oslo"), call("get_weather", city="Rome"), "finish"])
    assert str(info.value) == "\n".join([
        "tool calls do not match (order='exact', arguments='exact'): 1 expected call(s) not made, "
        "2 call(s) not expected",
        "expected (3):",
        '  1. get_weather(city="Oslo")',
        '  2. get_weather(city="Rome")',
        "  3. finish(...)",
        "actual (4):",
        '  1. get_weather(city="Oslo", days=2)',
        '  2. get_weather(city="Rome")',
        '  3. search(query="flights", filters={"class": "economy", "from": "OSL"})',
        '  4. finish(result="Go to Rome.", is_success=true)',
        "diff (- expected, not made; + made, not expected):",
        '  - get_weather(city="Oslo")',
        '  + get_weather(city="Oslo", days=2)',
        '    get_weather(city="Rome")',
        '  + search(query="flights", filters={"class": "economy", "from": "OSL"})',
        '    finish(result="Go to Rome.", is_success=true)',
    ])


def test_subset_arguments_match_nested_objects_partially() -> None:
    agent = _trip()
    partial = [call("get_weather", city="Oslo"), call("get_weather", city="Rome"),
               call("search", filters={"from": "OSL"}), call("finish", is_success=True)]
    assert_tool_calls(agent, partial, arguments="subset")
    with pytest.raises(AssertionError, match=r'- search\(filters=\{"from": "BGO"\}, \.\.\.\)'):
        assert_tool_calls(agent, [*partial[:2], call("search", filters={"from": "BGO"}), partial[3]],
                          arguments="subset")
    with pytest.raises(AssertionError):
        assert_tool_calls(agent, partial)  # exact arguments by default


def test_in_order_allows_other_calls_between() -> None:
    agent = _trip()
    assert_tool_calls(agent, [call("get_weather", city="Rome"), "finish"], order="in_order")
    with pytest.raises(AssertionError) as info:
        assert_tool_calls(agent, ["search", call("get_weather", city="Rome")], order="in_order")
    report = str(info.value)
    assert report.startswith("tool calls do not match (order='in_order', arguments='exact'): 1 expected call(s) "
                             "not made\n")
    assert report.endswith("diff (- expected, not made; + made, not expected, allowed):\n"
                           "  - search(...)\n"
                           '  + get_weather(city="Oslo", days=2)\n'
                           '    get_weather(city="Rome")\n'
                           '  + search(query="flights", filters={"class": "economy", "from": "OSL"})\n'
                           '  + finish(result="Go to Rome.", is_success=true)')


def test_any_order_pairs_each_expected_call_with_a_different_one() -> None:
    agent = _trip()
    assert_tool_calls(agent, ["finish", call("get_weather", city="Rome"), "get_weather"], order="any_order")
    # "get_weather" alone could take the Rome call; the matching must give it the Oslo one instead.
    assert_tool_calls(agent, ["get_weather", call("get_weather", city="Rome")], order="any_order")
    with pytest.raises(AssertionError, match=re.escape("  - get_weather(...)")):
        assert_tool_calls(agent, ["get_weather"] * 3, order="any_order")


def test_raw_arguments_that_are_not_json_are_kept_as_text() -> None:
    messages = [Message.user("x"), Message(role="assistant", parts=(
        ToolCallPart(id="c1", name="math", arguments="4 + 4", tool_type="custom"),
        ToolCallPart(id="c2", name="ping", arguments=""),))]
    assert tool_calls(messages) == [Call("math", "4 + 4"), Call("ping", {})]  # type: ignore[arg-type]
    assert str(tool_calls(messages)[0]) == "math('4 + 4')"


def test_for_an_execution_result_only_that_executions_calls_count() -> None:
    store = InMemoryStore()
    first = Agent("researcher", tools=[get_weather], store=store)
    done = first.run("Weather?", model=ScriptedModel([reply(call("get_weather", city="Oslo")),
                                                      reply(call("finish", result="sunny", is_success=True))]))
    writer = Agent("writer", store=store)
    writer.add_task("Write it up.", thread_id=done.thread_id)
    written = writer.run(model=ScriptedModel([reply("Oslo is sunny.")]))
    assert tool_calls(written, store=store) == []
    assert tool_calls(writer) == []
    assert [c.name for c in tool_calls(writer.thread)] == ["get_weather", "finish"]
    assert_tool_calls(done, ["get_weather", "finish"], store=store)
    assert_result(written, ok=True, value="Oslo is sunny.")


def test_assert_result_checks_what_it_is_given_and_returns_the_result() -> None:
    agent = _trip()
    result = assert_result(agent, ok=True, status=ExecutionStatus.COMPLETED, value="Go to Rome.", error=None,
                           error_code=None)
    assert result == agent.retrieve_execution_result()
    assert_result(result, status="completed", value=ANY)


def test_assert_result_reports_every_mismatch_and_the_whole_result() -> None:
    agent = Agent("a", tools=[get_weather], store=InMemoryStore(), config=RunConfig(max_steps=1))
    events = list(agent.stream("Loop.", model=ScriptedModel([reply(call("get_weather", city="Oslo"))])))
    with pytest.raises(AssertionError) as info:
        assert_result(events, ok=True, value="sunny", error=re.compile(r"budget"))
    lines = str(info.value).splitlines()
    assert lines[:4] == ["execution result does not match:", "  ok: expected True, got False",
                         "  value: expected 'sunny', got None", "  error: expected a match for /budget/, got "
                         + repr(agent.retrieve_execution_result().error)]
    assert lines[4].startswith("the execution: status=FAILED, result=None, error=")
    assert "error_code='max_steps'" in lines[4]
    assert_result(events, status="failed", error_code="max_steps", error="step")


def test_misuse_is_a_named_error() -> None:
    agent = _trip()
    with pytest.raises(UsageError, match="order must be"):
        assert_tool_calls(agent, [], order="sorted")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="arguments must be"):
        assert_tool_calls(agent, [], arguments="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="has no execution yet"):
        tool_calls(Agent("idle", store=InMemoryStore()))
    with pytest.raises(UsageError, match="expected an ExecutionResult, an Agent or a list of Message"):
        tool_calls("nothing")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="ending in Finished"):
        assert_result([], ok=True)
    with pytest.raises(UsageError, match="as a dict or as keywords, not both"):
        call("f", {"a": 1}, b=2)
    assert call("f", {"from": 1}) == Call("f", {"from": 1}) and call("f").arguments is None


def _handoff(store: InMemoryStore) -> tuple[Agent, ExecutionResult, Agent, ExecutionResult, ExecutionResult]:
    """A researcher, then a writer on its thread, then the researcher again: each made calls."""
    researcher = Agent("researcher", tools=[get_weather, search], store=store)
    first = researcher.run("Weather?", model=ScriptedModel([
        reply(call("get_weather", city="Oslo")), reply(call("finish", result="sunny", is_success=True))]))
    writer = Agent("writer", tools=[search], store=store)
    writer.add_task("Write it up.", thread_id=first.thread_id)
    written = writer.run(model=ScriptedModel([
        reply(call("search", query="style guide")), reply(call("finish", result="Oslo is sunny.", is_success=True))]))
    researcher.add_task("And Rome?", thread_id=first.thread_id)
    again = researcher.run(model=ScriptedModel([
        reply(call("get_weather", city="Rome")), reply(call("finish", result="rainy", is_success=True))]))
    return researcher, first, writer, written, again


def _names(calls: list[Call]) -> list[str]:
    return [str(c) for c in calls]


def test_an_executions_calls_end_where_the_next_execution_on_its_thread_begins() -> None:
    store = InMemoryStore()
    researcher, first, writer, written, again = _handoff(store)
    assert _names(tool_calls(first, store=store)) == ['get_weather(city="Oslo")', 'finish(result="sunny", '
                                                                                 'is_success=true)']
    assert _names(tool_calls(written, store=store, include_finish=False)) == ['search(query="style guide")']
    assert _names(tool_calls(writer, include_finish=False)) == ['search(query="style guide")']
    assert _names(tool_calls(again, store=store, include_finish=False)) == ['get_weather(city="Rome")']
    assert _names(tool_calls(researcher, include_finish=False)) == ['get_weather(city="Rome")']
    assert_tool_calls(first, [call("get_weather", city="Oslo"), "finish"], store=store)


def test_the_bounds_do_not_depend_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message and execution made in the same instant (a coarse clock): the positions still tell."""
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    store = InMemoryStore()
    _, first, _, written, again = _handoff(store)
    assert [_names(tool_calls(r, store=store, include_finish=False)) for r in (first, written, again)] == [
        ['get_weather(city="Oslo")'], ['search(query="style guide")'], ['get_weather(city="Rome")']]


def test_an_execution_its_thread_has_no_record_of_is_a_named_error() -> None:
    store = InMemoryStore()
    _, first, _, _, _ = _handoff(store)
    copied = dataclasses.replace(first, thread_id=store.fork_thread(first.thread_id))  # messages, no executions
    with pytest.raises(UsageError, match=f"execution {first.execution_id} has no task message in thread "
                                         f"{copied.thread_id}: pass the store it ran against"):
        tool_calls(copied, store=store)
