"""Request pacing: `requests_per_second` and `max_concurrent_requests` hold for the agents that set them
(shared by the agents that set the same limits on the same endpoint), never for agents that set none,
and a new config on an agent applies from its next request, no limit meaning no pacing.

The model is a `ScriptedModel` answering with a function that counts the requests in flight at once
per group of agents and notes when each one started; no assertion is about speed. Where a test needs
requests to be in flight together, they wait for each other at a gate that opens once enough have
arrived (or after a few seconds, which only a limit that wrongly holds them back would cause).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from loopline import Agent, ExecutionStatus, InMemoryStore, RunConfig, tool
from loopline.providers import shared_limiter
from loopline.testing import ScriptedModel, call, reply

GATE_TIMEOUT = 5.0
FINISH = reply(call("finish", result="ok", is_success=True))


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key


class Requests:
    """Counts requests in flight per group (the first word of the task) and their start times."""

    def __init__(self, *, gate: int = 0, steps: int = 1) -> None:
        self.gate, self.steps = gate, steps
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.starts: list[float] = []
        self.total_peak = 0
        self._open = asyncio.Event()

    async def answer(self, request: dict[str, Any]) -> Any:
        group = _task(request).split()[0]
        self.starts.append(time.monotonic())
        self.in_flight[group] += 1
        self.peak[group] = max(self.peak[group], self.in_flight[group])
        self.total_peak = max(self.total_peak, sum(self.in_flight.values()))
        try:
            if sum(self.in_flight.values()) >= self.gate:
                self._open.set()
            await asyncio.wait_for(self._open.wait(), GATE_TIMEOUT)
            await asyncio.sleep(0.01)
        finally:
            self.in_flight[group] -= 1
        done = sum(m["role"] == "tool" for m in request["messages"]) >= self.steps - 1
        return FINISH if done else reply(call("lookup", key="k"))


def _task(request: dict[str, Any]) -> str:
    return str(next(m["content"] for m in request["messages"] if m["role"] == "user"))


def agent(config: RunConfig) -> Agent:
    return Agent("paced", tools=[lookup], config=config, store=InMemoryStore())


async def run_all(model: ScriptedModel, agents: list[tuple[str, Agent]]) -> None:
    results = await asyncio.gather(*(a.arun(f"{group} task {n}", model=model) for n, (group, a) in enumerate(agents)))
    assert [r.status for r in results] == [ExecutionStatus.COMPLETED] * len(agents), [r.error for r in results]


def test_a_limit_holds_back_only_the_agents_that_ask_for_it() -> None:
    # Five in flight at once, one of them limited: possible only if nothing holds the four free ones back.
    counted = Requests(gate=5)
    limited = [("limited", agent(RunConfig(max_concurrent_requests=1))) for _ in range(3)]
    free = [("free", agent(RunConfig())) for _ in range(4)]
    asyncio.run(run_all(ScriptedModel(counted.answer), limited + free))
    assert (counted.peak["limited"], counted.peak["free"]) == (1, 4)


def test_agents_asking_the_same_limits_share_them_and_other_limits_are_budgets_of_their_own() -> None:
    # 2 + 2 in flight together: possible only if the two groups' budgets are apart.
    counted = Requests(gate=4)
    two = [("two", agent(RunConfig(max_concurrent_requests=2))) for _ in range(4)]
    three = [("three", agent(RunConfig(max_concurrent_requests=3))) for _ in range(2)]
    asyncio.run(run_all(ScriptedModel(counted.answer), two + three))
    assert (counted.peak["two"], counted.peak["three"], counted.total_peak) == (2, 2, 4)


def test_requests_per_second_spaces_the_requests_of_the_agents_asking_for_it() -> None:
    counted = Requests(steps=2)
    rate = 25.0
    paced = [("paced", agent(RunConfig(requests_per_second=rate))) for _ in range(3)]
    asyncio.run(run_all(ScriptedModel(counted.answer), paced))
    gaps = [b - a for a, b in zip(counted.starts, counted.starts[1:], strict=False)]
    assert len(counted.starts) == 6 and min(gaps) >= 1 / rate - 0.005, gaps


def test_a_new_config_applies_from_the_next_request_and_no_limit_means_no_limiter() -> None:
    before, after = RunConfig(max_concurrent_requests=7), RunConfig(requests_per_second=123.0)
    old, new = shared_limiter("openai", None, 7), shared_limiter("openai", 123.0, None)
    assert old is not None and new is not None
    held: list[tuple[int, int]] = []
    paced = agent(before)

    def answer(request: dict[str, Any]) -> Any:
        held.append((old.in_flight, new.in_flight))  # which limiter this request holds a slot of
        paced.config = [after, RunConfig(), RunConfig()][len(held) - 1]
        return FINISH if len(held) == 3 else reply(call("lookup", key=str(len(held))))

    result = paced.run("go", model=ScriptedModel(answer))
    assert result.status is ExecutionStatus.COMPLETED
    assert held == [(1, 0), (0, 1), (0, 0)]


def test_a_limit_removed_between_tasks_no_longer_holds_the_agents_back() -> None:
    agents = [("same", agent(RunConfig(max_concurrent_requests=1))) for _ in range(3)]
    first = Requests()
    asyncio.run(run_all(ScriptedModel(first.answer), agents))
    assert first.peak["same"] == 1
    for _, each in agents:
        each.config = RunConfig()
    second = Requests(gate=3)  # all three in flight at once, now that none asks for a limit
    asyncio.run(run_all(ScriptedModel(second.answer), agents))
    assert second.peak["same"] == 3
