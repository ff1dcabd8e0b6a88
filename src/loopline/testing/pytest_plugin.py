"""loopline's pytest plugin, registered through the `pytest11` entry point when loopline is installed.

It makes a test suite safe and repeatable by default:

- Real model requests are blocked in every test (turn it off with `--allow-model-requests` or the
  ini option `loopline_block_model_requests = false`); a test that means to reach a provider takes
  the `allow_model_requests` fixture or the `@pytest.mark.allow_model_requests` marker. A blocked
  request raises `ModelRequestBlockedError` naming the test. The setting is put back after every
  test, so a test that changes it (`set_model_requests_blocked`) cannot leak into the next.
- `@pytest.mark.loopline_cassette` (or the `loopline_cassette` fixture) replays a test's recorded
  traffic from `cassettes/<test module>/<test name>.yaml` beside the test file (or the path given to
  the marker, relative to the test file). `pytest --loopline-record` (also `--record`, unless another
  plugin or conftest defines that) records it afresh, and only when a provider key
  (`OPENAI_API_KEY` / `ANTHROPIC_API_KEY`) is set; the cassette is replaced only when the test
  passes. A test fails when its cassette holds interactions it never played, or when it sends a
  request that has no recording.
- Agents without a store of their own write to a throwaway default store (a SQLite file in a
  temporary directory, removed at the end), never to the user's own database, unless `LOOPLINE_DB`
  is set.

Loaded into every pytest session of an environment where loopline is installed, it must cost
nothing and break nothing: at import time it imports only `loopline.testing._state` (standard
library only); the guard is told what to do when loopline imports it, the HTTP-level check is put in
when an HTTP library is imported, and vcrpy is imported by the tests that use a cassette (a missing
vcrpy fails only those, saying which extra to install).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from . import _state

__all__ = [
    "allow_model_requests",
    "cassette_path",
    "loopline_cassette",
    "pytest_addoption",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "pytest_unconfigure",
]

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
"""Environment variables of which one must be set for `--loopline-record` to record real traffic."""

_INI = "loopline_block_model_requests"
_DB = "LOOPLINE_DB"
_HTTP_LIBRARIES = ("httpcore2", "httpcore")
_UNSAFE = re.compile(r'[<>:"/\\|?*]')
"""Characters a file name cannot hold on some system."""


@dataclass
class _Opened:
    cassette: Any
    path: Path
    record: bool


@dataclass
class _Session:
    block: bool
    """Whether the session blocks real model requests."""
    before: _state.Wanted
    """What was wanted of the guard before the session (sessions nest, as with pytester)."""
    db: tuple[str | None, str] | None = None
    """`LOOPLINE_DB` before the session and the temporary directory made for it, when the plugin set it."""


_SESSION = pytest.StashKey[_Session]()
_SHORT_RECORD = pytest.StashKey[bool]()
_CASSETTE = pytest.StashKey[_Opened]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--allow-model-requests`, `--loopline-record` and the ini option (`--record` comes later)."""
    group = parser.getgroup("loopline", "loopline: blocking model requests, cassettes")
    group.addoption("--allow-model-requests", action="store_true", default=False, dest="loopline_allow",
                    help="let tests reach real model providers (blocked by default)")
    group.addoption("--loopline-record", action="store_true", default=False, dest="loopline_record",
                    help="record the cassettes of @pytest.mark.loopline_cassette tests afresh, against the real "
                         "providers (needs OPENAI_API_KEY or ANTHROPIC_API_KEY)")
    parser.addini(_INI, type="bool", default=True,
                  help="block requests to real model providers in tests (default: true)")


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> Generator[None, None, None]:
    """Add the short `--record` once every plugin and the initial conftests have added their options,
    and only if none of them defines `--record` (argparse refuses an option string defined twice, and
    pytest checks that only within one group)."""
    yield
    early_config.stash[_SHORT_RECORD] = _add_short_record(parser)


def _add_short_record(parser: pytest.Parser) -> bool:
    taken = {name for group in parser._groups for option in group.options for name in option.names()}
    if "--record" in taken:
        return False
    try:
        parser.getgroup("loopline").addoption("--record", action="store_true", default=False, dest="loopline_record",
                                              help="the same as --loopline-record")
    except (ValueError, argparse.ArgumentError):  # defined somewhere the scan cannot see
        return False
    return True


