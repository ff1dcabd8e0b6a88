"""A worker's application for the tests: one agent with a slow tool, answered by a scripted model
that needs no script (it reads each request), so any number of tasks run at once in any worker.

Environment: `STEPS` (model requests per task, default 3: two tool calls, then finish),
`TOOL_SECONDS` (how long `lookup` takes, default 0; a prompt containing `slow=S` makes it take S seconds
for that task, and one containing `until=PATH` makes it wait until that file exists), `LEDGER` (a file
each tool run appends a line to, so tests count runs across processes).
A task continuing a thread is answered `answer to <prompt> (after <earlier prompts>)`. When the finish
tool takes an object (the task has an `output_schema`), the model first finishes with a string (which the
tool refuses), then with `{"answer": ...}`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import Any

from loopline import Agent, tool
from loopline.testing import ScriptedModel, call, reply
from loopline.workers import on_task


def _answer(request: dict[str, Any]) -> Any:
    messages = request.get("messages") or []
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    turn = messages[users[-1]:] if users else messages  # this task's part of the thread
    earlier = [_text(messages[i]) for i in users[:-1]]  # prompts of earlier tasks on the thread
    done = sum(1 for m in turn if m.get("role") == "tool")
    text = _text(turn[0]) if users else ""
    if done + 1 < int(os.environ.get("STEPS", "3")):
        return reply(call("lookup", query=f"{text}#{done}"))
    if _finish_takes_object(request):
        if not any(_called_finish(m) for m in turn):
            return reply(call("finish", result=f"answer to {text}", is_success=True))  # refused: not the schema
        return reply(call("finish", result={"answer": text}, is_success=True))
    seen = f" (after {' / '.join(earlier)})" if earlier else ""
    return reply(call("finish", result=f"answer to {text}{seen}", is_success=True))


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else json.dumps(content)


def _finish_takes_object(request: dict[str, Any]) -> bool:
    for offered in request.get("tools") or []:
        function = offered.get("function") or offered
        if function.get("name") == "finish":
            schema = function.get("parameters") or function.get("input_schema") or {}
            return (schema.get("properties") or {}).get("result", {}).get("type") != "string"
    return False


def _called_finish(message: dict[str, Any]) -> bool:
    return any((c.get("function") or {}).get("name") == "finish" for c in message.get("tool_calls") or [])


MODEL = ScriptedModel(_answer)


@tool(idempotent=True)
def lookup(query: str) -> str:
    """Look something up."""
    ledger = os.environ.get("LEDGER")
    if ledger:
        with open(ledger, "a") as f:
            f.write(json.dumps({"query": query, "pid": os.getpid(), "at": time.time()}) + "\n")
    slow = re.search(r"slow=([0-9.]+)", query)
    time.sleep(float(slow.group(1)) if slow else float(os.environ.get("TOOL_SECONDS", "0")))
    until = re.search(r"until=(\S+?)(#|$)", query)
    deadline = time.monotonic() + 60
    while until and not os.path.exists(until.group(1)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return f"found {query}"


researcher = Agent("researcher", "You research.", tools=[lookup])
agents = [researcher]


@on_task
def handle(task: Any) -> Any:
    """Tasks of other agent ids: echo, or fail when asked to; a prompt with `alert` makes it alert first,
    one with `report` report progress; `set-result` sets `task.result` and returns the task."""
    text = task.input.text
    if "raise" in text:
        raise RuntimeError(f"handler refused {text!r}")
    if "alert" in text:
        task.alert(f"alert from {text}", level="warning", code=7)
    if "report" in text:
        task.report(progress=0.5, current_action="halfway")
    if "set-result" in text:
        task.result = {"set": text}
        return task
    return {"echo": text, "agent_id": task.agent_id}


@on_task
async def handle_async(task: Any) -> Any:
    """The async twin of `handle` (run_worker.py --handler handle_async)."""
    await asyncio.sleep(0.01)
    if "report" in task.input.text:
        task.report(progress=0.5, current_action="halfway")
    if "raise" in task.input.text:
        raise ValueError(f"async handler refused {task.input.text!r}")
    if "set-result" in task.input.text:
        task.result = {"set async": task.input.text}
        return task
    return {"echo async": task.input.text}
