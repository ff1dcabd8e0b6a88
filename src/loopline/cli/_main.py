"""The `loopline` command: parse the arguments, open the store, run one command, map errors to exits.

Exit statuses: 0 on success; 2 when the request cannot be met as asked (bad arguments, an unknown
id, a database file that does not exist, a foreign cursor, a missing extra); 1 when the store fails
(a server that cannot be reached, a file that is not a database or was written by a newer loopline).
Errors go to stderr as one line, never as a traceback; a failure while reading that is neither
loopline's nor SQLite's (a driver error mid-query) is left to raise, since it may be a bug.

`run` has statuses of its own on top of these (see `loopline.cli`): 1 when the execution did not
complete or the agent file raised while loading (its traceback comes before the error line), 130
after Ctrl-C. Its `--db` may name a file that does not exist yet: running writes, so it is created.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..errors import (
    ExecutionClaimedError,
    LooplineError,
    UnknownExecutionError,
    UnknownTaskError,
    UnknownThreadError,
    UsageError,
)
from ..store import Store, default_db_path, default_store, open_store
from ._commands import CommandError, CommandFailed, Handler, add_executions, add_threads
from ._mcp import add_mcp
from ._run import LoadError, add_resume, add_run
from ._serve import add_keys, add_serve
from ._tasks import add_tasks, add_worker

__all__ = ["build_parser", "main"]

_PROG = "loopline"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: `run`, `threads`, `executions`, `mcp`, `worker`, `tasks`, `serve` and `keys`."""
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Run a loopline agent, and inspect the threads and executions in a store.",
        epilog="--db and --json follow the action (loopline threads list --db FILE --json); --db may also "
               "come first. The JSON shapes are documented in `python -m pydoc loopline.cli`.")
    parser.add_argument("--db", metavar="LOCATION", default=None,
                        help="the store: a SQLite file path, :memory: or a postgresql:// URL "
                             "(default: $LOOPLINE_DB, else the SQLite file in your user data directory)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="LOCATION", default=argparse.SUPPRESS, help="the store (see loopline -h)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run(commands)
    add_threads(commands, common)
    add_resume(add_executions(commands, common), common)
    add_mcp(commands)
    add_worker(commands)
    add_tasks(commands, common)
    add_serve(commands)
    add_keys(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: `sys.argv[1:]`) and return the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has already printed usage or help
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "runner", None) is not None:  # `run` and `executions resume` run a model
        return _run(args)
    location: str | None = args.db
    try:
        store = _open(location, create=getattr(args, "creates", False))
        try:
            handler: Handler = args.handler
            text = handler(store, args)
        finally:
            if location is not None:
                store.close()
    except (UnknownThreadError, UnknownExecutionError, UnknownTaskError) as exc:
        return _fail(2, f"{_unknown(exc)} in {_describe(location)}")
    except CommandFailed as exc:  # a task that failed or a wait that ran out: its output, then why
        _print(exc.output)
        return _fail(exc.status, str(exc))
    except ExecutionClaimedError as exc:  # `executions cancel` of an execution a live process runs
        return _fail(1, str(exc))
    except (CommandError, UsageError) as exc:
        return _fail(2, str(exc))
    except _OpenError as exc:
        return _fail(1, f"cannot open {_describe(location)}: {exc}")
    except (LooplineError, sqlite3.Error) as exc:
        return _fail(1, f"cannot read {_describe(location)}: {exc}")
    _print(text)
    return 0


def _run(args: argparse.Namespace) -> int:
    """`loopline run` (or `executions resume`): open the `--db` store (`run` creates a missing file), run,
    and map what ends it to a status."""
    location: str | None = args.db
    try:
        store = None if location is None else _open(location, create=args.command in ("run", "mcp", "worker"))
    except (CommandError, UsageError) as exc:
        return _fail(2, str(exc))
    except (_OpenError, LooplineError, sqlite3.Error) as exc:
        return _fail(1, f"cannot open {_describe(location)}: {exc}")
    try:
        outcome = args.runner(args, store)
    except (CommandError, UsageError) as exc:
        return _fail(2, str(exc))
    except LoadError as exc:
        sys.stderr.write(exc.detail)
        return _fail(1, str(exc))
    except (LooplineError, sqlite3.Error) as exc:
        return _fail(1, str(exc))
    finally:
        if store is not None:
            store.close()
    return outcome.status if outcome.error is None else _fail(outcome.status, outcome.error)


class _OpenError(Exception):
    """The store's driver could not open the location (a server that is down, a path not allowed)."""


def _open(location: str | None, *, create: bool = False) -> Store:
    """The store at `location`, or the process's default store. A file that does not exist is refused
    rather than created (reading commands would only show an empty database at a mistyped path),
    unless `create` (`run` writes)."""
    if location is None:
        return default_store()
    if (not create and location != ":memory:" and not _is_url(location)
            and not Path(location).expanduser().exists()):
        raise CommandError(f"no loopline database at {location} (check --db)")
    try:
        return open_store(location)
    except (LooplineError, sqlite3.Error):
        raise
    except Exception as exc:  # a driver's own error (psycopg's, an OSError): any of them means "cannot open"
        raise _OpenError(" ".join(str(exc).split())) from exc


def _unknown(exc: UnknownThreadError | UnknownExecutionError | UnknownTaskError) -> str:
    if isinstance(exc, UnknownThreadError):
        return f"no thread with id {exc.thread_id!r}"
    if isinstance(exc, UnknownTaskError):
        return f"no task with id {exc.task_id!r}"
    return f"no execution with id {exc.execution_id!r}"


def _describe(location: str | None) -> str:
    """Where the store is, for messages; a URL loses its password on the way."""
    if location is None:
        location = os.environ.get("LOOPLINE_DB") or str(default_db_path())
    if not _is_url(location):
        return location
    parts = urlsplit(location)
    if parts.password is None:
        return location
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def _print(text: str) -> None:
    """A command's output; commands that print as they go (`tasks events`) return nothing more to print."""
    if text:
        print(text, file=sys.stdout)


def _fail(status: int, message: str) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return status
