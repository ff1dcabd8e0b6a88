"""Tool sources: objects that supply tools known only at run time (for example an MCP server's).

An agent takes a source beside functions and `Tool`s; its tools are asked for each time the agent's
tools are rendered or run, so a source may start its backing service on first use and change its list
later. The tools layer only defines the shape; sources live in higher layers (`loopline.mcp`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._tool import Tool

__all__ = ["ToolSource"]


@runtime_checkable
class ToolSource(Protocol):
    """Supplies tools at run time; `Agent(tools=[...])` accepts one beside functions and `Tool`s."""

    def list_tools(self) -> Sequence[Tool]:
        """The source's current tools. Called often: return a cached tuple while nothing changed (the
        same object), so that callers can tell a changed list by identity."""
        ...

    def close(self) -> None:
        """Release what the source holds (processes, connections); it may start again on next use."""
        ...
