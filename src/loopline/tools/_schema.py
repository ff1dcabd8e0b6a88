"""JSON Schemas for tools: from Python signatures and docstrings, cleaned, and made strict.

Schemas are built once, when a tool is defined, never per call.
"""

from __future__ import annotations

import copy
import inspect
import re
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from ..errors import ToolDefinitionError

__all__ = [
    "ArgsModel",
    "TOOL_NAME_PATTERN",
    "check_tool_name",
    "clean_schema",
    "drop_strict_nulls",
    "model_for_function",
    "parse_docstring",
    "strict_schema",
]

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
"""Names every supported provider accepts: OpenAI and Anthropic allow `[A-Za-z0-9_-]{1,64}`, and
Gemini also wants a letter or underscore first."""

_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns|Return|"
                      r"Yields|Raises|Examples?|Notes?|Attributes|See Also|Warnings?)\s*:?\s*$")
_GOOGLE_PARAM = re.compile(r"^\s*\*{0,2}(\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_PARAM_SECTIONS = {"Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"}


def check_tool_name(name: str) -> str:
    """Return `name` when every provider accepts it as a tool name; raise `ToolDefinitionError` if not."""
    if not TOOL_NAME_PATTERN.match(name):
        raise ToolDefinitionError(
            f"tool name {name!r} is not accepted by every provider: use 1-64 characters from "
            "letters, digits, '_' and '-', starting with a letter or '_'",
            tool_name=name,
        )
    return name


@dataclass(frozen=True, slots=True)
class Docstring:
    """What a docstring says: a description and one line (or more) per parameter."""

    description: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> Docstring:
    """Read Google-style (`Args:`), NumPy-style (`Parameters` + dashes) and Sphinx (`:param x:`) docs."""
    if not doc:
        return Docstring("", {})
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    base_indent: int | None = None
    numpy_style = False
    for index, line in enumerate(lines):
        if _is_numpy_underline(line, index, lines):
            continue
        header = _section_header(line, index, lines)
        if header is not None:
            section, current, base_indent = header, None, None
            numpy_style = index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}
            continue
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            section, current = "sphinx", sphinx.group(1)
            params[current] = sphinx.group(2)
            base_indent = _indent(line)
        elif section is None:
            description.append(line)
        elif (section in _PARAM_SECTIONS or section == "sphinx") and line.strip():
            if base_indent is None:
                base_indent = _indent(line)
            current = _add_param_line(line, params, current, continuation=_indent(line) > base_indent)
            if numpy_style and current is not None and _indent(line) == base_indent:
                params[current] = ""  # NumPy puts the type after the colon, the description below
    return Docstring("\n".join(description).strip(), {k: " ".join(v.split()) for k, v in params.items()})


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_numpy_underline(line: str, index: int, lines: list[str]) -> bool:
    return index > 0 and set(line.strip()) == {"-"} and bool(lines[index - 1].strip())


def _section_header(line: str, index: int, lines: list[str]) -> str | None:
    match = _SECTION.match(line)
    if not match:
        return None
    numpy_style = index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}
    if line.rstrip().endswith(":") or numpy_style:
        return match.group(1)
    return None


def _add_param_line(line: str, params: dict[str, str], current: str | None, *, continuation: bool) -> str | None:
    if continuation:
        if current is not None:
            params[current] += " " + line.strip()
        return current
    google = _GOOGLE_PARAM.match(line)
    if google:
        params[google.group(1)] = google.group(3)
        return google.group(1)
    numpy = re.match(r"^\s*(\w+)\s*(:.*)?$", line)
    if numpy:
        params[numpy.group(1)] = ""
        return numpy.group(1)
    return current


class ArgsModel(BaseModel):
    """Base of the argument models built from function signatures: unknown arguments are rejected."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)


def model_for_function(
    fn: Any, *, name: str, skip: frozenset[str] = frozenset()
) -> tuple[type[ArgsModel], str, dict[str, Any]]:
    """Build the pydantic model of `fn`'s arguments, its description and its cleaned JSON Schema.

    Parameters named in `skip` (injected context) stay out of the model.
    """
    doc = parse_docstring(inspect.getdoc(fn))
    try:
        hints = get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot resolve type hints ({exc})", tool_name=name) from exc
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(fn).parameters.items():
        if pname in skip:
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {name!r}: *args and **kwargs cannot be described to a model; name each parameter",
                tool_name=name,
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"tool {name!r}: positional-only parameter {pname!r} is not supported",
                                      tool_name=name)
        annotation = hints.get(pname, Any)
        default = ... if param.default is param.empty else param.default
        described = doc.params.get(pname)  # leave an Annotated Field's own description alone when absent
        fields[pname] = (annotation, Field(default, description=described) if described else Field(default))
    try:
        model = create_model(f"{name}_arguments", __base__=ArgsModel, **fields)
        schema = model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot build a JSON Schema from its signature: {exc}",
                                  tool_name=name) from exc
    return model, doc.description, clean_schema(schema)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated `title`s (noise the model pays tokens for); keep everything else."""
    cleaned = copy.deepcopy(schema)
    _clean_node(cleaned)
    return cleaned


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")


