"""An agent whose every task pauses: its model asks for a tool that needs approval."""

from __future__ import annotations

from loopline import Agent, tool
from loopline.testing import ScriptedModel, call, reply


@tool(requires_approval=True)
def transfer(amount: int) -> str:
    """Move money (a person approves it first)."""
    return f"moved {amount}"


MODEL = ScriptedModel(lambda request: reply(call("transfer", amount=5)))
cautious = Agent("cautious", "You ask before you move money.", tools=[transfer])
