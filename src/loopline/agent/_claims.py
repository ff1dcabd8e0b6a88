"""A process's claim on an execution it runs: taken when the execution starts or is resumed, kept alive
by one keeper thread for every execution of the process for as long as its `ExecutionState` lives (a
long model request or tool call included), given up when the execution ends or waits for a decision.

Leases are `CLAIM_SECONDS` (15 s) long and renewed every `CLAIM_SECONDS / 3` (5 s). A process killed
on the claim's own host frees its executions at once (the store checks the holder's pid); one on
another host frees them when its lease runs out, within 15 s of its death.
"""

from __future__ import annotations

import os
import threading
import weakref
from time import sleep
from typing import Protocol

from ..store import Store, process_owner

__all__ = ["CLAIM_SECONDS", "KEEPER", "ClaimHolder", "ProcessOwner", "claim"]

CLAIM_SECONDS = 15.0
"""How long an agent's claim on its execution lasts without renewal. The process's claim keeper renews
it every `CLAIM_SECONDS / 3` (5 s) for as long as the agent holds the execution, so a process that died
on another host frees its executions within 15 s; on the same host, its pid shows it is gone at once."""


class ClaimHolder(Protocol):
    """What holds a claim: the store it is in and the owner it names (an `ExecutionState`)."""

    @property
    def store(self) -> Store: ...

    @property
    def owner(self) -> str: ...


class ProcessOwner:
    """An agent's name for its claims, always naming the process that uses it (`process_owner(tag)`).

    An agent made before a fork (a module-level agent in a prefork worker pool) is used by each forked
    child: a name fixed when it was made would give the parent's pid to a child's claims, so that a
    third process takes the live child's execution for its dead parent's, and siblings would share one
    name (and could take each other's executions as their own). The name is derived again whenever the
    pid has changed; the tag keeps two agents of one process apart.
    """

    def __init__(self, tag: str) -> None:
        self._tag = tag
        self._pid = -1
        self._name = ""

    def __str__(self) -> str:
        pid = os.getpid()
        if pid != self._pid:  # first use, or a forked child: two threads racing here compute the same name
            self._name, self._pid = process_owner(self._tag), pid
        return self._name


def claim(store: Store, execution_id: str, owner: str, *, force: bool = False) -> bool:
    """Take (or renew) `owner`'s claim on an execution for one lease; False if a live process holds it."""
    return store.claim_execution(execution_id, owner=owner, lease_seconds=CLAIM_SECONDS, force=force)


class _ClaimKeeper:
    """One daemon thread per process renews the claims of executions its agents hold. Holding and
    releasing cost a dict update. A state that is garbage-collected (with the agent that held it) stops
    being renewed, so a forgotten agent's execution is freed by its lease even while the process lives on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[tuple[int, str], tuple[weakref.ref[ClaimHolder], str]] = {}
        self._thread: threading.Thread | None = None

    def hold(self, holder: ClaimHolder, execution_id: str) -> None:
        held = self._held.get((id(holder), execution_id))  # every step holds: most often it is held already
        if held is not None and held[0]() is holder:
            return
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
            sleep(CLAIM_SECONDS / 3)
            with self._lock:
                held = list(self._held.items())
            for key, (ref, execution_id) in held:
                if not _renewed(ref, execution_id):
                    with self._lock:  # gone, or lost to another process: the next commit's fence stops it
                        if self._held.get(key, (None,))[0] is ref:
                            del self._held[key]


def _renewed(ref: weakref.ref[ClaimHolder], execution_id: str) -> bool:
    """Renew the claim of what `ref` points to; False once it is gone or has lost the claim.
    (A function of its own, so the keeper thread holds no execution between rounds.)"""
    holder = ref()
    if holder is None:
        return False
    try:
        return claim(holder.store, execution_id, holder.owner)
    except Exception:  # a store that fails now may answer next time; the lease covers two misses
        return True


KEEPER = _ClaimKeeper()
"""The process's claim keeper."""
if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=KEEPER.forget)

