"""The tools of one execution: the agent's own, and the finish tool shaped by the task's output schema.

Kept apart from the execution's state so that what the agent offers (its definition) and what one
execution has done (its state) never mix: a worker that runs a stored execution builds the toolbox from
the agent definition, and the state from the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ToolDefinitionError
from ..providers import LLMProvider, get_adapter
from ..tools import FINISH_TOOL_NAME, OutputSchema, Tool
from ..tools import finish_tool as make_finish_tool

__all__ = ["Toolbox"]


class Toolbox:
    """The agent's tools by name, plus the finish tool (if offered), rendered once per wire API."""

    __slots__ = ("_all", "_by_name", "_rendered", "finish")

    def __init__(self, tools: Sequence[Tool], finish: Tool | None) -> None:
        self._by_name = _index_tools(tools, reserved=FINISH_TOOL_NAME if finish is not None else None)
        self.finish = finish
        self._all = self._by_name if finish is None else {**self._by_name, finish.name: finish}
        self._rendered: dict[LLMProvider, list[dict[str, Any]]] = {}

    def for_task(self, output_schema: OutputSchema | None, *, finish: bool = True) -> Toolbox:
        """The same tools for one task: with a finish tool whose `result` takes `output_schema` if `finish`,
        else without any. Whether a task has one is the task's to say (a stored execution records it), so
        it never depends on what an earlier task of the agent had."""
        tool = make_finish_tool(output_schema) if finish else None
        return self if tool is self.finish else Toolbox(tuple(self._by_name.values()), tool)

    @property
    def all(self) -> dict[str, Tool]:
        """Every tool by name, the finish tool included (read it, don't change it)."""
        return self._all

    def render(self, provider: LLMProvider) -> list[dict[str, Any]]:
        """The tools in `provider`'s request format (a fresh list of shared dicts)."""
        rendered = self._rendered.get(provider)
        if rendered is None:
            definitions = [t.definition for t in self._all.values()]
            rendered = self._rendered[provider] = get_adapter(provider).render_tools(definitions)
        return list(rendered)

    def needs_approval(self, name: str) -> bool:
        tool = self._by_name.get(name)
        return tool is not None and tool.requires_approval

    def idempotent(self, name: str) -> bool:
        """Whether a call cut off by a crash may simply run again (the finish tool may)."""
        tool = self._all.get(name)
        return tool is not None and (tool.idempotent or tool is self.finish)


def _index_tools(tools: Sequence[Tool], *, reserved: str | None) -> dict[str, Tool]:
    by_name: dict[str, Tool] = {}
    for t in tools:
        if t.name == reserved:
            raise ToolDefinitionError(
                f"tool name {t.name!r} is reserved for the built-in finish tool; rename the tool, "
                "or create the agent with finish_tool=False", tool_name=t.name)
        if t.name in by_name:
            raise ToolDefinitionError(f"two tools are named {t.name!r}; tool names must be unique",
                                      tool_name=t.name)
        by_name[t.name] = t
    return by_name
