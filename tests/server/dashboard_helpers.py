"""What the dashboard's browser test runs: real server and worker processes on one database, and Debian's
Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Page

from loopline.tasks import Tasks, live_workers

TESTS = Path(__file__).parent.parent
WORKER_APP = TESTS / "workers" / "worker_app.py"
"""The workers' tests' app: the agent `researcher`, a scripted model and a `lookup` tool that a prompt
with `slow=S` makes take S seconds (and one with `until=PATH` wait for that file)."""

KEY = re.compile(r"ll_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def chromium() -> str:
    """The browser's executable (`LOOPLINE_CHROMIUM`, which ./tools/test sets, else `chromium` on PATH);
    skips the test without one, except under CI, where the browser test must run."""
    path = os.environ.get("LOOPLINE_CHROMIUM") or shutil.which("chromium")
    if path and os.access(path, os.X_OK):
        return path
    why = ("no Chromium for the dashboard's browser test: run ./tools/test as root (it installs Debian's "
           "chromium), 'apt-get install chromium', or set LOOPLINE_CHROMIUM to a Chromium executable")
    if os.environ.get("CI"):
        pytest.fail(why + " (under CI the browser test fails instead of skipping)")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db: str, log: Path, *, port: int | None = None,
                 timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str]:
    """`loopline serve` on `db` (on `port`, else a free one), once it answers `/v1/health`; and its URL."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    out = open(log, "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([sys.executable, "-m", "loopline.cli", "serve", "--db", db, "--host", "127.0.0.1",
                             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it answered; see {log}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(base_url + "/v1/health", timeout=2).status_code == 200:
                return proc, base_url
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server did not answer within {timeout} s; see {log}")


def start_worker(db: str, log: Path, *, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """`loopline worker` serving `WORKER_APP`'s agents on `db`, once its heartbeat is in the database."""
    out = open(log, "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen([sys.executable, "-m", "loopline.cli", "worker", f"{WORKER_APP}:agents", "--db", db],
                            stdout=out, stderr=subprocess.STDOUT)
    tasks = Tasks(db)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode} before it started; see {log}")
            if live_workers(tasks.table):
                time.sleep(0.3)  # its queues are registered right after the first heartbeat
                return proc
            time.sleep(0.1)
    finally:
        tasks.store.close()
    proc.kill()
    raise RuntimeError(f"the worker did not start within {timeout} s; see {log}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def create_key(db: str, org: str) -> str:
    """A new API key of `org` (`loopline keys create`)."""
    done = subprocess.run([sys.executable, "-m", "loopline.cli", "--db", db, "keys", "create", "--org", org],
                          capture_output=True, text=True, timeout=60, check=True)
    found = KEY.search(done.stdout)
    assert found, f"no key in the output of `loopline keys create`: {done.stdout!r} {done.stderr!r}"
    return found.group(0)


@contextlib.contextmanager
def screenshot_on_failure(page: Page, path: Path) -> Iterator[None]:
    """On a failure inside, a screenshot of `page` (and its DOM beside it) at `path`, named in the error."""
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        try:
            page.screenshot(path=str(path), full_page=True)
            path.with_suffix(".html").write_text(page.content())
            saved = f"screenshot of the page: {path} (its DOM: {path.with_suffix('.html')})"
        except Exception as shot:  # the page itself may be what broke
            saved = f"no screenshot ({type(shot).__name__}: {shot})"
        raise AssertionError(f"{type(exc).__name__}: {exc}\n{saved}") from exc
