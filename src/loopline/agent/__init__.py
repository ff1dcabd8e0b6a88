"""The agent layer: `Agent`, the public face of the loop: the manual loop, and `run`, `arun`,
`stream` and `astream`, all driving the same state machine. Builds on every layer below; nothing
below imports it."""

from ._agent import Agent
from ._decisions import cancel_execution
from ._events import Finished, RunEvent, StatusChanged, ToolResult, UsageReport
from ._files import FileInput
from ._progress import Progress
from ._requests import InstructionsNotSentWarning

__all__ = ["Agent", "FileInput", "Finished", "InstructionsNotSentWarning", "Progress", "RunEvent", "StatusChanged",
           "ToolResult", "UsageReport", "cancel_execution"]
