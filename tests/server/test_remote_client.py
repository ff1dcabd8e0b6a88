"""`Tasks(base_url=..., api_key=...)`: the task API over HTTP, against a real `loopline serve` process and
a real worker process (a scripted model) on the same SQLite database. The same flows as the local API:
create, follow the events over SSE from another process, the result; cancel; errors named as locally;
an event stream cut mid-way resumes exactly after the last event seen."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from remote_client_helpers import READER, CuttingProxy
from server_helpers import Server, ServerStarter, create_key, free_port, start_worker, stop_process

from loopline.errors import (
    AuthenticationError,
    InvalidInputError,
    RateLimitedError,
    TasksUnavailableError,
    UnknownExecutorError,
    UnknownTaskError,
    UnknownThreadError,
    UsageError,
)
from loopline.tasks import RemoteTasks, Task, TaskEvent, Tasks


@dataclass(frozen=True)
class Site:
    """The module's server and worker on one database, and two organisations' keys."""

    db: str
    server: Server
    acme: str
    other: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def site(db: str, module_servers: ServerStarter, server_log: Path) -> Iterator[Site]:
    """On the module's database (SQLite, then PostgreSQL): a server without a rate limit, one worker."""
    _, acme = create_key(db, "acme")
    _, other = create_key(db, "other")
    server = module_servers(db, "--rate", "0")
    worker = start_worker(db, log=server_log)
    try:
        yield Site(db, server, acme, other)
    finally:
        stop_process(worker)


@pytest.fixture
def remote(site: Site) -> Iterator[Tasks]:
    """acme's task API, over HTTP."""
    made = Tasks(base_url=site.url, api_key=site.acme)
    yield made
    made.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def local(site: Site) -> Iterator[Tasks]:
    """The database itself, to check what the server stored."""
    made = Tasks(site.db)
    yield made
    made.store.close()


def _stored(local: Tasks, task_id: str) -> list[tuple[int, str]]:
    return [(e.seq, e.type) for e in local.table.events(task_id)]


def _seen(events: list[TaskEvent]) -> list[tuple[int, str]]:
    return [(e.id, e.type) for e in events]


def _until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


