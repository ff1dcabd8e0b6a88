"""Running tool calls: timeouts, how results are rendered for the model, and the caller's context."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from loopline import Tool, tool
from loopline.messages import ToolCallPart
from loopline.tools import ToolCall
from tool_helpers import (
    DRIVERS,
    OPAQUE,
    VALUES,
    add,
    call_of,
    err,
    give,
    norm,
    ok,
    run_async,
    run_sync,
    tools_by_name,
)

# --- timeouts -----------------------------------------------------------------------------------


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets a sync tool left running after its timeout end promptly (asyncio.run waits for its thread)."""
    event = threading.Event()
    timer = threading.Timer(0.25, event.set)
    timer.start()
    yield event
    event.set()
    timer.cancel()


@DRIVERS
def test_sync_tool_past_its_timeout(run: Any, release: threading.Event) -> None:
    @tool(timeout=0.1)
    def stuck() -> str:
        """Hangs."""
        release.wait(3)
        return "late"

    started = time.perf_counter()
    try:
        results = run([call_of("c1", "stuck", {}), call_of("c2", "add", {"a": 1, "b": 2})], tools_by_name(stuck, add))
    finally:
        release.set()
    assert time.perf_counter() - started < 1.0
    assert norm(results) == [
        err("c1", "stuck", {}, "tool 'stuck' did not finish within 0.1 seconds"),
        ok("c2", "add", {"a": 1, "b": 2}, 3, "3"),
    ]
    assert results[0].exception is None


def test_single_sync_tool_past_its_timeout_with_run_calls(release: threading.Event) -> None:
    @tool(timeout=0.1)
    def stuck() -> str:
        """Hangs."""
        release.wait(3)
        return "late"

    try:
        results = run_sync([call_of("c1", "stuck", {})], tools_by_name(stuck))
    finally:
        release.set()
    assert norm(results) == [err("c1", "stuck", {}, "tool 'stuck' did not finish within 0.1 seconds")]


@DRIVERS
def test_async_tool_past_its_timeout(run: Any) -> None:
    cancelled = threading.Event()

    @tool(timeout=0.1)
    async def stuck() -> str:
        """Hangs."""
        try:
            await asyncio.sleep(3)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    started = time.perf_counter()
    results = run([call_of("c1", "stuck", {})], tools_by_name(stuck))
    assert time.perf_counter() - started < 1.0
    assert norm(results) == [err("c1", "stuck", {}, "tool 'stuck' did not finish within 0.1 seconds")]
    assert cancelled.wait(1), "the timed-out coroutine should be cancelled"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@DRIVERS
def test_default_timeout_applies_to_tools_without_their_own(run: Any, is_async: bool,
                                                           release: threading.Event) -> None:
    def slow() -> str:
        release.wait(3)
        return "late"

    async def aslow() -> str:
        await asyncio.sleep(3)
        return "late"

    t = Tool.from_function(aslow if is_async else slow, name="slow")
    try:
        results = run([call_of("c1", "slow", {}), call_of("c2", "add", {"a": 0, "b": 0})], tools_by_name(t, add),
                      default_timeout=0.15)
    finally:
        release.set()
    assert norm(results) == [
        err("c1", "slow", {}, "tool 'slow' did not finish within 0.15 seconds"),
        ok("c2", "add", {"a": 0, "b": 0}, 0, "0"),
    ]


@DRIVERS
def test_a_tools_own_timeout_overrides_the_default(run: Any) -> None:
    @tool(timeout=2.0)
    def patient() -> str:
        """Takes 0.2 s."""
        time.sleep(0.2)
        return "done"

    @tool(timeout=2.0)
    async def apatient() -> str:
        """Takes 0.2 s."""
        await asyncio.sleep(0.2)
        return "done"

    results = run([call_of("c1", "patient", {}), call_of("c2", "apatient", {})], tools_by_name(patient, apatient),
                  default_timeout=0.05)
    assert norm(results) == [ok("c1", "patient", {}, "done", "done"), ok("c2", "apatient", {}, "done", "done")]


# --- rendering results --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("str", "plain text, not quoted"),
        ("none", "null"),
        ("int", "42"),
        ("dict", '{"a":1,"b":[1,2],"c":null,"d":"é"}'),
        ("list", '[1,"two",null]'),
        ("model", '{"x":1,"y":2}'),
        ("nested_model", '{"p":{"x":3,"y":4}}'),
        ("dataclass", '{"left":1,"right":"r"}'),
        ("date", '"2024-05-17"'),
        ("opaque", '"<opaque 7>"'),
    ],
)
@DRIVERS
def test_result_content_rendering(run: Any, kind: str, content: str) -> None:
    results = run([call_of("c1", "give", {"kind": kind})], tools_by_name(give))
    assert norm(results) == [ok("c1", "give", {"kind": kind}, VALUES[kind], content)]
    assert results[0].result is VALUES[kind]  # the raw value is kept for the programmer


def test_object_inside_a_dict_falls_back_to_str() -> None:
    @tool
    def wrap() -> dict[str, Any]:
        """Wrap."""
        return {"thing": OPAQUE, "n": 1}

    assert run_sync([call_of("c1", "wrap", {})], tools_by_name(wrap))[0].content == '{"thing":"<opaque 7>","n":1}'


def test_tool_call_round_trips_to_its_part() -> None:
    part = ToolCallPart(id="c1", name="add", arguments='{"a": 1, "b": 2}')
    call = ToolCall.from_part(part)
    assert call == ToolCall(id="c1", name="add", arguments={"a": 1, "b": 2}, raw_arguments='{"a": 1, "b": 2}')
    assert call.to_part() == part
    bad = ToolCall.from_part(ToolCallPart(id="c2", name="add", arguments="nope"))
    assert (bad.arguments, bad.raw_arguments, bad.to_part().arguments) == ({}, "nope", "nope")
    assert bad.arguments_error is not None


def test_no_calls_gives_no_results() -> None:
    assert run_sync([], tools_by_name(add)) == []
    assert run_async([], tools_by_name(add)) == []


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_sync_tools_run_in_the_callers_context(timeout: float | None) -> None:
    import contextvars

    from loopline import Agent, InMemoryStore

    where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="unset")

    @tool(timeout=timeout)
    def report() -> str:
        """Say where it runs."""
        return where.get()

    agent = Agent("a", tools=[report], store=InMemoryStore())
    agent.add_task("go")
    agent.add_messages([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "report", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "report", "arguments": "{}"}}]}])
    where.set("the caller's")
    assert [r.result for r in agent.run_tools(agent.pending_tool_calls)] == ["the caller's", "the caller's"]
