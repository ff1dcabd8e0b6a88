"""The worker application of the fault tests: `worker_app`'s agents and handler, plus `clerk`, whose
one tool `charge` is NOT idempotent (a call interrupted by a crash must not run again by itself).

Run with `run_worker.py DB --app faults_app`; TOOL_SECONDS and LEDGER apply to `charge` as to `lookup`."""

from __future__ import annotations

from typing import Any

import worker_app
from worker_app import handle

from loopline import Agent, tool
from loopline.testing import ScriptedModel, call, reply

__all__ = ["MODEL", "agents", "handle"]


def _answer(request: dict[str, Any]) -> Any:
    names = {t.get("function", {}).get("name") for t in request.get("tools") or ()}
    if "charge" not in names:
        return worker_app._answer(request)
    messages = request.get("messages") or []
    if any(m.get("role") == "tool" for m in messages):
        return reply(call("finish", result="charged", is_success=True))
    return reply(call("charge", account="acct-1"))


MODEL = ScriptedModel(_answer)


@tool
def charge(account: str) -> str:
    """Charge the account (not safe to run twice)."""
    worker_app.lookup(f"charge {account}")  # the same ledger line and TOOL_SECONDS
    return f"charged {account}"


clerk = Agent("clerk", "You charge accounts.", tools=[charge])
agents = [*worker_app.agents, clerk]
