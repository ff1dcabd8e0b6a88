"""Running tool calls: order, concurrency, async tools, timeouts, and every failure as an error result."""

import asyncio
import dataclasses
import datetime
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from loopline import Tool, ToolCallResult, ToolContext, tool
from loopline.messages import ToolCallPart
from loopline.tools import ToolCall, arun_calls, run_calls

# --- helpers ------------------------------------------------------------------------------------


def _call(call_id: str, name: str, arguments: Any) -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall.from_part(ToolCallPart(id=call_id, name=name, arguments=raw))


def _context(call: ToolCall) -> ToolContext:
    return ToolContext(tool_call_id=call.id)


def _tools(*items: Tool) -> dict[str, Tool]:
    return {t.name: t for t in items}


def _norm(results: list[ToolCallResult]) -> list[ToolCallResult]:
    """Results with `duration` zeroed so whole results can be compared."""
    for r in results:
        assert r.duration >= 0
    return [dataclasses.replace(r, duration=0.0) for r in results]


def _ok(call_id: str, name: str, payload: dict[str, Any], result: Any, content: str) -> ToolCallResult:
    return ToolCallResult(tool_call_id=call_id, function_name=name, payload=payload, result=result,
                          is_success=True, content=content)


def _err(call_id: str, name: str, payload: dict[str, Any], error: str) -> ToolCallResult:
    return ToolCallResult(tool_call_id=call_id, function_name=name, payload=payload, result=None,
                          is_success=False, content=f"Error: {error}", error=error)


def _check_error(result: ToolCallResult, call_id: str, name: str, payload: dict[str, Any], *patterns: str) -> None:
    """A whole error result whose wording may vary: every regex in `patterns` must match its error."""
    assert result.error is not None, result
    assert dataclasses.replace(result, duration=0.0) == _err(call_id, name, payload, result.error)
    for pattern in patterns:
        assert re.search(pattern, result.error), (pattern, result.error)


def _run_sync(calls: list[ToolCall], tools: dict[str, Tool], **kw: Any) -> list[ToolCallResult]:
    return run_calls(calls, tools, lambda c: ToolContext(tool_call_id=c.id), **kw)


def _run_async(calls: list[ToolCall], tools: dict[str, Tool], **kw: Any) -> list[ToolCallResult]:
    return asyncio.run(arun_calls(calls, tools, lambda c: ToolContext(tool_call_id=c.id), **kw))


DRIVERS = pytest.mark.parametrize("run", [_run_sync, _run_async], ids=["run_calls", "arun_calls"])


# --- tools used across tests --------------------------------------------------------------------


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def nap(seconds: float, label: str, ctx: ToolContext) -> dict[str, Any]:
    """Sleep, then report who we are."""
    time.sleep(seconds)
    return {"label": label, "id": ctx.tool_call_id, "key": ctx.idempotency_key}


@tool
async def anap(seconds: float, label: str, ctx: ToolContext) -> dict[str, Any]:
    """Sleep asynchronously, then report who we are."""
    await asyncio.sleep(seconds)
    return {"label": label, "id": ctx.tool_call_id, "key": ctx.idempotency_key}


class Point(BaseModel):
    x: int
    y: int


class Opaque:
    def __str__(self) -> str:
        return "<opaque 7>"


@dataclasses.dataclass
class Pair:
    left: int
    right: str


_OPAQUE = Opaque()
_VALUES: dict[str, Any] = {
    "str": "plain text, not quoted",
    "none": None,
    "int": 42,
    "dict": {"a": 1, "b": [1, 2], "c": None, "d": "é"},
    "list": [1, "two", None],
    "model": Point(x=1, y=2),
    "nested_model": {"p": Point(x=3, y=4)},
    "dataclass": Pair(left=1, right="r"),
    "date": datetime.date(2024, 5, 17),
    "opaque": _OPAQUE,
}


@tool
def give(kind: str) -> Any:
    """Return a value of the given kind."""
    return _VALUES[kind]


# --- order, context, concurrency ----------------------------------------------------------------


