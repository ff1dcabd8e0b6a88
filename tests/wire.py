"""The recorded provider traffic (the wire corpus) for tests: where it is, and one file of it.

The corpus is test data in the repository, `tests/wire/`, unless `LOOPLINE_WIRE_DIR` names another
copy. A missing corpus makes the tests that use it FAIL with a message saying where it was looked for;
setting `LOOPLINE_WIRE_DIR` to an empty string skips them. See `tests/wire/README.md` for the fields of
a file and where each one came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ENV_VAR", "MissingCorpus", "WireFile", "corpus_dir", "load", "pairs", "params"]

ENV_VAR = "LOOPLINE_WIRE_DIR"
DEFAULT_DIR = Path(__file__).resolve().parent / "wire"


@dataclass(frozen=True)
class WireFile:
    """One recorded exchange: a request body and the response (or SSE payloads) it got."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def api(self) -> str:
        return f"{self.data['provider']}/{self.data['api']}"

    @property
    def stream(self) -> bool:
        return bool(self.data["stream"])

    @property
    def tags(self) -> list[str]:
        return list(self.data.get("tags") or [])

    @property
    def is_error(self) -> bool:
        return "http_error" in self.tags

    @property
    def request(self) -> dict[str, Any]:
        return dict(self.data["request"])

    @property
    def response(self) -> Any:
        return self.data["response"]

    @property
    def derived_tool_calls(self) -> list[dict[str, Any]]:
        return list(self.data.get("derived_tool_calls") or [])

    @property
    def source(self) -> str:
        return str(self.data["source"])

    @property
    def interaction_index(self) -> int:
        return int(self.data["interaction_index"])


class MissingCorpus:
    """Stands in for a `WireFile` when the corpus is missing: touching it fails the test."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        pytest.fail(self.message, pytrace=False)

    def __iter__(self) -> Iterator[Any]:  # for tests that unpack a pair
        pytest.fail(self.message, pytrace=False)


def _configured_dir() -> Path | None:
    """The corpus directory, or `None` when `LOOPLINE_WIRE_DIR` is set to an empty string."""
    value = os.environ.get(ENV_VAR)
    if value == "":
        return None
    return Path(value) if value is not None else DEFAULT_DIR


def _problem(api: str) -> str | None:
    """Why the corpus of `api` (e.g. "openai/chat.completions") cannot be used, or `None`."""
    root = _configured_dir()
    assert root is not None
    folder = root / api
    if not folder.is_dir() or not any(folder.glob("*.json")):
        how = f"{ENV_VAR}={os.environ[ENV_VAR]!r}" if ENV_VAR in os.environ else f"the default, as {ENV_VAR} is unset"
        return (f"wire corpus not found: no *.json files in {folder} ({how}). The corpus ships in the "
                f"repository as {DEFAULT_DIR}: restore it (git checkout -- tests/wire), point {ENV_VAR} at a "
                f"copy, or set {ENV_VAR}= (empty) to skip these tests.")
    return None


@cache
def _read(path: Path) -> WireFile:
    return WireFile(path=path, data=json.loads(path.read_text(encoding="utf-8")))


def corpus_dir() -> Path:
    """The corpus root; at run time only (skips or fails the running test when it is unusable)."""
    root = _configured_dir()
    if root is None:
        pytest.skip(f"{ENV_VAR} is set to an empty string: wire corpus tests are disabled")
    return root


def load(api: str) -> list[WireFile]:
    """Every file of `api`, sorted by name; at run time only (fails the test when the corpus is missing)."""
    root = corpus_dir()
    problem = _problem(api)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return [_read(p) for p in sorted((root / api).glob("*.json"))]


def _unusable(api: str, arity: int) -> list[Any] | None:
    """The single stand-in parameter when the corpus cannot be used, else `None`."""
    if _configured_dir() is None:
        reason = f"{ENV_VAR} is set to an empty string: wire corpus tests are disabled"
        return [pytest.param(*[None] * arity, id=f"{api}:disabled", marks=pytest.mark.skip(reason=reason))]
    problem = _problem(api)
    if problem is not None:
        return [pytest.param(*[MissingCorpus(problem)] * arity, id=f"{api}:corpus-missing")]
    return None


def params(api: str, select: Callable[[WireFile], bool] | None = None, *, prefix_ids: bool = False) -> list[Any]:
    """`pytest.param`s (id = file name) of the files of `api` that `select` accepts, for `parametrize`.

    When the corpus is missing there is one parameter whose use fails the test with the reason; when
    the corpus is disabled, one skipped parameter.
    """
    stand_in = _unusable(api, 1)
    if stand_in is not None:
        return stand_in
    root = _configured_dir()
    assert root is not None
    files = [_read(p) for p in sorted((root / api).glob("*.json"))]
    return [pytest.param(w, id=f"{api}/{w.name}" if prefix_ids else w.name)
            for w in files if select is None or select(w)]


def pairs(api: str, select: Callable[[WireFile, WireFile], bool] | None = None) -> list[Any]:
    """`pytest.param`s of consecutive exchanges (interaction n and n+1 of one cassette), id "a+b"."""
    stand_in = _unusable(api, 1)
    if stand_in is not None:
        return stand_in
    root = _configured_dir()
    assert root is not None
    files = [_read(p) for p in sorted((root / api).glob("*.json"))]
    by_key = {(w.source, w.interaction_index): w for w in files}
    out = []
    for first in files:
        second = by_key.get((first.source, first.interaction_index + 1))
        if second is not None and (select is None or select(first, second)):
            out.append(pytest.param((first, second), id=f"{first.name}+{second.name}"))
    return out
