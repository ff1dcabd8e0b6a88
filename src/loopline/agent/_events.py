"""What `agent.stream()` yields: the provider's deltas as they arrive, then what the loop did."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from ..loop import ExecutionResult, ExecutionStatus
from ..messages import Usage
from ..providers import ReasoningDelta, TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart
from ..tools import ToolCallResult

__all__ = ["Finished", "RunEvent", "StatusChanged", "ToolResult", "UsageReport"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool call ran (or failed); the result is in the thread."""

    result: ToolCallResult


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The execution moved to another status."""

    status: ExecutionStatus


@dataclass(frozen=True, slots=True)
class UsageReport:
    """A response finished: what it used, and the execution's totals so far."""

    usage: Usage
    """This response's tokens."""
    total: Usage
    """The execution's tokens so far."""
    cost_usd: float
    """The execution's cost so far."""


@dataclass(frozen=True, slots=True)
class Finished:
    """The run ended (or paused for a decision); the last event of a stream."""

    result: ExecutionResult


RunEvent: TypeAlias = (TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | ToolResult
                       | StatusChanged | UsageReport | Finished)
"""Anything `agent.stream()` yields."""
