"""The store contract suite's fixtures: every contract test runs against every store (in memory,
SQLite on a file, SQLite in memory, and PostgreSQL through the `pg_store` fixture of the top-level
conftest); the concurrency tests against the stores shared by threads of one process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import Clock

from loopline.store import InMemoryStore, SQLiteStore, Store

STORES = ["memory", "sqlite-file", "sqlite-memory", "postgres"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each store in turn; PostgreSQL comes from the `pg_store` fixture, which owns its lifetime."""
    kind = request.param
    if kind == "postgres":
        yield request.getfixturevalue("pg_store")
        return
    made: Store
    if kind == "memory":
        made = InMemoryStore()
    elif kind == "sqlite-file":
        made = SQLiteStore(request.getfixturevalue("tmp_path") / "db.sqlite")
    else:
        made = SQLiteStore(":memory:")
    try:
        yield made
    finally:
        made.close()


_FUTURE = [time.time() + 100_000_000.0]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A frozen clock years ahead (so a test's threads are the newest even in a shared database),
    moved forward for each test that uses it."""
    _FUTURE[0] += 10_000.0
    fake = Clock(_FUTURE[0])
    monkeypatch.setattr(time, "time", fake)
    return fake


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"

@pytest.fixture(params=["memory", "sqlite-file"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "db.sqlite")
    try:
        yield made
    finally:
        made.close()

