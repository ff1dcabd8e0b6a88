"""loopline: LLM tool-calling agent loops over one provider-neutral conversation.

Layers, lowest first (imports only flow toward lower layers): `messages` (the neutral conversation),
`tools`, `providers` (one adapter per wire API), `loop` (the sans-I/O execution state machine),
`store`, `agent`. This module re-exports the public names.
"""

from .agent import Agent, FileInput
from .errors import LooplineError
from .loop import Execution, ExecutionError, ExecutionResult, ExecutionStatus, Limits, RunConfig
from .messages import FilePart, Message, Usage
from .providers import LLMProvider, Model
from .store import InMemoryStore, SQLiteStore, Store
from .tools import Tool, ToolCall, ToolCallResult, ToolContext, ToolDefinition, tool

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
