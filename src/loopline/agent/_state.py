"""`ExecutionState`: one execution as this process runs it, apart from the agent that started it.

It owns the state machine, the local copy of the thread, the store and this process's claim, and
applies every step the same way: to a fork of the machine, committed, and only then adopted. The
agent's manual loop, the run drivers, the decisions from outside (resume, approve, ...) and memory all
act through it; none of them touches the machine or the thread directly. A worker builds one from a
stored execution and the agent's tools (`ExecutionState.reopen`) and drives it like any other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from time import monotonic
from typing import TypeVar

from ..errors import ExecutionClaimedError, UsageError
from ..loop import Execution, ExecutionMachine, ExecutionResult, ExecutionStatus, RunConfig
from ..messages import Message
from ..store import Store, ToolCallRecord, settle
from ..tools import ToolCall, ToolCallResult, ToolContext, arun_calls, run_calls
from . import _claims
from ._index import CallIds, resolve_calls
from ._requests import check_results_known, task_index
from ._toolbox import Toolbox

__all__ = ["Event", "ExecutionState", "Owner"]

Owner = str | _claims.ProcessOwner
"""Who holds the claims: a fixed owner string, or an agent's `ProcessOwner` (the process using it)."""

Event = Callable[[ExecutionMachine], Sequence[Message] | None]
"""Something that happens to an execution: applied to a machine, it returns the messages to append."""

T = TypeVar("T")


