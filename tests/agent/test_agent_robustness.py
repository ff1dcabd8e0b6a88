"""The agent under stress: failing stores, interrupted and cancelled tools, busy threads, odd model output.

Each test names the guarantee it checks: nothing half-written, nothing lost, the thread always a
conversation every provider accepts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from chat_responses import call, completion, finish_call
from loopline import Agent, ExecutionStatus, InMemoryStore, Message, ToolContext, tool
from loopline.errors import (
    ExecutionFinishedError,
    PendingToolCallsError,
    ThreadBusyError,
    UsageError,
)
from loopline.tools import Tool


class FlakyStore(InMemoryStore):
    """Fails the next `commit` once when armed."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def commit(self, execution: Any, messages: Sequence[Message] = (), **kwargs: Any) -> None:
        if self.armed:
            self.armed = False
            raise OSError("disk full")
        super().commit(execution, messages, **kwargs)


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _stored_roles(store: InMemoryStore, agent: Agent) -> list[str]:
    assert agent.thread_id is not None
    return [m.role for m in store.get_messages(agent.thread_id)]


def test_a_store_failure_changes_nothing_and_the_same_call_can_be_retried() -> None:
    store = FlakyStore()
    agent = Agent("a", tools=[lookup], store=store)
    agent.add_task(input="go")
    response = completion(call("call_1", "lookup", key="x"))
    store.armed = True
    with pytest.raises(OSError, match="disk full"):
        agent.add_messages(response)
    before = agent.get_execution_status()
    assert (before.steps, before.pending_tool_calls) == (0, ())
    assert _stored_roles(store, agent) == ["user"] and [m.role for m in agent.thread] == ["user"]

    agent.add_messages(response)  # the retry is accepted: nothing of the failed attempt remains
    agent.run_tools(Agent.extract_tool_calls(response))
    assert _stored_roles(store, agent) == ["user", "assistant", "tool"]
    assert store.get_execution(agent.execution.id) == agent.get_execution_status()


def test_a_list_with_a_bad_item_adds_nothing() -> None:
    store = InMemoryStore()
    agent = Agent("a", tools=[lookup], store=store)
    agent.add_task(input="go")
    good = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"key": "k"}'}}]}
    bad = {"role": "tool", "tool_call_id": "call_nobody", "content": "?"}
    with pytest.raises(UsageError):
        agent.add_messages([good, bad])
    assert _stored_roles(store, agent) == ["user"]
    assert agent.get_execution_status().steps == 0


def test_cancel_while_an_async_tool_runs_keeps_its_real_result() -> None:
    started, effects = threading.Event(), []

    @tool
    async def slow(x: int) -> str:
        """Slow."""
        started.set()
        await asyncio.sleep(0.2)
        effects.append(x)
        return f"did {x}"

    store = InMemoryStore()
    agent = Agent("a", tools=[slow], store=store)
    agent.add_task(input="go")
    response = completion(call("call_1", "slow", x=1), call("call_2", "slow", x=2))
    agent.add_messages(response)

    async def run_and_cancel() -> list[Any]:
        task = asyncio.create_task(agent.arun_tools(Agent.extract_tool_calls(response)))
        await asyncio.get_running_loop().run_in_executor(None, started.wait)
        agent.cancel()
        return await task

    results = asyncio.run(run_and_cancel())
    assert [r.content for r in results] == ["did 1", "did 2"] and sorted(effects) == [1, 2]
    assert agent.retrieve_execution_result().status is ExecutionStatus.CANCELLED
    tool_parts = [p for m in store.get_messages(agent.thread_id) for p in m.tool_results]
    assert [(p.tool_call_id, p.content) for p in tool_parts] == [("call_1", "did 1"), ("call_2", "did 2")]


def test_an_interrupted_run_records_that_the_tool_may_have_run() -> None:
    @tool
    async def hang() -> str:
        """Hang."""
        await asyncio.sleep(10)
        return "never"

    store = InMemoryStore()
    agent = Agent("a", tools=[hang], store=store)
    agent.add_task(input="go")
    response = completion(call("call_1", "hang"))
    agent.add_messages(response)

    async def interrupt() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(agent.arun_tools(Agent.extract_tool_calls(response)), 0.1)

    asyncio.run(interrupt())
    [result] = [p for m in store.get_messages(agent.thread_id) for p in m.tool_results]
    assert (result.tool_call_id, result.is_error) == ("call_1", True)
    assert "may or may not have had its effect" in result.content
    assert agent.get_execution_status().pending_tool_calls == ()
    assert agent.is_finished() is False  # the model hears about it and goes on


