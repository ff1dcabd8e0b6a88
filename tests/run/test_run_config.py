"""`RunConfig`: one object for budgets, tools, requests (retries, timeout, rate, concurrency) and context.

The SDK clients are the real `openai` and `anthropic` ones; only their network is replaced by an
httpx2 transport, so retries, timeouts and request building are the SDKs' own.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, Limits, LLMProvider, RunConfig, tool
from loopline.errors import UsageError
from loopline.providers import RequestLimiter, resolve_model, shared_limiter
from loopline.testing import ScriptedModel
from sdk_clients import sdk_client


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _call(name: str, args: dict[str, Any], n: int) -> dict[str, Any]:
    return {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def chat_reply(request: dict[str, Any]) -> dict[str, Any]:
    """One lookup, then finish: a function of the request, as a model's answer is."""
    done = any(m.get("role") == "tool" for m in request["messages"])
    call = _call("finish", {"result": "ok", "is_success": True}, 2) if done else _call("lookup", {"key": "k"}, 1)
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


class Endpoint:
    """A scripted Chat Completions endpoint that counts requests in flight; sync and async."""

    def __init__(self, *, latency: float = 0.0, failures: list[int] | None = None) -> None:
        self.latency, self.failures = latency, list(failures or [])
        self.bodies: list[dict[str, Any]] = []
        self.starts: list[float] = []
        self.in_flight = self.peak = 0
        self._lock = threading.Lock()

    def _enter(self, request: httpx2.Request) -> httpx2.Response | None:
        with self._lock:
            self.bodies.append(json.loads(request.content))
            self.starts.append(time.monotonic())
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            status = self.failures.pop(0) if self.failures else None
        if status is not None:
            return httpx2.Response(status, json={"error": {"message": f"boom {status}"}}, headers={"retry-after": "0"})
        return None

    def _leave(self, request: httpx2.Request, failed: httpx2.Response | None) -> httpx2.Response:
        with self._lock:
            self.in_flight -= 1
        return failed or httpx2.Response(200, json=chat_reply(json.loads(request.content)))

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        failed = self._enter(request)
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is not None and timeout < self.latency:  # as the transport would: give up at the timeout
            time.sleep(timeout)
            with self._lock:
                self.in_flight -= 1
            raise httpx2.ReadTimeout("read timed out", request=request)
        time.sleep(self.latency)
        return self._leave(request, failed)

    async def ahandle(self, request: httpx2.Request) -> httpx2.Response:
        failed = self._enter(request)
        await asyncio.sleep(self.latency)
        return self._leave(request, failed)

    def client(self, url: str, *, asynchronous: bool = False, **options: Any) -> Any:
        options.setdefault("max_retries", 2)  # the SDK's own default
        return sdk_client("openai", base_url=url, asynchronous=asynchronous,
                          transport=httpx2.MockTransport(self.ahandle if asynchronous else self.handle), **options)


def agent(config: RunConfig | None = None) -> Agent:
    return Agent("a", tools=[lookup], store=InMemoryStore(), config=config)


# --- the object ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [{"max_steps": 0}, {"max_duration": -1}, {"tool_timeout": 0}, {"max_retries": -1},
                                 {"request_timeout": 0}, {"requests_per_second": 0}, {"max_concurrent_requests": 0},
                                 {"max_cost_usd": 0}, {"max_finish_reminders": -1}])
def test_bad_settings_are_refused_when_the_config_is_made(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        RunConfig(**bad)


def test_an_agent_takes_only_a_run_config() -> None:
    with pytest.raises(UsageError, match="RunConfig"):
        Agent("a", config=Limits())  # type: ignore[arg-type]


def test_budgets_are_stored_with_each_execution_as_they_were_when_it_started() -> None:
    a = agent(RunConfig(max_steps=7, max_cost_usd=0.5, final_turn=True))
    first = a.add_task("one")
    assert first.limits == Limits(max_steps=7, max_cost_usd=0.5, final_turn=True)
    a.config = a.config.replace(max_steps=3)
    a.cancel()
    assert a.add_task("two").limits.max_steps == 3 and first.limits.max_steps == 7


def test_a_config_can_be_made_from_stored_limits() -> None:
    limits = Limits(max_steps=4, max_total_tokens=100)
    config = RunConfig.from_limits(limits, tool_timeout=2.0)
    assert (config.limits(), config.tool_timeout) == (limits, 2.0)


# --- parallel tool calls off ---------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "expected"), [
    (LLMProvider.OPEN_AI, {"parallel_tool_calls": False}),
    (LLMProvider.OPEN_AI_RESPONSES, {"parallel_tool_calls": False}),
    (LLMProvider.ANTHROPIC, {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}),
    (LLMProvider.VLLM, {"parallel_tool_calls": False}),
    (LLMProvider.OLLAMA, {}),  # not known to take the parameter: not sent
])
def test_parallel_tool_calls_off_asks_each_api_for_one_call_at_a_time(provider: LLMProvider,
                                                                      expected: dict[str, Any]) -> None:
    a = agent(RunConfig(parallel_tool_calls=False))
    a.add_task("go")
    kwargs = a.request_kwargs(provider)
    assert {k: kwargs[k] for k in ("parallel_tool_calls", "tool_choice") if k in kwargs} == expected


