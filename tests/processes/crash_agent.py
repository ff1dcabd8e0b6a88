"""The agent of the crash test, shared by the process that dies and the one that resumes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopline import Agent, ToolContext, tool
from loopline.store import Store


def make_agent(store: Store, effects: Path, *, after_effect: Callable[[], None] = lambda: None) -> Agent:
    """An agent whose tools leave a line per side effect in `effects`, keyed by idempotency key."""

    @tool
    def charge(amount: int, ctx: ToolContext) -> str:
        """Charge the customer (not idempotent: every run charges again)."""
        with effects.open("a") as f:
            f.write(f"charge {amount} {ctx.idempotency_key}\n")
        after_effect()
        return f"charged {amount}"

    @tool(idempotent=True)
    def lookup(amount: int, ctx: ToolContext) -> str:
        """Look the balance up (idempotent: safe to run again)."""
        with effects.open("a") as f:
            f.write(f"lookup {amount} {ctx.idempotency_key}\n")
        after_effect()
        return f"balance ok for {amount}"

    return Agent("billing", instructions="You bill customers.", tools=[charge, lookup], store=store)


def step_one(tool_name: str) -> dict[str, Any]:
    """The model's first response: one call to `tool_name`."""
    return _completion("chatcmpl-crash-1", [{"id": "call_crash_1", "type": "function",
                                             "function": {"name": tool_name, "arguments": '{"amount": 42}'}}])


def step_two(result: str) -> dict[str, Any]:
    """The model's second response: finish with `result`."""
    arguments = json.dumps({"result": result, "is_success": True})
    return _completion("chatcmpl-crash-2", [{"id": "call_crash_2", "type": "function",
                                             "function": {"name": "finish", "arguments": arguments}}])


def _completion(response_id: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": response_id, "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": None, "tool_calls": calls}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}}
