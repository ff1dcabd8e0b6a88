"""The library's own refusal to cancel an execution a live process runs (`cancel_execution`, which the CLI
and other callers use) names the real execution id in the command it suggests, not an `ID` placeholder."""

from __future__ import annotations

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore
from loopline.agent import cancel_execution
from loopline.errors import ExecutionClaimedError


def test_the_refusal_names_the_real_execution_id() -> None:
    store = InMemoryStore()
    running = Agent("holder", store=store).add_task("Hold on.")  # held by a live agent of this process

    with pytest.raises(ExecutionClaimedError) as refused:
        cancel_execution(store, running.id)
    assert str(refused.value) == (
        f"execution {running.id} is running in a live process; cancel it there (agent.cancel(), or Ctrl-C in "
        f"`loopline run`), or end it from here with force=True (`loopline executions cancel {running.id} --force`): "
        "that process's next write is then refused")
    assert refused.value.execution_id == running.id
    assert store.get_execution(running.id).status is ExecutionStatus.RUNNING