class ExecutionState:
    """One running execution: its machine, its thread, its store, and this process's claim on it.

    Build one with `start` (a new execution, committed with its first message) or `reopen` (a stored
    execution whose claim this process has just taken). Every change goes through `apply`.

    Attributes:
        store: Where the execution and its thread live.
        tools: The tools of this execution, its finish tool included.
        task_index: Where the task's message is in the thread (kept when the context is fitted).
    """

    def __init__(self, machine: ExecutionMachine, thread: list[Message], *, store: Store, owner: Owner,
                 tools: Toolbox, task_index: int | None) -> None:
        self.store, self.tools, self.task_index = store, tools, task_index
        self._owner = owner
        self._machine = machine
        self._thread = thread
        self._call_ids = CallIds()
        self._lock = threading.RLock()
        self._claimed_at: float | None = None

    @classmethod
    def start(cls, store: Store, execution: Execution, first: Message, history: list[Message], *,
              owner: Owner, tools: Toolbox) -> ExecutionState:
        """Start `execution` on a thread that holds `history`: its first message and the execution are
        committed with this process's claim in one transaction (so no other process ever sees it
        unclaimed, and takes it for abandoned). `ConcurrentUpdateError` if the thread grew meanwhile."""
        machine = ExecutionMachine(execution)
        machine.start(time.time())
        store.commit(machine.execution, [first], expected_length=len(history), owner=str(owner),
                     claim_seconds=_claims.CLAIM_SECONDS)
        state = cls(machine, [*history, first], store=store, owner=owner, tools=tools, task_index=len(history))
        state._hold()
        return state

    @classmethod
    def reopen(cls, store: Store, execution: Execution, *, owner: Owner,
               tools: Toolbox) -> tuple[ExecutionState, list[ToolCall]]:
        """Take up a stored execution whose claim `owner` holds: calls cut off by a crash are run again if
        their tool is idempotent, else held for a decision (PAUSED). Returns the state and the calls to
        run again now; nothing changes in the store if this raises."""
        thread = store.get_messages(execution.thread_id)
        state = cls(ExecutionMachine(execution), thread, store=store, owner=owner, tools=tools,
                    task_index=task_index(thread, execution))
        state._claimed_at = monotonic()
        again: tuple[str, ...] = ()

        def reattach(machine: ExecutionMachine) -> None:
            nonlocal again
            again = machine.resume(time.time(), idempotent=tools.idempotent)

        state.apply(reattach)
        return state, [c for c in state.runnable_calls() if c.id in again]

    # --- reading --------------------------------------------------------------------------------------

    @property
    def owner(self) -> str:
        """This process's name for its claims (see `loopline.store.process_owner`): a `ProcessOwner` gives
        a forked child a name of its own."""
        return str(self._owner)

    @property
    def execution(self) -> Execution:
        """The execution as it is now (the live record: copy it to keep it)."""
        return self._machine.execution

    @property
    def thread(self) -> Sequence[Message]:
        """The thread's messages, this execution's included (the live list: copy it to keep it)."""
        return self._thread

    def runnable_calls(self) -> list[ToolCall]:
        """Calls of the last response that have no result and may run (none held for a decision)."""
        ex = self._machine.execution
        held = {*ex.awaiting_decision, *ex.awaiting_approval}
        return [ToolCall.from_part(c) for c in ex.pending_tool_calls if c.id not in held]

    # --- changing -------------------------------------------------------------------------------------

    def apply(self, event: Event, *, tool_calls: Sequence[ToolCallRecord] = ()) -> ExecutionMachine:
        """Apply an event to a fork of the machine, commit what it produced, and only then adopt it.

        If the event is refused (a misuse error) or the store fails, the state, the local thread and
        the store are as they were. Reads that change nothing write nothing.
        """
        with self._lock:
            machine = self._machine
            trial = machine.fork()
            messages = list(event(trial) or ())
            if messages or tool_calls or trial.execution != machine.execution:
                self.store.commit(trial.execution, messages, expected_length=len(self._thread),
                                  tool_calls=tool_calls, owner=self.owner, claim_seconds=self._claim_to_take(trial))
            machine.adopt(trial)
            self._thread.extend(messages)
            self._keep_claim(machine.execution)
            return machine

    def check_clock(self) -> ExecutionMachine:
        """Apply the time limit (it may end the execution)."""
        return self.apply(lambda m: m.check_clock(time.time()))

    def fail(self, code: str, message: str) -> None:
        """End the execution FAILED: no model response can be had (`provider_error`, `context_overflow`)."""
        self.apply(lambda m: m.request_failed(code, message, time.time()))

    def cancel(self) -> ExecutionResult:
        """End the execution CANCELLED (calls already running keep their place)."""
        return self.apply(lambda m: m.cancel(time.time())).execution.to_result()

    def add(self, parsed: Sequence[Message]) -> list[Message]:
        """Add a model response (or wire messages) as neutral messages, all applied to one fork: a bad item
        later in the list changes nothing. Returns the messages appended."""
        added: list[Message] = []

        def feed(machine: ExecutionMachine) -> list[Message]:
            now = time.time()
            for message in parsed:
                if message.role == "assistant":
                    added.extend(machine.on_model_message(self._call_ids.unique(message, self._thread, added), now))
                    held = [c.id for c in machine.execution.pending_tool_calls if self.tools.needs_approval(c.name)]
                    machine.hold_for_approval(held, now)
                elif message.role == "tool":
                    added.extend(machine.on_tool_results(self._results_from_message(machine, message), now))
                elif message.role == "user":
                    added.extend(machine.on_user_message(message, now))
                else:
                    raise UsageError("system messages belong to the agent: set Agent(instructions=...) instead")
            return added

        self.apply(feed)
        return added

    def decide(self, decision: Callable[[ExecutionMachine, float], None]) -> None:
        """Apply a decision from outside (approve, rerun) that appends nothing."""
        self.apply(lambda m: decision(m, time.time()))

    def record_result(self, call: ToolCall, content: str, *, is_error: bool) -> None:
        """Record what a call came to without running it (a decision on an interrupted or held call)."""
        result = ToolCallResult(tool_call_id=call.id, function_name=call.name, payload=call.arguments,
                                result=content, is_success=not is_error, content=content,
                                error=content if is_error else None)
        now = time.time()
        record = ToolCallRecord(execution_id=self.execution.id, tool_call_id=call.id, name=call.name,
                                arguments=call.raw_arguments, status="finished", started_at=now, finished_at=now,
                                result=content, is_error=is_error)
        self.apply(lambda m: m.on_tool_results([result], now), tool_calls=[record])

    # --- running tools --------------------------------------------------------------------------------

    def run_tools(self, tool_calls: Sequence[ToolCall], config: RunConfig) -> list[ToolCallResult]:
        """Run the calls (concurrently), record their results, and return them in call order."""
        tool_calls = resolve_calls(tool_calls, self.execution.pending_tool_calls)
        started = self._begin_tools(tool_calls)
        if not started:
            return []
        with self._running(tool_calls):
            results = run_calls(tool_calls, self.tools.all, self._context, default_timeout=config.tool_timeout,
                                parallel=config.parallel_tool_calls, time_left=self.execution.time_left(time.time()))
        self._finish_tools(results, started)
        return results

    async def arun_tools(self, tool_calls: Sequence[ToolCall], config: RunConfig) -> list[ToolCallResult]:
        """`run_tools` for asyncio: async tools are awaited, sync tools run in threads."""
        tool_calls = resolve_calls(tool_calls, self.execution.pending_tool_calls)
        started = await self.settled(lambda: self._begin_tools(tool_calls))
        if not started:
            return []
        with self._running(tool_calls):
            results = await arun_calls(tool_calls, self.tools.all, self._context,
                                       default_timeout=config.tool_timeout, parallel=config.parallel_tool_calls,
                                       time_left=self.execution.time_left(time.time()))
        await self.settled(lambda: self._finish_tools(results, started))
        return results

    async def settled(self, work: Callable[[], T]) -> T:
        """`work()`, a step that commits, for an async driver: off the event loop when the store is remote
        (see `loopline.store.settle`)."""
        return await settle(self.store, work)

    def _begin_tools(self, tool_calls: Sequence[ToolCall]) -> dict[str, ToolCallRecord]:
        """Record the calls as started (in the store too) before any of them runs."""
        if not tool_calls:
            return {}
        now, execution_id = time.time(), self.execution.id
        records = {c.id: ToolCallRecord(execution_id=execution_id, tool_call_id=c.id, name=c.name,
                                        arguments=c.raw_arguments, status="started", started_at=now)
                   for c in tool_calls}
        self.apply(lambda m: m.begin_tools(tool_calls, now), tool_calls=list(records.values()))
        return records

    def _finish_tools(self, results: Sequence[ToolCallResult], started: dict[str, ToolCallRecord]) -> None:
        now = time.time()
        done = [dataclasses.replace(started[r.tool_call_id], status="finished", finished_at=now, result=r.content,
                                    is_error=r.is_error, duration=r.duration) for r in results]
        self.apply(lambda m: m.on_tool_results(results, now), tool_calls=done)

    @contextlib.contextmanager
    def _running(self, tool_calls: Sequence[ToolCall]) -> Iterator[None]:
        """While the calls run: if they are cut off (an exception, a cancelled task, Ctrl-C), record that
        each may or may not have had its effect, then let it propagate."""
        try:
            yield
        except BaseException:
            self.apply(lambda m: m.interrupt_tools(tool_calls, time.time()))
            raise

    def _context(self, call: ToolCall) -> ToolContext:
        execution = self.execution
        return ToolContext(tool_call_id=call.id, execution_id=execution.id, thread_id=execution.thread_id,
                           agent_name=execution.agent_name)

    def _results_from_message(self, machine: ExecutionMachine, message: Message) -> list[ToolCallResult]:
        """Tool results the user supplied as wire messages, in the shape the machine takes.

        A result for the finish tool is not taken at its word: the finish call's own arguments are
        checked (output schema included) exactly as `run_tools` would.
        """
        pending = {c.id: c for c in machine.execution.pending_tool_calls}
        check_results_known(machine.execution, message, answered=self._call_ids.of(self._thread))
        finish, results = self.tools.finish, []
        for part in message.tool_results:
            call = pending.get(part.tool_call_id)
            if call is not None and finish is not None and call.name == finish.name:
                results += run_calls([ToolCall.from_part(call)], {call.name: finish}, self._context)
                continue
            payload = ToolCall.from_part(call).arguments if call else {}
            results.append(ToolCallResult(tool_call_id=part.tool_call_id, function_name=part.name or (
                call.name if call else ""), payload=payload, result=part.content, is_success=not part.is_error,
                content=part.content, files=part.files, error=part.content if part.is_error else None))
        return results

    # --- the claim ------------------------------------------------------------------------------------

    def _hold(self) -> None:
        self._claimed_at = monotonic()
        _claims.KEEPER.hold(self, self.execution.id)

    def _keep_claim(self, execution: Execution) -> None:
        """Hold this process's claim on the execution while it runs; give it up once it has ended or
        is PAUSED (waiting for a decision that any process may make: `resume` it there, no lease to wait out)."""
        if not _needs_claim(execution):
            if self._claimed_at is not None:
                _claims.KEEPER.release(self, execution.id)
                self.store.release_execution(execution.id, owner=self.owner)
                self._claimed_at = None
            return
        if self._claimed_at is None:
            self._renew_claim(execution.id)
        _claims.KEEPER.hold(self, execution.id)

    def _claim_to_take(self, trial: ExecutionMachine) -> float | None:
        """The lease to take with the commit of `trial` when it makes the execution run again without a
        claim (a decision on a PAUSED one): in the same transaction, so that no other process sees it
        RUNNING and unclaimed, and takes it for abandoned."""
        return _claims.CLAIM_SECONDS if self._claimed_at is None and _needs_claim(trial.execution) else None

    def _renew_claim(self, execution_id: str) -> None:
        if not _claims.claim(self.store, execution_id, self.owner):
            raise ExecutionClaimedError(f"execution {execution_id} was taken over by another process (this one's "
                                        "claim lapsed); stop here", execution_id=execution_id)
        self._claimed_at = monotonic()


def _needs_claim(execution: Execution) -> bool:
    """Whether a process is at work on the execution: it runs, or calls of it still run."""
    waiting = execution.is_finished or execution.status is ExecutionStatus.PAUSED
    return not waiting or bool(execution.running_tool_calls)
