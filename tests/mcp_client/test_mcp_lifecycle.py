"""MCP servers' lifecycle: the SDK is imported only when used, a server runs per process, the sync API
works inside a running event loop (as in Jupyter), several tasks share one connection, and tool names
that collide are refused with a hint."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_responses import call as chat_call
from chat_responses import completion
from loopline import Agent, InMemoryStore
from loopline.errors import ToolDefinitionError
from loopline.mcp import MCPServerStdio
from loopline.testing import ScriptedModel, call, reply

SERVER = str(Path(__file__).parent / "servers" / "tools_server.py")


@pytest.fixture
def server() -> Iterator[MCPServerStdio]:
    source = MCPServerStdio(sys.executable, [SERVER], timeout=10)
    yield source
    source.close()


def echo_pid(agent: Agent, text: str) -> int:
    """Run one `echo` call in the manual loop; the pid of the server process that answered."""
    agent.add_task("Echo.")
    agent.add_messages(completion(chat_call("c1", "echo", text=text)))
    (result,) = agent.run_tools(agent.pending_tool_calls)
    assert result.is_success, result.content
    return int(result.content.split()[-1])


def test_importing_loopline_or_loopline_mcp_does_not_import_the_sdk() -> None:
    code = "import sys, loopline, loopline.mcp; print([m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def _child(server: MCPServerStdio, answers: multiprocessing.Queue[int]) -> None:  # type: ignore[type-arg]
    """A forked worker: one call from sync code (the tool pool made anew), one as an asyncio worker makes it."""
    answers.put(echo_pid(Agent("a", tools=[server], store=InMemoryStore()), "child"))
    agent = Agent("a", tools=[server], store=InMemoryStore())
    agent.add_task("Echo.")
    agent.add_messages(completion(chat_call("c1", "echo", text="again")))
    (result,) = asyncio.run(agent.arun_tools(agent.pending_tool_calls))
    answers.put(int(result.content.split()[-1]))


def test_a_forked_worker_starts_its_own_server_once(server: MCPServerStdio) -> None:
    parent_pid = echo_pid(Agent("a", tools=[server], store=InMemoryStore()), "parent")
    answers: multiprocessing.Queue[int] = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("fork").Process(target=_child, args=(server, answers))
    child.start()
    first, second = answers.get(timeout=20), answers.get(timeout=20)
    child.join(30)
    assert first == second != parent_pid
    assert echo_pid(Agent("a", tools=[server], store=InMemoryStore()), "parent") == parent_pid


def test_the_sync_api_works_inside_a_running_event_loop_as_in_jupyter(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())

    async def cell() -> str:
        result = agent.run("Add.", model=ScriptedModel([reply(call("add", a=2, b=2)), reply("4")]))
        assert result.ok
        return str(agent.get_messages("openai")[-2]["content"])

    assert "4" in asyncio.run(cell())


def test_agents_running_in_several_tasks_share_one_server(server: MCPServerStdio) -> None:
    async def one(i: int) -> bool:
        agent = Agent(f"a{i}", tools=[server], store=InMemoryStore())
        script = ScriptedModel([reply(call("add", a=i, b=1)), reply("done")])
        return (await agent.arun("Add.", model=script)).ok

    async def many() -> list[bool]:
        return list(await asyncio.gather(*(one(i) for i in range(8))))

    assert asyncio.run(many()) == [True] * 8


def test_two_servers_with_the_same_tool_names_are_refused_with_a_hint_to_prefix(server: MCPServerStdio) -> None:
    other = MCPServerStdio(sys.executable, [SERVER])
    try:
        agent = Agent("a", tools=[server, other], store=InMemoryStore())
        with pytest.raises(ToolDefinitionError, match="prefix"):
            agent.get_tools()
    finally:
        other.close()


def test_a_server_left_open_is_stopped_when_the_process_exits() -> None:
    code = ("import asyncio, sys; from loopline.mcp import MCPServerStdio; "
            f"s = MCPServerStdio(sys.executable, [{SERVER!r}]); "
            "print(asyncio.run(s.acall('echo', {'text': 'x'})).split()[-1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    pid = int(out.stdout.strip())
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            asyncio.run(asyncio.sleep(0.1))
