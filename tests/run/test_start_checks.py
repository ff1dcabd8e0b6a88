"""A start that cannot work fails before anything is created; one that fails later ends FAILED.

`run`, `arun`, `stream` and `astream` check what they can before they add a task: the client's kind
(another vendor's SDK, a sync client for `arun`, an async one for `run`), the API key of a client built
from the environment, the model and the arguments. A refused start leaves no execution and no thread,
so the same agent's next start works. The official SDKs talk to stand-in servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fault_server import FaultServer, Json
from tests.readme_server import ReadmeServer

from loopline import Agent, ExecutionResult, SQLiteStore
from loopline.errors import (
    ClientMismatchError,
    InvalidInputError,
    MissingAPIKeyError,
    ModelRequestBlockedError,
    UsageError,
)
from loopline.testing import assert_result
from sdk_clients import sdk_client

WAYS = ("run", "arun", "stream", "astream")
ASYNC_WAYS = ("arun", "astream")

MODELS = {  # model, its key variable, its base URL variable, the path the SDK adds to the server's URL
    "openai": ("gpt-4o", "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
    "responses": ("openai_responses:gpt-5-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
    "anthropic": ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ""),
}


def drive(agent: Agent, way: str, input: Any, **kwargs: Any) -> ExecutionResult:
    """Start `input` through `way` and return the result."""
    if way == "run":
        return agent.run(input, **kwargs)
    if way == "stream":
        return list(agent.stream(input, **kwargs))[-1].result  # type: ignore[no-any-return, attr-defined]

    async def go() -> ExecutionResult:
        if way == "arun":
            return await agent.arun(input, **kwargs)
        return [e async for e in agent.astream(input, **kwargs)][-1].result  # type: ignore[no-any-return, attr-defined]

    return asyncio.run(go())


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadmeServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # 127.0.0.1 only; no key but the one a test sets
    with ReadmeServer() as running:
        yield running


def assert_nothing_started(agent: Agent, store: SQLiteStore, server: ReadmeServer) -> None:
    """No execution in the agent or its store, no thread, and no request sent."""
    assert agent.execution is None
    assert list(store.list_executions(agent_name=agent.name)) == []
    assert list(store.list_threads()) == []
    assert server.received == []


@pytest.mark.parametrize("api", list(MODELS))
@pytest.mark.parametrize("way", WAYS)
def test_a_missing_key_is_refused_before_a_task_starts_and_the_next_start_works(
        way: str, api: str, server: ReadmeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, key, base_url, path = MODELS[api]
    monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(base_url, server.url + path)
    store = SQLiteStore(tmp_path / "start.db")
    agent = Agent("starter", store=store)
    with pytest.raises(MissingAPIKeyError, match=f"set {key}") as info:
        drive(agent, way, "Weather in Oslo?", model=model)
    assert (info.value.variable, isinstance(info.value, UsageError)) == (key, True)
    assert_nothing_started(agent, store, server)

    monkeypatch.setenv(key, "sk-local-test")
    result = drive(agent, way, "Weather in Oslo?", model=model)  # no TaskAlreadyRunningError
    assert_result(result, ok=True, value="Oslo is 12 degrees and cloudy.")
    assert [e.id for e in store.list_executions(agent_name="starter")] == [result.execution_id]
    assert len(server.received) == 1


CLIENT_CASES = [  # the way, the model, the vendor and kind (async?) of the client given, what the error says
    ("run", "gpt-4o", "anthropic", False, "needs an openai client, but client= is anthropic.Anthropic"),
    ("arun", "openai_responses:gpt-5-mini", "anthropic", True, "needs an openai client"),
    ("stream", "anthropic:claude-sonnet-4-5", "openai", False, "needs an anthropic client, but client= is openai"),
    ("astream", "anthropic:claude-sonnet-4-5", "openai", True, "needs an anthropic client"),
    ("run", "gpt-4o", "openai", True, "needs a sync client"),
    ("stream", "anthropic:claude-sonnet-4-5", "anthropic", True, "needs a sync client"),
    ("arun", "gpt-4o", "openai", False, "needs an async client"),
    ("astream", "openai_responses:gpt-5-mini", "openai", False, "needs an async client"),
]


@pytest.mark.parametrize("case", CLIENT_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}{'-async' * c[3]}" for c in CLIENT_CASES])
def test_a_client_that_cannot_serve_the_model_is_refused_before_a_task_starts(
        case: tuple[str, str, str, bool, str], server: ReadmeServer, tmp_path: Path) -> None:
    way, model, vendor, asynchronous, says = case
    store = SQLiteStore(tmp_path / "start.db")
    agent = Agent("starter", store=store)
    wrong = sdk_client(vendor, server=server.url, asynchronous=asynchronous)
    with pytest.raises(ClientMismatchError, match=says):
        drive(agent, way, "Weather in Oslo?", model=model, client=wrong)
    assert_nothing_started(agent, store, server)

    right = sdk_client("anthropic" if model.startswith("anthropic") else "openai", server=server.url,
                       asynchronous=way in ASYNC_WAYS)
    assert_result(drive(agent, way, "Weather in Oslo?", model=model, client=right), ok=True)
    assert len(store.list_executions(agent_name="starter")) == 1


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"model": 42}, "model= takes a model name"),
    ({"model": "gpt-4o", "params": [("temperature", 0)]}, "params= takes a mapping"),
    ({"model": "nonsense:gpt-4o"}, "unknown llm_provider 'nonsense'"),
    ({"model": "openai:"}, "names no model"),
])
@pytest.mark.parametrize("way", WAYS)
def test_bad_arguments_are_refused_before_a_task_starts(way: str, kwargs: dict[str, Any], says: str,
                                                        server: ReadmeServer, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "start.db")
    agent = Agent("starter", store=store)
    with pytest.raises(UsageError, match=says):
        drive(agent, way, "Weather in Oslo?", **kwargs)
    assert_nothing_started(agent, store, server)


@pytest.mark.parametrize("bad", [None, 42, 4.2, b"bytes", object(), [], ["fine", None]])
@pytest.mark.parametrize("way", WAYS)
def test_bad_input_is_refused_before_a_task_starts(way: str, bad: Any, server: ReadmeServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    store = SQLiteStore(tmp_path / "start.db")
    agent = Agent("starter", store=store)
    with pytest.raises((InvalidInputError, UsageError)):  # None is "no input": run() then needs a task
        drive(agent, way, bad, model="gpt-4o")
    assert_nothing_started(agent, store, server)


@pytest.mark.parametrize("way", WAYS)
def test_a_failure_after_the_first_request_ends_the_execution_failed_with_its_cause(
        way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key the server refuses passes the checks before the start (a key is set) and fails at the first
    request: the execution ends FAILED, saying why, and the next start works."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    refused = Json({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                              "code": "invalid_api_key"}}, status=401)
    fault = FaultServer([refused]).start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        monkeypatch.setenv("OPENAI_BASE_URL", fault.url + "/v1")
        store = SQLiteStore(tmp_path / "start.db")
        agent = Agent("starter", store=store)
        result = drive(agent, way, "Weather in Oslo?", model="gpt-4o")
    finally:
        fault.stop()
    assert_result(result, status="failed")
    assert result.error_code == "provider_error"
    assert "AuthenticationError" in str(result.error) and "Incorrect API key" in str(result.error)
    [stored] = store.list_executions(agent_name="starter")
    assert (stored.id, stored.status, stored.is_finished) == (result.execution_id, "FAILED", True)
    assert len(fault.requests) == 1


@pytest.mark.parametrize("way", WAYS)
def test_a_request_blocked_in_a_test_is_refused_before_a_task_starts(way: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)  # the real API, which tests never reach
    store = SQLiteStore(tmp_path / "start.db")
    agent = Agent("starter", store=store)
    with pytest.raises(ModelRequestBlockedError, match=r"api\.openai\.com"):
        drive(agent, way, "Weather in Oslo?", model="gpt-4o")
    assert agent.execution is None
    assert (list(store.list_executions()), list(store.list_threads())) == ([], [])
