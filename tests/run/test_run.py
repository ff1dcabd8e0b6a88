"""`agent.run()` / `arun()` drive the loop with the real `openai` and `anthropic` SDK clients.

Only the network is replaced: each client gets an httpx2 transport whose server side answers from a
`ScriptedModel` (`loopline.testing`), in the API's own response format, so the SDKs' own request
building, retries and parsing run. Tests about the loop itself, not the SDKs, give the agent the
`ScriptedModel` directly.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest

from loopline import Agent, InMemoryStore, LLMProvider, tool
from loopline.errors import UsageError
from loopline.providers import resolve_model
from loopline.testing import ScriptedModel, assert_result, assert_tool_calls, call, reply
from sdk_clients import sdk_client


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


WEATHER = [reply(call("get_weather", city="Oslo")), reply(call("finish", result="Oslo: sunny", is_success=True))]
"""The model asks for the weather, then finishes with it."""


class Server:
    """The provider's side of a mock transport: fails the first requests with the given statuses, then
    answers each request from a `ScriptedModel` speaking `provider`'s format."""

    def __init__(self, provider: LLMProvider, failures: list[int] | None = None) -> None:
        self.model = ScriptedModel(WEATHER, provider=provider)
        self.failures, self.requests = list(failures or []), []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.failures:
            status = self.failures.pop(0)
            return httpx2.Response(status, json={"error": {"message": f"boom {status}", "type": "server_error"}},
                                   headers={"retry-after": "0"})
        return httpx2.Response(200, json=self.model.complete(body))


def _client(kind: str, server: Server, *, asynchronous: bool) -> Any:
    return sdk_client(kind, server="https://api.example.test", asynchronous=asynchronous,
                      transport=httpx2.MockTransport(server), max_retries=2)


CASES = {
    "openai": ("openai:gpt-4o-mini", LLMProvider.OPEN_AI),
    "responses": ("openai_responses:gpt-5-mini", LLMProvider.OPEN_AI_RESPONSES),
    "anthropic": ("anthropic:claude-sonnet-4-6", LLMProvider.ANTHROPIC),
}


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_run_drives_the_loop_to_the_finish(kind: str, mode: str) -> None:
    model, provider = CASES[kind]
    server = Server(provider)
    agent = Agent("a", instructions="Be brief.", tools=[get_weather], store=InMemoryStore())
    client = _client("anthropic" if kind == "anthropic" else "openai", server, asynchronous=mode == "async")
    if mode == "sync":
        result = agent.run("Weather in Oslo?", model=model, client=client)
    else:
        result = asyncio.run(agent.arun("Weather in Oslo?", model=model, client=client))
    assert_result(result, ok=True, value="Oslo: sunny")
    assert (result.steps, result.usage.requests) == (2, 2)
    assert_tool_calls(agent, [call("get_weather", city="Oslo"), call("finish", result="Oslo: sunny", is_success=True)])
    assert len(server.requests) == 2
    assert server.requests[0]["model"] == model.split(":")[1]  # what the SDK sent, model name included
    second = json.dumps(server.requests[1])
    assert "sunny in Oslo" in second  # the tool's result went back to the model, in that API's shape
    roles = [m.role for m in agent.thread]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    assert agent.thread[1].provider == provider.value


def test_run_inside_a_running_event_loop_works_like_in_jupyter() -> None:
    async def notebook_cell() -> Any:
        agent = Agent("a", tools=[get_weather], store=InMemoryStore())
        client = _client("openai", Server(LLMProvider.OPEN_AI), asynchronous=False)
        return agent.run("Weather?", model="gpt-4o-mini", client=client)

    assert_result(asyncio.run(notebook_cell()), ok=True)


def test_the_sdk_retries_server_errors_and_the_run_completes() -> None:
    server = Server(LLMProvider.OPEN_AI, failures=[500, 429])
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    result = agent.run("Weather?", model="gpt-4o-mini", client=_client("openai", server, asynchronous=False))
    assert_result(result, ok=True)
    assert len(server.requests) == 4


def test_a_provider_error_after_retries_fails_the_execution_cleanly() -> None:
    server = Server(LLMProvider.OPEN_AI, failures=[400])
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    result = agent.run("Weather?", model="gpt-4o-mini", client=_client("openai", server, asynchronous=False))
    assert_result(result, status="failed", error_code="provider_error", error="boom 400")
    assert [m.role for m in agent.thread] == ["user"]  # nothing half-written


def test_cancelling_arun_ends_the_execution_cancelled() -> None:
    started = asyncio.Event()

    @tool
    async def slow() -> str:
        """Slow."""
        started.set()
        await asyncio.sleep(10)
        return "never"

    agent = Agent("a", tools=[slow], store=InMemoryStore())

    async def go() -> None:
        task = asyncio.create_task(agent.arun("x", model=ScriptedModel([reply(call("slow", {}))])))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert_result(agent, status="cancelled")
    [result] = agent.thread[-1].tool_results
    assert result.is_error and "interrupted" in result.content


def test_run_continues_a_task_added_before_and_refuses_nothing_to_run() -> None:
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    with pytest.raises(UsageError, match="needs a task"):
        agent.run(model="gpt-4o-mini")
    agent.add_task("Weather?")
    model = ScriptedModel(WEATHER)
    assert_result(agent.run(model=model), ok=True, value="Oslo: sunny")
    assert model.requests[0]["messages"][0] == {"role": "user", "content": "Weather?"}


def test_model_strings_name_the_provider() -> None:
    assert [(m.provider, m.name) for m in (resolve_model("gpt-4o"), resolve_model("anthropic:claude-x"),
                                           resolve_model("ollama:qwen2.5"),
                                           resolve_model("openai_responses:gpt-5"))] == [
        (LLMProvider.OPEN_AI, "gpt-4o"), (LLMProvider.ANTHROPIC, "claude-x"), (LLMProvider.OLLAMA, "qwen2.5"),
        (LLMProvider.OPEN_AI_RESPONSES, "gpt-5")]
    with pytest.raises(UsageError):
        resolve_model("openai:")
