"""Executions and their results for people: HTML for notebooks and one-line plain summaries.

`Execution._repr_html_` and `ExecutionResult._repr_html_` call into here. Neither record holds its
conversation, and a repr must be quick and must never fail, so nothing here reads a store: the
trajectory is shown when the caller passes the messages, and otherwise the card says how to see it
(`loopline.threads.view(thread_id)`). Built from the pieces in `loopline._html` (the conversation itself by
`loopline.loop._messages_html`), with the same rules: inline styles, neutral colours, everything escaped,
long texts cut.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._html import (
    PREVIEW_WIDTH,
    badge,
    card,
    code,
    count,
    duration_text,
    esc,
    fields_html,
    folded,
    muted,
    pre_html,
    text_html,
    timestamp,
)
from ..messages import Message, Usage
from ._messages_html import messages_html, part_html

if TYPE_CHECKING:
    from ._execution import Execution, ExecutionResult, ExecutionStatus

__all__ = [
    "MAX_HISTORY",
    "cost_text",
    "execution_duration",
    "execution_html",
    "execution_summary",
    "executions_html",
    "result_html",
    "result_summary",
    "status_badge",
]

MAX_HISTORY = 50
"""Status changes listed in an execution's history; older ones are counted."""

_TONES = {"COMPLETED": "ok", "FAILED": "bad", "CANCELLED": "neutral", "PAUSED": "warn", "RUNNING": "info",
          "PENDING": "neutral"}


def status_badge(status: ExecutionStatus) -> str:
    """The status as a tinted label: green completed, red failed, amber paused, blue running."""
    value = str(getattr(status, "value", status)).upper()
    return badge(value, _TONES.get(value, "neutral"))


def cost_text(cost_usd: float) -> str:
    """USD with the precision a small amount needs: `$0`, `$0.000412`, `$0.0123`, `$12.34`."""
    if cost_usd == 0:
        return "$0"
    if abs(cost_usd) < 0.01:
        return f"${cost_usd:.6f}"
    return f"${cost_usd:.4f}" if abs(cost_usd) < 1 else f"${cost_usd:,.2f}"


def execution_duration(execution: Execution) -> float | None:
    """Seconds from the first RUNNING status to the last change; `None` if it never ran."""
    started = next((when for status, when in execution.status_history if status == "RUNNING"), None)
    return None if started is None else execution.updated_at - started


def _usage_text(usage: Usage) -> str:
    """`1,234 input (1,000 cached) · 56 output (20 reasoning) · 3 requests`, plain text."""
    inner = [f"{usage.cached_tokens:,} cached"] if usage.cached_tokens else []
    if usage.cache_write_tokens:
        inner.append(f"{usage.cache_write_tokens:,} cache write")
    text = f"{usage.input_tokens:,} input" + (f" ({', '.join(inner)})" if inner else "")
    text += f" · {usage.output_tokens:,} output"
    if usage.reasoning_tokens:
        text += f" ({usage.reasoning_tokens:,} reasoning)"
    return text + (f" · {count(usage.requests, 'request')}" if usage.requests else "")


def _duration_cell(execution: Execution) -> str:
    seconds = execution_duration(execution)
    if seconds is None:
        return "not started"
    return duration_text(seconds) + ("" if execution.is_finished else " so far")


# --- plain text -------------------------------------------------------------------------------------


def result_summary(result: ExecutionResult) -> str:
    """One line: status, steps, tokens, cost, then the result or the error."""
    line = _outcome_line(result.status, result.steps, result.usage.total_tokens, result.cost_usd)
    return line + _tail(result.result, result.error_code, result.error)


def execution_summary(execution: Execution) -> str:
    """One line: id, agent, thread, then what `result_summary` says."""
    error = execution.error
    line = _outcome_line(execution.status, execution.steps, execution.usage.total_tokens, execution.cost_usd)
    return (f"Execution {execution.id} of {execution.agent_name} on {execution.thread_id}: {line}"
            + _tail(execution.result, error.code if error else None, error.message if error else None))


def _outcome_line(status: ExecutionStatus, steps: int, tokens: int, cost_usd: float) -> str:
    return f"{status.value} after {count(steps, 'step')} ({tokens:,} tokens, {cost_text(cost_usd)})"


def _tail(result: Any, error_code: str | None, error: str | None) -> str:
    if error_code or error:
        return f" - {error_code or 'error'}: {_one_line(error or '')}"
    return "" if result is None else f" - result: {_one_line(_value_text(result))}"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_WIDTH else flat[: PREVIEW_WIDTH - 1] + "…"


