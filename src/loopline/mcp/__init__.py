"""MCP: an agent served as an MCP tool (`agent_server`, `serve_agent`; `loopline mcp serve` on the command
line). Needs the `mcp` package; `import loopline` does not import it. Part of the platform layer: it uses
the agent layer and below, and only the command line imports it."""

from ._server import agent_server, agent_tool, serve_agent

__all__ = ["agent_server", "agent_tool", "serve_agent"]
