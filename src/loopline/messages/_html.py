"""HTML for notebooks: a conversation rendered step by step, and the small pieces higher layers reuse.

Jupyter (JupyterLab, VS Code, GitHub's renderer) shows an object's `_repr_html_`. What is made here must
read well in light and dark themes and survive sanitisers, so it uses inline styles only, neutral
colours (grey at partial opacity, `inherit`/`currentColor` for text) and `<details>` for anything long,
which folds without JavaScript. Every piece of stored text goes through `esc`, so a tool output holding
`<script>` shows as text. Output stays bounded however large the conversation: texts are cut with a note
of how much was left out, a message shows at most `MAX_PARTS` parts, and a thread shows its first and
last `HEAD_STEPS`/`TAIL_STEPS` messages (fewer when they are large) with a line counting the rest.

Rendering must never raise: a repr that raises hides the object it should show. `guarded` turns any
failure into a short note, and each message and part is guarded on its own, so one odd value costs one
line, not the whole display. This module reads messages; it never changes one.
"""

from __future__ import annotations

import contextlib
import datetime
import html
import json
import re
from collections.abc import Callable, Mapping, Sequence

from typing_extensions import assert_never

from ._message import Message, Usage
from ._parts import FilePart, OpaquePart, Part, ReasoningPart, RefusalPart, TextPart, ToolCallPart, ToolResultPart

__all__ = [
    "HEAD_STEPS",
    "HTML_BUDGET",
    "MAX_PARTS",
    "PAYLOAD_LIMIT",
    "PREVIEW_WIDTH",
    "TAIL_STEPS",
    "TEXT_LIMIT",
    "badge",
    "card",
    "code",
    "count",
    "cut_note",
    "duration_text",
    "esc",
    "fields_html",
    "folded",
    "guarded",
    "json_text",
    "message_html",
    "messages_html",
    "muted",
    "part_html",
    "pre_html",
    "preview",
    "text_html",
    "timestamp",
    "usage_text",
]

HEAD_STEPS = 20
"""Messages shown from the start of a long conversation."""
TAIL_STEPS = 20
"""Messages shown from its end; those between are counted on one line."""
TEXT_LIMIT = 2_000
"""Characters of a text (message text, reasoning, refusal, an execution's input) shown before the cut."""
PAYLOAD_LIMIT = 2_000
"""Characters of tool arguments, tool results and provider data shown before the cut."""
PREVIEW_WIDTH = 80
"""Characters of the one-line preview in a folded summary."""
MAX_PARTS = 20
"""Parts shown per message; the rest are counted."""
HTML_BUDGET = 300_000
"""Characters of HTML the messages of one conversation may take (half for the head, half for the tail);
once spent, the remaining messages are counted instead of shown."""
_PRETTY_MAX = 100_000
"""Longer JSON payloads are shown as written instead of parsed and indented."""

_MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"
_BOX = ("border:1px solid rgba(127,127,127,.35);border-radius:6px;padding:6px 10px;margin:6px 0;"
        "max-width:100%;box-sizing:border-box;color:inherit")
_MUTED = "opacity:.7;font-size:.9em"
_PRE = (f"white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0;padding:6px 8px;{_MONO};font-size:.9em;"
        "background:rgba(127,127,127,.1);border-radius:4px;max-height:24em;overflow:auto;color:inherit;"
        "text-align:left")
_TEXT = "white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0"
_CODE = f"{_MONO};font-size:.9em;background:rgba(127,127,127,.12);padding:0 3px;border-radius:3px"
_SUMMARY = "cursor:pointer;margin:2px 0"
_CELL = "text-align:left;vertical-align:top;padding:1px 14px 1px 0;border:none;background:transparent"
_TONES = {
    "ok": "45,164,78",
    "bad": "208,69,58",
    "warn": "197,138,0",
    "info": "66,133,244",
    "neutral": "127,127,127",
}
"""Mid-tone colours (as RGB) used only at partial opacity, for borders and tints: readable on light and
dark backgrounds alike, while the text itself keeps the theme's colour."""
_ROLE_TONES = {"user": "info", "assistant": "ok", "tool": "neutral", "system": "warn"}
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


# --- text -------------------------------------------------------------------------------------------


def esc(value: object) -> str:
    """`value` as text safe inside HTML elements and attributes; control characters and lone surrogates
    (which no notebook can save) are shown as `\\x..`/`\\u....` escapes."""
    text = value if isinstance(value, str) else str(value)
    return html.escape(_UNPRINTABLE.sub(_escape_code, text), quote=True)


