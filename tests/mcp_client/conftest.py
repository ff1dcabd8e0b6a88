"""Real MCP servers (the official SDK's `MCPServer`) for the MCP client tests: stdio subprocesses, and
one streamable-HTTP server on a free port of 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mcp")

SERVER = str(Path(__file__).parent / "servers" / "tools_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_http(*extra: str) -> Iterator[str]:
    """The test server over streamable HTTP on a free port (with `extra` arguments), once listening."""
    port = free_port()
    process = subprocess.Popen([sys.executable, SERVER, "http", str(port), *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the MCP HTTP test server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def http_url() -> Iterator[str]:
    """The test server run with the SDK's own streamable-HTTP `run`."""
    yield from serve_http()


TOKEN = "test-token-5f2c"
"""The bearer token the `guarded_url` server wants on every request."""


@pytest.fixture(scope="session")
def guarded_url() -> Iterator[str]:
    """The test server over HTTP answering 401 to every request without the `bearer` headers."""
    yield from serve_http(TOKEN)


@pytest.fixture
def bearer() -> dict[str, str]:
    """The headers the `guarded_url` server wants."""
    return {"Authorization": f"Bearer {TOKEN}"}
