"""Tool definitions: JSON Schemas from type hints and docstrings, strict mode, specs, and rejections."""

import enum
import json
from typing import Annotated, Any, Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel, Field

from loopline import Tool, ToolCallResult, ToolContext, ToolDefinition, tool
from loopline.errors import ToolDefinitionError
from loopline.messages import ToolCallPart
from loopline.tools import ToolCall, run_calls

# --- helpers ------------------------------------------------------------------------------------


def _call(call_id: str, name: str, arguments: Any) -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall.from_part(ToolCallPart(id=call_id, name=name, arguments=raw))


def _context(call: ToolCall) -> ToolContext:
    return ToolContext(tool_call_id=call.id)


def _run_one(t: Tool, arguments: Any, call_id: str = "call_1") -> ToolCallResult:
    [result] = run_calls([_call(call_id, t.name, arguments)], {t.name: t}, _context)
    return result


def _walk_schema_nodes(node: Any) -> list[dict[str, Any]]:
    """Every schema node (not every dict: property *names* are not schema keywords)."""
    if not isinstance(node, dict):
        return []
    found = [node]
    for key in ("properties", "$defs", "definitions"):
        for sub in node.get(key, {}).values():
            found += _walk_schema_nodes(sub)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), dict):
            found += _walk_schema_nodes(node[key])
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in node.get(key, []):
            found += _walk_schema_nodes(sub)
    return found


def _assert_strict_ok(schema: dict[str, Any]) -> None:
    """The rules OpenAI's strict mode enforces, checked on every node (root, properties, $defs, ...)."""
    jsonschema.Draft202012Validator.check_schema(schema)
    nodes = _walk_schema_nodes(schema)
    objects = [n for n in nodes if n.get("type") == "object" or "properties" in n]
    assert objects, "expected at least the root object"
    for node in objects:
        assert node.get("additionalProperties") is False, node
        assert sorted(node.get("required", [])) == sorted(node.get("properties", {})), node
    for node in nodes:
        assert "default" not in node, node


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


# --- schemas from type hints --------------------------------------------------------------------


def test_scalar_types_make_a_closed_object_schema() -> None:
    @tool
    def describe(name: str, count: int, ratio: float, enabled: bool) -> str:
        """Describe a thing."""
        return name

    assert isinstance(describe, Tool)
    assert describe.definition == ToolDefinition(
        name="describe",
        description="Describe a thing.",
        parameters={
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "count": {"type": "integer"},
                "ratio": {"type": "number"},
                "enabled": {"type": "boolean"},
            },
            "required": ["name", "count", "ratio", "enabled"],
            "additionalProperties": False,
        },
        strict=False,
    )
    # still callable as a plain function
    assert describe("x", 1, 0.5, True) == "x"


def test_literal_and_enum() -> None:
    @tool
    def paint(mode: Literal["fast", "slow"], color: Color, level: Literal[1, 2, 3] = 2) -> None:
        """Paint."""

    assert paint.definition.parameters == {
        "$defs": {"Color": {"enum": ["red", "green"], "type": "string"}},
        "type": "object",
        "properties": {
            "mode": {"enum": ["fast", "slow"], "type": "string"},
            "color": {"$ref": "#/$defs/Color"},
            "level": {"enum": [1, 2, 3], "type": "integer", "default": 2},
        },
        "required": ["mode", "color"],
        "additionalProperties": False,
    }


def test_optionals_defaults_and_lists() -> None:
    @tool
    def search(
        query: str,
        *,
        limit: int = 10,
        lang: Optional[str] = None,  # noqa: UP045 - the typing spelling is part of what is tested
        region: str | None = None,
        tags: list[str] = [],  # noqa: B006
        weights: list[float] | None = None,
    ) -> None:
        """Search."""

    assert search.definition.parameters == {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer", "default": 10},
            "lang": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "region": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "weights": {"anyOf": [{"type": "array", "items": {"type": "number"}}, {"type": "null"}], "default": None},
        },
        "required": ["query"],
        "additionalProperties": False,
    }


