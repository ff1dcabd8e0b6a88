"""Each rule of `HttpPolicy` against real local servers: domains, https, pages, retries with
Retry-After, the deadline, the size limit, redirects; the rate, concurrency and page limits shared
by two processes through one SQLite file (and PostgreSQL); the `http_request` tool and the
`HttpExecutor` under a task's policy, a refusal recorded as the task's event."""

from __future__ import annotations

import email.utils
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from executors_helpers import Local, self_signed, serve

from loopline import Agent, ExecutionStatus, SQLiteStore
from loopline.errors import ConfigError, HttpFetchError, PolicyViolationError
from loopline.executors import (
    DEFAULT_MAX_RESPONSE_BYTES,
    HttpExecutor,
    HttpPolicy,
    current_policy,
    fetch,
    fetch_sync,
    http_request,
    policy_scope,
)
from loopline.store import PolicyCounters, Store, task_table
from loopline.tasks import TaskConfig
from loopline.testing import ScriptedModel, call, reply

HERE = Path(__file__).parent
LOCAL = ("127.0.0.1/32",)


@pytest.fixture
def server() -> Iterator[Local]:
    with serve() as local:
        yield local


def names_to_loopback(host: str, port: int) -> Sequence[str]:
    """Every `.test` name is the local server."""
    if not host.endswith(".test"):
        raise OSError(f"unknown host {host}")
    return ["127.0.0.1"]


def policy(**fields: Any) -> HttpPolicy:
    return HttpPolicy(allowed_networks=LOCAL, resolver=names_to_loopback, **fields)


def refused(p: HttpPolicy, url: str, **kwargs: Any) -> PolicyViolationError:
    with pytest.raises(PolicyViolationError) as caught:
        fetch_sync(p, "GET", url, **kwargs)
    return caught.value


# --- the policy from a task's configuration --------------------------------------------------------

def test_the_policy_is_read_from_the_task_configuration() -> None:
    config = TaskConfig(allowed_domains=["Example.COM."], blocked_domains=["*.ads.example.com"], require_https=True,
                        max_pages=3, requests_per_second=2.0, concurrent_requests=4, max_retries=5,
                        retry_delay_seconds=0.5, max_duration_seconds=20)
    p = HttpPolicy.from_config(config, allow_private=True, max_response_bytes=1000)
    assert p == HttpPolicy(allowed_domains=("example.com",), blocked_domains=("ads.example.com",), require_https=True,
                           max_pages=3, requests_per_second=2.0, concurrent_requests=4, max_retries=5,
                           retry_delay_seconds=0.5, max_duration_seconds=20, max_response_bytes=1000,
                           allow_private_addresses=True)
    assert HttpPolicy.from_config(None) == HttpPolicy() == current_policy()
    assert HttpPolicy().max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    with pytest.raises(ConfigError, match="allowed_networks"):
        HttpPolicy(allowed_networks=("not a network",))
    with pytest.raises(ConfigError, match="max_response_bytes"):
        HttpPolicy(max_response_bytes=0)


# --- domains ------------------------------------------------------------------------------------------

def test_allowed_domains_cover_their_subdomains_only(server: Local) -> None:
    p = policy(allowed_domains=("example.test",))
    for name in ("example.test", "api.example.test", "A.B.EXAMPLE.TEST."):
        assert fetch_sync(p, "GET", server.url("/ok", name=name)).text == "hello"
    for name in ("badexample.test", "example.test.evil.test", "other.test"):
        error = refused(p, server.url("/ok", name=name))
        assert error.rule == "domain_not_allowed" and "allowed_domains" in str(error)
    assert refused(p, server.url("/ok")).rule == "domain_not_allowed"  # an address is not an allowed name
    assert [h.host.split(":")[0] for h in server.recorder.hits] == ["example.test", "api.example.test",
                                                                    "a.b.example.test."]