@DRIVERS
def test_results_come_back_in_call_order_with_context(run: Any) -> None:
    calls = [
        _call("c1", "nap", {"seconds": 0.15, "label": "slowest"}),
        _call("c2", "anap", {"seconds": 0.05, "label": "async"}),
        _call("c3", "add", {"a": 2, "b": 3}),
        _call("c4", "nap", {"seconds": 0.0, "label": "fastest"}),
    ]
    results = run(calls, _tools(add, nap, anap))
    assert _norm(results) == [
        _ok("c1", "nap", {"seconds": 0.15, "label": "slowest"},
            {"label": "slowest", "id": "c1", "key": "-:c1"}, '{"label":"slowest","id":"c1","key":"-:c1"}'),
        _ok("c2", "anap", {"seconds": 0.05, "label": "async"},
            {"label": "async", "id": "c2", "key": "-:c2"}, '{"label":"async","id":"c2","key":"-:c2"}'),
        _ok("c3", "add", {"a": 2, "b": 3}, 5, "5"),
        _ok("c4", "nap", {"seconds": 0.0, "label": "fastest"},
            {"label": "fastest", "id": "c4", "key": "-:c4"}, '{"label":"fastest","id":"c4","key":"-:c4"}'),
    ]
    assert all(r.exception is None for r in results)


def test_context_factory_receives_each_call() -> None:
    seen: list[ToolCall] = []

    def factory(call: ToolCall) -> ToolContext:
        seen.append(call)
        return ToolContext(tool_call_id=call.id, execution_id="ex-9", agent_name="bot")

    calls = [_call("k1", "nap", {"seconds": 0, "label": "a"}), _call("k2", "anap", {"seconds": 0, "label": "b"})]
    results = run_calls(calls, _tools(nap, anap), factory)
    assert seen == calls
    assert [r.result for r in results] == [{"label": "a", "id": "k1", "key": "ex-9:k1"},
                                           {"label": "b", "id": "k2", "key": "ex-9:k2"}]


@pytest.mark.parametrize("name", ["nap", "anap"])
@DRIVERS
def test_calls_run_concurrently(run: Any, name: str) -> None:
    calls = [_call(f"c{i}", name, {"seconds": 0.3, "label": str(i)}) for i in range(3)]
    started = time.perf_counter()
    results = run(calls, _tools(nap, anap))
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
        results = await arun_calls([_call("c1", "nap", {"seconds": 0.2, "label": "x"})], _tools(nap), _context)
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

    calls = [_call("a", "step", {"n": 1}), _call("b", "astep", {"n": 2}), _call("c", "step", {"n": 3})]
    results = run(calls, _tools(step, astep), parallel=False)
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

    calls = [_call(f"c{i}", "work", {"n": i}) for i in range(2)]
    results = run(calls, _tools(work), parallel=False)
    assert _norm(results) == [_ok(f"c{i}", "work", {"n": i}, i, str(i)) for i in range(2)]


@DRIVERS
def test_duration_measures_each_call_not_the_wait_before_it(run: Any) -> None:
    @tool
    def work(n: int) -> int:
        """Work for 0.1 s."""
        time.sleep(0.1)
        return n

    results = run([_call(f"c{i}", "work", {"n": i}) for i in range(2)], _tools(work), parallel=False)
    durations = [round(r.duration, 3) for r in results]
    assert all(0.09 <= d < 0.18 for d in durations), durations


# --- async tools from synchronous code ----------------------------------------------------------


def test_async_tool_from_run_calls_without_a_loop() -> None:
    results = _run_sync([_call("c1", "anap", {"seconds": 0.01, "label": "x"})], _tools(anap))
    assert _norm(results) == [_ok("c1", "anap", {"seconds": 0.01, "label": "x"},
                                  {"label": "x", "id": "c1", "key": "-:c1"}, '{"label":"x","id":"c1","key":"-:c1"}')]


def test_run_calls_works_while_an_event_loop_runs_in_the_calling_thread() -> None:
    """Like a Jupyter cell: sync `run_calls` called from a thread whose event loop is running."""

    async def cell() -> list[ToolCallResult]:
        assert asyncio.get_running_loop().is_running()
        return run_calls(
            [_call("c1", "anap", {"seconds": 0.01, "label": "a"}),
             _call("c2", "nap", {"seconds": 0.0, "label": "s"})],
            _tools(nap, anap), _context,
        )

    async def cell_single_async() -> list[ToolCallResult]:
        return run_calls([_call("c3", "anap", {"seconds": 0.0, "label": "b"})], _tools(anap), _context)

    results = asyncio.run(cell()) + asyncio.run(cell_single_async())
    assert [(r.tool_call_id, r.is_success, r.result) for r in results] == [
        ("c1", True, {"label": "a", "id": "c1", "key": "-:c1"}),
        ("c2", True, {"label": "s", "id": "c2", "key": "-:c2"}),
        ("c3", True, {"label": "b", "id": "c3", "key": "-:c3"}),
    ]


