"""`extract_tool_calls` in the seed loop: on an agent it reads the agent's provider; on the class,
without a provider, the response's own shape decides; an explicit provider always wins, and a
mismatched one is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from tests.readme_server import ReadmeServer

from loopline import Agent, InMemoryStore, LLMProvider, ToolCall, tool
from loopline.errors import ProviderMismatchError
from loopline.providers import make_response, synthesize_stream

APIS = [LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES, LLMProvider.ANTHROPIC]
CALL_IDS = {LLMProvider.OPEN_AI: "call_1_0", LLMProvider.OPEN_AI_RESPONSES: "call_1_1",
            LLMProvider.ANTHROPIC: "toolu_1_1"}  # as make_response numbers them


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"12 degrees in {city}"


def response_of(provider: LLMProvider) -> dict[str, Any]:
    return make_response(provider, ["Let me look.", ("get_weather", {"city": "Oslo"})])


def expected(provider: LLMProvider) -> list[ToolCall]:
    return [ToolCall(id=CALL_IDS[provider], name="get_weather", arguments={"city": "Oslo"},
                     raw_arguments='{"city":"Oslo"}')]


def sse_text(provider: LLMProvider) -> str:
    events = synthesize_stream(response_of(provider), provider)
    named = provider is not LLMProvider.OPEN_AI
    return "".join((f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events)


@pytest.mark.parametrize("provider", APIS, ids=str)
def test_on_an_agent_the_agents_provider_reads_the_response(provider: LLMProvider) -> None:
    agent = Agent("seed", instructions="Be brief.", tools=[get_weather], llm_provider=provider, store=InMemoryStore())
    agent.add_task(input="Weather in Oslo?")
    response = response_of(provider)
    agent.add_messages(response)

    calls = agent.extract_tool_calls(response)

    assert calls == expected(provider)
    assert [r.content for r in agent.run_tools(calls)] == ["12 degrees in Oslo"]


@pytest.mark.parametrize("provider", APIS, ids=str)
@pytest.mark.parametrize("form", ["response", "stream events", "stream text"])
def test_on_the_class_without_a_provider_the_shape_decides(provider: LLMProvider, form: str) -> None:
    response = response_of(provider)
    given: Any = {"response": response, "stream events": synthesize_stream(response, provider),
                  "stream text": sse_text(provider)}[form]
    assert Agent.extract_tool_calls(given) == expected(provider)


@pytest.mark.parametrize("provider", APIS, ids=str)
def test_an_explicit_provider_still_reads_the_response(provider: LLMProvider) -> None:
    other = LLMProvider.ANTHROPIC if provider is LLMProvider.OPEN_AI else LLMProvider.OPEN_AI
    agent = Agent("seed", tools=[get_weather], llm_provider=other, store=InMemoryStore())
    assert Agent.extract_tool_calls(response_of(provider), llm_provider=provider) == expected(provider)
    assert Agent.extract_tool_calls(response_of(provider), provider.value) == expected(provider)
    assert agent.extract_tool_calls(response_of(provider), llm_provider=provider) == expected(provider)


@pytest.mark.parametrize("provider", APIS, ids=str)
def test_a_mismatched_explicit_provider_is_refused(provider: LLMProvider) -> None:
    wrong = LLMProvider.ANTHROPIC if provider is not LLMProvider.ANTHROPIC else LLMProvider.OPEN_AI_RESPONSES
    agent = Agent("seed", tools=[get_weather], llm_provider=provider, store=InMemoryStore())
    with pytest.raises(ProviderMismatchError) as on_class:
        Agent.extract_tool_calls(response_of(provider), llm_provider=wrong)
    with pytest.raises(ProviderMismatchError) as on_agent:
        agent.extract_tool_calls(response_of(provider), llm_provider=wrong)
    for caught in (on_class, on_agent):
        assert (caught.value.expected, caught.value.detected) == (wrong.value, _format_name(provider))


def test_an_agent_reads_a_response_as_its_own_providers_not_as_its_shape() -> None:
    """The agent's provider is a statement, not a guess: another API's response is named as such."""
    agent = Agent("seed", tools=[get_weather], llm_provider=LLMProvider.OPEN_AI, store=InMemoryStore())
    with pytest.raises(ProviderMismatchError, match="pass llm_provider="):
        agent.extract_tool_calls(response_of(LLMProvider.ANTHROPIC))


def test_a_list_of_message_dicts_on_the_class_is_read_as_chat_completions_as_before() -> None:
    """Message dicts do not say which API they are in; the class keeps its old default for them."""
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}
    assert Agent.extract_tool_calls([message]) == [ToolCall(id="call_7", name="get_weather", arguments={
        "city": "Oslo"}, raw_arguments='{"city":"Oslo"}')]


SDK_CALLS: dict[LLMProvider, Callable[[str, Agent, bool], Any]] = {
    LLMProvider.OPEN_AI: lambda url, a, stream: openai.OpenAI(base_url=url + "/v1", api_key="sk-seed").chat.completions
    .create(model="gpt-4o", messages=a.messages, tools=a.get_tools(), stream=stream),
    LLMProvider.OPEN_AI_RESPONSES: lambda url, a, stream: openai.OpenAI(base_url=url + "/v1", api_key="sk-seed")
    .responses.create(model="gpt-5-mini", input=a.messages, tools=a.get_tools(), stream=stream),
    LLMProvider.ANTHROPIC: lambda url, a, stream: anthropic.Anthropic(base_url=url, api_key="sk-ant-seed").messages
    .create(model="claude-sonnet-4-6", max_tokens=1024, system=a.system, messages=a.messages, tools=a.get_tools(),
            stream=stream),
}


@pytest.mark.parametrize("provider", APIS, ids=str)
@pytest.mark.parametrize("stream", [False, True], ids=["object", "stream"])
@pytest.mark.parametrize("extract_first", [False, True], ids=["added-first", "extracted-first"])
def test_sdk_objects_are_read_on_the_class_too(provider: LLMProvider, stream: bool, extract_first: bool) -> None:
    """What the official clients return is told apart without a provider, and read once: an SDK
    stream (which can be read only once) by the URL it came from, before add_messages reads it or after."""
    agent = Agent("seed", tools=[get_weather], llm_provider=provider, store=InMemoryStore())
    agent.add_task(input="Weather in Oslo?")
    with ReadmeServer() as server:
        response = SDK_CALLS[provider](server.url, agent, stream)
        if extract_first:
            calls = Agent.extract_tool_calls(response)
        added = agent.add_messages(response)
    if not extract_first:
        calls = Agent.extract_tool_calls(response)
    assert [c.name for c in calls] == ["get_weather"]
    assert calls == agent.extract_tool_calls(response) == [ToolCall.from_part(p) for p in added[0].tool_calls]


def _format_name(provider: LLMProvider) -> str:
    return {LLMProvider.OPEN_AI: "an OpenAI Chat Completions response",
            LLMProvider.OPEN_AI_RESPONSES: "an OpenAI Responses API response",
            LLMProvider.ANTHROPIC: "an Anthropic Messages response"}[provider]
