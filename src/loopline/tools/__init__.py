"""The tools layer: tool definitions, tools from functions, argument validation, the finish tool,
and running calls (concurrently, with timeouts, errors turned into results).

It builds on `loopline.messages` only; it knows nothing of providers, agents or storage.
"""

from ._call import ToolCall, ToolCallResult, ToolContext
from ._finish import FINISH_TOOL_NAME, OutputSchema, finish_tool, json_schema_of
from ._json import parse_arguments, render_result
from ._runner import ContextFactory, arun_calls, run_calls
from ._schema import TOOL_NAME_PATTERN, check_tool_name, parse_docstring, strict_schema
from ._source import ToolSource
from ._tool import Tool, ToolDefinition, ToolLike, as_tool, tool

__all__ = [
    "ContextFactory",
    "FINISH_TOOL_NAME",
    "OutputSchema",
    "TOOL_NAME_PATTERN",
    "Tool",
    "ToolCall",
    "ToolCallResult",
    "ToolContext",
    "ToolDefinition",
    "ToolLike",
    "ToolSource",
    "arun_calls",
    "as_tool",
    "check_tool_name",
    "finish_tool",
    "json_schema_of",
    "parse_arguments",
    "parse_docstring",
    "render_result",
    "run_calls",
    "strict_schema",
    "tool",
]
