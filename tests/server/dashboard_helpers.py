"""What the dashboard's browser test needs beyond the server tests' processes (server_helpers): Debian's
Chromium, and a screenshot of the page when a check fails."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page


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


@contextlib.contextmanager
def screenshot_on_failure(page: Page, path: Path) -> Iterator[None]:
    """On a failure inside, a screenshot of `page` (and its DOM beside it) at `path`, named in the error."""
    try:
        yield
    except Exception as exc:
        try:
            page.screenshot(path=str(path), full_page=True)
            path.with_suffix(".html").write_text(page.content())
            saved = f"screenshot of the page: {path} (its DOM: {path.with_suffix('.html')})"
        except Exception as shot:  # the page itself may be what broke
            saved = f"no screenshot ({type(shot).__name__}: {shot})"
        raise AssertionError(f"{type(exc).__name__}: {exc}\n{saved}") from exc
