"""A store whose every call is a round trip to a server (`remote_calls`, a remote worker's `HttpStore`) is
called off the event loop by `arun`: while one execution waits on its store, the loop runs the others.
A store here is an in-memory store that takes 50 ms a call, standing in for the network; the loop's
stalls are measured by a ticker coroutine. A cancel during a commit lets the commit end first. PostgreSQL's
store is such a store too."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, tool
from loopline.store import settle
from loopline.testing import ScriptedModel, call, reply

_DELAY = 0.05


class SlowRemoteStore(InMemoryStore):
    """An in-memory store whose commits take `_DELAY` seconds, as a round trip would, and say which thread made them."""

    remote_calls = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.committing = threading.Event()

    def commit(self, *args: Any, **kwargs: Any) -> None:
        self.threads.add(threading.get_ident())
        self.committing.set()
        time.sleep(_DELAY)
        super().commit(*args, **kwargs)


class LocalStore(SlowRemoteStore):
    remote_calls = False


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _script() -> ScriptedModel:
    return ScriptedModel([reply(call("lookup", {"key": "k"})), reply(call("finish", result="done", is_success=True))])


async def _longest_stall(work: Any) -> tuple[Any, float]:
    """`work`'s result, and the longest the event loop went without running a 5 ms ticker meanwhile."""
    longest, running = 0.0, True

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now

    ticker = asyncio.create_task(tick())
    try:
        return await work, longest
    finally:
        running = False
        await ticker


def test_executions_on_a_remote_store_commit_off_the_loop_side_by_side() -> None:
    stores = [SlowRemoteStore() for _ in range(4)]

    async def main() -> tuple[list[Any], float, float]:
        started = time.perf_counter()
        runs = asyncio.gather(*(Agent("a", tools=[lookup], store=s).arun("Look it up.", model=_script())
                                for s in stores))
        results, stall = await _longest_stall(runs)
        return results, stall, time.perf_counter() - started

    results, stall, took = asyncio.run(main())
    assert [r.status for r in results] == [ExecutionStatus.COMPLETED] * 4
    loop_thread = threading.get_ident()
    assert all(loop_thread not in s.threads for s in stores)
    commits = 6  # start, then per step: the response, the calls begun, their results (the finish call's too)
    assert stall < _DELAY * 0.8  # no commit held the loop
    assert took < 4 * commits * _DELAY * 0.6  # the four executions waited on their stores together


def test_a_local_store_is_called_on_the_loop() -> None:
    store = LocalStore()

    async def main() -> Any:
        result = await Agent("a", tools=[lookup], store=store).arun("Look it up.", model=_script())
        return result, threading.get_ident()

    result, loop_thread = asyncio.run(main())
    assert result.status is ExecutionStatus.COMPLETED and store.threads == {loop_thread}


def test_cancelling_during_a_remote_commit_lets_the_commit_end_first() -> None:
    store = SlowRemoteStore()
    agent = Agent("a", tools=[lookup], store=store)

    async def main() -> None:
        run = asyncio.create_task(agent.arun("Look it up.", model=_script()))
        await asyncio.to_thread(store.committing.wait)
        store.committing.clear()
        await asyncio.to_thread(store.committing.wait)  # the second commit (the response) is under way
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(main())
    stored = store.get_execution(agent.execution.id)  # type: ignore[union-attr]
    assert stored.status is ExecutionStatus.CANCELLED
    assert [m.role for m in store.get_messages(stored.thread_id)][:2] == ["user", "assistant"]


def test_settle_runs_work_in_a_thread_only_for_a_remote_store_and_waits_for_it_when_cancelled() -> None:
    finished = threading.Event()

    def work() -> int:
        time.sleep(0.1)
        finished.set()
        return threading.get_ident()

    async def main() -> tuple[int, int, int]:
        inline = await settle(LocalStore(), work)
        finished.clear()
        remote = await settle(SlowRemoteStore(), work)
        finished.clear()
        job = asyncio.create_task(settle(SlowRemoteStore(), work))
        await asyncio.sleep(0.02)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert finished.is_set()  # the cancel came back only once the work had ended
        return inline, remote, threading.get_ident()

    inline, remote, loop_thread = asyncio.run(main())
    assert inline == loop_thread and remote != loop_thread


def test_postgresql_commits_are_made_off_the_loop(pg_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[int] = set()
    commit = pg_store.commit

    def recorded(*args: Any, **kwargs: Any) -> None:
        threads.add(threading.get_ident())
        commit(*args, **kwargs)

    monkeypatch.setattr(pg_store, "commit", recorded)

    async def main() -> tuple[list[Any], int]:
        runs = [Agent("a", tools=[lookup], store=pg_store).arun("Look it up.", model=_script()) for _ in range(3)]
        return list(await asyncio.gather(*runs)), threading.get_ident()

    results, loop_thread = asyncio.run(main())
    assert [r.status for r in results] == [ExecutionStatus.COMPLETED] * 3
    assert threads and loop_thread not in threads
