"""The store contract for memory: one set of accepted keys and values, one error for the rest, values
read back alike, scope names (with the `session` and `permanent` aliases), a stored `None` told from a
missing key, and execution-scoped memory deleted by the commit that ends its execution.

Part of the store contract (see tests/store/conftest.py): every test runs against every store,
PostgreSQL included. Owners are fresh per test (a PostgreSQL server could be shared).
"""

from __future__ import annotations

import datetime
import decimal
import enum
from typing import Any

import pytest
from store_helpers import new_execution, thread_with

from loopline.errors import MemoryValueError, UsageError
from loopline.loop import ExecutionStatus
from loopline.messages import new_id
from loopline.store import Store

MISSING: Any = object()


class Colour(enum.IntEnum):
    RED = 1


class Name(str, enum.Enum):
    ADA = "ada"


# What goes in, and what every store gives back (JSON's view of it, with its exact types).
NORMALISED: list[tuple[Any, Any]] = [
    ((1, "two", None), [1, "two", None]),
    ({"t": (1, (2, 3)), "l": [(), {}]}, {"t": [1, [2, 3]], "l": [[], {}]}),
    (Colour.RED, 1),
    (Name.ADA, "ada"),
    ({"k": Colour.RED}, {"k": 1}),
    (-0.0, -0.0),
    (1e308, 1e308),
    (5e-324, 5e-324),
    (0.1 + 0.2, 0.30000000000000004),
    (10**40, 10**40),
    ("\ud800 lone surrogate", "\ud800 lone surrogate"),
    ("nul \x00 inside", "nul \x00 inside"),
    ({"\x00": "\U0001f680"}, {"\x00": "\U0001f680"}),
]


def _circular() -> list[Any]:
    looped: list[Any] = [1]
    looped.append(looped)
    return looped


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


REFUSED: list[tuple[str, Any]] = [
    ("set", {1, 2}),
    ("frozenset", frozenset({1})),
    ("bytes", b"raw"),
    ("bytearray", bytearray(b"raw")),
    ("object", object()),
    ("function", len),
    ("int-key", {1: "a"}),
    ("none-key", {None: "a"}),
    ("bool-key", {True: "a"}),
    ("tuple-key", {(1, 2): "a"}),
    ("nested-int-key", {"ok": [{"fine": 1}, {2: "b"}]}),
    ("nested-set", [1, [2, {3}]]),
    ("nan", float("nan")),
    ("inf", float("inf")),
    ("minus-inf", float("-inf")),
    ("nested-nan", {"a": [0.5, float("nan")]}),
    ("decimal", decimal.Decimal("1.5")),
    ("complex", 1j),
    ("datetime", datetime.datetime(2026, 1, 1)),
    ("circular", _circular()),
    ("too-deep", _deep(100_000)),
    ("int-too-long", 10**5000),
]


@pytest.mark.parametrize(("value", "expected"), NORMALISED, ids=[repr(v)[:30] for v, _ in NORMALISED])
def test_memory_values_read_back_as_json_in_every_store(store: Store, value: Any, expected: Any) -> None:
    owner = new_id("owner")
    store.memory_set("agent", owner, "k", value)
    got, listed = store.memory_get("agent", owner, "k"), store.memory_list("agent", owner)
    assert _typed(got) == _typed(expected)
    assert {k: _typed(v) for k, v in listed.items()} == {"k": _typed(expected)}


