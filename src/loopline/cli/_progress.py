"""What `loopline run` prints while an agent runs: live progress for people, or JSON lines for scripts.

Both printers take the same calls: `started` once the task exists, `event` for each `RunEvent` the
stream yields, `finished` with the outcome. The human printer writes text deltas as they come and a
tagged line for everything else (`[call]`, `[result]`, `[status]`), then a summary; the JSON printer
writes one object per event (the shapes are documented in `loopline.cli` and only ever gain keys).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Protocol, TextIO

from typing_extensions import assert_never

from ..agent import Finished, RunEvent, StatusChanged, ToolResult, UsageReport
from ..loop import Execution, ExecutionResult
from ..messages import Usage
from ..providers import Model, ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart
from ._render import clip, part_text

__all__ = ["HumanProgress", "JsonProgress", "Progress", "summary_lines"]

ARGUMENTS_WIDTH = 200
"""Characters of a tool call's arguments shown on its `[call]` line."""
RESULT_WIDTH = 200
"""Characters of a tool result shown on its `[result]` line."""


class Progress(Protocol):
    """A printer of one run."""

    def started(self, execution: Execution, model: Model) -> None:
        """The task was added: the execution and thread exist."""

    def event(self, event: RunEvent) -> None:
        """Something happened while running (`Finished` is not passed here: see `finished`)."""

    def finished(self, result: ExecutionResult, execution: Execution | None) -> None:
        """The run ended (or paused, or was cancelled); `execution` is its record, when there is one."""


@dataclasses.dataclass
class _Call:
    id: str
    name: str
    arguments: list[str] = dataclasses.field(default_factory=list)


class _Calls:
    """Tool calls being streamed, by their index, until their arguments are complete."""

    def __init__(self) -> None:
        self.open: dict[int, _Call] = {}

    def start(self, event: ToolCallStart) -> None:
        self.open[event.index] = _Call(event.id, event.name)

    def add(self, event: ToolCallDelta) -> None:
        self.open.setdefault(event.index, _Call("", "")).arguments.append(event.arguments)

    def end(self, index: int) -> _Call:
        return self.open.pop(index, None) or _Call("", "")

    def drain(self) -> list[_Call]:
        """Calls that never got their end (a cut stream), so that they are shown all the same."""
        calls = [self.open[i] for i in sorted(self.open)]
        self.open.clear()
        return calls


