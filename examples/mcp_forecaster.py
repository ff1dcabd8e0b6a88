"""An agent that uses the weather MCP server's tools, ready to be served over MCP itself:

    loopline mcp serve examples/mcp_forecaster.py:forecaster           # stdio, for an MCP client to start
    loopline mcp serve examples/mcp_forecaster.py:forecaster --http    # http://127.0.0.1:8000/mcp

`MODEL` is a scripted stand-in so that the example runs offline: it asks for the forecast of the last
word of the question and answers with what the tool said. Pass `--model openai:gpt-4o` (with a key) to
serve a real model instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from loopline import Agent
from loopline.mcp import MCPServerStdio
from loopline.testing import ScriptedModel, call, reply

weather = MCPServerStdio(sys.executable, [str(Path(__file__).with_name("mcp_weather_server.py"))])
forecaster = Agent("forecaster", instructions="Answers questions about tomorrow's weather in a city.",
                   tools=[weather])


def _answer(request: dict[str, Any]) -> Any:
    last = request["messages"][-1]
    if last["role"] == "tool":
        return reply(last["content"])
    return reply(call("forecast", city=str(last["content"]).rstrip("?. ").split()[-1]))


MODEL = ScriptedModel(_answer)
