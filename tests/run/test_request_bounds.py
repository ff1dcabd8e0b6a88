"""What bounds a request to the model and a running tool: the execution's time limit and the retries.

`max_duration` bounds the request in flight (its retries included) and a running tool, not only the gap
between steps: a run that runs out of time mid-request or mid-tool ends FAILED with `max_duration`. A
failed request is retried by loopline's one policy (the SDKs' own retries are off): after `Retry-After`
when the server sends one, else after `retry_delay_seconds`. The real `openai` and `anthropic` SDKs talk
to `fault_server.FaultServer` on 127.0.0.1; tools run under the real runner.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from fault_responses import error_body, ok
from fault_server import FaultServer, Json, Slow
from loopline import Agent, ExecutionResult, ExecutionStatus, InMemoryStore, RunConfig, tool
from loopline.errors import UsageError
from loopline.testing import ScriptedModel, call, reply
from sdk_clients import sdk_client

KINDS = ["openai", "anthropic"]
MODEL = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-sonnet-4-6"}
FINISH = 2
"""The turn of `fault_responses.ok` that calls the finish tool ("Oslo: sunny")."""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # 127.0.0.1 only, never through a proxy
    fault = FaultServer().start()
    try:
        yield fault
    finally:
        fault.stop()
        assert not fault.alive(), "the server left threads running"


def _client(server: FaultServer, kind: str, mode: str, *, max_retries: int = 2) -> Any:
    """An SDK client with a generous timeout of its own, so only what loopline sets can cut a request."""
    return sdk_client(kind, server=server.url, asynchronous=mode == "arun", max_retries=max_retries, timeout=30.0)


def _run(agent: Agent, mode: str, model: Any, client: Any = None, *,
         then: Callable[[], object] = lambda: None) -> tuple[ExecutionResult, float]:
    """Run "Weather in Oslo?" through `run` or `arun`; the result and the seconds it took. `then` runs
    right after (before `asyncio.run` waits for the worker threads of cut sync tools)."""
    started = time.monotonic()
    if mode == "run":
        result = agent.run("Weather in Oslo?", model=model, client=client)
        then()
        return result, time.monotonic() - started

    async def go() -> tuple[ExecutionResult, float]:
        try:
            outcome = await agent.arun("Weather in Oslo?", model=model, client=client)
            return outcome, time.monotonic() - started
        finally:
            then()
            if client is not None:
                await client.close()

    return asyncio.run(go())


def _agent(config: RunConfig, *tools: Any) -> Agent:
    return Agent("bounded", instructions="Be brief.", tools=list(tools), store=InMemoryStore(), config=config)


# --- max_duration bounds the request in flight -------------------------------------------------------


@pytest.mark.parametrize("mode", ["run", "arun"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_time_limit_cuts_a_request_in_flight(server: FaultServer, kind: str, mode: str) -> None:
    server.script = [Slow(10.0, ok(kind, mode, FINISH)), ok(kind, mode, FINISH)]
    agent = _agent(RunConfig(max_duration=1, max_steps=4))
    result, elapsed = _run(agent, mode, MODEL[kind], _client(server, kind, mode))
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration"), result.error
    assert elapsed < 5.0, elapsed  # the limit, not the 10 s the server waits
    assert len(server.requests) == 1  # a request the deadline cut is not retried
    assert [m.role for m in agent.thread] == ["user"]  # nothing half-received is written


def test_the_time_limit_tightens_the_sdks_default_timeout(server: FaultServer) -> None:
    server.script = [Slow(10.0, ok("openai", "run", FINISH))]
    client = openai.OpenAI(api_key="sk-test", base_url=f"{server.url}/v1")  # the SDK's httpx.Timeout(600, ...)
    result, elapsed = _run(_agent(RunConfig(max_duration=1)), "run", MODEL["openai"], client)
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration"), result.error
    assert elapsed < 5.0, elapsed
    client.close()


def test_the_time_limit_bounds_the_waits_between_retries(server: FaultServer) -> None:
    unavailable = Json(error_body("openai", 500, "Unavailable."), status=503)
    server.script = [unavailable, ok("openai", "run", FINISH)]
    agent = _agent(RunConfig(max_duration=1.5, retry_delay_seconds=5.0))
    result, elapsed = _run(agent, "run", MODEL["openai"], _client(server, "openai", "run"))
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration")  # the time ended it
    assert "Unavailable." in (result.error or "")
    assert elapsed < 1.5 and len(server.requests) == 1  # a wait past the deadline is not started


# --- max_duration bounds a running tool ----------------------------------------------------------------


@pytest.mark.parametrize(("mode", "kind"), [("run", "sync"), ("arun", "sync"), ("arun", "async")])
def test_the_time_limit_cuts_a_running_tool(mode: str, kind: str) -> None:
    release = threading.Event()

    @tool
    def survey(city: str) -> str:
        """Takes ten seconds."""
        release.wait(10.0)
        return "done"

    @tool
    async def asurvey(city: str) -> str:
        """Takes ten seconds."""
        await asyncio.sleep(10.0)
        return "done"

    slow = survey if kind == "sync" else asurvey
    model = ScriptedModel([reply(call(slow.name, city="Oslo")), reply(call("finish", result="x", is_success=True))])
    agent = _agent(RunConfig(max_duration=1), slow)
    try:
        result, elapsed = _run(agent, mode, model, then=release.set)
    finally:
        release.set()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration"), result.error
    assert elapsed < 5.0, elapsed  # the limit, not the tool's 10 s
    [cut] = agent.thread[-1].tool_results
    assert cut.is_error and cut.content.startswith(f"Error: tool '{slow.name}' did not finish within ")
    assert "the time the execution had left (max_duration)" in cut.content
    assert len(model.requests) == 1  # no turn after the time ran out


def test_a_tool_started_after_the_time_ran_out_does_not_run() -> None:
    ran: list[str] = []

    @tool
    def note(text: str) -> str:
        """Writes a note."""
        ran.append(text)
        return "noted"

    agent = _agent(RunConfig(max_duration=0.05), note)
    agent.add_task("Take a note.")
    agent.add_messages(ScriptedModel([reply(call("note", text="hi"))]).respond(agent))
    time.sleep(0.1)
    [result] = agent.run_tools(agent.pending_tool_calls)  # the manual loop, past the deadline
    assert ran == [] and result.is_error and "time limit (max_duration) ran out" in (result.error or "")


# --- retries: one policy, with retry_delay_seconds and Retry-After -----------------------------------


@pytest.mark.parametrize("mode", ["run", "arun"])
@pytest.mark.parametrize("kind", KINDS)
def test_retries_wait_the_delay_or_what_retry_after_says(server: FaultServer, kind: str, mode: str) -> None:
    server.script = [Json(error_body(kind, 500, "Unavailable."), status=503),
                     Json(error_body(kind, 429, "Slow down."), status=429, headers={"retry-after": "0.3"}),
                     ok(kind, mode, FINISH)]
    agent = _agent(RunConfig(max_retries=2, retry_delay_seconds=1.0))
    result, _ = _run(agent, mode, MODEL[kind], _client(server, kind, mode, max_retries=0))
    assert (result.status, result.result, result.steps) == (ExecutionStatus.COMPLETED, "Oslo: sunny", 1)
    requests = server.requests
    assert len(requests) == 3 and requests[0].body == requests[1].body == requests[2].body
    assert [r.headers.get("x-stainless-retry-count") for r in requests] == ["0", "1", "2"]
    after_503, after_429 = requests[1].at - requests[0].at, requests[2].at - requests[1].at
    assert 1.0 <= after_503 < 2.5, after_503  # the delay (the SDKs' first backoff is at most 0.5 s)
    assert 0.3 <= after_429 < 0.9, after_429  # Retry-After wins over the delay


def test_the_sdk_does_not_retry_on_top_of_loopline(server: FaultServer) -> None:
    unavailable = Json(error_body("openai", 500, "Unavailable."), status=503)
    server.script = [unavailable, unavailable, unavailable, ok("openai", "run", FINISH)]
    agent = _agent(RunConfig(max_retries=1, retry_delay_seconds=0.0))
    result, _ = _run(agent, "run", MODEL["openai"], _client(server, "openai", "run", max_retries=5))
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "provider_error")
    assert len(server.requests) == 2  # one try and one retry: the client's own 5 retries do not multiply them


def test_without_max_retries_the_clients_own_count_applies(server: FaultServer) -> None:
    unavailable = Json(error_body("openai", 500, "Unavailable."), status=503)
    server.script = [unavailable, unavailable, unavailable, ok("openai", "run", FINISH)]
    agent = _agent(RunConfig(retry_delay_seconds=0.0))
    result, _ = _run(agent, "run", MODEL["openai"], _client(server, "openai", "run", max_retries=3))
    assert result.status is ExecutionStatus.COMPLETED and len(server.requests) == 4


def test_an_answer_that_is_not_retryable_is_not_retried(server: FaultServer) -> None:
    server.script = [Json(error_body("openai", 400, "Bad request."), status=400), ok("openai", "run", FINISH)]
    agent = _agent(RunConfig(max_retries=3, retry_delay_seconds=0.0))
    result, _ = _run(agent, "run", MODEL["openai"], _client(server, "openai", "run"))
    assert (result.status, result.error_code, len(server.requests)) == (ExecutionStatus.FAILED, "provider_error", 1)


@pytest.mark.parametrize("bad", [{"retry_delay_seconds": -1.0}, {"retry_delay_seconds": float("nan")},
                                 {"max_retries": -1}])
def test_negative_retry_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match=next(iter(bad))):
        RunConfig(**bad)
