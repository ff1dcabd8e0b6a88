"""One execution's state apart from the Agent: `ExecutionState` owns the machine, the thread, the store
and the claim; `loopline.loop.steps` is the run loop without I/O; `Agent` is a thin face over both."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import loopline
from chat_responses import call, completion
from loopline import Agent, ExecutionStatus, InMemoryStore, tool
from loopline.agent._state import ExecutionState
from loopline.agent._toolbox import Toolbox
from loopline.errors import ContextOverflowError, PendingToolCallsError, ResponseParseError
from loopline.loop import AskModel, Execution, ExecutionMachine, RunCalls, steps
from loopline.messages import Message, TextPart, ToolCallPart
from loopline.testing import ScriptedModel
from loopline.tools import ToolCallResult, finish_tool

SRC = Path(loopline.__file__).resolve().parent


@tool(requires_approval=True)
def refund(order: str) -> str:
    """Refund an order."""
    return f"refunded {order}"


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


# --- the shape ------------------------------------------------------------------------------------------


def _sibling_imports(path: Path, *, type_checking: bool) -> set[str]:
    """The modules of its own package that `path` imports (`from . import x`, `from ._x import y`)."""
    found: set[str] = set()

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if type_checking:
                    walk(node.body)
            elif isinstance(node, ast.ImportFrom) and node.level == 1:
                found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif isinstance(node, (ast.If, ast.Try)):
                walk(node.body)

    walk(ast.parse(path.read_text()).body)
    return found


def _cycles(package: Path, *, type_checking: bool) -> list[list[str]]:
    graph = {p.stem: _sibling_imports(p, type_checking=type_checking) for p in package.glob("*.py")
             if p.stem != "__init__"}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(graph[module] & graph.keys()):
            if imported in path:
                cycles.append(path[path.index(imported):])
            else:
                visit(imported, [*path, imported])

    for module in graph:
        visit(module, [module])
    return cycles


def test_the_agent_modules_import_one_way_even_for_type_checking() -> None:
    assert _cycles(SRC / "agent", type_checking=True) == []


def test_the_agent_is_a_thin_face_without_mixins() -> None:
    assert [k for k in Agent.__mro__ if k not in (Agent, object)] == []
    methods = [name for name, value in vars(Agent).items() if inspect.isfunction(value) or isinstance(value, property)]
    assert len(methods) <= 39, methods  # 34 of them are the public surface (and __init__, __repr__, _repr_html_)


# --- the loop without I/O ---------------------------------------------------------------------------------


def _machine() -> ExecutionMachine:
    machine = ExecutionMachine(Execution(thread_id="thr_1", agent_name="a", input="Look up a."))
    machine.start(1000.0)
    return machine


def _assistant(*parts: Any) -> Message:
    return Message(role="assistant", parts=tuple(parts))


def test_the_step_generator_drives_a_bare_machine() -> None:
    machine = _machine()
    flow = steps(lambda: machine, lambda: {"messages": "..."},
                 lambda response: machine.on_model_message(response, 1001.0),
                 lambda code, message: machine.request_failed(code, message, 1001.0))

    assert next(flow) == AskModel({"messages": "..."})
    step = flow.send(_assistant(ToolCallPart(id="c1", name="lookup", arguments='{"key": "a"}')))
    assert isinstance(step, RunCalls) and [(c.id, c.name, c.arguments) for c in step.calls] == [
        ("c1", "lookup", {"key": "a"})]
    machine.begin_tools(step.calls, 1002.0)
    machine.on_tool_results([ToolCallResult(tool_call_id="c1", function_name="lookup", payload={"key": "a"},
                                            result="1", is_success=True, content="1")], 1002.0)
    assert next(flow) == AskModel({"messages": "..."})
    with pytest.raises(StopIteration) as done:
        flow.send(_assistant(TextPart(text="a is 1.")))
    assert (done.value.value.status, done.value.value.result) == (ExecutionStatus.COMPLETED, "a is 1.")


def _ended(flow: Any, response: Any = None) -> Any:
    with pytest.raises(StopIteration) as done:
        flow.send(response)
    return done.value.value


def test_the_step_generator_ends_an_execution_whose_request_cannot_fit() -> None:
    machine = _machine()

    def render() -> dict[str, Any]:
        raise ContextOverflowError("the task alone exceeds the window", needed=9000, window=8000, reserve=100)

    flow = steps(lambda: machine, render, print, lambda c, m: machine.request_failed(c, m, 1001.0))
    result = _ended(flow)
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "context_overflow")


def test_the_step_generator_ends_an_execution_whose_response_cannot_be_read() -> None:
    machine = _machine()

    def take(response: Any) -> None:
        raise ResponseParseError("the response was cut off", provider="openai")

    flow = steps(lambda: machine, dict, take, lambda c, m: machine.request_failed(c, m, 1001.0))
    assert next(flow) == AskModel({})
    result = _ended(flow, {"id": "cut"})
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "provider_error")
    assert result.error == "ResponseParseError: the response was cut off"


# --- one execution's state ------------------------------------------------------------------------------


def test_an_execution_state_applies_each_step_whole_or_not_at_all() -> None:
    store = InMemoryStore()
    first = Message(role="user", parts=(TextPart(text="Look up a."),))
    state = ExecutionState.start(store, Execution(thread_id=store.create_thread(), agent_name="a", input="Look up a.",
                                                  finish_tool_name="finish"), first, [], owner="host:1:0:test",
                                 tools=Toolbox([lookup], finish_tool()))
    state.add([_assistant(ToolCallPart(id="c1", name="lookup", arguments='{"key": "a"}'))])
    before = (list(state.thread), state.execution.copy())
    with pytest.raises(PendingToolCallsError):  # refused: nothing changes, here or in the store
        state.add([Message(role="user", parts=(TextPart(text="Hurry."),))])
    assert (list(state.thread), state.execution) == before
    assert store.get_messages(state.execution.thread_id) == before[0]

    assert [r.content for r in state.run_tools(state.runnable_calls(), loopline.RunConfig())] == ["value of a"]
    finish = ToolCallPart(id="c2", name="finish", arguments='{"result": "a is known", "is_success": true}')
    state.add([_assistant(finish)])
    state.run_tools(state.runnable_calls(), loopline.RunConfig())
    assert (state.execution.status, state.execution.result) == (ExecutionStatus.COMPLETED, "a is known")
    assert store.get_messages(state.execution.thread_id) == list(state.thread)
    assert store.claim_execution(state.execution.id, owner="host:2:0:other", lease_seconds=5)  # let go once ended


def test_a_worker_runs_a_stored_task_with_the_agent_definition_alone() -> None:
    store = InMemoryStore()
    producer = Agent("support", tools=[refund, lookup], store=store)
    producer.add_task("Refund order 7.")
    producer.add_messages(completion(call("call_r", "refund", order="7")))
    assert producer.get_execution_status().status is ExecutionStatus.PAUSED  # waits for a person; no claim held
    execution_id = producer.execution.id  # type: ignore[union-attr]
    del producer

    worker = Agent("support", tools=[refund, lookup], store=store)  # the same definition, nothing else
    worker.resume(execution_id)
    worker.approve("call_r")

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        assert request["messages"][-1] == {"role": "tool", "tool_call_id": "call_r", "content": "refunded 7"}
        return completion(call("call_f", "finish", result="Refunded.", is_success=True))

    result = worker.run(model=ScriptedModel([answer]))
    assert (result.status, result.result, result.execution_id) == (ExecutionStatus.COMPLETED, "Refunded.",
                                                                   execution_id)
    assert [m.role for m in store.get_messages(result.thread_id)] == ["user", "assistant", "tool", "assistant", "tool"]
