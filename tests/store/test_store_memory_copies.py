"""The store contract: memory, copies in and out, unknown ids.

Part of the store contract (see tests/store/conftest.py): tests that take `store` run against every
store, and compare whole values rather than picking fields. They never assume an empty store (a
PostgreSQL server could be shared): ids, agent names and memory owners are fresh per test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from store_helpers import new_execution, new_record, rich_execution, text_messages, thread_with

from loopline.errors import UnknownExecutionError, UnknownThreadError
from loopline.loop import Execution, ExecutionStatus
from loopline.messages import (
    Message,
    ToolCallPart,
    Usage,
    new_id,
)
from loopline.store import InMemoryStore, Store

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
    execution = rich_execution(store.create_thread())
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
    execution = rich_execution(store.create_thread())
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
    thread_id = thread_with(store, [message])
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
    messages = text_messages(2)
    thread_id = thread_with(store, messages)
    read = store.get_messages(thread_id)
    read.append(Message.user("extra"))
    read.pop(0)
    assert store.get_messages(thread_id) == messages
    batch = text_messages(1, "batch")
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


def commit_with_a_record(store: Store, execution: Execution) -> None:
    store.commit(execution, tool_calls=[new_record(execution.id, "call_1", 1.0)])


UNKNOWN_ID_CALLS: list[tuple[str, Callable[[Store], object], type[Exception]]] = [
    ("get_thread", lambda s: s.get_thread(MISSING_THREAD), UnknownThreadError),
    ("fork_thread", lambda s: s.fork_thread(MISSING_THREAD), UnknownThreadError),
    ("fork_thread-upto", lambda s: s.fork_thread(MISSING_THREAD, upto=0), UnknownThreadError),
    ("delete_thread", lambda s: s.delete_thread(MISSING_THREAD), UnknownThreadError),
    ("get_messages", lambda s: s.get_messages(MISSING_THREAD), UnknownThreadError),
    ("get_messages-start", lambda s: s.get_messages(MISSING_THREAD, start=3), UnknownThreadError),
    ("append_messages", lambda s: s.append_messages(MISSING_THREAD, text_messages(1)), UnknownThreadError),
    ("append_messages-empty", lambda s: s.append_messages(MISSING_THREAD, []), UnknownThreadError),
    ("append_messages-expected",
     lambda s: s.append_messages(MISSING_THREAD, text_messages(1), expected_length=0), UnknownThreadError),
    ("commit-messages", lambda s: s.commit(new_execution(MISSING_THREAD), text_messages(1)), UnknownThreadError),
    ("commit-expected", lambda s: s.commit(new_execution(MISSING_THREAD), expected_length=0), UnknownThreadError),
    ("commit-bare", lambda s: s.commit(new_execution(MISSING_THREAD)), UnknownThreadError),
    ("commit-tool-calls", lambda s: commit_with_a_record(s, new_execution(MISSING_THREAD)), UnknownThreadError),
    ("get_execution", lambda s: s.get_execution(MISSING_EXECUTION), UnknownExecutionError),
    ("claim_execution", lambda s: s.claim_execution(MISSING_EXECUTION, owner="a"), UnknownExecutionError),
    ("release_execution", lambda s: s.release_execution(MISSING_EXECUTION, owner="a"), UnknownExecutionError),
    ("get_tool_calls", lambda s: s.get_tool_calls(MISSING_EXECUTION), UnknownExecutionError),
]


@pytest.mark.parametrize(("call", "error"), [(c, e) for _, c, e in UNKNOWN_ID_CALLS],
                         ids=[name for name, _, _ in UNKNOWN_ID_CALLS])
def test_unknown_ids_raise(store: Store, call: Callable[[Store], object], error: type[Exception]) -> None:
    messages = text_messages(1)
    thread_id = thread_with(store, messages)
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
    execution = new_execution(MISSING_THREAD)
    with pytest.raises(UnknownThreadError):
        store.commit(execution, text_messages(1))
    with pytest.raises(UnknownExecutionError):
        store.get_execution(execution.id)


def test_every_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)
