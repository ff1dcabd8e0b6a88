"""The built-in finish tool: its schema, and how `result` is validated and converted."""

import asyncio
import dataclasses
import json
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from loopline import Tool, ToolCallResult, ToolContext, ToolDefinition
from loopline.errors import ToolDefinitionError
from loopline.messages import ToolCallPart
from loopline.tools import FINISH_TOOL_NAME, ToolCall, arun_calls, finish_tool, run_calls

_DESCRIPTION = (
    "Call this exactly once, when the task is done or cannot be done, to end the task and hand over "
    "the result. Set is_success to false when the task could not be completed, and explain why in result."
)
_IS_SUCCESS = {"type": "boolean", "description": "True when the task was completed."}
_SHAPED = "The result in the required shape; a plain string only when is_success is false."


def _finish(t: Tool, arguments: Any, call_id: str = "call_1") -> ToolCallResult:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = ToolCall.from_part(ToolCallPart(id=call_id, name=t.name, arguments=raw))
    [result] = run_calls([call], {t.name: t}, lambda c: ToolContext(tool_call_id=c.id))
    assert result.duration >= 0
    return dataclasses.replace(result, duration=0.0)


def _ok(arguments: dict[str, Any], result: Any, content: str, name: str = "finish") -> ToolCallResult:
    return ToolCallResult(tool_call_id="call_1", function_name=name, payload=arguments, result=result,
                          is_success=True, content=content)


def _assert_error(result: ToolCallResult, arguments: dict[str, Any], *fragments: str) -> None:
    assert result.error is not None, result
    assert result == ToolCallResult(tool_call_id="call_1", function_name="finish", payload=arguments, result=None,
                                    is_success=False, content=f"Error: {result.error}", error=result.error)
    for fragment in fragments:
        assert fragment in result.error, (fragment, result.error)


class Author(BaseModel):
    name: str
    title: str | None = None


class Report(BaseModel):
    title: str
    score: float
    author: Author
    tags: list[str] = []


# --- without an output schema -------------------------------------------------------------------


def test_default_definition() -> None:
    t = finish_tool()
    assert FINISH_TOOL_NAME == "finish"
    assert (t.name, t.is_async, t.timeout, t.context_param) == ("finish", False, None, None)
    assert t.definition == ToolDefinition(
        name="finish",
        description=_DESCRIPTION,
        parameters={
            "type": "object",
            "properties": {
                "result": {"type": "string",
                           "description": "The final result of the task (or, on failure, why it failed)."},
                "is_success": _IS_SUCCESS,
            },
            "required": ["result", "is_success"],
            "additionalProperties": False,
        },
        strict=False,
    )
    jsonschema.Draft202012Validator.check_schema(t.definition.parameters)


def test_default_success_and_failure() -> None:
    t = finish_tool()
    done = {"result": "The answer is 42.", "is_success": True}
    assert _finish(t, done) == _ok(done, "The answer is 42.", "The answer is 42.")
    failed = {"result": "The file could not be found.", "is_success": False}
    assert _finish(t, failed) == _ok(failed, "The file could not be found.", "The file could not be found.")


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        ({"result": "x"}, ["is_success", "required"]),
        ({"is_success": True}, ["result", "required"]),
        ({"result": 42, "is_success": True}, ["result", "string"]),
        ({"result": "x", "is_success": "yes"}, ["is_success", "boolean"]),
        ({"result": "x", "is_success": True, "extra": 1}, ["extra"]),
    ],
)
def test_default_rejects_bad_arguments(arguments: dict[str, Any], fragments: list[str]) -> None:
    _assert_error(_finish(finish_tool(), arguments), arguments, "invalid arguments for tool 'finish'", *fragments)


def test_custom_name() -> None:
    t = finish_tool(name="submit_answer")
    assert t.definition == dataclasses.replace(finish_tool().definition, name="submit_answer")
    arguments = {"result": "ok", "is_success": True}
    assert _finish(t, arguments) == _ok(arguments, "ok", "ok", name="submit_answer")


# --- with a pydantic output schema --------------------------------------------------------------


