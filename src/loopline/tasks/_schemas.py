"""Executors' input schemas, by executor id: filled by `loopline.executors` when an executor class is
registered in this process, and read by `Tasks.create(executor=...)` to check `inputs` before
anything is queued (it also reads the schemas live workers publish with their heartbeats, for
executors this process does not have)."""

from __future__ import annotations

from typing import Any

__all__ = ["EXECUTOR_SCHEMAS", "register_executor_schema", "registered_executor_schemas"]

EXECUTOR_SCHEMAS: dict[str, dict[str, Any]] = {}


def register_executor_schema(executor_id: str, schema: dict[str, Any]) -> None:
    EXECUTOR_SCHEMAS[executor_id] = schema


def registered_executor_schemas() -> dict[str, dict[str, Any]]:
    """The input schemas of the executors registered in this process, by id."""
    return dict(EXECUTOR_SCHEMAS)
