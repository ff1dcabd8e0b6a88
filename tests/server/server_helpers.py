"""Real `loopline serve` processes for the tests, API keys made with the CLI, and real worker processes.

`start_server(db, *args)` runs `python -m loopline.cli serve --db DB --host 127.0.0.1 --port <free>`
and returns once `/v1/health` answers; `Server.client(key=...)` is an `httpx2.Client` on it;
`Server.output()` is what the process printed (stdout and stderr). The fixtures (in conftest.py):
`db` (a SQLite file, then a fresh PostgreSQL database, per module), `servers` and `workers` (start
processes for one test, stopped when it ends).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from loopline._sse import ServerSentEvent, SSEDecoder

WORKER_APP = Path(__file__).parent.parent / "workers" / "worker_app.py"
"""A worker application with a scripted model (agent `researcher`: two `lookup` calls, then finish)."""


ServerStarter = Callable[..., "Server"]
"""The `servers` fixture: starts a server process (`servers(db, *serve_args)`), stopped after the test."""
WorkerStarter = Callable[..., "subprocess.Popen[bytes]"]
"""The `workers` fixture: starts a worker process (`workers(db, target, *args)`), stopped after the test."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`python -m loopline.cli ARGS`, its output captured."""
    return subprocess.run([sys.executable, "-m", "loopline.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, check=False)


def create_key(db: str, org: str, name: str = "") -> tuple[str, str]:
    """A new API key of `org` on `db`, made with `loopline keys create`: (its id, the key)."""
    done = cli("keys", "create", "--org", org, "--name", name, "--db", db, "--json")
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)
    return made["id"], made["key"]


@dataclass
class Server:
    """A running server process."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    clients: list[httpx2.Client] = field(default_factory=list)

    def client(self, key: str | None = None, *, org: str | None = None, timeout: float = 30.0) -> httpx2.Client:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        if org is not None:
            headers["X-Loopline-Organization"] = org
        made = httpx2.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.clients.append(made)
        return made

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        for made in self.clients:
            made.close()
        return stop_process(self.proc)


def start_server(db: str, *args: str, log: Path, env: dict[str, str] | None = None,
                 timeout: float = 60.0, port: int | None = None) -> Server:
    """A server process on `db` (more `serve` options in `args`; on `port`, else a free one), once
    `/v1/health` answers."""
    port = port or free_port()
    out = open(log, "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([sys.executable, "-m", "loopline.cli", "serve", "--db", db, "--host", "127.0.0.1",
                             "--port", str(port), *args], env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it answered:\n{log.read_text()}")
        try:
            if httpx2.get(f"{url}/v1/health", timeout=1.0).status_code == 200:
                return Server(url, proc, log)
        except httpx2.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{log.read_text()}")


def start_worker(db: str, target: str = f"{WORKER_APP}:agents", *args: str, log: Path,
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """`loopline worker TARGET --db DB` (by default the scripted researcher), once its heartbeat is stored."""
    from loopline.tasks import Tasks, live_workers

    tasks = Tasks(db)
    try:
        before = {w.get("pid") for w in live_workers(tasks.table)}
        out = open(log, "ab")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen([sys.executable, "-m", "loopline.cli", "worker", target, "--db", db, *args],
                                env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode}:\n{log.read_text()}")
            if {w.get("pid") for w in live_workers(tasks.table)} - before:
                time.sleep(0.3)  # its queues are registered right after its first heartbeat
                return proc
            time.sleep(0.05)
        proc.kill()
        raise RuntimeError(f"the worker did not start within {timeout} s:\n{log.read_text()}")
    finally:
        tasks.store.close()


def stop_process(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Send `sig` (SIGTERM), then the exit status (killed after `timeout`)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def sse_events(client: httpx2.Client, path: str, *, headers: dict[str, str] | None = None,
               timeout: float = 60.0, on_line: Callable[[str], None] | None = None) -> Iterator[ServerSentEvent]:
    """The events of an SSE endpoint as they come (every raw line also goes to `on_line`)."""
    decoder = SSEDecoder()
    with client.stream("GET", path, headers=headers or {}, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if on_line is not None:
                on_line(line)
            event = decoder.feed(line)
            if event is not None:
                yield event


def two_organisations(db: str, starter: ServerStarter) -> tuple[Server, httpx2.Client, httpx2.Client, list[str]]:
    """A server on `db` (from a `ServerStarter`) with keys for acme and for globex: the server, a client of
    each and the two keys."""
    _, acme_key = create_key(db, "acme")
    _, globex_key = create_key(db, "globex")
    server = starter(db)
    return server, server.client(acme_key), server.client(globex_key), [acme_key, globex_key]


def finished_execution(db: str, thread_id: str) -> str:
    """The id of an execution run to its end on `thread_id` (an agent on the database answering at once)."""
    from loopline import Agent
    from loopline.store import open_store
    from loopline.testing import ScriptedModel, call, reply

    store = open_store(db)
    try:
        agent = Agent("acme-agent", "You help.", store=store)
        agent.add_task("acme's question", thread_id=thread_id)
        result = agent.run(model=ScriptedModel([reply(call("finish", result="acme's answer", is_success=True))]))
    finally:
        store.close()
    return str(result.execution_id)


def json_of(response: httpx2.Response) -> Any:
    """The response's JSON, with its status and text in the failure message when it is not."""
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code}: {response.text[:500]}") from None
