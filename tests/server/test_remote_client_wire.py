"""What a remote `Tasks` decides without I/O (`loopline.tasks._wire`): which errors a server's answers
become, which requests are tried again and after how long, and how a task's event stream is followed
across reconnects (each event once, in order). Fed real `httpx2` requests and responses, no server."""

from __future__ import annotations

import random
from typing import Any

import httpx2
import pytest

from loopline._sse import comment, encode
from loopline.errors import (
    AuthenticationError,
    InvalidInputError,
    RateLimitedError,
    RemoteServerError,
    TasksUnavailableError,
    UnknownExecutorError,
    UnknownTaskError,
    UnknownThreadError,
    UsageError,
)
from loopline.tasks import Task, Tasks
from loopline.tasks._wire import EventFollow, RetryPolicy, Sleep, error_from, exchange, retry_after

BASE = "http://127.0.0.1:8000"
KEY = "ll_0123456789ab_" + "s" * 43


def _error(status: int, kind: str, message: str, field: str | None = None, **headers: str) -> httpx2.Response:
    return httpx2.Response(status, json={"error": {"type": kind, "message": message, "field": field}},
                           headers=headers)


def _policy(**options: Any) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **options)


def _run(outcomes: list[Any], policy: RetryPolicy | None = None) -> tuple[Any, list[float]]:
    """Drive `exchange` over the given outcomes: its result and the sleeps it asked for."""
    flow = exchange(httpx2.Request("POST", BASE + "/v1/tasks"), policy or _policy(), base_url=BASE, task_id="task_1")
    sleeps: list[float] = []
    step = next(flow)
    try:
        while True:
            if isinstance(step, Sleep):
                sleeps.append(step.seconds)
                step = flow.send(None)  # type: ignore[arg-type]
            else:
                step = flow.send(outcomes.pop(0))
    except StopIteration as stop:
        return stop.value, sleeps


# --- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "kind", "field", "expected"), [
    (400, "InvalidInputError", "priority", InvalidInputError),
    (422, "InvalidInputError", "body.prioriti", InvalidInputError),
    (413, "ContentTooLarge", None, InvalidInputError),
    (400, "UnknownExecutorError", "executor", UnknownExecutorError),
    (404, "UnknownTaskError", None, UnknownTaskError),
    (404, "NotFound", None, UnknownTaskError),
    (404, "UnknownThreadError", None, UnknownThreadError),
    (409, "UsageError", None, UsageError),
    (401, "Unauthorized", "Authorization", AuthenticationError),
    (403, "Forbidden", None, AuthenticationError),
    (429, "RateLimited", None, RateLimitedError),
    (503, "TasksUnavailableError", None, TasksUnavailableError),
    (500, "InternalError", None, RemoteServerError),
])
def test_a_server_error_is_the_loopline_error_of_the_same_mistake(status: int, kind: str, field: str | None,
                                                                  expected: type[Exception]) -> None:
    body = {"error": {"type": kind, "message": "what happened", "field": field}}
    error = error_from(status, body, base_url=BASE, task_id="task_1")
    assert type(error) is expected
    assert str(error).startswith("what happened (HTTP ") and BASE in str(error)


def test_the_error_carries_what_its_class_carries() -> None:
    invalid = error_from(422, {"error": {"type": "InvalidInputError", "message": "m", "field": "output_schema"}},
                         base_url=BASE)
    assert isinstance(invalid, InvalidInputError) and invalid.field == "output_schema"
    unknown = error_from(404, {"error": {"type": "UnknownTaskError", "message": "no task"}}, base_url=BASE,
                         task_id="task_9")
    assert isinstance(unknown, UnknownTaskError) and unknown.task_id == "task_9" and isinstance(unknown, KeyError)
    auth = error_from(401, None, base_url=BASE)
    assert isinstance(auth, AuthenticationError) and auth.status == 401 and "LOOPLINE_API_KEY" in str(auth)
    limited = error_from(429, {}, base_url=BASE, retry_after=3.0)
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 3.0


def test_a_server_cannot_make_the_client_raise_a_control_signal_or_a_failure_for_a_4xx() -> None:
    signal = error_from(409, {"error": {"type": "ControlSignal", "message": "m"}}, base_url=BASE)
    failure = error_from(400, {"error": {"type": "StoreError", "message": "m", "field": "x"}}, base_url=BASE)
    unknown = error_from(409, {"error": {"type": "os.system", "message": "m"}}, base_url=BASE)
    assert [type(e) for e in (signal, failure, unknown)] == [UsageError, InvalidInputError, UsageError]


