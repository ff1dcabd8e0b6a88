"""A local mock of the Chat Completions and Anthropic Messages endpoints for benchmarks: 127.0.0.1
only, run in a process of its own so its CPU never counts as the client's.

`POST /v1/chat/completions` and `POST /v1/messages` answer with the scripted conversation of
scenario.py: the request's turn is one more than the assistant turns it holds; turns before the
`steps`-th get a `lookup` call, the `steps`-th a call to `finish`. Request headers steer it, so one
server serves every loop of a run:

- `x-bench-steps`: the run's number of steps (requests; default: `--steps`);
- `x-bench-latency-ms`: how long to wait before answering (simulated model latency, default:
  `--latency-ms`, for clients that cannot set headers, such as loopline's environment-built ones);
- `x-bench-record`: a label; the body of the run's last request (the one answered with `finish`,
  which holds the whole conversation) is written verbatim to `RECORD_DIR/<label>.json`.

It speaks HTTP/1.1 with keep-alive on asyncio, so hundreds of concurrent connections cost it little.

    python mock_server.py PORT_FILE [--steps 50] [--latency-ms 0] [--record-dir DIR]   # writes its port to PORT_FILE
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scenario import anthropic_message, chat_completion

_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class MockServer:
    """The request handling; `serve` runs it."""

    def __init__(self, steps: int, record_dir: Path | None, latency_ms: float = 0) -> None:
        self.steps = steps
        self.latency_ms = latency_ms
        self.record_dir = record_dir

    async def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Status and JSON payload for one request."""
        if path not in ("/v1/chat/completions", "/v1/messages"):
            return 404, {"error": {"type": "not_found", "message": f"no route {path}"}}
        try:
            request = json.loads(body)
            turn = 1 + sum(1 for m in request["messages"] if m.get("role") == "assistant")
            steps = int(headers.get("x-bench-steps", self.steps))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return 400, {"error": {"type": "invalid_request_error", "message": f"bad request body: {exc}"}}
        latency = float(headers.get("x-bench-latency-ms", self.latency_ms)) / 1000
        if latency:
            await asyncio.sleep(latency)
        label = headers.get("x-bench-record")
        if label and turn >= steps:
            self.record(label, body)
        if path == "/v1/messages":
            return 200, anthropic_message(turn, steps)
        return 200, chat_completion(turn, steps)

    def record(self, label: str, body: bytes) -> None:
        """Keep the request body as sent (the label is checked, it names a file)."""
        if self.record_dir is None or not _LABEL.match(label):
            return
        (self.record_dir / f"{label}.json").write_bytes(body)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve the requests of one keep-alive connection until the client closes it."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                fields = (line.partition(":") for line in lines[1:] if line)
                headers = {k.strip().lower(): v.strip() for k, _, v in fields}
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                status, payload = (await self.answer(path.split("?")[0], headers, body) if method == "POST"
                                   else (405, {"error": {"type": "method_not_allowed", "message": method}}))
                data = json.dumps(payload).encode()
                writer.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                             % (status, b"OK" if status == 200 else b"ERROR", len(data)) + data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


async def serve(port_file: Path, server: MockServer) -> None:
    """Listen on a free port of 127.0.0.1, write it to `port_file`, serve until killed."""
    listener = await asyncio.start_server(server.connection, "127.0.0.1", 0, backlog=1024)
    port = listener.sockets[0].getsockname()[1]
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(port_file)  # the reader never sees a half-written file
    async with listener:
        await listener.serve_forever()


@contextlib.contextmanager
def running(steps: int = 50, record_dir: Path | None = None, latency_ms: float = 0) -> Iterator[int]:
    """Start the server in a process of its own for the `with` block; yields its port."""
    with tempfile.TemporaryDirectory(prefix="loopline-mock-") as tmp:
        port_file = Path(tmp) / "port"
        command = [sys.executable, str(Path(__file__).resolve()), str(port_file), "--steps", str(steps),
                   "--latency-ms", str(latency_ms)]
        if record_dir is not None:
            command += ["--record-dir", str(record_dir)]
        proc = subprocess.Popen(command)
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the mock server did not start (exit code {proc.poll()})")
                time.sleep(0.02)
            yield int(port_file.read_text())
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("port_file", type=Path)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--record-dir", type=Path, default=None)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port_file, MockServer(args.steps, args.record_dir, args.latency_ms)))


if __name__ == "__main__":
    main()
