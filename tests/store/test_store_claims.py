"""Claims name their process: on this host a claim whose process is gone (or whose pid now belongs to
a later process) is void at once, whoever asks; a claim from another host holds until its lease runs
out; a new execution can be committed already claimed, in the same transaction."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from store_helpers import new_execution

from loopline import ExecutionStatus
from loopline.errors import ExecutionClaimedError
from loopline.store import Store, process_owner

HOST = process_owner("any").split(":")[0]
"""This host as owners name it."""


def _finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(30)
    return child.pid


def _claimed(store: Store, owner: str, lease: float = 60.0) -> str:
    execution = new_execution(store.create_thread())
    store.commit(execution)
    assert store.claim_execution(execution.id, owner=owner, lease_seconds=lease) is True
    return execution.id


def test_a_live_process_keeps_its_claim(store: Store) -> None:
    execution_id = _claimed(store, process_owner("first"))
    assert store.claim_execution(execution_id, owner=process_owner("second")) is False


def test_the_claim_of_a_process_that_exited_is_void_at_once(store: Store) -> None:
    execution_id = _claimed(store, f"{HOST}:{_finished_pid()}::gone")
    assert store.claim_execution(execution_id, owner=process_owner("next")) is True


def test_a_reused_pid_does_not_keep_a_dead_processs_claim(store: Store) -> None:
    # This process's own pid, with a start time it does not have: an earlier process that had the pid.
    execution_id = _claimed(store, f"{HOST}:{os.getpid()}:1:earlier")
    assert store.claim_execution(execution_id, owner=process_owner("next")) is True


def test_a_claim_from_another_host_holds_until_its_lease_runs_out(store: Store) -> None:
    execution_id = _claimed(store, f"elsewhere.invalid:{_finished_pid()}:1:remote", lease=0.3)
    assert store.claim_execution(execution_id, owner=process_owner("here")) is False
    time.sleep(0.4)
    assert store.claim_execution(execution_id, owner=process_owner("here")) is True


def test_a_dead_holder_does_not_fence_writers_out(store: Store) -> None:
    execution_id = _claimed(store, f"{HOST}:{_finished_pid()}::gone")
    execution = store.get_execution(execution_id)
    store.commit(execution, owner=process_owner("writer"))  # no ExecutionClaimedError
    assert store.claim_execution(execution_id, owner=process_owner("other")) is True


def test_commit_can_claim_the_execution_it_saves(store: Store) -> None:
    execution = new_execution(store.create_thread())
    owner = process_owner("starter")
    store.commit(execution, owner=owner, claim_seconds=60.0)
    assert store.claim_execution(execution.id, owner=process_owner("other")) is False
    with pytest.raises(ExecutionClaimedError):
        store.commit(execution, owner=process_owner("other"))
    store.release_execution(execution.id, owner=owner)
    assert store.claim_execution(execution.id, owner=process_owner("other")) is True


def test_a_writer_never_reopens_an_execution_another_process_ended(store: Store) -> None:
    execution = new_execution(store.create_thread(), status=ExecutionStatus.RUNNING)
    writer = process_owner("writer")
    store.commit(execution, owner=writer, claim_seconds=60.0)
    ended = store.get_execution(execution.id)
    ended.set_status(ExecutionStatus.CANCELLED, time.time())
    canceller = process_owner("canceller")
    assert store.claim_execution(execution.id, owner=canceller, force=True) is True  # as `cancel --force` does
    store.commit(ended, owner=canceller)
    store.release_execution(execution.id, owner=canceller)
    with pytest.raises(ExecutionClaimedError, match="was ended \\(CANCELLED\\) by another process"):
        store.commit(execution, owner=writer)  # the writer's stale RUNNING state
    assert store.get_execution(execution.id).status is ExecutionStatus.CANCELLED
    store.commit(ended, owner=writer)  # what agrees with the end goes through (late tool results)
