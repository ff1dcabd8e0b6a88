"""`agent.memory`: scope names (loopline's and the seed's `session` / `permanent`), dict-like reads that
tell a stored `None` from a missing key, and session memory that is gone once the task ends.

The stores are real: the in-memory one and a SQLite file (the contract suite in tests/store runs the
store side against PostgreSQL too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, RunConfig, SQLiteStore, tool
from loopline.errors import ExecutionFinishedError, MemoryValueError, NoActiveTaskError, UsageError
from loopline.store import Store
from loopline.testing import ScriptedModel, call, reply


@pytest.fixture(params=["memory", "sqlite-file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "memory.db")
    try:
        yield made
    finally:
        made.close()


def test_session_memory_written_during_a_run_is_gone_when_the_task_ends(store: Store) -> None:
    @tool
    def note(text: str) -> str:
        """Note something down."""
        agent.memory.set("draft", text, scope="session")
        agent.memory.set("seen", text, scope="permanent")
        agent.memory.set("topic", text, scope="thread")
        return "noted"

    agent = Agent("noter", tools=[note], store=store)
    execution_ids: list[str] = []

    def check_during(request: dict[str, Any]) -> Any:
        assert agent.execution is not None
        execution_ids.append(agent.execution.id)
        assert agent.memory.get("draft", scope="session") == "oslo"  # there while the task runs
        return reply(call("finish", result="ok", is_success=True))

    result = agent.run("Remember Oslo.", model=ScriptedModel([reply(call("note", text="oslo")), check_during]))
    assert result.status is ExecutionStatus.COMPLETED and execution_ids == [result.execution_id]
    assert store.memory_list("execution", result.execution_id) == {}
    assert agent.memory.list(scope="session") == {} and "draft" not in agent.memory.list(scope="execution")
    assert agent.memory.get("draft", "gone", scope="session") == "gone"
    assert agent.memory.list(scope="permanent") == {"seen": "oslo"} == agent.memory.list()
    assert agent.memory.list(scope="thread") == {"topic": "oslo"}

    later = Agent("noter", store=store)  # another task, another thread: permanent memory is still there
    later.add_task("Anything new?")
    assert later.memory["seen"] == "oslo" and later.memory.list(scope="session") == {}


@pytest.mark.parametrize("end", ["completed", "failed", "cancelled"])
def test_session_memory_ends_with_the_task_however_it_ends(store: Store, end: str) -> None:
    agent = Agent("ender", store=store, config=RunConfig(max_steps=1))
    agent.add_task("go")
    agent.memory.set("k", {"n": 1}, scope="session")
    assert agent.memory.get("k", scope="execution") == {"n": 1}
    if end == "cancelled":
        agent.cancel()
    elif end == "completed":
        agent.add_messages([{"role": "assistant", "content": "done"}])
    else:  # one step allowed, and the reply asks for another
        agent.add_messages([{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "nothing", "arguments": "{}"}}]}])
        agent.run_tools(agent.pending_tool_calls)
    assert agent.execution is not None and agent.execution.status == end.upper()
    assert agent.memory.list(scope="session") == {}
    with pytest.raises(ExecutionFinishedError, match="has ended"):
        agent.memory.set("k", 2, scope="session")  # nothing can linger past the task
    assert store.memory_list("execution", agent.execution.id) == {}


def test_a_paused_task_keeps_its_session_memory(store: Store) -> None:
    @tool(requires_approval=True)
    def send(to: str) -> str:
        """Send."""
        return to

    agent = Agent("pauser", tools=[send], store=store)
    agent.add_task("go")
    agent.memory.set("k", "v", scope="session")
    result = agent.run(model=ScriptedModel([reply(call("send", to="ann"))]))
    assert result.status is ExecutionStatus.PAUSED
    assert agent.memory.list(scope="session") == {"k": "v"}


def test_memory_reads_like_a_dict(store: Store) -> None:
    agent = Agent("dicty", store=store)
    agent.memory["none"] = None
    agent.memory.set("zero", 0)
    assert agent.memory.get("none", "default") is None  # a stored None is a value
    assert agent.memory.get("missing", "default") == "default"
    assert agent.memory.get("missing") is None
    assert "none" in agent.memory and "zero" in agent.memory and "missing" not in agent.memory
    assert 1 not in agent.memory
    assert (agent.memory["none"], agent.memory["zero"]) == (None, 0)
    with pytest.raises(KeyError):
        agent.memory["missing"]
    del agent.memory["none"]
    assert "none" not in agent.memory
    with pytest.raises(KeyError):
        del agent.memory["none"]
    assert agent.memory.list() == {"zero": 0}


@pytest.mark.parametrize("scope", ["sesion", "global", "EXECUTION"])
def test_an_unknown_scope_names_the_valid_ones(store: Store, scope: Any) -> None:
    agent = Agent("scoped", store=store)
    agent.add_task("go")
    for use in (lambda: agent.memory.get("k", scope=scope), lambda: agent.memory.set("k", 1, scope=scope),
                lambda: agent.memory.delete("k", scope=scope), lambda: agent.memory.list(scope=scope)):
        with pytest.raises(UsageError, match="use one of 'execution', 'thread', 'agent', 'session', 'permanent'"):
            use()


def test_task_scopes_need_a_task_and_values_must_be_json(store: Store) -> None:
    agent = Agent("early", store=store)
    for scope in ("session", "execution", "thread"):
        with pytest.raises(NoActiveTaskError):
            agent.memory.set("k", 1, scope=scope)  # type: ignore[arg-type]
    agent.memory.set("k", 1, scope="permanent")
    with pytest.raises(MemoryValueError):
        agent.memory.set("k", {"a": {1, 2}})
    assert agent.memory.list() == {"k": 1}
