"""What every benchmark loop shares, without importing loopline: the conversation the mock model
scripts, the tool it calls, and the markdown/JSON output helpers.

The scripted conversation of a `steps`-step run: the model calls `lookup` on each of the first
`steps - 1` turns and `finish` on the last, so a run makes `steps` requests, each answered with one
tool call. A "step" in every table is one request with its tool call. (50 steps fit the default
`max_steps=50` budget, so the loopline loops run with default settings.)
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-bench"
MAX_TOKENS = 4096
"""What loopline's AnthropicModel sends when no `max_tokens` is given; the hand-written loops send it too."""
SYSTEM = "sys"
TASK = "task"


def lookup(key: str, page: int = 1) -> str:
    """Look a key up.

    Args:
        key: What to look up.
        page: Which page of results.
    """
    return f"value of {key} on page {page}: " + "lorem ipsum " * 20


def _call(turn: int, steps: int) -> tuple[str, dict[str, Any]]:
    if turn >= steps:
        return "finish", {"result": "done", "is_success": True}
    return "lookup", {"key": f"k{turn}", "page": 2}


def chat_completion(turn: int, steps: int) -> dict[str, Any]:
    """The Chat Completions response to the `turn`-th request (1-based) of a `steps`-step run."""
    name, args = _call(turn, steps)
    call = {"id": f"call_{turn:04d}abcdefghijklmnop", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}
    return {"id": f"chatcmpl-{turn}", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                         "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 100 + turn, "completion_tokens": 20, "total_tokens": 120 + turn}}


def anthropic_message(turn: int, steps: int) -> dict[str, Any]:
    """The Anthropic Messages response to the `turn`-th request (1-based) of a `steps`-step run."""
    name, args = _call(turn, steps)
    return {"id": f"msg_{turn:04d}", "type": "message", "role": "assistant", "model": ANTHROPIC_MODEL,
            "content": [{"type": "tool_use", "id": f"toolu_{turn:04d}abcdefghijklmnop", "name": name, "input": args}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 100 + turn, "output_tokens": 20}}


def median(values: Sequence[float]) -> float:
    """The median, as every table reports it."""
    return float(statistics.median(values))


def fmt_time(seconds: float) -> str:
    """A duration in the unit that suits it."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-5 else f"{seconds * 1e6:.0f} µs"


def fmt_ratio(value: float) -> str:
    """A ratio, with fewer digits the larger it is."""
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table, ready to paste into the README."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def save_section(path: str | None, name: str, section: dict[str, Any]) -> None:
    """Store one script's results under `name` in the JSON file at `path` (other sections are kept)."""
    if not path:
        return
    target = Path(path)
    data = json.loads(target.read_text()) if target.exists() and target.read_text().strip() else {}
    data[name] = section
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def goal_row(goal: str, measured: str, target: str, ok: bool) -> dict[str, Any]:
    """One goal's outcome, as stored in the JSON and printed in the goals table."""
    return {"goal": goal, "measured": measured, "target": target, "pass": ok}


def goals_table(goals: Sequence[dict[str, Any]]) -> str:
    """The PASS/MISS table of a list of `goal_row`s."""
    return table(["goal", "measured", "target", ""],
                 [[g["goal"], g["measured"], g["target"], "PASS" if g["pass"] else "MISS"] for g in goals])
