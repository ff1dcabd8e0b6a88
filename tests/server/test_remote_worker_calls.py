"""How many calls a remote worker makes of the server for a task: each progress report writes the task's
record and its events (tool calls, results, steps, usage) in one request, not one for the events and one
or two for the record, and the tool calls it reports are read from the server once. Counted at a TCP
proxy between a real remote worker process and `loopline serve`, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from remote_client_helpers import CuttingProxy
from remote_workers_helpers import start_remote_worker, stop, wait_for
from server_helpers import ServerStarter

from loopline.tasks import Tasks


@pytest.fixture(scope="module")
def server(db: str, module_servers: ServerStarter) -> str:
    return module_servers(db).url


@pytest.fixture
def tasks(db: str) -> Iterator[Tasks]:
    made = Tasks(db)
    yield made
    made.store.close()


def _requests(proxy: CuttingProxy, task_id: str) -> Counter[str]:
    """The requests sent through the proxy about the task, by method and what follows its id."""
    sent = "\n".join(chunk.decode("latin-1") for chunk in proxy.sent)  # a chunk may follow a body without one
    found = re.findall(rf"\b(GET|PUT|POST) /v1/workers/[^/ ]+/tasks/{re.escape(task_id)}(/\w+)? HTTP/1\.1", sent)
    return Counter(f"{method} {rest or '/'}" for method, rest in found)


def test_a_task_on_a_remote_worker_writes_its_progress_events_with_its_record(
        server: str, tasks: Tasks, db: str, server_log: Path) -> None:
    proxy = CuttingProxy(int(urlsplit(server).port or 0))
    worker = start_remote_worker(proxy.url, db, "--name", "counted", log=server_log)
    try:
        task = tasks.create("researcher", "count my calls")
        done = wait_for(lambda: (found := tasks.get(task.id)).status == "COMPLETED" and found, timeout=60.0)
    finally:
        stop(worker, sig=signal.SIGTERM)
        proxy.close()
    assert done.result == "answer to count my calls"
    kinds = [e.type for e in tasks.events(task.id, follow=False)]
    assert kinds.count("tool_call") == 3 and kinds.count("tool_result") == 3 and kinds.count("step") == 3
    assert kinds.count("execution") == 1 and kinds[-1] == "finished"
    assert tasks.table.get(task.id)["used_tools"] == ["lookup", "finish"]
    calls = _requests(proxy, task.id)
    # Every event goes with a record's write (the start's status event too); a task that starts its own
    # thread asks for no earlier tasks on it.
    assert calls["POST /events"] == 0 and calls["GET /earlier"] == 0, calls
    assert calls["POST /result"] == 1 and calls["PUT /"] <= 10, calls
    # The tool calls its progress reports come from the worker's own commits: read from the server once.
    store_ops = Counter(re.findall(r'"op": "(\w+)"', "\n".join(c.decode("latin-1") for c in proxy.sent)))
    assert store_ops["get_tool_calls"] == 1 and store_ops["commit"] >= 9, store_ops
