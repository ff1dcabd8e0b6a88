"""loopline: LLM tool-calling agent loops over one provider-neutral conversation.

Layers, lowest first (imports only flow toward lower layers): `messages` (the neutral conversation),
`tools`, `providers` (one adapter per wire API), `loop` (the sans-I/O execution state machine),
`store`, `agent`. This module re-exports the public names.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agent import Agent, FileInput
    from .errors import LooplineError
    from .loop import Execution, ExecutionError, ExecutionResult, ExecutionStatus, Limits, RunConfig
    from .messages import FilePart, Message, Usage
    from .providers import LLMProvider, Model
    from .store import InMemoryStore, SQLiteStore, Store
    from .tools import Tool, ToolCall, ToolCallResult, ToolContext, ToolDefinition, tool

# Names are imported on first use, so `import loopline` (and loopline's pytest plugin, loaded into
# every test session where loopline is installed) costs almost nothing until something is used.
_HOMES = {"Agent": "agent", "FileInput": "agent", "LooplineError": "errors", "Execution": "loop",
          "ExecutionError": "loop", "ExecutionResult": "loop", "ExecutionStatus": "loop", "Limits": "loop",
          "RunConfig": "loop", "FilePart": "messages", "Message": "messages", "Usage": "messages",
          "LLMProvider": "providers", "Model": "providers", "InMemoryStore": "store", "SQLiteStore": "store",
          "Store": "store", "Tool": "tools", "ToolCall": "tools", "ToolCallResult": "tools",
          "ToolContext": "tools", "ToolDefinition": "tools", "tool": "tools"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Execution",
    "ExecutionError",
    "ExecutionResult",
    "ExecutionStatus",
    "FileInput",
    "FilePart",
    "InMemoryStore",
    "LLMProvider",
    "Limits",
    "LooplineError",
    "Message",
    "Model",
    "RunConfig",
    "SQLiteStore",
    "Store",
    "Tool",
    "ToolCall",
    "ToolCallResult",
    "ToolContext",
    "ToolDefinition",
    "Usage",
    "tool",
]
