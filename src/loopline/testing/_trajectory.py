"""Trajectory assertions: which tools an agent called, in what order, with what arguments, and how it ended.

They read a finished run from where it lives (an `ExecutionResult` and its store, an `Agent`, or
neutral messages) and fail with the whole trajectory side by side, one call a line, expected
against actual, so a failing test says what happened without a debugger.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias

from ..agent import Agent, Finished
from ..errors import UsageError
from ..loop import ExecutionResult, ExecutionStatus
from ..messages import Message, TextPart
from ..store import Store, default_store
from ..tools import FINISH_TOOL_NAME
from ._calls import Call, format_arguments

__all__ = ["assert_result", "assert_tool_calls", "tool_calls"]

Source: TypeAlias = ExecutionResult | Agent | Sequence[Message]
Order: TypeAlias = Literal["exact", "in_order", "any_order"]
Matching: TypeAlias = Literal["exact", "subset"]

_MISSING: Any = object()


def tool_calls(source: Source, *, store: Store | None = None, include_finish: bool = True) -> list[Call]:
    """The tool calls the model made, in order, with their arguments parsed (raw text when not JSON).

    Args:
        source: An `ExecutionResult` (the calls of that execution, read from `store`), an `Agent`
            (the calls of its current or last execution) or a list of neutral messages (all calls).
        store: Where an `ExecutionResult`'s thread lives; the default store when `None`.
        include_finish: Count calls to the built-in finish tool.
    """
    calls = [Call(part.name, _parsed(part.arguments)) for message in _messages(source, store)
             if message.role == "assistant" for part in message.tool_calls]
    return [c for c in calls if include_finish or c.name != FINISH_TOOL_NAME]


def assert_tool_calls(source: Source, expected: Sequence[Call | str], *, order: Order = "exact",
                      arguments: Matching = "exact", store: Store | None = None, include_finish: bool = True) -> None:
    """Assert the tool calls made match `expected` (`call(...)` values, or bare tool names: any arguments).

    Args:
        source: As for `tool_calls`.
        expected: The calls expected. `call(name)` without arguments matches any arguments.
        order: `"exact"`: these calls and no others, in this order; `"in_order"`: these in this
            order, others allowed between them; `"any_order"`: these in any order, others allowed.
        arguments: `"exact"`: the arguments are equal (`unittest.mock.ANY` matches any value);
            `"subset"`: the expected arguments are present with these values, others allowed
            (nested objects compared the same way).
        store: As for `tool_calls`.
        include_finish: As for `tool_calls`.

    Raises:
        AssertionError: With expected and actual calls one a line, and a diff between them.
    """
    if order not in ("exact", "in_order", "any_order"):
        raise UsageError(f"order must be 'exact', 'in_order' or 'any_order', got {order!r}")
    if arguments not in ("exact", "subset"):
        raise UsageError(f"arguments must be 'exact' or 'subset', got {arguments!r}")
    wanted = [Call(item) if isinstance(item, str) else item for item in expected]
    actual = tool_calls(source, store=store, include_finish=include_finish)
    pairs = _matching(wanted, actual, order, arguments)
    missing = len(wanted) - len(pairs)
    extra = len(actual) - len(pairs) if order == "exact" else 0
    if missing or extra:
        raise AssertionError(_report(wanted, actual, pairs, order, arguments))


def assert_result(source: ExecutionResult | Agent | Iterable[Any], *, ok: bool | None = None,
                  status: ExecutionStatus | str | None = None, value: Any = _MISSING, error: Any = _MISSING,
                  error_code: Any = _MISSING) -> ExecutionResult:
    """Assert how an execution ended; returns the `ExecutionResult` for further checks.

    Args:
        source: An `ExecutionResult`, an `Agent` (its current or last execution) or the events of
            `agent.stream()` (their `Finished` event).
        ok: Whether it COMPLETED.
        status: The exact status (an `ExecutionStatus` or its name).
        value: The result (the finish tool's `result`, parsed to the output schema, or the final text),
            compared with `==`.
        error: A string the error message contains, or a compiled pattern it matches; `None`: no error.
        error_code: The error code (`provider_error`, `max_steps`, ...), or `None` for none.
    """
    result = _result(source)
    checks: list[tuple[str, Any, Any, bool]] = []
    if ok is not None:
        checks.append(("ok", ok, result.ok, ok == result.ok))
    if status is not None:
        wanted = status if isinstance(status, ExecutionStatus) else ExecutionStatus[str(status).upper()]
        checks.append(("status", wanted.value, result.status.value, wanted is result.status))
    if value is not _MISSING:
        checks.append(("value", value, result.result, bool(value == result.result)))
    if error is not _MISSING:
        checks.append(("error", error, result.error, _error_matches(error, result.error)))
    if error_code is not _MISSING:
        checks.append(("error_code", error_code, result.error_code, bool(error_code == result.error_code)))
    failed = [c for c in checks if not c[3]]
    if failed:
        lines = [f"  {name}: expected {_show(want)}, got {_show(got)}" for name, want, got, _ in failed]
        raise AssertionError("execution result does not match:\n" + "\n".join(lines) + "\n" + _describe(result))
    return result


# --- reading the source -----------------------------------------------------------------------------


def _messages(source: Source, store: Store | None) -> list[Message]:
    if isinstance(source, ExecutionResult):
        store = store if store is not None else default_store()
        return _of_execution(store.get_messages(source.thread_id), store, source.thread_id, source.execution_id)
    if isinstance(source, Agent):
        execution = source.execution
        if execution is None:
            raise UsageError(f"{source!r} has no execution yet: nothing was called")
        return _of_execution(source.thread, source.store, execution.thread_id, execution.id)
    if isinstance(source, (list, tuple)) and all(isinstance(m, Message) for m in source):
        return list(source)
    raise UsageError(f"expected an ExecutionResult, an Agent or a list of Message, got {type(source).__name__}")


def _of_execution(messages: list[Message], store: Store, thread_id: str, execution_id: str) -> list[Message]:
    """The messages of one execution, by position: from its task message to the next execution's.

    Every execution on a thread starts with its task (a user message of its input), and a thread's
    executions run one after another, so the task messages split the thread. An execution's task is
    found by its input; only executions given the same input are told apart by when they started.
    """
    tasks: dict[str, list[int]] = {}
    for index, message in enumerate(messages):
        first = message.parts[0] if message.parts else None
        if message.role == "user" and isinstance(first, TextPart):
            tasks.setdefault(first.text, []).append(index)
    starts: dict[str, int] = {}
    for execution in sorted(store.list_executions(thread_id=thread_id, limit=None), key=lambda e: e.created_at):
        found = tasks.get(execution.input)
        if found:
            starts[execution.id] = found.pop(0)
    if execution_id not in starts:
        raise UsageError(f"execution {execution_id} has no task message in thread {thread_id}: pass the store it "
                         "ran against (store=...)")
    start = starts[execution_id]
    end = min((i for i in starts.values() if i > start), default=len(messages))
    return messages[start:end]


def _result(source: ExecutionResult | Agent | Iterable[Any]) -> ExecutionResult:
    if isinstance(source, ExecutionResult):
        return source
    if isinstance(source, Agent):
        return source.retrieve_execution_result()
    finished = [e for e in source if isinstance(e, Finished)] if isinstance(source, Iterable) else []
    if not finished:
        raise UsageError(f"expected an ExecutionResult, an Agent or stream events ending in Finished, "
                         f"got {type(source).__name__}")
    return finished[-1].result


def _parsed(arguments: str) -> Any:
    if not arguments.strip():
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


# --- matching ---------------------------------------------------------------------------------------


def _matches(want: Call, got: Call, mode: Matching) -> bool:
    if want.name != got.name:
        return False
    if want.arguments is None:
        return True
    if mode == "subset":
        return _subset(want.arguments, got.arguments)
    return bool(want.arguments == got.arguments)


def _subset(want: Any, got: Any) -> bool:
    if isinstance(want, dict) and isinstance(got, dict):
        return all(key in got and _subset(value, got[key]) for key, value in want.items())
    return bool(want == got)


def _matching(wanted: list[Call], actual: list[Call], order: Order, mode: Matching) -> dict[int, int]:
    """Expected index -> actual index of the calls that match: the most that can, keeping order
    unless `order` is `"any_order"`."""
    if order == "any_order":
        return _any_order(wanted, actual, mode)
    # The longest common subsequence under the match relation (small tables: calls of one run).
    n, m = len(wanted), len(actual)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1],
                             best[i + 1][j + 1] + 1 if _matches(wanted[i], actual[j], mode) else 0)
    pairs, i, j = {}, 0, 0
    while i < n and j < m:
        if _matches(wanted[i], actual[j], mode) and best[i][j] == best[i + 1][j + 1] + 1:
            pairs[i], i, j = j, i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _any_order(wanted: list[Call], actual: list[Call], mode: Matching) -> dict[int, int]:
    """A largest matching of expected to distinct actual calls (augmenting paths)."""
    owner: dict[int, int] = {}  # actual index -> expected index

    def place(i: int, seen: set[int]) -> bool:
        for j, got in enumerate(actual):
            if j in seen or not _matches(wanted[i], got, mode):
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(wanted)):
        place(i, set())
    return {i: j for j, i in owner.items()}


# --- reporting --------------------------------------------------------------------------------------


def _report(wanted: list[Call], actual: list[Call], pairs: dict[int, int], order: Order, mode: Matching) -> str:
    missing = [i for i in range(len(wanted)) if i not in pairs]
    lines = [f"tool calls do not match (order={order!r}, arguments={mode!r}): "
             f"{len(missing)} expected call(s) not made"
             + (f", {len(actual) - len(pairs)} call(s) not expected" if order == "exact" else ""),
             f"expected ({len(wanted)}):", *_numbered(wanted, mode), f"actual ({len(actual)}):",
             *_numbered(actual, "exact"), "diff (- expected, not made; + made, not expected"
             + ("" if order == "exact" else ", allowed") + "):"]
    return "\n".join(lines + _diff(wanted, actual, pairs, order, mode))


def _numbered(calls: list[Call], mode: Matching) -> list[str]:
    return [f"  {n}. {_line(c, mode)}" for n, c in enumerate(calls, 1)] or ["  (none)"]


def _line(c: Call, mode: Matching) -> str:
    more = ", ..." if mode == "subset" and c.arguments else ""
    return f"{c.name}({format_arguments(c.arguments)}{more})"


def _diff(wanted: list[Call], actual: list[Call], pairs: dict[int, int], order: Order, mode: Matching) -> list[str]:
    if order == "any_order":
        return ([f"  - {_line(wanted[i], mode)}" for i in range(len(wanted)) if i not in pairs]
                + [f"  + {_line(c, 'exact')}" for j, c in enumerate(actual) if j not in pairs.values()])
    out, j = [], 0
    for i, want in enumerate(wanted):
        if i not in pairs:
            out.append(f"  - {_line(want, mode)}")
            continue
        out.extend(f"  + {_line(c, 'exact')}" for c in actual[j:pairs[i]])
        out.append(f"    {_line(actual[pairs[i]], 'exact')}")
        j = pairs[i] + 1
    return out + [f"  + {_line(c, 'exact')}" for c in actual[j:]]


def _error_matches(expected: Any, actual: str | None) -> bool:
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, re.Pattern):
        return expected.search(actual) is not None
    return str(expected) in actual


def _show(value: Any) -> str:
    if isinstance(value, re.Pattern):
        return f"a match for /{value.pattern}/"
    return repr(value)


def _describe(result: ExecutionResult) -> str:
    return (f"the execution: status={result.status.value}, result={result.result!r}, error={result.error!r}, "
            f"error_code={result.error_code!r}, steps={result.steps}, execution_id={result.execution_id}")
