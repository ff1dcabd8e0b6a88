"""The execution state machine, written once and without I/O.

It is fed events (a model response, tool results, the clock) and answers with the messages to
append and the next action. The manual loop, `run`, `arun` and workers all drive this same machine;
none of them decides anything the machine decides.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import (
    ApprovalRequiredError,
    DuplicateToolCallError,
    ExecutionFinishedError,
    InterruptedCallError,
    PendingToolCallsError,
    UnknownToolCallError,
)
from ..messages import Message, TextPart, ToolCallPart, ToolResultPart
from ..tools import ToolCall, ToolCallResult
from ._execution import Execution, ExecutionError, ExecutionStatus
from ._pricing import cost_of

__all__ = ["CallModel", "Done", "ExecutionMachine", "NextAction", "RunTools"]

FINISH_REMINDER = (
    "You replied without calling a tool. When the task is done (or cannot be done), call the "
    "`{name}` tool with the result; otherwise continue with the tools you have."
)


@dataclass(frozen=True, slots=True)
class CallModel:
    """Send the conversation to the model."""


@dataclass(frozen=True, slots=True)
class RunTools:
    """Run these calls, then feed their results back."""

    calls: tuple[ToolCallPart, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing for a driver to do: the execution has ended, or is PAUSED for a decision from outside."""

    status: ExecutionStatus


NextAction = CallModel | RunTools | Done


