"""`agent.retrieve_execution_result(execution_id=...)`: any past execution's result by id, also one
another process ran; with no id, the current execution's (as before)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, tool
from loopline.errors import UnknownExecutionError
from loopline.messages import Usage
from loopline.store import SQLiteStore
from loopline.testing import ScriptedModel, call, reply

ROOT = Path(__file__).resolve().parents[2]

# Runs one task to completion on the SQLite file argv[1] and prints what it came to, then exits.
RUN_ONE_TASK = textwrap.dedent("""
    import dataclasses, json, sys

    from loopline import Agent, tool
    from loopline.store import SQLiteStore
    from loopline.testing import ScriptedModel, call, reply

    @tool
    def get_weather(city: str) -> str:
        \"\"\"Current weather for a city.\"\"\"
        return f"3 degrees and cloudy in {city}"

    model = ScriptedModel([
        reply("Let me check.", call("get_weather", city="Oslo"), input_tokens=120, output_tokens=30),
        reply(call("finish", result="Oslo: 3 degrees, cloudy", is_success=True),
              input_tokens=200, output_tokens=20),
    ])
    agent = Agent(name="researcher", tools=[get_weather], store=SQLiteStore(sys.argv[1]))
    result = agent.run("Weather in Oslo?", model=model)
    print(json.dumps({"execution_id": result.execution_id, "thread_id": result.thread_id,
                      "status": result.status, "result": result.result, "steps": result.steps,
                      "usage": dataclasses.asdict(result.usage)}))
""")


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"3 degrees and cloudy in {city}"


def test_a_new_process_retrieves_a_past_execution_result_by_id(tmp_path: Path) -> None:
    db = tmp_path / "agents.db"
    done = subprocess.run([sys.executable, "-c", RUN_ONE_TASK, str(db)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    ran = json.loads(done.stdout)
    assert ran["status"] == "COMPLETED"

    agent = Agent(name="researcher", tools=[get_weather], store=SQLiteStore(db))
    assert agent.execution is None  # this process has run nothing
    result = agent.retrieve_execution_result(execution_id=ran["execution_id"])
    assert result.status == "COMPLETED"
    assert result.ok
    assert (result.execution_id, result.thread_id, result.result, result.steps) == (
        ran["execution_id"], ran["thread_id"], "Oslo: 3 degrees, cloudy", 2)
    assert result.usage == Usage(**ran["usage"])
    assert (result.usage.input_tokens, result.usage.output_tokens) == (320, 50)
    assert [e.id for e in agent.list_executions(status=ExecutionStatus.COMPLETED)] == [ran["execution_id"]]


def test_an_unknown_id_raises_unknown_execution_error(tmp_path: Path) -> None:
    agent = Agent(name="researcher", tools=[get_weather], store=SQLiteStore(tmp_path / "agents.db"))
    with pytest.raises(UnknownExecutionError, match="exe_nowhere"):
        agent.retrieve_execution_result(execution_id="exe_nowhere")


def test_an_earlier_execution_by_id_while_another_is_current() -> None:
    agent = Agent(name="researcher", tools=[get_weather], store=InMemoryStore())
    first = agent.run("Weather in Oslo?", model=ScriptedModel([reply("Cold.")]))
    second = agent.run("And in Rome?", model=ScriptedModel([reply(call("get_weather", city="Rome")), reply("Mild.")]))
    assert agent.retrieve_execution_result() == second  # no id: the current execution, as before
    assert agent.retrieve_execution_result(execution_id=second.execution_id) == second
    earlier = agent.retrieve_execution_result(execution_id=first.execution_id)
    assert earlier == first
    assert (earlier.status, earlier.result) == ("COMPLETED", "Cold.")