def test_a_thread_in_use_cannot_be_continued_by_another_agent() -> None:
    store = InMemoryStore()
    a = Agent("a", tools=[lookup], store=store)
    a.add_task(input="go")
    a.add_messages(completion(call("call_1", "lookup", key="k")))
    b = Agent("b", store=store)
    with pytest.raises(ThreadBusyError, match=a.execution.id) as info:
        b.add_task(input="take over", thread_id=a.thread_id)
    assert (info.value.thread_id, info.value.execution_id) == (a.thread_id, a.execution.id)
    assert _stored_roles(store, a) == ["user", "assistant"]
    a.cancel()  # once A has ended (its unanswered call answered as not run), B may go on
    b.add_task(input="take over", thread_id=a.thread_id)
    assert [m["role"] for m in b.messages] == ["user", "assistant", "tool", "user"]


def test_a_bad_file_leaves_the_agent_free_and_creates_no_thread(tmp_path: Any) -> None:
    store = InMemoryStore()
    agent = Agent("a", store=store)
    with pytest.raises(UsageError, match="does not exist"):
        agent.add_task(input="look", files=[tmp_path / "missing.png"])
    assert agent.execution is None and store.list_executions() == []
    agent.add_task(input="look again")  # not stuck
    assert agent.get_execution_status().status is ExecutionStatus.RUNNING


def test_repeated_call_ids_in_one_response_are_told_apart() -> None:
    agent = Agent("a", tools=[lookup], store=InMemoryStore())
    agent.add_task(input="go")
    response = completion(call("call_0", "lookup", key="a"), call("call_0", "lookup", key="b"))
    agent.add_messages(response)
    calls = Agent.extract_tool_calls(response)
    assert [c.id for c in calls] == ["call_0", "call_0_2"]
    assert [r.content for r in agent.run_tools(calls)] == ["value of a", "value of b"]


def test_the_same_sdk_response_gives_each_agent_its_own_message_ids() -> None:
    from openai.types.chat import ChatCompletion

    response = ChatCompletion.model_validate(completion(text="hello"))
    a, b = Agent("a", store=InMemoryStore()), Agent("b", store=InMemoryStore())
    for agent in (a, b):
        agent.add_task(input="hi")
        agent.add_messages(response)
    assert a.thread[-1].id != b.thread[-1].id and a.thread[-1].text == b.thread[-1].text == "hello"


def test_a_legacy_function_call_is_a_tool_call_not_an_empty_answer() -> None:
    agent = Agent("a", tools=[lookup], store=InMemoryStore())
    agent.add_task(input="go")
    response = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "choices": [{
        "index": 0, "finish_reason": "function_call",
        "message": {"role": "assistant", "content": None,
                    "function_call": {"name": "lookup", "arguments": '{"key": "z"}'}}}]}
    agent.add_messages(response)
    [c] = Agent.extract_tool_calls(response)
    assert (c.name, c.arguments) == ("lookup", {"key": "z"})
    assert agent.run_tools([c])[0].content == "value of z"


def test_an_empty_reply_fails_instead_of_completing_with_nothing() -> None:
    agent = Agent("a", store=InMemoryStore())
    agent.add_task(input="go")
    agent.add_messages(completion(text=""))
    result = agent.retrieve_execution_result()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "empty_reply")


def test_a_finish_result_supplied_as_a_message_is_checked_against_the_output_schema() -> None:
    from pydantic import BaseModel

    class Weather(BaseModel):
        temp: float

    agent = Agent("a", store=InMemoryStore())
    agent.add_task(input="go", output_schema=Weather)
    agent.add_messages([
        {"role": "assistant", "tool_calls": [{"id": "call_f", "type": "function", "function": {
            "name": "finish", "arguments": '{"result": {"temp": "hot"}, "is_success": true}'}}]},
        {"role": "tool", "tool_call_id": "call_f", "content": "whatever"}])
    assert agent.is_finished() is False
    assert "does not match the output schema" in agent.thread[-1].tool_results[0].content


def test_custom_tools_receive_their_context() -> None:
    seen: list[str] = []

    def grammar(input: str, ctx: ToolContext) -> str:
        seen.append(ctx.idempotency_key)
        return input.upper()

    custom = Tool.from_spec({"type": "custom", "custom": {"name": "shout"}}, grammar)
    agent = Agent("a", tools=[custom], store=InMemoryStore())
    agent.add_task(input="go")
    response = {"id": "c", "object": "chat.completion", "model": "m", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
        "tool_calls": [{"id": "call_c", "type": "custom", "custom": {"name": "shout", "input": "hi"}}]}}]}
    agent.add_messages(response)
    assert agent.run_tools(Agent.extract_tool_calls(response))[0].content == "HI"
    assert seen == [f"{agent.execution.id}:call_c"]


