"""`ExecutableTask` and `@executor_register()`: work that is not a model conversation, with an id, a
name, a description, an input JSON Schema and an async `execute(inputs)`, run by workers as tasks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

import jsonschema

from ..errors import ExecutorDefinitionError, UnknownExecutorError
from ..tasks import register_executor_schema

__all__ = ["ENTRY_POINT_GROUP", "ExecutableTask", "describe", "executor_register", "get_executor",
           "load_entry_points", "registered_executors"]

ENTRY_POINT_GROUP = "loopline.executors"
"""Installed packages offer executors under this entry-point group (each entry an `ExecutableTask` class)."""

_E = TypeVar("_E", bound=type)
_REGISTRY: dict[str, type[ExecutableTask]] = {}


class ExecutableTask:
    """Subclass it: set `id`, `name` and `description` (class attributes or properties), write
    `async def execute(self, inputs: dict) -> dict`, and `get_input_schema()` for the inputs it takes
    (anything, by default). `cancel()` is called when its task is cancelled while it runs.

    `execute` returns the result (a JSON object); `{"status": "failed", "error": "..."}` (or raising)
    ends the task FAILED with that error. A fresh instance runs each task.
    """

    id: str = ""
    name: str = ""
    description: str = ""
    memory: Any = None
    """The task's memory (`get`/`set`/`delete`/`list`), set by the worker before `execute`: the task's own
    with `TaskConfig(memory_scope="session")` (the default; cleared when the task ends), the executor's
    with `"permanent"`. None in an isolated executor's child process (its database connections stay
    with the worker)."""
    isolated: bool = False
    """Run each task of this executor in a child process of the worker (always so when the task sets
    `TaskConfig.max_memory_mb`, which only a child process can bound)."""

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def get_input_schema(self) -> dict[str, Any]:
        return {"type": "object"}

    async def cancel(self) -> None:
        """Stop what `execute` started (close connections, kill processes); the default does nothing."""


def describe(executor: type[ExecutableTask] | ExecutableTask) -> dict[str, Any]:
    """`id`, `name`, `description` and `input_schema` of an executor (class or instance)."""
    instance = executor() if isinstance(executor, type) else executor
    return {"id": instance.id, "name": instance.name or instance.id, "description": instance.description,
            "input_schema": instance.get_input_schema()}


def executor_register(*, replace: bool = False) -> Callable[[_E], _E]:
    """Register an `ExecutableTask` subclass so workers run it and `Tasks.create(executor=...)` finds it.

    Refused (`ExecutorDefinitionError`, naming the executor): not a subclass, no id, an id already
    registered by another class (unless `replace`), `execute` not overridden or not `async`, an input
    schema that is not valid JSON Schema.
    """

    def register(cls: _E) -> _E:
        _register(cls, replace=replace)
        return cls

    return register


def _register(cls: Any, *, replace: bool) -> None:
    label = getattr(cls, "__qualname__", repr(cls))
    if not (isinstance(cls, type) and issubclass(cls, ExecutableTask)):
        raise ExecutorDefinitionError(f"{label} is not an ExecutableTask subclass", executor=label)
    try:
        info = describe(cls)
    except Exception as exc:
        raise ExecutorDefinitionError(f"executor {label} cannot be made or described: {type(exc).__name__}: {exc}",
                                      executor=label) from exc
    executor_id = info["id"]
    if not isinstance(executor_id, str) or not executor_id.strip() or any(c.isspace() for c in executor_id):
        raise ExecutorDefinitionError(f"executor {label} needs an id (text without spaces), got {executor_id!r}",
                                      executor=label)
    if cls.execute is ExecutableTask.execute:
        raise ExecutorDefinitionError(f"executor {executor_id!r} ({label}) has no execute(self, inputs) method",
                                      executor=executor_id)
    if not inspect.iscoroutinefunction(cls.execute):
        raise ExecutorDefinitionError(f"executor {executor_id!r}: execute must be `async def`", executor=executor_id)
    schema = info["input_schema"]
    if not isinstance(schema, dict):
        raise ExecutorDefinitionError(f"executor {executor_id!r}: get_input_schema() must return a JSON Schema "
                                      f"object, got {type(schema).__name__}", executor=executor_id)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ExecutorDefinitionError(f"executor {executor_id!r}: its input schema is not valid JSON Schema: "
                                      f"{exc.message}", executor=executor_id) from None
    known = _REGISTRY.get(executor_id)
    if known is not None and known is not cls and not replace and _where(known) != _where(cls):
        raise ExecutorDefinitionError(f"executor id {executor_id!r} is already registered by {_where(known)}; "
                                      f"{_where(cls)} cannot take it", executor=executor_id)
    _REGISTRY[executor_id] = cls
    register_executor_schema(executor_id, schema)


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def get_executor(executor_id: str) -> type[ExecutableTask]:
    """The class registered under this id (`UnknownExecutorError` if none)."""
    found = _REGISTRY.get(executor_id)
    if found is None:
        raise UnknownExecutorError(executor_id, sorted(_REGISTRY))
    return found


def registered_executors() -> dict[str, type[ExecutableTask]]:
    """Every executor registered in this process, by id."""
    return dict(_REGISTRY)


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Register the executors installed packages declare under `group`; returns their ids."""
    loaded = []
    for entry in entry_points(group=group):
        cls = entry.load()
        _register(cls, replace=False)
        loaded.append(describe(cls)["id"])
    return loaded
