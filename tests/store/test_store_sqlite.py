"""SQLite specifics of the store, and many Python threads writing to one store at once.

Part of the store contract (see tests/store/conftest.py): tests that take `store` run against every
store, and compare whole values rather than picking fields. They never assume an empty store (a
PostgreSQL server could be shared): ids, agent names and memory owners are fresh per test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import (
    MIGRATION_NAMES,
    finished_record,
    new_execution,
    new_record,
    raw_sql,
    rich_execution,
    rich_messages,
    run_together,
    text_messages,
    thread_with,
)

from loopline.errors import ConcurrentUpdateError, StoredDataError
from loopline.messages import (
    Message,
)
from loopline.store import MIGRATIONS, SQLiteStore, Store

# === SQLite specifics ===========================================================================



def test_sqlite_reopening_the_file_sees_everything(db_path: Path) -> None:
    first = SQLiteStore(db_path)
    messages = rich_messages()
    thread_id = thread_with(first, messages, user="ada")
    fork = first.fork_thread(thread_id, upto=2)
    execution = rich_execution(thread_id)
    record = finished_record(new_record(execution.id, "call_a", 5.0), result="done", is_error=True)
    late = text_messages(1, "late")
    first.commit(execution, late, expected_length=len(messages), tool_calls=[record])
    first.claim_execution(execution.id, owner="a")
    first.memory_set("thread", thread_id, "k", {"v": ["ü"]})
    first.memory_set("agent", "rich-agent", "k", None)
    info, fork_info = first.get_thread(thread_id), first.get_thread(fork)
    first.close()

    second = SQLiteStore(db_path)
    try:
        assert second.get_thread(thread_id) == info
        assert second.get_thread(fork) == fork_info
        assert second.get_messages(thread_id) == messages + late
        assert second.get_messages(fork) == messages[:2]
        assert second.get_execution(execution.id) == execution
        assert second.list_executions(thread_id=thread_id) == [execution]
        assert second.get_tool_calls(execution.id) == [record]
        assert second.claim_execution(execution.id, owner="b") is False  # the claim survived
        assert second.memory_list("thread", thread_id) == {"k": {"v": ["ü"]}}
        assert second.memory_list("agent", "rich-agent") == {"k": None}
        assert {t.id for t in second.list_threads()} == {thread_id, fork}
    finally:
        second.close()


def test_sqlite_two_stores_on_one_file_see_each_others_writes(db_path: Path) -> None:
    one, two = SQLiteStore(db_path), SQLiteStore(db_path)
    try:
        thread_id = one.create_thread()
        assert two.append_messages(thread_id, text_messages(2, "two")) == 2
        with pytest.raises(ConcurrentUpdateError):
            one.append_messages(thread_id, text_messages(1, "one"), expected_length=0)
        from_two, from_one = text_messages(2, "two"), text_messages(1, "one")
        assert two.append_messages(thread_id, from_two) == 4
        assert one.append_messages(thread_id, from_one, expected_length=4) == 5
        assert two.get_messages(thread_id, start=2) == from_two + from_one
        assert one.get_messages(thread_id, start=2) == from_two + from_one
        execution = new_execution(thread_id)
        one.commit(execution)
        assert two.claim_execution(execution.id, owner="two") is True
        assert one.claim_execution(execution.id, owner="one") is False
    finally:
        one.close()
        two.close()


def test_sqlite_records_the_migration_once_after_reopening_twice(db_path: Path) -> None:
    for _ in range(3):
        SQLiteStore(db_path).close()
    assert raw_sql(db_path, "SELECT name FROM loopline_migrations ORDER BY name") == [(n,) for n in MIGRATION_NAMES]
    assert [m.name for m in MIGRATIONS] == MIGRATION_NAMES
    reopened = SQLiteStore(db_path)
    try:
        assert reopened.applied_migrations() == MIGRATION_NAMES
    finally:
        reopened.close()


def test_sqlite_in_memory_records_its_migration() -> None:
    store = SQLiteStore(":memory:")
    try:
        assert store.applied_migrations() == MIGRATION_NAMES
    finally:
        store.close()


def test_sqlite_refuses_a_database_with_an_unknown_migration(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    thread_id = store.create_thread()
    store.close()
    raw_sql(db_path, "INSERT INTO loopline_migrations (name, applied_at) VALUES (?, ?)", ("9999_from_the_future", 1.0))
    with pytest.raises(StoredDataError, match="9999_from_the_future"):
        SQLiteStore(db_path)
    # refusing changed nothing: the row is still there and the data untouched
    assert sorted(raw_sql(db_path, "SELECT name FROM loopline_migrations")) == [
        *((n,) for n in MIGRATION_NAMES), ("9999_from_the_future",)]
    assert raw_sql(db_path, "SELECT id FROM threads") == [(thread_id,)]


def test_sqlite_file_uses_wal(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        assert raw_sql(db_path, "PRAGMA journal_mode") == [("wal",)]
        assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store._conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    finally:
        store.close()


def test_sqlite_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db.sqlite"
    store = SQLiteStore(path)
    try:
        thread_id = store.create_thread()
        assert store.get_thread(thread_id).length == 0
    finally:
        store.close()
    assert path.exists()


# === many Python threads at once ================================================================



def test_eight_threads_appending_fifty_messages_each(shared_store: Store) -> None:
    writers, each = 8, 50
    thread_id = shared_store.create_thread()
    lengths: list[int] = []

    def append(w: int) -> None:
        for i in range(each):
            lengths.append(shared_store.append_messages(thread_id, [Message.user(f"w{w}-{i}")]))

    run_together(writers, append)
    texts = [m.text for m in shared_store.get_messages(thread_id)]
    assert len(texts) == writers * each
    assert sorted(texts) == sorted(f"w{w}-{i}" for w in range(writers) for i in range(each))
    for w in range(writers):
        assert [t for t in texts if t.startswith(f"w{w}-")] == [f"w{w}-{i}" for i in range(each)]
    assert sorted(lengths) == list(range(1, writers * each + 1))  # every append saw a distinct length
    assert shared_store.get_thread(thread_id).length == writers * each


def test_eight_threads_appending_batches_never_interleave(shared_store: Store) -> None:
    thread_id = shared_store.create_thread()

    def append(w: int) -> None:
        for i in range(10):
            shared_store.append_messages(thread_id, [Message.user(f"w{w}-{i}-{j}") for j in range(5)])

    run_together(8, append)
    texts = [m.text for m in shared_store.get_messages(thread_id)]
    assert len(texts) == 400
    for start in range(0, 400, 5):
        batch = texts[start:start + 5]
        prefix = batch[0].rsplit("-", 1)[0]
        assert batch == [f"{prefix}-{j}" for j in range(5)]


def test_optimistic_appends_from_eight_threads_lose_nothing(shared_store: Store) -> None:
    thread_id = shared_store.create_thread()
    conflicts: list[int] = []

    def append(w: int) -> None:
        for i in range(10):
            while True:
                length = shared_store.get_thread(thread_id).length
                try:
                    shared_store.append_messages(thread_id, [Message.user(f"w{w}-{i}")], expected_length=length)
                    break
                except ConcurrentUpdateError:
                    conflicts.append(w)

    run_together(8, append)
    texts = [m.text for m in shared_store.get_messages(thread_id)]
    assert sorted(texts) == sorted(f"w{w}-{i}" for w in range(8) for i in range(10))
    for w in range(8):
        assert [t for t in texts if t.startswith(f"w{w}-")] == [f"w{w}-{i}" for i in range(10)]


def test_only_one_of_eight_threads_wins_a_claim(shared_store: Store) -> None:
    execution = new_execution(shared_store.create_thread())
    shared_store.commit(execution)
    won: list[int] = []

    def claim(w: int) -> None:
        if shared_store.claim_execution(execution.id, owner=f"worker-{w}"):
            won.append(w)

    run_together(8, claim)
    assert len(won) == 1
    assert shared_store.claim_execution(execution.id, owner=f"worker-{won[0]}") is True
