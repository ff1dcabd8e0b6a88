"""An application file for `loopline worker ... --test` and its usage errors: handlers with test tasks,
an agent with no model (the file has no MODEL), and names that are none of what a worker serves."""

from __future__ import annotations

from typing import Any

from loopline import Agent
from loopline.tasks import LocalTaskTest
from loopline.workers import on_task


@on_task(test_task=LocalTaskTest(input="What can you do?", agent_id="helper"))
def capabilities(task: Any) -> Any:
    """Says what it was asked, and reports progress on the way."""
    task.report(progress=0.5, current_action="thinking")
    return {"asked": task.input.text, "agent_id": task.agent_id}


@on_task(test_task=LocalTaskTest(input="fail please"))
def broken(task: Any) -> Any:
    raise ValueError(f"cannot do {task.input.text!r}")


@on_task
def untested(task: Any) -> str:
    return "no test task"


def no_task(prompt: str) -> str:
    return prompt


helper = Agent("helper", "You help.")
NUMBER = 3
