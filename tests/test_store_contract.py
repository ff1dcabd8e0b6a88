"""The store contract: one suite that every store must pass, unchanged.

Every test in the contract sections takes the `store` fixture, which is parametrised over all stores:
in memory, SQLite on a file, SQLite in memory, and PostgreSQL (through the `pg_store` fixture of
`conftest.py`). Assertions compare whole values (`ThreadInfo`, `Message`, `Execution`,
`ToolCallRecord`, memory values) rather than picking fields.

The contract tests never assume an empty store (a PostgreSQL server could be shared): ids, agent
names and memory owners are fresh per test, threads that must come first are created with a clock
set years ahead, and listings are checked on the items a test made plus the global ordering of
everything listed.

Sections: threads and messages; fork and delete; commit; executions; claims; tool call records;
memory; copies in and out; unknown ids; SQLite specifics; many Python threads at once.
"""

from __future__ import annotations

import base64
import copy
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from loopline.errors import ConcurrentUpdateError, StoredDataError, UnknownExecutionError, UnknownThreadError
from loopline.loop import Execution, ExecutionError, ExecutionStatus, Limits
from loopline.messages import (
    FilePart,
    Message,
    OpaquePart,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
    new_id,
)
from loopline.store import MIGRATIONS, InMemoryStore, Page, SQLiteStore, Store, ThreadInfo, ToolCallRecord

STORES = ["memory", "sqlite-file", "sqlite-memory", "postgres"]
FIRST_MIGRATION = "0001_threads_executions_memory"


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each store in turn; PostgreSQL comes from the `pg_store` fixture, which owns its lifetime."""
    kind = request.param
    if kind == "postgres":
        yield request.getfixturevalue("pg_store")
        return
    made: Store
    if kind == "memory":
        made = InMemoryStore()
    elif kind == "sqlite-file":
        made = SQLiteStore(request.getfixturevalue("tmp_path") / "db.sqlite")
    else:
        made = SQLiteStore(":memory:")
    try:
        yield made
    finally:
        made.close()


class Clock:
    """Replaces `time.time` so threads can be created with chosen (and tied) timestamps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


