"""An MCP server for the tests: `python tools_server.py [stdio | http PORT] [--name-prefix X]`.

Tools: add, echo, fail (isError), boom (raises), slow (hangs), shape (structured content), picture
(an image), suicide (the process exits mid-call), grow (adds a tool and announces the new list).
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ImageContent

server = MCPServer("loopline-test")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def echo(text: str) -> str:
    """Echo the text with the server's pid."""
    return f"{text} from {os.getpid()}"


@server.tool()
def boom() -> str:
    """Always raises."""
    raise ValueError("the boom tool always fails")


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, blocking the server."""
    time.sleep(seconds)
    return "done"


@server.tool()
def shape(width: int, height: int) -> dict[str, int]:
    """A structured result."""
    return {"area": width * height, "perimeter": 2 * (width + height)}


@server.tool()
def picture() -> ImageContent:
    """An image."""
    return ImageContent(type="image", data="iVBORw0KGgo=", mime_type="image/png")


@server.tool()
def suicide() -> str:
    """The server process exits while answering."""
    os._exit(3)


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool `extra` and tell the client the list changed."""
    def extra() -> str:
        """A tool added at run time."""
        return "extra ran"
    server.add_tool(extra, name="extra")
    await ctx.request_context.session.send_tool_list_changed()
    return "grown"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
