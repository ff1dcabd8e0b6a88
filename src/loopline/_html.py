"""HTML for notebooks: the small pieces every layer's `_repr_html_` is built from.

Jupyter (JupyterLab, VS Code, GitHub's renderer) shows an object's `_repr_html_`. What is made here must
read well in light and dark themes and survive sanitisers, so it uses inline styles only, neutral
colours (grey at partial opacity, `inherit`/`currentColor` for text) and `<details>` for anything long,
which folds without JavaScript. Every piece of stored text goes through `esc`, so a tool output holding
`<script>` shows as text, and texts are cut at a limit with a note of how much was left out.

Rendering must never raise: a repr that raises hides the object it should show. `guarded` turns any
failure into a short note. This module sits below every layer (messages, executions, threads and stored
records all use it), so it knows none of their types and imports nothing of loopline.
"""

from __future__ import annotations

import datetime
import html
import json
import re
from collections.abc import Callable, Sequence

__all__ = [
    "MUTED",
    "PAYLOAD_LIMIT",
    "PREVIEW_WIDTH",
    "TEXT_LIMIT",
    "TONES",
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
    "muted",
    "pre_html",
    "preview",
    "text_html",
    "timestamp",
]

TEXT_LIMIT = 2_000
"""Characters of a text (message text, reasoning, refusal, an execution's input) shown before the cut."""
PAYLOAD_LIMIT = 2_000
"""Characters of tool arguments, tool results and provider data shown before the cut."""
PREVIEW_WIDTH = 80
"""Characters of the one-line preview in a folded summary."""
_PRETTY_MAX = 100_000
"""Longer JSON payloads are shown as written instead of parsed and indented."""

MUTED = "opacity:.7;font-size:.9em"
"""The style of secondary information: dimmed, in the theme's text colour."""

_MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"
_BOX = ("border:1px solid rgba(127,127,127,.35);border-radius:6px;padding:6px 10px;margin:6px 0;"
        "max-width:100%;box-sizing:border-box;color:inherit")
_PRE = (f"white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0;padding:6px 8px;{_MONO};font-size:.9em;"
        "background:rgba(127,127,127,.1);border-radius:4px;max-height:24em;overflow:auto;color:inherit;"
        "text-align:left")
_TEXT = "white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0"
_CODE = f"{_MONO};font-size:.9em;background:rgba(127,127,127,.12);padding:0 3px;border-radius:3px"
_SUMMARY = "cursor:pointer;margin:2px 0"
_CELL = "text-align:left;vertical-align:top;padding:1px 14px 1px 0;border:none;background:transparent"
TONES = {
    "ok": "45,164,78",
    "bad": "208,69,58",
    "warn": "197,138,0",
    "info": "66,133,244",
    "neutral": "127,127,127",
}
"""Mid-tone colours (as RGB) used only at partial opacity, for borders and tints: readable on light and
dark backgrounds alike, while the text itself keeps the theme's colour."""
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
    return f'<div style="{MUTED}">… {count(cut, "more character")} not shown</div>' if cut > 0 else ""


def muted(inner_html: str) -> str:
    """Secondary information, dimmed (keeps the theme's text colour)."""
    return f'<span style="{MUTED}">{inner_html}</span>'


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


# --- building blocks --------------------------------------------------------------------------------


def guarded(render: Callable[[], str], what: str) -> str:
    """`render()`, or a one-line note naming `what` and the error type when it raises: a repr must
    never raise, and a note is more useful than a traceback in place of the object."""
    try:
        return render()
    except Exception as exc:
        return (f'<div style="{MUTED};border-left:3px solid rgba({TONES["bad"]},.6);padding-left:6px">'
                f"{esc(what)} could not be shown ({esc(type(exc).__name__)})</div>")


def badge(text: str, tone: str = "neutral") -> str:
    """A small label tinted by `tone` (`ok`, `bad`, `warn`, `info`, `neutral`)."""
    rgb = TONES.get(tone, TONES["neutral"])
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
    body = "".join(f'<tr style="background:transparent;border:none"><td style="{_CELL};{MUTED}">{esc(name)}</td>'
                   f'<td style="{_CELL}">{value}</td></tr>' for name, value in rows)
    return f'<table style="border-collapse:collapse;margin:2px 0;border:none"><tbody>{body}</tbody></table>'


def folded(summary_html: str, body_html: str) -> str:
    """A `<details>` block, closed until clicked."""
    return (f'<details style="margin:3px 0"><summary style="{_SUMMARY}">{summary_html}</summary>'
            f'<div style="padding-left:14px">{body_html}</div></details>')
