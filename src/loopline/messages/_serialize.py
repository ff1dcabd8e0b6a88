"""JSON round trip of messages, with a schema version so stored threads can be migrated later.

Never renders a vendor format: this is loopline's own storage shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from .._validation import describe_problems
from ..errors import StoredDataError
from ._message import Message

__all__ = [
    "SCHEMA_VERSION",
    "message_from_dict",
    "message_from_json",
    "message_to_dict",
    "message_to_json",
    "messages_from_json",
    "messages_to_json",
]

SCHEMA_VERSION = 1
"""Version of the stored message shape; bump it with a migration when the shape changes."""

_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)
_LIST_ADAPTER: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-ready dict of the message, with `schema_version`."""
    data: dict[str, Any] = _ADAPTER.dump_python(message, mode="json", exclude_none=True)
    data["schema_version"] = SCHEMA_VERSION
    return data


def message_from_dict(data: dict[str, Any]) -> Message:
    """Rebuild a message written by `message_to_dict`; a newer schema or a corrupt one raises
    `StoredDataError`."""
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int):
        raise StoredDataError(f"message schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise StoredDataError(
            f"message schema version {version} is newer than this loopline understands "
            f"({SCHEMA_VERSION}); upgrade loopline"
        )
    body = {k: v for k, v in data.items() if k != "schema_version"}
    try:
        return _ADAPTER.validate_python(body)
    except ValidationError as exc:
        problems = describe_problems(exc, root="(record)", limit=5)
        raise StoredDataError(f"stored message {data.get('id', '?')} cannot be read: {problems}") from None


def message_to_json(message: Message) -> str:
    """The message as compact JSON, without a version (stores keep `SCHEMA_VERSION` beside it)."""
    return _ADAPTER.dump_json(message, exclude_none=True).decode()


def message_from_json(text: str | bytes, schema_version: int = SCHEMA_VERSION) -> Message:
    """Inverse of `message_to_json` for a record of `schema_version`."""
    if schema_version > SCHEMA_VERSION:
        raise StoredDataError(f"message schema version {schema_version} is newer than this loopline understands "
                              f"({SCHEMA_VERSION}); upgrade loopline")
    try:
        return _ADAPTER.validate_json(text)
    except ValidationError as exc:
        problems = describe_problems(exc, root="(record)", limit=5)
        raise StoredDataError(f"a stored message cannot be read: {problems}") from None


def messages_to_json(messages: list[Message]) -> bytes:
    """Serialise many messages at once (faster than one by one)."""
    payload = {"schema_version": SCHEMA_VERSION, "messages": _LIST_ADAPTER.dump_python(messages, mode="json")}
    return TypeAdapter(dict[str, Any]).dump_json(payload)


def messages_from_json(raw: bytes | str) -> list[Message]:
    """Inverse of `messages_to_json`."""
    payload = TypeAdapter(dict[str, Any]).validate_json(raw)
    return [message_from_dict({**m, "schema_version": payload.get("schema_version", 1)}) for m in payload["messages"]]
