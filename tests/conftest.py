"""Shared test set-up: the process-wide default store is a throwaway SQLite file, never the user's;
PostgreSQL tests get databases of their own on the server LOOPLINE_TEST_PG_URL names."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

if TYPE_CHECKING:
    from loopline.store._postgres import PostgresStore

_DEFAULT_DB_DIR = tempfile.mkdtemp(prefix="loopline-tests-")
atexit.register(shutil.rmtree, _DEFAULT_DB_DIR, ignore_errors=True)
os.environ["LOOPLINE_DB"] = os.path.join(_DEFAULT_DB_DIR, "default.db")


# --- PostgreSQL ------------------------------------------------------------------------------------
#
# `./tools/test` starts a throwaway server and exports LOOPLINE_TEST_PG_URL (see tools/_postgres).
# Each test that takes `pg_store` gets a fresh schema of its own (its URL sets `search_path` to it)
# inside a database made for the test session, and the schema is dropped afterwards. Measured on the
# throwaway server (2 shared CPUs): a schema plus its migration costs ~50 ms a test (set-up ~40 ms,
# teardown ~10 ms); cloning a migrated template with CREATE DATABASE costs ~170-300 ms (it copies the
# 7 MB of system catalogs every database carries); a TRUNCATE between tests ~30-45 ms, but shares
# tables between tests and blocks behind any transaction a test leaked. A schema isolates as well as
# a database at a fraction of the cost, and each test still migrates from scratch. `pg_empty_url`
# is a whole fresh database, for the tests of migrating one.


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test PostgreSQL server (its user must be allowed to CREATE DATABASE). A missing
    LOOPLINE_TEST_PG_URL fails the test; an empty one skips it."""
    url = os.environ.get("LOOPLINE_TEST_PG_URL")
    if url == "":
        pytest.skip("LOOPLINE_TEST_PG_URL is empty: PostgreSQL tests skipped")
    if url is None:
        reason = os.environ.get("LOOPLINE_TEST_PG_ERROR")
        pytest.fail("LOOPLINE_TEST_PG_URL is not set, so the PostgreSQL tests have no server"
                    + (f" ({reason})" if reason else "")
                    + ". Run ./tools/test, which starts a throwaway server; or set LOOPLINE_TEST_PG_URL to a "
                      "postgresql:// URL whose user may CREATE DATABASE; or set it to '' to skip these tests.",
                    pytrace=False)
    return url


def _pg_url_for(url: str, dbname: str, schema: str | None = None) -> str:
    """`url` pointing at another database and, with `schema`, a search path of just that schema."""
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    if "://" not in url:  # key=value form
        from psycopg.conninfo import make_conninfo

        return make_conninfo(url, dbname=dbname, **options)
    parts = urlsplit(url)
    query = urlencode([*((k, v) for k, v in parse_qsl(parts.query) if k not in options), *options.items()])
    return urlunsplit(parts._replace(path=f"/{dbname}", query=query))


class PgDatabases:
    """Makes and drops uniquely named databases and schemas on the test server."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        self.admin = psycopg.connect(url, autocommit=True)
        self.session_db = self.create_database()
        self.session = psycopg.connect(_pg_url_for(url, self.session_db), autocommit=True)
        self.session.execute("SET lock_timeout = '10s'")  # a schema a leaked transaction holds stays

    def create_database(self) -> str:
        name = f"loopline_test_{uuid.uuid4().hex[:16]}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_schema(self) -> tuple[str, str]:
        """A fresh schema in the session's database: its name and a URL whose search path is it."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.session.execute(f'CREATE SCHEMA "{name}"')
        return name, _pg_url_for(self.url, self.session_db, name)

    def drop_schema(self, name: str) -> None:
        import psycopg

        with contextlib.suppress(psycopg.errors.LockNotAvailable):  # goes with the session's database
            self.session.execute(f'DROP SCHEMA "{name}" CASCADE')

    def close(self) -> None:
        self.session.close()
        self.drop_database(self.session_db)
        self.admin.close()


@pytest.fixture(scope="session")
def pg_databases(pg_url: str) -> Iterator[PgDatabases]:
    """Creates and drops the tests' databases and schemas; drops its own database at the end."""
    databases = PgDatabases(pg_url)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def pg_empty_url(pg_databases: PgDatabases) -> Iterator[str]:
    """The URL of a fresh database without loopline's tables (for migration tests), dropped afterwards."""
    name = pg_databases.create_database()
    try:
        yield _pg_url_for(pg_databases.url, name)
    finally:
        pg_databases.drop_database(name)


@pytest.fixture
def pg_store(pg_databases: PgDatabases) -> Iterator[PostgresStore]:
    """A `PostgresStore` on a fresh schema of its own, closed and dropped afterwards. `pg_store.url`
    opens more stores (or processes) on the same schema."""
    from loopline.store._postgres import PostgresStore

    schema, url = pg_databases.create_schema()
    try:
        store = PostgresStore(url)
        try:
            yield store
        finally:
            store.close()
    finally:
        pg_databases.drop_schema(schema)
