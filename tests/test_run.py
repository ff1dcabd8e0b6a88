"""`agent.run()` / `arun()` drive the loop with the real `openai` and `anthropic` SDK clients.

Only the network is replaced: each client gets an httpx2 transport that answers like the provider
(bodies shaped after ../shared/wire), so the SDKs' own request building, retries and parsing run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, LLMProvider, tool
from loopline.errors import UsageError
from loopline.providers import resolve_model


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


def _chat(turn: int) -> dict[str, Any]:
    name, args = ("get_weather", {"city": "Oslo"}) if turn == 1 else ("finish", {"result": "Oslo: sunny",
                                                                                  "is_success": True})
    return {"id": f"chatcmpl-{turn}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": f"call_{turn}", "type": "function",
                                "function": {"name": name, "arguments": json.dumps(args)}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def _responses(turn: int) -> dict[str, Any]:
    name, args = ("get_weather", {"city": "Oslo"}) if turn == 1 else ("finish", {"result": "Oslo: sunny",
                                                                                  "is_success": True})
    return {"id": f"resp_{turn}", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5-mini",
            "output": [{"type": "function_call", "id": f"fc_{turn}", "call_id": f"call_{turn}", "name": name,
                        "arguments": json.dumps(args), "status": "completed"}],
            "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
                      "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}},
            "error": None, "incomplete_details": None, "instructions": None, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": []}


def _anthropic(turn: int) -> dict[str, Any]:
    name, args = ("get_weather", {"city": "Oslo"}) if turn == 1 else ("finish", {"result": "Oslo: sunny",
                                                                                  "is_success": True})
    return {"id": f"msg_{turn}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
            "content": [{"type": "tool_use", "id": f"toolu_{turn}", "name": name, "input": args}],
            "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 5}}


class Server:
    """Answers turn by turn; can fail the first requests with given statuses."""

    def __init__(self, body: Callable[[int], dict[str, Any]], failures: list[int] | None = None) -> None:
        self.body, self.failures, self.requests = body, list(failures or []), []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        if self.failures:
            status = self.failures.pop(0)
            return httpx2.Response(status, json={"error": {"message": f"boom {status}", "type": "server_error"}},
                                   headers={"retry-after": "0"})
        turn = 1 + sum(1 for m in self.requests[-1].get("messages", self.requests[-1].get("input", []))
                       if isinstance(m, dict) and (m.get("role") == "assistant" or m.get("type") == "function_call"))
        return httpx2.Response(200, json=self.body(turn))


def _client(kind: str, server: Server, *, asynchronous: bool) -> Any:
    transport = httpx2.MockTransport(server)
    if kind == "anthropic":
        http: Any = httpx2.AsyncClient(transport=transport) if asynchronous else httpx2.Client(transport=transport)
        cls: Any = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(api_key="sk-ant-test", http_client=http, max_retries=2)
    http = httpx2.AsyncClient(transport=transport) if asynchronous else httpx2.Client(transport=transport)
    cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(api_key="sk-test", base_url="https://api.example.test/v1", http_client=http, max_retries=2)


CASES = {
    "openai": ("openai:gpt-4o-mini", _chat, LLMProvider.OPEN_AI),
    "responses": ("openai_responses:gpt-5-mini", _responses, LLMProvider.OPEN_AI_RESPONSES),
    "anthropic": ("anthropic:claude-sonnet-4-6", _anthropic, LLMProvider.ANTHROPIC),
}


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_run_drives_the_loop_to_the_finish(kind: str, mode: str) -> None:
    model, body, provider = CASES[kind]
    server = Server(body)
    agent = Agent("a", instructions="Be brief.", tools=[get_weather], store=InMemoryStore())
    client = _client("anthropic" if kind == "anthropic" else "openai", server, asynchronous=mode == "async")
    if mode == "sync":
        result = agent.run("Weather in Oslo?", model=model, client=client)
    else:
        result = asyncio.run(agent.arun("Weather in Oslo?", model=model, client=client))
    assert (result.status, result.result, result.steps, result.usage.requests) == (
        ExecutionStatus.COMPLETED, "Oslo: sunny", 2, 2)
    assert len(server.requests) == 2
    second = json.dumps(server.requests[1])
    assert "sunny in Oslo" in second  # the tool's result went back to the model, in that API's shape
    roles = [m.role for m in agent.thread]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    assert agent.thread[1].provider == provider.value


def test_run_inside_a_running_event_loop_works_like_in_jupyter() -> None:
    async def notebook_cell() -> Any:
        agent = Agent("a", tools=[get_weather], store=InMemoryStore())
        return agent.run("Weather?", model="gpt-4o-mini", client=_client("openai", Server(_chat), asynchronous=False))

    assert asyncio.run(notebook_cell()).status is ExecutionStatus.COMPLETED


def test_the_sdk_retries_server_errors_and_the_run_completes() -> None:
    server = Server(_chat, failures=[500, 429])
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    result = agent.run("Weather?", model="gpt-4o-mini", client=_client("openai", server, asynchronous=False))
    assert result.status is ExecutionStatus.COMPLETED and len(server.requests) == 4


def test_a_provider_error_after_retries_fails_the_execution_cleanly() -> None:
    server = Server(_chat, failures=[400])
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    result = agent.run("Weather?", model="gpt-4o-mini", client=_client("openai", server, asynchronous=False))
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "provider_error")
    assert "boom 400" in (result.error or "")
    assert [m.role for m in agent.thread] == ["user"]  # nothing half-written


def test_cancelling_arun_ends_the_execution_cancelled() -> None:
    started = asyncio.Event()

    @tool
    async def slow() -> str:
        """Slow."""
        started.set()
        await asyncio.sleep(10)
        return "never"

    def body(turn: int) -> dict[str, Any]:
        response = _chat(turn)
        response["choices"][0]["message"]["tool_calls"][0]["function"] = {"name": "slow", "arguments": "{}"}
        return response

    agent = Agent("a", tools=[slow], store=InMemoryStore())

    async def go() -> None:
        task = asyncio.create_task(agent.arun("x", model="gpt-4o-mini",
                                              client=_client("openai", Server(body), asynchronous=True)))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert agent.retrieve_execution_result().status is ExecutionStatus.CANCELLED
    [result] = agent.thread[-1].tool_results
    assert result.is_error and "interrupted" in result.content


def test_run_continues_a_task_added_before_and_refuses_nothing_to_run() -> None:
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    with pytest.raises(UsageError, match="needs a task"):
        agent.run(model="gpt-4o-mini")
    agent.add_task("Weather?")
    result = agent.run(model="gpt-4o-mini", client=_client("openai", Server(_chat), asynchronous=False))
    assert result.status is ExecutionStatus.COMPLETED


def test_model_strings_name_the_provider() -> None:
    assert [(m.provider, m.name) for m in (resolve_model("gpt-4o"), resolve_model("anthropic:claude-x"),
                                           resolve_model("ollama:qwen2.5"),
                                           resolve_model("openai_responses:gpt-5"))] == [
        (LLMProvider.OPEN_AI, "gpt-4o"), (LLMProvider.ANTHROPIC, "claude-x"), (LLMProvider.OLLAMA, "qwen2.5"),
        (LLMProvider.OPEN_AI_RESPONSES, "gpt-5")]
    with pytest.raises(UsageError):
        resolve_model("openai:")
