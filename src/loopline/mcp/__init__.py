"""MCP (Model Context Protocol) for loopline agents, both ways: MCP servers' tools offered to the model,
and an agent served as an MCP tool.

`Agent(..., tools=[MCPServerStdio("python", ["server.py"]), MCPServerHTTP("http://127.0.0.1:8765/mcp")])`
lists each server's tools on first use and calls them when the model does; `agent_server` /
`serve_agent` (`loopline mcp serve PATH.py:NAME` on the command line) serve an agent as one MCP tool;
`tasks_server` (`loopline mcp tasks`) serves the task API: tasks for agents and executors, run by workers.
Needs the `mcp` extra (`pip install 'loopline[mcp]'`); the SDK is imported only when a server is first
used or served, and `import loopline` never imports this package. Part of the platform layer: it uses
the agent layer and below, and only the command line imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ._client import MCPError, MCPServer, MCPServerHTTP, MCPServerStdio

if TYPE_CHECKING:
    from ._server import agent_server, agent_tool, serve, serve_agent
    from ._tasks_server import tasks_server

__all__ = ["MCPError", "MCPServer", "MCPServerHTTP", "MCPServerStdio", "agent_server", "agent_tool", "serve",
           "serve_agent", "tasks_server"]

__getattr__, __dir__ = lazy_exports(__name__, {"agent_server": "_server", "agent_tool": "_server",
                                               "serve": "_server", "serve_agent": "_server",
                                               "tasks_server": "_tasks_server"}, __all__)
