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
from ..tools import FINISH_TOOL_NAME, OutputSchema, Tool, ToolSource
from ..tools import finish_tool as make_finish_tool

__all__ = ["Toolbox"]


class Toolbox:
    """The agent's tools by name, plus the finish tool (if offered), rendered once per wire API.

    Tools from sources (`ToolSource`, such as an MCP server) are asked for on each use; the index and the
    rendered forms are rebuilt only when a source hands back a different list.
    """

    __slots__ = ("_all", "_listed", "_own", "_rendered", "finish", "sources")

    def __init__(self, tools: Sequence[Tool], finish: Tool | None, sources: Sequence[ToolSource] = ()) -> None:
        self._own = tuple(tools)
        self.sources = tuple(sources)
        self.finish = finish
        self._listed: tuple[Sequence[Tool], ...] | None = None
        self._all: dict[str, Tool] = {}
        self._rendered: dict[LLMProvider, list[dict[str, Any]]] = {}
        if not self.sources:
            self._index(())

    def for_task(self, output_schema: OutputSchema | None, *, finish: bool = True) -> Toolbox:
        """The same tools for one task: with a finish tool whose `result` takes `output_schema` if `finish`,
        else without any. Whether a task has one is the task's to say (a stored execution records it), so
        it never depends on what an earlier task of the agent had."""
        tool = make_finish_tool(output_schema) if finish else None
        return self if tool is self.finish else Toolbox(self._own, tool, self.sources)

    def _current(self) -> dict[str, Tool]:
        """The index, rebuilt when a source's list changed (sources return the same object otherwise)."""
        if self.sources:
            listed = tuple(source.list_tools() for source in self.sources)
            if self._listed is None or any(a is not b for a, b in zip(listed, self._listed, strict=True)):
                self._index(listed)
        return self._all

    def _index(self, listed: tuple[Sequence[Tool], ...]) -> None:
        tools = [*self._own, *(t for source_tools in listed for t in source_tools)]
        by_name = _index_tools(tools, reserved=FINISH_TOOL_NAME if self.finish is not None else None)
        self._all = by_name if self.finish is None else {**by_name, self.finish.name: self.finish}
        self._listed = listed
        self._rendered = {}

    @property
    def all(self) -> dict[str, Tool]:
        """Every tool by name, the finish tool included (read it, don't change it)."""
        return self._current()

    def render(self, provider: LLMProvider) -> list[dict[str, Any]]:
        """The tools in `provider`'s request format (a fresh list of shared dicts)."""
        self._current()
        rendered = self._rendered.get(provider)
        if rendered is None:
            definitions = [t.definition for t in self._current().values()]
            rendered = self._rendered[provider] = get_adapter(provider).render_tools(definitions)
        return list(rendered)

    def needs_approval(self, name: str) -> bool:
        tool = self._current().get(name)
        tool = None if tool is self.finish else tool
        return tool is not None and tool.requires_approval

    def idempotent(self, name: str) -> bool:
        """Whether a call cut off by a crash may simply run again (the finish tool may)."""
        tool = self._current().get(name)
        return tool is not None and (tool.idempotent or tool is self.finish)


def _index_tools(tools: Sequence[Tool], *, reserved: str | None) -> dict[str, Tool]:
    by_name: dict[str, Tool] = {}
    for t in tools:
        if t.name == reserved:
            raise ToolDefinitionError(
                f"tool name {t.name!r} is reserved for the built-in finish tool; rename the tool, "
                "or create the agent with finish_tool=False", tool_name=t.name)
        if t.name in by_name:
            raise ToolDefinitionError(f"two tools are named {t.name!r}; tool names must be unique (give a "
                                      "tool source such as an MCP server a `prefix` for its tools' names)",
                                      tool_name=t.name)
        by_name[t.name] = t
    return by_name
