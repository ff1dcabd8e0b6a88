"""A database that fails under a store raises `StoreError` (the driver's error chained), and a failed write
leaves nothing behind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from loopline import Agent, tool
from loopline.errors import RuntimeFailure, StoreError
from loopline.messages import Message
from loopline.store import SQLiteStore


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return key


def test_a_locked_sqlite_database_raises_store_error_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SQLiteStore(path, timeout=0.05)
    thread = store.create_thread()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the timeout
    try:
        with pytest.raises(StoreError) as info:
            store.append_messages(thread, [Message.user("hello")], expected_length=0)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert isinstance(info.value, RuntimeFailure) and isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert "locked" in str(info.value) and info.value.store == str(path)
    assert store.get_messages(thread) == []  # nothing half-written, and the store works again
    store.append_messages(thread, [Message.user("hello")], expected_length=0)
    assert [m.text for m in store.get_messages(thread)] == ["hello"]


def test_an_agent_step_on_a_failing_store_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    agent = Agent("a", tools=[lookup], store=SQLiteStore(path, timeout=0.05))
    agent.add_task("go")
    before = (agent.execution, list(agent.thread))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError):
            agent.add_messages([{"role": "assistant", "content": "done"}])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert (agent.execution, list(agent.thread)) == before
    agent.add_messages([{"role": "assistant", "content": "done"}])  # and the same step works afterwards
    assert agent.is_finished()
