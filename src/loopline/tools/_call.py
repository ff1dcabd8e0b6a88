"""Tool calls as the loop sees them, and the results of running them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..messages import FilePart, ToolCallPart
from ._json import parse_arguments

__all__ = ["ToolCall", "ToolCallResult", "ToolContext"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """One call the model asked for, with its arguments parsed."""

    id: str
    """The provider's call id; the result is sent back under the same id."""
    name: str
    """The name of the tool the model asked for (it may not exist: that becomes an error result)."""
    arguments: dict[str, Any]
    """The parsed arguments; empty when `raw_arguments` was empty or could not be parsed."""
    raw_arguments: str
    """The arguments exactly as the model wrote them."""
    type: Literal["function", "custom"] = "function"
    """`function` for JSON-argument tools, `custom` for free-form-input tools."""
    arguments_error: str | None = None
    """Why `raw_arguments` could not be used (not JSON, not an object); `None` when they parsed."""

    @classmethod
    def from_part(cls, part: ToolCallPart) -> ToolCall:
        """Parse a neutral tool call part; bad arguments are recorded, never raised."""
        if part.tool_type == "custom":
            return cls(id=part.id, name=part.name, arguments={"input": part.arguments},
                       raw_arguments=part.arguments, type="custom")
        arguments, error = parse_arguments(part.arguments)
        return cls(id=part.id, name=part.name, arguments=arguments, raw_arguments=part.arguments,
                   arguments_error=error)

    def to_part(self) -> ToolCallPart:
        """The neutral part for this call."""
        return ToolCallPart(id=self.id, name=self.name, arguments=self.raw_arguments, tool_type=self.type)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallResult:
    """The outcome of one tool call: what the tool returned or why it failed."""

    tool_call_id: str
    """The id of the call this answers."""
    function_name: str
    """The name of the tool the model called."""
    payload: dict[str, Any]
    """The arguments the tool was called with (as parsed from the model's output)."""
    result: Any
    """What the tool returned; `None` when it failed."""
    is_success: bool
    """True when the tool ran and returned."""
    content: str
    """The result (or the error) as text, exactly as the model will read it."""
    files: tuple[FilePart, ...] | None = None
    """Images (or other files) the tool returned (a `FilePart`, alone or in a list), which the model
    reads beside `content` where its provider's API takes them in a tool result."""
    duration: float = 0.0
    """Seconds spent running the tool (validation included)."""
    error: str | None = None
    """What went wrong, when `is_success` is false."""
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """The exception a tool raised, for the programmer; never sent to the model or stored."""

    @property
    def is_error(self) -> bool:
        """The opposite of `is_success`."""
        return not self.is_success


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolContext:
    """What a tool may know about the call it is serving.

    Declare a parameter annotated with `ToolContext` and loopline passes it in; it never appears in
    the schema the model sees.
    """

    tool_call_id: str
    """The provider's id for this call."""
    execution_id: str | None = None
    """The execution the call belongs to, when run by an agent."""
    thread_id: str | None = None
    """The thread the execution belongs to, when run by an agent."""
    agent_name: str | None = None
    """The name of the agent running the call."""

    @property
    def idempotency_key(self) -> str:
        """A stable key for this call (execution id + call id), for tools with side effects."""
        return f"{self.execution_id or '-'}:{self.tool_call_id}"
