"""JSON round trip of executions, with a schema version, for durable stores.

A result that is a pydantic model (from an output schema) is stored as its JSON; read back, it is
plain JSON (a resumed agent may parse it again with the model it has).
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from .._validation import describe_problems
from ..errors import StoredDataError
from ._execution import Execution

__all__ = ["EXECUTION_SCHEMA_VERSION", "execution_from_json", "execution_to_json"]

EXECUTION_SCHEMA_VERSION = 1
"""Version of the stored execution shape; bump it with a migration when the shape changes."""

_ADAPTER: TypeAdapter[Execution] = TypeAdapter(Execution)
_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def execution_to_json(execution: Execution) -> str:
    """The execution as a JSON text carrying `schema_version`."""
    data: dict[str, Any] = _ADAPTER.dump_python(execution, mode="json", fallback=str)
    data["schema_version"] = EXECUTION_SCHEMA_VERSION
    return _ANY.dump_json(data).decode()


def execution_from_json(text: str | bytes) -> Execution:
    """Inverse of `execution_to_json`; a newer or corrupt record raises `StoredDataError`."""
    try:
        data = _ANY.validate_json(text)
    except ValidationError as exc:
        raise StoredDataError(f"a stored execution is not JSON: {exc.errors()[0]['msg']}") from None
    version = data.pop("schema_version", EXECUTION_SCHEMA_VERSION) if isinstance(data, dict) else None
    if not isinstance(version, int) or version > EXECUTION_SCHEMA_VERSION:
        raise StoredDataError(f"stored execution schema version {version!r} is not one this loopline reads "
                              f"(up to {EXECUTION_SCHEMA_VERSION}); upgrade loopline")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = describe_problems(exc, root="(record)", limit=5)
        raise StoredDataError(f"stored execution {data.get('id', '?')} cannot be read: {problems}") from None
