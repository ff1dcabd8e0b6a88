"""Blocking real model requests: the switch, the model-level guard and the HTTP-level check.

This suite runs under loopline's own pytest plugin, so requests are blocked here by default and the
guard knows each test's node id. Nothing here reaches a provider: blocked requests never leave, and
allowed ones go to a server on 127.0.0.1 or to a mock transport.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import httpcore2
import httpx2
import openai
import pytest

from loopline import Agent, InMemoryStore
from loopline.errors import ModelRequestBlockedError
from loopline.providers import AnthropicModel, OpenAIChatModel, OpenAIResponsesModel
from loopline.providers._guard import check_model_request
from loopline.testing import (
    ScriptedModel,
    allow_model_requests,
    assert_result,
    block_model_requests,
    call,
    model_requests_blocked,
    reply,
    set_model_requests_blocked,
)
from loopline.testing._blocking import check_http_request
from sdk_clients import sdk_client

pytest_plugins = ["pytester"]


def test_requests_are_blocked_in_tests_by_default() -> None:
    assert model_requests_blocked()


def test_the_switch_nests_and_the_innermost_wins() -> None:
    with allow_model_requests():
        assert not model_requests_blocked()
        with block_model_requests():
            assert model_requests_blocked()
        assert not model_requests_blocked()
    previous = set_model_requests_blocked(False)
    try:
        assert previous is True and not model_requests_blocked()
        with block_model_requests():
            assert model_requests_blocked()
    finally:
        set_model_requests_blocked(previous)
    assert model_requests_blocked()


@allow_model_requests()
def test_the_context_managers_are_decorators_too() -> None:
    assert not model_requests_blocked()


def test_the_fixture_allows(allow_model_requests: None) -> None:
    assert not model_requests_blocked()


@pytest.mark.allow_model_requests
def test_the_marker_allows() -> None:
    assert not model_requests_blocked()


MODELS = {"chat": (OpenAIChatModel, "gpt-4o-mini"), "responses": (OpenAIResponsesModel, "gpt-5-mini"),
          "anthropic": (AnthropicModel, "claude-sonnet-4-6")}


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_model_object_is_stopped_before_it_sends_and_the_error_names_the_test(
        kind: str, request: pytest.FixtureRequest) -> None:
    cls, name = MODELS[kind]
    agent = Agent("a", llm_provider=cls(name).provider, store=InMemoryStore())
    with pytest.raises(ModelRequestBlockedError) as info:
        agent.run("Hi", model=cls(name, client=sdk_client(kind)))
    assert info.value.test == request.node.nodeid
    assert f"in test {request.node.nodeid}:" in str(info.value)
    assert info.value.url.startswith("https://api.")
    for way_out in ("@pytest.mark.loopline_cassette", "ScriptedModel", "@pytest.mark.allow_model_requests",
                    "allow_model_requests fixture", "--allow-model-requests"):
        assert way_out in str(info.value)


def test_outside_a_test_the_error_says_how_to_allow_in_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("loopline.providers._guard._SWITCH.test", None)
    with pytest.raises(ModelRequestBlockedError, match=r"outside any test: .* wrap the code in "
                                                       r"loopline.testing.allow_model_requests\(\)"):
        check_model_request(OpenAIChatModel("gpt-4o", client=sdk_client("chat")), "https://api.openai.com/v1")


def test_allowed_requests_and_mock_transports_pass_the_model_guard() -> None:
    real = OpenAIChatModel("gpt-4o", client=sdk_client("chat"))
    with allow_model_requests():
        check_model_request(real, "https://api.openai.com/v1")
    mocked = httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(500)))
    check_model_request(OpenAIChatModel("gpt-4o", client=sdk_client("chat", http_client=mocked)),
                        "https://api.openai.com/v1")
    with pytest.raises(ModelRequestBlockedError):  # a mounted real transport still reaches the network
        mounts = {"all://": httpx2.HTTPTransport()}
        check_model_request(OpenAIChatModel("gpt-4o", client=sdk_client("chat", http_client=httpx2.Client(
            transport=httpx2.MockTransport(lambda r: httpx2.Response(500)), mounts=mounts))),
            "https://api.openai.com/v1")


class _LocalChat(BaseHTTPRequestHandler):
    """Answers like Chat Completions: the finish tool with the question it was asked."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        question = body["messages"][-1]["content"]
        answer = reply(call("finish", result=f"local: {question}", is_success=True)).render("openai")
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LocalChat)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_local_server_is_never_blocked(local_server: str, host: str) -> None:
    assert model_requests_blocked()
    url = local_server.replace("127.0.0.1", host)
    agent = Agent("a", store=InMemoryStore())
    result = agent.run("Hi", model="gpt-4o-mini", client=sdk_client("chat", base_url=url))
    assert_result(result, ok=True, value="local: Hi")
    manual = sdk_client("chat", base_url=url).chat.completions.create(model="m", messages=[{"role": "user",
                                                                                         "content": "Yo"}])
    assert manual.choices[0].message.tool_calls[0].function.arguments == json.dumps(
        {"result": "local: Yo", "is_success": True}, separators=(",", ":"))