# --- retries -----------------------------------------------------------------------------------------

def test_a_success_returns_the_json_body_and_an_empty_one_none() -> None:
    assert _run([httpx2.Response(201, json={"id": "task_1"})]) == ({"id": "task_1"}, [])
    assert _run([httpx2.Response(204)]) == (None, [])


def test_429_waits_as_long_as_retry_after_says_then_succeeds() -> None:
    result, sleeps = _run([_error(429, "RateLimited", "slow down", **{"Retry-After": "2"}),
                           _error(429, "RateLimited", "slow down", **{"Retry-After": "1"}),
                           httpx2.Response(201, json={"ok": True})])
    assert (result, sleeps) == ({"ok": True}, [2.0, 1.0])


def test_429_past_the_retries_is_a_rate_limited_error_with_the_servers_wait() -> None:
    limited = [_error(429, "RateLimited", "slow down", **{"Retry-After": "1"}) for _ in range(3)]
    with pytest.raises(RateLimitedError) as caught:
        _run(limited, _policy(retries=2))
    assert caught.value.retry_after == 1.0


def test_a_retry_after_longer_than_the_bound_is_not_waited_for() -> None:
    with pytest.raises(RateLimitedError):
        _run([_error(429, "RateLimited", "m", **{"Retry-After": "3600"})])


def test_503_not_ready_is_retried_with_backoff_but_no_live_worker_is_told_at_once() -> None:
    result, sleeps = _run([_error(503, "Unavailable", "starting"), httpx2.Response(200, json={"ok": 1})])
    assert result == {"ok": 1} and len(sleeps) == 1 and 0.1 <= sleeps[0] <= 0.2
    with pytest.raises(TasksUnavailableError, match="no live worker"):
        _run([_error(503, "TasksUnavailableError", "no live worker serves agent 'a'")])


def test_a_refused_connection_is_retried_and_then_names_the_server() -> None:
    refused = httpx2.ConnectError("[Errno 111] Connection refused")
    result, sleeps = _run([refused, httpx2.Response(200, json={"ok": 1})])
    assert result == {"ok": 1} and len(sleeps) == 1
    with pytest.raises(TasksUnavailableError, match=r"127\.0\.0\.1:8000 could not be reached"):
        _run([refused] * 4)


def test_a_connection_cut_after_sending_is_not_sent_again() -> None:
    """The server may have acted on it (a create): retrying could make a second task."""
    with pytest.raises(TasksUnavailableError):
        _run([httpx2.ReadError("connection reset"), httpx2.Response(201, json={})])


