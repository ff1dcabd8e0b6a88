"""Tools: a definition the model sees plus the callable loopline runs, built once and reused.

A tool comes from a Python function (`@tool`, schema from type hints and docstring) or from an
OpenAI-style function spec plus a callable. Validation state (a compiled JSON Schema validator and,
for functions, a pydantic argument model) is prepared here so that running a call is cheap.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_type_hints, overload

import jsonschema
from pydantic import BaseModel, ValidationError

from .._validation import describe_problems
from ..errors import ToolDefinitionError
from ._call import ToolContext
from ._schema import check_tool_name, drop_strict_nulls, model_for_function, strict_schema

__all__ = ["Tool", "ToolDefinition", "ToolLike", "as_tool", "tool"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDefinition:
    """What a model is told about a tool; provider adapters render it into their own format."""

    name: str
    """The name the model calls the tool by."""
    description: str
    """What the tool does, for the model."""
    parameters: dict[str, Any]
    """JSON Schema of the arguments object (for `custom` tools, unused)."""
    strict: bool = False
    """Ask the provider to enforce the schema exactly (OpenAI strict mode)."""
    tool_type: Literal["function", "custom"] = "function"
    """`function` for JSON arguments; `custom` for a free-form text input."""
    provider_details: dict[str, Any] | None = None
    """Provider-specific extras (for example a custom tool's grammar)."""


@dataclass(eq=False, kw_only=True)
class Tool:
    """A tool loopline can offer and run. Make one with `@tool` or `Tool.from_spec`."""

    definition: ToolDefinition
    """What the model sees."""
    function: Callable[..., Any] = field(repr=False)
    """The callable that does the work (sync or async)."""
    timeout: float | None = None
    """Seconds a call may take before it becomes an error result; `None` for no limit."""
    requires_approval: bool = False
    """A person must approve each call before it runs (the execution is PAUSED until then)."""
    idempotent: bool = False
    """Running a call twice has the same effect as once, so `Agent.resume` may run again a call that
    was started but never returned (otherwise it asks first)."""
    is_async: bool = False
    """Whether `function` is a coroutine function (then it is awaited)."""
    args_model: type[BaseModel] | None = field(default=None, repr=False)
    """For function tools: the pydantic model that converts validated arguments to Python values."""
    context_param: str | None = None
    """The parameter that receives a `ToolContext`, when the function declares one."""
    loose_parameters: dict[str, Any] | None = field(default=None, repr=False)
    """For strict tools made from functions: the schema before strict mode, to read its `null`s back."""
    _validator: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_tool_name(self.definition.name)
        if self.definition.tool_type == "function" and self.args_model is None:
            try:
                cls = jsonschema.validators.validator_for(self.definition.parameters)
                cls.check_schema(self.definition.parameters)
            except jsonschema.SchemaError as exc:
                raise ToolDefinitionError(
                    f"tool {self.name!r}: its parameters are not a valid JSON Schema: {exc.message}",
                    tool_name=self.name,
                ) from exc
            self._validator = cls(self.definition.parameters)

    @property
    def name(self) -> str:
        """The tool's name."""
        return self.definition.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly, as if it were not a tool."""
        return self.function(*args, **kwargs)

    def validation_errors(self, arguments: Mapping[str, Any]) -> list[str]:
        """Why `arguments` fail the JSON Schema, one line per problem; empty when they pass.

        Tools made from functions are validated by their pydantic argument model in `bind` instead
        (one pass that validates and converts); this covers tools made from a spec.
        """
        if self._validator is None or self.args_model is not None:
            return []
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        return [f"{_path(e.absolute_path)}: {e.message}" for e in errors[:8]]

    def bind(self, arguments: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        """Keyword arguments for `function`: converted by the args model, context injected.

        Raises `ValueError` with a model-readable message when conversion fails.
        """
        args = dict(arguments)
        if self.loose_parameters is not None:
            args = drop_strict_nulls(args, self.loose_parameters)
        if self.args_model is not None:
            try:
                parsed = self.args_model.model_validate(args)
            except ValidationError as exc:
                raise ValueError(describe_problems(exc, root="(arguments)")) from None
            args = {name: getattr(parsed, name) for name in parsed.model_fields_set}
        if self.context_param is not None:
            args[self.context_param] = context
        return args

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        timeout: float | None = None,
        idempotent: bool = False,
        requires_approval: bool = False,
    ) -> Tool:
        """Build a tool from a function; see `tool` for what is read from it."""
        tool_name = check_tool_name(name if name is not None else str(getattr(fn, "__name__", "")))
        context_param = _context_param(fn, tool_name)
        skip = frozenset({context_param} if context_param else ())
        model, doc, schema = model_for_function(fn, name=tool_name, skip=skip)
        loose = schema
        if strict:
            schema = strict_schema(schema, tool_name=tool_name)
        definition = ToolDefinition(name=tool_name, description=description or doc, parameters=schema,
                                    strict=strict)
        return cls(definition=definition, function=fn, timeout=timeout, idempotent=idempotent,
                   requires_approval=requires_approval, is_async=_is_async(fn),
                   args_model=model, context_param=context_param,
                   loose_parameters=loose if strict else None)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], function: Callable[..., Any], *,
                  timeout: float | None = None, idempotent: bool = False) -> Tool:
        """Build a tool from an OpenAI-style spec, sent to the model exactly as given.

        Takes a function spec (`{"type": "function", "function": {...}}` or the bare inner object) or a
        custom tool spec (`{"type": "custom", "custom": {"name": ..., "format": ...}}`, whose callable
        receives the model's free-form text as `input`).
        """
        if not isinstance(spec, Mapping):
            raise ToolDefinitionError(f"expected an OpenAI-style tool spec (a dict), got {type(spec).__name__}")
        kind = spec.get("type", "function")
        body = spec.get(kind, spec) if kind in ("function", "custom") else None
        if not isinstance(body, Mapping) or "name" not in body:
            raise ToolDefinitionError(
                "expected an OpenAI-style tool spec such as "
                "{'type': 'function', 'function': {'name': ..., 'parameters': {...}}}"
            )
        name = check_tool_name(str(body["name"]))
        if kind == "custom":
            definition = ToolDefinition(name=name, description=str(body.get("description") or ""), parameters={},
                                        tool_type="custom",
                                        provider_details={"format": body["format"]} if "format" in body else None)
        else:
            definition = ToolDefinition(name=name, description=str(body.get("description") or ""),
                                        parameters=dict(body.get("parameters") or {"type": "object", "properties": {}}),
                                        strict=bool(body.get("strict", False)))
        return cls(definition=definition, function=function, timeout=timeout, idempotent=idempotent,
                   is_async=_is_async(function), context_param=_context_param(function, name))


    @classmethod
    def from_executor(cls, executor: Any, *, timeout: float | None = None, idempotent: bool = False,
                      requires_approval: bool = False) -> Tool:
        """A tool that runs an executor (a `loopline.executors.ExecutableTask` class or instance: `id`,
        `description`, `get_input_schema()`, `async execute(inputs)`), a fresh instance per call when given
        a class. Its input schema is the tool's parameters; a `{"status": "failed", ...}` result is an
        error result."""
        make: Callable[[], Any] = executor if isinstance(executor, type) else (lambda: executor)
        sample = make()
        name = check_tool_name(str(getattr(sample, "id", "") or ""))
        schema = dict(sample.get_input_schema())
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})

        async def run(**inputs: Any) -> str:
            result = await make().execute(inputs)
            if isinstance(result, dict) and result.get("status") == "failed":
                raise RuntimeError(str(result.get("error") or "the executor failed"))
            return result if isinstance(result, str) else json.dumps(result, default=str)

        definition = ToolDefinition(name=name, description=str(getattr(sample, "description", "") or ""),
                                    parameters=schema)
        return cls(definition=definition, function=run, timeout=timeout, idempotent=idempotent,
                   requires_approval=requires_approval, is_async=True)


def _is_executor(item: Any) -> bool:
    """An executor class (or instance): `execute` and `get_input_schema`, as `ExecutableTask` has."""
    return callable(getattr(item, "get_input_schema", None)) and inspect.iscoroutinefunction(
        getattr(item, "execute", None))


ToolLike = Tool | Callable[..., Any]
"""What `Agent(tools=[...])` accepts: a `Tool`, or a plain function (made into one as by `@tool`)."""


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, strict: bool = False,
    timeout: float | None = None, idempotent: bool = False, requires_approval: bool = False,
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    timeout: float | None = None,
    idempotent: bool = False,
    requires_approval: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function (sync or async) into a tool.

    The JSON Schema comes from the type hints (anything pydantic understands: `Literal`, enums,
    optionals, defaults, lists, nested pydantic models); the description and per-parameter
    descriptions come from the docstring (Google, NumPy or Sphinx style). A parameter annotated
    `ToolContext` receives the call's context instead of a model argument.

    Args:
        fn: The function, when used as a bare `@tool`.
        name: The tool's name; the function's name by default.
        description: Overrides the docstring's description.
        strict: Produce a schema OpenAI's strict mode accepts and ask for strict mode.
        timeout: Seconds a call may run before it becomes an error result.
        idempotent: Calls may safely run twice (`Agent.resume` then runs an interrupted call again
            instead of asking).
        requires_approval: Each call waits for `Agent.approve` (or `reject`); the execution is
            PAUSED meanwhile.
    """
    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool.from_function(f, name=name, description=description, strict=strict, timeout=timeout,
                                  idempotent=idempotent, requires_approval=requires_approval)

    return wrap(fn) if fn is not None else wrap


def as_tool(item: ToolLike) -> Tool:
    """A `Tool` for anything `Agent(tools=...)` accepts."""
    if isinstance(item, Tool):
        return item
    if _is_executor(item):
        return Tool.from_executor(item)
    if callable(item):
        return Tool.from_function(item)
    raise ToolDefinitionError(f"expected a Tool or a function, got {type(item).__name__}")


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def _context_param(fn: Callable[..., Any], tool_name: str) -> str | None:
    try:
        hints = get_type_hints(fn)
    except (NameError, TypeError):
        return None
    names = [p for p, hint in hints.items() if p != "return" and _is_context(hint)]
    if len(names) > 1:
        raise ToolDefinitionError(f"tool {tool_name!r}: more than one ToolContext parameter", tool_name=tool_name)
    return names[0] if names else None


def _is_context(hint: Any) -> bool:
    """`ToolContext`, or an optional one (`ToolContext | None`)."""
    return hint is ToolContext or ToolContext in get_args(hint)


def _path(path: Any) -> str:
    parts = [str(p) for p in path]
    return "/".join(parts) if parts else "(arguments)"

