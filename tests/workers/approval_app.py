"""An agent whose tasks pause for a person's approval, then finish with what the tool returned."""

from __future__ import annotations

from typing import Any

from loopline import Agent, tool
from loopline.testing import ScriptedModel, call, reply


@tool(requires_approval=True)
def transfer(amount: int) -> str:
    """Move money (a person approves it first)."""
    return f"moved {amount}"


def _answer(request: dict[str, Any]) -> Any:
    last = request["messages"][-1]
    if last.get("role") == "tool":
        return reply(call("finish", result=last["content"], is_success=True))
    return reply(call("transfer", amount=5))


MODEL = ScriptedModel(_answer)
cautious = Agent("cautious", "You ask before you move money.", tools=[transfer])
agents = [cautious]


def handle(task: Any) -> Any:
    return None
