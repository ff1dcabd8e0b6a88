"""Live progress of `run()` / `arun()`: one updating display in a notebook, one line on a terminal.

Off by default in scripts (their output is the program's own), on by default inside a Jupyter
kernel, where a long run would otherwise show nothing until it ends. `progress=True` asks for it
anywhere (a terminal gets a line rewritten in place on stderr; a pipe or a log file gets a line per
step), `progress=False` turns it off everywhere.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any, Protocol, TextIO

from ..loop import Execution, ExecutionStatus

__all__ = ["Progress", "in_notebook", "progress_for", "summary"]


class Progress(Protocol):
    """Shown to while a run goes: `update` after every step, `close` once at the end."""

    def update(self, execution: Execution) -> None: ...

    def close(self, execution: Execution) -> None: ...


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's kernel shell is running)."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def progress_for(setting: bool | Progress | None, *, stream: TextIO | None = None) -> Progress | None:
    """The display for a run: `None` decides by where it runs (on only in a notebook); a `Progress`
    object of the caller's own (a worker reporting a task's steps) is used as it is."""
    if setting is not None and not isinstance(setting, bool):
        return setting
    if setting is False or (setting is None and not in_notebook()):
        return None
    return NotebookProgress() if in_notebook() else TerminalProgress(stream or sys.stderr)


def summary(execution: Execution) -> str:
    """One line: status, steps, tool calls, tokens, cost, time."""
    ex = execution
    limit = f"/{ex.limits.max_steps}" if ex.limits.max_steps else ""
    cost = f" · ${ex.cost_usd:.4f}" if ex.cost_usd else ""
    elapsed = max(0.0, ex.updated_at - ex.created_at)
    return (f"{ex.agent_name} · {ex.status.value} · step {ex.steps}{limit} · {ex.tool_calls} tool calls · "
            f"{ex.usage.input_tokens + ex.usage.output_tokens:,} tokens{cost} · {elapsed:.1f}s")


class TerminalProgress:
    """A line on a terminal, rewritten in place; a line per step where the output is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = bool(getattr(stream, "isatty", lambda: False)())
        self._last = ""
        self._width = 0

    def update(self, execution: Execution) -> None:
        line = summary(execution)
        if line == self._last:
            return
        self._last = line
        if self._live:
            self._stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self, execution: Execution) -> None:
        self.update(execution)
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


_COLOURS = {ExecutionStatus.COMPLETED: "#2e7d32", ExecutionStatus.FAILED: "#c62828",
            ExecutionStatus.CANCELLED: "#6d6d6d", ExecutionStatus.PAUSED: "#ef6c00"}


class NotebookProgress:
    """One output area in the notebook, updated in place after every step (at most 10 times a second,
    and always at the end)."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._shown = 0.0

    def _html(self, execution: Execution) -> Any:
        from IPython.display import HTML

        colour = _COLOURS.get(execution.status, "currentColor")
        line = html.escape(summary(execution))
        return HTML(f'<div style="font-family:monospace;font-size:12px;color:{colour}">{line}</div>')  # type: ignore[no-untyped-call]

    def update(self, execution: Execution) -> None:
        now = time.monotonic()
        if self._handle is not None and now - self._shown < 0.1:
            return
        self._shown = now
        self._show(execution)

    def close(self, execution: Execution) -> None:
        self._show(execution)

    def _show(self, execution: Execution) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self._html(execution), display_id=True)  # type: ignore[no-untyped-call]
        else:
            self._handle.update(self._html(execution))
