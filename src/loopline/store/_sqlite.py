"""The SQLite store: loopline's embedded default. One file, WAL mode, safe for many processes.

Writes run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock up front, so positions
in a thread are assigned without races even when several processes append at once. One connection
per store, guarded by a lock, serves all threads of a process.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import StoreError
from ._sql import Cursor, SqlStore

__all__ = ["SQLiteStore"]


class SQLiteStore(SqlStore):
    """Threads and executions in a SQLite file (or `:memory:`)."""

    dialect: ClassVar[str] = "sqlite"

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, timeout: float = 30.0) -> None:
        """Open (creating and upgrading as needed) the database at `path`.

        A file that cannot be used (not a database, cut short or damaged, another program's database, a
        directory, a place this user cannot write) raises `StoreError` here, naming the path and what
        to do, rather than at the first read or write.
        """
        self.path = str(path)
        self._lock = threading.RLock()
        with _opening(self.path):
            if self.path != ":memory:":
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(os.path.expanduser(self.path), timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
            try:
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._refuse_foreign_schema()  # first: switching to WAL would already change the file
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                    self._conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
                self._migrate(where=f"SQLite database {self.path}")
            except BaseException:
                self._conn.close()
                raise

    def _refuse_foreign_schema(self) -> None:
        """Never add loopline's tables to another program's database (or fail on its tables later)."""
        tables = [row[0] for row in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")]
        if tables and "loopline_migrations" not in tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(f"SQLite database {self.path} is not a loopline database: it holds another program's "
                             f"tables ({shown}); {_ELSEWHERE}", store=self.path)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    @contextlib.contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self._lock, _driver_errors(self.path):
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the error that got here is the one to report
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self._lock, _driver_errors(self.path):
            yield self._conn.cursor()

    def _insert_many(self, cur: Cursor, sql: str, rows: list[tuple[Any, ...]]) -> None:
        assert isinstance(cur, sqlite3.Cursor)
        cur.executemany(sql, rows)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


_ELSEWHERE = "pass another path (the default store's is set by LOOPLINE_DB)"
_DAMAGED = (f"the file is not a SQLite database, or is damaged or cut short: move it away (loopline then starts a "
            f"new one there) or {_ELSEWHERE}")


@contextlib.contextmanager
def _opening(path: str) -> Iterator[None]:
    """Any failure to open the database as `StoreError` saying what is wrong with the path and what to do."""
    try:
        yield
    except StoreError as exc:
        if not isinstance(exc.__cause__, sqlite3.Error):
            raise
        raise _cannot_open(path, exc.__cause__) from exc.__cause__
    except (sqlite3.Error, OSError) as exc:
        raise _cannot_open(path, exc) from exc


def _cannot_open(path: str, exc: sqlite3.Error | OSError) -> StoreError:
    reason = f"{type(exc).__name__}: {exc}"
    if _damaged(exc):
        return StoreError(f"SQLite database {path} could not be opened ({reason}): {_DAMAGED}", store=path)
    full = Path(path).expanduser()
    if isinstance(exc, OSError):
        what = f"its directory {full.parent} does not exist and cannot be made"
    elif full.is_dir():
        what = "the path is a directory"
    elif getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM")):
        what = "the file cannot be opened for reading and writing"
    else:  # busy or locked past the timeout, out of memory, ...: not the path's fault
        return StoreError(f"SQLite database {path} could not be opened: {reason}", store=path)
    return StoreError(f"SQLite database {path} could not be opened ({reason}): {what}; check that the path names a "
                      "file this user can read and write, in a directory it can write (SQLite keeps -wal and -shm "
                      f"files beside it), or {_ELSEWHERE}", store=path)


def _damaged(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return bool(name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT"))


@contextlib.contextmanager
def _driver_errors(where: str) -> Iterator[None]:
    """sqlite3's errors as `StoreError` (loopline's own errors pass through)."""
    try:
        yield
    except sqlite3.Error as exc:
        advice = f": {_DAMAGED}" if _damaged(exc) else ""
        raise StoreError(f"SQLite database {where}: {type(exc).__name__}: {exc}{advice}", store=where) from exc
