"""The store contract, executions: commit, save and list, claims, tool call records.

Part of the store contract (see tests/store/conftest.py): tests that take `store` run against every
store, and compare whole values rather than picking fields. They never assume an empty store (a
PostgreSQL server could be shared): ids, agent names and memory owners are fresh per test.
"""

from __future__ import annotations

import copy
import time

import pytest
from store_helpers import (
    finished_record,
    new_execution,
    new_record,
    rich_execution,
    text_messages,
    thread_with,
    tool_calls_or_none,
    walk_pages,
)

from loopline.errors import ConcurrentUpdateError, UnknownExecutionError
from loopline.loop import Execution, ExecutionStatus
from loopline.messages import (
    Message,
    ToolCallPart,
    ToolResultPart,
    new_id,
)
from loopline.store import Store

# === commit =====================================================================================


def test_commit_appends_saves_and_upserts_in_one_call(store: Store) -> None:
    task = text_messages(1, "task")
    thread_id = thread_with(store, task)
    execution = new_execution(thread_id)
    assert store.commit(execution) is None  # type: ignore[func-returns-value]
    assert store.get_execution(execution.id) == execution
    assert store.get_messages(thread_id) == task

    reply = [Message(role="assistant", parts=(ToolCallPart(id="call_1", name="search", arguments="{}"),))]
    execution.set_status(ExecutionStatus.RUNNING, execution.created_at + 1)
    execution.steps = 1
    started = new_record(execution.id, "call_1", execution.created_at + 1.5)
    store.commit(execution, reply, expected_length=1, tool_calls=[started])
    assert store.get_thread(thread_id).length == 2
    assert store.get_messages(thread_id, start=1) == reply
    assert store.get_execution(execution.id) == execution
    assert store.get_tool_calls(execution.id) == [started]

    results = [Message(role="tool", parts=(ToolResultPart(tool_call_id="call_1", name="search", content="ok"),))]
    execution.set_status(ExecutionStatus.COMPLETED, execution.created_at + 3)
    execution.result = {"answer": 42}
    finished = finished_record(started, result="ok")
    store.commit(execution, results, expected_length=2, tool_calls=[finished])
    assert store.get_messages(thread_id) == task + reply + results
    assert store.get_execution(execution.id) == execution
    assert store.get_tool_calls(execution.id) == [finished]


def test_commit_without_expected_length_appends_at_the_end(store: Store) -> None:
    messages = text_messages(2)
    thread_id = thread_with(store, messages)
    execution = new_execution(thread_id)
    more = text_messages(2, "more")
    store.commit(execution, more)
    assert store.get_messages(thread_id) == messages + more
    assert store.get_execution(execution.id) == execution


def test_commit_with_a_wrong_expected_length_writes_nothing(store: Store) -> None:
    messages = text_messages(2)
    thread_id = thread_with(store, messages)
    execution = new_execution(thread_id)
    first = new_record(execution.id, "call_1", 10.0)
    store.commit(execution, tool_calls=[first])
    saved = copy.deepcopy(execution)
    thread_before = store.get_thread(thread_id)

    execution.set_status(ExecutionStatus.COMPLETED, execution.created_at + 5)
    execution.result = "should not be saved"
    with pytest.raises(ConcurrentUpdateError) as caught:
        store.commit(execution, text_messages(3, "late"), expected_length=1,
                     tool_calls=[finished_record(first, result="no"), new_record(execution.id, "call_2", 11.0)])
    assert caught.value.thread_id == thread_id
    assert store.get_messages(thread_id) == messages
    assert store.get_thread(thread_id) == thread_before
    assert store.get_execution(execution.id) == saved
    assert store.get_tool_calls(execution.id) == [first]

    fresh = new_execution(thread_id)
    with pytest.raises(ConcurrentUpdateError):
        store.commit(fresh, text_messages(1), expected_length=5, tool_calls=[new_record(fresh.id, "call_9", 1.0)])
    with pytest.raises(UnknownExecutionError):
        store.get_execution(fresh.id)
    assert tool_calls_or_none(store, fresh.id) == []
    assert store.list_executions(thread_id=thread_id, limit=None) == [saved]
    assert store.get_messages(thread_id) == messages


