"""Keeping an execution's claim alive while its tools run, for every agent of the process."""

from __future__ import annotations

import contextlib
import threading
from time import sleep

from ..store import Store
from ._decisions import CLAIM_SECONDS

__all__ = ["KEEPER"]


class _ClaimKeeper:
    """One daemon thread per process renews the claims of executions whose tools are running, so a
    tool that outlives a lease does not lose its execution. Holding and releasing cost a dict update."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[int, str], tuple[Store, str, str]] = {}
        self._thread: threading.Thread | None = None

    def hold(self, key: tuple[int, str], store: Store, execution_id: str, owner: str) -> None:
        with self._lock:
            self._held[key] = (store, execution_id, owner)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loopline-claims", daemon=True)
                self._thread.start()

    def release(self, key: tuple[int, str]) -> None:
        with self._lock:
            self._held.pop(key, None)

    def _run(self) -> None:
        while True:
            sleep(CLAIM_SECONDS / 3)
            with self._lock:
                held = list(self._held.values())
            for store, execution_id, owner in held:
                with contextlib.suppress(Exception):  # a lost claim is caught by the next commit's fence
                    store.claim_execution(execution_id, owner=owner, lease_seconds=CLAIM_SECONDS)


KEEPER = _ClaimKeeper()
"""The process's claim keeper."""
