"""What each numeric setting of `Limits` and `RunConfig` takes, checked one way for every field.

A setting of the wrong type or out of range raises `ConfigError` naming the field, the value given and
what the field takes, when the object is made: never later, in the middle of a run. This module only
checks values; it never changes or converts one (`"2"` is refused, not read as 2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Bound", "check_bounds", "check_flag"]


@dataclass(frozen=True, slots=True)
class Bound:
    """The values one setting takes: ints (counts) or finite numbers (seconds, USD, rates), from `low` up."""

    whole: bool
    """Only ints (a count); else any finite int or float. A bool is neither."""
    low: float
    """The lowest value taken (or, with `above`, the bound it must exceed)."""
    above: bool = False
    """`low` itself is refused: the value must be greater."""
    unit: str = ""
    """What the number counts, for the message (`"seconds"`)."""
    optional: bool = True
    """`None` (no bound, or the default behaviour) is taken."""

    def allows(self, value: object) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        return value > self.low if self.above else value >= self.low

    def describe(self) -> str:
        noun = "an int" if self.whole else "a finite number"
        unit = f" of {self.unit}" if self.unit else ""
        least = f"above {self.low:g}" if self.above else f"{self.low:g} or more"
        return f"{noun}{unit}, {least}" + (", or None" if self.optional else "")


def check_bounds(owner: object, bounds: Mapping[str, Bound]) -> None:
    """Raise `ConfigError` for the first field of `owner` that its bound does not allow."""
    for name, bound in bounds.items():
        value = getattr(owner, name)
        if not bound.allows(value):
            raise ConfigError(f"{name} must be {bound.describe()}; got {value!r}")


def check_flag(owner: object, name: str) -> None:
    """Raise `ConfigError` unless the field `name` of `owner` is a bool (not 0, 1 or a string)."""
    value = getattr(owner, name)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False; got {value!r}")
