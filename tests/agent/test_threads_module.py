"""`loopline.threads` across processes: two SQLiteStore instances on one file, as two processes see it.

`writer` and `reader` share nothing but the file, so what one does is visible to the other only
through the database, exactly as for two processes (the command line proves the real cross-process
case with a subprocess in test_cli.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest

from loopline import threads
from loopline.errors import UnknownExecutionError, UnknownThreadError
from loopline.loop import Execution, ExecutionStatus
from loopline.messages import Message, TextPart, ToolCallPart, ToolResultPart
from loopline.store import SQLiteStore, ThreadInfo, set_default_store

QUESTION = Message(id="msg_1", created_at=1.0, role="user", parts=(TextPart(text="Weather in Oslo?"),))
CALL = Message(id="msg_2", created_at=2.0, role="assistant",
               parts=(ToolCallPart(id="call_1", name="get_weather", arguments='{"city": "Oslo"}'),))
RESULT = Message(id="msg_3", created_at=3.0, role="tool",
                 parts=(ToolResultPart(tool_call_id="call_1", name="get_weather", content="3°C"),))
ANSWER = Message(id="msg_4", created_at=4.0, role="assistant", parts=(TextPart(text="3°C in Oslo."),))
CONVERSATION = [QUESTION, CALL, RESULT, ANSWER]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "shared.db"


@pytest.fixture
def writer(path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)
    yield store
    store.close()


@pytest.fixture
def reader(path: Path, writer: SQLiteStore) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)  # opened after the writer made the file, like a second process would
    yield store
    store.close()


def _thread_with_an_execution(store: SQLiteStore, *, metadata: dict[str, str] | None = None) -> tuple[str, str]:
    thread_id = store.create_thread(metadata=metadata)
    execution = Execution(thread_id=thread_id, agent_name="researcher", input="Weather in Oslo?",
                          status=ExecutionStatus.COMPLETED, result="3°C in Oslo.")
    store.commit(execution, CONVERSATION, expected_length=0)
    store.memory_set("thread", thread_id, "unit", "c")
    return thread_id, execution.id


def test_a_thread_made_by_one_store_is_read_by_another(writer: SQLiteStore, reader: SQLiteStore) -> None:
    thread_id, _ = _thread_with_an_execution(writer, metadata={"user": "ada"})
    written = writer.get_thread(thread_id)
    assert threads.get(thread_id, store=reader) == ThreadInfo(
        id=thread_id, created_at=written.created_at, updated_at=written.updated_at, length=4,
        metadata={"user": "ada"}, parent_thread_id=None)
    assert threads.messages(thread_id, store=reader) == CONVERSATION
    assert threads.messages(thread_id, 2, store=reader) == [RESULT, ANSWER]
    assert threads.messages(thread_id, start=4, store=reader) == []


def test_listing_pages_through_what_the_other_store_wrote(writer: SQLiteStore, reader: SQLiteStore) -> None:
    with mock.patch("time.time", side_effect=itertools.count(100.0)):  # distinct times, in order
        made = [writer.create_thread(metadata={"n": str(n)}) for n in range(5)]
    first = threads.list(limit=2, store=reader)
    second = threads.list(limit=2, cursor=first.next_cursor, store=reader)
    third = threads.list(2, second.next_cursor, store=reader)
    assert [[t.id for t in page] for page in (first, second, third)] == [made[:2:-1], made[2:0:-1], made[:1]]
    assert third.next_cursor is None
    later = writer.create_thread()  # a thread made meanwhile is on a new first page, not the old pages
    assert [t.id for t in threads.list(store=reader)] == [later, *reversed(made)]
    assert [t.id for t in threads.list(limit=2, cursor=first.next_cursor, store=reader)] == made[2:0:-1]


def test_a_fork_made_by_one_store_is_seen_by_the_other(writer: SQLiteStore, reader: SQLiteStore) -> None:
    original, _ = _thread_with_an_execution(writer, metadata={"user": "ada"})
    fork = threads.fork(original, upto=2, store=reader)
    seen = threads.get(fork, store=writer)
    assert seen == ThreadInfo(id=fork, created_at=seen.created_at, updated_at=seen.updated_at, length=2,
                              metadata={"user": "ada"}, parent_thread_id=original)
    assert threads.messages(fork, store=writer) == [QUESTION, CALL]
    whole = threads.fork(original, store=writer)
    assert threads.messages(whole, store=reader) == CONVERSATION
    assert threads.messages(original, store=reader) == CONVERSATION  # the original is untouched
    assert threads.messages(threads.fork(original, 0, store=reader), store=writer) == []


def test_a_delete_by_one_store_removes_everything_for_the_other(writer: SQLiteStore, reader: SQLiteStore) -> None:
    doomed, execution_id = _thread_with_an_execution(writer)
    kept, kept_execution = _thread_with_an_execution(writer)
    threads.delete(doomed, store=reader)
    with pytest.raises(UnknownThreadError) as missing:
        threads.get(doomed, store=writer)
    assert missing.value.thread_id == doomed
    with pytest.raises(UnknownThreadError):
        threads.messages(doomed, store=writer)
    with pytest.raises(UnknownExecutionError):
        writer.get_execution(execution_id)
    assert writer.memory_list("thread", doomed) == {}
    assert [t.id for t in threads.list(store=writer)] == [kept]
    assert writer.get_execution(kept_execution).thread_id == kept
    assert writer.memory_list("thread", kept) == {"unit": "c"}
    with pytest.raises(UnknownThreadError):
        threads.delete(doomed, store=writer)


def test_unknown_ids_raise_the_named_error(reader: SQLiteStore) -> None:
    for call in (threads.get, threads.messages, threads.fork, threads.delete):
        with pytest.raises(UnknownThreadError) as raised:
            call("thr_nope", store=reader)
        assert raised.value.thread_id == "thr_nope"


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: threads.list(0, store=s), "limit must be at least 1, got 0"),
    (lambda s: threads.messages("thr_x", -1, store=s), "start must be a position (0 or more), got -1"),
    (lambda s: threads.fork("thr_x", -2, store=s), "upto must be a message count (0 or more), got -2"),
])
def test_out_of_range_arguments_are_refused_the_same_for_every_store(
        call: Callable[[SQLiteStore], object], message: str, reader: SQLiteStore) -> None:
    with pytest.raises(ValueError) as raised:
        call(reader)
    assert str(raised.value) == message


def test_without_a_store_the_default_store_is_used(path: Path, writer: SQLiteStore) -> None:
    thread_id, _ = _thread_with_an_execution(writer)
    other = SQLiteStore(path)
    set_default_store(other)
    try:
        assert [t.id for t in threads.list()] == [thread_id]
        assert threads.get(thread_id).length == 4
        assert threads.messages(thread_id, 3) == [ANSWER]
        fork = threads.fork(thread_id, 1)
        threads.delete(thread_id)
    finally:
        set_default_store(None)
        other.close()
    assert [t.id for t in threads.list(store=writer)] == [fork]