_FUTURE = [time.time() + 100_000_000.0]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A frozen clock years ahead (so a test's threads are the newest even in a shared database),
    moved forward for each test that uses it."""
    _FUTURE[0] += 10_000.0
    fake = Clock(_FUTURE[0])
    monkeypatch.setattr(time, "time", fake)
    return fake


def _thread_with(store: Store, messages: list[Message], **metadata: Any) -> str:
    thread_id = store.create_thread(metadata=metadata or None)
    if messages:
        store.append_messages(thread_id, messages)
    return thread_id


def _texts(n: int, prefix: str = "m") -> list[Message]:
    return [Message.user(f"{prefix}{i}") for i in range(n)]


def _execution(thread_id: str, **changes: Any) -> Execution:
    fields: dict[str, Any] = {"thread_id": thread_id, "agent_name": "contract-agent", "input": "do it"}
    fields.update(changes)
    return Execution(**fields)


def _record(execution_id: str, call_id: str, started_at: float, **changes: Any) -> ToolCallRecord:
    fields: dict[str, Any] = {"execution_id": execution_id, "tool_call_id": call_id, "name": "search",
                              "arguments": '{"q": "x"}', "status": "started", "started_at": started_at}
    fields.update(changes)
    return ToolCallRecord(**fields)


def _finished(record: ToolCallRecord, *, result: str, is_error: bool = False) -> ToolCallRecord:
    return ToolCallRecord(execution_id=record.execution_id, tool_call_id=record.tool_call_id, name=record.name,
                          arguments=record.arguments, status="finished", started_at=record.started_at,
                          finished_at=record.started_at + 0.75, result=result, is_error=is_error, duration=0.75)


def _rich_messages() -> list[Message]:
    """One message per role, every part kind and every optional field, with awkward JSON inside."""
    nested = {"list": [1, 2.5, None, True, False, {"deep": ["ü", "日本語", "🚀"]}], "null": None,
              "big": 2**63 - 1, "neg": -0.0001, "empty": {}, "quote": 'he said "hi"\\n', "ключ": "значение"}
    return [
        Message(role="system", parts=(TextPart(text="Be terse. Ünïcødé ✓ 日本語 🚀 \u202eRTL\u202c\ttab\nline"),),
                created_at=1_700_000_000.123456),
        Message(role="user", parts=(
            TextPart(text="look at these"),
            FilePart(media_type="image/png", data="iVBORw0KGgoAAAANSUhEUg==", filename="pïc.png"),
            FilePart(media_type="application/pdf", url="https://example.com/a%20b.pdf?x=1&y=ü",
                     provider_details={"file_id": "file-1", "meta": nested}),
        )),
        Message(role="assistant", parts=(
            ReasoningPart(text="thinking… about ∑", provider="anthropic", signature="c2lnbmF0dXJl==",
                          provider_details={"block": {"type": "thinking", "cache": None}}),
            ReasoningPart(provider="openai-responses", redacted=True,
                          provider_details={"encrypted_content": "gAAAAB" + "x" * 500, "id": "rs_1"}),
            TextPart(text="calling tools", provider_details={"annotations": [{"start": 0, "end": None}]}),
            ToolCallPart(id="call_1", name="search", arguments='{"q": "ünï", "n": [1, 2]}',
                         provider_details={"item_id": "fc_1", "nested": nested}),
            ToolCallPart(id="call_2", name="shell", arguments="ls -la | grep 'x'\n", tool_type="custom"),
        ), provider="openai-responses", model="gpt-test-1",
            usage=Usage(input_tokens=1200, output_tokens=340, cached_tokens=1000, reasoning_tokens=200,
                        cache_write_tokens=50, requests=1),
            stop_reason="tool_calls", raw_stop_reason="tool_use",
            provider_details={"response_id": "resp_1", "nested": nested}),
        Message(role="tool", parts=(
            ToolResultPart(tool_call_id="call_1", name="search", content='{"hits": ["ä"]}',
                           provider_details={"x": [None]}),
            ToolResultPart(tool_call_id="call_2", name="shell", content="Error: boom", is_error=True),
        )),
        Message(role="assistant", parts=(RefusalPart(text="I can't help with that.",
                                                     provider_details={"reason": None}),),
                provider="anthropic", model="claude-test", stop_reason="refusal", raw_stop_reason="refusal"),
        Message(role="assistant", parts=(
            OpaquePart(provider="anthropic", data={"type": "server_tool_use", "id": "srvtoolu_1",
                                                   "input": {"query": None}, "content": [{"a": [1, {"b": None}]}]}),
            TextPart(text=""),
        ), stop_reason="pause", raw_stop_reason="pause_turn"),
        *(Message(role="assistant", parts=(TextPart(text=reason),), stop_reason=reason, raw_stop_reason=f"raw-{reason}")
          for reason in ("stop", "length", "content_filter", "other")),
        Message(role="assistant", parts=()),
    ]


def _rich_execution(thread_id: str) -> Execution:
    execution = Execution(
        thread_id=thread_id, agent_name="rich-agent", input="find ü and 🚀", created_at=1_800_000_000.5,
        usage=Usage(input_tokens=10, output_tokens=20, cached_tokens=3, reasoning_tokens=4, cache_write_tokens=5,
                    requests=2),
        steps=3, tool_calls=4, finish_reminders=1,
        pending_tool_calls=(
            ToolCallPart(id="call_a", name="search", arguments='{"q": "ä"}', provider_details={"item_id": "fc_a",
                                                                                               "n": None}),
            ToolCallPart(id="call_b", name="shell", arguments="echo hi", tool_type="custom"),
        ),
        running_tool_calls=("call_a",),
        limits=Limits(max_steps=7, max_duration=12.5, max_finish_reminders=0),
        parent_execution_id="exe_parent",
        finish_tool_name="finish",
        require_finish=True,
        output_schema={"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]},
        awaiting_decision=("call_b",),
    )
    execution.set_status(ExecutionStatus.RUNNING, 1_800_000_001.25)
    execution.set_status(ExecutionStatus.PAUSED, 1_800_000_002.0)
    execution.set_status(ExecutionStatus.FAILED, 1_800_000_003.75)
    execution.error = ExecutionError(code="max_steps", message="ran out of steps (7) — raise Limits.max_steps")
    execution.result = {"answer": "ünï", "items": [1, 2.5, None, True, {"deep": ["🚀"]}], "none": None}
    return execution


def _walk(fetch: Callable[[str | None], Page[Any]], wanted: set[str], *, limit: int) -> list[Any]:
    """Follow cursors from the first page until every wanted id was seen (or the pages end); check
    that every page but the last is full and that nothing is listed twice."""
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = fetch(cursor)
        assert isinstance(page, list)
        assert len(page) <= limit
        seen.extend(page)
        cursor = page.next_cursor
        if cursor is None or wanted <= {x.id for x in seen}:
            break
        assert len(page) == limit
    ids = [x.id for x in seen]
    assert len(ids) == len(set(ids)), "an item was listed twice"
    keys = [(x.created_at, x.id) for x in seen]
    assert keys == sorted(keys, reverse=True), "not newest first by (created_at, id)"
    return seen


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
    listed = _walk(lambda cursor: store.list_threads(limit=50, cursor=cursor), set(made), limit=50)
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
    listed = _walk(lambda cursor: store.list_threads(limit=limit, cursor=cursor), set(made), limit=limit)
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
    store.commit(_execution(store.create_thread()))
    with pytest.raises(ValueError):
        store.list_executions(cursor=cursor)


def test_get_messages_from_start(store: Store) -> None:
    messages = _texts(5)
    thread_id = _thread_with(store, messages)
    assert store.get_messages(thread_id) == messages
    for start in range(7):
        assert store.get_messages(thread_id, start=start) == messages[start:]
    assert store.get_messages(thread_id, start=100) == []
    empty = store.create_thread()
    assert store.get_messages(empty, start=0) == []
    assert store.get_messages(empty, start=3) == []


def test_append_returns_the_new_length_and_keeps_order(store: Store) -> None:
    thread_id = store.create_thread()
    first, second, third = _texts(3, "a"), _texts(1, "b"), _texts(4, "c")
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
    store.append_messages(thread_id, _texts(2))
    after = time.time()
    info = store.get_thread(thread_id)
    assert info == ThreadInfo(id=thread_id, created_at=created.created_at, updated_at=info.updated_at, length=2,
                              metadata={"k": "v"}, parent_thread_id=None)
    assert before <= info.updated_at <= after


@pytest.mark.parametrize("expected_length", [0, 1, 3, 100])
def test_append_with_a_wrong_expected_length_raises_and_writes_nothing(store: Store, expected_length: int) -> None:
    messages = _texts(2)
    thread_id = _thread_with(store, messages)
    before = store.get_thread(thread_id)
    with pytest.raises(ConcurrentUpdateError) as caught:
        store.append_messages(thread_id, _texts(3, "late"), expected_length=expected_length)
    assert caught.value.thread_id == thread_id
    with pytest.raises(ConcurrentUpdateError):
        store.append_messages(thread_id, [], expected_length=expected_length)
    assert store.get_messages(thread_id) == messages
    assert store.get_thread(thread_id) == before


def test_every_part_kind_and_field_round_trips(store: Store) -> None:
    messages = _rich_messages()
    thread_id = _thread_with(store, messages[:3])
    store.append_messages(thread_id, messages[3:], expected_length=3)
    assert store.get_messages(thread_id) == messages
    assert store.get_messages(thread_id, start=2) == messages[2:]
    assert store.get_thread(thread_id).length == len(messages)


def test_control_characters_round_trip(store: Store) -> None:
    messages = [Message.user("nul \x00 bell \x07 esc \x1b del \x7f"),
                Message(role="assistant", parts=(TextPart(text="ok", provider_details={"raw": "a\x00b"}),))]
    thread_id = _thread_with(store, messages)
    assert store.get_messages(thread_id) == messages


# === fork and delete ============================================================================


def test_fork_copies_every_message_metadata_and_parent(store: Store) -> None:
    messages = _rich_messages()
    thread_id = _thread_with(store, messages, user="ada", nested={"a": [1, None]})
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
    messages = _texts(5)
    thread_id = _thread_with(store, messages)
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
    messages = _texts(3)
    store.append_messages(fork, messages)
    grandchild = store.fork_thread(fork, upto=2)
    assert store.get_thread(grandchild).parent_thread_id == fork
    assert store.get_messages(grandchild) == messages[:2]
    assert store.get_messages(empty) == []


def test_fork_is_independent_afterwards(store: Store) -> None:
    messages = _texts(3)
    thread_id = _thread_with(store, messages)
    fork = store.fork_thread(thread_id, upto=2)
    on_fork, on_original = _texts(2, "fork"), _texts(1, "orig")
    assert store.append_messages(fork, on_fork, expected_length=2) == 4
    assert store.append_messages(thread_id, on_original, expected_length=3) == 4
    assert store.get_messages(fork) == messages[:2] + on_fork
    assert store.get_messages(thread_id) == messages + on_original
    assert store.get_thread(fork).length == 4
    assert store.get_thread(thread_id).length == 4


def test_fork_survives_deleting_its_parent(store: Store) -> None:
    messages = _texts(2)
    thread_id = _thread_with(store, messages)
    fork = store.fork_thread(thread_id)
    store.delete_thread(thread_id)
    assert store.get_messages(fork) == messages
    assert store.get_thread(fork).parent_thread_id == thread_id


def _tool_calls_or_none(store: Store, execution_id: str) -> list[ToolCallRecord]:
    """`get_tool_calls` for an execution that may be gone (raising or empty are both 'nothing')."""
    try:
        return store.get_tool_calls(execution_id)
    except UnknownExecutionError:
        return []


def test_delete_thread_removes_its_messages_executions_records_and_memory(store: Store) -> None:
    agent = new_id("agent")
    thread_id = _thread_with(store, _texts(3))
    executions = [_execution(thread_id, agent_name=agent) for _ in range(2)]
    for n, execution in enumerate(executions):
        store.commit(execution, _texts(1, f"e{n}"), tool_calls=[_record(execution.id, f"call_{n}", 1.0 + n)])
        store.memory_set("execution", execution.id, "k", {"n": n})
    store.claim_execution(executions[0].id, owner="worker")
    store.memory_set("thread", thread_id, "k", "thread value")
    store.memory_set("agent", agent, "k", "agent value")

    kept_messages = _texts(1, "keep")
    keep = _thread_with(store, kept_messages)
    kept_execution = _execution(keep, agent_name=agent)
    kept_record = _record(kept_execution.id, "call_keep", 5.0)
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
        assert _tool_calls_or_none(store, execution.id) == []
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
    thread_id = _thread_with(store, _texts(1))
    store.delete_thread(thread_id)
    with pytest.raises(UnknownThreadError):
        store.append_messages(thread_id, _texts(1))
    with pytest.raises(UnknownThreadError):
        store.fork_thread(thread_id)


# === commit =====================================================================================


def test_commit_appends_saves_and_upserts_in_one_call(store: Store) -> None:
    task = _texts(1, "task")
    thread_id = _thread_with(store, task)
    execution = _execution(thread_id)
    assert store.commit(execution) is None  # type: ignore[func-returns-value]
    assert store.get_execution(execution.id) == execution
    assert store.get_messages(thread_id) == task

    reply = [Message(role="assistant", parts=(ToolCallPart(id="call_1", name="search", arguments="{}"),))]
    execution.set_status(ExecutionStatus.RUNNING, execution.created_at + 1)
    execution.steps = 1
    started = _record(execution.id, "call_1", execution.created_at + 1.5)
    store.commit(execution, reply, expected_length=1, tool_calls=[started])
    assert store.get_thread(thread_id).length == 2
    assert store.get_messages(thread_id, start=1) == reply
    assert store.get_execution(execution.id) == execution
    assert store.get_tool_calls(execution.id) == [started]

    results = [Message(role="tool", parts=(ToolResultPart(tool_call_id="call_1", name="search", content="ok"),))]
    execution.set_status(ExecutionStatus.COMPLETED, execution.created_at + 3)
    execution.result = {"answer": 42}
    finished = _finished(started, result="ok")
    store.commit(execution, results, expected_length=2, tool_calls=[finished])
    assert store.get_messages(thread_id) == task + reply + results
    assert store.get_execution(execution.id) == execution
    assert store.get_tool_calls(execution.id) == [finished]


def test_commit_without_expected_length_appends_at_the_end(store: Store) -> None:
    messages = _texts(2)
    thread_id = _thread_with(store, messages)
    execution = _execution(thread_id)
    more = _texts(2, "more")
    store.commit(execution, more)
    assert store.get_messages(thread_id) == messages + more
    assert store.get_execution(execution.id) == execution


def test_commit_with_a_wrong_expected_length_writes_nothing(store: Store) -> None:
    messages = _texts(2)
    thread_id = _thread_with(store, messages)
    execution = _execution(thread_id)
    first = _record(execution.id, "call_1", 10.0)
    store.commit(execution, tool_calls=[first])
    saved = copy.deepcopy(execution)
    thread_before = store.get_thread(thread_id)

    execution.set_status(ExecutionStatus.COMPLETED, execution.created_at + 5)
    execution.result = "should not be saved"
    with pytest.raises(ConcurrentUpdateError) as caught:
        store.commit(execution, _texts(3, "late"), expected_length=1,
                     tool_calls=[_finished(first, result="no"), _record(execution.id, "call_2", 11.0)])
    assert caught.value.thread_id == thread_id
    assert store.get_messages(thread_id) == messages
    assert store.get_thread(thread_id) == thread_before
    assert store.get_execution(execution.id) == saved
    assert store.get_tool_calls(execution.id) == [first]

    fresh = _execution(thread_id)
    with pytest.raises(ConcurrentUpdateError):
        store.commit(fresh, _texts(1), expected_length=5, tool_calls=[_record(fresh.id, "call_9", 1.0)])
    with pytest.raises(UnknownExecutionError):
        store.get_execution(fresh.id)
    assert _tool_calls_or_none(store, fresh.id) == []
    assert store.list_executions(thread_id=thread_id, limit=None) == [saved]
    assert store.get_messages(thread_id) == messages


def test_commit_checks_expected_length_even_without_messages(store: Store) -> None:
    thread_id = _thread_with(store, _texts(2))
    execution = _execution(thread_id)
    with pytest.raises(ConcurrentUpdateError):
        store.commit(execution, expected_length=3)
    with pytest.raises(UnknownExecutionError):
        store.get_execution(execution.id)
    store.commit(execution, expected_length=2)
    assert store.get_execution(execution.id) == execution
    assert store.get_thread(thread_id).length == 2


# === executions =================================================================================


def test_a_rich_execution_round_trips(store: Store) -> None:
    thread_id = store.create_thread()
    execution = _rich_execution(thread_id)
    store.commit(execution)
    assert store.get_execution(execution.id) == execution
    assert store.list_executions(agent_name="rich-agent", thread_id=thread_id) == [execution]


def test_a_fresh_execution_round_trips(store: Store) -> None:
    thread_id = store.create_thread()
    execution = _execution(thread_id)
    store.commit(execution)
    got = store.get_execution(execution.id)
    assert got == execution
    assert got.status_history == [(ExecutionStatus.PENDING, execution.created_at)]
    assert got.status is ExecutionStatus.PENDING


RESULTS = [None, "plain text ü", "", 0, 42, -7, 2.5, True, False, [], {}, [1, "a", None, [2.5]],
           {"k": {"n": [True, None, {"deep": "🚀"}]}, "": 0}]


def test_an_execution_result_round_trips_as_json(store: Store) -> None:
    thread_id = store.create_thread()
    for result in RESULTS:
        execution = _execution(thread_id, status=ExecutionStatus.COMPLETED, result=result)
        store.commit(execution)
        got = store.get_execution(execution.id)
        assert got == execution
        assert type(got.result) is type(result)


def test_list_executions_filters(store: Store) -> None:
    a, b = new_id("agent"), new_id("agent")
    t1, t2 = store.create_thread(), store.create_thread()
    base = 1_900_000_000.0
    rows = [(a, t1, ExecutionStatus.RUNNING), (a, t1, ExecutionStatus.COMPLETED), (a, t2, ExecutionStatus.RUNNING),
            (b, t1, ExecutionStatus.RUNNING), (b, t2, ExecutionStatus.FAILED), (b, t2, ExecutionStatus.PAUSED)]
    made = []
    for n, (agent, thread_id, status) in enumerate(rows):
        execution = _execution(thread_id, agent_name=agent, created_at=base + n)
        execution.set_status(status, base + n + 0.5)
        store.commit(execution)
        made.append(execution)

    def expect(*indexes: int) -> list[Execution]:
        return [made[i] for i in sorted(indexes, reverse=True)]

    assert store.list_executions(agent_name=a) == expect(0, 1, 2)
    assert store.list_executions(agent_name=b) == expect(3, 4, 5)
    assert store.list_executions(thread_id=t1) == expect(0, 1, 3)
    assert store.list_executions(thread_id=t2) == expect(2, 4, 5)
    assert store.list_executions(agent_name=a, thread_id=t1) == expect(0, 1)
    assert store.list_executions(agent_name=a, status=ExecutionStatus.RUNNING) == expect(0, 2)
    assert store.list_executions(thread_id=t1, status=ExecutionStatus.RUNNING) == expect(0, 3)
    assert store.list_executions(agent_name=b, thread_id=t2, status=ExecutionStatus.FAILED) == expect(4)
    assert store.list_executions(agent_name=a, status=ExecutionStatus.CANCELLED) == []
    assert store.list_executions(agent_name=a, thread_id=t2, status=ExecutionStatus.COMPLETED) == []
    assert store.list_executions(thread_id="thr_missing") == []
    assert store.list_executions(agent_name="no-such-agent") == []
    everything = store.list_executions(limit=None)
    assert [e for e in everything if e.id in {m.id for m in made}] == expect(0, 1, 2, 3, 4, 5)
    running = store.list_executions(status=ExecutionStatus.RUNNING, limit=None)
    assert [e for e in running if e.agent_name in (a, b)] == expect(0, 2, 3)
    assert all(e.status is ExecutionStatus.RUNNING for e in running)


def test_list_executions_status_follows_later_commits(store: Store) -> None:
    agent = new_id("agent")
    execution = _execution(store.create_thread(), agent_name=agent)
    store.commit(execution)
    assert store.list_executions(agent_name=agent, status=ExecutionStatus.PENDING) == [execution]
    execution.set_status(ExecutionStatus.CANCELLED, execution.created_at + 1)
    store.commit(execution)
    assert store.list_executions(agent_name=agent, status=ExecutionStatus.PENDING) == []
    assert store.list_executions(agent_name=agent, status=ExecutionStatus.CANCELLED) == [execution]
    assert store.list_executions(agent_name=agent) == [execution]


@pytest.mark.parametrize("limit", [1, 4, 5, 7])
def test_list_executions_pages_through_ties(store: Store, limit: int) -> None:
    agent = new_id("agent")
    thread_id = store.create_thread()
    made = []
    for group in range(5):
        for _ in range(4):
            execution = _execution(thread_id, agent_name=agent, created_at=1_950_000_000.0 + group)
            store.commit(execution)
            made.append(execution)
    expected = sorted(made, key=lambda e: (e.created_at, e.id), reverse=True)
    listed = _walk(lambda cursor: store.list_executions(agent_name=agent, limit=limit, cursor=cursor),
                   {e.id for e in made}, limit=limit)
    assert listed == expected
    assert store.list_executions(agent_name=agent, limit=None) == expected
    last = store.list_executions(agent_name=agent, limit=20)
    assert last == expected
    assert last.next_cursor is None


def test_list_executions_default_limit_is_50_and_none_means_all(store: Store) -> None:
    agent = new_id("agent")
    thread_id = store.create_thread()
    made = [_execution(thread_id, agent_name=agent, created_at=1_960_000_000.0 + n) for n in range(51)]
    for execution in made:
        store.commit(execution)
    first = store.list_executions(agent_name=agent)
    assert first == made[::-1][:50]
    assert first.next_cursor is not None
    rest = store.list_executions(agent_name=agent, cursor=first.next_cursor)
    assert rest == [made[0]]
    assert rest.next_cursor is None
    every = store.list_executions(agent_name=agent, limit=None)
    assert every == made[::-1]
    assert every.next_cursor is None


# === claims =====================================================================================


def test_claim_is_held_by_one_owner_until_released(store: Store) -> None:
    execution = _execution(store.create_thread())
    store.commit(execution)
    assert store.claim_execution(execution.id, owner="a") is True
    assert store.claim_execution(execution.id, owner="b") is False
    assert store.claim_execution(execution.id, owner="a") is True  # renewal
    store.release_execution(execution.id, owner="b")  # not b's: nothing happens
    assert store.claim_execution(execution.id, owner="b") is False
    store.release_execution(execution.id, owner="a")
    assert store.claim_execution(execution.id, owner="b") is True
    assert store.claim_execution(execution.id, owner="a") is False
    store.release_execution(execution.id, owner="b")
    store.release_execution(execution.id, owner="b")  # releasing twice is harmless
    assert store.claim_execution(execution.id, owner="a") is True


def test_claims_are_per_execution_and_do_not_change_it(store: Store) -> None:
    thread_id = store.create_thread()
    first, second = _execution(thread_id), _execution(thread_id)
    store.commit(first)
    store.commit(second)
    assert store.claim_execution(first.id, owner="a") is True
    assert store.claim_execution(second.id, owner="b") is True
    assert store.get_execution(first.id) == first
    execution_updated = copy.deepcopy(first)
    execution_updated.set_status(ExecutionStatus.RUNNING, first.created_at + 1)
    store.commit(execution_updated)  # saving does not drop the claim
    assert store.claim_execution(first.id, owner="b") is False
    assert store.get_execution(first.id) == execution_updated


def test_a_claim_expires_after_its_lease(store: Store) -> None:
    execution = _execution(store.create_thread())
    store.commit(execution)
    assert store.claim_execution(execution.id, owner="a", lease_seconds=0.2) is True
    assert store.claim_execution(execution.id, owner="b") is False
    time.sleep(0.3)
    assert store.claim_execution(execution.id, owner="b") is True
    assert store.claim_execution(execution.id, owner="a") is False


def test_renewal_by_the_same_owner_extends_the_lease(store: Store) -> None:
    execution = _execution(store.create_thread())
    store.commit(execution)
    assert store.claim_execution(execution.id, owner="a", lease_seconds=0.3) is True
    time.sleep(0.15)
    assert store.claim_execution(execution.id, owner="a", lease_seconds=1.0) is True
    time.sleep(0.25)  # past the first lease, inside the renewed one
    assert store.claim_execution(execution.id, owner="b") is False


# === tool call records ==========================================================================


def test_tool_calls_come_back_in_start_order_and_upsert_to_finished(store: Store) -> None:
    execution = _execution(store.create_thread())
    late = _record(execution.id, "call_late", 3.0, name="shell", arguments="ls\n")
    early = _record(execution.id, "call_early", 1.0, arguments='{"q": "ü 🚀"}')
    middle = _record(execution.id, "call_middle", 2.0)
    store.commit(execution, tool_calls=[late])
    store.commit(execution, tool_calls=[early, middle])
    assert store.get_tool_calls(execution.id) == [early, middle, late]

    done_early = _finished(early, result="Error: bad input ü", is_error=True)
    done_late = _finished(late, result='{"files": []}')
    store.commit(execution, tool_calls=[done_late, done_early])
    assert store.get_tool_calls(execution.id) == [done_early, middle, done_late]
    assert store.get_tool_calls(execution.id)[0].is_error is True
    assert store.get_tool_calls(execution.id)[2].is_error is False


def test_tool_calls_belong_to_their_execution(store: Store) -> None:
    thread_id = store.create_thread()
    first, second = _execution(thread_id), _execution(thread_id)
    store.commit(first, tool_calls=[_record(first.id, "call_1", 1.0)])
    store.commit(second, tool_calls=[_record(second.id, "call_1", 2.0, name="other")])
    store.commit(_execution(thread_id))
    assert store.get_tool_calls(first.id) == [_record(first.id, "call_1", 1.0)]
    assert store.get_tool_calls(second.id) == [_record(second.id, "call_1", 2.0, name="other")]


def test_an_execution_without_tool_calls_has_none(store: Store) -> None:
    execution = _execution(store.create_thread())
    store.commit(execution)
    assert store.get_tool_calls(execution.id) == []


# === memory =====================================================================================


JSON_VALUES = [
    0, -1, 2**53 + 1, 1.5, -0.25, True, False, "", "ünï 日本語 🚀 \"quoted\" \\ back", [], {},
    [1, [2, [3, [None]]]], {"a": {"b": [None, {"c": "d", "e": 1.0e-10}]}, "": "empty key"},
]


@pytest.mark.parametrize("scope", ["execution", "thread", "agent"])
def test_memory_round_trips_json_values(store: Store, scope: Any) -> None:
    owner = new_id("owner")
    for n, value in enumerate(JSON_VALUES):
        store.memory_set(scope, owner, f"key{n}", value)
    for n, value in enumerate(JSON_VALUES):
        got = store.memory_get(scope, owner, f"key{n}")
        assert (got, type(got)) == (value, type(value))
    listed = store.memory_list(scope, owner)
    assert listed == {f"key{n}": value for n, value in enumerate(JSON_VALUES)}
    assert {k: type(v) for k, v in listed.items()} == {f"key{n}": type(v) for n, v in enumerate(JSON_VALUES)}


def test_memory_none_is_stored_but_missing_is_not_listed(store: Store) -> None:
    owner = new_id("owner")
    assert store.memory_get("agent", owner, "missing") is None
    store.memory_set("agent", owner, "none", None)
    assert store.memory_get("agent", owner, "none") is None
    assert store.memory_list("agent", owner) == {"none": None}
    store.memory_delete("agent", owner, "none")
    assert store.memory_list("agent", owner) == {}


def test_memory_set_replaces_and_delete_forgets(store: Store) -> None:
    owner = new_id("owner")
    store.memory_set("thread", owner, "k", {"v": 1})
    store.memory_set("thread", owner, "k", ["replaced"])
    store.memory_set("thread", owner, "other", 2)
    assert store.memory_get("thread", owner, "k") == ["replaced"]
    assert store.memory_list("thread", owner) == {"k": ["replaced"], "other": 2}
    store.memory_delete("thread", owner, "k")
    store.memory_delete("thread", owner, "k")  # absent: no error
    store.memory_delete("thread", owner, "never-set")
    store.memory_delete("agent", new_id("nobody"), "k")
    assert store.memory_get("thread", owner, "k") is None
    assert store.memory_list("thread", owner) == {"other": 2}


def test_memory_is_isolated_by_scope_owner_and_key(store: Store) -> None:
    owner, other = new_id("owner"), new_id("owner")
    keys = ["k", "K", "ключ/with spaces.and:colons", "k "]
    for n, key in enumerate(keys):
        store.memory_set("execution", owner, key, ["execution", n])
        store.memory_set("thread", owner, key, ["thread", n])
        store.memory_set("agent", owner, key, ["agent", n])
        store.memory_set("thread", other, key, ["other", n])
    for scope in ("execution", "thread", "agent"):
        assert store.memory_list(scope, owner) == {key: [scope, n] for n, key in enumerate(keys)}
        for n, key in enumerate(keys):
            assert store.memory_get(scope, owner, key) == [scope, n]
    assert store.memory_list("thread", other) == {key: ["other", n] for n, key in enumerate(keys)}
    assert store.memory_list("agent", other) == {}
    store.memory_delete("thread", owner, "k")
    assert store.memory_get("execution", owner, "k") == ["execution", 0]
    assert store.memory_get("agent", owner, "k") == ["agent", 0]
    assert store.memory_get("thread", other, "k") == ["other", 0]
    assert store.memory_get("thread", owner, "K") == ["thread", 1]


# === copies in and out ==========================================================================


def test_thread_metadata_is_copied_in_and_out(store: Store) -> None:
    metadata: dict[str, Any] = {"tags": ["a"], "nested": {"n": 1}}
    thread_id = store.create_thread(metadata=metadata)
    metadata["tags"].append("changed")
    metadata["nested"]["n"] = 2
    metadata["new"] = True
    expected = {"tags": ["a"], "nested": {"n": 1}}
    assert store.get_thread(thread_id).metadata == expected

    read = store.get_thread(thread_id)
    read.metadata["tags"].append("changed")
    read.metadata["new"] = True
    assert store.get_thread(thread_id).metadata == expected

    listed = next(t for t in store.list_threads(limit=10_000) if t.id == thread_id)
    listed.metadata["nested"]["n"] = 3
    assert store.get_thread(thread_id).metadata == expected

    fork = store.fork_thread(thread_id)
    fork_read = store.get_thread(fork)
    fork_read.metadata["tags"].append("fork")
    assert store.get_thread(thread_id).metadata == expected
    assert store.get_thread(fork).metadata == expected


def test_a_saved_execution_is_copied_in(store: Store) -> None:
    execution = _rich_execution(store.create_thread())
    store.commit(execution)
    expected = copy.deepcopy(execution)
    execution.set_status(ExecutionStatus.COMPLETED, execution.created_at + 10)
    execution.status_history.append((ExecutionStatus.CANCELLED, 1.0))
    execution.result["items"].append("changed")
    execution.result["new"] = 1
    assert execution.output_schema is not None
    execution.output_schema["required"].append("changed")
    execution.steps = 99
    assert store.get_execution(execution.id) == expected


def test_a_read_execution_is_copied_out(store: Store) -> None:
    execution = _rich_execution(store.create_thread())
    store.commit(execution)
    expected = copy.deepcopy(execution)
    for read in (store.get_execution(execution.id), store.list_executions(agent_name="rich-agent",
                                                                          thread_id=execution.thread_id)[0]):
        read.set_status(ExecutionStatus.COMPLETED, read.created_at + 10)
        read.status_history.clear()
        read.result["items"].append("changed")
        read.result["answer"] = "changed"
        assert read.output_schema is not None
        read.output_schema["properties"]["answer"]["type"] = "integer"
        read.usage = Usage()
        assert store.get_execution(execution.id) == expected


def test_message_details_are_copied_in_and_out(store: Store) -> None:
    """Durable stores serialise messages, so nothing is shared. The in-memory store shares messages,
    which the protocol allows: they are immutable values, provider_details read-only by contract."""
    if isinstance(store, InMemoryStore):
        thread = store.create_thread()
        shared = Message.user("hi")
        store.append_messages(thread, [shared])
        assert store.get_messages(thread)[0] is shared
        return
    details: dict[str, Any] = {"ids": ["resp_1"], "nested": {"n": 1}}
    part_details: dict[str, Any] = {"item_id": "fc_1"}
    message = Message(role="assistant", parts=(ToolCallPart(id="c", name="t", arguments="{}",
                                                            provider_details=part_details),),
                      provider_details=details)
    expected = copy.deepcopy(message)
    thread_id = _thread_with(store, [message])
    details["ids"].append("changed")
    details["nested"]["n"] = 2
    part_details["item_id"] = "changed"
    assert store.get_messages(thread_id) == [expected]

    read = store.get_messages(thread_id)[0]
    assert read.provider_details is not None
    read.provider_details["ids"].append("changed")
    read.provider_details["new"] = 1
    assert read.parts[0].provider_details is not None
    read.parts[0].provider_details["item_id"] = "changed"
    assert store.get_messages(thread_id) == [expected]
    fork = store.fork_thread(thread_id)
    assert store.get_messages(fork) == [expected]


def test_the_returned_message_list_is_a_copy(store: Store) -> None:
    messages = _texts(2)
    thread_id = _thread_with(store, messages)
    read = store.get_messages(thread_id)
    read.append(Message.user("extra"))
    read.pop(0)
    assert store.get_messages(thread_id) == messages
    batch = _texts(1, "batch")
    appended = list(batch)
    store.append_messages(thread_id, batch)
    batch.append(Message.user("after"))
    batch.pop(0)
    assert store.get_messages(thread_id) == messages + appended
    assert store.get_thread(thread_id).length == 3


def test_memory_values_are_copied_in_and_out(store: Store) -> None:
    owner = new_id("owner")
    value: dict[str, Any] = {"list": [1, {"n": 2}]}
    store.memory_set("agent", owner, "k", value)
    value["list"][1]["n"] = 3
    value["new"] = 1
    assert store.memory_get("agent", owner, "k") == {"list": [1, {"n": 2}]}
    read = store.memory_get("agent", owner, "k")
    read["list"].append("changed")
    listed = store.memory_list("agent", owner)
    listed["k"]["list"].clear()
    listed["other"] = 1
    assert store.memory_list("agent", owner) == {"k": {"list": [1, {"n": 2}]}}


# === unknown ids ================================================================================


MISSING_THREAD = "thr_000000000000000000000000"
MISSING_EXECUTION = "exe_000000000000000000000000"


def _commit_with_a_record(store: Store, execution: Execution) -> None:
    store.commit(execution, tool_calls=[_record(execution.id, "call_1", 1.0)])


UNKNOWN_ID_CALLS: list[tuple[str, Callable[[Store], object], type[Exception]]] = [
    ("get_thread", lambda s: s.get_thread(MISSING_THREAD), UnknownThreadError),
    ("fork_thread", lambda s: s.fork_thread(MISSING_THREAD), UnknownThreadError),
    ("fork_thread-upto", lambda s: s.fork_thread(MISSING_THREAD, upto=0), UnknownThreadError),
    ("delete_thread", lambda s: s.delete_thread(MISSING_THREAD), UnknownThreadError),
    ("get_messages", lambda s: s.get_messages(MISSING_THREAD), UnknownThreadError),
    ("get_messages-start", lambda s: s.get_messages(MISSING_THREAD, start=3), UnknownThreadError),
    ("append_messages", lambda s: s.append_messages(MISSING_THREAD, _texts(1)), UnknownThreadError),
    ("append_messages-empty", lambda s: s.append_messages(MISSING_THREAD, []), UnknownThreadError),
    ("append_messages-expected",
     lambda s: s.append_messages(MISSING_THREAD, _texts(1), expected_length=0), UnknownThreadError),
    ("commit-messages", lambda s: s.commit(_execution(MISSING_THREAD), _texts(1)), UnknownThreadError),
    ("commit-expected", lambda s: s.commit(_execution(MISSING_THREAD), expected_length=0), UnknownThreadError),
    ("commit-bare", lambda s: s.commit(_execution(MISSING_THREAD)), UnknownThreadError),
    ("commit-tool-calls", lambda s: _commit_with_a_record(s, _execution(MISSING_THREAD)), UnknownThreadError),
    ("get_execution", lambda s: s.get_execution(MISSING_EXECUTION), UnknownExecutionError),
    ("claim_execution", lambda s: s.claim_execution(MISSING_EXECUTION, owner="a"), UnknownExecutionError),
    ("release_execution", lambda s: s.release_execution(MISSING_EXECUTION, owner="a"), UnknownExecutionError),
    ("get_tool_calls", lambda s: s.get_tool_calls(MISSING_EXECUTION), UnknownExecutionError),
]


@pytest.mark.parametrize(("call", "error"), [(c, e) for _, c, e in UNKNOWN_ID_CALLS],
                         ids=[name for name, _, _ in UNKNOWN_ID_CALLS])
def test_unknown_ids_raise(store: Store, call: Callable[[Store], object], error: type[Exception]) -> None:
    messages = _texts(1)
    thread_id = _thread_with(store, messages)
    with pytest.raises(error):
        call(store)
    assert store.get_messages(thread_id) == messages
    assert store.get_thread(thread_id).length == 1
    assert store.list_executions(thread_id=MISSING_THREAD) == []


def test_unknown_id_errors_name_the_id_and_are_key_errors(store: Store) -> None:
    with pytest.raises(UnknownThreadError) as thread_error:
        store.get_thread(MISSING_THREAD)
    assert thread_error.value.thread_id == MISSING_THREAD
    assert MISSING_THREAD in str(thread_error.value)
    assert isinstance(thread_error.value, KeyError)
    with pytest.raises(UnknownExecutionError) as execution_error:
        store.get_execution(MISSING_EXECUTION)
    assert execution_error.value.execution_id == MISSING_EXECUTION
    assert MISSING_EXECUTION in str(execution_error.value)
    assert isinstance(execution_error.value, KeyError)


def test_a_failed_commit_on_an_unknown_thread_saves_no_execution(store: Store) -> None:
    execution = _execution(MISSING_THREAD)
    with pytest.raises(UnknownThreadError):
        store.commit(execution, _texts(1))
    with pytest.raises(UnknownExecutionError):
        store.get_execution(execution.id)


def test_every_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


# === SQLite specifics ===========================================================================


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db.sqlite"


def _raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_sqlite_reopening_the_file_sees_everything(db_path: Path) -> None:
    first = SQLiteStore(db_path)
    messages = _rich_messages()
    thread_id = _thread_with(first, messages, user="ada")
    fork = first.fork_thread(thread_id, upto=2)
    execution = _rich_execution(thread_id)
    record = _finished(_record(execution.id, "call_a", 5.0), result="done", is_error=True)
    late = _texts(1, "late")
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
        assert two.append_messages(thread_id, _texts(2, "two")) == 2
        with pytest.raises(ConcurrentUpdateError):
            one.append_messages(thread_id, _texts(1, "one"), expected_length=0)
        from_two, from_one = _texts(2, "two"), _texts(1, "one")
        assert two.append_messages(thread_id, from_two) == 4
        assert one.append_messages(thread_id, from_one, expected_length=4) == 5
        assert two.get_messages(thread_id, start=2) == from_two + from_one
        assert one.get_messages(thread_id, start=2) == from_two + from_one
        execution = _execution(thread_id)
        one.commit(execution)
        assert two.claim_execution(execution.id, owner="two") is True
        assert one.claim_execution(execution.id, owner="one") is False
    finally:
        one.close()
        two.close()


def test_sqlite_records_the_migration_once_after_reopening_twice(db_path: Path) -> None:
    for _ in range(3):
        SQLiteStore(db_path).close()
    assert _raw(db_path, "SELECT name FROM loopline_migrations") == [(FIRST_MIGRATION,)]
    assert [m.name for m in MIGRATIONS] == [FIRST_MIGRATION]
    reopened = SQLiteStore(db_path)
    try:
        assert reopened.applied_migrations() == [FIRST_MIGRATION]
    finally:
        reopened.close()


def test_sqlite_in_memory_records_its_migration() -> None:
    store = SQLiteStore(":memory:")
    try:
        assert store.applied_migrations() == [FIRST_MIGRATION]
    finally:
        store.close()


def test_sqlite_refuses_a_database_with_an_unknown_migration(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    thread_id = store.create_thread()
    store.close()
    _raw(db_path, "INSERT INTO loopline_migrations (name, applied_at) VALUES (?, ?)", ("9999_from_the_future", 1.0))
    with pytest.raises(StoredDataError, match="9999_from_the_future"):
        SQLiteStore(db_path)
    # refusing changed nothing: the row is still there and the data untouched
    assert sorted(_raw(db_path, "SELECT name FROM loopline_migrations")) == [(FIRST_MIGRATION,),
                                                                            ("9999_from_the_future",)]
    assert _raw(db_path, "SELECT id FROM threads") == [(thread_id,)]


def test_sqlite_file_uses_wal(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        assert _raw(db_path, "PRAGMA journal_mode") == [("wal",)]
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


@pytest.fixture(params=["memory", "sqlite-file"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = InMemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "db.sqlite")
    try:
        yield made
    finally:
        made.close()


def _run_together(count: int, work: Callable[[int], None]) -> None:
    """Run `work(0..count-1)` on `count` threads released at once; re-raise the first failure."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if errors:
        raise errors[0]


def test_eight_threads_appending_fifty_messages_each(shared_store: Store) -> None:
    writers, each = 8, 50
    thread_id = shared_store.create_thread()
    lengths: list[int] = []

    def append(w: int) -> None:
        for i in range(each):
            lengths.append(shared_store.append_messages(thread_id, [Message.user(f"w{w}-{i}")]))

    _run_together(writers, append)
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

    _run_together(8, append)
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

    _run_together(8, append)
    texts = [m.text for m in shared_store.get_messages(thread_id)]
    assert sorted(texts) == sorted(f"w{w}-{i}" for w in range(8) for i in range(10))
    for w in range(8):
        assert [t for t in texts if t.startswith(f"w{w}-")] == [f"w{w}-{i}" for i in range(10)]


def test_only_one_of_eight_threads_wins_a_claim(shared_store: Store) -> None:
    execution = _execution(shared_store.create_thread())
    shared_store.commit(execution)
    won: list[int] = []

    def claim(w: int) -> None:
        if shared_store.claim_execution(execution.id, owner=f"worker-{w}"):
            won.append(w)

    _run_together(8, claim)
    assert len(won) == 1
    assert shared_store.claim_execution(execution.id, owner=f"worker-{won[0]}") is True
