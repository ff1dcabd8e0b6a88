"""Threads as a public API: list, read, fork and delete conversations without an agent.

A thread outlives the process that made it. An agent in one process (a worker, a web request, a
notebook) writes its conversation to a durable store; any other process opened on the same store (a
script, another worker, the `loopline` command line) finds it by id and reads, forks or deletes it
here. Each function works on the process's default store (`LOOPLINE_DB`, else the SQLite file in
the user's data directory) unless given another with `store=`.

Use it as a namespace, `from loopline import threads` then `threads.list()`: the module defines
`list`, so a star import would hide the builtin. It belongs with the store layer: it imports only
the store and the layers below, and it never runs a model or rewrites a message (forking copies).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from ._html import card, count, guarded, muted
from .loop import Execution, executions_html, messages_html
from .messages import Message
from .store import Page, Store, ThreadInfo, default_store

__all__ = ["ThreadView", "delete", "fork", "get", "list", "messages", "view"]

VIEW_EXECUTIONS = 20
"""The most executions a `ThreadView` holds (the newest)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadView:
    """A thread read once for display: its record, all its messages and its newest executions.

    In Jupyter it shows as HTML: the record, the executions (status, steps, tokens, cost, duration,
    error), then the conversation step by step with tool calls and results folded. It is a snapshot:
    messages appended later need another `view`.
    """

    info: ThreadInfo
    """The thread's record."""
    messages: tuple[Message, ...]
    """Every message of the thread, in order."""
    executions: tuple[Execution, ...] = ()
    """The thread's executions, oldest first: the newest `VIEW_EXECUTIONS` of them."""
    more_executions: bool = False
    """Whether the thread has older executions than those in `executions`."""

    def __repr__(self) -> str:
        last = f", last {self.executions[-1].status.value}" if self.executions else ""
        return (f"ThreadView(id={self.info.id!r}, messages={len(self.messages)}, "
                f"executions={len(self.executions)}{'+' if self.more_executions else ''}{last})")

    def _repr_html_(self) -> str:
        """The thread as HTML for Jupyter."""
        return guarded(self._html, "this thread")

    def _html(self) -> str:
        out = self.info._repr_html_()
        if self.executions:
            out += card(f"Executions {muted('(' + str(len(self.executions)) + ')')}",
                        executions_html(self.executions, more=self.more_executions))
        title = f"Trajectory {muted('(' + count(len(self.messages), 'message') + ')')}"
        return out + card(title, messages_html(self.messages))


# Below this line `list` is the function; the builtin is spelled `builtins.list`.
def list(limit: int = 50, cursor: str | None = None, *, store: Store | None = None) -> Page[ThreadInfo]:
    """Threads, most recently created first, `limit` at a time.

    Args:
        limit: The most threads to return (at least 1).
        cursor: `next_cursor` of the previous page, to continue after it.
        store: The store to read; the default store when `None`.

    Returns:
        A page of thread records; its `next_cursor` is `None` on the last page.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return _store(store).list_threads(limit=limit, cursor=cursor)


def get(thread_id: str, *, store: Store | None = None) -> ThreadInfo:
    """A thread's record (id, times, length, metadata, parent); `UnknownThreadError` if absent."""
    return _store(store).get_thread(thread_id)


def messages(thread_id: str, start: int = 0, *, store: Store | None = None) -> builtins.list[Message]:
    """The thread's messages in order, from position `start` (0 for all); `UnknownThreadError` if
    the thread does not exist."""
    if start < 0:
        raise ValueError(f"start must be a position (0 or more), got {start}")
    return _store(store).get_messages(thread_id, start=start)


def fork(thread_id: str, upto: int | None = None, *, store: Store | None = None) -> str:
    """Copy the thread's first `upto` messages (all when `None`) into a new thread and return its id.

    The copy records the original as its `parent_thread_id` and keeps its metadata; the original is
    untouched, so an agent can try another path from any point of a conversation.
    """
    if upto is not None and upto < 0:
        raise ValueError(f"upto must be a message count (0 or more), got {upto}")
    return _store(store).fork_thread(thread_id, upto=upto)


def delete(thread_id: str, *, store: Store | None = None) -> None:
    """Delete the thread with its messages, its executions, their tool call records and their
    memory; `UnknownThreadError` if absent."""
    _store(store).delete_thread(thread_id)


def view(thread_id: str, *, store: Store | None = None) -> ThreadView:
    """The thread with its messages and newest executions, to display (in Jupyter, as HTML).

    Reads the store once, here: showing the view never reads it again. `UnknownThreadError` if absent.
    """
    source = _store(store)
    info = source.get_thread(thread_id)
    found = source.list_executions(thread_id=thread_id, limit=VIEW_EXECUTIONS)
    return ThreadView(info=info, messages=tuple(source.get_messages(thread_id)),
                      executions=tuple(reversed(found)), more_executions=found.next_cursor is not None)


def _store(store: Store | None) -> Store:
    return default_store() if store is None else store
