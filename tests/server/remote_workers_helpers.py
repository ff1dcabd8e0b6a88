"""Remote worker processes for the remote worker tests (the servers are `server_helpers`'), and a TCP
proxy whose connections a test can cut (a remote worker's network going down and coming back)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from server_helpers import stop_process as stop

from loopline.tasks import Tasks

HERE = Path(__file__).parent


def start_remote_worker(base_url: str, db: str, *args: str, env: dict[str, str] | None = None,
                        log: Path | None = None, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    """A remote worker process (run_remote_worker.py) for the server at `base_url`, returned once its
    heartbeat row (`remote: true`) is in the server's database `db`."""
    tasks = Tasks(db)
    try:
        before = {(r.id, r.data.get("pid")) for r in tasks.table.workers() if r.data.get("remote")}
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, str(HERE / "run_remote_worker.py"), base_url, *args],
                                env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the remote worker exited with {proc.returncode}" + (f"; see {log}" if log else ""))
            now = {(r.id, r.data.get("pid")) for r in tasks.table.workers()
                   if r.data.get("remote") and time.time() - r.heartbeat_at < 5}
            if now - before:
                return proc
            time.sleep(0.05)
        proc.kill()
        raise RuntimeError(f"the remote worker did not start within {timeout} s")
    finally:
        tasks.store.close()


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 to `target_port`; `cut()` closes every connection through it (as a network
    that drops), new connections go through again at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = int(self._server.getsockname()[1])
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> int:
        """Close every open connection; how many there were."""
        with self._lock:
            cut, self._open = self._open, []
        for s in cut:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.cuts += 1
        return len(cut) // 2

    def close(self) -> None:
        self._server.close()
        self.cut()


def wait_for(predicate: Any, *, timeout: float = 30.0, every: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; its value (AssertionError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"still not true after {timeout} s: {predicate}")


def restart_server(server: Any, *, down_seconds: float = 1.0, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """Stop a `server_helpers.Server` and start it again, with the same command line (its port too), after
    `down_seconds`; returns the new process (also set as `server.proc`) once `/v1/health` answers."""
    import httpx2

    stop(server.proc)
    time.sleep(down_seconds)
    out = open(server.log, "ab")  # noqa: SIM115 - the process owns it
    server.proc = subprocess.Popen(server.proc.args, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(f"{server.url}/v1/health", timeout=1.0).status_code == 200:
                return server.proc  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"the server did not come back within {timeout} s")