async def test_run_calls_from_an_async_test_with_async_tools() -> None:
    calls = [_call(f"c{i}", "anap", {"seconds": 0.01, "label": str(i)}) for i in range(3)]
    results = run_calls(calls, _tools(anap), _context)
    assert [r.result["label"] for r in results] == ["0", "1", "2"]


# --- what the model got wrong becomes an error result --------------------------------------------


@DRIVERS
def test_unknown_tool_names_the_available_tools(run: Any) -> None:
    results = run([_call("c1", "subtract", {"a": 1}), _call("c2", "add", {"a": 1, "b": 1})], _tools(nap, add))
    assert _norm(results) == [
        _err("c1", "subtract", {"a": 1}, "unknown tool 'subtract'; the available tools are: add, nap"),
        _ok("c2", "add", {"a": 1, "b": 1}, 2, "2"),
    ]


@DRIVERS
def test_unknown_tool_with_no_tools(run: Any) -> None:
    assert _norm(run([_call("c1", "add", {})], {})) == [
        _err("c1", "add", {}, "unknown tool 'add'; the available tools are: none")]


@DRIVERS
def test_arguments_that_are_not_json(run: Any) -> None:
    raw = '{"a": 1, "b": '
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at position {exc.pos}"
    results = run([_call("c1", "add", raw)], _tools(add))
    assert _norm(results) == [
        _err("c1", "add", {}, f"tool 'add': arguments are not valid JSON ({reason}): {raw}")]
    assert results[0].exception is None


@pytest.mark.parametrize(("raw", "kind"), [("[1, 2]", "list"), ('"text"', "str"), ("3", "int"), ("null", "NoneType")])
@DRIVERS
def test_arguments_that_are_not_an_object(run: Any, raw: str, kind: str) -> None:
    assert _norm(run([_call("c1", "add", raw)], _tools(add))) == [
        _err("c1", "add", {}, f"tool 'add': arguments must be a JSON object, got {kind}: {raw}")]


def test_long_bad_arguments_are_clipped_in_the_error() -> None:
    raw = "x" * 500
    [result] = _run_sync([_call("c1", "add", raw)], _tools(add))
    assert result.error is not None
    assert result.error.endswith(": " + "x" * 200 + "…")


@DRIVERS
def test_empty_arguments_mean_no_arguments(run: Any) -> None:
    @tool
    def now() -> str:
        """The time."""
        return "noon"

    assert _norm(run([_call("c1", "now", ""), _call("c2", "now", "  ")], _tools(now))) == [
        _ok("c1", "now", {}, "noon", "noon"), _ok("c2", "now", {}, "noon", "noon")]


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
    results = run([_call("c1", "add", arguments), _call("c2", "add", {"a": 1, "b": 1})], _tools(add))
    assert len(results) == 2
    _check_error(results[0], "c1", "add", arguments, r"^invalid arguments for tool 'add': ", *patterns)
    assert results[0].exception is None
    assert _norm(results[1:]) == [_ok("c2", "add", {"a": 1, "b": 1}, 2, "2")]


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
    [result] = run([_call("c1", "order", arguments)], _tools(order))
    _check_error(result, "c1", "order", arguments, r"^invalid arguments for tool 'order': ", r"items/1/qty: ")
    assert run([_call("c2", "order", {"items": [{"name": "a", "qty": 2}, {"name": "b", "qty": 3}]})],
               _tools(order))[0].result == 5


@DRIVERS
def test_spec_tool_schema_failure_names_the_field(run: Any) -> None:
    params = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    weather = Tool.from_spec({"name": "weather", "parameters": params}, lambda city: f"sunny in {city}")
    results = run([_call("c1", "weather", {"city": 7}), _call("c2", "weather", {}),
                   _call("c3", "weather", {"city": "Oslo"})], _tools(weather))
    _check_error(results[0], "c1", "weather", {"city": 7}, r"^invalid arguments for tool 'weather': ", "city", "string")
    _check_error(results[1], "c2", "weather", {}, r"^invalid arguments for tool 'weather': ", "city", "required")
    assert _norm(results[2:]) == [_ok("c3", "weather", {"city": "Oslo"}, "sunny in Oslo", "sunny in Oslo")]


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
    calls = [_call("c1", "boom", {"reason": "daily"})]
    if concurrent:
        calls.append(_call("c2", "add", {"a": 1, "b": 1}))
    results = run(calls, _tools(boom, add))
    expected = [_err("c1", "boom", {"reason": "daily"}, "tool 'boom' raised QuotaError: quota exceeded: daily")]
    if concurrent:
        expected.append(_ok("c2", "add", {"a": 1, "b": 1}, 2, "2"))
    assert _norm(results) == expected
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
    calls = [_call("c1", "fetch", {})]
    if concurrent:
        calls.append(_call("c2", "add", {"a": 1, "b": 1}))
    results = run(calls, _tools(fetch, add))
    assert _norm(results)[0] == _err("c1", "fetch", {}, "tool 'fetch' raised TimeoutError: upstream timed out")
    assert isinstance(results[0].exception, TimeoutError)


