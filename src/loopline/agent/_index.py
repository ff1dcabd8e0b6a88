"""The ids of every tool call in a growing thread, kept up to date at the cost of the new messages only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..messages import Message, Part, ToolCallPart
from ..tools import ToolCall

__all__ = ["ORIGINAL_ID", "CallIds", "resolve_calls"]

ORIGINAL_ID = "loopline_original_id"
"""Where a call renamed for uniqueness keeps the id the provider gave it."""


class CallIds:
    """The tool call ids of an append-only list of messages; a list that is not an append of the
    one seen before (another thread, a resumed execution) is indexed again from its start."""

    __slots__ = ("_ids", "_last", "_seen")

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._seen = 0
        self._last = ""

    def of(self, messages: Sequence[Message]) -> set[str]:
        """The ids in `messages` (the live set: read it, don't keep it)."""
        if len(messages) < self._seen or (self._seen and messages[self._seen - 1].id != self._last):
            self._ids, self._seen = set(), 0
        for message in messages[self._seen:]:
            self._ids.update(c.id for c in message.tool_calls)
        self._seen, self._last = len(messages), messages[-1].id if messages else ""
        return self._ids

    def unique(self, message: Message, messages: Sequence[Message], also: Sequence[Message] = ()) -> Message:
        """`message` with fresh ids for calls whose ids `messages` (or `also`) already hold: servers that
        send no ids get stable made-up ones, which repeat when a call repeats. The original stays in
        the call's provider details, so `resolve_calls` still takes the calls under it."""
        if not message.tool_calls:
            return message
        taken = self.of(messages)
        if also:
            taken = taken | {c.id for m in also for c in m.tool_calls}
        if not taken.intersection(c.id for c in message.tool_calls):
            return message
        parts: list[Part] = []
        for part in message.parts:
            if isinstance(part, ToolCallPart) and part.id in taken:
                details = {**(part.provider_details or {}), ORIGINAL_ID: part.id}
                parts.append(dataclasses.replace(part, id=f"{part.id}_{len(taken) + len(parts)}",
                                                 provider_details=details))
            else:
                parts.append(part)
        return dataclasses.replace(message, parts=tuple(parts))


def resolve_calls(tool_calls: Sequence[ToolCall], pending: Sequence[ToolCallPart]) -> list[ToolCall]:
    """Calls as `extract_tool_calls` gave them, under the ids the thread holds (see `CallIds.unique`)."""
    if not tool_calls:
        return []
    renamed = {(p.provider_details or {}).get(ORIGINAL_ID): p for p in pending}
    ids = {p.id for p in pending}
    return [c if c.id in ids or c.id not in renamed else dataclasses.replace(c, id=renamed[c.id].id)
            for c in tool_calls]
