"""Decisions from outside the loop, on stored executions: cancelling one from any process, taking one
up again (`resume`), and ending what a dead process left running on a thread.

Functions of the store and a claim owner; what is decided on an execution this process runs (approve,
reject, rerun, record a result) goes through its `ExecutionState`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..errors import ExecutionClaimedError, ExecutionFinishedError, UsageError
from ..loop import Execution, ExecutionMachine, ExecutionStatus
from ..messages import new_id
from ..store import Store, process_owner
from ..tools import ToolCall
from . import _claims
from ._claims import CLAIM_SECONDS

__all__ = ["CLAIM_SECONDS", "PROCESS_DIED", "cancel_execution", "close_execution", "reopen", "settle_abandoned"]

PROCESS_DIED = "process_died"
"""The error code of an execution ended because no live process held it any more."""


def cancel_execution(store: Store, execution_id: str, *, force: bool = False) -> Execution:
    """End an execution CANCELLED from any process (`loopline executions cancel ID`).

    Calls that never started get error results; calls left running by a dead process get error results
    saying their outcome is unknown. An execution that a live process still runs is refused unless
    `force`: then that process's next write is refused and it stops there.

    Raises:
        ExecutionFinishedError: It has already ended (and has no calls left running).
        ExecutionClaimedError: A live process runs it (without `force`).
    """
    owner = process_owner(new_id("cancel"))
    if not _claims.claim(store, execution_id, owner, force=force):
        raise ExecutionClaimedError(
            f"execution {execution_id} is running in a live process; cancel it there (agent.cancel(), or Ctrl-C "
            f"in `loopline run`), or end it from here with force=True (`loopline executions cancel {execution_id} "
            "--force`): that process's next write is then refused", execution_id=execution_id)
    try:
        execution = store.get_execution(execution_id)
        if execution.is_finished and not execution.running_tool_calls:
            raise ExecutionFinishedError(f"execution {execution_id} already ended ({execution.status.value})",
                                         execution_id=execution_id, status=execution.status.value)
        return close_execution(store, execution, owner=owner, reason=None)
    finally:
        store.release_execution(execution_id, owner=owner)


def close_execution(store: Store, execution: Execution, *, owner: str, reason: str | None) -> Execution:
    """End an execution whose claim `owner` holds, in one commit: calls left running get error results
    saying their outcome is unknown, then it ends CANCELLED (`reason` None: someone cancelled it) or
    FAILED with `PROCESS_DIED` and `reason` (its process died). An execution that has already ended
    only gets its running calls settled."""
    machine, now = ExecutionMachine(execution), time.time()
    running = [ToolCall.from_part(c) for c in execution.pending_tool_calls if c.id in execution.running_tool_calls]
    messages = machine.interrupt_tools(running, now)
    if not execution.is_finished:
        messages += machine.cancel(now) if reason is None else machine.request_failed(PROCESS_DIED, reason, now)
    store.commit(machine.execution, messages, expected_length=store.get_thread(execution.thread_id).length,
                 owner=owner)
    return machine.execution


def _abandoned(execution: Execution) -> bool:
    """Whether, once no live process holds it, the execution is left unfinished: RUNNING, or ended
    with calls still running (a PAUSED one waits for a decision, which any process may make)."""
    return execution.status is ExecutionStatus.RUNNING or (execution.is_finished and bool(execution.running_tool_calls))


def settle_abandoned(store: Store, owner: str, executions: Sequence[Execution]) -> bool:
    """End what no live process holds on a thread, so that it can go on: an execution RUNNING in a
    process that died ends FAILED (`process_died`), and calls left running by a dead process
    (in an execution cancelled while its tools ran, too) get error results saying their outcome
    is unknown. A live holder keeps its execution (it may still deliver the results). True if
    anything was settled."""
    settled = False
    for candidate in executions:
        if not _abandoned(candidate) or not _claims.claim(store, candidate.id, owner):
            continue  # nothing to settle, or its process is alive
        try:
            # Read again under the claim: its process may have ended it (and let go) since the listing.
            execution = store.get_execution(candidate.id)
            if _abandoned(execution):
                close_execution(store, execution, owner=owner, reason=(
                    f"no live process held execution {execution.id} any more (its process died, or dropped its "
                    "agent) before it ended; its thread was continued by another task"))
            settled = True  # either way the listing is stale: read the thread again
        finally:
            store.release_execution(candidate.id, owner=owner)
    return settled


def reopen(store: Store, execution_id: str, *, agent_name: str, owner: str, force: bool) -> Execution:
    """A stored execution for `agent_name` to take up, its claim taken by `owner` (see `Agent.resume`).

    Raises:
        ExecutionClaimedError: Another live process holds the execution.
        ExecutionFinishedError: The execution has already ended.
        UsageError: It belongs to an agent of another name.
    """
    execution = store.get_execution(execution_id)
    if execution.agent_name != agent_name:
        raise UsageError(f"execution {execution_id} belongs to agent {execution.agent_name!r}, not "
                         f"{agent_name!r}; resume it with an agent of that name and its tools")
    if execution.is_finished:
        raise ExecutionFinishedError(f"execution {execution_id} already ended ({execution.status.value})",
                                     execution_id=execution_id, status=execution.status.value)
    if not _claims.claim(store, execution_id, owner, force=force):
        raise ExecutionClaimedError(
            f"execution {execution_id} is held by a live process; resume it once that process has stopped "
            f"(a dead one on this host frees it at once, on another host within {_claims.CLAIM_SECONDS:g} s), "
            f"cancel it (`loopline executions cancel {execution_id}`), or pass force=True (`--force`) if you know "
            "it is dead", execution_id=execution_id)
    return execution