def test_backoff_doubles_with_jitter_up_to_its_bound() -> None:
    policy = _policy(base_delay=1.0, max_delay=5.0)
    waits = [policy.backoff(n) for n in range(5)]
    bounds = [1, 2, 4, 5, 5]
    assert all(b / 2 <= w <= b for w, b in zip(waits, bounds, strict=True)) and len(set(waits)) == 5


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after(httpx2.Headers({"Retry-After": "5"})) == 5.0
    assert retry_after(httpx2.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # in the past
    assert retry_after(httpx2.Headers({"Retry-After": "soon"})) is None
    assert retry_after(httpx2.Headers({})) is None


# --- following events --------------------------------------------------------------------------------

def _sse(seq: int, kind: str = "step") -> list[str]:
    data = {"id": seq, "task_id": "task_1", "type": kind, "data": {"n": seq}, "created_at": 1.0 + seq}
    return encode(data, event=kind, id=seq).decode().split("\n")[:-1]


def _feed(state: EventFollow, lines: list[str]) -> list[int]:
    return [event.id for line in lines if (event := state.feed(line)) is not None]


def _follow(after: int = 0, follow: bool = True, timeout: float | None = None) -> EventFollow:
    return EventFollow("task_1", after=after, follow=follow, timeout=timeout, read_timeout=60.0,
                       policy=_policy(reconnects=3), base_url=BASE)


def test_a_reconnect_resumes_after_the_last_event_seen_and_drops_what_comes_twice() -> None:
    state = _follow()
    first = state.request({"Authorization": f"Bearer {KEY}"})
    assert "last-event-id" not in first.headers and first.url.path == "/v1/tasks/task_1/events"
    keepalive = comment("keepalive").decode().split("\n")[:-1]
    assert _feed(state, [*_sse(1), *keepalive, *_sse(2), 'data: {"id":']) == [1, 2]
    wait = state.broken(httpx2.ReadError("reset"))
    assert wait is not None and 0 < wait <= 0.2
    again = state.request({})
    assert again.headers["last-event-id"] == "2" and again.url.params["after"] == "2"
    assert _feed(state, [*_sse(2), *_sse(3), *_sse(4, "finished")]) == [3, 4]  # the cut stream's half event is gone
    assert state.done and state.ended() is None


def test_a_stream_that_keeps_breaking_gives_up_naming_the_server() -> None:
    state = _follow()
    for _ in range(3):
        state.broken(httpx2.ConnectError("refused"))
    with pytest.raises(TasksUnavailableError, match=r"127\.0\.0\.1:8000"):
        state.broken(httpx2.ConnectError("refused"))


def test_a_line_received_resets_the_count_of_failures() -> None:
    state = _follow()
    for _ in range(3):
        state.broken(httpx2.ConnectError("refused"))
        state.feed(": keepalive")
    assert state.broken(httpx2.ConnectError("refused")) is not None


def test_not_following_stops_when_the_stream_ends_and_following_reconnects() -> None:
    assert _follow(follow=False).ended() is None
    state = _follow()
    assert state.request({}).url.params["follow"] == "true"
    assert state.ended() is not None


def test_out_of_time_stops_instead_of_reconnecting() -> None:
    state = _follow(timeout=0.0)
    assert state.done and state.broken(httpx2.ReadTimeout("silent")) is None and state.ended() is None


def test_an_error_answer_to_the_stream_is_the_named_error() -> None:
    with pytest.raises(UnknownTaskError):
        _follow().opened(_error(404, "UnknownTaskError", "no task"))
    with pytest.raises(AuthenticationError):
        _follow().opened(_error(401, "Unauthorized", "no key"))
    assert _follow().opened(_error(429, "RateLimited", "m", **{"Retry-After": "1"})) == 1.0


# --- the entry point ---------------------------------------------------------------------------------

def test_tasks_with_a_base_url_is_a_remote_tasks_that_never_shows_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPLINE_BASE_URL", raising=False)
    remote = Tasks(base_url=BASE + "/", api_key=KEY, organization_id="acme")
    assert isinstance(remote, Tasks) and type(remote).__name__ == "RemoteTasks"
    assert repr(remote) == "RemoteTasks('http://127.0.0.1:8000', organization_id='acme')"
    assert KEY not in repr(remote.__dict__.get("_client")) and KEY not in repr(remote)
    request = remote._flow("GET", "/v1/tasks/x").send(None)  # type: ignore[attr-defined]
    assert request.headers["authorization"] == f"Bearer {KEY}" and KEY not in str(request.url)
    assert request.headers["x-loopline-organization"] == "acme"
    remote.close()


def test_the_environment_makes_tasks_remote_unless_a_database_is_named(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Any) -> None:
    monkeypatch.setenv("LOOPLINE_BASE_URL", BASE)
    monkeypatch.setenv("LOOPLINE_API_KEY", KEY)
    monkeypatch.setenv("LOOPLINE_ORGANIZATION_ID", "acme")
    remote = Tasks()
    assert type(remote).__name__ == "RemoteTasks" and remote.organization_id == "acme"
    local = Tasks(str(tmp_path / "tasks.db"))
    assert type(local) is Tasks
    local.store.close()
    with pytest.raises(UsageError, match="not both"):
        Tasks(str(tmp_path / "tasks.db"), base_url=BASE)
    monkeypatch.delenv("LOOPLINE_BASE_URL")
    with pytest.raises(UsageError, match="not both"):
        Tasks(api_key=KEY)  # a key without a server to send it to


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(UsageError, match="http"):
        Tasks(base_url="127.0.0.1:8000")


def test_a_task_of_a_remote_tasks_is_a_plain_task() -> None:
    remote = Tasks(base_url=BASE)
    task = Task({"id": "task_1", "agent_id": "a", "status": "PENDING", "input": {"text": "hi"},
                 "created_at": 1.0, "updated_at": 1.0}, remote)
    assert task.input.text == "hi" and not task.is_finished
    remote.close()


def test_a_subclass_of_tasks_keeps_its_own_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """`Tasks.__new__` picks the remote class for `Tasks` itself only; a subclass is built as it says."""
    monkeypatch.setenv("LOOPLINE_BASE_URL", BASE)

    class Named(Tasks):
        def __init__(self, name: str, location: str) -> None:
            super().__init__(location)
            self.name = name

    made = Named("mine", str(tmp_path / "tasks.db"))
    assert type(made) is Named and made.name == "mine"
    made.store.close()
    assert type(Tasks(None, store=None)).__name__ == "RemoteTasks"  # None names no database
