"""The `threads` and `executions` commands: read a store and print what they find.

Each command parses nothing and opens nothing itself: it gets the parsed arguments and an open store
from `loopline.cli._main` and returns the text to print. They only read, except `executions cancel`,
which ends an execution; nothing here runs a model (`executions resume` lives with `run`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

from ..agent import cancel_execution
from ..errors import ExecutionClaimedError, LooplineError
from ..loop import ExecutionStatus
from ..store import Page, Store
from ..threads import get as get_thread
from ..threads import list as list_threads
from ..threads import messages as thread_messages
from . import _json, _render

__all__ = ["CommandError", "CommandFailed", "Handler", "Subcommands", "add_executions", "add_threads"]

T = TypeVar("T")
Handler = Callable[[Store, argparse.Namespace], str]
"""What a command does: read the open store as the arguments say and return the text to print."""
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What `add_subparsers` returns (argparse gives the type no public name)."""


class CommandError(Exception):
    """A problem with what the user asked for (exit status 2), told on stderr without a traceback."""


class CommandFailed(Exception):
    """What was asked could be done, but it ended badly (a task that failed, a wait that timed out):
    `output` still goes to stdout, then the message to stderr, and the command exits with `status`."""

    def __init__(self, message: str, *, output: str = "", status: int = 1) -> None:
        super().__init__(message)
        self.output = output
        self.status = status


def add_threads(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    """Register `threads list` and `threads show` on the top-level subparsers."""
    group = commands.add_parser("threads", help="list threads and show their messages",
                                description="Threads: ordered conversations, shared by every process on a store.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="threads, most recently created first")
    _add_paging(listing)
    listing.set_defaults(handler=_threads_list)
    show = actions.add_parser("show", parents=[common], help="a thread's fields and its messages")
    show.add_argument("thread_id", metavar="ID", help="the thread's id (thr_...)")
    show.set_defaults(handler=_threads_show)


def add_executions(commands: Subcommands, common: argparse.ArgumentParser) -> Subcommands:
    """Register `executions list`, `show` and `cancel` on the top-level subparsers; returns the
    `executions` actions (`resume` is added to them by `loopline.cli._run`)."""
    group = commands.add_parser("executions", help="list executions and show one",
                                description="Executions: one task's run over a thread.")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="executions, newest first")
    listing.add_argument("--agent", metavar="NAME", help="only those of this agent")
    listing.add_argument("--thread", metavar="ID", help="only those on this thread")
    listing.add_argument("--status", type=_status, metavar="STATUS",
                         help=f"only those in this status: {', '.join(ExecutionStatus)} (any case)")
    _add_paging(listing)
    listing.set_defaults(handler=_executions_list)
    show = actions.add_parser("show", parents=[common],
                              help="an execution's fields, tool call records and its thread's messages")
    show.add_argument("execution_id", metavar="ID", help="the execution's id (exe_...)")
    show.set_defaults(handler=_executions_show)
    cancel = actions.add_parser(
        "cancel", parents=[common], help="end an execution CANCELLED (one whose process died, or is paused)",
        description="End the execution CANCELLED. Calls that never ran, and calls a dead process left running, get "
                    "error results, so its thread can be continued. An execution a live process still runs is "
                    "refused (cancel it there) unless --force. Exit status: 0 when cancelled, 1 when a live process "
                    "holds it, 2 when it has already ended or does not exist.")
    cancel.add_argument("execution_id", metavar="ID", help="the execution's id (exe_...)")
    cancel.add_argument("--force", action="store_true",
                        help="cancel it even though a live process runs it (that process's next write is refused)")
    cancel.set_defaults(handler=_executions_cancel)
    return actions


# --- handlers -----------------------------------------------------------------------------------


def _threads_list(store: Store, args: argparse.Namespace) -> str:
    page = _paged(lambda: list_threads(args.limit, args.cursor, store=store))
    if args.json:
        return _json.dump(_json.thread_page(page))
    return _listing(_render.thread_table(page) if page else ["no threads"], page)


def _threads_show(store: Store, args: argparse.Namespace) -> str:
    info = get_thread(args.thread_id, store=store)
    messages = thread_messages(info.id, store=store)
    if args.json:
        return _json.dump(_json.thread_detail(info, messages))
    return "\n".join(_render.thread_detail(info, messages))


def _executions_list(store: Store, args: argparse.Namespace) -> str:
    page = _paged(lambda: store.list_executions(agent_name=args.agent, thread_id=args.thread, status=args.status,
                                                limit=args.limit, cursor=args.cursor))
    if args.json:
        return _json.dump(_json.execution_page(page))
    return _listing(_render.execution_table(page) if page else ["no executions"], page)


def _executions_show(store: Store, args: argparse.Namespace) -> str:
    execution = store.get_execution(args.execution_id)
    records = store.get_tool_calls(execution.id)
    messages = store.get_messages(execution.thread_id)
    if args.json:
        return _json.dump(_json.execution_detail(execution, records, messages))
    return "\n".join(_render.execution_detail(execution, records, messages))


def _executions_cancel(store: Store, args: argparse.Namespace) -> str:
    try:
        execution = cancel_execution(store, args.execution_id, force=args.force)
    except ExecutionClaimedError as exc:  # the library's message speaks of force=True; say it in the CLI's words
        raise ExecutionClaimedError(
            f"execution {exc.execution_id} is running in a live process; cancel it there (Ctrl-C in `loopline run`, "
            f"or agent.cancel()), or end it from here with `loopline executions cancel {exc.execution_id} --force`: "
            "that process's next write is then refused", execution_id=exc.execution_id) from None
    if args.json:
        return _json.dump(_json.execution_record(execution))
    return f"execution {execution.id} {execution.status.value} (thread {execution.thread_id})"


# --- helpers ------------------------------------------------------------------------------------


def _add_paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=_positive, default=50, metavar="N", help="at most N rows (default 50)")
    parser.add_argument("--cursor", metavar="C", help="continue after the page that printed this cursor")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _status(text: str) -> ExecutionStatus:
    """A status as a person types it: `completed` and `COMPLETED` are the same."""
    try:
        return ExecutionStatus(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"no status {text!r}: choose one of {', '.join(ExecutionStatus)}") from None


def _paged(read: Callable[[], Page[T]]) -> Page[T]:
    """Run a listing; a cursor the store did not make is the user's mistake, not a crash."""
    try:
        return read()
    except LooplineError:
        raise
    except ValueError as exc:  # stores reject foreign cursors with ValueError
        raise CommandError(f"{exc} (use the cursor a previous page printed)") from None


def _listing(lines: list[str], page: Page[Any]) -> str:
    if page.next_cursor is not None:
        lines = [*lines, "", f"next page: --cursor {page.next_cursor}"]
    return "\n".join(lines)