@DRIVERS
def test_a_tool_raising_timeout_error_quickly_is_not_reported_as_a_timeout(run: Any) -> None:
    @tool(timeout=5)
    def fetch() -> None:
        """Fetch."""
        raise TimeoutError("upstream timed out")

    results = run([_call("c1", "fetch", {})], _tools(fetch))
    assert _norm(results) == [_err("c1", "fetch", {}, "tool 'fetch' raised TimeoutError: upstream timed out")]


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
        results = run([_call("c1", "stuck", {}), _call("c2", "add", {"a": 1, "b": 2})], _tools(stuck, add))
    finally:
        release.set()
    assert time.perf_counter() - started < 1.0
    assert _norm(results) == [
        _err("c1", "stuck", {}, "tool 'stuck' did not finish within 0.1 seconds"),
        _ok("c2", "add", {"a": 1, "b": 2}, 3, "3"),
    ]
    assert results[0].exception is None


def test_single_sync_tool_past_its_timeout_with_run_calls(release: threading.Event) -> None:
    @tool(timeout=0.1)
    def stuck() -> str:
        """Hangs."""
        release.wait(3)
        return "late"

    try:
        results = _run_sync([_call("c1", "stuck", {})], _tools(stuck))
    finally:
        release.set()
    assert _norm(results) == [_err("c1", "stuck", {}, "tool 'stuck' did not finish within 0.1 seconds")]


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
    results = run([_call("c1", "stuck", {})], _tools(stuck))
    assert time.perf_counter() - started < 1.0
    assert _norm(results) == [_err("c1", "stuck", {}, "tool 'stuck' did not finish within 0.1 seconds")]
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
        results = run([_call("c1", "slow", {}), _call("c2", "add", {"a": 0, "b": 0})], _tools(t, add),
                      default_timeout=0.15)
    finally:
        release.set()
    assert _norm(results) == [
        _err("c1", "slow", {}, "tool 'slow' did not finish within 0.15 seconds"),
        _ok("c2", "add", {"a": 0, "b": 0}, 0, "0"),
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

    results = run([_call("c1", "patient", {}), _call("c2", "apatient", {})], _tools(patient, apatient),
                  default_timeout=0.05)
    assert _norm(results) == [_ok("c1", "patient", {}, "done", "done"), _ok("c2", "apatient", {}, "done", "done")]


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
    results = run([_call("c1", "give", {"kind": kind})], _tools(give))
    assert _norm(results) == [_ok("c1", "give", {"kind": kind}, _VALUES[kind], content)]
    assert results[0].result is _VALUES[kind]  # the raw value is kept for the programmer


def test_object_inside_a_dict_falls_back_to_str() -> None:
    @tool
    def wrap() -> dict[str, Any]:
        """Wrap."""
        return {"thing": _OPAQUE, "n": 1}

    assert _run_sync([_call("c1", "wrap", {})], _tools(wrap))[0].content == '{"thing":"<opaque 7>","n":1}'


def test_tool_call_round_trips_to_its_part() -> None:
    part = ToolCallPart(id="c1", name="add", arguments='{"a": 1, "b": 2}')
    call = ToolCall.from_part(part)
    assert call == ToolCall(id="c1", name="add", arguments={"a": 1, "b": 2}, raw_arguments='{"a": 1, "b": 2}')
    assert call.to_part() == part
    bad = ToolCall.from_part(ToolCallPart(id="c2", name="add", arguments="nope"))
    assert (bad.arguments, bad.raw_arguments, bad.to_part().arguments) == ({}, "nope", "nope")
    assert bad.arguments_error is not None


def test_no_calls_gives_no_results() -> None:
    assert _run_sync([], _tools(add)) == []
    assert _run_async([], _tools(add)) == []


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
