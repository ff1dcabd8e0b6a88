"""Conversations as HTML for notebooks: messages step by step, each part shown the way a person reads it.

Executions (their trajectory, their calls still open) and thread views show messages through here. The
output stays bounded however large the conversation: texts are cut with a note of how much was left out
(by the pieces in `loopline._html`), a message shows at most `MAX_PARTS` parts, and a conversation shows
its first and last `HEAD_STEPS`/`TAIL_STEPS` messages (fewer when they are large) with a line counting
the rest. Each message and part is guarded on its own, so one odd value costs one line, not the whole
display. This module reads messages; it never changes one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence

from typing_extensions import assert_never

from .._html import (
    MUTED,
    TONES,
    badge,
    code,
    count,
    esc,
    folded,
    guarded,
    json_text,
    muted,
    pre_html,
    preview,
    text_html,
    timestamp,
)
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

__all__ = ["HEAD_STEPS", "HTML_BUDGET", "MAX_PARTS", "TAIL_STEPS", "message_html", "messages_html", "part_html"]

HEAD_STEPS = 20
"""Messages shown from the start of a long conversation."""
TAIL_STEPS = 20
"""Messages shown from its end; those between are counted on one line."""
MAX_PARTS = 20
"""Parts shown per message; the rest are counted."""
HTML_BUDGET = 300_000
"""Characters of HTML the messages of one conversation may take (half for the head, half for the tail);
once spent, the remaining messages are counted instead of shown."""
_ROLE_TONES = {"user": "info", "assistant": "ok", "tool": "neutral", "system": "warn"}


# --- parts ------------------------------------------------------------------------------------------


def part_html(part: Part, call_names: Mapping[str, str] | None = None) -> str:
    """One part: text as prose, calls, results, reasoning and provider blocks folded, files described.

    `call_names` maps call ids to tool names, for results that do not carry the name (Anthropic's).
    """
    match part:
        case TextPart():
            return text_html(part.text)
        case ToolCallPart():
            return _call_html(part)
        case ToolResultPart():
            return _result_html(part, part.name or (call_names or {}).get(part.tool_call_id, "(unnamed tool)"))
        case ReasoningPart():
            return _reasoning_html(part)
        case FilePart():
            return _file_html(part)
        case RefusalPart():
            return (f'<div style="border-left:3px solid rgba({TONES["bad"]},.7);padding-left:6px">'
                    f"{badge('refused', 'bad')} {text_html(part.text)}</div>")
        case OpaquePart():
            return _opaque_html(part)
        case _:
            assert_never(part)


def _call_html(part: ToolCallPart) -> str:
    args = part.arguments
    summary = f"{badge('call', 'info')} {code(part.name)} {muted(preview(args) if args else '(no arguments)')}"
    kind = "" if part.tool_type == "function" else f" · {esc(part.tool_type)} tool"
    body = f"{muted('call id ' + code(part.id) + kind)}{pre_html(json_text(args)) if args else ''}"
    return folded(summary, body)


def _result_html(part: ToolResultPart, name: str) -> str:
    mark = f" {badge('error', 'bad')}" if part.is_error else ""
    content = part.content
    summary = f"{badge('result', 'neutral')} {code(name)}{mark} {muted(preview(content) if content else '(empty)')}"
    payload = pre_html(json_text(content)) if content else ""
    files = "".join(_file_html(f) for f in part.files or ())
    return folded(summary, muted("for call " + code(part.tool_call_id)) + payload + files)


def _reasoning_html(part: ReasoningPart) -> str:
    state = "redacted" if part.redacted else "opaque"
    label = badge("reasoning", "neutral")
    if not part.text:
        return f"<div>{label} {muted(f'({state}: only the provider that wrote it can read it)')}</div>"
    return folded(f"{label} {muted(preview(part.text))}", text_html(part.text))


def _file_html(part: FilePart) -> str:
    described = [code(part.media_type)]
    if part.filename:
        described.append(esc(part.filename))
    if part.data is not None:
        described.append(f"{_size(len(part.data) * 3 // 4)} inline")
    if part.url:
        described.append(preview(part.url))
    return f"<div>{badge('file', 'neutral')} {' · '.join(described)}</div>"


def _opaque_html(part: OpaquePart) -> str:
    kind = part.data.get("type") if isinstance(part.data, dict) else None
    summary = f"{badge(part.provider, 'neutral')} {esc(kind) if isinstance(kind, str) else 'provider'} block"
    payload = json.dumps(part.data, ensure_ascii=False, indent=2, default=str)
    return folded(f"{summary} {muted('(kept for its provider)')}", pre_html(payload))


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


# --- messages ---------------------------------------------------------------------------------------


def message_html(message: Message, position: int, call_names: Mapping[str, str] | None = None) -> str:
    """One message: a header (position, role, and for model output its model, tokens and stop reason),
    then its parts, at most `MAX_PARTS` of them (see `part_html` for `call_names`)."""
    parts = tuple(message.parts)
    body = "".join(_part_or_note(p, call_names) for p in parts[:MAX_PARTS])
    if len(parts) > MAX_PARTS:
        body += f'<div style="{MUTED}">… {count(len(parts) - MAX_PARTS, "more part")} not shown</div>'
    rgb = TONES[_ROLE_TONES.get(message.role, "neutral")]
    return (f'<div style="border-left:3px solid rgba({rgb},.6);padding:2px 0 2px 8px;margin:6px 0">'
            f'<div style="{MUTED}" title="{esc(timestamp(message.created_at))}">{_header(message, position)}</div>'
            f"{body or muted('(no parts)')}</div>")


def _part_or_note(part: Part, call_names: Mapping[str, str] | None) -> str:
    return guarded(lambda: part_html(part, call_names), "a part")


def _header(message: Message, position: int) -> str:
    bits = [f"#{position:,}", f"<b>{esc(message.role)}</b>"]
    if message.model:
        bits.append(esc(message.model))
    if message.usage is not None:
        bits.append(f"{message.usage.input_tokens:,} in / {message.usage.output_tokens:,} out")
    if message.stop_reason and message.stop_reason not in ("stop", "tool_calls"):
        bits.append(f"stopped: {esc(message.stop_reason)}")
    return " · ".join(bits)


def messages_html(messages: Sequence[Message], *, first_position: int = 0) -> str:
    """A conversation step by step (one step per message, numbered from `first_position`).

    A long one shows its first `HEAD_STEPS` and last `TAIL_STEPS` messages, fewer when they spend the
    `HTML_BUDGET`, and one line counting those between.
    """
    items = list(messages)
    if not items:
        return f'<div style="{MUTED}">no messages</div>'

    names = _call_names(items)

    def one(index: int) -> str:
        return guarded(lambda: message_html(items[index], first_position + index, names),
                       f"message #{first_position + index}")

    head = _take(range(len(items)), HEAD_STEPS, one)
    shown = len(head)
    tail = _take(range(len(items) - 1, shown - 1, -1), TAIL_STEPS, one)
    hidden = len(items) - shown - len(tail)
    gap = ""
    if hidden:
        first, last = first_position + shown, first_position + shown + hidden - 1
        gap = (f'<div style="{MUTED};text-align:center;margin:8px 0;border-top:1px dashed rgba(127,127,127,.5);'
               f'border-bottom:1px dashed rgba(127,127,127,.5);padding:2px 0">… {count(hidden, "more step")} '
               f"(#{first:,} to #{last:,}) not shown …</div>")
    return f"<div>{''.join(head)}{gap}{''.join(reversed(tail))}</div>"


def _call_names(items: Sequence[Message]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in items:
        # An odd item (not a message, parts that are not parts) names nothing; it is reported where shown.
        with contextlib.suppress(Exception):
            names.update((call.id, call.name) for call in message.tool_calls)
    return names


def _take(indexes: range, most: int, render: Callable[[int], str]) -> list[str]:
    """Renderings of `indexes`, in their order, until `most` are done or half the budget is spent."""
    out: list[str] = []
    spent = 0
    for index in indexes:
        if len(out) >= most or spent >= HTML_BUDGET // 2:
            break
        out.append(render(index))
        spent += len(out[-1])
    return out
