"""Taking turns on a thread: tasks on one thread run one at a time. A task starts on a thread only
when no other execution is at work on it, and what a dead process left on it is ended first.

`Agent.add_task` starts here, and gets back the `ExecutionState` of the new execution. Checking that
the thread is free and starting on it are fenced by the thread's length: of two processes that found
it free, the second to commit is refused and told `ThreadBusyError`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from time import monotonic

from ..errors import ConcurrentUpdateError, ConfigError, ThreadBusyError
from ..loop import Execution, ExecutionStatus
from ..messages import Message
from ..store import Store
from ._decisions import settle_abandoned
from ._state import ExecutionState, Owner
from ._toolbox import Toolbox

__all__ = ["start"]


def start(store: Store, make: Callable[..., Execution], thread_id: str | None, first: Message, *, owner: Owner,
          tools: Toolbox, wait: float) -> ExecutionState:
    """Start the execution `make` builds with `first`, on a new thread (`thread_id` None) or on an existing
    one once it is free, trying again with a short backoff for `wait` seconds (each try a fresh
    execution, so waiting does not count against its time limit)."""
    _check_wait(wait)
    if thread_id is None:
        return ExecutionState.start(store, make(thread_id=store.create_thread()), first, [], owner=owner,
                                    tools=tools)
    deadline, pause = monotonic() + wait, 0.005
    while True:
        try:
            return _try_start(store, make, thread_id, first, owner=owner, tools=tools)
        except ThreadBusyError as busy:
            remaining = deadline - monotonic()
            if remaining <= 0:
                if wait > 0:
                    raise ThreadBusyError(f"{busy} (waited {wait:g} s)", thread_id=busy.thread_id,
                                          execution_id=busy.execution_id) from None
                raise
        time.sleep(min(pause * random.uniform(0.5, 1.5), remaining))  # the last try comes at the deadline
        pause = min(pause * 2, 0.25)


def _check_wait(wait: object) -> None:
    """`wait` is a finite number of seconds, 0 or more: `None` or `"5"` would fail deep in the loop, and NaN
    would never compare past the deadline (it would wait for ever)."""
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        raise ConfigError(f"wait must be a finite number of seconds, 0 or more (0 refuses a busy thread at once); "
                          f"got {wait!r}")


def _try_start(store: Store, make: Callable[..., Execution], thread_id: str, first: Message, *, owner: Owner,
               tools: Toolbox) -> ExecutionState:
    """One try. The thread's length is the fence between checking that it is free and starting: of two
    processes that found it free, the second to commit is refused, and told that the thread is busy."""
    try:
        history = _history_to_continue(store, str(owner), thread_id)
        return ExecutionState.start(store, make(thread_id=thread_id), first, history, owner=owner, tools=tools)
    except ConcurrentUpdateError as exc:
        raise ThreadBusyError(f"another task started on thread {thread_id} while this one was starting; try "
                              "again, or pass wait=SECONDS to add_task to wait for the thread to be free",
                              thread_id=thread_id, execution_id=None) from exc


def _history_to_continue(store: Store, owner: str, thread_id: str) -> list[Message]:
    """The thread's messages, refusing a thread that another execution is still writing to (after
    ending what a dead process left on it)."""
    history = store.get_messages(thread_id)
    executions = store.list_executions(thread_id=thread_id, limit=None)
    if settle_abandoned(store, owner, executions):
        return _history_to_continue(store, owner, thread_id)
    active = [e for e in executions if not e.is_finished]
    if active:
        raise ThreadBusyError(_busy_message(thread_id, active[0]), thread_id=thread_id, execution_id=active[0].id)
    answered = {p.tool_call_id for m in history for p in m.tool_results}
    unanswered = [p.id for m in history for p in m.tool_calls if p.id not in answered]
    if unanswered:
        raise ThreadBusyError(f"thread {thread_id} ends with tool calls {unanswered} that have no results "
                              "(a live process may still be running them); no provider accepts it as it is. "
                              "Pass wait=SECONDS to add_task to wait for the results",
                              thread_id=thread_id, execution_id=None)
    return history


def _busy_message(thread_id: str, active: Execution) -> str:
    """Why the thread is busy, and the ways out."""
    head = (f"thread {thread_id} is in use by execution {active.id} of agent {active.agent_name!r} "
            f"({active.status.value}); ")
    if active.status is ExecutionStatus.PAUSED:
        return head + ("it waits for a decision on its held tool calls: resume it and decide (Agent.resume, then "
                       f"approve / reject or rerun_tool_calls / record_tool_result; or `loopline executions resume "
                       f"{active.id} PATH.py:NAME`), or cancel it (`loopline executions cancel {active.id}`)")
    return head + ("continue the thread once it has ended: pass wait=SECONDS to add_task to wait for it, or cancel "
                   f"it (agent.cancel() in its process, or `loopline executions cancel {active.id}`)")
