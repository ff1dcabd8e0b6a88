"""Running tool calls: order, concurrency, async tools, and every failure as an error result."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

from loopline import Tool, ToolCallResult, ToolContext, tool
from loopline.tools import ToolCall, arun_calls, run_calls
from tool_helpers import (
    DRIVERS,
    add,
    anap,
    call_of,
    check_error,
    context_of,
    err,
    nap,
    norm,
    ok,
    run_sync,
    tools_by_name,
)

# --- order, context, concurrency ----------------------------------------------------------------


@DRIVERS
def test_results_come_back_in_call_order_with_context(run: Any) -> None:
    calls = [
        call_of("c1", "nap", {"seconds": 0.15, "label": "slowest"}),
        call_of("c2", "anap", {"seconds": 0.05, "label": "async"}),
        call_of("c3", "add", {"a": 2, "b": 3}),
        call_of("c4", "nap", {"seconds": 0.0, "label": "fastest"}),
    ]
    results = run(calls, tools_by_name(add, nap, anap))
    assert norm(results) == [
        ok("c1", "nap", {"seconds": 0.15, "label": "slowest"},
            {"label": "slowest", "id": "c1", "key": "-:c1"}, '{"label":"slowest","id":"c1","key":"-:c1"}'),
        ok("c2", "anap", {"seconds": 0.05, "label": "async"},
            {"label": "async", "id": "c2", "key": "-:c2"}, '{"label":"async","id":"c2","key":"-:c2"}'),
        ok("c3", "add", {"a": 2, "b": 3}, 5, "5"),
        ok("c4", "nap", {"seconds": 0.0, "label": "fastest"},
            {"label": "fastest", "id": "c4", "key": "-:c4"}, '{"label":"fastest","id":"c4","key":"-:c4"}'),
    ]
    assert all(r.exception is None for r in results)


def test_context_factory_receives_each_call() -> None:
    seen: list[ToolCall] = []

    def factory(call: ToolCall) -> ToolContext:
        seen.append(call)
        return ToolContext(tool_call_id=call.id, execution_id="ex-9", agent_name="bot")

    calls = [call_of("k1", "nap", {"seconds": 0, "label": "a"}), call_of("k2", "anap", {"seconds": 0, "label": "b"})]
    results = run_calls(calls, tools_by_name(nap, anap), factory)
    assert seen == calls
    assert [r.result for r in results] == [{"label": "a", "id": "k1", "key": "ex-9:k1"},
                                           {"label": "b", "id": "k2", "key": "ex-9:k2"}]


@pytest.mark.parametrize("name", ["nap", "anap"])
@DRIVERS
def test_calls_run_concurrently(run: Any, name: str) -> None:
    calls = [call_of(f"c{i}", name, {"seconds": 0.3, "label": str(i)}) for i in range(3)]
    started = time.perf_counter()
    results = run(calls, tools_by_name(nap, anap))
    elapsed = time.perf_counter() - started
    assert [r.result for r in results] == [{"label": str(i), "id": f"c{i}", "key": f"-:c{i}"} for i in range(3)]
    assert elapsed < 0.8, f"3 calls of 0.3 s took {elapsed:.2f} s: not concurrent"


async def test_arun_calls_inside_a_running_loop_does_not_block_it() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        results = await arun_calls([call_of("c1", "nap", {"seconds": 0.2, "label": "x"})], tools_by_name(nap),
                                   context_of)
    finally:
        task.cancel()
    assert results[0].is_success
    assert ticks >= 5  # the sync tool ran in a worker thread, not on the loop


@DRIVERS
def test_sequential_mode_runs_in_order(run: Any) -> None:
    log: list[str] = []
    lock = threading.Lock()

    @tool
    def step(n: int) -> int:
        """One step."""
        with lock:
            log.append(f"start {n}")
        time.sleep(0.05)
        with lock:
            log.append(f"end {n}")
        return n

    @tool
    async def astep(n: int) -> int:
        """One async step."""
        log.append(f"start {n}")
        await asyncio.sleep(0.05)
        log.append(f"end {n}")
        return n

    calls = [call_of("a", "step", {"n": 1}), call_of("b", "astep", {"n": 2}), call_of("c", "step", {"n": 3})]
    results = run(calls, tools_by_name(step, astep), parallel=False)
    assert [(r.tool_call_id, r.result) for r in results] == [("a", 1), ("b", 2), ("c", 3)]
    assert log == ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]


@DRIVERS
def test_sequential_mode_gives_each_call_its_own_timeout(run: Any) -> None:
    """With parallel=False, a call's timeout should not be eaten by the calls that ran before it."""

    @tool(timeout=0.25)
    def work(n: int) -> int:
        """Work for 0.15 s."""
        time.sleep(0.15)
        return n

    calls = [call_of(f"c{i}", "work", {"n": i}) for i in range(2)]
    results = run(calls, tools_by_name(work), parallel=False)
    assert norm(results) == [ok(f"c{i}", "work", {"n": i}, i, str(i)) for i in range(2)]


