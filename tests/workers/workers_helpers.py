"""Starting and stopping real worker processes for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loopline.tasks import Tasks, live_workers

HERE = Path(__file__).parent

WorkerStarter = Callable[..., "subprocess.Popen[bytes]"]
"""What the `workers` fixture is: starts a worker process (`start_worker`'s arguments), stopped after the test."""


def start_worker(db: str, *args: str, env: dict[str, str] | None = None, timeout: float = 30.0,
                 log: Path | None = None, script: Path = HERE / "run_worker.py") -> subprocess.Popen[bytes]:
    """A worker process on `db` (run_worker.py, or `script`, with `args`), returned once its heartbeat is
    in the database."""
    tasks = Tasks(db)
    try:
        return _started(tasks, db, args, env=env, timeout=timeout, log=log, script=script)
    finally:
        tasks.store.close()  # its connections (PostgreSQL) are not left to the garbage collector


def _started(tasks: Tasks, db: str, args: tuple[str, ...], *, env: dict[str, str] | None, timeout: float,
             log: Path | None, script: Path) -> subprocess.Popen[bytes]:
    before = {(w["id"], w.get("pid")) for w in live_workers(tasks.table)}  # a restart keeps the id, not the pid
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([sys.executable, str(script), db, *args],
                            env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode} before it started" +
                               (f"; see {log}" if log else ""))
        if {(w["id"], w.get("pid")) for w in live_workers(tasks.table)} - before:
            time.sleep(0.3)  # its queues are registered right after the first heartbeat
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"worker did not start within {timeout} s")

def stop_worker(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
    """Signal the worker and wait for it to exit; its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
