"""Helpers of the tool tests: calls to run, results to compare, schema checks, and the models and tools
several test modules use."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import json
import re
import time
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from loopline import Tool, ToolCallResult, ToolContext, tool
from loopline.messages import ToolCallPart
from loopline.tools import ToolCall, arun_calls, run_calls


def call_of(call_id: str, name: str, arguments: Any) -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall.from_part(ToolCallPart(id=call_id, name=name, arguments=raw))


def context_of(call: ToolCall) -> ToolContext:
    return ToolContext(tool_call_id=call.id)


def run_one(t: Tool, arguments: Any, call_id: str = "call_1") -> ToolCallResult:
    [result] = run_calls([call_of(call_id, t.name, arguments)], {t.name: t}, context_of)
    return result


def walk_schema_nodes(node: Any) -> list[dict[str, Any]]:
    """Every schema node (not every dict: property *names* are not schema keywords)."""
    if not isinstance(node, dict):
        return []
    found = [node]
    for key in ("properties", "$defs", "definitions"):
        for sub in node.get(key, {}).values():
            found += walk_schema_nodes(sub)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            found += walk_schema_nodes(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in node.get(key, []):
            found += walk_schema_nodes(sub)
    return found


def assert_strict_ok(schema: dict[str, Any]) -> None:
    """The rules OpenAI's strict mode enforces, checked on every node (root, properties, $defs, ...)."""
    jsonschema.Draft202012Validator.check_schema(schema)
    nodes = walk_schema_nodes(schema)
    objects = [n for n in nodes if n.get("type") == "object" or "properties" in n]
    assert objects, "expected at least the root object"
    for node in objects:
        assert node.get("additionalProperties") is False, node
        assert sorted(node.get("required", [])) == sorted(node.get("properties", {})), node
    for node in nodes:
        assert "default" not in node, node


def tools_by_name(*items: Tool) -> dict[str, Tool]:
    return {t.name: t for t in items}


def norm(results: list[ToolCallResult]) -> list[ToolCallResult]:
    """Results with `duration` zeroed so whole results can be compared."""
    for r in results:
        assert r.duration >= 0
    return [dataclasses.replace(r, duration=0.0) for r in results]


def ok(call_id: str, name: str, payload: dict[str, Any], result: Any, content: str) -> ToolCallResult:
    return ToolCallResult(tool_call_id=call_id, function_name=name, payload=payload, result=result,
                          is_success=True, content=content)


def err(call_id: str, name: str, payload: dict[str, Any], error: str) -> ToolCallResult:
    return ToolCallResult(tool_call_id=call_id, function_name=name, payload=payload, result=None,
                          is_success=False, content=f"Error: {error}", error=error)


def check_error(result: ToolCallResult, call_id: str, name: str, payload: dict[str, Any], *patterns: str) -> None:
    """A whole error result whose wording may vary: every regex in `patterns` must match its error."""
    assert result.error is not None, result
    assert dataclasses.replace(result, duration=0.0) == err(call_id, name, payload, result.error)
    for pattern in patterns:
        assert re.search(pattern, result.error), (pattern, result.error)


def run_sync(calls: list[ToolCall], tools: dict[str, Tool], **kw: Any) -> list[ToolCallResult]:
    return run_calls(calls, tools, lambda c: ToolContext(tool_call_id=c.id), **kw)


def run_async(calls: list[ToolCall], tools: dict[str, Tool], **kw: Any) -> list[ToolCallResult]:
    return asyncio.run(arun_calls(calls, tools, lambda c: ToolContext(tool_call_id=c.id), **kw))


DRIVERS = pytest.mark.parametrize("run", [run_sync, run_async], ids=["run_calls", "arun_calls"])


# --- models used as parameter types ---------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str
    zip_code: int | None = None


class Book(BaseModel):
    title: str
    pages: int = 100


class Shelf(BaseModel):
    label: str
    books: list[Book]


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


OPAQUE = Opaque()
VALUES: dict[str, Any] = {
    "str": "plain text, not quoted",
    "none": None,
    "int": 42,
    "dict": {"a": 1, "b": [1, 2], "c": None, "d": "é"},
    "list": [1, "two", None],
    "model": Point(x=1, y=2),
    "nested_model": {"p": Point(x=3, y=4)},
    "dataclass": Pair(left=1, right="r"),
    "date": datetime.date(2024, 5, 17),
    "opaque": OPAQUE,
}


@tool
def give(kind: str) -> Any:
    """Return a value of the given kind."""
    return VALUES[kind]
