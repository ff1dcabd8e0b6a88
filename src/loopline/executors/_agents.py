"""An agent used as an executor: its input is the prompt, its result the execution's."""

from __future__ import annotations

from typing import Any

from ..agent import Agent
from ..providers import Model
from ._executable import ExecutableTask

__all__ = ["agent_executor"]


def agent_executor(agent: Agent, *, model: Model | str, executor_id: str | None = None) -> type[ExecutableTask]:
    """An `ExecutableTask` class that runs `agent` (a fresh copy per task) on `inputs["prompt"]`, with
    the results of the nodes it depends on appended; register it with `executor_register()(...)`."""

    class AgentExecutor(ExecutableTask):
        id = executor_id or f"agent.{agent.name}"
        name = agent.name
        description = f"Runs the agent {agent.name!r} on a prompt. {agent.instructions[:200]}".strip()

        def get_input_schema(self) -> dict[str, Any]:
            return {"type": "object", "properties": {"prompt": {"type": "string", "minLength": 1},
                                                     "dependencies": {"type": "object"}},
                    "required": ["prompt"]}

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            prompt = inputs["prompt"]
            if inputs.get("dependencies"):
                prompt += f"\n\nResults of the tasks this one depends on: {inputs['dependencies']}"
            result = await agent.copy().arun(prompt, model=model)
            if result.status.value != "COMPLETED":
                return {"status": "failed", "error": result.error or result.status.value,
                        "execution_id": result.execution_id}
            return {"result": result.result, "execution_id": result.execution_id, "thread_id": result.thread_id}

    AgentExecutor.__qualname__ = f"AgentExecutor[{agent.name}]"
    return AgentExecutor
