"""Blocking real model requests: the switch, the model-level guard and the HTTP-level check.

This suite runs under loopline's own pytest plugin, so requests are blocked here by default and the
guard knows each test's node id. Nothing here reaches a provider: blocked requests never leave, and
allowed ones go to a server on 127.0.0.1 or to a mock transport.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
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


def _client(kind: str, **options: Any) -> Any:
    if kind == "anthropic":
        return anthropic.Anthropic(api_key="sk-ant-test", max_retries=0, **options)
    return openai.OpenAI(api_key="sk-test", max_retries=0, **options)


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_model_object_is_stopped_before_it_sends_and_the_error_names_the_test(
        kind: str, request: pytest.FixtureRequest) -> None:
    cls, name = MODELS[kind]
    agent = Agent("a", llm_provider=cls(name).provider, store=InMemoryStore())
    with pytest.raises(ModelRequestBlockedError) as info:
        agent.run("Hi", model=cls(name, client=_client(kind)))
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
        check_model_request(OpenAIChatModel("gpt-4o", client=_client("chat")), "https://api.openai.com/v1")


def test_allowed_requests_and_mock_transports_pass_the_model_guard() -> None:
    real = OpenAIChatModel("gpt-4o", client=_client("chat"))
    with allow_model_requests():
        check_model_request(real, "https://api.openai.com/v1")
    mocked = httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(500)))
    check_model_request(OpenAIChatModel("gpt-4o", client=_client("chat", http_client=mocked)),
                        "https://api.openai.com/v1")
    with pytest.raises(ModelRequestBlockedError):  # a mounted real transport still reaches the network
        mounts = {"all://": httpx2.HTTPTransport()}
        check_model_request(OpenAIChatModel("gpt-4o", client=_client("chat", http_client=httpx2.Client(
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
    result = agent.run("Hi", model="gpt-4o-mini", client=_client("chat", base_url=url))
    assert_result(result, ok=True, value="local: Hi")
    manual = _client("chat", base_url=url).chat.completions.create(model="m", messages=[{"role": "user",
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
    ("POST", "https://api.example.com/v1/chat/completions", {}, True),
    ("POST", "https://my-gateway.test/openai/responses", {}, True),
    ("POST", "https://api.anthropic.com/v1/messages", {}, True),
    ("GET", "https://example.com/v1/models", {"user-agent": "OpenAI/Python 3.54.0"}, True),
    ("GET", "https://example.com/v1/models", {"x-stainless-lang": "python"}, True),
    ("GET", "https://example.com/index.html", {}, False),
    ("POST", "https://hooks.example.com/notify", {"user-agent": "python-httpx/0.28"}, False),
    ("POST", "http://127.0.0.1:8000/v1/chat/completions", {"user-agent": "OpenAI/Python 3.54.0"}, False),
    ("POST", "http://[::1]:8000/v1/messages", {}, False),
])
def test_the_http_check_blocks_model_requests_only(method: str, url: str, headers: dict[str, str],
                                                   blocked: bool) -> None:
    outgoing = httpx2.Request(method, url, headers=headers)
    if blocked:
        with pytest.raises(ModelRequestBlockedError):
            check_http_request(outgoing)
        with allow_model_requests():
            check_http_request(outgoing)
    else:
        check_http_request(outgoing)


def test_a_scripted_model_needs_no_permission() -> None:
    assert model_requests_blocked()
    result = Agent("a", store=InMemoryStore()).run("Hi", model=ScriptedModel([reply("Hello.")]))
    assert_result(result, ok=True, value="Hello.")
