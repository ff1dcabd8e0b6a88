"""The settings of context fitting, and what one fit produced."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import overload

from ..messages import Message

__all__ = ["MIN_TOOL_OUTPUT_TOKENS", "ContextPolicy", "Fitted", "WindowView"]

MIN_TOOL_OUTPUT_TOKENS = 64
"""The least `max_tool_output_tokens` may be: a cut output keeps a head, a tail and the marker."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextPolicy:
    """How a conversation is fitted into a model's context window before each request.

    Fitting only changes what one request carries; the stored thread is never touched.

    Raises:
        ValueError: a value out of its range (each message says which and why).
    """

    context_window: int | None = None
    """The model's context window in tokens; `None` takes it from the built-in table (see
    `context_window()`), and a model the table does not know is then not fitted at all."""
    reply_reserve: int = 4096
    """Tokens kept free for the model's reply: a request is fitted to the window minus this."""
    max_tool_output_tokens: int | None = 8000
    """When a fit is needed, a tool output longer than this is first cut to a head and a tail
    joined by a marker that says how many tokens were cut (oldest outputs first, only as many as
    needed). `None` never cuts. Outputs are cut only when the request would overflow: a window
    with room shows every output whole."""
    keep_task: bool = True
    """Never drop the user message that started the current execution (the `pinned` message)."""
    target: float = 0.8
    """When a fit is needed, fit to this share of the budget (window minus reserve), not to all
    of it: the next steps then append to the same fitted window until it overflows again, so an
    incremental renderer keeps working and each step costs only what it adds."""
    enabled: bool = True
    """`False` turns fitting off: requests carry the whole conversation."""

    def __post_init__(self) -> None:
        if self.context_window is not None and (not _is_int(self.context_window) or self.context_window <= 0):
            raise ValueError(f"context_window must be a positive number of tokens or None, got {self.context_window!r}")
        if not _is_int(self.reply_reserve) or self.reply_reserve < 0:
            raise ValueError(f"reply_reserve must be a number of tokens (0 or more), got {self.reply_reserve!r}")
        if self.context_window is not None and self.reply_reserve >= self.context_window:
            raise ValueError(f"reply_reserve ({self.reply_reserve}) must be less than context_window "
                             f"({self.context_window}), or no request could fit")
        limit = self.max_tool_output_tokens
        if limit is not None and (not _is_int(limit) or limit < MIN_TOOL_OUTPUT_TOKENS):
            raise ValueError(f"max_tool_output_tokens must be None or at least {MIN_TOOL_OUTPUT_TOKENS} (room for a "
                             f"head, a tail and the cut marker), got {limit!r}")
        if isinstance(self.target, bool) or not isinstance(self.target, (int, float)) or not 0.1 <= self.target <= 1:
            raise ValueError(f"target must be a share of the budget between 0.1 and 1, got {self.target!r}")
        if not isinstance(self.keep_task, bool) or not isinstance(self.enabled, bool):
            raise ValueError(f"keep_task and enabled must be True or False, got {self.keep_task!r} and "
                             f"{self.enabled!r}")


class WindowView(Sequence[Message]):
    """A read-only view of the first `len` messages of a fitted window.

    The fitter appends new messages to its window in place, so handing out a view costs nothing
    however long the window is, and a view handed out earlier keeps showing what it showed.
    """

    __slots__ = ("_items", "_len")

    def __init__(self, items: list[Message], length: int) -> None:
        self._items = items
        self._len = length

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        if isinstance(index, slice):
            return [self._items[i] for i in range(*index.indices(self._len))]
        position = index + self._len if index < 0 else index
        if not 0 <= position < self._len:
            raise IndexError(f"window index {index} out of range (length {self._len})")
        return self._items[position]

    def __iter__(self) -> Iterator[Message]:
        return islice(self._items, self._len)

    def __repr__(self) -> str:
        return f"WindowView({self._len} messages)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Fitted:
    """What to send in one request, as `ContextFitter.fit` decided."""

    messages: Sequence[Message]
    """The messages to render: the very sequence given to `fit` when nothing had to change, else a
    `WindowView` of the fitted window (new `Message` objects only for shortened tool outputs and a
    note about what was left out; the stored messages themselves are never changed)."""
    dropped: int
    """How many of the given messages the window leaves out."""
    shortened: int
    """How many messages in the window are copies with tool outputs cut short."""
    tokens: int
    """The estimated tokens of the request: messages, plus the fixed tokens (system prompt and
    tools) and the per-request overhead."""
    refitted: bool
    """True when the window is not an append of the one returned by the previous call (a fit was
    made now, or the given list was not an append of the previous one): a caller rendering
    incrementally must start its renderer over."""