def test_pydantic_output_schema_definition() -> None:
    t = finish_tool(Report)
    assert t.definition == ToolDefinition(
        name="finish",
        description=_DESCRIPTION,
        parameters={
            "type": "object",
            "properties": {
                "result": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {
                                "title": {"type": "string"},
                                "score": {"type": "number"},
                                "author": {"$ref": "#/$defs/Author"},
                                "tags": {"type": "array", "items": {"type": "string"}, "default": []},
                            },
                            "required": ["title", "score", "author"],
                        },
                        {"type": "string"},
                    ],
                    "description": _SHAPED,
                },
                "is_success": _IS_SUCCESS,
            },
            "required": ["result", "is_success"],
            "additionalProperties": False,
            "$defs": {
                "Author": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "title": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                    },
                    "required": ["name"],
                },
            },
        },
    )
    jsonschema.Draft202012Validator.check_schema(t.definition.parameters)


def test_pydantic_result_is_parsed_to_the_model() -> None:
    arguments = {"result": {"title": "Q3", "score": 9, "author": {"name": "Ada"}}, "is_success": True}
    expected = Report(title="Q3", score=9.0, author=Author(name="Ada", title=None), tags=[])
    result = _finish(finish_tool(Report), arguments)
    assert result == _ok(arguments, expected,
                         '{"title":"Q3","score":9.0,"author":{"name":"Ada","title":null},"tags":[]}')
    assert type(result.result) is Report


async def test_pydantic_result_through_arun_calls() -> None:
    t = finish_tool(Report)
    arguments = {"result": {"title": "Q3", "score": 1.5, "author": {"name": "Ada", "title": "Dr"},
                            "tags": ["a"]}, "is_success": True}
    call = ToolCall.from_part(ToolCallPart(id="call_1", name="finish", arguments=json.dumps(arguments)))
    [result] = await arun_calls([call], {"finish": t}, lambda c: ToolContext(tool_call_id=c.id))
    assert result.result == Report(title="Q3", score=1.5, author=Author(name="Ada", title="Dr"), tags=["a"])


def test_pydantic_plain_string_with_success_is_rejected() -> None:
    arguments = {"result": "Here is the report: Q3 was great.", "is_success": True}
    _assert_error(_finish(finish_tool(Report), arguments), arguments, "does not match the output schema")


@pytest.mark.parametrize(
    "bad_result",
    [
        {"title": "Q3", "score": "high", "author": {"name": "Ada"}},
        {"title": "Q3", "score": 1},
        {"title": "Q3", "score": 1, "author": {"name": 7}},
        [1, 2],
    ],
    ids=["wrong-type", "missing-field", "nested-wrong-type", "array"],
)
def test_pydantic_invalid_result_says_it_does_not_match_the_output_schema(bad_result: Any) -> None:
    arguments = {"result": bad_result, "is_success": True}
    _assert_error(_finish(finish_tool(Report), arguments), arguments, "does not match the output schema")


def test_pydantic_failure_with_plain_string_is_accepted() -> None:
    arguments = {"result": "No data for Q3; cannot write the report.", "is_success": False}
    assert _finish(finish_tool(Report), arguments) == _ok(
        arguments, "No data for Q3; cannot write the report.", "No data for Q3; cannot write the report.")


def test_pydantic_failure_result_is_not_converted() -> None:
    partial = {"title": "Q3", "score": 0.0, "author": {"name": "Ada"}}
    arguments = {"result": partial, "is_success": False}
    result = _finish(finish_tool(Report), arguments)
    assert result == _ok(arguments, partial, '{"title":"Q3","score":0.0,"author":{"name":"Ada"}}')


class _Node(BaseModel):
    value: int
    children: list["_Node"] = []


def test_recursive_pydantic_output_schema() -> None:
    t = finish_tool(_Node)
    params = t.definition.parameters
    assert params["properties"]["result"]["anyOf"] == [{"$ref": "#/$defs/_Node"}, {"type": "string"}]
    assert params["$defs"] == {
        "_Node": {
            "type": "object",
            "properties": {"value": {"type": "integer"},
                           "children": {"type": "array", "items": {"$ref": "#/$defs/_Node"}, "default": []}},
            "required": ["value"],
        },
    }
    arguments = {"result": {"value": 1, "children": [{"value": 2}]}, "is_success": True}
    assert _finish(t, arguments).result == _Node(value=1, children=[_Node(value=2)])


# --- with a JSON Schema dict output schema ------------------------------------------------------

