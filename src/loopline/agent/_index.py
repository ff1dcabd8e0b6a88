"""The ids of every tool call in a growing thread, kept up to date at the cost of the new messages only."""

from __future__ import annotations

from collections.abc import Sequence

from ..messages import Message

__all__ = ["CallIds"]


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
