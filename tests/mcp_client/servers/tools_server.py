"""An MCP server for the tests: `python tools_server.py [stdio | http PORT [TOKEN]]`.

Tools: add, echo, fail (isError), boom (raises), slow (hangs), shape (structured content), picture
(an image), chart (text and an image), sound (audio), suicide (the process exits mid-call), grow (adds
a tool and announces the new list). Over HTTP with a TOKEN, every request without the header
`Authorization: Bearer TOKEN` is answered 401.
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import AudioContent, ImageContent, TextContent

server = MCPServer("loopline-test")

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
"""A real 1x1 PNG, base64."""


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
    return ImageContent(type="image", data=PNG, mime_type="image/png")


@server.tool()
def chart(title: str) -> list[TextContent | ImageContent]:
    """A caption and an image."""
    image = ImageContent(type="image", data=PNG, mime_type="image/png")
    return [TextContent(type="text", text=f"chart: {title}"), image]


@server.tool()
def sound() -> AudioContent:
    """A short sound."""
    return AudioContent(type="audio", data="UklGRgAAAABXQVZF", mime_type="audio/wav")


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


def serve_with_token(port: int, token: str) -> None:
    """The streamable-HTTP app behind a check of the bearer token on every request."""
    import uvicorn
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    async def check(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return await call_next(request)

    app = server.streamable_http_app(host="127.0.0.1")
    app.add_middleware(BaseHTTPMiddleware, dispatch=check)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "http":
        serve_with_token(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
