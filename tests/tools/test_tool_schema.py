"""Tool definitions: JSON Schemas from type hints and docstrings, and ToolContext parameters."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional

from pydantic import Field

from loopline import Tool, ToolContext, ToolDefinition, tool
from loopline.tools import run_calls
from tool_helpers import Address, Book, Color, Shelf, call_of, run_one

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

    result = run_one(store, {"color": "green", "shelf": {"label": "A", "books": [{"title": "Dune"}]},
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
    result = run_one(charge, {"amount": 250}, call_id="call_42")
    assert result.result == {"amount": 250, "call": "call_42", "key": "-:call_42"}

    [with_execution] = run_calls(
        [call_of("call_7", "charge", {"amount": 1})], {"charge": charge},
        lambda c: ToolContext(tool_call_id=c.id, execution_id="exec-1", thread_id="th-1"),
    )
    assert with_execution.result == {"amount": 1, "call": "call_7", "key": "exec-1:call_7"}


def test_tool_context_model_cannot_smuggle_it_in() -> None:
    @tool
    def who(ctx: ToolContext) -> str:
        """Who am I."""
        return ctx.tool_call_id

    assert who.definition.parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    result = run_one(who, {"ctx": {"tool_call_id": "forged"}}, call_id="real")
    assert (result.is_success, result.result) == (False, None)
    assert result.error is not None
    assert result.error.startswith("invalid arguments for tool 'who': ")
    assert "ctx" in result.error
    assert run_one(who, {}, call_id="real").result == "real"


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