_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "integer", "minimum": 0},
        "unit": {"type": "string", "enum": ["m", "km"]},
    },
    "required": ["answer", "unit"],
    "additionalProperties": False,
}


def test_dict_output_schema_definition() -> None:
    t = finish_tool(_ANSWER_SCHEMA)
    assert t.definition == ToolDefinition(
        name="finish",
        description=_DESCRIPTION,
        parameters={
            "type": "object",
            "properties": {
                "result": {"anyOf": [_ANSWER_SCHEMA, {"type": "string"}], "description": _SHAPED},
                "is_success": _IS_SUCCESS,
            },
            "required": ["result", "is_success"],
            "additionalProperties": False,
        },
    )
    assert t.definition.parameters["properties"]["result"]["anyOf"][0] is not _ANSWER_SCHEMA  # a copy


def test_dict_valid_result_is_returned_as_is() -> None:
    arguments = {"result": {"answer": 42, "unit": "km"}, "is_success": True}
    assert _finish(finish_tool(_ANSWER_SCHEMA), arguments) == _ok(
        arguments, {"answer": 42, "unit": "km"}, '{"answer":42,"unit":"km"}')


def test_dict_plain_string_with_success_lists_the_validation_error() -> None:
    arguments = {"result": "42 km", "is_success": True}
    _assert_error(_finish(finish_tool(_ANSWER_SCHEMA), arguments), arguments,
                  "does not match the output schema",
                  '`result` should be object {answer: integer, unit: one of "m", "km"}, got "42 km" (string)')


@pytest.mark.parametrize(
    ("bad_result", "problem"),
    [
        ({"answer": -1, "unit": "km"}, "-1 is less than the minimum of 0"),
        ({"answer": 1, "unit": "miles"}, "'miles' is not one of ['m', 'km']"),
        ({"answer": 1}, 'field `unit` is missing (expected one of "m", "km")'),
    ],
)
def test_dict_invalid_result_lists_the_validation_error(bad_result: Any, problem: str) -> None:
    arguments = {"result": bad_result, "is_success": True}
    _assert_error(_finish(finish_tool(_ANSWER_SCHEMA), arguments), arguments,
                  "does not match the output schema", problem)


def test_dict_failure_with_plain_string_is_accepted() -> None:
    arguments = {"result": "No distance found.", "is_success": False}
    assert _finish(finish_tool(_ANSWER_SCHEMA), arguments) == _ok(arguments, "No distance found.",
                                                                 "No distance found.")


def test_dict_output_schema_with_defs() -> None:
    schema = {
        "type": "object",
        "properties": {"point": {"$ref": "#/$defs/Point"}},
        "required": ["point"],
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
    }
    t = finish_tool(schema)
    assert t.definition.parameters["$defs"] == schema["$defs"]
    arguments = {"result": {"point": {"x": 1.5}}, "is_success": True}
    assert _finish(t, arguments).result == {"point": {"x": 1.5}}
    assert "$defs" in schema  # the caller's schema is not modified


def test_dict_output_schema_with_draft7_definitions() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"point": {"$ref": "#/definitions/Point"}},
        "required": ["point"],
        "definitions": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
    }
    t = finish_tool(schema)
    arguments = {"result": {"point": {"x": 1.5}}, "is_success": True}
    assert _finish(t, arguments) == _ok(arguments, {"point": {"x": 1.5}}, '{"point":{"x":1.5}}')


# --- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [42, "Report", str, ["answer"]], ids=["int", "str", "type", "list"])
def test_invalid_output_schema_is_rejected(bad: Any) -> None:
    with pytest.raises(ToolDefinitionError, match="output_schema must be a pydantic model class or a JSON Schema"):
        finish_tool(bad)


def test_finish_tool_is_reusable_across_runs() -> None:
    calls = [ToolCall.from_part(ToolCallPart(id=f"c{i}", name="finish",
                                             arguments=json.dumps({"result": str(i), "is_success": True})))
             for i in range(3)]
    t = finish_tool()
    results = asyncio.run(arun_calls(calls, {"finish": t}, lambda c: ToolContext(tool_call_id=c.id)))
    assert [(r.tool_call_id, r.result) for r in results] == [("c0", "0"), ("c1", "1"), ("c2", "2")]
