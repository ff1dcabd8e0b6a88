"""The stateful fitter: one per agent and model, called before every request.

It keeps running totals, so a call on a list that only grew since the last call costs what the new
messages cost, not what the thread costs. When the request would overflow (window minus reply
reserve), it makes a new fit down to `target` of that budget (see `_plan`), and then appends the
following steps to that fitted window until it overflows again: the hysteresis that keeps each
step's cost flat and lets an incremental renderer go on between fits.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..messages import Message
from ._counter import TokenCounter
from ._plan import Capper, PlanLimits, make_plan
from ._policy import ContextPolicy, Fitted, WindowView
from ._profiles import context_window

__all__ = ["ContextFitter"]


class ContextFitter:
    """Fits each request of one conversation into a model's context window.

    Args:
        policy: The settings.
        counter: Counts the messages (its model also names the window when none is given).
        window: The context window in tokens; default `policy.context_window`, else the built-in
            table for `counter.model`. With none of these known, nothing is fitted: `fit` returns
            the messages as given, with their estimated tokens.

    Not thread-safe: one fitter serves one conversation, one request at a time.

    Raises:
        ValueError: the window is not a positive integer, or it is not larger than the reply reserve.
    """

    def __init__(self, policy: ContextPolicy, counter: TokenCounter, window: int | None = None) -> None:
        if not isinstance(policy, ContextPolicy):
            raise ValueError(f"policy must be a ContextPolicy, got {type(policy).__name__}")
        if not isinstance(counter, TokenCounter):
            raise ValueError(f"counter must be a TokenCounter, got {type(counter).__name__}")
        if window is None:
            window = policy.context_window
        if window is None and counter.model is not None:
            window = context_window(counter.model)
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise ValueError(f"window must be a positive number of tokens, got {window!r}")
        if window is not None and window <= policy.reply_reserve:
            raise ValueError(f"the context window ({window}) must be larger than reply_reserve "
                             f"({policy.reply_reserve}), or no request could fit")
        self.policy = policy
        """The settings."""
        self.counter = counter
        """The counter."""
        self.window = window
        """The context window fitted to, `None` when unknown (then nothing is fitted)."""
        self._capper = Capper(counter)
        self._reset()

    def _reset(self) -> None:
        self._seen = 0  # how many messages of the given list have been counted
        self._first_id: str | None = None
        self._last_id: str | None = None
        self._seen_tokens = 0
        self._fitted: list[Message] | None = None  # None: the window is the given list itself
        self._fitted_tokens = 0
        self._dropped = 0
        self._shortened = 0
        self._planned = 0  # how many given messages the last fit looked at
        self._planned_pinned: str | None = None  # the id of the message that fit kept as the task

    @property
    def limit(self) -> int | None:
        """The most tokens a request may hold (window minus reply reserve); `None` when not fitting."""
        if self.window is None or not self.policy.enabled:
            return None
        return self.window - self.policy.reply_reserve

    def fit(self, messages: Sequence[Message], *, pinned: int | None = None, fixed_tokens: int = 0) -> Fitted:
        """What one request should carry of `messages` (the whole conversation, in order).

        Args:
            messages: The conversation; between calls it normally only grows at the end.
            pinned: The index in `messages` of the user message that started the current execution
                (kept while `policy.keep_task`).
            fixed_tokens: What the request holds besides messages: `counter.count_system(...)`
                plus `counter.count_tools(...)`.

        Raises:
            ContextOverflowError: the pinned message and the latest turn alone do not fit.
            ValueError: `pinned` is not an index of `messages`, or `fixed_tokens` is negative.
        """
        self._check(messages, pinned, fixed_tokens)
        restarted = not self._is_append(messages)
        if restarted:
            self._reset()
        new = messages[self._seen:]
        added = self.counter.count_messages(new)
        self._seen, self._seen_tokens = len(messages), self._seen_tokens + added
        self._first_id = messages[0].id if messages else None
        self._last_id = messages[-1].id if messages else None
        fixed = fixed_tokens + self.counter.request_overhead
        if self._fitted is not None:
            self._fitted.extend(new)
            self._fitted_tokens += added
        limit = self.limit
        current = (self._seen_tokens if self._fitted is None else self._fitted_tokens) + fixed
        if limit is None or (current <= limit and not self._task_may_be_missing(messages, pinned)):
            return self._result(messages, current, refitted=restarted)
        return self._refit(messages, pinned, fixed, limit)

    def _task_may_be_missing(self, messages: Sequence[Message], pinned: int | None) -> bool:
        """Whether a task message named now may be one the current window left out: it is older than
        the last fit, and not the one that fit kept."""
        if self._fitted is None or pinned is None or not self.policy.keep_task or pinned >= self._planned:
            return False
        return messages[pinned].id != self._planned_pinned

    def _result(self, messages: Sequence[Message], tokens: int, *, refitted: bool) -> Fitted:
        if self._fitted is None:
            return Fitted(messages=messages, dropped=0, shortened=0, tokens=tokens, refitted=refitted)
        return Fitted(messages=WindowView(self._fitted, len(self._fitted)), dropped=self._dropped,
                      shortened=self._shortened, tokens=tokens, refitted=refitted)

    def _refit(self, messages: Sequence[Message], pinned: int | None, fixed: int, limit: int) -> Fitted:
        window = self.window
        assert window is not None  # limit is not None
        limits = PlanLimits(limit=limit, target=int(limit * self.policy.target), fixed=fixed, window=window,
                            reserve=self.policy.reply_reserve, max_tool_output=self.policy.max_tool_output_tokens)
        plan = make_plan(messages, pinned=pinned if self.policy.keep_task else None, counter=self.counter,
                         capper=self._capper, limits=limits)
        self._fitted, self._fitted_tokens = plan.window, plan.tokens
        self._dropped, self._shortened = plan.dropped, plan.shortened
        self._planned = len(messages)
        self._planned_pinned = messages[pinned].id if pinned is not None and self.policy.keep_task else None
        return self._result(messages, plan.tokens + fixed, refitted=True)

    def _is_append(self, messages: Sequence[Message]) -> bool:
        if self._seen == 0:
            return True
        return (len(messages) >= self._seen and messages[0].id == self._first_id
                and messages[self._seen - 1].id == self._last_id)

    @staticmethod
    def _check(messages: Sequence[Message], pinned: int | None, fixed_tokens: int) -> None:
        if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
            raise ValueError(f"messages must be a sequence of Message, got {type(messages).__name__}")
        if pinned is not None and (isinstance(pinned, bool) or not isinstance(pinned, int)
                                   or not 0 <= pinned < len(messages)):
            raise ValueError(f"pinned must be None or the index of a message (0 to {len(messages) - 1}), "
                             f"got {pinned!r}")
        if isinstance(fixed_tokens, bool) or not isinstance(fixed_tokens, int) or fixed_tokens < 0:
            raise ValueError(f"fixed_tokens must be a number of tokens (0 or more), got {fixed_tokens!r}")