def test_blocked_domains_win_over_allowed_ones_whatever_the_spelling(server: Local) -> None:
    p = policy(allowed_domains=("example.test",), blocked_domains=("private.example.test", "bücher.test"))
    for name in ("private.example.test", "x.PRIVATE.example.test.", "Private.Example.Test"):
        assert refused(p, server.url("/ok", name=name)).rule == "blocked_domain"
    for name in ("bücher.test", "xn--bcher-kva.test", "WWW.BÜCHER.TEST"):
        assert refused(p, server.url("/ok", name=name)).rule == "blocked_domain"
    assert server.recorder.hits == []
    unicode_rule = policy(allowed_domains=("xn--bcher-kva.test",))
    assert fetch_sync(unicode_rule, "GET", server.url("/ok", name="bücher.test")).status == 200


def test_a_redirect_to_a_blocked_domain_is_refused_at_the_hop(server: Local) -> None:
    p = policy(blocked_domains=("blocked.test",))
    error = refused(p, server.url(f"/redirect?to={server.url('/ok', name='blocked.test')}", name="fine.test"))
    assert error.rule == "blocked_domain" and error.url == server.url("/ok", name="blocked.test")
    assert server.recorder.paths() == [f"/redirect?to={server.url('/ok', name='blocked.test')}"]


# --- https --------------------------------------------------------------------------------------------

