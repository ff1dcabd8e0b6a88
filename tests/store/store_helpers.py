"""Helpers of the store contract suite: messages, executions and records to store, and checks."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loopline.errors import UnknownExecutionError
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
)
from loopline.store import Page, Store, ToolCallRecord

MIGRATION_NAMES = ["0001_threads_executions_memory", "0002_upper_case_execution_statuses", "0003_tasks_events_workers",
                   "0004_http_policy_counters", "0005_api_keys", "0006_task_assignments"]


class Clock:
    """Replaces `time.time` so threads can be created with chosen (and tied) timestamps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def thread_with(store: Store, messages: list[Message], **metadata: Any) -> str:
    thread_id = store.create_thread(metadata=metadata or None)
    if messages:
        store.append_messages(thread_id, messages)
    return thread_id


def text_messages(n: int, prefix: str = "m") -> list[Message]:
    return [Message.user(f"{prefix}{i}") for i in range(n)]


def new_execution(thread_id: str, **changes: Any) -> Execution:
    fields: dict[str, Any] = {"thread_id": thread_id, "agent_name": "contract-agent", "input": "do it"}
    fields.update(changes)
    return Execution(**fields)


def new_record(execution_id: str, call_id: str, started_at: float, **changes: Any) -> ToolCallRecord:
    fields: dict[str, Any] = {"execution_id": execution_id, "tool_call_id": call_id, "name": "search",
                              "arguments": '{"q": "x"}', "status": "started", "started_at": started_at}
    fields.update(changes)
    return ToolCallRecord(**fields)


def finished_record(record: ToolCallRecord, *, result: str, is_error: bool = False) -> ToolCallRecord:
    return ToolCallRecord(execution_id=record.execution_id, tool_call_id=record.tool_call_id, name=record.name,
                          arguments=record.arguments, status="finished", started_at=record.started_at,
                          finished_at=record.started_at + 0.75, result=result, is_error=is_error, duration=0.75)


def rich_messages() -> list[Message]:
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


def rich_execution(thread_id: str) -> Execution:
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


def walk_pages(fetch: Callable[[str | None], Page[Any]], wanted: set[str], *, limit: int) -> list[Any]:
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


def tool_calls_or_none(store: Store, execution_id: str) -> list[ToolCallRecord]:
    """`get_tool_calls` for an execution that may be gone (raising or empty are both 'nothing')."""
    try:
        return store.get_tool_calls(execution_id)
    except UnknownExecutionError:
        return []


def raw_sql(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def run_together(count: int, work: Callable[[int], None]) -> None:
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