def test_a_timed_tool_is_not_starved_by_stuck_tools_in_the_pool() -> None:
    release = threading.Event()

    @tool
    def stuck(n: int) -> str:
        """Stuck."""
        release.wait(5)
        return "late"

    @tool(timeout=1.0)
    def quick() -> str:
        """Quick."""
        return "fast"

    try:
        from loopline.tools._runner import _pool

        for n in range(80):  # more than the shared pool has threads
            _pool().submit(stuck.function, n)
        agent = Agent("a", tools=[quick], store=InMemoryStore())
        agent.add_task(input="go")
        response = completion(call("call_q", "quick"))
        agent.add_messages(response)
        began = time.perf_counter()
        [result] = agent.run_tools(Agent.extract_tool_calls(response))
        assert (result.content, result.is_success) == ("fast", True)
        assert time.perf_counter() - began < 0.9
    finally:
        release.set()


def test_reads_write_nothing() -> None:
    class CountingStore(InMemoryStore):
        saves = 0

        def commit(self, execution: Any, messages: Sequence[Message] = (), **kwargs: Any) -> None:
            CountingStore.saves += 1
            super().commit(execution, messages, **kwargs)

    store = CountingStore()
    agent = Agent("a", store=store)
    agent.add_task(input="go")
    before = CountingStore.saves
    for _ in range(5):
        agent.is_finished()
        agent.retrieve_execution_result()
        agent.get_execution_status()
    assert CountingStore.saves == before


def test_misuse_after_a_finish_still_raises_and_changes_nothing() -> None:
    agent = Agent("a", store=InMemoryStore())
    agent.add_task(input="go")
    agent.add_messages(completion(finish_call("call_f", "done")))
    agent.run_tools(Agent.extract_tool_calls(completion(finish_call("call_f", "done"))))
    thread = agent.thread
    with pytest.raises(ExecutionFinishedError):
        agent.add_messages(completion(text="more"))
    with pytest.raises(PendingToolCallsError):
        other = Agent("b", tools=[lookup], store=InMemoryStore())
        other.add_task(input="x")
        other.add_messages(completion(call("call_1", "lookup", key="k")))
        other.add_messages(completion(text="too soon"))
    assert agent.thread == thread


def test_call_ids_repeated_across_responses_are_made_unique_in_the_thread() -> None:
    """Servers that send no call ids get stable made-up ones; a repeated call repeats its id."""
    keys: list[str] = []

    @tool
    def ping(ctx: ToolContext) -> str:
        """Ping."""
        keys.append(ctx.idempotency_key)
        return "pong"

    def no_ids() -> list[dict[str, Any]]:
        return [{"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "ping", "arguments": "{}"}}]}]

    store = InMemoryStore()
    agent = Agent("a", tools=[ping], store=store)
    agent.add_task(input="go")
    for _ in range(2):
        response = no_ids()
        agent.add_messages(response)
        agent.run_tools(Agent.extract_tool_calls(response))
    ids = [c.id for m in agent.thread for c in m.tool_calls]
    assert len(ids) == 2 and len(set(ids)) == 2 and len(set(keys)) == 2
    assert len(store.get_tool_calls(agent.execution.id)) == 2
    from loopline import LLMProvider
    from provider_rules import anthropic_violations
    assert anthropic_violations(agent.request_kwargs(LLMProvider.ANTHROPIC)) == []


def test_the_call_id_index_follows_appends_and_starts_over_on_another_list() -> None:
    from loopline.agent._index import CallIds
    from loopline.messages import Message, ToolCallPart

    def calls(*ids: str) -> Message:
        return Message(role="assistant", parts=tuple(ToolCallPart(id=i, name="t", arguments="{}") for i in ids))

    index, thread = CallIds(), [Message.user("go"), calls("a", "b")]
    assert index.of(thread) == {"a", "b"}
    thread.append(calls("c"))
    assert index.of(thread) == {"a", "b", "c"}
    assert index.of([Message.user("other"), calls("x")]) == {"x"}  # not an append: indexed afresh
    assert index.of([]) == set()


def test_a_model_answering_with_nothing_fails_the_run_instead_of_looping() -> None:
    from loopline import ExecutionStatus, LLMProvider
    from loopline.errors import ResponseParseError

    class Silent:
        provider, name = LLMProvider.OPEN_AI, "silent"

        def complete(self, request: dict[str, Any]) -> list[Any]:
            return []

        async def acomplete(self, request: dict[str, Any]) -> list[Any]:
            return []

    agent = Agent("a", store=InMemoryStore())
    result = agent.run("go", model=Silent())
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "provider_error")
    assert "empty list" in (result.error or "")
    agent2 = Agent("b", store=InMemoryStore())
    agent2.add_task("go")
    with pytest.raises(ResponseParseError):
        agent2.add_messages([])
