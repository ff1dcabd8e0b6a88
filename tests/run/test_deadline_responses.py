"""`max_duration` decides what becomes of a response: a stream the server keeps sending is cut at the
deadline (the SDK's timeout applies to each read, so it never ends one whose events keep coming); a
response that arrives after the deadline, from any model, ends the execution FAILED `max_duration` and
is not added; the manual loop's `add_messages` applies the clock first, as `is_finished()` does; and a
retry whose wait (a 429's `Retry-After`) would pass the deadline ends it FAILED `max_duration`, not
`provider_error`. The real `openai` and `anthropic` SDKs talk to servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fault_responses import error_body, ok
from fault_server import FaultServer, Json
from loopline import Agent, ExecutionStatus, InMemoryStore, RunConfig
from loopline.agent import Finished
from loopline.errors import ExecutionFinishedError
from loopline.providers import TextDelta
from loopline.testing import ScriptedModel, reply
from sdk_clients import sdk_client

HEAD = {"id": "chatcmpl-trickle", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # 127.0.0.1 only, never through a proxy


# --- a stream whose events keep coming ----------------------------------------------------------------


class _Trickle(BaseHTTPRequestHandler):
    """Answers every Chat Completions request with a stream of one text event every 0.5 s, for 30 s."""

    protocol_version = "HTTP/1.1"
    server: _TrickleServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            for n in range(60):
                delta = {"role": "assistant", "content": f"word{n} "} if n == 0 else {"content": f"word{n} "}
                chunk = f"data: {json.dumps({**HEAD, 'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                if self.server.stopping.wait(0.5):
                    return
        except OSError:  # the client stopped reading and closed the connection
            self.server.hung_up.set()


class _TrickleServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Trickle)
        self.stopping, self.hung_up = threading.Event(), threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that hangs up is expected
        pass


@pytest.fixture
def trickle() -> Iterator[_TrickleServer]:
    server = _TrickleServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join(5)


def _url(server: _TrickleServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def _agent(config: RunConfig) -> Agent:
    return Agent("bounded", instructions="Be brief.", store=InMemoryStore(), config=config)


def _assert_cut_at_the_deadline(agent: Agent, events: list[Any], elapsed: float) -> None:
    assert elapsed < 3.0, elapsed  # the 1.5 s limit, not the 30 s the server would go on for
    assert isinstance(events[-1], Finished)
    result = events[-1].result
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration"), result.error
    assert any(isinstance(e, TextDelta) for e in events)  # it was streaming when the deadline came
    assert [m.role for m in agent.thread] == ["user"]  # nothing half-received is written
    assert agent.store.get_messages(result.thread_id) == agent.thread


def test_stream_stops_reading_a_trickling_stream_at_the_deadline(trickle: _TrickleServer) -> None:
    agent = _agent(RunConfig(max_duration=1.5))
    client = sdk_client("openai", base_url=_url(trickle), timeout=30.0)
    started = time.monotonic()
    events = list(agent.stream("Talk.", model="openai:gpt-4o-mini", client=client))
    _assert_cut_at_the_deadline(agent, events, time.monotonic() - started)
    assert trickle.hung_up.wait(5)  # the connection was let go, not left open until the server ends
    client.close()


def test_astream_stops_reading_a_trickling_stream_at_the_deadline(trickle: _TrickleServer) -> None:
    agent = _agent(RunConfig(max_duration=1.5))

    async def go() -> tuple[list[Any], float]:
        client = sdk_client("openai", base_url=_url(trickle), asynchronous=True, timeout=30.0)
        started = time.monotonic()
        try:
            events = [e async for e in agent.astream("Talk.", model="openai:gpt-4o-mini", client=client)]
            return events, time.monotonic() - started
        finally:
            await client.close()

    events, elapsed = asyncio.run(go())
    _assert_cut_at_the_deadline(agent, events, elapsed)
    assert trickle.hung_up.wait(5)


# --- a response that comes after the deadline -------------------------------------------------------------


def _late(request: dict[str, Any]) -> Any:
    time.sleep(2.0)  # past the 1 s limit
    return reply("Done, late.")


async def _alate(request: dict[str, Any]) -> Any:
    await asyncio.sleep(2.0)
    return reply("Done, late.")


@pytest.mark.parametrize("mode", ["run", "arun", "stream", "astream"])
def test_a_response_after_the_deadline_is_not_added(mode: str) -> None:
    agent = _agent(RunConfig(max_duration=1))
    model = ScriptedModel(_alate if mode.startswith("a") else _late)
    if mode == "run":
        result = agent.run("Answer.", model=model)
    elif mode == "arun":
        result = asyncio.run(agent.arun("Answer.", model=model))
    elif mode == "stream":
        last = list(agent.stream("Answer.", model=model))[-1]
        assert isinstance(last, Finished)
        result = last.result
    else:
        async def go() -> Any:
            return [e async for e in agent.astream("Answer.", model=model)][-1]
        last = asyncio.run(go())
        assert isinstance(last, Finished)
        result = last.result
    assert (result.status, result.error_code, result.result) == (ExecutionStatus.FAILED, "max_duration", None)
    assert [m.role for m in agent.thread] == ["user"]  # the late reply is not in the thread
    assert agent.store.get_messages(result.thread_id) == agent.thread
    assert len(model.requests) == 1


def test_add_messages_after_the_deadline_ends_the_execution_and_refuses_the_response() -> None:
    agent = _agent(RunConfig(max_duration=0.2))
    agent.add_task("Answer.")
    response = ScriptedModel([reply("Done, late.")]).respond(agent)
    time.sleep(0.3)  # the model took too long
    with pytest.raises(ExecutionFinishedError) as refused:
        agent.add_messages(response)
    assert "already ended with status FAILED (max_duration)" in str(refused.value)
    assert (refused.value.execution_id, refused.value.status) == (agent.execution.id, "FAILED")  # type: ignore[union-attr]
    result = agent.retrieve_execution_result()
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration")
    assert [m.role for m in agent.thread] == ["user"]
    assert agent.is_finished()


# --- a retry that would wait past the deadline -------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FaultServer]:
    fault = FaultServer().start()
    try:
        yield fault
    finally:
        fault.stop()


@pytest.mark.parametrize("mode", ["run", "arun", "stream"])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_retry_after_past_the_deadline_ends_it_for_max_duration(server: FaultServer, kind: str, mode: str) -> None:
    limited = Json(error_body(kind, 429, "Rate limited."), status=429, headers={"retry-after": "5"})
    server.script = [limited, ok(kind, mode, 2)]
    agent = _agent(RunConfig(max_duration=1))
    model = "openai:gpt-4o-mini" if kind == "openai" else "anthropic:claude-sonnet-4-6"
    client = sdk_client(kind, server=server.url, asynchronous=mode == "arun", max_retries=2, timeout=30.0)
    started = time.monotonic()
    if mode == "run":
        result = agent.run("Weather in Oslo?", model=model, client=client)
    elif mode == "stream":
        last = list(agent.stream("Weather in Oslo?", model=model, client=client))[-1]
        assert isinstance(last, Finished)
        result = last.result
    else:
        async def go() -> Any:
            try:
                return await agent.arun("Weather in Oslo?", model=model, client=client)
            finally:
                await client.close()
        result = asyncio.run(go())
    elapsed = time.monotonic() - started
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "max_duration"), result.error
    assert "Rate limited." in (result.error or "") and "a retry after 5 s" in (result.error or "")
    assert elapsed < 1.0 and len(server.requests) == 1  # no wait that could not end in time was started
    assert [m.role for m in agent.thread] == ["user"]
