"""One fit, from scratch: which turns a request keeps, and which tool outputs it carries cut short.

The unit of removal is a whole turn: a user message, or an assistant message together with the
tool messages that follow it (the results of its calls). A result is therefore never kept without
its call, nor a call without its results. This module never changes a message: shortened outputs
are new `Message` values with ids of their own (`<id>~cut<limit>`, the same every time).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ContextOverflowError
from ..messages import Message, ToolCallPart, ToolResultPart
from ._counter import TokenCounter

__all__ = ["Capper", "Plan", "PlanLimits", "make_plan", "note_message", "units_of"]

NOTE = "[{n} earlier messages of this conversation were left out to fit the model's context window.]"
"""The user note put first when a fitted window would otherwise open with an assistant turn."""


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The numbers a fit works to, all in tokens."""

    limit: int
    """The most a request may hold: the window minus the reply reserve."""
    target: int
    """What a fit aims for (a share of `limit`), leaving room for the next steps."""
    fixed: int
    """What every request holds besides its messages: system prompt, tools, per-request overhead."""
    window: int
    """The context window, for messages."""
    reserve: int
    """The reply reserve, for messages."""
    max_tool_output: int | None
    """Tool outputs longer than this may be cut."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The result of one fit."""

    window: list[Message]
    """The messages to send."""
    tokens: int
    """Their tokens (without the fixed part)."""
    dropped: int
    """Given messages left out."""
    shortened: int
    """Messages in `window` that are copies with cut outputs."""


def _carries_results(message: Message) -> bool:
    return message.role == "tool" or any(isinstance(p, ToolResultPart) for p in message.parts)


def units_of(messages: Sequence[Message]) -> list[int]:
    """The index each unit (turn) starts at.

    Every message that carries no tool results may start a unit, unless a call made before it is
    answered after it: a call and its result always share a unit, whatever lies between them (a
    thread parsed from a wire list can hold one call per message, or a message between a call and
    its result). A message of results whose call is unknown joins the unit before it; results at
    the very start form a unit of their own (which a fit drops).
    """
    call_at: dict[str, int] = {}
    reach = [-1] * len(messages)  # for each message with calls: the last message answering one of them
    for index, message in enumerate(messages):
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                call_at[part.id] = index
            elif isinstance(part, ToolResultPart) and part.tool_call_id in call_at:
                reach[call_at[part.tool_call_id]] = index
    starts: list[int] = []
    furthest = -1  # the furthest answer of any call made so far
    for index, message in enumerate(messages):
        if not starts or (index > furthest and not _carries_results(message)):
            starts.append(index)
        furthest = max(furthest, reach[index])
    return starts


def note_message(dropped: int) -> Message:
    """The user message that says `dropped` earlier messages were left out."""
    return Message.user(NOTE.format(n=f"{dropped:,}"))