class ExecutionMachine:
    """Decides what an execution does next from what has happened so far."""

    __slots__ = ("execution",)

    def __init__(self, execution: Execution) -> None:
        self.execution = execution

    @property
    def finish_tool_name(self) -> str | None:
        """The finish tool's name (kept on the execution, so a resumed machine behaves the same)."""
        return self.execution.finish_tool_name

    @property
    def require_finish(self) -> bool:
        """Whether text-only replies get a reminder to call the finish tool."""
        return self.execution.require_finish and self.execution.finish_tool_name is not None

    # --- events -----------------------------------------------------------------------------------

    def fork(self) -> ExecutionMachine:
        """A machine on a copy of the execution: apply events to it, keep it only if they succeed."""
        return ExecutionMachine(self.execution.copy())

    def adopt(self, other: ExecutionMachine) -> None:
        """Take over the state of a fork whose events were accepted (the execution object stays the
        same one, so references handed out earlier see the change)."""
        vars(self.execution).update(vars(other.execution))

    def start(self, now: float) -> None:
        """The task begins."""
        self.execution.set_status(ExecutionStatus.RUNNING, now)

    def on_model_message(self, message: Message, now: float) -> list[Message]:
        """A model response arrived; returns the messages to append (the response first)."""
        self._ensure_open("add a model response to")
        self._ensure_no_pending("adding the next response")
        ex = self.execution
        ex.steps += 1
        if message.usage is not None:
            ex.usage = ex.usage + message.usage
            ex.cost_usd += cost_of(message.model, message.usage)
        ex.updated_at = now
        calls = message.tool_calls
        breach = self._budget_breach(len(calls))
        if breach is not None:
            return [message, *self._on_budget(message, breach, now)]
        if calls:
            ex.pending_tool_calls = calls
            return [message]
        return [message, *self._on_reply_without_calls(message, now)]

    def _budget_breach(self, new_calls: int) -> tuple[str, str] | None:
        """The first budget this response runs past: (code, message), or None."""
        ex, limits = self.execution, self.execution.limits
        if limits.max_total_tokens is not None and ex.usage.total_tokens > limits.max_total_tokens:
            return "max_total_tokens", (f"the execution used {ex.usage.total_tokens} tokens, over its budget of "
                                        f"{limits.max_total_tokens} (Limits.max_total_tokens)")
        if limits.max_cost_usd is not None and ex.cost_usd > limits.max_cost_usd:
            return "max_cost_usd", (f"the execution cost ${ex.cost_usd:.4f}, over its budget of "
                                    f"${limits.max_cost_usd:g} (Limits.max_cost_usd)")
        if limits.max_tool_calls is not None and ex.tool_calls + new_calls > limits.max_tool_calls:
            return "max_tool_calls", (f"the model asked for {ex.tool_calls + new_calls} tool calls in all, over the "
                                      f"budget of {limits.max_tool_calls} (Limits.max_tool_calls)")
        if limits.max_steps is not None and ex.steps > limits.max_steps:  # only the final turn goes past it
            return self._steps_breach()
        return None

    def _steps_breach(self) -> tuple[str, str]:
        return "max_steps", (f"the execution reached its limit of {self.execution.limits.max_steps} model "
                             "responses without finishing (Limits.max_steps)")

    def _on_budget(self, message: Message, breach: tuple[str, str], now: float) -> list[Message]:
        """A budget ran out: fail, or (Limits.final_turn) let the model call the finish tool once more."""
        ex = self.execution
        finishing = tuple(c for c in message.tool_calls if c.name == self.finish_tool_name)
        if ex.final_turn_given and finishing:
            ex.pending_tool_calls = finishing[:1]  # the last turn's finish call is let through
            skipped = tuple(c for c in message.tool_calls if c is not finishing[0])
            return self._not_run(skipped, f"the budget ran out: {breach[1]}")
        ex.pending_tool_calls = message.tool_calls
        if not self._final_turn_left():
            self._fail(*breach, now)
            return self._close_if_finished()
        closing = self._not_run(message.tool_calls, f"the budget ran out: {breach[1]}")
        ex.pending_tool_calls = ()
        return [*closing, self._give_final_turn(breach)]

    def _final_turn_left(self) -> bool:
        """Whether a budget that ran out gives the model one last turn (Limits.final_turn) first."""
        ex = self.execution
        return ex.limits.final_turn and not ex.final_turn_given and self.finish_tool_name is not None

    def _give_final_turn(self, breach: tuple[str, str]) -> Message:
        """The last turn: the model is asked to call the finish tool with what it has."""
        self.execution.final_turn_given = True
        prompt = (f"Your budget ran out ({breach[1]}). Call the `{self.finish_tool_name}` tool now with the "
                  "best result you have; no other tool will run.")
        return Message(role="user", parts=(TextPart(text=prompt),))

    def _not_run(self, calls: Sequence[ToolCallPart], why: str) -> list[Message]:
        if not calls:
            return []
        parts = tuple(ToolResultPart(tool_call_id=c.id, name=c.name, content=f"Error: not run; {why}", is_error=True)
                      for c in calls)
        return [Message(role="tool", parts=parts)]

    def on_tool_results(self, results: Sequence[ToolCallResult], now: float) -> list[Message]:
        """Results of (some of) the pending calls; returns the messages to append (results first).

        Results of calls that were running when the execution ended are still taken: what the tool
        did happened, and the thread records it.
        """
        if not results:
            return []
        ex = self.execution
        late = ex.is_finished and all(r.tool_call_id in ex.running_tool_calls for r in results)
        if not late:
            self._ensure_open("add tool results to")
        for r in results:
            if r.tool_call_id not in ex.pending_ids:
                raise UnknownToolCallError(
                    f"execution {ex.id} is not waiting for a result of tool call {r.tool_call_id!r} "
                    f"(waiting for {list(ex.pending_ids) or 'none'})",
                    tool_call_id=r.tool_call_id,
                )
        answered = {r.tool_call_id for r in results}
        ex.pending_tool_calls = tuple(c for c in ex.pending_tool_calls if c.id not in answered)
        ex.running_tool_calls = tuple(i for i in ex.running_tool_calls if i not in answered)
        if ex.awaiting_decision or ex.awaiting_approval:
            ex.awaiting_decision = tuple(i for i in ex.awaiting_decision if i not in answered)
            ex.awaiting_approval = tuple(i for i in ex.awaiting_approval if i not in answered)
            self._unpause(now)
        ex.tool_calls += len(results)
        ex.updated_at = now
        parts = tuple(ToolResultPart(tool_call_id=r.tool_call_id, name=r.function_name, content=r.content,
                                     is_error=r.is_error, files=r.files) for r in results)
        if late:
            return [Message(role="tool", parts=parts)]
        self._apply_finish(results, now)
        last_turn = self._check_steps(now) if not ex.is_finished and not ex.pending_tool_calls else []
        return [Message(role="tool", parts=parts), *self._close_if_finished(), *last_turn]

    def begin_tools(self, calls: Sequence[ToolCall], now: float) -> None:
        """These pending calls start running now (checked first: nothing runs that should not)."""
        self.check_calls(calls)
        ex = self.execution
        running = [c.id for c in calls if c.id in ex.running_tool_calls]
        if running:
            raise DuplicateToolCallError(
                f"tool call {running[0]!r} is already running (or was started and never returned); it runs once",
                tool_call_id=running[0])
        unapproved = [c.id for c in calls if c.id in ex.awaiting_approval]
        if unapproved:
            raise ApprovalRequiredError(
                f"tool call {unapproved[0]!r} needs a person's approval first: agent.approve(...) or "
                "agent.reject(...)", tool_call_id=unapproved[0])
        undecided = [c.id for c in calls if c.id in ex.awaiting_decision]
        if undecided:
            raise InterruptedCallError(
                f"tool call {undecided[0]!r} was started before a crash and may have had its effect; "
                "decide first: agent.rerun_tool_calls([...]) or agent.record_tool_result(...)",
                tool_call_id=undecided[0])
        ex.running_tool_calls = (*ex.running_tool_calls, *(c.id for c in calls))
        ex.updated_at = now

    def resume(self, now: float, *, idempotent: Callable[[str], bool]) -> tuple[str, ...]:
        """Reattach an execution whose process died. Calls that were started and never returned are
        handed back to be run again when their tool is idempotent (their ids are returned); otherwise
        the execution is PAUSED until each gets a decision (`rerun` or a recorded result)."""
        self._ensure_open("resume")
        ex = self.execution
        # Calls a previous resume left awaiting a decision are still interrupted: never forget them.
        cut = {*ex.running_tool_calls, *ex.awaiting_decision}
        interrupted = [c for c in ex.pending_tool_calls if c.id in cut]
        again = tuple(c.id for c in interrupted if idempotent(c.name))
        ex.running_tool_calls = ()
        ex.awaiting_decision = tuple(c.id for c in interrupted if c.id not in again)
        held = ex.awaiting_decision or ex.awaiting_approval
        ex.set_status(ExecutionStatus.PAUSED if held else ExecutionStatus.RUNNING, now)
        return again

    def rerun(self, call_ids: Sequence[str], now: float) -> None:
        """Decide to run interrupted calls again (they become ordinary pending calls)."""
        ex = self.execution
        unknown = [i for i in call_ids if i not in ex.awaiting_decision]
        if unknown:
            raise UnknownToolCallError(f"execution {ex.id} has no interrupted call {unknown[0]!r} awaiting a "
                                       f"decision (awaiting: {list(ex.awaiting_decision) or 'none'})",
                                       tool_call_id=unknown[0])
        ex.awaiting_decision = tuple(i for i in ex.awaiting_decision if i not in call_ids)
        self._unpause(now)

    def hold_for_approval(self, call_ids: Sequence[str], now: float) -> None:
        """These pending calls wait for a person's approval: the execution is PAUSED until each is decided."""
        if not call_ids:
            return
        ex = self.execution
        ex.awaiting_approval = (*ex.awaiting_approval, *call_ids)
        ex.set_status(ExecutionStatus.PAUSED, now)

    def approve(self, call_ids: Sequence[str], now: float) -> None:
        """A person approved these calls: they may run."""
        ex = self.execution
        unknown = [i for i in call_ids if i not in ex.awaiting_approval]
        if unknown:
            raise UnknownToolCallError(f"execution {ex.id} has no call {unknown[0]!r} awaiting approval "
                                       f"(awaiting: {list(ex.awaiting_approval) or 'none'})", tool_call_id=unknown[0])
        ex.awaiting_approval = tuple(i for i in ex.awaiting_approval if i not in call_ids)
        self._unpause(now)

    def interrupt_tools(self, calls: Sequence[ToolCall], now: float) -> list[Message]:
        """Running calls whose outcome is unknown (the run was interrupted): error results that say so."""
        ex = self.execution
        ids = [c.id for c in calls if c.id in ex.running_tool_calls]
        if not ids:
            return []
        note = "Error: interrupted while running; the tool may or may not have had its effect"
        parts = tuple(ToolResultPart(tool_call_id=c.id, name=c.name, content=note, is_error=True)
                      for c in ex.pending_tool_calls if c.id in ids)
        ex.pending_tool_calls = tuple(c for c in ex.pending_tool_calls if c.id not in ids)
        ex.running_tool_calls = tuple(i for i in ex.running_tool_calls if i not in ids)
        ex.updated_at = now
        return [Message(role="tool", parts=parts)] if parts else []

    def on_user_message(self, message: Message, now: float) -> list[Message]:
        """A user message added mid-execution; returns the messages to append."""
        self._ensure_open("add a user message to")
        self._ensure_no_pending("adding a user message")
        self.execution.updated_at = now
        return [message]

    def cancel(self, now: float) -> list[Message]:
        """End the execution CANCELLED; returns error results for calls that will never run."""
        ex = self.execution
        if ex.is_finished:
            return []
        ex.set_status(ExecutionStatus.CANCELLED, now)
        return self._close_if_finished()

    def check_clock(self, now: float) -> list[Message]:
        """Ends the execution FAILED when its time is up; returns the messages to append then."""
        ex = self.execution
        if ex.is_finished or ex.time_left(now) != 0:  # None: no limit
            return []
        self._fail("max_duration", f"the execution ran longer than its limit of {ex.limits.max_duration:g} seconds "
                   "(Limits.max_duration)", now)
        return self._close_if_finished()

    def check_calls(self, calls: Sequence[ToolCall]) -> None:
        """Refuses calls the execution is not waiting for, before anything runs."""
        self._ensure_open("run tools for")
        seen: set[str] = set()
        for call in calls:
            if call.id in seen:
                raise DuplicateToolCallError(
                    f"tool call {call.id!r} appears twice in one run_tools; each call runs once",
                    tool_call_id=call.id)
            seen.add(call.id)
            if call.id not in self.execution.pending_ids:
                raise UnknownToolCallError(
                    f"execution {self.execution.id} is not waiting for tool call {call.id!r} "
                    f"(waiting for {list(self.execution.pending_ids) or 'none'})",
                    tool_call_id=call.id,
                )

    # --- the decision -----------------------------------------------------------------------------

    def next_action(self) -> NextAction:
        """What the driver should do now."""
        ex = self.execution
        if ex.is_finished or ex.status is ExecutionStatus.PAUSED:
            return Done(ex.status)  # PAUSED: a decision from outside comes first
        if ex.pending_tool_calls:
            return RunTools(ex.pending_tool_calls)
        return CallModel()

    def provider_failed(self, message: str, now: float) -> list[Message]:
        """The model could not be reached or answered with an error (after the retries)."""
        return self.request_failed("provider_error", message, now)

    def request_failed(self, code: str, message: str, now: float) -> list[Message]:
        """No model response can be had: the provider failed (`provider_error`), or the request
        cannot be made (`context_overflow`). Ends the execution FAILED with that code."""
        self._ensure_open("record a failed request for")
        self._fail(code, message, now)
        return self._close_if_finished()

    # --- internals --------------------------------------------------------------------------------

    def _on_reply_without_calls(self, message: Message, now: float) -> list[Message]:
        ex = self.execution
        if ex.final_turn_given and self.require_finish:
            self._fail("finish_required", "the model's last turn after its budget ran out did not call the "
                       f"`{self.finish_tool_name}` tool", now)
            return []
        if message.refusal is not None or message.stop_reason == "refusal":
            self._fail("refusal", f"the model refused: {message.refusal or message.text or '(no explanation)'}", now)
        elif message.stop_reason == "length":
            self._fail("truncated", "the model's reply was cut off at its output token limit "
                       f"(stop reason {message.raw_stop_reason!r}); raise max_tokens or shorten the task", now)
        elif message.stop_reason == "content_filter":
            self._fail("content_filter", "the provider's content filter stopped the reply", now)
        elif message.stop_reason == "pause":
            return []  # the provider paused a long turn: the next request lets it continue
        elif not message.text and not self.require_finish:
            self._fail("empty_reply", "the model replied with no text and no tool call", now)
        elif not self.require_finish:
            self._complete(message.text, now)
        elif self._steps_exhausted():
            return self._check_steps(now)
        elif ex.finish_reminders >= ex.limits.max_finish_reminders:
            self._fail("finish_required", f"the model replied {ex.finish_reminders + 1} times without calling the "
                       f"`{self.finish_tool_name}` tool, which this agent requires (Limits.max_finish_reminders)",
                       now)
        else:
            ex.finish_reminders += 1
            reminder = FINISH_REMINDER.format(name=self.finish_tool_name)
            return [Message(role="user", parts=(TextPart(text=reminder),))]
        return []

    def _apply_finish(self, results: Sequence[ToolCallResult], now: float) -> None:
        for r in results:
            if r.function_name == self.finish_tool_name and r.is_success:
                if r.payload.get("is_success", True):
                    self._complete(r.result, now)
                else:
                    self._fail("model_reported_failure", "the model reported that it could not finish: "
                               f"{_said(r.result)}", now, result=r.result)
                return

    def _unpause(self, now: float) -> None:
        ex = self.execution
        if ex.status is ExecutionStatus.PAUSED and not ex.awaiting_decision and not ex.awaiting_approval:
            ex.set_status(ExecutionStatus.RUNNING, now)

    def _close_if_finished(self) -> list[Message]:
        """Once ended, calls that never started get error results, so the thread stays valid for any
        provider; calls still running stay pending until their results come in."""
        ex = self.execution
        closing = tuple(c for c in ex.pending_tool_calls if c.id not in ex.running_tool_calls)
        if not ex.is_finished or not closing:
            return []
        ex.pending_tool_calls = tuple(c for c in ex.pending_tool_calls if c.id in ex.running_tool_calls)
        cut = set(ex.awaiting_decision)
        ex.awaiting_decision = ex.awaiting_approval = ()
        never = "Error: not run; the execution ended before this call could run"
        maybe = "Error: interrupted while running; the tool may or may not have had its effect"
        parts = tuple(ToolResultPart(tool_call_id=c.id, name=c.name, content=maybe if c.id in cut else never,
                                     is_error=True) for c in closing)
        return [Message(role="tool", parts=parts)]

    def _steps_exhausted(self) -> bool:
        limit = self.execution.limits.max_steps
        return limit is not None and self.execution.steps >= limit

    def _check_steps(self, now: float) -> list[Message]:
        """When the step budget is used up: the final turn's prompt (Limits.final_turn), or FAILED."""
        if not self._steps_exhausted():
            return []
        if self._final_turn_left():
            return [self._give_final_turn(self._steps_breach())]
        self._fail(*self._steps_breach(), now)
        return []

    def _complete(self, result: object, now: float) -> None:
        self.execution.result = result
        self.execution.set_status(ExecutionStatus.COMPLETED, now)

    def _fail(self, code: str, message: str, now: float, *, result: object = None) -> None:
        ex = self.execution
        ex.error = ExecutionError(code=code, message=message)
        ex.result = result
        ex.set_status(ExecutionStatus.FAILED, now)

    def _ensure_no_pending(self, doing: str) -> None:
        ex = self.execution
        if ex.pending_tool_calls:
            ids = list(ex.pending_ids)
            raise PendingToolCallsError(
                f"execution {ex.id}: the previous response's tool calls {ids} have no results yet; "
                f"call run_tools(...) with them before {doing}",
                tool_call_ids=ids,
            )

    def _ensure_open(self, what: str) -> None:
        ex = self.execution
        if ex.is_finished:
            raise ExecutionFinishedError(
                f"cannot {what} execution {ex.id}: it already ended with status {ex.status.value}"
                f"{f' ({ex.error.code})' if ex.error else ''}; "
                "start a new task with add_task(...), passing thread_id to continue the conversation",
                execution_id=ex.id, status=ex.status.value,
            )


def _said(result: object) -> str:
    """What the model said, as it said it: text as is, anything else as JSON."""
    if isinstance(result, str):
        return result or "(no explanation)"
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except ValueError:
        return repr(result)
