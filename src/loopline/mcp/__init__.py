"""MCP (Model Context Protocol) for loopline agents: an agent served as an MCP tool (`agent_server`,
`serve_agent`; `loopline mcp serve PATH.py:NAME` on the command line). Needs the `mcp` extra
(`pip install 'loopline[mcp]'`); the SDK is imported when one of these names is first used, and
`import loopline` never imports this package. Part of the platform layer: it uses the agent layer and
below, and only the command line imports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ._server import agent_server, agent_tool, serve_agent

__all__ = ["agent_server", "agent_tool", "serve_agent"]

__getattr__, __dir__ = lazy_exports(__name__, {"agent_server": "_server", "agent_tool": "_server",
                                               "serve_agent": "_server"}, __all__)