class HumanProgress:
    """Live progress for a terminal: text as it streams, one tagged line per call, result and status."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.calls = _Calls()
        self.block: str | None = None  # "text" or "reasoning" while a delta block is open
        self.line_open = False  # the last thing written did not end its line
        self.wrote = False

    def started(self, execution: Execution, model: Model) -> None:
        pass  # the summary names the execution; nothing is worth a line before the model speaks

    def event(self, event: RunEvent) -> None:
        match event:
            case TextDelta() | ReasoningDelta():
                self._delta("text" if isinstance(event, TextDelta) else "reasoning", event.text)
            case ToolCallStart():
                self.calls.start(event)
            case ToolCallDelta():
                self.calls.add(event)
            case ToolCallEnd():
                self._call(self.calls.end(event.index))
            case ToolResult():
                self._flush_calls()
                r = event.result
                mark = "[error] " if r.is_error else ""
                self._line(f"[result] {r.function_name} -> {mark}{clip(r.content, RESULT_WIDTH)}")
            case StatusChanged():
                self._flush_calls()
                self._line(f"[status] {event.status.value}")
            case UsageReport():
                self._flush_calls()  # the totals are in the summary
            case Finished():
                pass
            case _:
                assert_never(event)

    def finished(self, result: ExecutionResult, execution: Execution | None) -> None:
        self._flush_calls()
        self._end_line()
        if self.wrote:
            self.out.write("\n")
        self.out.write("".join(line + "\n" for line in summary_lines(result, execution)))
        self.out.flush()

    def _delta(self, kind: str, text: str) -> None:
        if not text:
            return
        if self.block != kind:
            self._end_line()
            self.block = kind
            if kind == "reasoning":
                text = "[reasoning] " + text
        self._write(text)
        self.line_open = not text.endswith("\n")

    def _call(self, call: _Call) -> None:
        self._line(f"[call] {call.name}({clip(''.join(call.arguments), ARGUMENTS_WIDTH)})")

    def _flush_calls(self) -> None:
        for call in self.calls.drain():
            self._call(call)

    def _line(self, text: str) -> None:
        self._end_line()
        self._write(text + "\n")

    def _end_line(self) -> None:
        if self.line_open:
            self._write("\n")
        self.line_open, self.block = False, None

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self.wrote = True


def summary_lines(result: ExecutionResult, execution: Execution | None) -> list[str]:
    """The end of a run: status, result (text as it is, anything else as JSON), error, what it took,
    and the ids to look it up with `loopline executions show`."""
    usage = result.usage
    pairs = [("status", result.status.value), ("result", _result_text(result.result))]
    if result.error is not None:
        pairs.append(("error", f"{result.error_code}: {result.error}" if result.error_code else result.error))
    if execution is not None and (execution.awaiting_approval or execution.awaiting_decision):
        held = {"approval": execution.awaiting_approval, "decision": execution.awaiting_decision}
        calls = {c.id: c for c in execution.pending_tool_calls}
        pairs += [("awaiting", f"{why}: {part_text(calls[i]) if i in calls else i}")
                  for why, ids in held.items() for i in ids]
    pairs += [("steps", str(result.steps)),
              ("tokens", f"{usage.total_tokens} ({usage.input_tokens} in, {usage.output_tokens} out)"),
              ("cost", f"${result.cost_usd:.6f}"), ("execution", result.execution_id), ("thread", result.thread_id)]
    width = max(len(name) for name, _ in pairs)
    lines = []
    for name, value in pairs:
        first, *rest = value.split("\n")
        lines.append(f"{name:<{width}}  {first}".rstrip())
        lines += [f"{'':<{width}}  {more}".rstrip() for more in rest]
    return lines


def _result_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value.rstrip("\n") or '""'
    return json.dumps(value, ensure_ascii=False, default=str)


class JsonProgress:
    """One JSON object per line for each event, flushed as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.calls = _Calls()

    def started(self, execution: Execution, model: Model) -> None:
        self._emit({"type": "started", "execution_id": execution.id, "thread_id": execution.thread_id,
                    "agent": execution.agent_name, "model": model.name, "provider": model.provider.value})

    def event(self, event: RunEvent) -> None:
        data = self._data(event)
        if data is not None:
            self._emit(data)

    def finished(self, result: ExecutionResult, execution: Execution | None) -> None:
        self._emit(finished_json(result))

    def _data(self, event: RunEvent) -> dict[str, Any] | None:
        match event:
            case TextDelta():
                return {"type": "text", "text": event.text}
            case ReasoningDelta():
                return {"type": "reasoning", "text": event.text}
            case ToolCallStart():
                self.calls.start(event)
                return {"type": "tool_call_start", "index": event.index, "id": event.id, "name": event.name}
            case ToolCallDelta():
                self.calls.add(event)
                return {"type": "tool_call_delta", "index": event.index, "arguments": event.arguments}
            case ToolCallEnd():
                call = self.calls.end(event.index)
                return {"type": "tool_call_end", "index": event.index, "id": call.id, "name": call.name,
                        "arguments": "".join(call.arguments)}
            case ToolResult():
                r = event.result
                return {"type": "tool_result", "tool_call_id": r.tool_call_id, "name": r.function_name,
                        "content": r.content, "is_error": r.is_error, "duration": r.duration}
            case StatusChanged():
                return {"type": "status", "status": event.status.value}
            case UsageReport():
                return {"type": "usage", "usage": usage_json(event.usage), "total": usage_json(event.total),
                        "cost_usd": event.cost_usd}
            case Finished():
                return None
            case _:
                assert_never(event)

    def _emit(self, data: dict[str, Any]) -> None:
        self.out.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        self.out.flush()


def finished_json(result: ExecutionResult) -> dict[str, Any]:
    """The last line of `loopline run --json`."""
    return {"type": "finished", "status": result.status.value, "result": result.result, "error": result.error,
            "error_code": result.error_code, "execution_id": result.execution_id, "thread_id": result.thread_id,
            "steps": result.steps, "usage": usage_json(result.usage), "cost_usd": result.cost_usd}


def usage_json(usage: Usage) -> dict[str, Any]:
    """A `Usage` as JSON: its fields and `total_tokens`."""
    return {**dataclasses.asdict(usage), "total_tokens": usage.total_tokens}
