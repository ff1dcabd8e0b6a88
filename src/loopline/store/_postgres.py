"""The PostgreSQL store (the `postgres` extra): one database shared by many processes and machines.

Every query lives in `SqlStore`; this module only supplies pooled connections, transactions and the
placeholder style. Appends to one thread serialise on the thread's row (`SELECT ... FOR UPDATE`), so
positions are assigned without races however many writers there are; appends to different threads
run in parallel. Migrations run under a transaction-level advisory lock, so several processes may
open one fresh database at the same moment. It must never print or log a connection's password.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from ..errors import MissingExtraError, StoreError, StoreUnavailableError

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # the `postgres` extra is not installed (or is broken: reinstalling it fixes that)
    raise MissingExtraError(package="psycopg-pool" if exc.name == "psycopg_pool" else "psycopg",
                            extra="postgres") from exc

from ._sql import Cursor, SqlStore

__all__ = ["PostgresStore"]

_MIGRATION_LOCK = int.from_bytes(b"loopline", "big")
"""The advisory lock key migrations hold (advisory locks are per database, so one constant serves all)."""


class PostgresStore(SqlStore):
    """Threads and executions in a PostgreSQL database, through a pool of connections."""

    dialect: ClassVar[str] = "postgres"
    lock_row: ClassVar[str] = " FOR UPDATE"
    remote_calls: ClassVar[bool] = True
    """Each call is a round trip to the database server: async drivers make them off the event loop
    (`loopline.store.settle`), so the executions one loop runs wait for the database side by side."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 30.0,
                 max_idle: float = 600.0, connect_kwargs: Mapping[str, Any] | None = None) -> None:
        """Connect to the database at `url` (creating and upgrading loopline's tables as needed).

        Args:
            url: A libpq connection string: `postgresql://user:password@host:port/dbname` (or
                `key=value` pairs).
            min_size: Connections the pool keeps open even when idle.
            max_size: Most connections the pool opens; each thread of the process that is inside a
                store call holds one.
            timeout: Seconds a call waits for a free connection before `psycopg_pool.PoolTimeout`.
            max_idle: Seconds an idle connection above `min_size` is kept before it is closed.
            connect_kwargs: Extra arguments for each `psycopg.connect` (for instance
                `{"prepare_threshold": None}` behind PgBouncer in transaction mode).
        """
        self.url = url
        self._where = _describe(url)
        # Fail now, with libpq's own message (bad host, password, database), instead of a pool that
        # retries in the background and times out later with a vaguer one.
        psycopg.connect(url, **dict(connect_kwargs or {})).close()
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, timeout=timeout, max_idle=max_idle,
            kwargs={**(connect_kwargs or {}), "autocommit": True}, name="loopline", open=False)
        self._pool.open()
        try:
            self._migrate(where=self._where)
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore(<{self._where}>)"

    @contextlib.contextmanager
    def _write(self) -> Iterator[Cursor]:
        with self._driver_errors(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        # Autocommit: each read is one statement with its own snapshot, and costs no BEGIN/COMMIT.
        with self._driver_errors(), self._pool.connection() as conn, conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _driver_errors(self) -> Iterator[None]:
        """psycopg's and the pool's errors as `StoreError` (loopline's own errors pass through)."""
        try:
            yield
        except (psycopg.OperationalError, PoolTimeout) as exc:  # connection lost or refused: try again later
            raise StoreUnavailableError(f"{self._where}: {type(exc).__name__}: {exc}",
                                        store=self._where) from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL database {self._where}: {type(exc).__name__}: {exc}",
                             store=self._where) from exc

    def _sql(self, text: str) -> str:
        return _pyformat(text)

    def _lock_schema(self, cur: Cursor) -> None:
        # Released by the transaction's end; a second process waits here, then sees what the first
        # one created (each statement in READ COMMITTED takes a fresh snapshot).
        cur.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")

    def _insert_many(self, cur: Cursor, sql: str, rows: list[tuple[Any, ...]]) -> None:
        assert isinstance(cur, psycopg.Cursor)
        cur.executemany(self._sql(sql), rows)

    def close(self) -> None:
        """Close every connection of the pool (the store is unusable afterwards)."""
        self._pool.close()


@functools.lru_cache(maxsize=256)
def _pyformat(text: str) -> str:
    """`?` placeholders to psycopg's `%s` (a literal `%` doubled). The queries hold no `?` in literals."""
    return text.replace("%", "%%").replace("?", "%s")


def _describe(url: str) -> str:
    """Which database, for messages: names host, port and database, never the password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "PostgreSQL database (unparsable connection string)"
    host = info.get("host") or "local socket"
    port = f":{info['port']}" if info.get("port") else ""
    return f"PostgreSQL database {info.get('dbname') or info.get('user') or '(default)'} on {host}{port}"