@DRIVERS
def test_duration_measures_each_call_not_the_wait_before_it(run: Any) -> None:
    @tool
    def work(n: int) -> int:
        """Work for 0.1 s."""
        time.sleep(0.1)
        return n

    results = run([call_of(f"c{i}", "work", {"n": i}) for i in range(2)], tools_by_name(work), parallel=False)
    durations = [round(r.duration, 3) for r in results]
    assert all(0.09 <= d < 0.18 for d in durations), durations


# --- async tools from synchronous code ----------------------------------------------------------


def test_async_tool_from_run_calls_without_a_loop() -> None:
    results = run_sync([call_of("c1", "anap", {"seconds": 0.01, "label": "x"})], tools_by_name(anap))
    assert norm(results) == [ok("c1", "anap", {"seconds": 0.01, "label": "x"},
                                  {"label": "x", "id": "c1", "key": "-:c1"}, '{"label":"x","id":"c1","key":"-:c1"}')]


def test_run_calls_works_while_an_event_loop_runs_in_the_calling_thread() -> None:
    """Like a Jupyter cell: sync `run_calls` called from a thread whose event loop is running."""

    async def cell() -> list[ToolCallResult]:
        assert asyncio.get_running_loop().is_running()
        return run_calls(
            [call_of("c1", "anap", {"seconds": 0.01, "label": "a"}),
             call_of("c2", "nap", {"seconds": 0.0, "label": "s"})],
            tools_by_name(nap, anap), context_of,
        )

    async def cell_single_async() -> list[ToolCallResult]:
        return run_calls([call_of("c3", "anap", {"seconds": 0.0, "label": "b"})], tools_by_name(anap), context_of)

    results = asyncio.run(cell()) + asyncio.run(cell_single_async())
    assert [(r.tool_call_id, r.is_success, r.result) for r in results] == [
        ("c1", True, {"label": "a", "id": "c1", "key": "-:c1"}),
        ("c2", True, {"label": "s", "id": "c2", "key": "-:c2"}),
        ("c3", True, {"label": "b", "id": "c3", "key": "-:c3"}),
    ]


async def test_run_calls_from_an_async_test_with_async_tools() -> None:
    calls = [call_of(f"c{i}", "anap", {"seconds": 0.01, "label": str(i)}) for i in range(3)]
    results = run_calls(calls, tools_by_name(anap), context_of)
    assert [r.result["label"] for r in results] == ["0", "1", "2"]


# --- what the model got wrong becomes an error result --------------------------------------------


@DRIVERS
def test_unknown_tool_names_the_available_tools(run: Any) -> None:
    calls = [call_of("c1", "subtract", {"a": 1}), call_of("c2", "add", {"a": 1, "b": 1})]
    results = run(calls, tools_by_name(nap, add))
    assert norm(results) == [
        err("c1", "subtract", {"a": 1}, "unknown tool 'subtract'; the available tools are: add, nap"),
        ok("c2", "add", {"a": 1, "b": 1}, 2, "2"),
    ]


@DRIVERS
def test_unknown_tool_with_no_tools(run: Any) -> None:
    assert norm(run([call_of("c1", "add", {})], {})) == [
        err("c1", "add", {}, "unknown tool 'add'; the available tools are: none")]


@DRIVERS
def test_arguments_that_are_not_json(run: Any) -> None:
    raw = '{"a": 1, "b": '
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at position {exc.pos}"
    results = run([call_of("c1", "add", raw)], tools_by_name(add))
    assert norm(results) == [
        err("c1", "add", {}, f"tool 'add': arguments are not valid JSON ({reason}): {raw}")]
    assert results[0].exception is None


@pytest.mark.parametrize(("raw", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("3", "int"), ("null", "NoneType")])
@DRIVERS
def test_arguments_that_are_not_an_object(run: Any, raw: str, kind: str) -> None:
    assert norm(run([call_of("c1", "add", raw)], tools_by_name(add))) == [
        err("c1", "add", {}, f"tool 'add': arguments must be a JSON object, got {kind}: {raw}")]


def test_long_bad_arguments_are_clipped_in_the_error() -> None:
    raw = "x" * 500
    [result] = run_sync([call_of("c1", "add", raw)], tools_by_name(add))
    assert result.error is not None
    assert result.error.endswith(": " + "x" * 200 + "…")


@DRIVERS
def test_empty_arguments_mean_no_arguments(run: Any) -> None:
    @tool
    def now() -> str:
        """The time."""
        return "noon"

    assert norm(run([call_of("c1", "now", ""), call_of("c2", "now", "  ")], tools_by_name(now))) == [
        ok("c1", "now", {}, "noon", "noon"), ok("c2", "now", {}, "noon", "noon")]