# --- the flows of the local API -----------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sync", "async"])
def test_create_then_follow_its_events_over_sse_from_another_process(site: Site, remote: Tasks, local: Tasks,
                                                                    mode: str) -> None:
    task = remote.create("researcher", f"what is new ({mode})")
    assert isinstance(task, Task) and task.status == "PENDING" and task.thread_id
    env = {**os.environ, "LOOPLINE_BASE_URL": site.url, "LOOPLINE_API_KEY": site.acme}
    done = subprocess.run([sys.executable, str(READER), task.id, *(["--async"] if mode == "async" else [])],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[-1] == {"result": f"answer to what is new ({mode})", "kind": "RemoteTasks"}
    stored = _stored(local, task.id)
    assert [(e["id"], e["type"]) for e in lines[:-1]] == stored  # every event, in order, once
    assert stored[0] == (1, "status") and stored[-1][1] == "finished" and len(stored) > 4
    record, stored_record = remote.get(task.id).to_json(), local.table.get(task.id)
    assert {k: v for k, v in record.items() if k in stored_record} == stored_record  # the API adds unset fields


async def test_the_async_api_creates_follows_and_awaits_without_a_thread_per_call(site: Site, local: Tasks) -> None:
    remote = Tasks(base_url=site.url, api_key=site.acme)
    try:
        task = await remote.acreate("researcher", "async question")
        events = [event async for event in task.aevents(timeout=60)]
        assert _seen(events) == _stored(local, task.id)
        assert await task.await_result(30) == "answer to async question"
        assert (await remote.aget(task.id)).status == "COMPLETED"
        listed = await remote.alist(agent_id="researcher", status="COMPLETED", limit=500)
        assert task.id in [t.id for t in listed]
        with pytest.raises(UnknownTaskError):
            await remote.aget("task_missing")
    finally:
        await remote.aclose()  # type: ignore[attr-defined]
        remote.close()  # type: ignore[attr-defined]


def test_execute_task_and_get_task_status_over_http(remote: Tasks) -> None:
    task = remote.execute_task_async(remote.create("researcher", "seed shape"))
    assert remote.execute_task(task, timeout=60) == "answer to seed shape"
    status = remote.get_task_status(task.id)
    assert {k: status[k] for k in ("id", "state", "progress", "result")} == {
        "id": task.id, "state": "COMPLETED", "progress": 1.0, "result": "answer to seed shape"}


def test_cancel_a_running_task_and_a_pending_one(remote: Tasks, tmp_path: Path) -> None:
    release = tmp_path / "release"
    running = remote.create("researcher", f"hold until={release}")
    try:
        _until(lambda: remote.get(running.id).status == "RUNNING")
        assert remote.cancel(running.id).id == running.id
        assert running.wait(30).status == "CANCELLED"
    finally:
        release.touch()  # the tool call it was in returns
    pending = remote.create("nobody-serves-this", "never runs")
    assert pending.cancel().status == "CANCELLED"  # off the queue at once
    assert remote.get(pending.id).status == "CANCELLED"
    again = asyncio.run(_acancel(remote, remote.create("nobody-serves-this", "never runs either").id))
    assert again.status == "CANCELLED"


async def _acancel(remote: Tasks, task_id: str) -> Task:
    try:
        return await remote.acancel(task_id)
    finally:
        await remote.aclose()  # type: ignore[attr-defined]


def test_report_alert_on_alert_and_save_from_the_remote_side(remote: Tasks, local: Tasks) -> None:
    task = remote.create("nobody-serves-this", "done by hand")
    alerts: list[TaskEvent] = []
    stop = task.on_alert(alerts.append)
    try:
        task.report(progress=0.25, current_action="reading")
        assert (task.progress, task.current_action) == (0.25, "reading")
        task.alert("look here", level="error", code=3)
        _until(lambda: alerts)
        assert alerts[0].data == {"message": "look here", "level": "error", "code": 3}
        task.result = {"done": True}
        task.set_status("COMPLETED").save()
        assert (task.status, task.result) == ("COMPLETED", {"done": True})
        assert task.refresh().is_finished and local.table.get(task.id)["result"] == {"done": True}
    finally:
        stop()
    assert [t for _, t in _stored(local, task.id)] == ["status", "progress", "alert", "status", "finished"]


def test_list_external_tasks_with_a_cursor_and_organisations_apart(site: Site, remote: Tasks) -> None:
    made = [remote.report_external_task(agent_id="outside", input=f"job {i}", result={"i": i}, duration=2.0,
                                        used_tools=["search"]) for i in range(3)]
    assert [t.status for t in made] == ["COMPLETED"] * 3 and made[0].used_tools == ["search"]
    first = remote.list(agent_id="outside", status=["COMPLETED"], limit=2)
    rest = remote.list(agent_id="outside", limit=2, cursor=first.next_cursor)
    assert [t.id for t in [*first, *rest]] == [t.id for t in reversed(made)] and rest.next_cursor is None
    failed = remote.report_external_task(agent_id="outside", status="FAILED", error="it broke")
    assert failed.error is not None and failed.error["message"] == "it broke"
    with Tasks(base_url=site.url, api_key=site.other) as other:  # type: ignore[attr-defined]
        assert list(other.list(agent_id="outside")) == []
        with pytest.raises(UnknownTaskError):  # another organisation's task reads as one that does not exist
            other.get(made[0].id)


def test_a_task_tree_over_http(remote: Tasks) -> None:
    root = remote.create_tree([{"id": "a", "agent_id": "researcher", "prompt": "tree a"},
                               {"id": "b", "agent_id": "researcher", "prompt": "tree b", "dependencies": ["a"]}],
                              name="two steps")
    assert root.wait(90).status == "COMPLETED"
    nodes = remote.tree(root.id)
    assert sorted(nodes) == ["a", "b"] and {n.status for n in nodes.values()} == {"COMPLETED"}
    assert root.result == {"a": "answer to tree a", "b": nodes["b"].result}


# --- errors -----------------------------------------------------------------------------------------

def test_errors_are_the_named_errors_of_the_local_api(remote: Tasks) -> None:
    with pytest.raises(UnknownTaskError) as unknown:
        remote.get("task_does_not_exist")
    assert unknown.value.task_id == "task_does_not_exist"
    with pytest.raises(UnknownTaskError):
        remote.events("task_does_not_exist")
    with pytest.raises(InvalidInputError) as schema:
        remote.create("researcher", "x", output_format="json", output_schema={"type": "no such type"})
    assert schema.value.field == "output_schema"
    with pytest.raises(InvalidInputError) as priority:
        remote.create("researcher", "x", priority="high")  # type: ignore[arg-type]
    assert priority.value.field.endswith("priority")
    with pytest.raises(InvalidInputError) as shape:
        remote.get("not an id")
    assert shape.value.field == "task_id"
    with pytest.raises(InvalidInputError) as unsendable:
        remote.create("researcher", "x", inputs={"when": object()})
    assert unsendable.value.field == "body"
    with pytest.raises(UnknownExecutorError):
        remote.create(executor="no_such_executor", inputs={})
    with pytest.raises(UnknownThreadError):
        remote.create("researcher", "x", thread_id="thread_does_not_exist")
    with pytest.raises(TasksUnavailableError, match="no live worker"):  # told at once, not retried as "not ready"
        remote.create("nobody-serves-this", "x", require_worker=True)
    external = remote.report_external_task(agent_id="outside", input="ended")
    with pytest.raises(UsageError, match="not PAUSED"):
        remote.resume(external.id)


def test_a_missing_bad_or_foreign_key_is_an_authentication_error_that_never_shows_the_key(site: Site) -> None:
    bad = "ll_000000000000_" + "x" * 43
    for api_key, org, status in [("", None, 401), (bad, None, 401), (site.acme, "other", 403)]:
        with Tasks(base_url=site.url, api_key=api_key, organization_id=org) as tasks, \
                pytest.raises(AuthenticationError) as caught:  # type: ignore[attr-defined]
            tasks.list()
        assert caught.value.status == status
        assert site.acme not in str(caught.value) and bad not in str(caught.value)
        assert site.acme not in repr(tasks) and bad not in repr(tasks)


def test_a_server_that_is_not_there_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Tasks(base_url=url, api_key="ll_000000000000_" + "k" * 43, retries=1) as tasks, \
            pytest.raises(TasksUnavailableError, match=url.replace(".", r"\.")) as caught:  # type: ignore[call-arg]
        tasks.get("task_1")
    assert "k" * 43 not in str(caught.value)
    with pytest.raises(TasksUnavailableError):
        list(RemoteTasks(base_url=url, retries=0).events("task_1"))


def test_429_is_waited_out_as_the_server_says_then_named(servers: ServerStarter, tmp_path: Path) -> None:
    server = servers(str(tmp_path / "limited.db"), "--rate", "1", "--burst", "1")
    with RemoteTasks(base_url=server.url, retries=0) as impatient:
        impatient.list()  # the burst of one
        with pytest.raises(RateLimitedError) as caught:
            impatient.list()
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    with Tasks(base_url=server.url) as tasks:  # type: ignore[attr-defined]
        external = tasks.report_external_task(agent_id="outside", input="one")
        assert [tasks.get(external.id).id for _ in range(2)] == [external.id] * 2  # each waited for its turn


# --- a cut event stream -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_stream_cut_mid_way_resumes_exactly_after_the_last_event_seen(site: Site, local: Tasks, mode: str) -> None:
    proxy = CuttingProxy(int(site.url.rsplit(":", 1)[1]))
    via = RemoteTasks(base_url=proxy.url, api_key=site.acme)
    try:
        task = via.create("researcher", f"slow=0.3 cut me ({mode})")
        seen = _follow_cutting(via, task, proxy, mode)
        assert _seen(seen) == _stored(local, task.id) and seen[-1].type == "finished"
        streams = [r.lower() for r in proxy.sent if b"/events?" in r]
        assert len(streams) == 2 and b"last-event-id: 6\r\n" in streams[1]  # cut after event 6, then a pause
        rest = list(via.events(task.id, after=6, follow=False))
        assert _seen(rest) == _stored(local, task.id)[6:]
    finally:
        via.close()
        proxy.close()


def _follow_cutting(via: RemoteTasks, task: Task, proxy: CuttingProxy, mode: str) -> list[TaskEvent]:
    """Every event of the task, the connections cut once the sixth has come (the first model step's
    `usage`: the next event waits for the 0.3 s tool call, so no later one is on its way yet)."""
    seen: list[TaskEvent] = []
    if mode == "sync":
        for event in task.events(timeout=60):
            seen.append(event)
            if event.id == 6:
                proxy.cut()
        return seen

    async def follow() -> None:
        try:
            async for event in task.aevents(timeout=60):
                seen.append(event)
                if event.id == 6:
                    proxy.cut()
        finally:
            await via.aclose()

    asyncio.run(follow())
    return seen


def test_a_silent_stream_is_taken_as_broken_and_reopened_until_the_timeout(site: Site, remote: Tasks) -> None:
    """No heartbeat within `stream_timeout` (the server's comes every 15 s): the stream is reopened after
    the last event seen, each event still given once, until `timeout` ends the wait."""
    proxy = CuttingProxy(int(site.url.rsplit(":", 1)[1]))
    quiet = RemoteTasks(base_url=proxy.url, api_key=site.acme, stream_timeout=0.3)
    try:
        task = remote.create("nobody-serves-this", "stays pending")
        events = list(quiet.events(task.id, timeout=2.0))
        assert _seen(events) == [(1, "status")]
        streams = [r.lower() for r in proxy.sent if b"/events?" in r]
        assert len(streams) >= 2 and all(b"last-event-id: 1\r\n" in s for s in streams[1:])
    finally:
        quiet.close()
        proxy.close()
