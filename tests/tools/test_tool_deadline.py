"""Calls run one after another share the execution's time left: each is bounded by what is left when it
starts, and one that would start after the time ran out does not start. (Before, each call of a
sequential batch got the whole time left as its own timeout, so three 1.5 s calls under a 2 s limit
ran for 4.5 s.)"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, RunConfig, ToolCallResult, ToolContext, tool
from loopline.testing import ScriptedModel, call, reply
from loopline.tools import ToolCall, arun_calls, run_calls
from tool_helpers import call_of

LIMIT, NAP = 2.0, 1.5
NOT_RUN = "not run; the execution's time limit (max_duration) ran out"


@tool
def doze(seconds: float) -> str:
    """Sleep in a thread."""
    time.sleep(seconds)
    return "woke"


@tool
async def adoze(seconds: float) -> str:
    """Sleep on the event loop."""
    await asyncio.sleep(seconds)
    return "woke"


def _calls(name: str) -> list[ToolCall]:
    return [call_of(f"c{i}", name, {"seconds": NAP}) for i in (1, 2, 3)]


def _sync(calls: list[ToolCall], tools: dict[str, Any]) -> tuple[list[ToolCallResult], float]:
    began = time.monotonic()
    results = run_calls(calls, tools, lambda c: ToolContext(tool_call_id=c.id), parallel=False, time_left=LIMIT)
    return results, time.monotonic() - began


def _async(calls: list[ToolCall], tools: dict[str, Any]) -> tuple[list[ToolCallResult], float]:
    async def timed() -> tuple[list[ToolCallResult], float]:  # timed inside: asyncio.run waits for cut-off threads
        began = time.monotonic()
        results = await arun_calls(calls, tools, lambda c: ToolContext(tool_call_id=c.id), parallel=False,
                                   time_left=LIMIT)
        return results, time.monotonic() - began

    return asyncio.run(timed())


@pytest.mark.parametrize("driver", [_sync, _async], ids=["run_calls", "arun_calls"])
@pytest.mark.parametrize("sleeper", [doze, adoze], ids=["sync_tool", "async_tool"])
def test_sequential_calls_share_the_time_left(driver: Any, sleeper: Any) -> None:
    results, elapsed = driver(_calls(sleeper.name), {sleeper.name: sleeper})
    assert elapsed < LIMIT + 1.0, elapsed  # about the limit, not 3 x 1.5 s
    first, second, third = results
    assert [r.tool_call_id for r in results] == ["c1", "c2", "c3"]
    assert first.is_success and first.result == "woke"
    assert not second.is_success and second.error is not None
    assert second.error.startswith(f"tool '{sleeper.name}' did not finish within 0.")  # what was left, not 2 s
    assert "the time the execution had left (max_duration); it was cut off" in second.error
    assert 0.2 < second.duration < 1.0  # it ran until the time ran out (about 0.5 s), not for 1.5 or 2 s
    assert not third.is_success and third.error == NOT_RUN and third.content == f"Error: {NOT_RUN}"
    assert third.duration < 0.5  # never started


@pytest.mark.parametrize("driver", [_sync, _async], ids=["run_calls", "arun_calls"])
def test_calls_that_fit_in_the_time_left_all_run(driver: Any) -> None:
    calls = [call_of(f"c{i}", "doze", {"seconds": 0.2}) for i in (1, 2, 3)]
    results, _ = driver(calls, {"doze": doze})
    assert [r.result for r in results] == ["woke"] * 3


def test_an_agent_running_calls_one_at_a_time_stops_at_its_time_limit() -> None:
    agent = Agent("sequential", tools=[doze], store=InMemoryStore(),
                  config=RunConfig(max_duration=LIMIT, parallel_tool_calls=False))
    model = ScriptedModel([reply(*(call("doze", seconds=NAP) for _ in range(3))),
                           reply(call("finish", result="x", is_success=True))])
    began = time.monotonic()
    result = agent.run("Doze three times.", model=model)
    elapsed = time.monotonic() - began
    assert elapsed < LIMIT + 1.0, elapsed
    assert result.status is ExecutionStatus.FAILED and result.error_code == "max_duration"
    outcomes = [r.content for r in agent.thread[-1].tool_results]
    assert outcomes[0] == "woke" and "it was cut off" in outcomes[1] and outcomes[2] == f"Error: {NOT_RUN}"
