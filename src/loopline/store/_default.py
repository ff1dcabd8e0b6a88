"""Which store agents use when none is given: `LOOPLINE_DB`, else a SQLite file in the user's data
directory. One store per process, so thread ids work across the agents of a process."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from ..errors import UsageError
from ._protocol import Store
from ._sqlite import SQLiteStore

__all__ = ["default_db_path", "default_store", "open_store", "set_default_store"]

_DEFAULT: Store | None = None
_PID = os.getpid()
_LOCK = threading.Lock()


def default_db_path() -> Path:
    """Where the default SQLite file lives: the platform's user data directory."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "loopline" / "loopline.db"


def open_store(location: str | os.PathLike[str]) -> Store:
    """A store for a location: a `postgresql://` URL, `:memory:`, or a SQLite file path."""
    text = os.fspath(location)
    if text.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        return SQLiteStore(text.removeprefix("sqlite:///") or ":memory:")
    if "://" in text:
        raise UsageError(f"store location {text!r} is neither a postgresql:// URL, a sqlite:/// URL nor a path")
    return SQLiteStore(text)


def default_store() -> Store:
    """The process-wide store: from `LOOPLINE_DB` (a path, `:memory:` or a `postgresql://` URL), else
    the SQLite file at `default_db_path()`. Opened on first use."""
    global _DEFAULT, _PID
    with _LOCK:
        if _DEFAULT is None or os.getpid() != _PID:  # a forked child must not share its parent's connections
            _DEFAULT, _PID = open_store(os.environ.get("LOOPLINE_DB") or default_db_path()), os.getpid()
        return _DEFAULT


def set_default_store(store: Store | None) -> None:
    """Replace the process-wide store (`None`: reopen from the environment on next use)."""
    global _DEFAULT  # noqa: PLW0603
    with _LOCK:
        _DEFAULT = store