def _record_flag(config: pytest.Config) -> str:
    return "--record" if config.stash.get(_SHORT_RECORD, False) else "--loopline-record"


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, switch the blocking on for the session (as configured), and point the
    default store at a throwaway file unless `LOOPLINE_DB` is set."""
    config.addinivalue_line("markers", "allow_model_requests: let this test reach real model providers")
    config.addinivalue_line("markers", "loopline_cassette(path=None): replay this test's recorded provider traffic "
                                       "(record it with --loopline-record); path is relative to the test file")
    block = bool(config.getini(_INI)) and not config.getoption("loopline_allow")
    _state.when_imported(_state.GUARD, _tell_guard)
    if block:
        for name in _HTTP_LIBRARIES:
            _state.when_imported(name, _guard_http)
    config.stash[_SESSION] = _Session(block=block, before=_want(block, _state.WANTED.test), db=_throwaway_db())


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the blocking and the default store back as they were before the session."""
    session = config.stash.get(_SESSION, None)
    if session is None:
        return
    _want(session.before.blocked, session.before.test)
    if session.db is not None:
        before, directory = session.db
        if before is None:
            os.environ.pop(_DB, None)
        else:
            os.environ[_DB] = before
        _reset_default_store()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    """Give each test the session's setting (or, marked `allow_model_requests`, requests allowed) and
    its node id for the guard's message; put both back afterwards, whatever the test changed."""
    session = item.config.stash.get(_SESSION, None)
    if session is None:
        return (yield)
    allowed = item.get_closest_marker("allow_model_requests") is not None
    before = _want(session.block and not allowed, item.nodeid)
    try:
        return (yield)
    finally:
        _want(before.blocked, before.test)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Keep each phase's report, so a recording cassette knows whether its test passed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Fail the test (not its teardown) when its replayed cassette holds interactions it never played."""
    outcome = yield
    opened = item.stash.get(_CASSETTE, None)
    if opened is not None and not opened.record:
        from ._cassette import CassetteError, check_all_played

        try:
            check_all_played(opened.cassette)
        except CassetteError as exc:
            pytest.fail(str(exc), pytrace=False)
    return outcome


@pytest.fixture
def allow_model_requests() -> Iterator[None]:
    """Let this test reach real model providers (in every thread it starts, too)."""
    before = _want(False, _state.WANTED.test)
    try:
        yield
    finally:
        _want(before.blocked, before.test)


@pytest.fixture
def loopline_cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's cassette (vcrpy's), replaying; recording afresh under `--loopline-record` with a
    provider key, kept only if the test passes."""
    from ..errors import MissingExtraError
    from ._cassette import CassetteError, discard_recording, open_cassette

    item = request.node
    path = cassette_path(item)
    record = bool(request.config.getoption("loopline_record"))
    flag = _record_flag(request.config)
    if record and not any(os.environ.get(key) for key in KEYS):
        pytest.fail(f"{flag} records real provider traffic into {path}, but neither OPENAI_API_KEY nor "
                    "ANTHROPIC_API_KEY is set: set the key of the provider the test calls, or run without "
                    f"{flag} to replay the cassette", pytrace=False)
    try:
        with open_cassette(path, record=record, note=f"recorded by {item.nodeid} with pytest {flag}") as cassette:
            item.stash[_CASSETTE] = _Opened(cassette, path, record)
            yield cassette
            if record and not _passed(item):
                discard_recording(cassette)
                item.add_report_section("teardown", "loopline", f"{path} was not re-recorded: the test did not pass")
    except (CassetteError, MissingExtraError) as exc:  # no file, no vcrpy: say so, without a traceback
        pytest.fail(str(exc), pytrace=False)
    finally:
        if _CASSETTE in item.stash:
            del item.stash[_CASSETTE]


@pytest.fixture(autouse=True)
def _loopline_cassette_marker(request: pytest.FixtureRequest) -> None:
    """Give a test marked `loopline_cassette` the fixture of that name."""
    if request.node.get_closest_marker("loopline_cassette") is not None:
        request.getfixturevalue("loopline_cassette")


def cassette_path(item: pytest.Item) -> Path:
    """Where `item`'s cassette is: the marker's path (relative to the test file), else
    `cassettes/<module>/<test name>.yaml` beside the test file."""
    here = Path(str(item.path)).parent
    marker = item.get_closest_marker("loopline_cassette")
    given = (marker.kwargs.get("path") or (marker.args[0] if marker.args else None)) if marker else None
    if given is not None:
        return here / Path(given)
    name = item.nodeid.split("::", 1)[1].replace("::", ".") if "::" in item.nodeid else item.name
    return here / "cassettes" / Path(str(item.path)).stem / f"{_UNSAFE.sub('_', name)}.yaml"


# --- telling the guard, without importing it ------------------------------------------------------------


def _want(blocked: bool, test: str | None) -> _state.Wanted:
    """Want `blocked` and `test` of the guard, telling it now if it is imported; returns what was wanted."""
    before = dataclasses.replace(_state.WANTED)
    _state.WANTED.blocked, _state.WANTED.test = blocked, test
    guard = sys.modules.get(_state.GUARD)
    if guard is not None:
        _tell_guard(guard)
    return before


def _tell_guard(guard: ModuleType) -> None:
    guard.set_requests_blocked(_state.WANTED.blocked)
    guard.set_current_test(_state.WANTED.test)


def _guard_http(library: ModuleType) -> None:
    from ._blocking import guard_library

    guard_library(library)


def _passed(item: pytest.Item) -> bool:
    reports = item.stash.get(_REPORTS, {})
    return "call" in reports and all(report.passed for report in reports.values())


# --- the default store --------------------------------------------------------------------------------


def _throwaway_db() -> tuple[str | None, str] | None:
    """Point `LOOPLINE_DB` at a file in a new temporary directory, unless the user set it."""
    before = os.environ.get(_DB)
    if before:
        return None
    directory = tempfile.mkdtemp(prefix="loopline-pytest-")
    os.environ[_DB] = os.path.join(directory, "default.db")
    _reset_default_store()
    return before, directory


def _reset_default_store() -> None:
    """Make the default store reopen from the environment on next use (if loopline's store is imported)."""
    store = sys.modules.get("loopline.store")
    if store is not None:
        store.set_default_store(None)
