"""Every `RunConfig` field refuses a value of the wrong type or out of range in one way: `ConfigError`
(a `UsageError` and a `ValueError`) whose message names the field, the value and what it takes."""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any

import pytest

from loopline import RunConfig
from loopline.context import ContextPolicy
from loopline.errors import ConfigError, UsageError
from loopline.loop import Limits

NAN, INF = math.nan, math.inf

BAD: dict[str, list[Any]] = {  # field: values it refuses
    "max_steps": [0, -1, 1.5, 2.0, "5", True, NAN],
    "max_duration": [0, -1, "2", NAN, INF, True, [1]],
    "max_total_tokens": [0, -5, 10.5, "100", False],
    "max_cost_usd": [0, -0.5, "1", NAN, INF, True],
    "max_tool_calls": [0, 2.5, "3", True],
    "max_finish_reminders": [-1, 1.5, "2", None, True],
    "final_turn": [1, 0, "yes", None],
    "tool_timeout": [0, -1, "2", NAN, INF, True],
    "parallel_tool_calls": [1, "no", None],
    "max_retries": [-1, 1.5, "2", True, NAN],
    "retry_delay_seconds": [-1, "2", NAN, INF, True, b"1"],
    "request_timeout": [0, -1, "30", NAN, INF, False],
    "requests_per_second": [0, -2, "1", NAN, INF, True],
    "max_concurrent_requests": [0, 1.5, "4", True],
    "context": [None, {}, "auto"],
}
CASES = [(name, value) for name, values in BAD.items() for value in values]


def test_every_field_is_covered() -> None:
    assert set(BAD) == {f.name for f in dataclasses.fields(RunConfig)}


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_a_bad_value_raises_config_error_naming_field_value_and_what_it_takes(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert isinstance(info.value, UsageError) and isinstance(info.value, ValueError)
    message = str(info.value)
    assert message.startswith(f"{field} must be ") and repr(value) in message


@pytest.mark.parametrize("good", [
    {"max_steps": None, "max_duration": 1, "max_cost_usd": 0.01, "max_total_tokens": 10, "max_tool_calls": 1},
    {"max_finish_reminders": 0, "final_turn": True, "tool_timeout": 0.5, "parallel_tool_calls": False},
    {"max_retries": 0, "retry_delay_seconds": 0, "request_timeout": 30, "requests_per_second": 0.5,
     "max_concurrent_requests": 1, "context": ContextPolicy()},
])
def test_good_values_of_either_number_type_are_taken(good: dict[str, Any]) -> None:
    config = RunConfig(**good)
    assert all(getattr(config, name) == value for name, value in good.items())


def test_limits_check_their_budgets_the_same_way() -> None:
    with pytest.raises(ConfigError, match=r"max_steps must be an int, 1 or more, or None; got 2\.5"):
        Limits(max_steps=2.5)  # type: ignore[arg-type]


def test_the_retry_delay_doc_agrees_with_the_longest_retry_after_waited_for() -> None:
    from loopline.providers._retry import MAX_RETRY_AFTER

    doc = " ".join(inspect.getsource(RunConfig).split("retry_delay_seconds:")[1].split('"""')[1].split())
    assert MAX_RETRY_AFTER == 120 and "a `Retry-After` of up to two minutes wins" in doc
