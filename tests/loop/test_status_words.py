"""Execution statuses are the upper-case words people compare against, and any case reads back as them.

The stored side (the migration of rows written in lower case) is tests/store/test_store_status_migration.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore
from loopline.loop import execution_from_json, execution_to_json
from loopline.store import SQLiteStore, Store
from loopline.testing import ScriptedModel, reply

WORDS = ["PENDING", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED"]


def test_the_values_are_the_upper_case_words() -> None:
    assert [s.value for s in ExecutionStatus] == WORDS
    assert [str(s) for s in ExecutionStatus] == WORDS
    assert [s.name for s in ExecutionStatus] == WORDS


def test_a_completed_execution_compares_equal_to_completed() -> None:
    agent = Agent(name="a", store=InMemoryStore())
    result = agent.run("hi", model=ScriptedModel([reply("hello")]))
    assert result.status == "COMPLETED"
    execution = agent.get_execution(result.execution_id)
    assert execution.status == "COMPLETED"
    assert [status for status, _ in execution.status_history] == ["PENDING", "RUNNING", "COMPLETED"]
    stored = json.loads(execution_to_json(execution))
    assert (stored["status"], [s for s, _ in stored["status_history"]]) == ("COMPLETED",
                                                                            ["PENDING", "RUNNING", "COMPLETED"])


@pytest.mark.parametrize("word", ["completed", "COMPLETED", "Completed"])
def test_any_case_reads_as_the_status(word: str) -> None:
    assert ExecutionStatus(word) is ExecutionStatus.COMPLETED


def test_other_words_are_refused() -> None:
    with pytest.raises(ValueError, match="'done' is not a valid ExecutionStatus"):
        ExecutionStatus("done")


def test_json_written_in_lower_case_reads_back_upper_case() -> None:
    agent = Agent(name="a", store=InMemoryStore())
    result = agent.run("hi", model=ScriptedModel([reply("hello")]))
    record = json.loads(execution_to_json(agent.get_execution(result.execution_id)))
    record["status"] = "completed"  # as versions before wrote it
    record["status_history"] = [[status.lower(), when] for status, when in record["status_history"]]
    execution = execution_from_json(json.dumps(record))
    assert execution.status is ExecutionStatus.COMPLETED
    assert [s for s, _ in execution.status_history] == [ExecutionStatus.PENDING, ExecutionStatus.RUNNING,
                                                        ExecutionStatus.COMPLETED]
    assert execution == agent.get_execution(result.execution_id)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_list_executions_takes_the_status_as_a_word_in_any_case(kind: str, tmp_path: Path) -> None:
    store: Store = InMemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "db.sqlite")
    agent = Agent(name="a", store=store)
    done = agent.run("hi", model=ScriptedModel([reply("hello")]))
    for word in ("COMPLETED", "completed", ExecutionStatus.COMPLETED):
        assert [e.id for e in agent.list_executions(status=word)] == [done.execution_id]  # type: ignore[arg-type]
    assert agent.list_executions(status="failed") == []  # type: ignore[arg-type]


def test_html_tints_each_status_by_what_it_means() -> None:
    agent = Agent(name="a", store=InMemoryStore())
    result = agent.run("hi", model=ScriptedModel([reply("hello")]))
    assert "rgba(45,164,78,.7)" in result._repr_html_()  # the "ok" green, not the neutral grey
    assert ">COMPLETED</span>" in result._repr_html_()
