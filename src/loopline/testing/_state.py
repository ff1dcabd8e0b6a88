"""What the pytest plugin wants of the request guard, and a way to act when a module is first imported.

The pytest plugin is loaded into every pytest session of an environment where loopline is installed,
so it must cost nothing and fail on nothing at start-up: it imports only this module, which imports
nothing but the standard library. The plugin writes here what it wants (requests blocked or not, the
test running now); the request guard (`loopline.providers._guard`) is told as soon as it is imported,
and the HTTP-level check is put into `httpcore2` / `httpcore` as soon as one of them is imported, so
nothing of loopline, the SDKs or the HTTP libraries is imported before the code under test does.

This module must never import anything outside the standard library.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["GUARD", "Wanted", "WANTED", "when_imported"]

GUARD = "loopline.providers._guard"
"""The module that holds the request switch model objects ask."""


@dataclass
class Wanted:
    """What the plugin wants of the guard now; told to the guard when it is (or once it is) imported."""

    blocked: bool = False
    """Whether real model requests are blocked (the guard's process-wide setting)."""
    test: str | None = None
    """The node id of the test running now, for the guard's error message."""


WANTED = Wanted()

_LOCK = threading.RLock()
_WAITING: dict[str, list[Callable[[ModuleType], None]]] = {}
_SEARCHING = threading.local()


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call `callback(module)` once module `name` is imported: now if it is, else right after its
    first import. A callback that fails is reported as a warning; the import itself never fails."""
    with _LOCK:
        module = sys.modules.get(name)
        if module is None:
            waiting = _WAITING.setdefault(name, [])
            if callback not in waiting:
                waiting.append(callback)
            if not any(isinstance(finder, _Watcher) for finder in sys.meta_path):
                sys.meta_path.insert(0, _Watcher())
            return
    _call(callback, module, name)


def _call(callback: Callable[[ModuleType], None], module: ModuleType, name: str) -> None:
    try:
        callback(module)
    except Exception as exc:  # never break an import, not even of an unrelated suite
        warnings.warn(f"loopline could not set up its request guard on importing {name}: "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)


def _imported(name: str, module: ModuleType) -> None:
    with _LOCK:
        callbacks = _WAITING.pop(name, [])
    for callback in callbacks:
        _call(callback, module, name)


class _Watcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a watched module it asks the other finders and wraps their loader."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        searching: set[str] = _SEARCHING.__dict__.setdefault("names", set())
        if fullname not in _WAITING or fullname in searching:
            return None
        searching.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            searching.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


class _Loader(importlib.abc.Loader):
    """The real loader, plus the callbacks waiting for the module once it has run."""

    def __init__(self, loader: Any, name: str) -> None:
        self.loader, self.name = loader, name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:  # the module keeps its own loader (resources, reloads, source)
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        _imported(self.name, sys.modules.get(self.name, module))
