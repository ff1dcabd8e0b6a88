"""For the remote client's tests: a TCP proxy whose connections a test cuts mid-stream, and a script
that follows a task's events over HTTP from another process."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

READER = Path(__file__).parent / "remote_events_reader.py"
"""`python remote_events_reader.py TASK_ID [--async]`: prints each event of the task (JSON lines), then the
task's result, reading over HTTP with `Tasks()` configured by `LOOPLINE_BASE_URL` / `LOOPLINE_API_KEY`."""


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 to `port`: `cut()` closes every connection open through it at once (as
    a network failure would); new connections are still accepted. `sent` holds what clients sent, chunk
    by chunk (requests' lines and headers)."""

    def __init__(self, port: int) -> None:
        self._target = ("127.0.0.1", port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.sent: list[bytes] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if record:
                    self.sent.append(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
