"""Responses and streams made up in each API's real shape: what test doubles answer with.

`make_response` writes a whole response body from intent (text pieces and tool calls, in order), with
ids, stop reason and usage as the API sends them. `synthesize_stream` turns a whole response into the
stream events the provider would have sent for it, so `agent.stream()` over a test double sees deltas
shaped like the real API's: Chat Completions chunks, Anthropic Messages events, Responses API events.
Each translation is exact in one sense that matters and is tested on every recorded response: the
adapter's stream reassembly gives back the response the events were made from, so the agent's thread is
the same whether it ran or streamed. Text and arguments are cut into small pieces so tests see more than
one delta. Nothing here parses or validates a response beyond what the translation needs; the adapter
does that when the events are read. Like every vendor format, they live in this package: each wire API
writes its own (its package's `made.py`); this module holds what they share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PIECE", "Content", "calls", "pieces"]

Content = Sequence[str | tuple[str, Mapping[str, Any]]]
"""What a made-up response says, in order: text pieces, and tool calls as (name, arguments)."""

PIECE = 12
"""Characters per streamed piece of text or arguments."""


def calls(content: Content) -> list[tuple[str, Mapping[str, Any]]]:
    """The tool calls `content` makes, in order."""
    return [p for p in content if not isinstance(p, str)]


def pieces(text: str) -> list[str]:
    """`text` cut into the pieces a made-up stream sends it in."""
    return [text[i:i + PIECE] for i in range(0, len(text), PIECE)]
