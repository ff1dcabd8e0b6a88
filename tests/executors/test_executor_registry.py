"""Registering executors: what `@executor_register()` refuses (naming the executor), the seed's property
form, executors from installed packages' entry points, and executors offered to agents as tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import executor_app

from loopline import Agent
from loopline.errors import ExecutorDefinitionError
from loopline.executors import (
    ENTRY_POINT_GROUP,
    ExecutableTask,
    describe,
    executor_register,
    get_executor,
    load_entry_points,
    registered_executors,
)
from loopline.testing import ScriptedModel, call, reply
from loopline.tools import Tool


def _refused(cls: type, *words: str) -> ExecutorDefinitionError:
    """Register `cls`, expect the refusal, and check it names the executor and says why."""
    with pytest.raises(ExecutorDefinitionError) as caught:
        executor_register()(cls)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    return caught.value


def test_a_second_class_cannot_take_a_registered_id() -> None:
    class Other(ExecutableTask):
        id = "add_numbers"

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {}

    error = _refused(Other, "'add_numbers'", "already registered", "executor_app.AddNumbers")
    assert error.executor == "add_numbers"
    assert get_executor("add_numbers") is executor_app.AddNumbers  # the first one keeps it

    executor_register(replace=True)(Other)  # unless asked to replace it
    try:
        assert get_executor("add_numbers") is Other
    finally:
        executor_register(replace=True)(executor_app.AddNumbers)


def test_an_executor_without_an_async_execute_is_refused() -> None:
    class NoExecute(ExecutableTask):
        id = "reg_no_execute"

    class SyncExecute(ExecutableTask):
        id = "reg_sync_execute"

        def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
            return {}

    assert _refused(NoExecute, "'reg_no_execute'", "no execute").executor == "reg_no_execute"
    assert _refused(SyncExecute, "'reg_sync_execute'", "async def").executor == "reg_sync_execute"
    assert not {"reg_no_execute", "reg_sync_execute"} & set(registered_executors())


def test_an_input_schema_that_is_not_json_schema_is_refused() -> None:
    class BadType(ExecutableTask):
        id = "reg_bad_schema"

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            return {}

        def get_input_schema(self) -> dict[str, Any]:
            return {"type": "object", "properties": {"n": {"type": "integr"}}}

    class NotAnObject(BadType):
        id = "reg_list_schema"

        def get_input_schema(self) -> Any:
            return ["n"]

    class NoId(BadType):
        id = ""

    assert _refused(BadType, "'reg_bad_schema'", "not valid JSON Schema", "integr").executor == "reg_bad_schema"
    assert _refused(NotAnObject, "'reg_list_schema'", "list").executor == "reg_list_schema"
    assert "NoId" in _refused(NoId, "needs an id").executor
    assert not {"reg_bad_schema", "reg_list_schema"} & set(registered_executors())


def test_the_seeds_property_form_registers_like_class_attributes() -> None:
    assert get_executor("refuses") is executor_app.Refuses
    assert describe(executor_app.Refuses) == {"id": "refuses", "name": "Refuses",
                                              "description": "Reports failure, or raises.",
                                              "input_schema": {"type": "object"}}
    assert describe(executor_app.AddNumbers)["input_schema"]["required"] == ["numbers"]


def test_executors_come_from_installed_packages_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ll_plugin_adder.py").write_text(
        "from loopline.executors import ExecutableTask\n\n"
        "class Doubler(ExecutableTask):\n"
        "    id = 'plugin_doubler'\n    name = 'Doubler'\n    description = 'Doubles n.'\n\n"
        "    def get_input_schema(self):\n"
        "        return {'type': 'object', 'properties': {'n': {'type': 'number'}}, 'required': ['n']}\n\n"
        "    async def execute(self, inputs):\n        return {'doubled': inputs['n'] * 2}\n")
    info = tmp_path / "ll_plugin_adder-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ll-plugin-adder\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ndoubler = ll_plugin_adder:Doubler\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "plugin_doubler" not in registered_executors()

    assert load_entry_points() == ["plugin_doubler"]
    assert describe(get_executor("plugin_doubler"))["name"] == "Doubler"
    assert load_entry_points() == ["plugin_doubler"]  # loading again is harmless


def test_an_agent_uses_executors_as_tools() -> None:
    model = ScriptedModel([reply(call("add_numbers", numbers=[1, 2, 3]), call("add_numbers", numbers=["x"])),
                           reply(call("refuses", {}), call("refuses", {"raise": True})),
                           reply(call("finish", result="done", is_success=True))])
    agent = Agent("calculator", "You add.", tools=[executor_app.AddNumbers, Tool.from_executor(executor_app.Refuses)])

    result = agent.run("add 1, 2 and 3", model=model)

    assert result.status.value == "COMPLETED", result.error
    offered = {t["function"]["name"]: t["function"] for t in model.requests[0]["tools"]}
    assert offered["add_numbers"]["parameters"] == executor_app.AddNumbers().get_input_schema()
    assert offered["add_numbers"]["description"] == executor_app.AddNumbers.description
    assert offered["refuses"]["parameters"] == {"type": "object", "properties": {}}
    results = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "tool"]
    assert results[0] == '{"total": 6}'
    assert results[1].startswith("Error:") and "numbers/0" in results[1]  # the schema checked the call
    assert results[2].startswith("Error:") and "refused politely" in results[2]  # a failed result: an error
    assert results[3].startswith("Error:") and "refused by raising" in results[3]


def test_tool_from_an_executor_instance_keeps_that_instance() -> None:
    calls: list[dict[str, Any]] = []

    class Recorder(ExecutableTask):
        id = "reg_recorder"
        description = "Records."

        async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
            calls.append(inputs)
            return {"seen": len(calls)}

    tool = Tool.from_executor(Recorder(), timeout=5)
    assert tool.definition.name == "reg_recorder" and tool.definition.description == "Records."
    assert tool.definition.parameters == {"type": "object", "properties": {}}
    model = ScriptedModel([reply(call("reg_recorder", {"a": 1})), reply(call("finish", result="ok", is_success=True))])
    assert Agent("recorder", "You record.", tools=[tool]).run("go", model=model).status.value == "COMPLETED"
    assert calls == [{"a": 1}]
