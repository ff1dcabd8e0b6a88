"""Per-call overhead of an MCP tool (a stdio server, and a streamable-HTTP server on 127.0.0.1) over the
same tool run in-process, in one run.

All go through `Agent.run_tools` with one call each: the in-process tool is a plain function; the MCP
tools are the same function served by the official SDK's `MCPServer`, over stdio and over HTTP. The
figures are the medians per call and their ratio to the in-process tool's, measured in the same run.

    python tools/bench/mcp_overhead.py [--calls 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenario import fmt_ratio, fmt_time, median, save_section, table

from loopline import Agent, InMemoryStore, RunConfig
from loopline.mcp import MCPServer, MCPServerHTTP, MCPServerStdio

SERVER = '''
import sys
from mcp.server.mcpserver import MCPServer
server = MCPServer("bench")

@server.tool()
def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()

if len(sys.argv) > 1:
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
else:
    server.run()
'''


def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()


def response(i: int, name: str) -> dict[str, Any]:
    """A Chat Completions response with one call of `name`."""
    call = {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps({"key": f"k{i}"})}}
    return {"id": f"r{i}", "object": "chat.completion", "created": 0, "model": "bench",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}


def per_call(tools: list[Any], name: str, calls: int) -> float:
    """Median seconds of `run_tools` with one call of `name` (the manual loop's step, model left out)."""
    agent = Agent("bench", tools=tools, store=InMemoryStore(), config=RunConfig(max_steps=None))
    agent.get_tools()  # a server starts here, not in the timed calls
    agent.add_task("Look keys up.")
    times = []
    for i in range(calls):
        agent.add_messages(response(i, name))
        began = time.perf_counter()
        (result,) = agent.run_tools(agent.pending_tool_calls)
        times.append(time.perf_counter() - began)
        assert result.is_success, result.content
    return median(times)


def accepts(port: int) -> bool:
    """Whether something listens on `port` of 127.0.0.1."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def http_server(script: Path) -> Iterator[str]:
    """The bench server over streamable HTTP on a free port of 127.0.0.1, stopped afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not accepts(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the MCP bench server did not start over HTTP")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def measure(server: MCPServer, calls: int) -> float:
    try:
        return per_call([lookup, server], "mcp_lookup", calls)
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_server.py"
        script.write_text(SERVER)
        local = per_call([lookup], "lookup", args.calls)
        stdio = measure(MCPServerStdio(sys.executable, [str(script)], prefix="mcp_"), args.calls)
        with http_server(script) as url:
            http = measure(MCPServerHTTP(url, prefix="mcp_"), args.calls)
    rows = {"in-process function": local, "MCP over stdio": stdio, "MCP over streamable HTTP": http}
    print(f"MCP tool overhead: one call through Agent.run_tools, median of {args.calls}\n")
    print(table(["tool", "per call (median)", "over in-process", "vs in-process"],
                [[name, fmt_time(t), "-" if t is local else f"+{fmt_time(t - local)}", fmt_ratio(t / local)]
                 for name, t in rows.items()]))
    save_section(args.json, "mcp_overhead", {
        "calls": args.calls,
        "per_call_seconds": rows,
        "overhead_ms": {"stdio": (stdio - local) * 1e3, "http": (http - local) * 1e3},
        "ratio": {"stdio": stdio / local, "http": http / local},
    })


if __name__ == "__main__":
    main()
