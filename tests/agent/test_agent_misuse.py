"""Misusing the Agent API raises the named loopline error with a helpful message, and loses nothing.

After each error the thread in the store, the rendered conversation and the stored execution are
exactly what they were before the call that raised.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import loopline
import loopline.errors
from chat_responses import assistant_message, call, completion, finish_call, tool_message
from loopline import Agent, ExecutionStatus, InMemoryStore, LLMProvider, RunConfig, Tool, tool
from loopline.errors import (
    ControlSignal,
    ExecutionFinishedError,
    LooplineError,
    NoActiveTaskError,
    PendingToolCallsError,
    ProviderErrorResponse,
    ProviderMismatchError,
    RuntimeFailure,
    TaskAlreadyRunningError,
    ToolDefinitionError,
    UnknownExecutionError,
    UnknownThreadError,
    UnknownToolCallError,
    UsageError,
)

# --- helpers ------------------------------------------------------------------------------------------

ran: list[str] = []


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    ran.append(city)
    return f"{city}: sunny"


@pytest.fixture(autouse=True)
def _clear_ran() -> None:
    ran.clear()


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


def make_agent(store: InMemoryStore, **kwargs: Any) -> Agent:
    return Agent("helper", instructions="Help.", tools=[get_weather], store=store, **kwargs)


def snapshot(agent: Agent) -> tuple[Any, ...]:
    """Everything that must survive a misuse error unchanged."""
    execution = agent.execution
    assert execution is not None
    return (
        agent.store.get_messages(execution.thread_id),
        # The rendering, unless calls wait for results (then no provider accepts it): the calls waiting.
        copy.deepcopy(agent.messages) if not execution.pending_tool_calls else agent.pending_tool_calls,
        agent.store.get_execution(execution.id),
        execution.id,
    )


def assert_nothing_lost(agent: Agent, before: tuple[Any, ...]) -> None:
    assert snapshot(agent) == before
    assert agent.thread == agent.store.get_messages(agent.thread_id)  # type: ignore[arg-type]


def pending_agent(store: InMemoryStore) -> tuple[Agent, dict[str, Any]]:
    """An agent whose last response asked for two calls that have not run yet."""
    agent = make_agent(store)
    agent.add_task(input="Weather in Oslo and Riga?")
    response = completion(call("call_o", "get_weather", city="Oslo"), call("call_r", "get_weather", city="Riga"))
    agent.add_messages(response)
    return agent, response


def finished_agent(store: InMemoryStore) -> tuple[Agent, dict[str, Any]]:
    """An agent whose execution COMPLETED through the finish tool; returns the last response."""
    agent = make_agent(store)
    agent.add_task(input="Weather in Oslo?")
    first = completion(call("call_o", "get_weather", city="Oslo"))
    agent.add_messages(first)
    agent.run_tools(Agent.extract_tool_calls(first))
    last = completion(finish_call("call_f", "Oslo: sunny"))
    agent.add_messages(last)
    agent.run_tools(Agent.extract_tool_calls(last))
    assert agent.retrieve_execution_result().status is ExecutionStatus.COMPLETED
    return agent, first


ANTHROPIC_TEXT = {
    "content": [{"text": "It is sunny in Oslo.", "type": "text"}],
    "id": "msg_011S3wxtqL5CVescWqS3zeg2",
    "model": "claude-haiku-4-5-20251001",
    "role": "assistant",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "type": "message",
    "usage": {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "input_tokens": 423,
              "output_tokens": 12, "service_tier": "standard"},
}
ANTHROPIC_TOOL_USE = {
    **ANTHROPIC_TEXT,
    "content": [{"text": "Let me check.", "type": "text"},
                {"id": "toolu_0167cfEnoQaPviGdVXA95zcu", "input": {"city": "Oslo"}, "name": "get_weather",
                 "type": "tool_use"}],
    "stop_reason": "tool_use",
}
RESPONSES_API = {
    "id": "resp_67ccd2bed1ec8190b14f964abc054267",
    "object": "response",
    "status": "completed",
    "model": "gpt-4o-2024-08-06",
    "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}]}],
}


# --- before add_task ------------------------------------------------------------------------------------

BEFORE_TASK: list[tuple[str, Callable[[Agent], Any]]] = [
    ("add_messages", lambda a: a.add_messages(completion(text="Hi."))),
    ("run_tools", lambda a: a.run_tools(Agent.extract_tool_calls(completion(call("c1", "get_weather", city="X"))))),
    ("messages", lambda a: a.messages),
    ("is_finished", lambda a: a.is_finished()),
    ("get_messages", lambda a: a.get_messages()),
    ("request_kwargs", lambda a: a.request_kwargs()),
    ("retrieve_execution_result", lambda a: a.retrieve_execution_result()),
    ("get_execution_status", lambda a: a.get_execution_status()),
    ("cancel", lambda a: a.cancel()),
]


@pytest.mark.parametrize(("name", "use"), BEFORE_TASK, ids=[n for n, _ in BEFORE_TASK])
def test_loop_methods_before_add_task(store: InMemoryStore, name: str, use: Callable[[Agent], Any]) -> None:
    agent = make_agent(store)
    with pytest.raises(NoActiveTaskError) as caught:
        use(agent)
    message = str(caught.value)
    assert "'helper'" in message
    assert "add_task(input=...)" in message
    assert ran == []
    assert agent.execution is None
    assert agent.list_executions() == []


# --- add_task -------------------------------------------------------------------------------------------


def test_add_task_while_running(store: InMemoryStore) -> None:
    agent, response = pending_agent(store)
    running = agent.execution
    assert running is not None
    before = snapshot(agent)

    with pytest.raises(TaskAlreadyRunningError) as caught:
        agent.add_task(input="Something else.")
    message = str(caught.value)
    assert running.id in message
    assert "still running" in message
    assert "cancel()" in message
    assert caught.value.execution_id == running.id
    assert_nothing_lost(agent, before)
    assert agent.execution is running
    assert len(agent.list_executions()) == 1

    # the running task goes on as if nothing happened, and a new task may start once it ended
    agent.run_tools(Agent.extract_tool_calls(response))
    agent.add_messages(completion(text="Oslo and Riga: sunny."))
    assert agent.is_finished() is True
    agent.add_task(input="Something else.")
    assert len(agent.list_executions()) == 2


def test_add_task_with_an_unknown_thread(store: InMemoryStore) -> None:
    agent, _ = finished_agent(store)
    before = snapshot(agent)
    with pytest.raises(UnknownThreadError) as caught:
        agent.add_task(input="Continue.", thread_id="thr_does_not_exist")
    message = str(caught.value)
    assert message.startswith("no thread with id 'thr_does_not_exist' in this store")
    assert "thread_id" in message
    assert caught.value.thread_id == "thr_does_not_exist"
    assert isinstance(caught.value, KeyError)
    assert_nothing_lost(agent, before)
    assert agent.retrieve_execution_result().status is ExecutionStatus.COMPLETED

    # as a KeyError too, and a thread of another store is unknown here
    other = Agent("other", store=InMemoryStore())
    with pytest.raises(KeyError):
        other.add_task(input="Continue.", thread_id=agent.thread_id)
    assert other.execution is None


def test_output_schema_without_the_finish_tool(store: InMemoryStore) -> None:
    agent = Agent("plain", store=store, finish_tool=False)
    with pytest.raises(UsageError, match=r"output_schema needs the finish tool.*finish_tool=True"):
        agent.add_task(input="Forecast.", output_schema={"type": "object"})
    assert agent.execution is None


# --- feeding a finished execution ------------------------------------------------------------------------


@pytest.mark.parametrize("more", [
    pytest.param(completion(text="One more thing."), id="completion"),
    pytest.param([{"role": "user", "content": "One more thing."}], id="wire-user"),
    pytest.param([assistant_message(text="One more thing.")], id="wire-assistant"),
])
def test_add_messages_to_a_finished_execution(store: InMemoryStore, more: Any) -> None:
    agent, _ = finished_agent(store)
    execution_id = agent.execution.id  # type: ignore[union-attr]
    before = snapshot(agent)

    with pytest.raises(ExecutionFinishedError) as caught:
        agent.add_messages(more)
    message = str(caught.value)
    assert execution_id in message
    assert "already ended with status COMPLETED" in message
    assert "add_task(" in message and "thread_id" in message
    assert (caught.value.execution_id, caught.value.status) == (execution_id, "COMPLETED")
    assert_nothing_lost(agent, before)


def test_run_tools_after_the_end(store: InMemoryStore) -> None:
    agent, earlier = finished_agent(store)
    before = snapshot(agent)
    ran.clear()
    with pytest.raises(ExecutionFinishedError, match="already ended with status COMPLETED"):
        agent.run_tools(Agent.extract_tool_calls(earlier))
    assert ran == []
    assert_nothing_lost(agent, before)


def test_run_tools_after_a_limit_ended_the_execution(store: InMemoryStore) -> None:
    agent = make_agent(store, config=RunConfig(max_steps=1))
    agent.add_task(input="Weather?")
    response = completion(call("c1", "get_weather", city="Oslo"))
    agent.add_messages(response)
    agent.run_tools(Agent.extract_tool_calls(response))
    assert agent.retrieve_execution_result().error_code == "max_steps"
    before = snapshot(agent)
    with pytest.raises(ExecutionFinishedError, match="already ended with status FAILED") as caught:
        agent.run_tools(Agent.extract_tool_calls(response))
    assert caught.value.status == "FAILED"
    assert ran == ["Oslo"]
    assert_nothing_lost(agent, before)


# --- pending and unknown tool calls ---------------------------------------------------------------------


def test_second_response_while_tool_calls_are_pending(store: InMemoryStore) -> None:
    agent, response = pending_agent(store)
    before = snapshot(agent)

    with pytest.raises(PendingToolCallsError) as caught:
        agent.add_messages(completion(text="Never mind."))
    message = str(caught.value)
    assert "['call_o', 'call_r']" in message
    assert "run_tools(" in message
    assert caught.value.tool_call_ids == ["call_o", "call_r"]
    assert_nothing_lost(agent, before)
    assert agent.get_execution_status().steps == 1

    # a user message must wait for the results as well
    with pytest.raises(PendingToolCallsError, match="before adding a user message"):
        agent.add_messages([{"role": "user", "content": "Hurry up."}])
    assert_nothing_lost(agent, before)

    # nothing is stuck: the calls can still run and the model can finish
    agent.run_tools(Agent.extract_tool_calls(response))
    done = completion(finish_call("call_f", "Both sunny."))
    agent.add_messages(done)
    agent.run_tools(Agent.extract_tool_calls(done))
    assert agent.retrieve_execution_result().result == "Both sunny."


def test_run_tools_with_a_call_not_in_the_last_response(store: InMemoryStore) -> None:
    agent, response = pending_agent(store)
    before = snapshot(agent)
    stranger = Agent.extract_tool_calls(completion(call("call_x", "get_weather", city="Kyiv")))
    own = Agent.extract_tool_calls(response)

    with pytest.raises(UnknownToolCallError) as caught:
        agent.run_tools([own[0], *stranger])
    message = str(caught.value)
    assert "'call_x'" in message
    assert "waiting for ['call_o', 'call_r']" in message
    assert caught.value.tool_call_id == "call_x"
    assert ran == []  # refused before anything ran, the valid call included
    assert_nothing_lost(agent, before)

    # a call that already has its result is not awaited any more
    agent.run_tools(own[:1])
    before = snapshot(agent)
    with pytest.raises(UnknownToolCallError, match=r"'call_o' \(waiting for \['call_r'\]\)"):
        agent.run_tools(own[:1])
    assert ran == ["Oslo"]
    assert_nothing_lost(agent, before)


def test_tool_results_for_unknown_calls_in_add_messages(store: InMemoryStore) -> None:
    agent, _ = pending_agent(store)
    before = snapshot(agent)
    with pytest.raises(UnknownToolCallError, match="'call_x'"):
        agent.add_messages([tool_message("call_x", "made up")])
    assert_nothing_lost(agent, before)


def test_the_same_call_twice_in_one_run_tools(store: InMemoryStore) -> None:
    """A call is run at most once: a duplicate in one batch is refused like an already answered call."""
    agent, response = pending_agent(store)
    before = snapshot(agent)
    oslo = Agent.extract_tool_calls(response)[0]
    with pytest.raises(UsageError, match="'call_o'"):
        agent.run_tools([oslo, oslo])
    assert ran == []
    assert_nothing_lost(agent, before)


def test_run_tools_with_no_calls_appends_nothing(store: InMemoryStore) -> None:
    agent, _ = pending_agent(store)
    before = snapshot(agent)
    assert agent.run_tools([]) == []
    assert agent.store.get_messages(agent.thread_id) == before[0]  # type: ignore[arg-type]


# --- wrong formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("response", [pytest.param(ANTHROPIC_TEXT, id="text-only"),
                                      pytest.param(ANTHROPIC_TOOL_USE, id="tool-use")])
def test_anthropic_response_given_to_an_openai_agent(store: InMemoryStore, response: dict[str, Any]) -> None:
    agent = make_agent(store)
    agent.add_task(input="Weather in Oslo?")
    before = snapshot(agent)

    with pytest.raises(ProviderMismatchError) as caught:
        agent.add_messages(response)
    message = str(caught.value)
    assert "expected an OpenAI Chat Completions response" in message
    assert "Anthropic Messages response" in message
    assert "llm_provider" in message
    assert (caught.value.expected, caught.value.detected) == ("openai", "an Anthropic Messages response")
    assert_nothing_lost(agent, before)
    assert agent.is_finished() is False

    with pytest.raises(ProviderMismatchError):
        Agent.extract_tool_calls(response, llm_provider=LLMProvider.OPEN_AI)


def test_responses_api_response_given_to_an_openai_chat_agent(store: InMemoryStore) -> None:
    agent = make_agent(store)
    agent.add_task(input="Weather?")
    before = snapshot(agent)
    with pytest.raises(ProviderMismatchError, match="an OpenAI Responses API response") as caught:
        agent.add_messages(RESPONSES_API)
    assert caught.value.detected == "an OpenAI Responses API response"
    assert isinstance(caught.value, ValueError)
    assert_nothing_lost(agent, before)


def test_provider_error_body_given_to_add_messages(store: InMemoryStore) -> None:
    agent = make_agent(store)
    agent.add_task(input="Weather?")
    before = snapshot(agent)
    body = {"error": {"message": "The model `gpt-9` does not exist or you do not have access to it.",
                      "type": "invalid_request_error", "param": None, "code": "model_not_found"}}
    with pytest.raises(ProviderErrorResponse, match="does not exist") as caught:
        agent.add_messages(body)
    assert (caught.value.provider, caught.value.error_type, caught.value.code) == (
        "openai", "invalid_request_error", "model_not_found")
    assert_nothing_lost(agent, before)


@pytest.mark.parametrize("role", ["system", "developer"])
def test_system_message_in_add_messages(store: InMemoryStore, role: str) -> None:
    agent = make_agent(store)
    agent.add_task(input="Weather?")
    before = snapshot(agent)
    with pytest.raises(UsageError) as caught:
        agent.add_messages([{"role": role, "content": "You are a pirate."}])
    assert type(caught.value) is UsageError
    assert "Agent(instructions=...)" in str(caught.value)
    assert_nothing_lost(agent, before)


# --- tool definitions -----------------------------------------------------------------------------------


def test_user_tool_named_finish(store: InMemoryStore) -> None:
    @tool
    def finish(summary: str) -> str:
        """My own finish."""
        return summary

    with pytest.raises(ToolDefinitionError) as caught:
        Agent("a", tools=[finish], store=store)
    message = str(caught.value)
    assert "'finish'" in message and "reserved" in message and "finish_tool=False" in message
    assert caught.value.tool_name == "finish"
    assert isinstance(caught.value, ValueError)

    spec = {"type": "function", "function": {"name": "finish", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(ToolDefinitionError, match="reserved"):
        Agent("a", tools=[Tool.from_spec(spec, lambda: "ok")], store=store)

    # without the built-in finish tool the name is free
    agent = Agent("a", tools=[finish], store=store, finish_tool=False)
    agent.add_task(input="Go.")
    assert [t["function"]["name"] for t in agent.get_tools()] == ["finish"]


def test_two_tools_with_the_same_name(store: InMemoryStore) -> None:
    def lookup(query: str) -> str:
        """First."""
        return query

    other = tool(name="lookup")(lambda query: query)
    with pytest.raises(ToolDefinitionError) as caught:
        Agent("a", tools=[lookup, other], store=store)
    assert "two tools are named 'lookup'" in str(caught.value)
    assert "unique" in str(caught.value)
    assert caught.value.tool_name == "lookup"


# --- lookups --------------------------------------------------------------------------------------------


def test_unknown_execution_id(store: InMemoryStore) -> None:
    agent, _ = finished_agent(store)
    before = snapshot(agent)
    with pytest.raises(UnknownExecutionError) as caught:
        agent.get_execution("exe_does_not_exist")
    assert str(caught.value) == "no execution with id 'exe_does_not_exist' in this store"
    assert caught.value.execution_id == "exe_does_not_exist"
    with pytest.raises(KeyError):
        agent.get_execution("exe_does_not_exist")
    assert_nothing_lost(agent, before)


# --- the error tree -------------------------------------------------------------------------------------


def test_every_loopline_exception_derives_from_loopline_error() -> None:
    exceptions = [getattr(loopline.errors, name) for name in loopline.errors.__all__]
    assert all(inspect.isclass(e) and issubclass(e, Exception) for e in exceptions)
    assert [e.__name__ for e in exceptions if not issubclass(e, LooplineError)] == []
    families = {UsageError, RuntimeFailure, ControlSignal}
    assert [e.__name__ for e in exceptions
            if e is not LooplineError and e not in families and not issubclass(e, tuple(families))] == []
    assert loopline.LooplineError is LooplineError
    # every exception class defined in the module is exported
    defined = {name for name, obj in vars(loopline.errors).items()
               if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == "loopline.errors"}
    assert defined == set(loopline.errors.__all__)