def test_a_manual_loop_with_an_openai_client_is_stopped_at_the_http_level(request: pytest.FixtureRequest) -> None:
    client = openai.OpenAI(api_key="sk-test")  # the SDK's default retries: a blocked request is not retried
    with pytest.raises(ModelRequestBlockedError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert info.value.url == "https://api.openai.com/v1/chat/completions"
    assert info.value.test == request.node.nodeid
    assert not isinstance(info.value, openai.APIConnectionError) and info.value.__cause__ is None


def test_a_manual_loop_with_an_anthropic_client_is_stopped_unwrapped() -> None:
    with pytest.raises(ModelRequestBlockedError) as info:
        anthropic.Anthropic(api_key="sk-ant-test").messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    assert info.value.url == "https://api.anthropic.com/v1/messages"
    assert not isinstance(info.value, anthropic.APIConnectionError) and info.value.__cause__ is None


def test_async_clients_are_stopped_too() -> None:
    async def both() -> list[BaseException]:
        calls = [openai.AsyncOpenAI(api_key="sk-test").responses.create(model="gpt-5-mini", input="Hi"),
                 anthropic.AsyncAnthropic(api_key="sk-ant-test").messages.create(
                     model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])]
        return await asyncio.gather(*calls, return_exceptions=True)  # type: ignore[arg-type]

    errors = asyncio.run(both())
    assert [type(e).__name__ for e in errors] == ["ModelRequestBlockedError", "ModelRequestBlockedError"]
    assert [e.url for e in errors if isinstance(e, ModelRequestBlockedError)] == [
        "https://api.openai.com/v1/responses", "https://api.anthropic.com/v1/messages"]


@pytest.mark.parametrize(("method", "url", "headers", "blocked"), [
    ("POST", "https://api.openai.com/v1/chat/completions", {}, True),  # a provider's host: any client
    ("POST", "https://api.anthropic.com/v1/messages", {}, True),
    ("POST", "https://my-res.openai.azure.com/openai/deployments/d/chat/completions?api-version=1", {}, True),
    ("POST", "https://my-gateway.test/v1/chat/completions", {"user-agent": "OpenAI/Python 3.54.0"}, True),
    ("POST", "https://my-gateway.test/anything", {"user-agent": "Anthropic/Python 0.70.0"}, True),
    ("POST", "https://my-gateway.test/openai/responses", {"x-stainless-lang": "python"}, True),
    # not model requests: not a POST, another API's SDK, or a path that only looks like a model endpoint
    ("GET", "https://api.openai.com/v1/models", {"user-agent": "OpenAI/Python 3.54.0"}, False),
    ("GET", "https://graph.microsoft.com/v1.0/me/messages", {}, False),
    ("GET", "https://gmail.googleapis.com/gmail/v1/users/me/messages", {}, False),
    ("POST", "https://discord.com/api/v10/channels/1/messages", {}, False),
    ("POST", "https://api.typeform.com/forms/abc/responses", {"user-agent": "python-httpx/0.28"}, False),
    ("POST", "https://api.lithic.com/v1/cards", {"x-stainless-lang": "python"}, False),
    ("POST", "https://my-gateway.test/v1/chat/completions", {}, False),  # a raw client: nothing says "model"
    ("GET", "https://example.com/index.html", {}, False),
    ("POST", "http://127.0.0.1:8000/v1/chat/completions", {"user-agent": "OpenAI/Python 3.54.0"}, False),
    ("POST", "http://[::1]:8000/v1/messages", {"x-stainless-lang": "python"}, False),
])
def test_the_http_check_blocks_model_requests_only(method: str, url: str, headers: dict[str, str],
                                                   blocked: bool) -> None:
    for outgoing in (httpx2.Request(method, url, headers=headers), _core_request(method, url, headers)):
        if blocked:
            with pytest.raises(ModelRequestBlockedError):
                check_http_request(outgoing)
            with allow_model_requests():
                check_http_request(outgoing)
        else:
            check_http_request(outgoing)


def _core_request(method: str, url: str, headers: dict[str, str]) -> httpcore2.Request:
    """The request as the connection pool sees it (where the check runs)."""
    parsed = httpx2.URL(url)
    return httpcore2.Request(method, httpcore2.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port,
                                                   target=parsed.raw_path), headers=list(headers.items()))


