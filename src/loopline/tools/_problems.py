"""Why a finish result does not match its output schema, told so that a model can fix it.

A small model that gets "Input should be a valid dictionary or instance of Report" back does not know
what to send instead. Each problem here names the field, what the schema expects there (read from the
JSON Schema, for pydantic models and JSON Schemas alike) and what was given; when the whole result is
wrong, the message shows the shape the result must have.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
from pydantic import ValidationError

from ._schema import _resolve

__all__ = ["Problem", "from_jsonschema", "from_pydantic", "mismatch_message"]

_MAX_PROBLEMS = 8
_MAX_GIVEN = 80
_MAX_DEPTH = 2
_TYPE_ERRORS = {"type", "model_type", "dict_type", "model_attributes_type"}
"""Error kinds that mean "this is the wrong kind of value" (pydantic's end in `_type` or `_parsing` too)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One field that is wrong: where, how (`missing`, `type`, `extra` or another check), and the message."""

    path: tuple[str | int, ...]
    kind: str
    message: str
    given: Any = None


def from_pydantic(exc: ValidationError) -> list[Problem]:
    """The problems pydantic found, in its order."""
    problems = []
    for e in exc.errors(include_url=False):
        kind = e["type"]
        if kind.endswith(("_type", "_parsing")):
            kind = "type"
        elif kind == "extra_forbidden":
            kind = "extra"
        problems.append(Problem(tuple(e["loc"]), kind, e["msg"], e.get("input")))
    return problems


def from_jsonschema(errors: Iterable[jsonschema.ValidationError]) -> list[Problem]:
    """The problems jsonschema found; a `required` failure becomes one `missing` problem per field."""
    problems = []
    for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = tuple(e.absolute_path)
        if e.validator == "required" and isinstance(e.instance, Mapping) and isinstance(e.validator_value, list):
            problems += [Problem((*path, name), "missing", "missing") for name in e.validator_value
                         if name not in e.instance]
        else:
            kind = "type" if e.validator == "type" else str(e.validator)
            problems.append(Problem(path, kind, e.message, e.instance))
    return problems


def mismatch_message(problems: Sequence[Problem], schema: dict[str, Any], *, name: str | None = None) -> str:
    """One paragraph: each problem with the field, what is expected there and what was given; then the
    shape the result must have."""
    label = f"the output schema {name}" if name else "the output schema"
    lines = [_line(p, schema) for p in problems[:_MAX_PROBLEMS]]
    if len(problems) > _MAX_PROBLEMS:
        lines.append(f"and {len(problems) - _MAX_PROBLEMS} more")
    whole = any(not p.path for p in problems)  # then the first line already shows the whole shape
    return (f"result does not match {label}: " + "; ".join(lines)
            + ("." if whole else f". The result must be {_shape(schema, schema)}."))


def _line(problem: Problem, root: dict[str, Any]) -> str:
    where = _field(problem.path)
    expected = _shape(_at(root, problem.path), root)
    if problem.kind == "missing":
        return f"{where} is missing (expected {expected})"
    if problem.kind == "extra":
        return f"{where} is not a field of the result"
    if problem.kind in _TYPE_ERRORS:
        return f"{where} should be {expected}, got {_given(problem.given)}"
    return f"{where}: {problem.message} (expected {expected}, got {_given(problem.given)})"


def _field(path: Sequence[str | int]) -> str:
    if not path:
        return "`result`"
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f"field `{text}`"


def _given(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except ValueError:
        text = repr(value)
    if len(text) > _MAX_GIVEN:
        text = text[: _MAX_GIVEN - 3] + "..."
    return f"{text} ({_json_type(value)})"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (Mapping, "object"), (list, "array"), (tuple, "array")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _shape(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> str:
    """What a (sub)schema accepts, briefly: `string`, `array of number`, `object {city: string, ...}`."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_shape(s, root, depth) for s in schema[key])
    if len(schema.get("allOf", ())) == 1:
        return _shape(schema["allOf"][0], root, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(map(str, kind))
    if kind == "array" or "items" in schema:
        items = schema.get("items")
        return f"array of {_shape(items, root, depth + 1)}" if isinstance(items, dict) else "array"
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        if depth >= _MAX_DEPTH:
            return "object"
        required = set(schema.get("required", ()))
        fields = ", ".join(f"{name}{'' if name in required else ' (optional)'}: {_shape(sub, root, depth + 1)}"
                           for name, sub in properties.items())
        return f"object {{{fields}}}"
    return str(kind) if kind else "any value"


def _at(schema: dict[str, Any], path: Sequence[str | int]) -> dict[str, Any]:
    """The subschema at `path` (the first alternative of an `anyOf` that has it), or `{}`."""
    root = schema
    for step in path:
        schema = _resolve(schema, root)
        options = [schema, *schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())]
        found: dict[str, Any] | None = None
        for option in (_resolve(o, root) for o in options):
            if isinstance(step, int) and isinstance(option.get("items"), dict):
                found = option["items"]
            elif isinstance(step, str) and step in (option.get("properties") or {}):
                found = option["properties"][step]
            if found is not None:
                break
        if found is None:
            return {}
        schema = found
    return schema