def test_require_https_refuses_http_including_a_downgrading_redirect(server: Local, tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    p = policy(require_https=True)
    assert refused(p, server.url("/ok", name="plain.test")).rule == "https_required"
    server_tls, client_tls = self_signed("secure.test", tmp_path)
    with serve(tls=server_tls) as secure:
        p = policy(require_https=True, verify=client_tls)
        assert fetch_sync(p, "GET", secure.url("/ok", scheme="https", name="secure.test")).text == "hello"
        down = secure.url(f"/redirect?to={server.url('/ok', name='plain.test')}", scheme="https", name="secure.test")
        assert refused(p, down).rule == "https_required"
    assert server.recorder.hits == []


# --- pages --------------------------------------------------------------------------------------------

async def test_max_pages_counts_fetches_not_hops(server: Local) -> None:
    p = policy(max_pages=2)
    first = await fetch(p, "GET", server.url(f"/redirect?to={server.url('/ok')}"), task_id="t-pages")
    assert first.hops == (server.url(f"/redirect?to={server.url('/ok')}"), server.url("/ok"))
    assert (await fetch(p, "GET", server.url("/ok"), task_id="t-pages")).status == 200
    with pytest.raises(PolicyViolationError) as caught:
        await fetch(p, "GET", server.url("/ok"), task_id="t-pages")
    assert caught.value.rule == "max_pages" and "max_pages (2)" in str(caught.value)
    assert len(server.recorder.hits) == 3
    assert (await fetch(p, "GET", server.url("/ok"), task_id="another-task")).status == 200
    # A request refused by another rule uses no page.
    with pytest.raises(PolicyViolationError, match="private_address"):
        await fetch(p, "GET", "http://10.0.0.1/", task_id="third-task")
    assert (await fetch(p, "GET", server.url("/ok"), task_id="third-task")).status == 200
    assert (await fetch(p, "GET", server.url("/ok"), task_id="third-task")).status == 200


# --- retries and the deadline ---------------------------------------------------------------------

def test_retry_after_in_seconds_is_honoured(server: Local) -> None:
    p = policy(max_retries=3, retry_delay_seconds=0.01)
    started = time.monotonic()
    response = fetch_sync(p, "GET", server.url("/flaky?key=s&fail=2&status=429&retry_after=1"))
    assert (response.status, response.text) == (200, "ok after 2")
    assert time.monotonic() - started >= 1.9  # two waits of the server's 1 s, not the 0.01 s delay
    hits = server.recorder.hits
    assert len(hits) == 3 and hits[2].at - hits[1].at >= 0.95


async def test_retry_after_as_an_http_date_is_honoured(server: Local) -> None:
    p = policy(max_retries=1, retry_delay_seconds=0.01)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    response = await fetch(p, "GET", server.url(f"/flaky?key=d&fail=1&status=503&retry_after={when}"))
    assert response.status == 200
    hits = server.recorder.hits
    assert hits[1].at - hits[0].at >= 0.95  # the date is whole seconds: at least one of the two remains


def test_retries_stop_at_max_retries_and_return_the_last_answer(server: Local) -> None:
    response = fetch_sync(policy(max_retries=1, retry_delay_seconds=0.01), "GET",
                          server.url("/flaky?key=m&fail=5&status=502"))
    assert (response.status, len(server.recorder.hits)) == (502, 2)


def test_a_failed_post_is_retried_only_when_the_server_says_it_did_not_act(server: Local) -> None:
    p = policy(max_retries=2, retry_delay_seconds=0.01)
    assert fetch_sync(p, "POST", server.url("/flaky?key=p&fail=1&status=500"), body="x").status == 500
    assert fetch_sync(p, "POST", server.url("/flaky?key=q&fail=1&status=503"), body="x").status == 200
    assert [h.method for h in server.recorder.hits] == ["POST", "POST", "POST"]


def test_a_retry_after_past_the_deadline_is_not_waited_for(server: Local) -> None:
    started = time.monotonic()
    response = fetch_sync(policy(max_duration_seconds=1.5), "GET",
                          server.url("/flaky?key=late&fail=1&status=503&retry_after=30"))
    assert response.status == 503 and time.monotonic() - started < 5
    assert len(server.recorder.hits) == 1


def test_connection_failures_are_retried_then_fail_with_a_named_error() -> None:
    with serve() as gone:
        url = gone.url("/ok")
    with pytest.raises(HttpFetchError, match="ConnectError") as caught:
        fetch_sync(policy(max_retries=2, retry_delay_seconds=0.01), "GET", url)
    assert caught.value.url == url


def test_a_retry_tries_the_next_checked_address_and_a_post_never_sent_is_retried(server: Local) -> None:
    """The name has two addresses, both checked; nothing listens on the first, so the request never
    left: even a POST is sent again, to the second."""
    p = HttpPolicy(allowed_networks=("127.0.0.0/8",), resolver=lambda host, port: ["127.0.0.2", "127.0.0.1"],
                   max_retries=1, retry_delay_seconds=0.01)
    response = fetch_sync(p, "POST", server.url("/echo", name="two.test"), body="once")
    assert response.status == 200 and json.loads(response.text)["body"] == "once"
    assert [h.body for h in server.recorder.hits] == [b"once"]


@pytest.mark.parametrize("driver", ["sync", "async"])
async def test_max_duration_ends_a_slow_request(server: Local, driver: str) -> None:
    p = policy(max_duration_seconds=1.0, max_retries=3)
    url = server.url("/slow?seconds=10")
    started = time.monotonic()
    with pytest.raises(PolicyViolationError) as caught:
        if driver == "sync":
            fetch_sync(p, "GET", url)
        else:
            await fetch(p, "GET", url)
    assert caught.value.rule == "max_duration"
    assert time.monotonic() - started < 5  # a 1 s limit ends a 10 s request
    assert len(server.recorder.hits) == 1


# --- size ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunked", [False, True])
async def test_a_response_over_the_size_limit_is_refused_and_the_read_stops(server: Local, chunked: bool) -> None:
    p = policy(max_response_bytes=100_000)
    size = 20_000_000
    with pytest.raises(PolicyViolationError) as caught:
        await fetch(p, "GET", server.url(f"/big?size={size}&chunked={int(chunked)}"))
    assert caught.value.rule == "response_too_large" and "100000" in str(caught.value)
    assert len((await fetch(p, "GET", server.url("/big?size=100000"))).content) == 100_000
    head = await fetch(p, "HEAD", server.url(f"/big?size={size}"))  # a HEAD's length announces no body
    assert head.status == 200 and head.content == b""
    if chunked:  # no length announced: the body was read up to the limit, and the server stopped short
        deadline = time.monotonic() + 5
        while not server.recorder.hits[0].body and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped = int(server.recorder.hits[0].body.split()[-1])
        assert stopped < size


# --- redirects ----------------------------------------------------------------------------------------

def test_redirects_stop_at_the_hop_limit(server: Local) -> None:
    loop = server.url("/redirect?to=/redirect%3Fto%3D/redirect%253Fto%253D/ok")
    error = refused(policy(max_redirects=2), loop)  # it takes three
    assert error.rule == "redirect_limit"
    assert len(server.recorder.hits) == 3
    assert fetch_sync(policy(max_redirects=3), "GET", loop).text == "hello"


def test_a_303_turns_a_post_into_a_get_and_credentials_stay_with_their_origin(server: Local) -> None:
    with serve() as other:
        url = server.url(f"/redirect?code=303&to={other.url('/echo')}")
        response = fetch_sync(policy(), "POST", url, headers={"Authorization": "Bearer s3cret", "X-Keep": "1"},
                              body="payload")
    echoed = json.loads(response.text)
    assert (echoed["method"], echoed["body"]) == ("GET", "")
    headers = {k.lower(): v for k, v in echoed["headers"].items()}
    assert "authorization" not in headers and headers["x-keep"] == "1"
    assert server.recorder.hits[0].body == b"payload"


# --- limits shared by processes -----------------------------------------------------------------------

def run_together(db: Path, url: str, count: int, task_id: str, *options: str) -> list[list[Any]]:
    """Two processes fetching for the same task, started together; each one's results."""
    procs = [subprocess.Popen([sys.executable, str(HERE / "fetch_many.py"), str(db), url, str(count), task_id,
                               *options], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        assert [p.stdout.readline() for p in procs] == ["ready\n"] * 2  # type: ignore[union-attr]
        Path(f"{db}.go").touch()
        outputs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), outputs
    return [json.loads(out) for out in outputs]


def test_the_request_rate_holds_across_two_processes(server: Local, tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "tasks.db").close()
    results = run_together(tmp_path / "tasks.db", server.url("/ok"), 5, "rate-task", "--rate", "4")
    assert results == [[200] * 5, [200] * 5]
    arrivals = sorted(h.at for h in server.recorder.hits)
    # 10 starts at most 4 a second, whichever process: at least 9 intervals of 0.25 s = 2.25 s, less
    # what the first request's connection may lag (counted alone, each process's 5 take about 1 s).
    assert arrivals[-1] - arrivals[0] >= 1.8


def test_concurrent_requests_hold_across_two_processes(server: Local, tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "tasks.db").close()
    results = run_together(tmp_path / "tasks.db", server.url("/slow?seconds=0.3"), 4, "busy-task",
                           "--concurrency", "2")
    assert results == [[200] * 4, [200] * 4]
    assert server.recorder.most_in_flight == 2  # 8 at once without the limit


def test_max_pages_holds_across_two_processes(server: Local, tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "tasks.db").close()
    results = run_together(tmp_path / "tasks.db", server.url("/ok"), 5, "pages-task", "--pages", "6")
    every = results[0] + results[1]
    assert sorted(every, key=str) == [200] * 6 + ["max_pages"] * 4
    assert len(server.recorder.hits) == 6
    assert PolicyCounters(SQLiteStore(tmp_path / "tasks.db")).pages("pages-task") == 6  # type: ignore[arg-type]


def test_counters_on_postgresql(pg_store: Store) -> None:
    counters = PolicyCounters(pg_store)  # type: ignore[arg-type]
    assert [counters.take_page("t", 2) for _ in range(3)] == [1, 2, None]
    assert counters.acquire("t", "a", interval=None, concurrency=1, lease=30) == 0.0
    assert counters.acquire("t", "b", interval=None, concurrency=1, lease=30) > 0
    counters.release("t", "a")
    assert counters.acquire("t", "b", interval=10.0, concurrency=1, lease=30) == 0.0
    counters.release("t", "b")
    assert 9 < counters.acquire("t", "c", interval=10.0, concurrency=None, lease=30) <= 10
    assert counters.acquire("t", "d", interval=None, concurrency=1, lease=0.01) == 0.0
    time.sleep(0.05)
    assert counters.acquire("t", "e", interval=None, concurrency=1, lease=30) == 0.0  # d's slot lapsed


# --- the tool and the executor under a task ------------------------------------------------------------

def stored_task(store: Store, task_id: str) -> None:
    now = time.time()
    task_table(store).insert({"id": task_id, "agent_id": "fetcher", "status": "RUNNING", "created_at": now,
                              "updated_at": now})


def test_the_tool_refusal_is_an_error_result_naming_the_rule_and_a_task_event(server: Local, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "tasks.db")
    stored_task(store, "task-1")
    agent = Agent("fetcher", tools=[http_request], store=store)
    model = ScriptedModel([reply(call("http_request", url=server.url("/ok", name="ok.test")),
                                 call("http_request", url=server.url("/ok", name="ads.test"))),
                           reply(call("http_request", url="http://169.254.169.254/latest/meta-data/")),
                           reply(call("finish", result="done", is_success=True))])
    with policy_scope(policy(blocked_domains=("ads.test",)), "task-1", store):
        result = agent.run("Fetch them.", model=model)
    assert result.status is ExecutionStatus.COMPLETED
    calls = store.get_tool_calls(result.execution_id)
    outcomes = [(c.is_error, json.loads(c.result)["status"] if not c.is_error else c.result) for c in calls
                if c.name == "http_request"]
    assert outcomes[0] == (False, 200)
    assert outcomes[1][0] and "blocked_domain" in outcomes[1][1] and "PolicyViolationError" in outcomes[1][1]
    assert outcomes[2][0] and "metadata_address" in outcomes[2][1]
    events = [(e.type, e.data["rule"], e.data["url"]) for e in task_table(store).events("task-1")]
    assert events == [("policy_refused", "blocked_domain", server.url("/ok", name="ads.test")),
                      ("policy_refused", "metadata_address", "http://169.254.169.254/latest/meta-data/")]
    assert len(server.recorder.hits) == 1


async def test_outside_a_task_the_default_policy_guards(server: Local) -> None:
    with pytest.raises(PolicyViolationError, match="private_address"):
        await http_request.function(url=server.url("/ok"))
    assert server.recorder.hits == []


async def test_the_executor_returns_a_result_or_a_failure_naming_the_rule(server: Local, tmp_path: Path) -> None:
    executor = HttpExecutor()
    schema = executor.get_input_schema()
    assert (executor.id, schema["required"], sorted(schema["properties"])) == (
        "http_request", ["url"], ["body", "headers", "method", "url"])
    store = SQLiteStore(tmp_path / "tasks.db")
    stored_task(store, "task-2")
    with policy_scope(policy(allowed_domains=("ok.test",)), "task-2", store):
        done = await executor.execute({"method": "POST", "url": server.url("/echo", name="ok.test"), "body": "hi",
                                       "headers": {"X-A": "b"}})
        failed = await executor.execute({"url": server.url("/ok", name="elsewhere.test")})
    assert done["status"] == 200 and json.loads(done["body"])["body"] == "hi"
    assert failed == {"status": "failed", "rule": "domain_not_allowed", "error": failed["error"]}
    assert [e.data["rule"] for e in task_table(store).events("task-2")] == ["domain_not_allowed"]
    for bad in ({}, {"url": "not a url"}, {"url": "//127.0.0.1/"}):
        assert (await executor.execute(bad))["rule"] == "invalid_url"
    outside = await HttpExecutor().execute({"url": server.url("/ok")})
    assert (outside["status"], outside["rule"]) == ("failed", "private_address")