def test_parallel_tool_calls_on_sends_nothing_extra() -> None:
    a = agent()
    a.add_task("go")
    assert set(a.request_kwargs(LLMProvider.OPEN_AI)) == {"messages", "tools"}
    assert set(a.request_kwargs(LLMProvider.ANTHROPIC)) == {"messages", "tools"}


def test_parallel_tool_calls_off_runs_the_calls_of_one_response_one_after_another() -> None:
    running: list[int] = []
    overlap: list[bool] = []

    @tool
    def slow(n: int) -> int:
        """Take a moment."""
        running.append(n)
        overlap.append(len(running) > 1)
        time.sleep(0.02)
        running.remove(n)
        return n

    for parallel, overlapped in ((False, False), (True, True)):
        overlap.clear()
        a = Agent("a", tools=[slow], store=InMemoryStore(), config=RunConfig(parallel_tool_calls=parallel))
        a.add_task("go")
        a.add_messages([{"role": "assistant", "content": None,
                         "tool_calls": [_call("slow", {"n": i}, i) for i in range(3)]}])
        results = a.run_tools(a.pending_tool_calls)
        assert [r.result for r in results] == [0, 1, 2]
        assert any(overlap) is overlapped


# --- the SDK's retries and timeout ---------------------------------------------------------------


def test_max_retries_reaches_the_sdk_client() -> None:
    for retries, failures, status, requests in ((0, [500], ExecutionStatus.FAILED, 1),
                                                (3, [500, 503, 429], ExecutionStatus.COMPLETED, 5)):
        endpoint = Endpoint(failures=failures)
        result = agent(RunConfig(max_retries=retries)).run(
            "go", model="gpt-4o-mini", client=endpoint.client(f"https://retries-{retries}.test/v1"))
        assert (result.status, len(endpoint.bodies)) == (status, requests)


def test_request_timeout_reaches_the_sdk_client_and_fails_the_execution_clearly() -> None:
    endpoint = Endpoint(latency=0.5)
    result = agent(RunConfig(max_retries=0, request_timeout=0.05)).run(
        "go", model="gpt-4o-mini", client=endpoint.client("https://timeout.test/v1"))
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "provider_error")
    assert "Timeout" in (result.error or "") and len(endpoint.bodies) == 1


def test_a_given_client_keeps_its_own_settings_when_the_config_sets_none() -> None:
    client = openai.OpenAI(api_key="sk-test", max_retries=5, timeout=9.0)
    model = resolve_model("gpt-4o-mini", client=client)
    configured = model.configured(max_retries=None, timeout=None)  # type: ignore[attr-defined]
    assert configured is model
    sdk = configured._sync()  # loopline retries (as often as the client would): the SDK itself does not
    assert (sdk.max_retries, sdk.timeout, configured._policy(client, sdk, {}).retries) == (0, 9.0, 5)
    changed = model.configured(max_retries=1, timeout=2.0)  # type: ignore[attr-defined]
    sdk = changed._sync()
    assert (sdk.max_retries, sdk.timeout, changed._policy(client, sdk, {}).retries) == (0, 2.0, 1)
    assert changed._sync() is changed._sync()  # the configured copy is made once
    assert (client.max_retries, client.timeout) == (5, 9.0)  # the caller's client is untouched


# --- the body goes to the SDK as it is -----------------------------------------------------------


def _captured(kind: str, call: Any) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(500, json={"error": {"message": "stop here"}})

    client = sdk_client(kind, transport=httpx2.MockTransport(handle))
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)):
        call(client)
    return seen[0]


@pytest.mark.parametrize("kind", ["chat", "responses", "anthropic"])
def test_the_request_body_is_what_the_plain_sdk_call_would_send(kind: str) -> None:
    a = agent()
    a.add_task("Look up k, then finish.")
    a.add_messages([{"role": "assistant", "content": "", "tool_calls": [_call("lookup", {"key": "k"}, 1)]}])
    a.run_tools(a.pending_tool_calls)
    if kind == "anthropic":
        name, provider, create = "claude-sonnet-4-6", LLMProvider.ANTHROPIC, lambda c: c.messages.create
    else:
        provider = LLMProvider.OPEN_AI if kind == "chat" else LLMProvider.OPEN_AI_RESPONSES
        name = "gpt-4o-mini"
        create = (lambda c: c.chat.completions.create) if kind == "chat" else (lambda c: c.responses.create)
    request = a.request_kwargs(provider)
    params = {"stop_sequences": ["END"], "max_tokens": 300} if kind == "anthropic" else {"temperature": 0.2}
    plain = _captured(kind, lambda c: create(c)(model=name, **params, **request))
    model = resolve_model(f"{provider.value}:{name}", params=params)
    ours = _captured(kind, lambda c: type(model)(name=name, client=c, params=params, provider=provider)
                     .complete(request))
    assert ours == plain


