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
        """Open (creating and upgrading as needed) the database at `path`."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(os.path.expanduser(self.path), timeout=timeout, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL mode
        self._migrate(where=f"SQLite database {self.path}")

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


@contextlib.contextmanager
def _driver_errors(where: str) -> Iterator[None]:
    """sqlite3's errors as `StoreError` (loopline's own errors pass through)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite database {where}: {type(exc).__name__}: {exc}", store=where) from exc
