"""The store contract, threads: create, list, append, round trips, fork and delete.

Part of the store contract (see tests/store/conftest.py): tests that take `store` run against every
store, and compare whole values rather than picking fields. They never assume an empty store (a
PostgreSQL server could be shared): ids, agent names and memory owners are fresh per test.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from store_helpers import (
    Clock,
    new_execution,
    new_record,
    rich_messages,
    text_messages,
    thread_with,
    tool_calls_or_none,
    walk_pages,
)

from loopline.errors import ConcurrentUpdateError, UnknownExecutionError, UnknownThreadError
from loopline.messages import (
    Message,
    TextPart,
    new_id,
)
from loopline.store import Store, ThreadInfo

# === threads and messages ========================================================================


def test_create_thread_returns_a_new_empty_thread(store: Store) -> None:
    before = time.time()
    first, second = store.create_thread(), store.create_thread()
    after = time.time()
    assert first != second
    info = store.get_thread(first)
    assert info == ThreadInfo(id=first, created_at=info.created_at, updated_at=info.created_at, length=0,
                              metadata={}, parent_thread_id=None)
    assert before <= info.created_at <= after
    assert store.get_messages(first) == []


@pytest.mark.parametrize("metadata", [
    {},
    {"user": "ada", "n": 3, "ratio": 0.1 + 0.2, "ok": True, "none": None},
    {"nested": {"list": [1, [2, [3, {"four": None}]]], "ünï": "日本語 🚀"}, "big": 2**62, "": "empty key"},
], ids=["empty", "flat", "nested"])
def test_thread_metadata_round_trips(store: Store, metadata: dict[str, Any]) -> None:
    thread_id = store.create_thread(metadata=metadata)
    assert store.get_thread(thread_id).metadata == metadata


def test_list_threads_is_newest_first(store: Store, clock: Clock) -> None:
    made = []
    for step in range(4):
        clock.now += 1.0 + step
        made.append(store.create_thread(metadata={"step": step}))
    listed = walk_pages(lambda cursor: store.list_threads(limit=50, cursor=cursor), set(made), limit=50)
    mine = [t for t in listed if t.id in made]
    assert mine == [store.get_thread(t) for t in reversed(made)]
    assert [t.metadata for t in mine] == [{"step": 3}, {"step": 2}, {"step": 1}, {"step": 0}]


@pytest.mark.parametrize("limit", [1, 3, 4, 5, 50])
def test_list_threads_pages_through_ties_in_created_at(store: Store, clock: Clock, limit: int) -> None:
    """24 threads in 6 groups of 4 that share a `created_at`: every page boundary (also inside a group)
    must neither skip nor repeat a thread."""
    made = []
    for group in range(6):
        clock.now += 1.0
        made.extend(store.create_thread(metadata={"group": group}) for _ in range(4))
    expected = sorted((store.get_thread(t) for t in made), key=lambda t: (t.created_at, t.id), reverse=True)
    assert len({t.created_at for t in expected}) == 6
    listed = walk_pages(lambda cursor: store.list_threads(limit=limit, cursor=cursor), set(made), limit=limit)
    assert [t for t in listed if t.id in made] == expected


def test_list_threads_default_limit_is_50(store: Store, clock: Clock) -> None:
    made = set()
    for _ in range(51):
        clock.now += 0.5
        made.add(store.create_thread())
    first = store.list_threads()
    assert len(first) == 50
    assert first.next_cursor is not None
    assert {t.id for t in first} <= made  # the 50 newest are this test's


def test_list_threads_last_page_has_no_cursor(store: Store, clock: Clock) -> None:
    clock.now += 1.0
    made = [store.create_thread() for _ in range(3)]
    full = store.list_threads(limit=100_000)
    assert full.next_cursor is None
    assert set(made) <= {t.id for t in full}
    count = len(full)
    exact = store.list_threads(limit=count)
    assert exact == full
    assert exact.next_cursor is None
    short = store.list_threads(limit=count - 1)
    assert short == full[:-1]
    assert short.next_cursor is not None
    rest = store.list_threads(limit=count, cursor=short.next_cursor)
    assert rest == full[-1:]
    assert rest.next_cursor is None


BAD_CURSORS = [
    "!!!not base64!!!",
    base64.urlsafe_b64encode(b"no separator here").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe\xfd|thr_x").decode(),
    base64.urlsafe_b64encode(b"yesterday|thr_x").decode(),
]


@pytest.mark.parametrize("cursor", BAD_CURSORS, ids=["not-base64", "no-separator", "not-utf8", "not-a-number"])
def test_list_threads_bad_cursor_raises_value_error(store: Store, cursor: str) -> None:
    store.create_thread()
    with pytest.raises(ValueError):
        store.list_threads(cursor=cursor)


@pytest.mark.parametrize("cursor", BAD_CURSORS, ids=["not-base64", "no-separator", "not-utf8", "not-a-number"])
def test_list_executions_bad_cursor_raises_value_error(store: Store, cursor: str) -> None:
    store.commit(new_execution(store.create_thread()))
    with pytest.raises(ValueError):
        store.list_executions(cursor=cursor)


def test_get_messages_from_start(store: Store) -> None:
    messages = text_messages(5)
    thread_id = thread_with(store, messages)
    assert store.get_messages(thread_id) == messages
    for start in range(7):
        assert store.get_messages(thread_id, start=start) == messages[start:]
    assert store.get_messages(thread_id, start=100) == []
    empty = store.create_thread()
    assert store.get_messages(empty, start=0) == []
    assert store.get_messages(empty, start=3) == []


def test_append_returns_the_new_length_and_keeps_order(store: Store) -> None:
    thread_id = store.create_thread()
    first, second, third = text_messages(3, "a"), text_messages(1, "b"), text_messages(4, "c")
    assert store.append_messages(thread_id, first) == 3
    assert store.append_messages(thread_id, tuple(second)) == 4
    assert store.append_messages(thread_id, []) == 4
    assert store.append_messages(thread_id, third, expected_length=4) == 8
    assert store.append_messages(thread_id, [], expected_length=8) == 8
    assert store.get_messages(thread_id) == first + second + third
    assert store.get_thread(thread_id).length == 8


def test_append_updates_the_thread_record(store: Store) -> None:
    thread_id = store.create_thread(metadata={"k": "v"})
    created = store.get_thread(thread_id)
    time.sleep(0.01)
    before = time.time()
    store.append_messages(thread_id, text_messages(2))
    after = time.time()
    info = store.get_thread(thread_id)
    assert info == ThreadInfo(id=thread_id, created_at=created.created_at, updated_at=info.updated_at, length=2,
                              metadata={"k": "v"}, parent_thread_id=None)
    assert before <= info.updated_at <= after


@pytest.mark.parametrize("expected_length", [0, 1, 3, 100])
def test_append_with_a_wrong_expected_length_raises_and_writes_nothing(store: Store, expected_length: int) -> None:
    messages = text_messages(2)
    thread_id = thread_with(store, messages)
    before = store.get_thread(thread_id)
    with pytest.raises(ConcurrentUpdateError) as caught:
        store.append_messages(thread_id, text_messages(3, "late"), expected_length=expected_length)
    assert caught.value.thread_id == thread_id
    with pytest.raises(ConcurrentUpdateError):
        store.append_messages(thread_id, [], expected_length=expected_length)
    assert store.get_messages(thread_id) == messages
    assert store.get_thread(thread_id) == before


def test_every_part_kind_and_field_round_trips(store: Store) -> None:
    messages = rich_messages()
    thread_id = thread_with(store, messages[:3])
    store.append_messages(thread_id, messages[3:], expected_length=3)
    assert store.get_messages(thread_id) == messages
    assert store.get_messages(thread_id, start=2) == messages[2:]
    assert store.get_thread(thread_id).length == len(messages)


def test_control_characters_round_trip(store: Store) -> None:
    messages = [Message.user("nul \x00 bell \x07 esc \x1b del \x7f"),
                Message(role="assistant", parts=(TextPart(text="ok", provider_details={"raw": "a\x00b"}),))]
    thread_id = thread_with(store, messages)
    assert store.get_messages(thread_id) == messages


# === fork and delete ============================================================================


def test_fork_copies_every_message_metadata_and_parent(store: Store) -> None:
    messages = rich_messages()
    thread_id = thread_with(store, messages, user="ada", nested={"a": [1, None]})
    before = time.time()
    fork = store.fork_thread(thread_id)
    after = time.time()
    assert fork != thread_id
    info = store.get_thread(fork)
    assert info == ThreadInfo(id=fork, created_at=info.created_at, updated_at=info.updated_at, length=len(messages),
                              metadata={"user": "ada", "nested": {"a": [1, None]}}, parent_thread_id=thread_id)
    assert before <= info.created_at <= after
    assert store.get_messages(fork) == messages
    assert store.get_thread(thread_id).parent_thread_id is None


@pytest.mark.parametrize("upto", [0, 1, 3, 5, 6, 50])
def test_fork_upto(store: Store, upto: int) -> None:
    messages = text_messages(5)
    thread_id = thread_with(store, messages)
    fork = store.fork_thread(thread_id, upto=upto)
    assert store.get_messages(fork) == messages[:upto]
    assert store.get_thread(fork).length == min(upto, 5)
    assert store.get_thread(fork).parent_thread_id == thread_id
    assert store.get_messages(thread_id) == messages


def test_fork_of_an_empty_thread_and_of_a_fork(store: Store) -> None:
    empty = store.create_thread()
    fork = store.fork_thread(empty)
    assert store.get_messages(fork) == []
    assert store.get_thread(fork).length == 0
    messages = text_messages(3)
    store.append_messages(fork, messages)
    grandchild = store.fork_thread(fork, upto=2)
    assert store.get_thread(grandchild).parent_thread_id == fork
    assert store.get_messages(grandchild) == messages[:2]
    assert store.get_messages(empty) == []


def test_fork_is_independent_afterwards(store: Store) -> None:
    messages = text_messages(3)
    thread_id = thread_with(store, messages)
    fork = store.fork_thread(thread_id, upto=2)
    on_fork, on_original = text_messages(2, "fork"), text_messages(1, "orig")
    assert store.append_messages(fork, on_fork, expected_length=2) == 4
    assert store.append_messages(thread_id, on_original, expected_length=3) == 4
    assert store.get_messages(fork) == messages[:2] + on_fork
    assert store.get_messages(thread_id) == messages + on_original
    assert store.get_thread(fork).length == 4
    assert store.get_thread(thread_id).length == 4


def test_fork_survives_deleting_its_parent(store: Store) -> None:
    messages = text_messages(2)
    thread_id = thread_with(store, messages)
    fork = store.fork_thread(thread_id)
    store.delete_thread(thread_id)
    assert store.get_messages(fork) == messages
    assert store.get_thread(fork).parent_thread_id == thread_id


def test_delete_thread_removes_its_messages_executions_records_and_memory(store: Store) -> None:
    agent = new_id("agent")
    thread_id = thread_with(store, text_messages(3))
    executions = [new_execution(thread_id, agent_name=agent) for _ in range(2)]
    for n, execution in enumerate(executions):
        store.commit(execution, text_messages(1, f"e{n}"), tool_calls=[new_record(execution.id, f"call_{n}", 1.0 + n)])
        store.memory_set("execution", execution.id, "k", {"n": n})
    store.claim_execution(executions[0].id, owner="worker")
    store.memory_set("thread", thread_id, "k", "thread value")
    store.memory_set("agent", agent, "k", "agent value")

    kept_messages = text_messages(1, "keep")
    keep = thread_with(store, kept_messages)
    kept_execution = new_execution(keep, agent_name=agent)
    kept_record = new_record(kept_execution.id, "call_keep", 5.0)
    store.commit(kept_execution, tool_calls=[kept_record])
    store.memory_set("thread", keep, "k", "kept")
    store.memory_set("execution", kept_execution.id, "k", "kept")

    store.delete_thread(thread_id)

    with pytest.raises(UnknownThreadError):
        store.get_thread(thread_id)
    with pytest.raises(UnknownThreadError):
        store.get_messages(thread_id)
    for execution in executions:
        with pytest.raises(UnknownExecutionError):
            store.get_execution(execution.id)
        with pytest.raises(UnknownExecutionError):
            store.claim_execution(execution.id, owner="other")
        assert tool_calls_or_none(store, execution.id) == []
        assert store.memory_list("execution", execution.id) == {}
        assert store.memory_get("execution", execution.id, "k") is None
    assert store.list_executions(thread_id=thread_id) == []
    assert store.list_executions(agent_name=agent) == [kept_execution]
    assert store.memory_list("thread", thread_id) == {}
    assert store.memory_list("agent", agent) == {"k": "agent value"}
    assert thread_id not in {t.id for t in store.list_threads(limit=10_000)}

    assert store.get_messages(keep) == kept_messages
    assert store.get_execution(kept_execution.id) == kept_execution
    assert store.get_tool_calls(kept_execution.id) == [kept_record]
    assert store.memory_list("thread", keep) == {"k": "kept"}
    assert store.memory_list("execution", kept_execution.id) == {"k": "kept"}


def test_delete_thread_twice_raises(store: Store) -> None:
    thread_id = store.create_thread()
    store.delete_thread(thread_id)
    with pytest.raises(UnknownThreadError):
        store.delete_thread(thread_id)


def test_a_deleted_thread_cannot_be_appended_to_or_forked(store: Store) -> None:
    thread_id = thread_with(store, text_messages(1))
    store.delete_thread(thread_id)
    with pytest.raises(UnknownThreadError):
        store.append_messages(thread_id, text_messages(1))
    with pytest.raises(UnknownThreadError):
        store.fork_thread(thread_id)
