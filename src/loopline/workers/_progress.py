"""What a worker reports while an agent runs a task: after every step of the loop, the task's events
(steps, tool calls and their results, usage and cost, status) and its `progress` / `current_action`;
and, at the same step boundary, whether the task was cancelled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from ..loop import Execution
from ..store import Store
from ..tasks import Tasks

__all__ = ["TaskProgress"]


class TaskProgress:
    """The `Progress` an agent's `arun` is given for a task."""

    def __init__(self, tasks: Tasks, task_id: str, store: Store, *, cancelled: Callable[[], bool],
                 handing_back: Callable[[], bool], hand_back: type[BaseException], detailed: bool = True) -> None:
        self._tasks = tasks
        self._task_id = task_id
        self._store = store
        self._cancelled = cancelled
        self._handing_back = handing_back
        self._hand_back = hand_back
        self._detailed = detailed  # the task's `events_streaming`: steps and tool calls as events, or only its status
        self._steps = -1
        self._status = ""
        self._calls: dict[str, str] = {}  # tool_call_id -> the status last reported
        self._seen: tuple[Any, ...] | None = None  # the execution's state when last reported
        self._tools: set[str] = set()  # tool names already in the record's used_tools
        self.cancel_requested = False

    def update(self, execution: Execution) -> None:
        self._report(execution)
        if not execution.is_finished and self._cancelled():
            self.cancel_requested = True
            raise asyncio.CancelledError(f"task {self._task_id} was cancelled")  # arun ends the execution CANCELLED
        if not execution.is_finished and self._handing_back():
            raise self._hand_back()  # the execution stays as committed; the next worker resumes it

    def close(self, execution: Execution) -> None:
        if self._handing_back():  # given up: the worker that takes the task over reports from what was committed
            return
        self._report(execution)

    def _report(self, execution: Execution) -> None:
        """Events and the task record for what changed since the last report. The loop checks in
        several times per step; a check with nothing new costs nothing, and the events of one check
        are written in one transaction (one each made a worker's steps wait on the database)."""
        seen = (execution.status, execution.steps, execution.tool_calls, execution.running_tool_calls,
                tuple(c.id for c in execution.pending_tool_calls), execution.awaiting_approval)
        if seen == self._seen:
            return
        self._seen = seen
        events: list[tuple[str, dict[str, Any]]] = []

        def emit(_task_id: str, kind: str, data: dict[str, Any]) -> None:
            if self._detailed:  # the task's `events_streaming`; its status events are written regardless
                events.append((kind, data))

        self._report_status(execution, emit)
        new_tools = self._report_calls(execution, emit)
        self._report_steps(execution, emit)
        limit = execution.limits.max_steps
        action = _action(execution)
        progress = min(0.99, execution.steps / limit) if limit else None
        changed = False

        def change(record: dict[str, Any]) -> dict[str, Any] | None:
            nonlocal changed
            used = list(record.get("used_tools") or ())
            added = [name for name in new_tools if name not in used]
            changed = bool(added) or record.get("current_action") != action or record.get("progress") != progress
            if not changed:
                return None
            record.update(current_action=action, progress=progress, execution_id=execution.id,
                          usage=_usage(execution), cost_usd=execution.cost_usd, steps=execution.steps,
                          used_tools=[*used, *added])
            return record

        self._tasks.table.update(self._task_id, change, events=events)  # with its events: one write
        if events and not changed:
            self._tasks.table.add_events(self._task_id, events)
        self._tools.update(new_tools)

    def _report_status(self, execution: Execution, emit: Callable[[str, str, dict[str, Any]], None]) -> None:
        if execution.status.value != self._status:
            self._status = execution.status.value
            if not execution.is_finished:  # the end is reported once, with the task's result
                emit(self._task_id, "execution_status", {"status": self._status, "execution_id": execution.id})

    def _report_steps(self, execution: Execution, emit: Callable[[str, str, dict[str, Any]], None]) -> None:
        if execution.steps != self._steps:
            if self._steps >= 0:
                emit(self._task_id, "step", {"step": execution.steps, "usage": _usage(execution),
                                             "cost_usd": execution.cost_usd})
                emit(self._task_id, "usage", {**_usage(execution), "cost_usd": execution.cost_usd})
            self._steps = execution.steps

    def _report_calls(self, execution: Execution, emit: Callable[[str, str, dict[str, Any]], None]) -> list[str]:
        """Emit the tool calls and results not reported yet; the names of tools not yet in `used_tools`."""
        new_tools: list[str] = []
        if execution.tool_calls == 0 and not execution.pending_tool_calls:
            return new_tools
        for call in self._store.get_tool_calls(execution.id):
            seen = self._calls.get(call.tool_call_id)
            if seen is None:
                emit(self._task_id, "tool_call", {"id": call.tool_call_id, "name": call.name,
                                                                "arguments": _arguments(call.arguments)})
                if call.name not in self._tools and call.name not in new_tools:
                    new_tools.append(call.name)
            if call.status == "finished" and seen != "finished":
                emit(self._task_id, "tool_result", {
                    "id": call.tool_call_id, "name": call.name, "result": call.result, "is_error": call.is_error,
                    "duration": call.duration})
            self._calls[call.tool_call_id] = call.status
        return new_tools


def _usage(execution: Execution) -> dict[str, int]:
    usage = execution.usage
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _action(execution: Execution) -> str:
    if execution.is_finished:
        return f"finished ({execution.status.value})"
    if execution.awaiting_approval:
        return "waiting for approval"
    if execution.pending_tool_calls:
        names = sorted({c.name for c in execution.pending_tool_calls})
        return f"calling {', '.join(names)}"
    return f"asking the model (step {execution.steps + 1})"
