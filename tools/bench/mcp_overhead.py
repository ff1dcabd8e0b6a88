"""Per-call overhead of an MCP tool (a stdio server) over the same tool run in-process, in one run.

Both go through `Agent.run_tools` with one call each: the in-process tool is a plain function; the MCP
tool is the same function served by the official SDK's `MCPServer` over stdio. The figure is the ratio
of the medians (and the absolute time per call), measured in the same run.

    python tools/bench/mcp_overhead.py [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loopline import Agent, InMemoryStore, RunConfig
from loopline.mcp import MCPServerStdio

SERVER = '''
from mcp.server.mcpserver import MCPServer
server = MCPServer("bench")

@server.tool()
def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()

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


def per_call(agent: Agent, name: str, calls: int) -> float:
    """Median seconds of `run_tools` with one call of `name` (the manual loop's step, model left out)."""
    agent.add_task("Look keys up.")
    times = []
    for i in range(calls):
        agent.add_messages(response(i, name))
        began = time.perf_counter()
        (result,) = agent.run_tools(agent.pending_tool_calls)
        times.append(time.perf_counter() - began)
        assert result.is_success, result.content
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_server.py"
        script.write_text(SERVER)
        server = MCPServerStdio(sys.executable, [str(script)], prefix="mcp_")
        try:
            agent = Agent("bench", tools=[lookup, server], store=InMemoryStore(), config=RunConfig(max_steps=None))
            agent.get_tools()  # the server starts here, not in the timed calls
            local = per_call(agent, "lookup", args.calls)
            agent = Agent("bench", tools=[lookup, server], store=InMemoryStore(), config=RunConfig(max_steps=None))
            remote = per_call(agent, "mcp_lookup", args.calls)
        finally:
            server.close()
    print("| tool | per call (median) | ratio |\n|---|---|---|")
    print(f"| in-process function | {local * 1e6:.0f} µs | 1.0x |")
    print(f"| MCP over stdio | {remote * 1e6:.0f} µs | {remote / local:.1f}x |")


if __name__ == "__main__":
    main()
