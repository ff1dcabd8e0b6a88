"""A small MCP server, written with the official `mcp` SDK, for the MCP examples: two weather tools, one
of which answers with an image.

    python examples/mcp_weather_server.py     # speaks MCP over stdio, as MCP clients start it

An agent uses it with `MCPServerStdio(sys.executable, ["examples/mcp_weather_server.py"])` (see
`examples/mcp_forecaster.py` and `notebooks/06_mcp.ipynb`).
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ImageContent

server = MCPServer("weather")

FORECASTS = {"Oslo": "4 °C and rain", "Rome": "19 °C and sunny"}
RADAR_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
"""A 1x1 PNG standing in for a radar picture."""


@server.tool()
def forecast(city: str) -> str:
    """Tomorrow's weather in a city."""
    return f"{city}: {FORECASTS.get(city, '12 °C and cloudy')}"


@server.tool()
def radar(city: str) -> ImageContent:
    """The rain radar over a city, as a picture."""
    return ImageContent(type="image", data=RADAR_PNG, mime_type="image/png")


if __name__ == "__main__":
    server.run()