def test_optional_without_default_is_required_and_nullable() -> None:
    @tool
    def pick(choice: Optional[int]) -> None:  # noqa: UP045
        """Pick."""

    assert pick.definition.parameters == {
        "type": "object",
        "properties": {"choice": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["choice"],
        "additionalProperties": False,
    }


def test_nested_models_go_to_defs_and_titles_are_removed_but_title_properties_survive() -> None:
    @tool
    def archive(shelf: Shelf, address: Address | None = None, title: str = "untitled") -> None:
        """Archive a shelf.

        Args:
            shelf: The shelf to archive.
            title: The archive's title.
        """

    assert archive.definition.parameters == {
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string"},
                    "zip_code": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
                },
                "required": ["street"],
            },
            "Book": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "pages": {"type": "integer", "default": 100}},
                "required": ["title"],
            },
            "Shelf": {
                "type": "object",
                "properties": {"label": {"type": "string"},
                               "books": {"type": "array", "items": {"$ref": "#/$defs/Book"}}},
                "required": ["label", "books"],
            },
        },
        "type": "object",
        "properties": {
            "shelf": {"$ref": "#/$defs/Shelf", "description": "The shelf to archive."},
            "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
            "title": {"type": "string", "default": "untitled", "description": "The archive's title."},
        },
        "required": ["shelf"],
        "additionalProperties": False,
    }
    dumped = json.dumps(archive.definition.parameters)
    assert '"title": {' in dumped  # the properties named "title" ...
    assert '"title": "' not in dumped  # ... but no generated title keyword anywhere


def test_explicit_field_title_is_removed_too() -> None:
    @tool
    def label(text: Annotated[str, Field(title="Text Title")], title: Annotated[str, Field(title="T")] = "x") -> None:
        """Label."""

    assert label.definition.parameters == {
        "type": "object",
        "properties": {"text": {"type": "string"}, "title": {"type": "string", "default": "x"}},
        "required": ["text"],
        "additionalProperties": False,
    }


def test_annotated_field_description_is_kept_when_the_docstring_has_none() -> None:
    @tool
    def count(n: Annotated[int, Field(description="How many.", ge=0)]) -> int:
        """Count."""
        return n

    assert count.definition.parameters == {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "description": "How many."}},
        "required": ["n"],
        "additionalProperties": False,
    }


def test_arguments_are_converted_to_python_types_before_the_call() -> None:
    received: dict[str, Any] = {}

    @tool
    def store(color: Color, shelf: Shelf, address: Address | None = None, limit: int = 5) -> str:
        """Store."""
        received.update(color=color, shelf=shelf, address=address, limit=limit)
        return "ok"

    result = _run_one(store, {"color": "green", "shelf": {"label": "A", "books": [{"title": "Dune"}]},
                              "address": {"street": "Main St"}})
    assert result.is_success, result.error
    assert received == {
        "color": Color.GREEN,
        "shelf": Shelf(label="A", books=[Book(title="Dune", pages=100)]),
        "address": Address(street="Main St", zip_code=None),
        "limit": 5,
    }


# --- ToolContext ----------------------------------------------------------------------------------


def test_tool_context_parameter_is_not_in_the_schema_and_is_injected() -> None:
    @tool
    def charge(amount: int, ctx: ToolContext) -> dict[str, Any]:
        """Charge a card.

        Args:
            amount: Cents to charge.
            ctx: Injected by loopline.
        """
        return {"amount": amount, "call": ctx.tool_call_id, "key": ctx.idempotency_key}

    assert charge.context_param == "ctx"
    assert charge.definition.parameters == {
        "type": "object",
        "properties": {"amount": {"type": "integer", "description": "Cents to charge."}},
        "required": ["amount"],
        "additionalProperties": False,
    }
    result = _run_one(charge, {"amount": 250}, call_id="call_42")
    assert result.result == {"amount": 250, "call": "call_42", "key": "-:call_42"}

    [with_execution] = run_calls(
        [_call("call_7", "charge", {"amount": 1})], {"charge": charge},
        lambda c: ToolContext(tool_call_id=c.id, execution_id="exec-1", thread_id="th-1"),
    )
    assert with_execution.result == {"amount": 1, "call": "call_7", "key": "exec-1:call_7"}


def test_tool_context_model_cannot_smuggle_it_in() -> None:
    @tool
    def who(ctx: ToolContext) -> str:
        """Who am I."""
        return ctx.tool_call_id

    assert who.definition.parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    result = _run_one(who, {"ctx": {"tool_call_id": "forged"}}, call_id="real")
    assert (result.is_success, result.result) == (False, None)
    assert result.error is not None
    assert result.error.startswith("invalid arguments for tool 'who': ")
    assert "ctx" in result.error
    assert _run_one(who, {}, call_id="real").result == "real"


# --- descriptions from docstrings ---------------------------------------------------------------