def test_commit_checks_expected_length_even_without_messages(store: Store) -> None:
    thread_id = thread_with(store, text_messages(2))
    execution = new_execution(thread_id)
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
    execution = rich_execution(thread_id)
    store.commit(execution)
    assert store.get_execution(execution.id) == execution
    assert store.list_executions(agent_name="rich-agent", thread_id=thread_id) == [execution]


def test_a_fresh_execution_round_trips(store: Store) -> None:
    thread_id = store.create_thread()
    execution = new_execution(thread_id)
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
        execution = new_execution(thread_id, status=ExecutionStatus.COMPLETED, result=result)
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
        execution = new_execution(thread_id, agent_name=agent, created_at=base + n)
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
    execution = new_execution(store.create_thread(), agent_name=agent)
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
            execution = new_execution(thread_id, agent_name=agent, created_at=1_950_000_000.0 + group)
            store.commit(execution)
            made.append(execution)
    expected = sorted(made, key=lambda e: (e.created_at, e.id), reverse=True)
    listed = walk_pages(lambda cursor: store.list_executions(agent_name=agent, limit=limit, cursor=cursor),
                   {e.id for e in made}, limit=limit)
    assert listed == expected
    assert store.list_executions(agent_name=agent, limit=None) == expected
    last = store.list_executions(agent_name=agent, limit=20)
    assert last == expected
    assert last.next_cursor is None


def test_list_executions_default_limit_is_50_and_none_means_all(store: Store) -> None:
    agent = new_id("agent")
    thread_id = store.create_thread()
    made = [new_execution(thread_id, agent_name=agent, created_at=1_960_000_000.0 + n) for n in range(51)]
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
    execution = new_execution(store.create_thread())
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
    first, second = new_execution(thread_id), new_execution(thread_id)
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
    execution = new_execution(store.create_thread())
    store.commit(execution)
    assert store.claim_execution(execution.id, owner="a", lease_seconds=0.2) is True
    assert store.claim_execution(execution.id, owner="b") is False
    time.sleep(0.3)
    assert store.claim_execution(execution.id, owner="b") is True
    assert store.claim_execution(execution.id, owner="a") is False


def test_renewal_by_the_same_owner_extends_the_lease(store: Store) -> None:
    execution = new_execution(store.create_thread())
    store.commit(execution)
    assert store.claim_execution(execution.id, owner="a", lease_seconds=0.3) is True
    time.sleep(0.15)
    assert store.claim_execution(execution.id, owner="a", lease_seconds=1.0) is True
    time.sleep(0.25)  # past the first lease, inside the renewed one
    assert store.claim_execution(execution.id, owner="b") is False


# === tool call records ==========================================================================


def test_tool_calls_come_back_in_start_order_and_upsert_to_finished(store: Store) -> None:
    execution = new_execution(store.create_thread())
    late = new_record(execution.id, "call_late", 3.0, name="shell", arguments="ls\n")
    early = new_record(execution.id, "call_early", 1.0, arguments='{"q": "ü 🚀"}')
    middle = new_record(execution.id, "call_middle", 2.0)
    store.commit(execution, tool_calls=[late])
    store.commit(execution, tool_calls=[early, middle])
    assert store.get_tool_calls(execution.id) == [early, middle, late]

    done_early = finished_record(early, result="Error: bad input ü", is_error=True)
    done_late = finished_record(late, result='{"files": []}')
    store.commit(execution, tool_calls=[done_late, done_early])
    assert store.get_tool_calls(execution.id) == [done_early, middle, done_late]
    assert store.get_tool_calls(execution.id)[0].is_error is True
    assert store.get_tool_calls(execution.id)[2].is_error is False


def test_tool_calls_belong_to_their_execution(store: Store) -> None:
    thread_id = store.create_thread()
    first, second = new_execution(thread_id), new_execution(thread_id)
    store.commit(first, tool_calls=[new_record(first.id, "call_1", 1.0)])
    store.commit(second, tool_calls=[new_record(second.id, "call_1", 2.0, name="other")])
    store.commit(new_execution(thread_id))
    assert store.get_tool_calls(first.id) == [new_record(first.id, "call_1", 1.0)]
    assert store.get_tool_calls(second.id) == [new_record(second.id, "call_1", 2.0, name="other")]


def test_an_execution_without_tool_calls_has_none(store: Store) -> None:
    execution = new_execution(store.create_thread())
    store.commit(execution)
    assert store.get_tool_calls(execution.id) == []
