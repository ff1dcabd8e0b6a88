"""A real HTTP server on 127.0.0.1 that answers like the OpenAI and Anthropic APIs, with faults.

Each test gives the server a script: one action per request it will receive, in order. An action
answers with JSON (any status and headers), streams server-sent events (whole, or cut off after some
bytes), drops the connection without answering (a FIN or a TCP reset), or waits before doing one of
those. The server records every request (path, headers, JSON body, arrival time), so a test can count
the SDK's retries. A request past the end of the script gets a 400 that the SDKs do not retry, so a
wrong test ends quickly instead of looping.

Only `POST /v1/chat/completions` (OpenAI Chat Completions) and `POST /v1/messages` (Anthropic
Messages) are served; anything else is a 404. The server listens on a free port (port 0) and stops,
closing every connection it holds, when `stop()` is called (or the `with` block ends).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["Action", "Drop", "FaultServer", "Json", "Recorded", "Slow", "Sse", "sse"]

PATHS = ("/v1/chat/completions", "/v1/messages")


@dataclass(frozen=True)
class Json:
    """Answer with a JSON body; with `cut_after`, the connection closes after that many bytes of it
    (the Content-Length still announces the whole body)."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None


@dataclass(frozen=True)
class Sse:
    """Answer 200 with a `text/event-stream` body. With `cut_after`, only that many bytes of it are
    sent before the connection is closed. `framing="chunked"` (what the providers send) makes a cut
    a transport error for the client (the terminating chunk never comes); `framing="eof"` delimits
    the body by closing the connection, so a cut looks to the client like a stream that simply ended."""

    text: str
    cut_after: int | None = None
    framing: Literal["chunked", "eof"] = "chunked"
    stall: float = 0.0
    """With `cut_after`: seconds to hold the connection open, silent, before closing it (a stalled stream)."""


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a response: `"close"` sends a FIN,
    `"reset"` a TCP RST (SO_LINGER 0)."""

    how: Literal["close", "reset"] = "close"


@dataclass(frozen=True)
class Slow:
    """Wait `delay` seconds (cut short when the server stops), then do `then`."""

    delay: float
    then: Json | Sse | Drop | Slow


Action = Json | Sse | Drop | Slow


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


def sse(events: list[dict[str, Any]], *, named: bool = False, done: bool = False) -> str:
    """An SSE body of `events` (Anthropic names each event after its type; Chat Completions ends with [DONE])."""
    lines = [(f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events]
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner._handlers.append(threading.current_thread())

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        owner = self.server.owner
        action = owner._next(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                      time.monotonic()))
        if self.path.split("?")[0] not in PATHS:
            action = Json({"type": "error", "error": {"type": "not_found_error", "message": f"no {self.path}"}},
                          status=404, headers={"x-should-retry": "false"})
        try:
            self._perform(action)
        except OSError:  # the client went away (it timed out, or the fault made it give up)
            self.close_connection = True

    def _perform(self, action: Action | None) -> None:
        if action is None:
            action = Json({"type": "error", "error": {"type": "invalid_request_error",
                                                      "message": "fault server: the test's script is exhausted"}},
                          status=400, headers={"x-should-retry": "false"})
        while isinstance(action, Slow):
            self.server.owner.stopping.wait(action.delay)
            action = action.then
        if isinstance(action, Drop):
            self.close_connection = True
            if action.how == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(action, Json):
            data = json.dumps(action.body).encode()
            self.send_response(action.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in action.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data[: action.cut_after])
            if action.cut_after is not None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._stream(action)

    def _stream(self, action: Sse) -> None:
        data = action.text.encode()
        cut = action.cut_after is not None
        sent = data[: action.cut_after] if cut else data
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        if action.framing == "chunked":
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        for piece in _events_of(sent):  # one write per event, as a server flushes them
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if action.framing == "chunked" else piece)
        if cut:
            self.close_connection = True
            if action.stall:
                self.server.owner.stopping.wait(action.stall)
            self.connection.shutdown(socket.SHUT_RDWR)
        elif action.framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")


def _events_of(data: bytes) -> list[bytes]:
    pieces = [p + b"\n\n" for p in data.split(b"\n\n")]
    pieces[-1] = pieces[-1][:-2]
    return [p for p in pieces if p]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread: nothing outlives stop()
    block_on_close = True
    owner: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:  # a dropped client is expected
        pass


class FaultServer:
    """The server; `script` is the list of actions for the requests to come, in order."""

    def __init__(self, script: list[Action] | None = None) -> None:
        self.script: list[Action] = list(script or [])
        self.requests: list[Recorded] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._http = _Server(("127.0.0.1", 0), _Handler)
        self._http.owner = self
        self._thread: threading.Thread | None = None
        original = self._http.get_request

        def get_request() -> tuple[socket.socket, Any]:
            conn, address = original()
            with self._lock:
                self._connections.add(conn)
            return conn, address

        self._http.get_request = get_request  # type: ignore[method-assign]

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _next(self, request: Recorded) -> Action | None:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else None

    def start(self) -> FaultServer:
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fault-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake any waiting handler, close every connection and join every thread."""
        self.stopping.set()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(5)
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._http.server_close()  # joins the handler threads (block_on_close)

    def alive(self) -> list[threading.Thread]:
        """The server's threads still running (none once `stop()` returned)."""
        with self._lock:
            threads = [*self._handlers, *([self._thread] if self._thread else [])]
        return [t for t in threads if t.is_alive()]

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
