"""What a rendering had to drop or convert, so that nothing is lost silently.

A thread written on one provider may hold parts another provider cannot take (reasoning only its
author can read, provider-private blocks) or takes in another form (a custom tool call, an id with
characters it rejects). Renderers record each such decision here; `Agent.get_messages(...,
report=True)` returns the report, and otherwise a `LossyRenderingWarning` says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LossyRenderingWarning", "RenderNote", "RenderReport"]


class LossyRenderingWarning(UserWarning):
    """A rendering dropped or converted content; the message says what and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderNote:
    """One thing a rendering dropped or converted."""

    message_id: str
    """The neutral message the part belongs to."""
    part_kind: str
    """The part's kind (`reasoning`, `opaque`, `tool_call`, ...)."""
    action: Literal["dropped", "converted"]
    """Whether the part was left out or sent in another form."""
    reason: str
    """Why, for people."""

    def __str__(self) -> str:
        return f"{self.action} a {self.part_kind} part of message {self.message_id}: {self.reason}"


@dataclass(frozen=True, slots=True)
class RenderReport:
    """Everything a rendering dropped or converted, in message order."""

    provider: str
    """The provider the conversation was rendered for."""
    notes: tuple[RenderNote, ...] = ()
    """One note per dropped or converted part."""

    @property
    def lossless(self) -> bool:
        """True when nothing was dropped or converted."""
        return not self.notes

    @property
    def dropped(self) -> tuple[RenderNote, ...]:
        """The notes of parts left out."""
        return tuple(n for n in self.notes if n.action == "dropped")

    @property
    def converted(self) -> tuple[RenderNote, ...]:
        """The notes of parts sent in another form."""
        return tuple(n for n in self.notes if n.action == "converted")
