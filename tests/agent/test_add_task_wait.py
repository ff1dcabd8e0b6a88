"""`add_task(..., wait=)` takes a finite number of seconds, 0 or more, and refuses anything else at once
with a `ConfigError` naming `wait`, before anything is created: `None` or `"5"` used to fail with a bare
`TypeError` from deep inside the wait, and NaN never passed the deadline, so it waited for ever."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest

from loopline import Agent, SQLiteStore
from loopline.errors import ConfigError, ThreadBusyError
from loopline.store import Store

BAD_WAITS = [None, "5", math.nan, math.inf, -1, True, [1]]


def _add_task_bounded(agent: Agent, **kwargs: Any) -> BaseException | None:
    """`agent.add_task("Next.", **kwargs)` in a thread, given 10 s: what it raised (None if nothing)."""
    outcome: list[BaseException | None] = []

    def go() -> None:
        try:
            agent.add_task("Next.", **kwargs)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(10)
    assert outcome, f"add_task({kwargs}) was still waiting after 10 s"
    return outcome[0]


@pytest.fixture
def store(tmp_path: Any) -> Store:
    return SQLiteStore(tmp_path / "wait.db")


@pytest.mark.parametrize("wait", BAD_WAITS, ids=repr)
def test_a_bad_wait_is_refused_naming_it_before_anything_is_created(store: Store, wait: object) -> None:
    holder = Agent("holder", store=store)
    busy = holder.add_task("Hold the thread.")
    before = (store.get_thread(busy.thread_id).length, len(store.list_executions(limit=None)))

    refused = _add_task_bounded(Agent("next", store=store), thread_id=busy.thread_id, wait=wait)
    assert isinstance(refused, ConfigError), repr(refused)
    assert str(refused) == ("wait must be a finite number of seconds, 0 or more (0 refuses a busy thread at once); "
                            f"got {wait!r}")
    assert (store.get_thread(busy.thread_id).length, len(store.list_executions(limit=None))) == before

    on_a_new_thread = _add_task_bounded(Agent("fresh", store=store), wait=wait)
    assert isinstance(on_a_new_thread, ConfigError), repr(on_a_new_thread)
    assert len(store.list_executions(limit=None)) == before[1]


@pytest.mark.parametrize("wait", [0, 0.2, 1])
def test_a_good_wait_still_waits_then_tells_the_thread_is_busy(store: Store, wait: float) -> None:
    busy = Agent("holder", store=store).add_task("Hold the thread.")
    refused = _add_task_bounded(Agent("next", store=store), thread_id=busy.thread_id, wait=wait)
    assert isinstance(refused, ThreadBusyError), repr(refused)
