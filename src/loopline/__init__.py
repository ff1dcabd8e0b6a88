"""loopline: LLM tool-calling agent loops over one provider-neutral conversation.

Layers, lowest first (imports only flow toward lower layers): `messages` (the neutral conversation),
`tools`, `providers` (one adapter per wire API), `context` (token counting and fitting), `loop` (the
sans-I/O execution state machine), `store`, `threads`, `agent`, `cli`, `testing`. This module
re-exports the public names.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

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

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
