"""Tool definitions: strict mode, `Tool.from_spec`, and the definitions that are refused."""

from __future__ import annotations

import json
from typing import Any, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel

from loopline import Tool, ToolContext, ToolDefinition, tool
from loopline.errors import ToolDefinitionError
from tool_helpers import Address, Book, Color, Shelf, assert_strict_ok, run_one

# --- rejections ---------------------------------------------------------------------------------


def _var_args(*items: str) -> None: ...
def _var_kwargs(**options: str) -> None: ...
def _positional_only(a: int, /, b: int) -> None: ...


@pytest.mark.parametrize(
    ("fn", "name", "words"),
    [
        (_var_args, "_var_args", "*args"),
        (_var_kwargs, "_var_kwargs", "**kwargs"),
        (_positional_only, "_positional_only", "positional-only parameter 'a'"),
    ],
)
def test_unsupported_signatures_are_rejected(fn: Any, name: str, words: str) -> None:
    with pytest.raises(ToolDefinitionError) as info:
        tool(fn)
    assert info.value.tool_name == name
    assert f"tool {name!r}" in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "bad_name",
    ["has space", "x" * 65, "1st_tool", "pkg.tool", "naïve", "semi;colon", "-dash"],
)
def test_invalid_tool_names_are_rejected(bad_name: str) -> None:
    def fn(x: int) -> int:
        return x

    with pytest.raises(ToolDefinitionError) as info:
        tool(name=bad_name)(fn)
    assert info.value.tool_name == bad_name
    assert repr(bad_name) in str(info.value)

    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_spec({"name": bad_name, "parameters": {"type": "object", "properties": {}}}, fn)
    assert info.value.tool_name == bad_name


def test_empty_name_in_a_spec_is_rejected() -> None:
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_spec({"name": "", "parameters": {"type": "object", "properties": {}}}, lambda: None)
    assert info.value.tool_name == ""


@pytest.mark.parametrize("good_name", ["x" * 64, "_private", "get-weather", "A1_b-2"])
def test_valid_tool_names_are_accepted(good_name: str) -> None:
    def fn() -> None: ...

    assert tool(name=good_name)(fn).name == good_name


def test_tool_definition_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not accepted by every provider"):
        tool(name="bad name")(lambda: None)


def test_from_spec_rejects_an_invalid_json_schema() -> None:
    spec = {"type": "function", "function": {"name": "broken", "parameters": {"type": "objekt"}}}
    with pytest.raises(ToolDefinitionError) as info:
        Tool.from_spec(spec, lambda: None)
    assert info.value.tool_name == "broken"
    assert "tool 'broken'" in str(info.value)
    assert "not a valid JSON Schema" in str(info.value)


def test_strict_mode_rejects_free_form_objects() -> None:
    def tally(counts: dict[str, int]) -> None:
        """Tally."""

    with pytest.raises(ToolDefinitionError) as info:
        tool(strict=True)(tally)
    assert info.value.tool_name == "tally"
    assert "tool 'tally'" in str(info.value)
    assert "$.counts" in str(info.value)

    # without strict mode the same function is fine
    assert tool(tally).definition.parameters == {
        "type": "object",
        "properties": {"counts": {"type": "object", "additionalProperties": {"type": "integer"}}},
        "required": ["counts"],
        "additionalProperties": False,
    }


class _Loose(BaseModel):
    name: str
    extra: dict[str, Any]


def test_strict_mode_rejects_free_form_objects_inside_defs() -> None:
    def put(item: _Loose) -> None:
        """Put."""

    with pytest.raises(ToolDefinitionError) as info:
        tool(strict=True)(put)
    assert info.value.tool_name == "put"


# --- strict mode --------------------------------------------------------------------------------


def test_strict_schema_whole() -> None:
    @tool(strict=True)
    def archive(shelf: Shelf, note: str, *, address: Address | None = None, copies: int = 1,
                lang: Optional[str] = None, tags: list[str] = []) -> None:  # noqa: UP045, B006
        """Archive.

        Args:
            copies: How many copies.
        """

    assert archive.definition.strict is True
    assert archive.definition.parameters == {
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "zip_code": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
                "required": ["street", "zip_code"],
                "additionalProperties": False,
            },
            "Book": {
                "type": "object",
                "properties": {"title": {"type": "string"},
                               "pages": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
                "required": ["title", "pages"],
                "additionalProperties": False,
            },
            "Shelf": {
                "type": "object",
                "properties": {"label": {"type": "string"},
                               "books": {"type": "array", "items": {"$ref": "#/$defs/Book"}}},
                "required": ["label", "books"],
                "additionalProperties": False,
            },
        },
        "type": "object",
        "properties": {
            "shelf": {"$ref": "#/$defs/Shelf"},
            "note": {"type": "string"},
            "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
            "copies": {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "How many copies."},
            "lang": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        },
        "required": ["shelf", "note", "address", "copies", "lang", "tags"],
        "additionalProperties": False,
    }
    assert_strict_ok(archive.definition.parameters)


class _Deep(BaseModel):
    title: str = "t"
    default: int = 3
    inner: list[Address] = []
    choice: Literal["a", "b"] = "a"
    color: Color = Color.RED


def test_strict_rules_hold_recursively_for_awkward_names_and_nesting() -> None:
    @tool(strict=True)
    def deep(items: list[_Deep], default: int = 0, title: str = "x", pair: tuple[int, str] = (1, "a"),
             color: Color | None = Color.GREEN) -> None:
        """Deep."""

    params = deep.definition.parameters
    assert_strict_ok(params)
    # properties named like schema keywords survive as properties
    assert list(params["properties"]) == ["items", "default", "title", "pair", "color"]
    assert list(params["$defs"]["_Deep"]["properties"]) == ["title", "default", "inner", "choice", "color"]
    # the non-strict schema of the same function keeps its defaults
    loose = tool(deep.function).definition.parameters
    assert loose["properties"]["default"] == {"type": "integer", "default": 0}
    assert loose["$defs"]["_Deep"]["properties"]["default"] == {"type": "integer", "default": 3}


