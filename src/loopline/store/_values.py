"""Memory scopes, keys and values, checked in one place so every store keeps and refuses the same things.

A value is plain JSON: `None`, bools, ints, finite floats, strings, lists (a tuple is kept as a list)
and dicts with string keys. Every store keeps it as JSON text (ASCII-escaped, so any driver and
encoding takes it) and reads it back by parsing that text, so a value comes back identical, and as a
fresh copy, from each of them. What JSON cannot carry back as it was (a set, bytes, an object, a
non-string dict key that `json.dumps` would silently turn into a string, NaN, Infinity) is refused
before anything is written. This module must never touch a database.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import MemoryValueError, UsageError
from ._protocol import MEMORY_SCOPES, StoredScope

__all__ = ["decode_value", "encode_value", "memory_key", "memory_scope"]

_JSON = ("memory holds JSON values: None, bool, int, finite float, str, list or tuple (read back as a list), "
         "dict with str keys")


def memory_scope(scope: object) -> StoredScope:
    """The scope a name stands for (`session` is `execution`, `permanent` is `agent`)."""
    stored = MEMORY_SCOPES.get(scope) if isinstance(scope, str) else None
    if stored is None:
        raise UsageError(f"unknown memory scope {scope!r}; use one of {', '.join(map(repr, MEMORY_SCOPES))}")
    return stored


def memory_key(key: object) -> str:
    """`key`, if every store can keep it (a string of valid Unicode without NUL, which PostgreSQL refuses)."""
    if not isinstance(key, str):
        raise MemoryValueError(f"memory keys are strings, not {type(key).__name__} ({key!r})", key=repr(key))
    if "\x00" in key or not _encodable(key):
        raise MemoryValueError(f"memory key {key!r} holds a NUL character or an unpaired surrogate, which not every "
                               "store can keep; use another key", key=key)
    return key


def encode_value(key: str, value: Any) -> str:
    """The JSON text a store keeps for `value`; `MemoryValueError` if it is not plain JSON."""
    try:
        problem = _problem(value, "the value", set())
        if problem is None:
            return json.dumps(value, allow_nan=False)
    except (ValueError, RecursionError) as exc:  # an int too long to write, or nesting too deep
        problem = f"the value cannot be written as JSON ({exc})"
    raise MemoryValueError(f"memory key {key!r}: {problem}; {_JSON}", key=key)


def decode_value(text: str) -> Any:
    """The value `encode_value` wrote."""
    return json.loads(text)


def _problem(value: Any, where: str, open_: set[int]) -> str | None:
    """What makes `value` not plain JSON (None when nothing does); `open_` holds the containers around it."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value!r}, which JSON cannot hold"
    if not isinstance(value, (list, tuple, dict)):
        return f"{where} is {type(value).__name__} ({_short(value)})"
    if id(value) in open_:
        return f"{where} contains itself"
    open_.add(id(value))
    try:
        if isinstance(value, dict):
            return _dict_problem(value, where, open_)
        return next((p for i, item in enumerate(value) if (p := _problem(item, f"{where}[{i}]", open_))), None)
    finally:
        open_.discard(id(value))


def _dict_problem(value: dict[Any, Any], where: str, open_: set[int]) -> str | None:
    for name, item in value.items():
        if not isinstance(name, str):
            return f"{where} has a {type(name).__name__} key {name!r} (JSON keys are strings)"
        problem = _problem(item, f"{where}[{name!r}]", open_)
        if problem is not None:
            return problem
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