def test_the_check_sits_in_the_connection_pool_below_every_transport() -> None:
    """A transport method saved before the guard was installed (vcrpy saves them on import) still
    reaches the check: it is in the pool, below the transports."""
    assert getattr(httpcore2.ConnectionPool.handle_request, "_loopline_guarded", False)
    assert getattr(httpcore2.AsyncConnectionPool.handle_async_request, "_loopline_guarded", False)
    unwrapped = getattr(httpx2.HTTPTransport.handle_request, "__wrapped__", httpx2.HTTPTransport.handle_request)
    transport = httpx2.HTTPTransport()
    request = httpx2.Request("POST", "https://api.openai.com/v1/chat/completions", json={},
                             headers={"user-agent": "OpenAI/Python 3.54.0"})
    with pytest.raises(ModelRequestBlockedError):
        unwrapped(transport, request)


VCR_FIRST = """
import openai, pytest, vcr
from loopline.errors import ModelRequestBlockedError

def test_manual_client_inside_a_vcr_cassette(tmp_path):
    client = openai.OpenAI(api_key="k", base_url="https://api.example.invalid/v1", max_retries=0)
    with vcr.use_cassette(str(tmp_path / "c.yaml"), record_mode="once"):
        with pytest.raises(ModelRequestBlockedError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
"""


def test_vcrpy_imported_before_the_guard_does_not_bypass_it(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest("import vcr  # as pytest-recording / pytest-vcr do when they load\n")
    pytester.makepyfile(test_v=VCR_FIRST)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_scripted_model_needs_no_permission() -> None:
    assert model_requests_blocked()
    result = Agent("a", store=InMemoryStore()).run("Hi", model=ScriptedModel([reply("Hello.")]))
    assert_result(result, ok=True, value="Hello.")


# --- the switch as decorators, and where an override holds -------------------------------------------


@pytest.mark.parametrize("switch", [block_model_requests, allow_model_requests])
def test_the_switches_decorate_every_kind_of_function(switch: Any) -> None:
    wanted = switch is block_model_requests

    @switch()
    def plain() -> bool:
        return model_requests_blocked()

    @switch()
    async def coroutine() -> bool:
        await asyncio.sleep(0)
        return model_requests_blocked()

    @switch()
    def generator() -> Iterator[bool]:
        yield model_requests_blocked()
        yield model_requests_blocked()

    @switch()
    async def async_generator() -> AsyncIterator[bool]:
        yield model_requests_blocked()
        await asyncio.sleep(0)
        yield model_requests_blocked()

    async def collect() -> list[bool]:
        return [seen async for seen in async_generator()]

    previous = set_model_requests_blocked(not wanted)
    try:
        assert plain() is wanted
        assert asyncio.run(coroutine()) is wanted
        assert list(generator()) == [wanted, wanted]
        assert asyncio.run(collect()) == [wanted, wanted]
        assert model_requests_blocked() is not wanted  # in force only while they run
        assert inspect.iscoroutinefunction(coroutine) and inspect.isasyncgenfunction(async_generator)
        assert inspect.isgeneratorfunction(generator) and plain.__name__ == "plain"
    finally:
        set_model_requests_blocked(previous)


@allow_model_requests()
async def test_an_async_test_decorated_to_allow_is_allowed() -> None:
    assert not model_requests_blocked()


def test_an_override_holds_in_its_task_and_the_tasks_it_starts_not_in_siblings() -> None:
    async def allowed_here(entered: asyncio.Event, done: asyncio.Event) -> tuple[bool, bool]:
        with allow_model_requests():
            inner = await asyncio.create_task(_blocked_later())  # a task started here sees the override
            entered.set()
            await done.wait()
            return model_requests_blocked(), inner

    async def main() -> tuple[bool, bool, bool]:
        entered, done = asyncio.Event(), asyncio.Event()
        with block_model_requests():
            task = asyncio.create_task(allowed_here(entered, done))
            await entered.wait()
            sibling = model_requests_blocked()
            done.set()
            mine, child = await task
        return sibling, mine, child

    assert asyncio.run(main()) == (True, False, False)


async def _blocked_later() -> bool:
    await asyncio.sleep(0)
    return model_requests_blocked()


def test_an_override_in_one_thread_is_not_seen_in_another() -> None:
    entered, leave = threading.Event(), threading.Event()
    seen: list[bool] = []

    def worker() -> None:
        with block_model_requests():
            seen.append(model_requests_blocked())
            entered.set()
            leave.wait(5)

    with allow_model_requests():
        thread = threading.Thread(target=worker)
        thread.start()
        entered.wait(5)
        seen.append(model_requests_blocked())
        leave.set()
        thread.join()
    assert seen == [True, False]