def test_strict_null_means_use_the_default() -> None:
    received: dict[str, Any] = {}

    @tool(strict=True)
    def book(title: str, copies: int = 2, lang: str | None = "en", tags: list[str] = ["new"],  # noqa: B006
             note: Optional[str] = None) -> str:  # noqa: UP045
        """Book."""
        received.update(title=title, copies=copies, lang=lang, tags=tags, note=note)
        return "ok"

    schema = book.definition.parameters
    args = {"title": "Dune", "copies": None, "lang": None, "tags": None, "note": None}
    jsonschema.validate(args, schema)  # what a strict-mode model sends is valid
    result = run_one(book, args)
    assert (result.is_success, result.error, result.result) == (True, None, "ok")
    # A null for a parameter whose type cannot be None means "use the default"; where None is a legal
    # value (`lang: str | None`), a null is taken at its word.
    assert received == {"title": "Dune", "copies": 2, "lang": None, "tags": ["new"], "note": None}

    received.clear()
    assert run_one(book, {"title": "X", "copies": 5, "lang": "de", "tags": [], "note": "n"}).is_success
    assert received == {"title": "X", "copies": 5, "lang": "de", "tags": [], "note": "n"}


def test_strict_required_optional_param_keeps_null() -> None:
    received: list[Any] = []

    @tool(strict=True)
    def pick(choice: Optional[int]) -> None:  # noqa: UP045
        """Pick."""
        received.append(choice)

    assert pick.definition.parameters == {
        "type": "object",
        "properties": {"choice": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["choice"],
        "additionalProperties": False,
    }
    assert run_one(pick, {"choice": None}).is_success
    assert received == [None]


def test_strict_null_for_a_defaulted_field_of_a_nested_model_means_its_default() -> None:
    """Strict mode made `Book.pages` nullable, so a strict-mode model may send null for it."""
    received: list[Any] = []

    @tool(strict=True)
    def shelve(shelf: Shelf) -> None:
        """Shelve."""
        received.append(shelf)

    args = {"shelf": {"label": "A", "books": [{"title": "Dune", "pages": None}]}}
    jsonschema.validate(args, shelve.definition.parameters)  # the schema we sent allows it
    result = run_one(shelve, args)
    assert (result.is_success, result.error) == (True, None)
    assert received == [Shelf(label="A", books=[Book(title="Dune", pages=100)])]


# --- Tool.from_spec -----------------------------------------------------------------------------

_WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name."},
        "unit": {"type": "string", "enum": ["c", "f"]},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def _weather(city: str, ctx: ToolContext, unit: str = "c") -> dict[str, Any]:
    return {"city": city, "unit": unit, "call": ctx.tool_call_id}


def test_from_spec_with_type_wrapper() -> None:
    spec = {"type": "function", "function": {"name": "get_weather", "description": "Current weather.",
                                             "parameters": _WEATHER_PARAMS, "strict": True}}
    t = Tool.from_spec(spec, _weather, timeout=3.0)
    assert t.definition == ToolDefinition(name="get_weather", description="Current weather.",
                                          parameters=_WEATHER_PARAMS, strict=True)
    assert (t.name, t.timeout, t.is_async, t.context_param, t.args_model) == (
        "get_weather", 3.0, False, "ctx", None)

    result = run_one(t, {"city": "Oslo"}, call_id="c1")
    assert result.result == {"city": "Oslo", "unit": "c", "call": "c1"}
    bad = run_one(t, {"city": "Oslo", "unit": "k"}, call_id="c2")
    assert (bad.is_success, bad.error) == (
        False, "invalid arguments for tool 'get_weather': unit: 'k' is not one of ['c', 'f']")


def test_from_spec_bare_form_and_missing_parameters() -> None:
    t = Tool.from_spec({"name": "get_weather", "parameters": _WEATHER_PARAMS}, _weather)
    assert t.definition == ToolDefinition(name="get_weather", description="", parameters=_WEATHER_PARAMS)

    async def now() -> str:
        return "12:00"

    t2 = Tool.from_spec({"name": "now", "description": "The time."}, now)
    assert t2.definition == ToolDefinition(name="now", description="The time.",
                                           parameters={"type": "object", "properties": {}})
    assert t2.is_async is True
    assert run_one(t2, "").result == "12:00"


def test_from_spec_sends_the_parameters_exactly_as_given() -> None:
    params = {"title": "Args", "type": "object",
              "properties": {"title": {"title": "Title", "type": "string"}}, "required": ["title"]}
    original = json.loads(json.dumps(params))
    t = Tool.from_spec({"name": "rename", "parameters": params}, lambda title: title)
    assert t.definition.parameters == original
    assert params == original  # the caller's dict is not modified
    assert run_one(t, {"title": "new"}).result == "new"


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "function", "function": "get_weather"},
        {"type": "function", "function": {"parameters": _WEATHER_PARAMS}},
        {"type": "mcp", "server_label": "x"},
        {"description": "no name"},
    ],
)
def test_from_spec_rejects_malformed_specs(spec: Any) -> None:
    with pytest.raises(ToolDefinitionError, match="OpenAI-style"):
        Tool.from_spec(spec, _weather)


@pytest.mark.parametrize("spec", ["get_weather", ["get_weather"], None, 42])
def test_from_spec_rejects_a_non_dict_spec(spec: Any) -> None:
    with pytest.raises(ToolDefinitionError, match="OpenAI-style"):
        Tool.from_spec(spec, _weather)
