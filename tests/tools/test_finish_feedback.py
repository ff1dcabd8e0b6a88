"""What the model hears back from the finish tool: a result that fails the output schema names each
wrong field, what the schema expects there and what was given (pydantic models and JSON Schemas alike);
a failure the model reports itself ends the execution as the model's own report."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from loopline import Agent, ExecutionStatus, InMemoryStore
from loopline.testing import ScriptedModel, call, reply
from loopline.tools import OutputSchema


class Address(BaseModel):
    street: str
    zip: int


class Report(BaseModel):
    city: str
    temperature: float
    tags: list[str]
    address: Address | None = None


REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temperature": {"type": "number"},
                   "tags": {"type": "array", "items": {"type": "string"}},
                   "address": {"$ref": "#/$defs/Address"}},
    "required": ["city", "temperature", "tags"],
    "$defs": {"Address": {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "integer"}},
                          "required": ["street", "zip"]}},
}
SHAPE = "object {city: string, temperature: number, tags: array of string, address (optional): "


def _feedback(schema: OutputSchema, result: object) -> tuple[str, Agent]:
    """The finish tool's answer to one call with `result`, then a valid finish."""
    good = {"city": "Oslo", "temperature": 3.5, "tags": []}
    model = ScriptedModel([reply(call("finish", result=result, is_success=True)),
                           reply(call("finish", result=good, is_success=True))])
    agent = Agent("a", store=InMemoryStore())
    agent.add_task("Weather report for Oslo.", output_schema=schema)
    outcome = agent.run(model=model)
    assert outcome.status is ExecutionStatus.COMPLETED  # the model could act on what it was told
    [first, _] = [p for m in agent.thread for p in m.tool_results]
    assert first.is_error
    return first.content, agent


@pytest.mark.parametrize("schema", [Report, REPORT_SCHEMA], ids=["pydantic", "json-schema"])
def test_wrong_and_missing_fields_are_named_with_what_they_should_be(schema: OutputSchema) -> None:
    content, _ = _feedback(schema, {"city": 3, "temperature": "warm"})
    assert "field `city` should be string, got 3 (integer)" in content
    assert 'field `temperature` should be number, got "warm" (string)' in content
    assert "field `tags` is missing (expected array of string)" in content
    assert f"The result must be {SHAPE}" in content


@pytest.mark.parametrize("schema", [Report, REPORT_SCHEMA], ids=["pydantic", "json-schema"])
def test_a_nested_field_is_named_by_its_path(schema: OutputSchema) -> None:
    content, _ = _feedback(schema, {"city": "Oslo", "temperature": 1, "tags": ["a", 2],
                                    "address": {"street": "Main"}})
    assert "field `tags[1]` should be string, got 2 (integer)" in content
    assert "field `address.zip` is missing (expected integer)" in content


@pytest.mark.parametrize("schema", [Report, REPORT_SCHEMA], ids=["pydantic", "json-schema"])
def test_a_result_of_the_wrong_kind_is_told_the_whole_shape(schema: OutputSchema) -> None:
    content, _ = _feedback(schema, "It is 3 degrees in Oslo.")
    assert f"`result` should be {SHAPE}" in content
    assert 'got "It is 3 degrees in Oslo." (string)' in content
    assert "instance of Report" not in content


def test_the_pydantic_model_is_named() -> None:
    content, _ = _feedback(Report, {"city": "Oslo"})
    assert content.startswith("Error: invalid arguments for tool 'finish': result does not match the output "
                              "schema Report: ")


@pytest.mark.parametrize("schema", [None, Report], ids=["text", "pydantic"])
def test_a_failure_the_model_reports_reads_as_the_models_own(schema: OutputSchema | None) -> None:
    model = ScriptedModel([reply(call("finish", result="No weather service answers for Oslo.", is_success=False))])
    agent = Agent("a", store=InMemoryStore())
    agent.add_task("Weather report for Oslo.", output_schema=schema)
    result = agent.run(model=model)
    assert (result.status, result.error_code, result.error, result.result) == (
        ExecutionStatus.FAILED, "model_reported_failure",
        "the model reported that it could not finish: No weather service answers for Oslo.",
        "No weather service answers for Oslo.")


def test_a_reported_failure_that_is_not_text_is_shown_as_json() -> None:
    model = ScriptedModel([reply(call("finish", result={"reason": "no data"}, is_success=False))])
    agent = Agent("a", store=InMemoryStore())
    agent.add_task("Weather report for Oslo.", output_schema=Report)
    result = agent.run(model=model)
    assert (result.error_code, result.error) == (
        "model_reported_failure", 'the model reported that it could not finish: {"reason": "no data"}')
