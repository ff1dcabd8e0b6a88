"""Decisions from outside the loop: resuming an interrupted execution, deciding calls that were cut
off by a crash, approving or rejecting calls to tools that need a person's approval, cancelling.

A mixin of `Agent`, kept apart so that each module stays about one job; it uses the agent's state and
its `_apply` (apply an event to a fork of the state machine, commit, adopt).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..errors import (
    ExecutionClaimedError,
    ExecutionFinishedError,
    TaskAlreadyRunningError,
    UnknownToolCallError,
    UsageError,
)
from ..loop import Execution, ExecutionMachine, ExecutionResult, ExecutionStatus
from ..messages import Message, new_id
from ..providers import LLMProvider
from ..store import Store, ToolCallRecord, process_owner
from ..tools import OutputSchema, Tool, ToolCall, ToolCallResult
from ..tools import finish_tool as make_finish_tool
from ._requests import task_index

__all__ = ["CLAIM_SECONDS", "PROCESS_DIED", "Decisions", "cancel_execution", "close_execution"]

CLAIM_SECONDS = 15.0
"""How long an agent's claim on its execution lasts without renewal. The process's claim keeper renews
it every `CLAIM_SECONDS / 3` (5 s) for as long as the agent holds the execution, so a process that died
on another host frees its executions within 15 s; on the same host, its pid shows it is gone at once."""

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
    if not store.claim_execution(execution_id, owner=owner, lease_seconds=CLAIM_SECONDS, force=force):
        raise ExecutionClaimedError(
            f"execution {execution_id} is running in a live process; cancel it there (agent.cancel(), or Ctrl-C "
            "in `loopline run`), or end it from here with force=True (`loopline executions cancel ID --force`): "
            "that process's next write is then refused", execution_id=execution_id)
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


class Decisions:
    """`resume`, `rerun_tool_calls`, `record_tool_result`, `approve`, `reject` and the lists they act on."""

    if TYPE_CHECKING:
        name: str
        store: Store
        _machine: ExecutionMachine | None
        _finish: Tool | None
        _messages: list[Message]
        _task_index: int | None
        _owner: str
        _claimed_at: float | None
        _rerun_now: tuple[str, ...]
        _tools_by_name: dict[str, Tool]
        _rendered_tools: dict[LLMProvider, list[dict[str, Any]]]

        def _apply(self, event: Callable[[ExecutionMachine], Sequence[Message]], *,
                   tool_calls: Sequence[ToolCallRecord] = ()) -> ExecutionMachine: ...
        def _require_machine(self) -> ExecutionMachine: ...
        def _all_tools(self) -> dict[str, Tool]: ...
        def run_tools(self, tool_calls: Sequence[ToolCall]) -> list[ToolCallResult]: ...
        @property
        def pending_tool_calls(self) -> list[ToolCall]: ...

    def _settle_abandoned(self, executions: Sequence[Execution]) -> bool:
        """End what no live process holds on a thread, so that it can go on: an execution RUNNING in a
        process that died ends FAILED (`process_died`), and calls left running by a dead process
        (in an execution cancelled while its tools ran, too) get error results saying their outcome
        is unknown. A live holder keeps its execution (it may still deliver the results). True if
        anything was settled."""
        settled = False
        for candidate in executions:
            if not _abandoned(candidate):
                continue
            if not self.store.claim_execution(candidate.id, owner=self._owner, lease_seconds=CLAIM_SECONDS):
                continue  # its process is alive
            try:
                # Read again under the claim: its process may have ended it (and let go) since the listing.
                execution = self.store.get_execution(candidate.id)
                if _abandoned(execution):
                    close_execution(self.store, execution, owner=self._owner, reason=(
                        f"no live process held execution {execution.id} any more (its process died, or dropped its "
                        "agent) before it ended; its thread was continued by another task"))
                settled = True  # either way the listing is stale: read the thread again
            finally:
                self.store.release_execution(candidate.id, owner=self._owner)
        return settled

    def resume(self, execution_id: str, *, output_schema: OutputSchema | None = None,
               force: bool = False) -> Execution:
        """Reattach an execution that was interrupted (its process was killed), in any process.

        The agent must have the same name and tools. Tool calls with recorded results are not run
        again. A call that was started and has no result is run again now if its tool is idempotent
        (`@tool(idempotent=True)`); otherwise the execution is PAUSED with the call in
        `interrupted_tool_calls`, for `rerun_tool_calls` or `record_tool_result` to decide. Calls of
        the last response that never started are in `pending_tool_calls`: run them before calling
        the model again (`agent.run()` does both).

        Args:
            execution_id: The execution to resume.
            output_schema: The pydantic model of the result, to get it back as a model instance (the
                store keeps its JSON Schema, which checks the result either way).
            force: Take the execution even if another process still holds its claim. Only for when
                you know that process is gone (one killed on this host is seen to be gone without it).

        Raises:
            ExecutionClaimedError: Another live process holds the execution.
            ExecutionFinishedError: The execution has already ended.
        """
        current = self._machine.execution if self._machine else None
        if current is not None and not current.is_finished:
            raise TaskAlreadyRunningError(f"agent {self.name!r} is running execution {current.id}; finish or "
                                          "cancel it before resuming another", execution_id=current.id)
        execution = self.store.get_execution(execution_id)
        if execution.agent_name != self.name:
            raise UsageError(f"execution {execution_id} belongs to agent {execution.agent_name!r}, not "
                             f"{self.name!r}; resume it with an agent of that name and its tools")
        if execution.is_finished:
            raise ExecutionFinishedError(f"execution {execution_id} already ended ({execution.status.value})",
                                         execution_id=execution_id, status=execution.status.value)
        if not self.store.claim_execution(execution_id, owner=self._owner, lease_seconds=CLAIM_SECONDS,
                                          force=force):
            raise ExecutionClaimedError(
                f"execution {execution_id} is held by a live process; resume it once that process has stopped "
                f"(a dead one on this host frees it at once, on another host within {CLAIM_SECONDS:g} s), cancel it "
                f"(`loopline executions cancel {execution_id}`), or pass force=True (`--force`) if you know it is dead",
                execution_id=execution_id)
        previous = (self._machine, self._finish, self._messages, self._rendered_tools, self._claimed_at)
        self._claimed_at = monotonic()
        self._finish = (make_finish_tool(output_schema or execution.output_schema) if execution.finish_tool_name
                        else None)
        self._machine, self._rendered_tools = ExecutionMachine(execution), {}
        self._messages = self.store.get_messages(execution.thread_id)
        self._task_index = task_index(self._messages, execution)
        try:
            self._apply(self._reattach)
        except BaseException:
            # Nothing was committed: go back to what the agent had, so no half-resumed state can run a tool.
            self._machine, self._finish, self._messages, self._rendered_tools, self._claimed_at = previous
            raise
        again = [c for c in self.pending_tool_calls if c.id in self._rerun_now]
        if again:
            self.run_tools(again)
        return execution

    def _reattach(self, machine: ExecutionMachine) -> list[Message]:
        self._rerun_now = machine.resume(time.time(), idempotent=self._is_idempotent)
        return []

    def _is_idempotent(self, name: str) -> bool:
        tool = self._all_tools().get(name)
        return tool is not None and (tool.idempotent or tool is self._finish)

    def rerun_tool_calls(self, call_ids: Sequence[str] | None = None) -> list[ToolCallResult]:
        """Decide to run interrupted calls again (all of them by default), and run them now."""
        ids = list(call_ids) if call_ids is not None else [c.id for c in self.interrupted_tool_calls]
        def decide(machine: ExecutionMachine) -> list[Message]:
            machine.rerun(ids, time.time())
            return []

        self._apply(decide)
        return self.run_tools([c for c in self.pending_tool_calls if c.id in ids])

    def record_tool_result(self, call_id: str, content: str, *, is_error: bool = False) -> None:
        """Decide an interrupted call by recording what it came to (for example after checking its
        side effect through its idempotency key), without running it again."""
        ex = self._require_machine().execution
        call = next((c for c in ex.pending_tool_calls if c.id == call_id), None)
        if call is None:
            raise UnknownToolCallError(f"execution {ex.id} is not waiting for tool call {call_id!r}",
                                       tool_call_id=call_id)
        result = ToolCallResult(tool_call_id=call_id, function_name=call.name,
                                payload=ToolCall.from_part(call).arguments, result=content, is_success=not is_error,
                                content=content, error=content if is_error else None)
        now = time.time()
        record = ToolCallRecord(execution_id=ex.id, tool_call_id=call_id, name=call.name, arguments=call.arguments,
                                status="finished", started_at=now, finished_at=now, result=content, is_error=is_error)
        self._apply(lambda m: m.on_tool_results([result], now), tool_calls=[record])

    @property
    def pending_approvals(self) -> list[ToolCall]:
        """Calls waiting for a person's approval (the execution is PAUSED until each is decided)."""
        ex = self._require_machine().execution
        return [ToolCall.from_part(c) for c in ex.pending_tool_calls if c.id in ex.awaiting_approval]

    def approve(self, call_id: str) -> None:
        """Allow a call to a tool that needs approval; it runs with the next `run_tools` (or `run()`)."""
        def decide(machine: ExecutionMachine) -> list[Message]:
            machine.approve([call_id], time.time())
            return []

        self._apply(decide)

    def reject(self, call_id: str, reason: str = "") -> None:
        """Refuse a call to a tool that needs approval: the model is told it was rejected, and why."""
        if call_id not in self._require_machine().execution.awaiting_approval:
            raise UnknownToolCallError(f"no call {call_id!r} is awaiting approval", tool_call_id=call_id)
        self.record_tool_result(call_id, "Error: a person rejected this call" + (f": {reason}" if reason else ""),
                                is_error=True)

    def _needs_approval(self, name: str) -> bool:
        tool = self._tools_by_name.get(name)
        return tool is not None and tool.requires_approval

    @property
    def interrupted_tool_calls(self) -> list[ToolCall]:
        """Calls that were running when a process died, waiting for a decision (the execution is PAUSED)."""
        ex = self._require_machine().execution
        return [ToolCall.from_part(c) for c in ex.pending_tool_calls if c.id in ex.awaiting_decision]

    def cancel(self) -> ExecutionResult:
        """End the current execution CANCELLED. Calls that never started get error results; calls
        already running keep their place and their results are recorded when they return."""
        return self._apply(lambda m: m.cancel(time.time())).execution.to_result()