def _value_text(value: Any) -> str:
    """A result as text: strings as they are, anything else as indented JSON (or its repr)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


# --- HTML -------------------------------------------------------------------------------------------


def result_html(result: ExecutionResult, messages: Sequence[Message] | None = None) -> str:
    """A card: status, steps, usage, cost, ids, then the result or the error; the trajectory when
    `messages` are given, else how to see it."""
    rows = [("status", status_badge(result.status)), *_counts(result.steps, None, result.usage, result.cost_usd),
            ("execution", code(result.execution_id)), ("thread", code(result.thread_id))]
    body = fields_html(rows) + _outcome_html(result.result, result.error_code, result.error)
    return card("Execution result", body + _trajectory(result.thread_id, messages))


def execution_html(execution: Execution, messages: Sequence[Message] | None = None) -> str:
    """A card: status, agent, counts, usage, cost, duration, the task, the result or the error, calls
    still open, the status history; the trajectory when `messages` are given, else how to see it."""
    e = execution
    rows = [("status", status_badge(e.status)), ("agent", esc(e.agent_name)),
            *_counts(e.steps, e.tool_calls, e.usage, e.cost_usd),
            ("duration", _duration_cell(e)),
            ("created", esc(timestamp(e.created_at))), ("thread", code(e.thread_id))]
    if e.parent_execution_id:
        rows.append(("parent", code(e.parent_execution_id)))
    error = e.error
    body = (fields_html(rows) + f"<div>{muted('task')}</div>" + text_html(e.input)
            + _outcome_html(e.result, error.code if error else None, error.message if error else None)
            + _open_calls(e) + _history(e))
    return card(f"Execution {code(e.id)}", body + _trajectory(e.thread_id, messages))


def executions_html(executions: Sequence[Execution], *, more: bool = False) -> str:
    """A table of executions (one line each: id, agent, status, steps, tokens, cost, duration, error)."""
    head = "".join(f'<th style="text-align:left;padding:1px 12px 1px 0">{name}</th>'
                   for name in ("execution", "agent", "status", "steps", "tokens", "cost", "duration", "error"))
    rows = "".join(_execution_row(e) for e in executions)
    note = f"<div>{muted('… older executions not shown')}</div>" if more else ""
    return (f'<table style="border-collapse:collapse;margin:2px 0;border:none"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>{note}")


def _execution_row(e: Execution) -> str:
    cells = [code(e.id), esc(e.agent_name), status_badge(e.status), f"{e.steps:,}", f"{e.usage.total_tokens:,}",
             cost_text(e.cost_usd), _duration_cell(e), code(e.error.code) if e.error else ""]
    return ('<tr style="background:transparent">'
            + "".join(f'<td style="text-align:left;padding:1px 12px 1px 0;border:none">{c}</td>' for c in cells)
            + "</tr>")


def _counts(steps: int, tool_calls: int | None, usage: Usage, cost_usd: float) -> list[tuple[str, str]]:
    done = count(steps, "step") + ("" if tool_calls is None else f", {count(tool_calls, 'tool call')}")
    return [("steps", done), ("tokens", esc(_usage_text(usage))), ("cost", cost_text(cost_usd))]


def _outcome_html(result: Any, error_code: str | None, error: str | None) -> str:
    """The error when there is one, then the result when there is one (a model that reported failure
    leaves both: the error code and its own explanation)."""
    out = ""
    if error_code or error:
        label = badge("error", "bad") + (" " + code(error_code) if error_code else "")
        out += f"<div>{label}</div>{text_html(error or '')}"
    if result is not None:
        shown = text_html(result) if isinstance(result, str) else pre_html(_value_text(result))
        out += f"<div>{muted('result')}</div>{shown}"
    return out


def _open_calls(e: Execution) -> str:
    out = ""
    if e.pending_tool_calls:
        out += f"<div>{muted('calls without a result yet')}</div>" + "".join(map(part_html, e.pending_tool_calls))
    for ids, what in ((e.awaiting_approval, "awaiting approval"), (e.awaiting_decision, "awaiting a decision")):
        if ids:
            out += f"<div>{badge(what, 'warn')} {', '.join(code(i) for i in ids)}</div>"
    return out


def _history(e: Execution) -> str:
    history = e.status_history
    shown = history[-MAX_HISTORY:]
    rows = [(timestamp(when), status_badge(status)) for status, when in shown]
    older = len(history) - len(shown)
    note = f"<div>{muted('… ' + count(older, 'older change'))}</div>" if older else ""
    return folded(muted(f"status history ({len(history)})"), note + fields_html(rows))


def _trajectory(thread_id: str, messages: Sequence[Message] | None) -> str:
    if messages is not None:
        return f"<div>{muted('trajectory')}</div>{messages_html(messages)}"
    return f"<div>{muted('trajectory: ' + code(f'loopline.threads.view({thread_id!r})'))}</div>"