@pytest.mark.parametrize(
    ("arguments", "patterns"),
    [
        ({"a": "one", "b": 2}, [r"(^|\W)a\W", "integer"]),
        ({"a": 1}, [r"(^|\W)b\W", "required"]),
        ({"a": 1, "b": 2, "c": 3}, [r"(^|\W)c\W", r"(?i)extra|additional|unexpected"]),
        ({"a": 1.5, "b": 2}, [r"(^|\W)a\W", "integer"]),
        ({"a": [1], "b": {"x": 1}}, [r"(^|\W)a\W", r"(^|\W)b\W"]),
    ],
)
@DRIVERS
def test_schema_failures_name_the_field(run: Any, arguments: dict[str, Any], patterns: list[str]) -> None:
    results = run([call_of("c1", "add", arguments), call_of("c2", "add", {"a": 1, "b": 1})], tools_by_name(add))
    assert len(results) == 2
    check_error(results[0], "c1", "add", arguments, r"^invalid arguments for tool 'add': ", *patterns)
    assert results[0].exception is None
    assert norm(results[1:]) == [ok("c2", "add", {"a": 1, "b": 1}, 2, "2")]


class _Item(BaseModel):
    name: str
    qty: int


@tool
def order(items: list[_Item]) -> int:
    """Order items."""
    return sum(i.qty for i in items)


@DRIVERS
def test_nested_schema_failure_names_the_path(run: Any) -> None:
    arguments = {"items": [{"name": "a", "qty": 1}, {"name": "b", "qty": "many"}]}
    [result] = run([call_of("c1", "order", arguments)], tools_by_name(order))
    check_error(result, "c1", "order", arguments, r"^invalid arguments for tool 'order': ", r"items/1/qty: ")
    assert run([call_of("c2", "order", {"items": [{"name": "a", "qty": 2}, {"name": "b", "qty": 3}]})],
               tools_by_name(order))[0].result == 5


@DRIVERS
def test_spec_tool_schema_failure_names_the_field(run: Any) -> None:
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    weather = Tool.from_spec({"name": "weather", "parameters": params}, lambda city: f"sunny in {city}")
    results = run([call_of("c1", "weather", {"city": 7}), call_of("c2", "weather", {}),
                   call_of("c3", "weather", {"city": "Oslo"})], tools_by_name(weather))
    check_error(results[0], "c1", "weather", {"city": 7}, r"^invalid arguments for tool 'weather': ", "city", "string")
    check_error(results[1], "c2", "weather", {}, r"^invalid arguments for tool 'weather': ", "city", "required")
    assert norm(results[2:]) == [ok("c3", "weather", {"city": "Oslo"}, "sunny in Oslo", "sunny in Oslo")]


# --- what the tool got wrong becomes an error result ---------------------------------------------


class QuotaError(RuntimeError):
    pass


@pytest.mark.parametrize("concurrent", [False, True], ids=["alone", "with-another-call"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@DRIVERS
def test_a_tool_that_raises(run: Any, is_async: bool, concurrent: bool) -> None:
    raised: list[BaseException] = []

    def fail(reason: str) -> None:
        exc = QuotaError(f"quota exceeded: {reason}")
        raised.append(exc)
        raise exc

    async def afail(reason: str) -> None:
        fail(reason)

    boom = Tool.from_function(afail if is_async else fail, name="boom")
    calls = [call_of("c1", "boom", {"reason": "daily"})]
    if concurrent:
        calls.append(call_of("c2", "add", {"a": 1, "b": 1}))
    results = run(calls, tools_by_name(boom, add))
    expected = [err("c1", "boom", {"reason": "daily"}, "tool 'boom' raised QuotaError: quota exceeded: daily")]
    if concurrent:
        expected.append(ok("c2", "add", {"a": 1, "b": 1}, 2, "2"))
    assert norm(results) == expected
    assert results[0].exception is raised[0]
    assert results[0].is_error


@pytest.mark.parametrize("concurrent", [False, True], ids=["alone", "with-another-call"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@DRIVERS
def test_a_tool_that_raises_timeout_error_is_an_ordinary_failure(run: Any, is_async: bool, concurrent: bool) -> None:
    """`TimeoutError` raised *by* a tool (socket, HTTP client) is the tool's failure, not loopline's timeout."""

    def fail() -> None:
        raise TimeoutError("upstream timed out")

    async def afail() -> None:
        fail()

    fetch = Tool.from_function(afail if is_async else fail, name="fetch")
    calls = [call_of("c1", "fetch", {})]
    if concurrent:
        calls.append(call_of("c2", "add", {"a": 1, "b": 1}))
    results = run(calls, tools_by_name(fetch, add))
    assert norm(results)[0] == err("c1", "fetch", {}, "tool 'fetch' raised TimeoutError: upstream timed out")
    assert isinstance(results[0].exception, TimeoutError)


@DRIVERS
def test_a_tool_raising_timeout_error_quickly_is_not_reported_as_a_timeout(run: Any) -> None:
    @tool(timeout=5)
    def fetch() -> None:
        """Fetch."""
        raise TimeoutError("upstream timed out")

    results = run([call_of("c1", "fetch", {})], tools_by_name(fetch))
    assert norm(results) == [err("c1", "fetch", {}, "tool 'fetch' raised TimeoutError: upstream timed out")]
