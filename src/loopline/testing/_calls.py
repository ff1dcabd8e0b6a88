"""`call(name, **arguments)`: one tool call, as a test writes it, to script a reply or to expect one.

The same value is used both ways, so a test reads the same on the way in and on the way out:
`reply(call("get_weather", city="Oslo"))` makes the model ask for it, and
`assert_tool_calls(result, [call("get_weather", city="Oslo")])` checks that it was asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

__all__ = ["Call", "call", "format_arguments"]


@dataclass(frozen=True)
class Call:
    """A tool call by name, with its arguments; `arguments` is `None` when any arguments will do."""

    name: str
    """The tool's name."""
    arguments: dict[str, Any] | None = field(default=None)
    """The arguments (compared with `==`, so `unittest.mock.ANY` matches anything); `None`: any."""

    def __str__(self) -> str:
        return f"{self.name}({format_arguments(self.arguments)})"


def call(name: str, arguments: dict[str, Any] | None = None, /, **kwargs: Any) -> Call:
    """A tool call: `call("get_weather", city="Oslo")`, or `call("f", {"from": 1})` for arguments
    that are not Python names. `call("finish")` (no arguments at all) matches a call with any
    arguments; `call("ping", {})` only one with none."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"call() needs a tool name (a non-empty string), got {name!r}")
    if arguments is not None and not isinstance(arguments, dict):
        raise UsageError(f"call({name!r}, ...): arguments go as a dict or as keywords, got {type(arguments).__name__}")
    if arguments is not None and kwargs:
        raise UsageError(f"call({name!r}, ...): give the arguments as a dict or as keywords, not both")
    merged = dict(arguments) if arguments is not None else (dict(kwargs) if kwargs else None)
    return Call(name, merged)


def format_arguments(arguments: Any) -> str:
    """Arguments as they read in a call, `city="Oslo", days=2`; `...` for any; raw text as it came."""
    if arguments is None:
        return "..."
    if not isinstance(arguments, dict):
        return repr(arguments)
    return ", ".join(f"{key}={_value(value)}" for key, value in arguments.items())


def _value(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)  # a matcher such as unittest.mock.ANY
