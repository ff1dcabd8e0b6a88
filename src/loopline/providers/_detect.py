"""Recognising which wire API a dict came from, to route it and to name the mistake when formats mix.

Each wire API's package says what its own formats look like (its `detect.py`); this module tries them
in the registry's order, then the error body every API shares.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeAlias

__all__ = ["ERROR_BODY", "Format", "describe_format"]

Format: TypeAlias = tuple[str, Callable[[dict[str, Any]], bool]]
"""A format's human name and the test of whether a dict looks like it."""

ERROR_BODY = "a provider error body"


def describe_format(data: Any) -> str | None:
    """A human name for the wire format `data` looks like, or `None` when it looks like none."""
    if not isinstance(data, dict):
        return None
    return next((name for name, looks_like in _formats() if looks_like(data)), None)


@cache
def _formats() -> tuple[Format, ...]:
    """Every wire API's formats in the registry's order, then the error body (tried last: a stream
    event of an error also carries `error`)."""
    from ._registry import REGISTRY  # the registry imports the adapters, which import this module

    return (*(f for api in REGISTRY for f in api.formats), (ERROR_BODY, lambda d: bool(d.get("error"))))
