"""`loopline.mcp.agent_server` from Python: an agent with an output schema answers with structured
content of that shape (the official `mcp` SDK's `Client`, connected to the server in-process)."""

from __future__ import annotations

from mcp import Client
from pydantic import BaseModel

from loopline import Agent, ExecutionStatus, InMemoryStore
from loopline.mcp import agent_server
from loopline.testing import ScriptedModel, call, reply


class Answer(BaseModel):
    answer: int


async def test_an_output_schema_types_the_structured_result() -> None:
    store = InMemoryStore()
    agent = Agent("calc", instructions="Computes.", store=store)
    model = ScriptedModel([reply(call("finish", result={"answer": 42}, is_success=True))])
    async with Client(agent_server(agent, model, output_schema=Answer)) as client:
        [tool] = (await client.list_tools()).tools
        assert tool.output_schema is not None
        assert tool.output_schema["properties"]["result"]["properties"] == {"answer": {"type": "integer"}}
        result = await client.call_tool("calc", {"prompt": "6 * 7"})
    assert not result.is_error and result.content[0].text == '{"answer": 42}'  # type: ignore[union-attr]
    assert result.structured_content is not None and result.structured_content["result"] == {"answer": 42}
    execution = store.get_execution(result.structured_content["execution_id"])
    assert execution.status is ExecutionStatus.COMPLETED
    assert agent.execution is None  # the served agent is a definition: each call ran on an agent of its own
