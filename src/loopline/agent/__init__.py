"""The agent layer: `Agent`, the public face of the loop (the manual loop today; `run`, `arun` and
`stream` drive the same state machine). Builds on every layer below; nothing below imports it."""

from ._agent import Agent
from ._files import FileInput

__all__ = ["Agent", "FileInput"]