def _clean_node(node: Any) -> None:
    """Remove `title` from this schema and every subschema; values (`default`, `enum`, `examples`) are left alone."""
    if not isinstance(node, dict):
        return
    node.pop("title", None)
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            for sub in node[key].values():
                _clean_node(sub)
    for key in _SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            for sub in node[key]:
                _clean_node(sub)
    for key in _SCHEMA_VALUES:
        _clean_node(node.get(key))


def strict_schema(schema: dict[str, Any], *, tool_name: str) -> dict[str, Any]:
    """Rewrite a schema into the subset OpenAI's strict mode accepts.

    Every object gets `additionalProperties: false` and lists all its properties as required; a
    property that was optional becomes nullable, and loopline turns a `null` for it back into "use
    the default" before calling the tool. Defaults are dropped (strict mode rejects them). Free-form
    objects (`dict[str, X]`) cannot be expressed and raise `ToolDefinitionError`.
    """
    root = copy.deepcopy(schema)
    _strict_node(root, tool_name=tool_name, path="$")
    return root


def _strict_node(node: Any, *, tool_name: str, path: str) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _strict_node(item, tool_name=tool_name, path=f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    node.pop("default", None)
    for key in ("$defs", "definitions"):
        for def_name, sub in node.get(key, {}).items():
            _strict_node(sub, tool_name=tool_name, path=f"{path}.{key}.{def_name}")
    if node.get("type") == "object" or "properties" in node:
        _strict_object(node, tool_name=tool_name, path=path)
    for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            _strict_node(node[key], tool_name=tool_name, path=f"{path}.{key}")


def _strict_object(node: dict[str, Any], *, tool_name: str, path: str) -> None:
    extra = node.get("additionalProperties")
    if extra not in (None, False):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: strict mode cannot express the free-form object at {path} "
            "(dict[str, ...]); use a pydantic model with named fields, or strict=False",
            tool_name=tool_name,
        )
    properties: dict[str, Any] = node.setdefault("properties", {})
    required = set(node.get("required", []))
    for name, sub in list(properties.items()):
        _strict_node(sub, tool_name=tool_name, path=f"{path}.{name}")
        if name not in required and not _accepts_null(sub):
            properties[name] = _nullable(sub)
    node["required"] = list(properties)
    node["additionalProperties"] = False


def _accepts_null(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_null(v) for v in node.get("anyOf", []) if isinstance(v, dict))


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    description = node.get("description")
    inner = {k: v for k, v in node.items() if k != "description"}
    result: dict[str, Any] = {"anyOf": [inner, {"type": "null"}]}
    if description:
        result["description"] = description
    return result


def drop_strict_nulls(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """Undo what strict mode added: remove `null`s given for properties that were optional.

    Strict mode makes every optional property required but nullable; a `null` there means "not
    given", so the tool's (or nested model's) default applies. `schema` is the loose, non-strict
    schema the strict one was made from; properties that accepted `null` before keep it.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        required = set(schema.get("required", []))
        props = schema["properties"]
        return {k: drop_strict_nulls(v, props[k], root) if k in props else v for k, v in value.items()
                if not (v is None and k in props and k not in required and not _accepts_null(_resolve(props[k], root)))}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [drop_strict_nulls(v, schema["items"], root) for v in value]
    if value is not None and isinstance(schema.get("anyOf"), list):
        branch = next((b for b in (_resolve(b, root) for b in schema["anyOf"] if isinstance(b, dict))
                       if _matches_container(value, b)), None)
        return drop_strict_nulls(value, branch, root) if branch is not None else value
    return value


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for key in ref[2:].split("/"):
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else schema


def _matches_container(value: Any, schema: dict[str, Any]) -> bool:
    if isinstance(value, dict):
        return schema.get("type") == "object" or "properties" in schema
    if isinstance(value, list):
        return schema.get("type") == "array" or "items" in schema
    return False
