"""Stream deltas: what a response says while it streams, in one vocabulary for every wire API.

Each wire API has a translator (its package's `events.py`) that turns its raw stream events, one at a
time, into these deltas. They are for showing progress; the finished response is still parsed from the
whole stream by the adapter's reassembly, so a delta never decides anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["Delta", "ReasoningDelta", "TextDelta", "ToolCallDelta", "ToolCallEnd", "ToolCallStart", "Translator"]


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More text of the reply."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """More readable reasoning (thinking, a reasoning summary)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model began a tool call."""

    index: int
    """Position among the response's calls as the stream numbers them (stable within one stream)."""
    id: str
    """The call's id (empty when the provider sends it later)."""
    name: str
    """The tool's name."""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """More of a tool call's arguments, as raw text."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    """A tool call's arguments are complete."""

    index: int


Delta: TypeAlias = TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | ToolCallEnd
Translator: TypeAlias = Callable[[dict[str, Any]], list[Delta]]
