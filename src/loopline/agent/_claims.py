"""An agent's claim on its execution: taken when the execution starts or is resumed, kept alive by
one keeper thread for every agent of the process for as long as the agent holds the execution (a
long model request or tool call included), given up when the execution ends or waits for a decision.

Leases are `CLAIM_SECONDS` (15 s) long and renewed every `CLAIM_SECONDS / 3` (5 s). A process killed
on the claim's own host frees its executions at once (the store checks the holder's pid); one on
another host frees them when its lease runs out, within 15 s of its death.
"""

from __future__ import annotations

import os
import threading
import weakref
from time import monotonic, sleep
from typing import TYPE_CHECKING

from ..errors import ExecutionClaimedError
from ..loop import Execution, ExecutionMachine, ExecutionStatus
from ..store import Store
from . import _decisions

__all__ = ["KEEPER", "ClaimHolder"]


class _ClaimKeeper:
    """One daemon thread per process renews the claims of executions its agents hold. Holding and
    releasing cost a dict update. An agent that is garbage-collected stops being renewed, so a
    forgotten agent's execution is freed by its lease even while the process lives on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[int, str], tuple[weakref.ref[ClaimHolder], str]] = {}
        self._thread: threading.Thread | None = None

    def hold(self, holder: ClaimHolder, execution_id: str) -> None:
        with self._lock:
            self._held[(id(holder), execution_id)] = (weakref.ref(holder), execution_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loopline-claims", daemon=True)
                self._thread.start()

    def release(self, holder: ClaimHolder, execution_id: str) -> None:
        with self._lock:
            self._held.pop((id(holder), execution_id), None)

    def forget(self) -> None:
        """In a forked child: the parent's keeper thread was not copied, nor are its claims the child's."""
        self._lock = threading.Lock()
        self._held, self._thread = {}, None

    def _run(self) -> None:
        while True:
            sleep(_decisions.CLAIM_SECONDS / 3)
            with self._lock:
                held = list(self._held.items())
            for key, (ref, execution_id) in held:
                if not _renewed(ref, execution_id):
                    with self._lock:  # gone, or lost to another process: the next commit's fence stops it
                        if self._held.get(key, (None,))[0] is ref:
                            del self._held[key]


def _renewed(ref: weakref.ref[ClaimHolder], execution_id: str) -> bool:
    """Renew the claim of the agent `ref` points to; False once the agent is gone or has lost the claim.
    (A function of its own, so the keeper thread holds no agent between rounds.)"""
    holder = ref()
    if holder is None:
        return False
    try:
        return holder.store.claim_execution(execution_id, owner=holder._owner, lease_seconds=_decisions.CLAIM_SECONDS)
    except Exception:  # a store that fails now may answer next time; the lease covers two misses
        return True


KEEPER = _ClaimKeeper()
"""The process's claim keeper."""
if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=KEEPER.forget)


class ClaimHolder:
    """The claim-keeping half of `Agent`."""

    if TYPE_CHECKING:
        store: Store
        _owner: str
        _claimed_at: float | None

        def _require_machine(self) -> ExecutionMachine: ...

    def _keep_claim(self, execution: Execution) -> None:
        """Hold this process's claim on the execution while it runs; give it up once it has ended or
        is PAUSED (waiting for a decision that any process may make: `resume` it there, no lease to wait out)."""
        if not _needs_claim(execution):
            if self._claimed_at is not None:
                KEEPER.release(self, execution.id)
                self.store.release_execution(execution.id, owner=self._owner)
                self._claimed_at = None
            return
        if self._claimed_at is None:
            self._renew_claim(execution.id)
        KEEPER.hold(self, execution.id)

    def _claim_to_take(self, trial: ExecutionMachine) -> float | None:
        """The lease to take with the commit of `trial` when it makes the execution run again without a
        claim (a decision on a PAUSED one): in the same transaction, so that no other process sees it
        RUNNING and unclaimed, and takes it for abandoned."""
        return _decisions.CLAIM_SECONDS if self._claimed_at is None and _needs_claim(trial.execution) else None

    def _renew_claim(self, execution_id: str) -> None:
        if not self.store.claim_execution(execution_id, owner=self._owner, lease_seconds=_decisions.CLAIM_SECONDS):
            raise ExecutionClaimedError(f"execution {execution_id} was taken over by another process (this one's "
                                        "claim lapsed); stop here", execution_id=execution_id)
        self._claimed_at = monotonic()


def _needs_claim(execution: Execution) -> bool:
    """Whether a process is at work on the execution: it runs, or calls of it still run."""
    waiting = execution.is_finished or execution.status is ExecutionStatus.PAUSED
    return not waiting or bool(execution.running_tool_calls)
