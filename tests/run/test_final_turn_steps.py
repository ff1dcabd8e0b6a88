"""`Limits.final_turn` covers the step budget too: when `max_steps` is used up, the model gets one last
request, told to finish, before the execution fails."""

from __future__ import annotations

from loopline import Agent, ExecutionStatus, InMemoryStore, RunConfig, tool
from loopline.testing import ScriptedModel, call, reply


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _agent(**config: object) -> Agent:
    return Agent("a", tools=[lookup], store=InMemoryStore(), config=RunConfig(**config))  # type: ignore[arg-type]


def _two_lookups_then(last: object) -> ScriptedModel:
    return ScriptedModel([reply(call("lookup", key="a")), reply(call("lookup", key="b")), last])


def test_the_step_budget_gives_a_final_turn_that_can_finish() -> None:
    model = _two_lookups_then(reply(call("finish", result="a and b", is_success=True)))
    agent = _agent(max_steps=2, final_turn=True)
    result = agent.run("go", model=model)
    assert (result.status, result.result, result.error_code, result.steps) == (
        ExecutionStatus.COMPLETED, "a and b", None, 3)
    last_request = model.requests[-1]["messages"][-1]
    assert last_request["role"] == "user" and "Call the `finish` tool now" in last_request["content"]
    assert "limit of 2 model responses" in last_request["content"]


def test_a_final_turn_that_does_not_finish_fails_with_the_step_limit() -> None:
    for last in (reply(call("lookup", key="c")), reply("I am still looking.")):
        model = _two_lookups_then(last)
        result = _agent(max_steps=2, final_turn=True).run("go", model=model)
        assert (result.status, result.error_code, result.steps) == (ExecutionStatus.FAILED, "max_steps", 3)
        assert len(model.requests) == 3


def test_the_final_turn_runs_only_the_finish_call() -> None:
    model = _two_lookups_then(reply(call("lookup", key="c"), call("finish", result="done", is_success=True)))
    agent = _agent(max_steps=2, final_turn=True)
    result = agent.run("go", model=model)
    assert (result.status, result.result) == (ExecutionStatus.COMPLETED, "done")
    skipped = [r for m in agent.thread for r in m.tool_results if r.name == "lookup" and r.is_error]
    assert len(skipped) == 1 and "not run" in skipped[0].content


def test_without_final_turn_the_step_budget_fails_at_once() -> None:
    model = _two_lookups_then(reply(call("finish", result="late", is_success=True)))
    result = _agent(max_steps=2).run("go", model=model)
    assert (result.status, result.error_code, result.steps) == (ExecutionStatus.FAILED, "max_steps", 2)
    assert len(model.requests) == 2
