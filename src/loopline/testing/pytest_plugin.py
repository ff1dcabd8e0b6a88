"""loopline's pytest plugin, registered through the `pytest11` entry point when loopline is installed.

It makes a test suite safe and repeatable by default:

- Real model requests are blocked in every test (turn it off with `--allow-model-requests` or the
  ini option `loopline_block_model_requests = false`); a test that means to reach a provider takes
  the `allow_model_requests` fixture or the `@pytest.mark.allow_model_requests` marker. A blocked
  request raises `ModelRequestBlockedError` naming the test.
- `@pytest.mark.loopline_cassette` (or the `loopline_cassette` fixture) replays a test's recorded
  traffic from `cassettes/<test module>/<test name>.yaml` beside the test file (or the path given to
  the marker, relative to the test file). `pytest --record` records it afresh, and only when a
  provider key (`OPENAI_API_KEY` / `ANTHROPIC_API_KEY`) is set. A test fails when its cassette
  holds interactions it never played, or when it sends a request that has no recording.

Loaded into every pytest session of an environment where loopline is installed, it must cost
nothing and break nothing: it imports no SDK, no HTTP library and not vcrpy at import time, and a
missing vcrpy only fails the tests that use a cassette, saying which extra to install.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..providers import _guard

__all__ = [
    "allow_model_requests",
    "cassette_path",
    "loopline_cassette",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_protocol",
    "pytest_unconfigure",
]

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
"""Environment variables of which one must be set for `--record` to record real traffic."""

_INI = "loopline_block_model_requests"
_UNSAFE = re.compile(r'[<>:"/\\|?*]')
"""Characters a file name cannot hold on some system."""


@dataclass
class _Opened:
    cassette: Any
    path: Path
    record: bool


_PREVIOUS = pytest.StashKey[bool]()
_CASSETTE = pytest.StashKey[_Opened]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--allow-model-requests`, `--record` (also `--loopline-record`) and the ini option."""
    group = parser.getgroup("loopline", "loopline: blocking model requests, cassettes")
    group.addoption("--allow-model-requests", action="store_true", default=False, dest="loopline_allow",
                    help="let tests reach real model providers (blocked by default)")
    help_record = ("record the cassettes of @pytest.mark.loopline_cassette tests afresh, against the real "
                   "providers (needs OPENAI_API_KEY or ANTHROPIC_API_KEY)")
    try:
        group.addoption("--loopline-record", "--record", action="store_true", default=False, dest="loopline_record",
                        help=help_record)
    except (ValueError, argparse.ArgumentError):  # another plugin owns --record: keep only the long name
        group.addoption("--loopline-record", action="store_true", default=False, dest="loopline_record",
                        help=help_record)
    parser.addini(_INI, type="bool", default=True,
                  help="block requests to real model providers in tests (default: true)")


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and switch the blocking on for the session (as configured)."""
    config.addinivalue_line("markers", "allow_model_requests: let this test reach real model providers")
    config.addinivalue_line("markers", "loopline_cassette(path=None): replay this test's recorded provider traffic "
                                       "(record it with --record); path is relative to the test file")
    block = bool(config.getini(_INI)) and not config.getoption("loopline_allow")
    if block:
        from ._blocking import install_http_guard

        install_http_guard()
    config.stash[_PREVIOUS] = _guard.set_requests_blocked(block)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put the blocking back as it was before the session (sessions can nest, as with pytester)."""
    if _PREVIOUS in config.stash:
        _guard.set_requests_blocked(config.stash[_PREVIOUS])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    """Tell the guard which test runs (for its error message); honour `allow_model_requests` marks."""
    previous = _guard.set_current_test(item.nodeid)
    allowed = item.get_closest_marker("allow_model_requests") is not None
    try:
        with _guard.overriding(False) if allowed else contextlib.nullcontext():
            return (yield)
    finally:
        _guard.set_current_test(previous)


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
    """Let this test reach real model providers."""
    from ._blocking import allow_model_requests as allowing

    with allowing():
        yield


@pytest.fixture
def loopline_cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's cassette (vcrpy's), replaying; recording afresh under `--record` with a provider key."""
    from ..errors import MissingExtraError
    from ._cassette import CassetteError, open_cassette

    item = request.node
    path = cassette_path(item)
    record = bool(request.config.getoption("loopline_record"))
    if record and not any(os.environ.get(key) for key in KEYS):
        pytest.fail(f"--record records real provider traffic into {path}, but neither OPENAI_API_KEY nor "
                    "ANTHROPIC_API_KEY is set: set the key of the provider the test calls, or run without "
                    "--record to replay the cassette", pytrace=False)
    note = f"recorded by {item.nodeid} with pytest --record"
    try:
        with open_cassette(path, record=record, note=note) as cassette:
            item.stash[_CASSETTE] = _Opened(cassette, path, record)
            yield cassette
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
