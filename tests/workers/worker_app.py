"""A worker's application for the tests: one agent with a slow tool, answered by a scripted model
that needs no script (it reads each request), so any number of tasks run at once in any worker.

Environment: `STEPS` (model requests per task, default 3: two tool calls, then finish),
`TOOL_SECONDS` (how long `lookup` takes, default 0), `LEDGER` (a file each tool run appends a line to,
so tests count runs across processes)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from loopline import Agent, tool
from loopline.testing import ScriptedModel, call, reply
from loopline.workers import on_task


def _answer(request: dict[str, Any]) -> Any:
    messages = request.get("messages") or []
    done = sum(1 for m in messages if m.get("role") == "tool")
    prompt = next((m.get("content") for m in messages if m.get("role") == "user"), "")
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    if done + 1 < int(os.environ.get("STEPS", "3")):
        return reply(call("lookup", query=f"{text}#{done}"))
    return reply(call("finish", result=f"answer to {text}", is_success=True))


MODEL = ScriptedModel(_answer)


@tool(idempotent=True)
def lookup(query: str) -> str:
    """Look something up."""
    ledger = os.environ.get("LEDGER")
    if ledger:
        with open(ledger, "a") as f:
            f.write(json.dumps({"query": query, "pid": os.getpid(), "at": time.time()}) + "\n")
    time.sleep(float(os.environ.get("TOOL_SECONDS", "0")))
    return f"found {query}"


researcher = Agent("researcher", "You research.", tools=[lookup])
agents = [researcher]


@on_task
def handle(task: Any) -> Any:
    """Tasks of other agent ids: echo, or fail when asked to."""
    if "raise" in task.input.text:
        raise RuntimeError(f"handler refused {task.input.text!r}")
    return {"echo": task.input.text, "agent_id": task.agent_id}
