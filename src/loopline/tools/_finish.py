"""The built-in finish tool: how a model ends an execution with a result.

Its `result` argument is a string unless the task has an `output_schema` (a pydantic model or a JSON
Schema); then `result` takes that schema, is validated, and the execution's result is the parsed value.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from pydantic import BaseModel, StrictBool, StrictStr, TypeAdapter, ValidationError

from ..errors import ToolDefinitionError
from ._call import ToolContext
from ._problems import from_jsonschema, from_pydantic, mismatch_message
from ._schema import ArgsModel, clean_schema
from ._tool import Tool, ToolDefinition

__all__ = ["FINISH_TOOL_NAME", "OutputSchema", "finish_tool", "json_schema_of"]

FINISH_TOOL_NAME = "finish"

OutputSchema = type[BaseModel] | dict[str, Any]
"""A pydantic model class or a JSON Schema dict describing the result an execution must produce."""

_DESCRIPTION = (
    "Call this exactly once, when the task is done or cannot be done, to end the task and hand over "
    "the result. Set is_success to false when the task could not be completed, and explain why in result."
)


def finish_tool(output_schema: OutputSchema | None = None, *, name: str = FINISH_TOOL_NAME) -> Tool:
    """The finish tool for one task; `output_schema` shapes and validates its `result`.

    Tools for no schema or a pydantic model are built once and reused (building one checks its
    schema, which costs milliseconds); a JSON Schema dict is built anew each time.
    """
    if output_schema is None or (isinstance(output_schema, type) and issubclass(output_schema, BaseModel)):
        return _cached(output_schema, name)
    return _build(output_schema, name)


def json_schema_of(output_schema: OutputSchema | None) -> dict[str, Any] | None:
    """The JSON Schema of an output schema (what a store keeps, so a resumed execution checks results
    the same way even where the pydantic model is not at hand)."""
    if output_schema is None or isinstance(output_schema, dict):
        return output_schema
    return clean_schema(output_schema.model_json_schema())


class _FinishArguments(ArgsModel):
    """Checks the finish call's shape; `result` is checked against the output schema by the tool itself,
    so that a mismatch is reported field by field rather than as a failed `anyOf`."""

    result: Any
    is_success: StrictBool


class _FinishText(_FinishArguments):
    """Without an output schema the result is text."""

    result: StrictStr


@functools.lru_cache(maxsize=256)
def _cached(output_schema: type[BaseModel] | None, name: str) -> Tool:
    return _build(output_schema, name)


def _build(output_schema: OutputSchema | None, name: str) -> Tool:
    result_schema, convert = _result_schema(output_schema)
    hoisted = {key: result_schema.pop(key) for key in ("$defs", "definitions") if key in result_schema}
    if output_schema is None:
        result = {**result_schema, "description": "The final result of the task (or, on failure, why it failed)."}
    else:
        result = {"anyOf": [result_schema, {"type": "string"}],
                  "description": "The result in the required shape; a plain string only when is_success is false."}
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "result": result,
            "is_success": {"type": "boolean", "description": "True when the task was completed."},
        },
        "required": ["result", "is_success"],
        "additionalProperties": False,
    }
    parameters.update(hoisted.items())  # references such as "#/$defs/X" resolve from the root of the parameters

    definition = ToolDefinition(name=name, description=_DESCRIPTION, parameters=parameters)
    model = _FinishText if output_schema is None else _FinishArguments
    return _FinishTool(definition=definition, function=_finish, args_model=model, convert=convert)


def _finish(result: Any, is_success: bool) -> Any:
    return result


@dataclass(eq=False, kw_only=True)
class _FinishTool(Tool):
    """Checks a successful result against the output schema while binding arguments, so a mismatch is
    reported to the model as invalid arguments, field by field."""

    convert: Callable[[Any], Any] = field(repr=False)

    def bind(self, arguments: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        kwargs = super().bind(arguments, context)
        if kwargs.get("is_success"):
            kwargs["result"] = self.convert(kwargs["result"])
        return kwargs


def _result_schema(output_schema: OutputSchema | None) -> tuple[dict[str, Any], Any]:
    if output_schema is None:
        return {"type": "string"}, lambda value: value
    if isinstance(output_schema, type) and issubclass(output_schema, BaseModel):
        adapter = TypeAdapter(output_schema)
        schema = clean_schema(output_schema.model_json_schema())
        described = copy.deepcopy(schema)  # the tool's parameters take the $defs out of `schema`

        def convert(value: Any) -> Any:
            try:
                return adapter.validate_python(value)
            except ValidationError as exc:
                raise ValueError(mismatch_message(from_pydantic(exc), described, name=output_schema.__name__)) from None

        return schema, convert
    if isinstance(output_schema, dict):
        validator = jsonschema.validators.validator_for(output_schema)(output_schema)
        given = copy.deepcopy(output_schema)

        def check(value: Any) -> Any:
            problems = from_jsonschema(validator.iter_errors(value))
            if problems:
                raise ValueError(mismatch_message(problems, given, name=given.get("title")))
            return value

        return copy.deepcopy(output_schema), check
    raise ToolDefinitionError(
        f"output_schema must be a pydantic model class or a JSON Schema dict, got {type(output_schema).__name__}"
    )
