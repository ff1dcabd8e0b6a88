"""The checks of what `Tasks` is given, before anything is written, and the live workers it asks about."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import Any

import jsonschema

from ..errors import InvalidInputError, UnknownExecutorError
from ..store import TaskTable
from ._schemas import EXECUTOR_SCHEMAS

__all__ = ["check_executor_inputs", "check_id", "check_schema", "checked_urls", "error_of", "live_workers"]


def live_workers(table: TaskTable, agent_id: str | None = None, *, lease: float | None = None) -> list[dict[str, Any]]:
    """Workers whose heartbeat is fresh, serving `agent_id` (or any agent) when given."""
    now = time.time()
    found = []
    for row in table.workers():
        if now - row.heartbeat_at > (lease or float(row.data.get("lease", 10.0))):
            continue
        agents = row.data.get("agents")
        if agent_id is None or agents is None or agent_id in agents:
            found.append({"id": row.id, **row.data, "heartbeat_at": row.heartbeat_at})
    return found


def check_executor_inputs(table: TaskTable, executor: str, inputs: Any) -> None:
    """`inputs` against the executor's input schema (registered here, or published by a live worker)."""
    schema = EXECUTOR_SCHEMAS.get(executor)
    if schema is None:
        published = {k: v for w in live_workers(table) for k, v in (w.get("executors") or {}).items()}
        schema = published.get(executor)
        if schema is None:
            raise UnknownExecutorError(executor, sorted({*EXECUTOR_SCHEMAS, *published}))
    if not isinstance(inputs, dict):
        raise InvalidInputError(f"inputs of executor {executor!r} take a JSON object, got {type(inputs).__name__}",
                                field="inputs")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(inputs))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        field = f"inputs.{where}" if where else "inputs"
        raise InvalidInputError(f"{field} of executor {executor!r}: {error.message}", field=field)


def check_id(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or any(c.isspace() for c in value):
        raise InvalidInputError(f"{name} takes an id (1 to 200 characters, no spaces), got {value!r}", field=name)


def checked_urls(urls: Sequence[str]) -> list[str]:
    if isinstance(urls, str):
        raise InvalidInputError("file_urls takes a list of URLs, not one string", field="file_urls")
    out = []
    for i, url in enumerate(urls):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"file_urls[{i}] is not an http(s) URL: {url!r}", field=f"file_urls[{i}]")
        out.append(url)
    return out


def check_schema(schema: Any) -> None:
    if schema is None:
        return
    if not isinstance(schema, dict):
        raise InvalidInputError(f"output_schema takes a JSON Schema object, got {type(schema).__name__}",
                                field="output_schema")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInputError(f"output_schema is not a valid JSON Schema: {exc.message}",
                                field="output_schema") from None


def error_of(exc: BaseException, *, code: str) -> dict[str, Any]:
    """A task's `error`: the exception's type and message, a code, and the traceback."""
    return {"type": type(exc).__name__, "message": str(exc), "code": code,
            "traceback": "".join(traceback.format_exception(exc))}

