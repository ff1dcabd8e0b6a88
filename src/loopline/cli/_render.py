"""Human output of the command line: aligned tables and one-line renderings of messages.

Made to be read in a terminal, not parsed (scripts use `--json`): long text is clipped, whitespace is
folded onto one line, and times are shown in UTC. Only ASCII is added around the stored text, so the
output survives any console encoding that can show the conversation itself.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from typing import Any

from typing_extensions import assert_never

from ..loop import Execution
from ..messages import (
    FilePart,
    Message,
    OpaquePart,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from ..store import ThreadInfo, ToolCallRecord

__all__ = [
    "clip",
    "execution_detail",
    "execution_table",
    "message_lines",
    "part_text",
    "table",
    "thread_detail",
    "thread_table",
    "timestamp",
]

TEXT_WIDTH = 80
"""Characters of a text part shown before it is clipped."""
DETAIL_WIDTH = 60
"""Characters of tool arguments, tool results and reasoning shown before they are clipped."""
RESULT_WIDTH = 200
"""Characters of an execution's result shown by `executions show`."""


def timestamp(when: float) -> str:
    """Unix time as `2025-01-31T09:00:00Z` (UTC, whole seconds)."""
    return datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clip(text: str, width: int) -> str:
    """`text` on one line (whitespace folded), cut to `width` characters ending in `...`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[str] = (),
          indent: str = "") -> list[str]:
    """Columns two spaces apart, left-aligned except the `right` ones (numbers)."""
    grid = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(headers))]
    flush_right = {headers.index(name) for name in right}
    return [indent + "  ".join(cell.rjust(w) if i in flush_right else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip() for row in grid]


def thread_table(threads: Sequence[ThreadInfo]) -> list[str]:
    """`threads list`: one row per thread."""
    return table(["ID", "CREATED", "UPDATED", "MESSAGES", "PARENT"],
                 ([t.id, timestamp(t.created_at), timestamp(t.updated_at), str(t.length), t.parent_thread_id or "-"]
                  for t in threads), right=["MESSAGES"])


def execution_table(executions: Sequence[Execution]) -> list[str]:
    """`executions list`: one row per execution."""
    return table(["ID", "CREATED", "STATUS", "AGENT", "STEPS", "TOKENS", "THREAD"],
                 ([e.id, timestamp(e.created_at), e.status.value, e.agent_name, str(e.steps),
                   str(e.usage.total_tokens), e.thread_id] for e in executions), right=["STEPS", "TOKENS"])


def thread_detail(info: ThreadInfo, messages: Sequence[Message]) -> list[str]:
    """`threads show`: the thread's fields, then its messages."""
    fields = [("id", info.id), ("created", timestamp(info.created_at)), ("updated", timestamp(info.updated_at)),
              ("length", str(info.length)), ("parent", info.parent_thread_id or "-"),
              ("metadata", json.dumps(info.metadata, ensure_ascii=False) if info.metadata else "-")]
    return [*_fields(fields), "", *message_lines(messages)]


def execution_detail(execution: Execution, records: Sequence[ToolCallRecord],
                     messages: Sequence[Message]) -> list[str]:
    """`executions show`: the execution's fields, its tool call records, then its thread's messages."""
    lines = _fields(_execution_fields(execution))
    if records:
        lines += ["", f"tool call records ({len(records)})", *_record_table(records)]
    return [*lines, "", *message_lines(messages)]


def message_lines(messages: Sequence[Message]) -> list[str]:
    """A heading, then one line per message: position, role, and its parts separated by ` | `."""
    if not messages:
        return ["no messages"]
    width = len(str(len(messages) - 1))
    return [f"messages ({len(messages)})",
            *(f"  {i:>{width}}  {m.role:<9}  {_parts(m.parts)}".rstrip() for i, m in enumerate(messages))]


def part_text(part: Part) -> str:
    """A short rendering of one part: clipped text, `name(args)` for calls, `name -> result` for
    results (with `[error]` when the call failed), a bracketed tag for everything else."""
    match part:
        case TextPart():
            return clip(part.text, TEXT_WIDTH)
        case ToolCallPart():
            return f"{part.name}({clip(part.arguments, DETAIL_WIDTH)})"
        case ToolResultPart():
            mark = "[error] " if part.is_error else ""
            return f"{part.name} -> {mark}{clip(part.content, DETAIL_WIDTH)}"
        case ReasoningPart():
            shown = clip(part.text, DETAIL_WIDTH) if part.text else "(redacted)" if part.redacted else "(opaque)"
            return f"[reasoning] {shown}"
        case FilePart():
            source = part.filename or (clip(part.url, DETAIL_WIDTH) if part.url else "inline")
            return f"[file {part.media_type} {source}]"
        case RefusalPart():
            return f"[refusal] {clip(part.text, TEXT_WIDTH)}"
        case OpaquePart():
            kind = part.data.get("type")
            return f"[{part.provider} {kind}]" if isinstance(kind, str) else f"[{part.provider} block]"
        case _:
            assert_never(part)


def _parts(parts: Sequence[Part]) -> str:
    return " | ".join(part_text(p) for p in parts) if parts else "(no parts)"


def _fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(name) for name, _ in pairs)
    return [f"{name:<{width}}  {value}".rstrip() for name, value in pairs]


def _execution_fields(e: Execution) -> list[tuple[str, str]]:
    usage = e.usage
    pairs = [("id", e.id), ("thread", e.thread_id), ("agent", e.agent_name), ("status", e.status.value),
             ("input", clip(e.input, TEXT_WIDTH)), ("created", timestamp(e.created_at)),
             ("updated", timestamp(e.updated_at)), ("steps", str(e.steps)), ("tool calls", str(e.tool_calls)),
             ("tokens", f"{usage.total_tokens} ({usage.input_tokens} in, {usage.output_tokens} out)"),
             ("result", "-" if e.result is None else clip(_json_text(e.result), RESULT_WIDTH)),
             ("error", f"{e.error.code}: {e.error.message}" if e.error else "-"),
             ("parent", e.parent_execution_id or "-")]
    if e.pending_tool_calls:
        pairs.append(("pending", ", ".join(part_text(c) for c in e.pending_tool_calls)))
    if e.awaiting_decision:
        pairs.append(("awaiting", ", ".join(e.awaiting_decision)))
    history = [f"{timestamp(when)}  {status.value}" for status, when in e.status_history]
    pairs += [("history" if i == 0 else "", line) for i, line in enumerate(history)]
    return pairs


def _record_table(records: Sequence[ToolCallRecord]) -> list[str]:
    return table(["CALL", "TOOL", "STATUS", "STARTED", "SECONDS", "ERROR"],
                 ([r.tool_call_id, r.name, r.status, timestamp(r.started_at),
                   "-" if r.duration is None else f"{r.duration:.2f}", "yes" if r.is_error else ""]
                  for r in records), right=["SECONDS"], indent="  ")


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
