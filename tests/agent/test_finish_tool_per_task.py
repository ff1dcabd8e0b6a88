"""Whether a task has the finish tool is the task's own: an agent's definition decides it for the tasks it
adds, a stored execution for itself when resumed, and neither leaks into the agent's later tasks."""

from __future__ import annotations

from pydantic import BaseModel

from loopline import Agent, InMemoryStore
from loopline.testing import ScriptedModel, call, reply


class Answer(BaseModel):
    city: str


def test_resuming_an_execution_without_finish_does_not_take_the_finish_tool_from_later_tasks() -> None:
    store = InMemoryStore()
    plain = Agent("a", store=store, finish_tool=False)
    stored = plain.add_task("Say hi.")
    agent = Agent("a", store=store)
    agent.resume(stored.id, force=True)  # the same process holds it through `plain`
    assert agent.run(model=ScriptedModel([reply("Hi.")])).status == "COMPLETED"

    result = agent.run("Where?", model=ScriptedModel([reply(call("finish", is_success=True, result="Oslo"))]))
    assert agent.execution is not None and agent.execution.finish_tool_name == "finish"
    assert (result.status, result.result) == ("COMPLETED", "Oslo")
    agent.add_task("Where, typed?", output_schema=Answer)
    assert agent.execution is not None and agent.execution.finish_tool_name == "finish"


def test_an_execution_stored_with_the_finish_tool_keeps_it_when_an_agent_without_one_resumes_it() -> None:
    store = InMemoryStore()
    stored = Agent("b", store=store, require_finish_tool=True).add_task("Where?")
    bare = Agent("b", store=store, finish_tool=False)
    bare.resume(stored.id, force=True)
    result = bare.run(model=ScriptedModel([reply(call("finish", is_success=True, result="Oslo"))]))
    assert (result.status, result.result) == ("COMPLETED", "Oslo")
    bare.add_task("And then?")  # its own tasks still have none
    assert bare.execution is not None and bare.execution.finish_tool_name is None
