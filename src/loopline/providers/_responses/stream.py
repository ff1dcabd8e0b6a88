"""Reassembling a Responses API stream (its events) into the response body it adds up to.

The terminal event (`response.completed`, `response.incomplete` or `response.failed`) carries the whole
response, and the result is made of it. The output items are rebuilt from the item events as well
(`output_item.added`/`done`, argument, input, text, refusal and reasoning deltas, keyed by
`output_index`, or by `item_id` where an event has no index): that fills a terminal response whose
`output` is empty, as some gateways send it, and it says precisely what was missing when a stream was
cut off before its terminal event. A cut-off stream is refused, never passed on as complete; an `error`
event raises the provider's error. Events the result does not need (`keepalive`, progress of
server-side tools) are skipped, `obfuscation` padding is ignored, and events that carry a
`sequence_number` are put in its order with repeats dropped (a resumed stream may repeat some).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ...errors import ResponseParseError
from .._common import error_response

__all__ = ["reassemble_responses"]

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_HEAD = frozenset({"response.created", "response.in_progress", "response.queued"})

# Streamed strings: event type prefix -> (list the piece sits in or None for the item itself, the index
# field of the event, the type of a part no `*.added` event announced, the string's field).
_PIECES: dict[str, tuple[str | None, str | None, str | None, str]] = {
    "response.output_text": ("content", "content_index", "output_text", "text"),
    "response.refusal": ("content", "content_index", "refusal", "refusal"),
    "response.reasoning_text": ("content", "content_index", "reasoning_text", "text"),
    "response.reasoning_summary_text": ("summary", "summary_index", "summary_text", "text"),
    "response.function_call_arguments": (None, None, None, "arguments"),
    "response.custom_tool_call_input": (None, None, None, "input"),
    "response.mcp_call_arguments": (None, None, None, "arguments"),
}
# Parts announced whole: event type -> (the list they sit in, the index field of the event).
_PARTS: dict[str, tuple[str, str]] = {
    "response.content_part.added": ("content", "content_index"),
    "response.content_part.done": ("content", "content_index"),
    "response.reasoning_summary_part.added": ("summary", "summary_index"),
    "response.reasoning_summary_part.done": ("summary", "summary_index"),
}

_Slot = tuple[int, str | None, int, str, str | None]
"""Where a streamed string goes: output index, list field (None: the item), index in it, field, part type."""


def reassemble_responses(events: list[dict[str, Any]], *, provider: str) -> dict[str, Any]:
    """The response body that `events` (a whole stream, in order) add up to."""
    stream = _Stream(provider)
    for n, event in enumerate(_in_order(events)):
        stream.add(n, event)
    return stream.result()


def _in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    numbers = [e.get("sequence_number") for e in events]
    if not events or not all(isinstance(x, int) and not isinstance(x, bool) for x in numbers):
        return events
    first: dict[int, dict[str, Any]] = {}
    for event in events:
        first.setdefault(event["sequence_number"], event)
    return [first[k] for k in sorted(first)]


@dataclass
class _Stream:
    """What the events so far say: the response objects, and each output item as far as it streamed."""

    provider: str
    items: dict[int, dict[str, Any]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    by_id: dict[str, int] = field(default_factory=dict)
    pieces: dict[_Slot, list[str]] = field(default_factory=dict)
    head: dict[str, Any] | None = None
    terminal: dict[str, Any] | None = None
    count: int = 0

    def add(self, n: int, event: dict[str, Any]) -> None:
        kind = event.get("type") or event.get("_event")
        if not isinstance(kind, str):
            raise ResponseParseError(f"stream event {n} has no type", provider=self.provider, field=f"events[{n}]")
        self.count += 1
        if kind == "error":
            nested = event.get("error")  # {"type": "error", "code", "message", ...}, or the error nested
            body = nested if isinstance(nested, dict) else {k: v for k, v in event.items()
                                                            if k not in ("type", "sequence_number")}
            raise error_response({"error": body}, self.provider)
        if kind in _HEAD or kind in _TERMINAL:
            self._response(n, kind, event)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(n, kind, event)
        elif kind in _PARTS:
            self._part(n, kind, event)
        else:
            prefix, _, suffix = kind.rpartition(".")
            if prefix in _PIECES and suffix in ("delta", "done"):
                self._piece(n, prefix, suffix, event)
            elif kind == "response.output_text.annotation.added":
                self._annotation(n, event)

    def _response(self, n: int, kind: str, event: dict[str, Any]) -> None:
        response = event.get("response")
        if not isinstance(response, dict):
            raise ResponseParseError(f"stream event {n} ({kind}) carries no response object",
                                     provider=self.provider, field=f"events[{n}].response")
        known = (self.head or self.terminal or {}).get("id")
        if known and response.get("id") and response["id"] != known:
            raise ResponseParseError(f"stream event {n} belongs to response {response['id']!r}, not {known!r}: "
                                     "the events of two streams are mixed", provider=self.provider,
                                     field=f"events[{n}].response.id")
        if kind in _TERMINAL:
            self.terminal = response
        else:
            self.head = response

    def _item(self, n: int, kind: str, event: dict[str, Any]) -> None:
        index, item = event.get("output_index"), event.get("item")
        if not isinstance(index, int) or not isinstance(item, dict):
            raise ResponseParseError(f"stream event {n} ({kind}) needs an output_index and an item",
                                     provider=self.provider, field=f"events[{n}]")
        self.items[index] = copy.deepcopy(item)
        if isinstance(item.get("id"), str):
            self.by_id[item["id"]] = index
        if kind.endswith(".done"):
            self.done.add(index)
            self.pieces = {slot: v for slot, v in self.pieces.items() if slot[0] != index}

    def _index_of(self, n: int, event: dict[str, Any]) -> int:
        index = event.get("output_index")
        if not isinstance(index, int):
            index = self.by_id.get(str(event.get("item_id")))
        if index is None or index not in self.items:
            raise ResponseParseError(f"stream event {n} ({event.get('type')}) is for an output item that no "
                                     "response.output_item.added announced (the stream lost its beginning?)",
                                     provider=self.provider, field=f"events[{n}]")
        return index

    def _part(self, n: int, kind: str, event: dict[str, Any]) -> None:
        index = self._index_of(n, event)
        where, key = _PARTS[kind]
        position, part = event.get(key), event.get("part")
        if not isinstance(position, int) or position < 0 or not isinstance(part, dict):
            raise ResponseParseError(f"stream event {n} ({kind}) needs {key} and a part", provider=self.provider,
                                     field=f"events[{n}]")
        if index in self.done:
            return
        _place(self.items[index], where, position, None)[position] = copy.deepcopy(part)
        if kind.endswith(".done"):
            self.pieces = {s: v for s, v in self.pieces.items() if s[:3] != (index, where, position)}

    def _piece(self, n: int, prefix: str, suffix: str, event: dict[str, Any]) -> None:
        index = self._index_of(n, event)
        where, key, part_type, name = _PIECES[prefix]
        position = event.get(key) if key else 0  # an item-level string has no position
        value = event.get("delta" if suffix == "delta" else name)
        if not isinstance(position, int) or position < 0 or not isinstance(value, str):
            raise ResponseParseError(f"stream event {n} ({prefix}.{suffix}) is malformed", provider=self.provider,
                                     field=f"events[{n}]")
        if index in self.done:
            return
        slot: _Slot = (index, where, position, name, part_type)
        if suffix == "done":
            self.pieces[slot] = [value]
        else:
            self.pieces.setdefault(slot, []).append(value)

    def _annotation(self, n: int, event: dict[str, Any]) -> None:
        index = self._index_of(n, event)
        position, annotation = event.get("content_index"), event.get("annotation")
        if index in self.done or not isinstance(position, int) or position < 0 or annotation is None:
            return
        part = _place(self.items[index], "content", position, "output_text")[position]
        part.setdefault("annotations", []).append(copy.deepcopy(annotation))

    def output(self) -> list[dict[str, Any]]:
        """The output items as far as the events went: finished ones whole, others with what streamed."""
        items = {i: copy.deepcopy(item) for i, item in self.items.items()}
        for (index, where, position, name, part_type), pieces in self.pieces.items():
            target = items[index] if where is None else _place(items[index], where, position, part_type)[position]
            target[name] = "".join(pieces)
        return [items[i] for i in sorted(items)]

    def result(self) -> dict[str, Any]:
        if self.terminal is None:
            raise ResponseParseError(self._cut_off(), provider=self.provider, field="events")
        if not self.terminal.get("output") and self.items:
            return {**self.terminal, "output": self.output()}
        return self.terminal

    def _cut_off(self) -> str:
        if not self.count:
            return "the stream holds no events"
        open_items = [f"{i} ({self.items[i].get('type')})" for i in sorted(self.items) if i not in self.done]
        detail = f"; output items still open: {', '.join(open_items)}" if open_items else ""
        return (f"the stream was cut off: {self.count} events and no response.completed, response.incomplete or "
                f"response.failed event, after {len(self.items)} output items{detail}")


def _place(item: dict[str, Any], where: str, position: int, part_type: str | None) -> list[dict[str, Any]]:
    """The list `item[where]`, long enough to hold `position` (gaps filled with empty parts of `part_type`)."""
    parts = item.get(where)
    if not isinstance(parts, list):
        parts = item[where] = []
    while len(parts) <= position:
        parts.append({"type": part_type} if part_type else {})
    if not isinstance(parts[position], dict):
        parts[position] = {"type": part_type} if part_type else {}
    return parts

