"""The worker tests' databases: each module runs its tests against a SQLite file and against a fresh
PostgreSQL database, with its worker processes started once for the module (DBOS keeps its tables in
the database, so modules never share one)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from workers_helpers import WorkerStarter, start_worker, stop_worker

from loopline.tasks import Tasks

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The module's database: a SQLite file, then a PostgreSQL database made for the module."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("tasks") / "tasks.db")
        return
    databases = request.getfixturevalue("pg_databases")
    if "://" not in databases.url:
        pytest.skip("the worker tests need LOOPLINE_TEST_PG_URL as a postgresql:// URL")
    name = databases.create_database()
    try:
        yield urlunsplit(urlsplit(databases.url)._replace(path=f"/{name}"))
    finally:
        databases.drop_database(name)


@pytest.fixture(scope="module")
def worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's worker processes write (read it when one misbehaves)."""
    return tmp_path_factory.mktemp("logs") / "workers.log"


@pytest.fixture
def workers(worker_log: Path) -> Iterator[WorkerStarter]:
    """Starts worker processes for one test (`workers(db, *args, env=...)`), stopped when it ends."""
    started: list[subprocess.Popen[bytes]] = []

    def start(location: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = start_worker(location, *args, env=env, log=worker_log)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop_worker(proc)


@pytest.fixture(scope="module")
def tasks(db: str) -> Iterator[Tasks]:
    """The task API on the module's database."""
    made = Tasks(db)
    yield made
    made.store.close()


@pytest.fixture(scope="module")
def worker(db: str, worker_log: Path) -> Iterator[None]:
    """One worker for the module: the `researcher` agent, and the `handle` handler for other agent ids."""
    proc = start_worker(db, "--lease", "2", log=worker_log)
    yield
    stop_worker(proc)