# --- requests per second and in flight, shared by the process ------------------------------------


def test_concurrent_requests_are_bounded_across_agents_and_event_loop_tasks() -> None:
    endpoint = Endpoint(latency=0.02)
    config = RunConfig(max_concurrent_requests=3)

    async def burst() -> list[Any]:
        client = endpoint.client("https://burst.test/v1", asynchronous=True)
        return await asyncio.gather(*(agent(config).arun(f"task {i}", model="gpt-4o-mini", client=client)
                                      for i in range(12)))

    results = asyncio.run(burst())
    assert all(r.status is ExecutionStatus.COMPLETED for r in results)
    assert (len(endpoint.bodies), endpoint.peak) == (24, 3)


def test_concurrent_requests_are_bounded_across_threads_and_agents_asking_the_same_limit() -> None:
    endpoint = Endpoint(latency=0.02)
    url = "https://threads.test/v1"
    client = endpoint.client(url)
    results: list[Any] = []

    def work(i: int) -> None:
        # Every agent asks for the same limit on the same endpoint, so they share one budget.
        config = RunConfig(max_concurrent_requests=2)
        results.append(agent(config).run(f"task {i}", model="gpt-4o-mini", client=client))

    agent(RunConfig(max_concurrent_requests=2)).run("first", model="gpt-4o-mini", client=client)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r.status is ExecutionStatus.COMPLETED for r in results)
    assert endpoint.peak == 2


def test_requests_per_second_spaces_the_starts_of_requests() -> None:
    endpoint = Endpoint()
    client = endpoint.client("https://rate.test/v1", asynchronous=True)
    config = RunConfig(requests_per_second=40)

    async def burst() -> None:
        await asyncio.gather(*(agent(config).arun(f"t{i}", model="gpt-4o-mini", client=client) for i in range(4)))

    asyncio.run(burst())
    assert len(endpoint.starts) == 8
    # Lower bounds only (never faster than the rate); arrival jitters by the SDK's own work per request.
    assert endpoint.starts[-1] - endpoint.starts[0] >= 7 / 40 * 0.9
    assert min(b - a for a, b in zip(endpoint.starts, endpoint.starts[1:], strict=False)) >= 1 / 40 * 0.5


def test_a_shared_limiter_is_one_per_endpoint_and_limits_and_none_when_nothing_is_set() -> None:
    assert shared_limiter("nothing-set.test", None, None) is None
    limiter = shared_limiter("strict.test", 10, 8)
    assert limiter is not None and shared_limiter("strict.test", 10.0, 8) is limiter
    others = [shared_limiter("strict.test", None, 3), shared_limiter("strict.test", 5, 8),
              shared_limiter("other.test", 10, 8)]
    assert len({id(limiter), *map(id, others)}) == 4 and None not in others
    assert (limiter.requests_per_second, limiter.max_concurrent) == (10, 8)  # other limits never change it
    assert shared_limiter("strict.test", None, None) is None  # asking for none: nothing to wait for


def test_a_task_cancelled_while_waiting_for_a_slot_gives_nothing_away() -> None:
    limiter = RequestLimiter(max_concurrent=1)

    async def scenario() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with limiter.aslot():
                await release.wait()

        hold = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(_enter_and_leave(limiter))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        release.set()
        await hold
        assert limiter.in_flight == 0
        await asyncio.wait_for(_enter_and_leave(limiter), 1)  # the slot is free again

    asyncio.run(scenario())


async def _enter_and_leave(limiter: RequestLimiter) -> None:
    async with limiter.aslot():
        pass


def test_sync_and_async_callers_share_one_limiter_in_order() -> None:
    limiter = RequestLimiter(max_concurrent=1)
    order: list[str] = []
    gate = threading.Event()

    def sync_user() -> None:
        with limiter.slot():
            order.append("sync")

    async def main() -> None:
        async with limiter.aslot():
            thread = threading.Thread(target=sync_user)
            thread.start()
            while not limiter._waiters:  # the thread is queued behind the async holder
                await asyncio.sleep(0.001)
            order.append("async")
            gate.set()
        await asyncio.to_thread(thread.join)

    asyncio.run(main())
    assert order == ["async", "sync"] and limiter.in_flight == 0 and gate.is_set()


