"""The server tests' databases and processes: each module runs against a SQLite file and against a
fresh PostgreSQL database (`db`), and starts real server and worker processes (`servers`, `workers`),
stopped when the test (or, for `module_servers`, the module) ends. Their output goes to `server_log`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from server_helpers import Server, ServerStarter, WorkerStarter, start_server, start_worker, stop_process

BACKENDS = ["sqlite", "postgres"]



@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The module's database: a SQLite file, then a PostgreSQL database made for the module."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("server") / "server.db")
        return
    databases = request.getfixturevalue("pg_databases")
    if "://" not in databases.url:
        pytest.skip("the server tests need LOOPLINE_TEST_PG_URL as a postgresql:// URL")
    name = databases.create_database()
    try:
        yield urlunsplit(urlsplit(databases.url)._replace(path=f"/{name}"))
    finally:
        databases.drop_database(name)


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the module's server and worker processes write."""
    return tmp_path_factory.mktemp("logs") / "server.log"


def _starter(log: Path) -> tuple[ServerStarter, list[Server]]:
    started: list[Server] = []

    def start(location: str, *args: str, env: dict[str, str] | None = None, own_log: Path | None = None) -> Server:
        server = start_server(location, *args, log=own_log or log, env=env)
        started.append(server)
        return server

    return start, started


@pytest.fixture
def servers(server_log: Path) -> Iterator[ServerStarter]:
    """Starts server processes for one test (`servers(db, *serve_args)`), stopped when it ends."""
    start, started = _starter(server_log)
    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="module")
def module_servers(server_log: Path) -> Iterator[ServerStarter]:
    """`servers` for a module's shared server processes."""
    start, started = _starter(server_log)
    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def workers(server_log: Path) -> Iterator[WorkerStarter]:
    """Starts worker processes for one test (`workers(db, target, *args)`), stopped when it ends."""
    started: list[subprocess.Popen[bytes]] = []

    def start(location: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = start_worker(location, *args, log=server_log, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop_process(proc)