class Capper:
    """Shortened copies of tool messages, made once per message and limit (the cut needs the text encoded)."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter
        self._made: dict[tuple[str, int], Message | None] = {}

    def __call__(self, message: Message, limit: int) -> Message | None:
        key = (message.id, limit)
        if key not in self._made:
            if len(self._made) > 50_000:
                self._made.clear()
            self._made[key] = self._cut(message, limit)
        return self._made[key]

    def _cut(self, message: Message, limit: int) -> Message | None:
        parts = list(message.parts)
        changed = False
        for index, part in enumerate(parts):
            if isinstance(part, ToolResultPart):
                short = self._counter.shorten(part.content, limit)
                if short is not None:
                    # Provider details may hold the full output (the Responses API keeps a list output
                    # there), which a renderer would send instead: the cut copy goes without them.
                    parts[index] = dataclasses.replace(part, content=short[0], provider_details=None)
                    changed = True
        if not changed:
            return None
        return dataclasses.replace(message, parts=tuple(parts), id=f"{message.id}~cut{limit}")


class _Work:
    """The mutable state of one fit: message list, counts and the running total."""

    def __init__(self, messages: Sequence[Message], counter: TokenCounter) -> None:
        self.messages = list(messages)
        self.counts = [counter.count_message(m) for m in self.messages]
        self.total = sum(self.counts)
        self.shortened: set[int] = set()

    def cap_oldest_first(self, capper: Capper, counter: TokenCounter, limit: int, goal: int) -> None:
        """Replace tool messages with cut copies, oldest first, until the total is at most `goal`."""
        for index, message in enumerate(self.messages):
            if self.total <= goal:
                return
            if self.counts[index] <= limit or not _carries_results(message):
                continue  # no output in it can be longer than the limit: skip without encoding anything
            short = capper(message, limit)
            if short is not None:
                count = counter.count_message(short)
                self.total += count - self.counts[index]
                self.messages[index], self.counts[index] = short, count
                self.shortened.add(index)


def make_plan(messages: Sequence[Message], *, pinned: int | None, counter: TokenCounter, capper: Capper,
              limits: PlanLimits) -> Plan:
    """Fit `messages` to `limits.target` (at worst `limits.limit`): cut long tool outputs oldest first,
    then drop whole turns oldest first, never the pinned message's turn nor the last one.

    Raises:
        ContextOverflowError: even the pinned turn and the last turn, cut, exceed `limits.limit`.
    """
    work = _Work(messages, counter)
    goal = limits.target - limits.fixed
    if limits.max_tool_output is not None:
        work.cap_oldest_first(capper, counter, limits.max_tool_output, goal)
    starts = units_of(work.messages)
    ends = [*starts[1:], len(work.messages)]
    unit_tokens = [sum(work.counts[s:e]) for s, e in zip(starts, ends, strict=True)]
    protected = {len(starts) - 1} if starts else set()
    if pinned is not None:
        protected.add(bisect.bisect_right(starts, pinned) - 1)
    kept = _choose(work, starts=starts, unit_tokens=unit_tokens, protected=protected, goal=goal, counter=counter)
    window = [m for u in kept for m in work.messages[starts[u]:ends[u]]]
    tokens = sum(unit_tokens[u] for u in kept)
    dropped = len(messages) - len(window)
    if dropped and window and window[0].role == "assistant":
        note = note_message(dropped)
        window.insert(0, note)
        tokens += counter.count_message(note)
    if tokens + limits.fixed > limits.limit:
        raise _overflow(tokens + limits.fixed, limits)
    shortened = sum(1 for u in kept for i in range(starts[u], ends[u]) if i in work.shortened)
    return Plan(window=window, tokens=tokens, dropped=dropped, shortened=shortened)


def _choose(work: _Work, *, starts: list[int], unit_tokens: list[int], protected: set[int], goal: int,
            counter: TokenCounter) -> list[int]:
    """The units kept: drop the oldest unprotected units while the total (with the note the window
    would then need) exceeds `goal`. A first unit of tool results without their call goes in any case."""
    note_cost = counter.count_text(NOTE.format(n=f"{10**9:,}")) + counter.profile.message_overhead
    candidates = [u for u in range(len(starts)) if u not in protected]
    orphan = bool(candidates) and candidates[0] == 0 and _carries_results(work.messages[0])
    total, dropped_messages, taken = work.total, 0, 0
    while taken < len(candidates):
        if not (orphan and taken == 0):
            first = min(candidates[taken], *protected)
            needs_note = dropped_messages > 0 and work.messages[starts[first]].role == "assistant"
            if total + (note_cost if needs_note else 0) <= goal:
                break
        unit = candidates[taken]
        total -= unit_tokens[unit]
        dropped_messages += (starts[unit + 1] if unit + 1 < len(starts) else len(work.messages)) - starts[unit]
        taken += 1
    return sorted(protected | set(candidates[taken:]))


def _overflow(needed: int, limits: PlanLimits) -> ContextOverflowError:
    cut = "" if limits.max_tool_output is None else f" (tool outputs cut to {limits.max_tool_output:,} tokens)"
    return ContextOverflowError(
        f"the request does not fit the context window: even with only the task message and the latest turn"
        f"{cut} it needs about {needed:,} tokens ({limits.fixed:,} "
        f"of them for the system prompt and tools), but the window of {limits.window:,} tokens minus the reply "
        f"reserve of {limits.reserve:,} leaves {limits.limit:,}. Use a model with a larger window, shorten the task "
        "or the tools, lower max_tool_output_tokens or reply_reserve",
        needed=needed, window=limits.window, reserve=limits.reserve)