def test_a_sync_caller_interrupted_while_waiting_gives_its_slot_back() -> None:
    import signal

    limiter = RequestLimiter(max_concurrent=1)
    release = threading.Event()

    def holder() -> None:
        with limiter.slot():
            release.wait()

    thread = threading.Thread(target=holder)
    thread.start()
    while limiter.in_flight == 0:
        time.sleep(0.001)

    def ctrl_c(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 0.1)  # Ctrl-C while run() waits for a slot
    try:
        with pytest.raises(KeyboardInterrupt), limiter.slot():
            pass
    finally:
        signal.signal(signal.SIGALRM, previous)
    release.set()
    thread.join()
    assert (limiter.in_flight, len(limiter._waiters)) == (0, 0)
    with limiter.slot():  # free again, at once
        assert limiter.in_flight == 1


def test_a_slot_is_not_lost_to_a_waiter_whose_event_loop_closed() -> None:
    limiter = RequestLimiter(max_concurrent=1)
    held = limiter.slot()
    held.__enter__()

    def short_lived_loop() -> None:
        loop = asyncio.new_event_loop()

        async def wait() -> None:
            async with limiter.aslot():
                pass

        task = loop.create_task(wait())
        loop.run_until_complete(asyncio.sleep(0.05))  # the task queues for the slot; then the loop goes
        task.cancel()
        loop.close()

    thread = threading.Thread(target=short_lived_loop)
    thread.start()
    thread.join()
    held.__exit__(None, None, None)  # finishes normally, though the waiter's loop is gone
    assert limiter.in_flight == 0
    with limiter.slot():
        pass


def test_run_inside_a_running_loop_refuses_to_wait_for_slots_held_by_that_loop() -> None:
    limiter = RequestLimiter(max_concurrent=1)

    async def notebook() -> None:
        release = asyncio.Event()

        async def arun_task() -> None:
            async with limiter.aslot():
                await release.wait()

        task = asyncio.create_task(arun_task())
        await asyncio.sleep(0.01)
        with pytest.raises(UsageError, match=r"await agent\.arun"), limiter.slot():  # a sync run() in the cell
            pass
        release.set()
        await task
        assert limiter.in_flight == 0

    asyncio.run(notebook())


# --- clients: given ones are never swapped, built ones are shared, keys go to their own vendor -------------


def test_a_given_client_of_the_other_kind_is_refused_not_replaced() -> None:
    endpoint = Endpoint()
    sync_only = endpoint.client("https://mine.test/v1")
    with pytest.raises(UsageError, match="async client"):
        asyncio.run(agent().arun("go", model="gpt-4o-mini", client=sync_only))
    async_only = endpoint.client("https://mine.test/v1", asynchronous=True)
    with pytest.raises(UsageError, match="sync client"):
        agent().run("go", model="gpt-4o-mini", client=async_only)
    assert endpoint.bodies == []  # nothing went anywhere


def test_clients_built_from_the_environment_are_made_once_and_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://shared.test/v1")
    first, second = resolve_model("gpt-4o-mini"), resolve_model("gpt-4o")
    assert first.endpoint == second.endpoint == "openai https://shared.test/v1"  # type: ignore[attr-defined]
    assert first._sync() is second._sync()  # type: ignore[attr-defined]
    assert first.endpoint == "openai https://shared.test/v1"  # type: ignore[attr-defined]  # the same once built


@pytest.mark.parametrize(("model", "variable", "host"), [
    ("gemini_openai:gemini-2.5-flash", "GEMINI_API_KEY", "generativelanguage.googleapis.com"),
    ("nvidia_nim:meta/llama-3.1-8b-instruct", "NVIDIA_API_KEY", "integrate.api.nvidia.com"),
])
def test_each_vendor_gets_its_own_key_never_the_openai_one(monkeypatch: pytest.MonkeyPatch, model: str,
                                                         variable: str, host: str) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.test/v1")
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(UsageError, match=variable):
        resolve_model(model)._sync()  # type: ignore[attr-defined]
    monkeypatch.setenv(variable, "vendor-key")
    client = resolve_model(model)._sync()  # type: ignore[attr-defined]
    assert (client.api_key, client.base_url.host) == ("vendor-key", host)


def test_local_servers_keep_their_address_and_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.test/v1")
    client = resolve_model("ollama:qwen2.5")._sync()  # type: ignore[attr-defined]
    assert (client.api_key, str(client.base_url)) == ("not-needed", "http://localhost:11434/v1/")


def test_params_join_an_sdk_model_and_are_refused_by_other_models() -> None:
    model = resolve_model("gpt-4o-mini", params={"temperature": 0})
    joined = resolve_model(model, params={"max_tokens": 50})
    assert joined.params == {"temperature": 0, "max_tokens": 50}  # type: ignore[attr-defined]

    with pytest.raises(UsageError, match="params="):
        resolve_model(ScriptedModel([]), params={"temperature": 0})