def _escape_code(match: re.Match[str]) -> str:
    point = ord(match.group())
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def count(n: int, singular: str, plural: str | None = None) -> str:
    """`1 step`, `12,000 steps`."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def cut_note(cut: int) -> str:
    """The line that says how much of a text was left out."""
    return f'<div style="{_MUTED}">… {count(cut, "more character")} not shown</div>' if cut > 0 else ""


def muted(inner_html: str) -> str:
    """Secondary information, dimmed (keeps the theme's text colour)."""
    return f'<span style="{_MUTED}">{inner_html}</span>'


def preview(text: str, width: int = PREVIEW_WIDTH) -> str:
    """`text` on one line (whitespace folded), cut to `width` characters ending in `…`, escaped."""
    flat = " ".join(text.split())
    return esc(flat if len(flat) <= width else flat[: width - 1] + "…")


def text_html(text: str, limit: int = TEXT_LIMIT) -> str:
    """Prose with its line breaks kept, cut at `limit` characters with a note of the rest."""
    return f'<div style="{_TEXT}">{esc(text[:limit])}</div>{cut_note(len(text) - limit)}'


def pre_html(text: str, limit: int = PAYLOAD_LIMIT) -> str:
    """A monospaced, scrollable block (for payloads), cut at `limit` characters with a note of the rest."""
    return f'<pre style="{_PRE}">{esc(text[:limit])}</pre>{cut_note(len(text) - limit)}'


def json_text(text: str) -> str:
    """A JSON object or array indented for reading; anything else (free text, a huge payload) as it is."""
    if len(text) > _PRETTY_MAX or not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return text


def timestamp(when: float) -> str:
    """Unix time as `2025-01-31 09:00:00 UTC`; a value no calendar holds is shown as the number."""
    try:
        moment = datetime.datetime.fromtimestamp(when, tz=datetime.timezone.utc)
    except (ValueError, OverflowError, OSError, TypeError):
        return str(when)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration_text(seconds: float) -> str:
    """`850 ms`, `3.2 s`, `4 min 05 s`, `2 h 03 min`."""
    if not seconds >= 0:  # negative or NaN: clocks of two machines, or no value
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def usage_text(usage: Usage) -> str:
    """`1,234 input (1,000 cached) · 56 output (20 reasoning) · 3 requests`, plain text."""
    inner = [f"{usage.cached_tokens:,} cached"] if usage.cached_tokens else []
    if usage.cache_write_tokens:
        inner.append(f"{usage.cache_write_tokens:,} cache write")
    text = f"{usage.input_tokens:,} input" + (f" ({', '.join(inner)})" if inner else "")
    text += f" · {usage.output_tokens:,} output"
    if usage.reasoning_tokens:
        text += f" ({usage.reasoning_tokens:,} reasoning)"
    return text + (f" · {count(usage.requests, 'request')}" if usage.requests else "")


# --- building blocks --------------------------------------------------------------------------------


def guarded(render: Callable[[], str], what: str) -> str:
    """`render()`, or a one-line note naming `what` and the error type when it raises: a repr must
    never raise, and a note is more useful than a traceback in place of the object."""
    try:
        return render()
    except Exception as exc:
        return (f'<div style="{_MUTED};border-left:3px solid rgba({_TONES["bad"]},.6);padding-left:6px">'
                f"{esc(what)} could not be shown ({esc(type(exc).__name__)})</div>")


def badge(text: str, tone: str = "neutral") -> str:
    """A small label tinted by `tone` (`ok`, `bad`, `warn`, `info`, `neutral`)."""
    rgb = _TONES.get(tone, _TONES["neutral"])
    return (f'<span style="display:inline-block;padding:0 6px;border-radius:9px;font-size:.85em;'
            f'border:1px solid rgba({rgb},.7);background:rgba({rgb},.15);color:inherit">{esc(text)}</span>')


def code(text: str) -> str:
    """Inline monospaced text (ids, names), escaped."""
    return f'<code style="{_CODE}">{esc(text)}</code>'


def card(title_html: str, body_html: str) -> str:
    """A bordered box with a bold title line."""
    return f'<div style="{_BOX}"><div style="font-weight:600;margin-bottom:4px">{title_html}</div>{body_html}</div>'


def fields_html(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of names and values; values are HTML already (escape them first)."""
    body = "".join(f'<tr style="background:transparent;border:none"><td style="{_CELL};{_MUTED}">{esc(name)}</td>'
                   f'<td style="{_CELL}">{value}</td></tr>' for name, value in rows)
    return f'<table style="border-collapse:collapse;margin:2px 0;border:none"><tbody>{body}</tbody></table>'


def folded(summary_html: str, body_html: str) -> str:
    """A `<details>` block, closed until clicked."""
    return (f'<details style="margin:3px 0"><summary style="{_SUMMARY}">{summary_html}</summary>'
            f'<div style="padding-left:14px">{body_html}</div></details>')


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
            return (f'<div style="border-left:3px solid rgba({_TONES["bad"]},.7);padding-left:6px">'
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
    return folded(summary, muted("for call " + code(part.tool_call_id)) + payload)


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
        body += f'<div style="{_MUTED}">… {count(len(parts) - MAX_PARTS, "more part")} not shown</div>'
    rgb = _TONES[_ROLE_TONES.get(message.role, "neutral")]
    return (f'<div style="border-left:3px solid rgba({rgb},.6);padding:2px 0 2px 8px;margin:6px 0">'
            f'<div style="{_MUTED}" title="{esc(timestamp(message.created_at))}">{_header(message, position)}</div>'
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
        return f'<div style="{_MUTED}">no messages</div>'

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
        gap = (f'<div style="{_MUTED};text-align:center;margin:8px 0;border-top:1px dashed rgba(127,127,127,.5);'
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
