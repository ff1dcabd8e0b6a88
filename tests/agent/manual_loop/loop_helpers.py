"""Helpers of the manual-loop tests: tools, a frozen clock, and what a run should report."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from chat_responses import MODEL
from loopline import Agent, ExecutionResult, ExecutionStatus, ToolCallResult, Usage, tool
from loopline.loop import cost_of

REMINDER = ("You replied without calling a tool. When the task is done (or cannot be done), call the "
            "`finish` tool with the result; otherwise continue with the tools you have.")
NOT_RUN = "Error: not run; the execution ended before this call could run"


class FrozenClock:
    """Stands in for the `time` module inside `loopline.agent._state`: time moves only when told."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


RELEASE_SLOW = threading.Event()


@tool
def get_weather(city: str) -> dict[str, str]:
    """The current weather in a city."""
    return {"city": city, "sky": "sunny"}


@tool
def boom() -> str:
    """Always fails."""
    raise RuntimeError("disk on fire")


@tool
def slow() -> str:
    """Takes its time."""
    RELEASE_SLOW.wait(5)
    return "done"


def without_durations(results: Sequence[ToolCallResult]) -> list[ToolCallResult]:
    return [dataclasses.replace(r, duration=0.0) for r in results]


def assert_thread_valid(wire: list[dict[str, Any]]) -> None:
    """Every assistant tool call is answered by exactly one tool message right after its turn."""
    for i, message in enumerate(wire):
        if message["role"] != "assistant" or not message.get("tool_calls"):
            continue
        answers = []
        for later in wire[i + 1:]:
            if later["role"] != "tool":
                break
            answers.append(later["tool_call_id"])
        assert sorted(answers) == sorted(c["id"] for c in message["tool_calls"]), (message, answers)


def drive(agent: Agent, responses: Iterable[Any]) -> int:
    """Run the manual loop over scripted responses; returns how many responses were used."""
    script = iter(responses)
    used = 0
    while not agent.is_finished():
        response = next(script)
        used += 1
        agent.add_messages(response)
        calls = Agent.extract_tool_calls(response)
        if calls:
            agent.run_tools(calls)
    return used


def result_of(agent: Agent, status: ExecutionStatus, result: Any = None, *, error: str | None = None,
              error_code: str | None = None, usage: Usage, steps: int) -> ExecutionResult:
    assert agent.execution is not None
    # Cost accrues response by response; priced on the summed usage it may differ in the last bit.
    cost = agent.execution.cost_usd
    assert cost == pytest.approx(cost_of(MODEL, usage), rel=1e-9, abs=1e-12)
    return ExecutionResult(status=status, result=result, error=error, error_code=error_code,
                           execution_id=agent.execution.id, thread_id=agent.execution.thread_id, usage=usage,
                           steps=steps, cost_usd=cost)


def usage_of(*responses: dict[str, Any]) -> Usage:
    """The sum loopline should report for these responses."""
    total = Usage()
    for r in responses:
        u = r["usage"]
        total = total + Usage(input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"],
                              cached_tokens=u["prompt_tokens_details"]["cached_tokens"],
                              reasoning_tokens=u["completion_tokens_details"]["reasoning_tokens"], requests=1)
    return total
