"""An agent's claim on its execution: taken while it works, renewed while its tools run (by one keeper
thread for every agent of the process), given up when the execution ends or waits for a decision."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from time import monotonic, sleep
from typing import TYPE_CHECKING

from ..errors import ExecutionClaimedError
from ..loop import Execution, ExecutionMachine, ExecutionStatus
from ..store import Store
from ._decisions import CLAIM_SECONDS

__all__ = ["KEEPER", "ClaimHolder"]


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


class ClaimHolder:
    """The claim-keeping half of `Agent`."""

    if TYPE_CHECKING:
        store: Store
        _owner: str
        _claimed_at: float | None

        def _require_machine(self) -> ExecutionMachine: ...

    def _keep_claim(self, execution: Execution) -> None:
        """Renew this process's claim on the execution while it runs; give it up once it has ended or
        is PAUSED (waiting for a decision that any process may make: `resume` it there, no lease to wait out)."""
        if (execution.is_finished or execution.status is ExecutionStatus.PAUSED) and not execution.running_tool_calls:
            if self._claimed_at is not None:
                self.store.release_execution(execution.id, owner=self._owner)
                self._claimed_at = None
        elif self._claimed_at is None or monotonic() - self._claimed_at > CLAIM_SECONDS / 3:
            self._renew_claim(execution.id)

    def _renew_claim(self, execution_id: str) -> None:
        if not self.store.claim_execution(execution_id, owner=self._owner, lease_seconds=CLAIM_SECONDS):
            raise ExecutionClaimedError(f"execution {execution_id} was taken over by another process (this one's "
                                        "claim lapsed); stop here", execution_id=execution_id)
        self._claimed_at = monotonic()

    @contextlib.contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """Keep renewing the claim while tools run (they may take longer than a lease)."""
        key = (id(self), self._require_machine().execution.id)
        KEEPER.hold(key, self.store, key[1], self._owner)
        try:
            yield
        finally:
            KEEPER.release(key)