def test_google_docstring() -> None:
    @tool
    def transfer(source: str, target: str, amount: float = 0.0) -> None:
        """Move money between accounts.

        Only between accounts of the same owner.

        Args:
            source (str): The account to take
                the money from.
            target: The account to credit.
            amount: How much, in euros.

        Returns:
            Nothing.
        """

    assert transfer.definition == ToolDefinition(
        name="transfer",
        description="Move money between accounts.\n\nOnly between accounts of the same owner.",
        parameters={
            "type": "object",
            "properties": {
                "source": {"type": "string", "description": "The account to take the money from."},
                "target": {"type": "string", "description": "The account to credit."},
                "amount": {"type": "number", "default": 0.0, "description": "How much, in euros."},
            },
            "required": ["source", "target"],
            "additionalProperties": False,
        },
    )


def test_numpy_docstring() -> None:
    @tool
    def scale(values: list[float], factor: float) -> list[float]:
        """Scale values.

        Parameters
        ----------
        values : list of float
            The numbers to scale,
            in any order.
        factor : float
            The multiplier.

        Returns
        -------
        list of float
            The scaled values.
        """
        return [v * factor for v in values]

    assert scale.definition == ToolDefinition(
        name="scale",
        description="Scale values.",
        parameters={
            "type": "object",
            "properties": {
                "values": {"type": "array", "items": {"type": "number"},
                           "description": "The numbers to scale, in any order."},
                "factor": {"type": "number", "description": "The multiplier."},
            },
            "required": ["values", "factor"],
            "additionalProperties": False,
        },
    )


def test_sphinx_docstring() -> None:
    @tool
    def fetch(url: str, retries: int = 3) -> str:
        """Fetch a page.

        :param url: The address to fetch,
            with its scheme.
        :param int retries: How often to retry.
        :type url: str
        :returns: The body.
        :rtype: str
        """
        return url

    assert fetch.definition == ToolDefinition(
        name="fetch",
        description="Fetch a page.",
        parameters={
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "The address to fetch, with its scheme."},
                "retries": {"type": "integer", "default": 3, "description": "How often to retry."},
            },
            "required": ["url"],
            "additionalProperties": False,
        },
    )


def test_no_docstring_gives_empty_description() -> None:
    @tool
    def bare(x: int) -> int:
        return x

    assert bare.definition == ToolDefinition(
        name="bare", description="",
        parameters={"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"],
                    "additionalProperties": False},
    )


def test_name_and_description_overrides() -> None:
    @tool(name="lookup-user_v2", description="Find a user by email.")
    def find(email: str) -> str:
        """Internal docs that the model should not see.

        Args:
            email: The user's email.
        """
        return email

    assert find.name == "lookup-user_v2"
    assert find.definition == ToolDefinition(
        name="lookup-user_v2",
        description="Find a user by email.",
        parameters={
            "type": "object",
            "properties": {"email": {"type": "string", "description": "The user's email."}},
            "required": ["email"],
            "additionalProperties": False,
        },
    )


async def test_async_function_tool() -> None:
    @tool(timeout=2.5)
    async def ping(host: str) -> str:
        """Ping a host."""
        return host

    assert (ping.is_async, ping.timeout) == (True, 2.5)
    assert ping.definition.parameters == {
        "type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"],
        "additionalProperties": False,
    }
    assert await ping("h") == "h"


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
    _assert_strict_ok(archive.definition.parameters)


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
    _assert_strict_ok(params)
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
    result = _run_one(book, args)
    assert (result.is_success, result.error, result.result) == (True, None, "ok")
    # A null for a parameter whose type cannot be None means "use the default"; where None is a legal
    # value (`lang: str | None`), a null is taken at its word.
    assert received == {"title": "Dune", "copies": 2, "lang": None, "tags": ["new"], "note": None}

    received.clear()
    assert _run_one(book, {"title": "X", "copies": 5, "lang": "de", "tags": [], "note": "n"}).is_success
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
    assert _run_one(pick, {"choice": None}).is_success
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
    result = _run_one(shelve, args)
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

    result = _run_one(t, {"city": "Oslo"}, call_id="c1")
    assert result.result == {"city": "Oslo", "unit": "c", "call": "c1"}
    bad = _run_one(t, {"city": "Oslo", "unit": "k"}, call_id="c2")
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
    assert _run_one(t2, "").result == "12:00"


def test_from_spec_sends_the_parameters_exactly_as_given() -> None:
    params = {"title": "Args", "type": "object",
              "properties": {"title": {"title": "Title", "type": "string"}}, "required": ["title"]}
    original = json.loads(json.dumps(params))
    t = Tool.from_spec({"name": "rename", "parameters": params}, lambda title: title)
    assert t.definition.parameters == original
    assert params == original  # the caller's dict is not modified
    assert _run_one(t, {"title": "new"}).result == "new"


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
