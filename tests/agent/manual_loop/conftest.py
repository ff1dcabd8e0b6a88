"""Fixtures of the manual-loop tests (test_loop_*): a store of their own, a frozen clock, and the slow
tool's release."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from loop_helpers import RELEASE_SLOW, FrozenClock

from loopline import InMemoryStore
from loopline.agent import _state as state_module


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(time.time())
    monkeypatch.setattr(state_module, "time", frozen)
    return frozen


@pytest.fixture
def release_slow_tool() -> Iterator[None]:
    RELEASE_SLOW.clear()
    yield
    RELEASE_SLOW.set()  # lets a timed-out call's thread end now instead of after its own wait
