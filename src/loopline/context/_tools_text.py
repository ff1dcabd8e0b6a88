"""Tool definitions written out as text, the way a model reads them, so their tokens can be counted.

OpenAI's models see function tools as TypeScript-like declarations in a `functions` namespace (the
JSON schema is not shown verbatim); counting the JSON instead would double the estimate. Other
providers' models read the schema as JSON. Only token counting uses this text; it is never sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..tools import ToolDefinition

__all__ = ["tools_as_json", "tools_as_typescript"]

_SIMPLE = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean", "null": "null"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tools_as_json(tools: Sequence[ToolDefinition]) -> str:
    """Each tool's name, description and parameter schema as compact JSON, one a line."""
    lines = []
    for tool in tools:
        spec: dict[str, Any] = {"name": tool.name, "description": tool.description}
        spec["parameters" if tool.tool_type == "function" else "format"] = (
            tool.parameters if tool.tool_type == "function" else (tool.provider_details or {}).get("format"))
        lines.append(_dumps(spec))
    return "\n".join(lines)


def tools_as_typescript(tools: Sequence[ToolDefinition]) -> str:
    """The tools as TypeScript-like declarations in a `functions` namespace."""
    body = "".join(_declaration(tool) for tool in tools)
    return f"namespace functions {{\n\n{body}}} // namespace functions"


def _declaration(tool: ToolDefinition) -> str:
    comment = _comment(tool.description, "")
    if tool.tool_type == "custom":
        fmt = (tool.provider_details or {}).get("format")
        grammar = f"// format: {_dumps(fmt)}\n" if fmt is not None else ""
        return f"{comment}{grammar}type {tool.name} = (_: string) => any;\n\n"
    if not tool.parameters.get("properties"):
        return f"{comment}type {tool.name} = () => any;\n\n"
    return f"{comment}type {tool.name} = (_: {_object(tool.parameters, '')}) => any;\n\n"


def _comment(text: object, indent: str) -> str:
    if not isinstance(text, str) or not text.strip():
        return ""
    return "".join(f"{indent}// {line}\n" for line in text.strip().splitlines())


def _object(schema: dict[str, Any], indent: str) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return "object"
    required = set(schema.get("required") or ())
    inner = indent + "  "
    lines = ["{"]
    for name, value in properties.items():
        sub = value if isinstance(value, dict) else {}
        lines.append(_comment(sub.get("description"), inner).rstrip("\n"))
        optional = "" if name in required else "?"
        lines.append(f"{inner}{name}{optional}: {_type(sub, inner)},")
    lines.append(f"{indent}}}")
    return "\n".join(line for line in lines if line)


def _type(schema: dict[str, Any], indent: str) -> str:
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(_dumps(v) for v in schema["enum"]) or "never"
    if "const" in schema:
        return _dumps(schema["const"])
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            joiner = " & " if key == "allOf" else " | "
            return joiner.join(_type(o if isinstance(o, dict) else {}, indent) for o in options)
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_type({**schema, "type": k}, indent) for k in kind) or "any"
    if kind == "array":
        items = schema.get("items")
        return f"{_type(items if isinstance(items, dict) else {}, indent)}[]"
    if kind == "object":
        return _object(schema, indent)
    return _SIMPLE.get(kind, "any") if isinstance(kind, str) else "any"