def _typed(value: Any) -> Any:
    """The value with each item's exact type beside it (so 1 == True == 1.0 cannot hide a difference)."""
    if isinstance(value, list):
        return ["list", [_typed(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", {k: _typed(v) for k, v in value.items()}]
    return [type(value).__name__, repr(value)]


@pytest.mark.parametrize("value", [v for _, v in REFUSED], ids=[name for name, _ in REFUSED])
def test_memory_refuses_what_json_cannot_carry_and_writes_nothing(store: Store, value: Any) -> None:
    owner = new_id("owner")
    store.memory_set("thread", owner, "kept", ["before"])
    with pytest.raises(MemoryValueError) as refused:
        store.memory_set("thread", owner, "kept", value)
    with pytest.raises(MemoryValueError):
        store.memory_set("thread", owner, "new", value)
    assert isinstance(refused.value, UsageError) and refused.value.key == "kept"
    assert "'kept'" in str(refused.value) and "JSON" in str(refused.value)
    assert store.memory_get("thread", owner, "new", MISSING) is MISSING
    assert store.memory_list("thread", owner) == {"kept": ["before"]}


def test_a_refusal_names_where_the_value_went_wrong(store: Store) -> None:
    owner = new_id("owner")
    with pytest.raises(MemoryValueError, match=r"the value\['a'\]\[1\] is set"):
        store.memory_set("agent", owner, "k", {"a": [1, {2}]})
    with pytest.raises(MemoryValueError, match=r"the value\['b'\] has a int key 3"):
        store.memory_set("agent", owner, "k", {"b": {3: "x"}})
    with pytest.raises(MemoryValueError, match=r"the value\[0\] is nan"):
        store.memory_set("agent", owner, "k", (float("nan"),))


@pytest.mark.parametrize("key", [1, None, b"k", ("k",), "nul\x00key", "\udc80"], ids=repr)
def test_memory_keys_are_strings_every_store_can_keep(store: Store, key: Any) -> None:
    owner = new_id("owner")
    for call in (lambda: store.memory_set("agent", owner, key, 1), lambda: store.memory_get("agent", owner, key),
                 lambda: store.memory_delete("agent", owner, key)):
        with pytest.raises(MemoryValueError):
            call()
    assert store.memory_list("agent", owner) == {}


def test_odd_but_valid_keys_are_kept_and_listed_in_one_order(store: Store) -> None:
    owner = new_id("owner")
    keys = ["b", "", "a", "B", "é", "日本", "🚀", " ", "a\tb", "Z"]
    for n, key in enumerate(keys):
        store.memory_set("agent", owner, key, n)
    listed = store.memory_list("agent", owner)
    assert list(listed.items()) == sorted((k, n) for n, k in enumerate(keys))  # by code point, in every store
    assert [store.memory_get("agent", owner, k) for k in keys] == list(range(len(keys)))


@pytest.mark.parametrize("scope", ["sesion", "Session", "global", "", None, 1])
def test_an_unknown_scope_is_a_usage_error_naming_the_valid_ones(store: Store, scope: Any) -> None:
    owner = new_id("owner")
    calls = (lambda: store.memory_set(scope, owner, "k", 1), lambda: store.memory_get(scope, owner, "k"),
             lambda: store.memory_delete(scope, owner, "k"), lambda: store.memory_list(scope, owner))
    for call in calls:
        with pytest.raises(UsageError) as refused:
            call()
        assert not isinstance(refused.value, MemoryValueError)
        assert str(refused.value) == (f"unknown memory scope {scope!r}; use one of 'execution', 'thread', 'agent', "
                                      "'session', 'permanent'")


def test_session_is_execution_and_permanent_is_agent(store: Store) -> None:
    owner = new_id("owner")
    store.memory_set("session", owner, "s", "in session")
    store.memory_set("permanent", owner, "p", "kept")
    assert store.memory_list("execution", owner) == {"s": "in session"}
    assert store.memory_list("agent", owner) == {"p": "kept"}
    assert store.memory_get("session", owner, "s") == "in session"
    assert store.memory_list("thread", owner) == {}
    store.memory_delete("execution", owner, "s")
    store.memory_delete("permanent", owner, "p")
    assert (store.memory_list("session", owner), store.memory_list("agent", owner)) == ({}, {})


def test_get_tells_a_stored_none_from_a_missing_key(store: Store) -> None:
    owner = new_id("owner")
    store.memory_set("agent", owner, "none", None)
    assert store.memory_get("agent", owner, "none", MISSING) is None
    assert store.memory_get("agent", owner, "absent", MISSING) is MISSING
    assert store.memory_get("agent", owner, "absent", "fallback") == "fallback"
    assert store.memory_get("agent", owner, "absent") is None  # the default default


@pytest.mark.parametrize("status", [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED])
def test_the_commit_that_ends_an_execution_deletes_its_memory_and_only_its(store: Store,
                                                                             status: ExecutionStatus) -> None:
    thread_id = thread_with(store, [])
    ending, other = new_execution(thread_id), new_execution(thread_id)
    for execution in (ending, other):
        store.commit(execution)
        store.memory_set("session", execution.id, "k", execution.id)
    store.memory_set("thread", thread_id, "k", "thread")
    store.memory_set("agent", ending.id, "k", "agent")  # another scope with the same owner string

    ending.set_status(ExecutionStatus.RUNNING, ending.created_at + 1)
    store.commit(ending)
    assert store.memory_list("execution", ending.id) == {"k": ending.id}  # still running: kept
    ending.set_status(ExecutionStatus.PAUSED, ending.created_at + 2)
    store.commit(ending)
    assert store.memory_list("execution", ending.id) == {"k": ending.id}  # paused: kept
    ending.set_status(status, ending.created_at + 3)
    store.commit(ending)

    assert store.memory_list("execution", ending.id) == {}
    assert store.memory_get("session", ending.id, "k", MISSING) is MISSING
    assert store.memory_list("execution", other.id) == {"k": other.id}
    assert store.memory_list("thread", thread_id) == {"k": "thread"}
    assert store.memory_list("agent", ending.id) == {"k": "agent"}
