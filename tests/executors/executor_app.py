"""Executors for the tests, registered on import; a worker serves them with `worker_app`'s agent."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent.parent / "workers"))

from worker_app import MODEL, agents, handle, researcher  # noqa: F401

from loopline.executors import ExecutableTask, agent_executor, executor_register


def _ledger(entry: dict[str, Any]) -> None:
    path = os.environ.get("LEDGER")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({**entry, "pid": os.getpid(), "at": time.time()}) + "\n")


@executor_register()
class AddNumbers(ExecutableTask):
    id = "add_numbers"
    name = "Add numbers"
    description = "Adds a list of numbers, plus the totals of the nodes it depends on."

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"numbers": {"type": "array", "items": {"type": "number"}},
                                                 "dependencies": {"type": "object"}},
                "required": ["numbers"], "additionalProperties": False}

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        _ledger({"executor": self.id, "numbers": inputs["numbers"]})
        await asyncio.sleep(float(os.environ.get("EXECUTOR_SECONDS", "0")))
        earlier = sum(d["total"] for d in (inputs.get("dependencies") or {}).values() if isinstance(d, dict))
        return {"total": sum(inputs["numbers"]) + earlier}


@executor_register()
class Slow(ExecutableTask):
    id = "slow"
    name = "Slow"
    description = "Sleeps, and says when it is cancelled."
    cancelled = False

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {"seconds": {"type": "number", "minimum": 0}},
                "required": ["seconds"]}

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(inputs["seconds"])
        return {"slept": inputs["seconds"]}

    async def cancel(self) -> None:
        _ledger({"executor": self.id, "cancelled": True})


@executor_register()
class Refuses(ExecutableTask):
    @property
    def id(self) -> str:  # the seed's property form
        return "refuses"

    @property
    def name(self) -> str:
        return "Refuses"

    @property
    def description(self) -> str:
        return "Reports failure, or raises."

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("raise"):
            raise ValueError("refused by raising")
        return {"status": "failed", "error": "refused politely"}


@executor_register()
class Hungry(ExecutableTask):
    id = "hungry"
    name = "Hungry"
    description = "Allocates `mb` megabytes (run with TaskConfig(max_memory_mb=...) to see the bound)."

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        block = bytearray(int(inputs["mb"]) * 1024 * 1024)
        return {"allocated_mb": len(block) // (1024 * 1024), "pid": os.getpid()}


Researcher = executor_register()(agent_executor(researcher, model=MODEL))
"""The `researcher` agent as an executor (id `agent.researcher`): its input is the prompt."""
