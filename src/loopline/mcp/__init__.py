"""MCP (Model Context Protocol) for loopline agents: MCP servers' tools offered to the model.

`Agent(..., tools=[MCPServerStdio("python", ["server.py"]), MCPServerHTTP("http://127.0.0.1:8765/mcp")])`
lists each server's tools on first use and calls them when the model does. Needs the `mcp` extra
(`pip install 'loopline[mcp]'`); the SDK is imported only when a server is first used.
"""

from ._client import MCPError, MCPServer, MCPServerHTTP, MCPServerStdio

__all__ = ["MCPError", "MCPServer", "MCPServerHTTP", "MCPServerStdio"]
