"""Tools that need a person's approval: the execution pauses, the person decides, the loop goes on."""

from __future__ import annotations

import pytest

from chat_responses import call, completion, finish_call
from loopline import Agent, ExecutionStatus, InMemoryStore, tool
from loopline.errors import ApprovalRequiredError, UnknownToolCallError
from loopline.testing import ScriptedModel

sent: list[str] = []


@tool(requires_approval=True)
def send_email(to: str) -> str:
    """Send an email."""
    sent.append(to)
    return f"sent to {to}"


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def Scripted(*responses: dict) -> ScriptedModel:  # type: ignore[type-arg]
    """A model answering from a list of Chat Completions bodies."""
    return ScriptedModel(list(responses))


def test_a_call_needing_approval_pauses_the_run_until_approved() -> None:
    sent.clear()
    store = InMemoryStore()
    agent = Agent("a", tools=[send_email, lookup], store=store)
    model = Scripted(completion(call("call_1", "send_email", to="ann@example.com"), call("call_2", "lookup", key="k")),
                     completion(finish_call("call_3", "emailed")))
    result = agent.run("Email Ann.", model=model)
    assert result.status is ExecutionStatus.PAUSED and sent == []
    assert [c.id for c in agent.pending_approvals] == ["call_1"]
    assert [c.id for c in agent.pending_tool_calls] == ["call_2"]
    with pytest.raises(ApprovalRequiredError):
        agent.run_tools(agent.pending_approvals)
    assert store.get_execution(agent.execution.id).awaiting_approval == ("call_1",)  # survives the process

    agent.approve("call_1")
    result = agent.run(model=model)
    assert (result.status, result.result, sent) == (ExecutionStatus.COMPLETED, "emailed", ["ann@example.com"])


def test_a_rejected_call_is_not_run_and_the_model_hears_why() -> None:
    sent.clear()
    agent = Agent("a", tools=[send_email], store=InMemoryStore())
    model = Scripted(completion(call("call_1", "send_email", to="all@example.com")),
                     completion(finish_call("call_2", "not sent")))
    assert agent.run("Email everyone.", model=model).status is ExecutionStatus.PAUSED
    with pytest.raises(UnknownToolCallError):
        agent.reject("call_nobody")
    agent.reject("call_1", "too many recipients")
    [result] = agent.thread[-1].tool_results
    assert (result.is_error, result.content) == (True, "Error: a person rejected this call: too many recipients")
    assert agent.run(model=model).result == "not sent" and sent == []


def test_a_paused_execution_can_be_decided_at_once_by_another_process() -> None:
    # PAUSED waits for a person, who may be anywhere: the pausing process gives its claim up, so a
    # reviewer's process resumes the execution without waiting for the lease to run out.
    sent.clear()
    store = InMemoryStore()
    worker = Agent("a", tools=[send_email, lookup], store=store)
    paused = worker.run("Email Ann.", model=Scripted(completion(call("call_1", "send_email", to="ann@example.com"))))
    assert paused.status is ExecutionStatus.PAUSED

    reviewer = Agent("a", tools=[send_email, lookup], store=store)  # another owner, as another process is
    reviewer.resume(paused.execution_id)  # no force needed
    reviewer.approve("call_1")
    result = reviewer.run(model=Scripted(completion(finish_call("call_2", "emailed"))))
    assert (result.status, sent) == (ExecutionStatus.COMPLETED, ["ann@example.com"])
