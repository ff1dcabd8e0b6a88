"""The async API under anyio (on its asyncio backend): runs, streams, and ends CANCELLED when its scope is cancelled."""

from __future__ import annotations

from typing import Any

import anyio

from loopline import Agent, ExecutionStatus, InMemoryStore, tool
from loopline.agent import Finished
from loopline.testing import ScriptedModel, call, reply


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@tool
async def wait_for_release() -> str:
    """Wait until the test lets go."""
    await anyio.sleep(30)
    return "released"


def _script(tool_name: str, **args: Any) -> ScriptedModel:
    return ScriptedModel([reply(call(tool_name, args)), reply(call("finish", result="done", is_success=True))])


def test_arun_and_astream_under_anyio() -> None:
    async def main() -> tuple[Any, list[Any]]:
        agent = Agent("a", tools=[get_weather], store=InMemoryStore())
        result = await agent.arun("Weather in Oslo?", model=_script("get_weather", city="Oslo"))
        events = [e async for e in Agent("b", tools=[get_weather], store=InMemoryStore()).astream(
            "Weather in Rome?", model=_script("get_weather", city="Rome"))]
        return result, events

    result, events = anyio.run(main, backend="asyncio")
    assert result.status is ExecutionStatus.COMPLETED and result.result == "done"
    assert isinstance(events[-1], Finished) and events[-1].result.status is ExecutionStatus.COMPLETED


def test_cancelling_the_anyio_scope_ends_the_execution_cancelled() -> None:
    agent = Agent("a", tools=[wait_for_release], store=InMemoryStore())

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: agent.arun("Wait.", model=_script("wait_for_release")))
            await anyio.sleep(0.2)
            group.cancel_scope.cancel()

    anyio.run(main, backend="asyncio")
    execution = agent.execution
    assert execution is not None and execution.status is ExecutionStatus.CANCELLED
    assert [m.role for m in agent.thread] == ["user", "assistant", "tool"]  # the interrupted call is answered
