"""MCP servers' tools in an agent: listed, offered in every provider's format, called from the manual
loop, `run`, `arun` and `stream`, with errors, dead and hung servers turned into error results."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_responses import call as chat_call
from chat_responses import completion
from loopline import Agent, InMemoryStore, LLMProvider, ToolCallResult
from loopline.mcp import MCPServerHTTP, MCPServerStdio
from loopline.testing import ScriptedModel, call, reply

SERVER = str(Path(__file__).parent / "servers" / "tools_server.py")


def stdio(**options: object) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, [SERVER], **options)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[MCPServerStdio]:
    source = stdio(timeout=5)
    yield source
    source.close()


def run_calls(agent: Agent, *calls: dict[str, object]) -> list[ToolCallResult]:
    """The manual loop: the model's response added, its calls run with `run_tools`."""
    if agent.execution is None:
        agent.add_task("Use the tools.")
    agent.add_messages(completion(*calls))
    return agent.run_tools(agent.pending_tool_calls)


def tool_results(agent: Agent) -> list[str]:
    return [m["content"] for m in agent.get_messages(LLMProvider.OPEN_AI) if m["role"] == "tool"]


def test_the_tools_are_offered_in_every_providers_format(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    chat = {t["function"]["name"]: t["function"] for t in agent.get_tools(LLMProvider.OPEN_AI)}
    assert chat["add"]["description"] == "Add two integers."
    assert chat["add"]["parameters"]["properties"]["a"]["type"] == "integer"
    anthropic = {t["name"]: t for t in agent.get_tools(LLMProvider.ANTHROPIC)}
    assert anthropic["add"]["input_schema"]["required"] == ["a", "b"]
    responses = {t["name"] for t in agent.get_tools(LLMProvider.OPEN_AI_RESPONSES)}
    assert {"add", "echo", "shape", "finish"} <= responses


def test_run_tools_calls_the_server_and_returns_text_structured_and_image_results(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    results = run_calls(agent, chat_call("c1", "add", a=2, b=3), chat_call("c2", "shape", width=2, height=3),
                        chat_call("c3", "picture"))
    assert [r.is_success for r in results] == [True, True, True]
    assert results[0].content == "5"
    assert json.loads(results[1].content) == {"area": 6, "perimeter": 10}
    assert results[2].files is not None and results[2].files[0].media_type == "image/png"


def test_an_is_error_result_or_a_failing_tool_becomes_an_error_result(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    (result,) = run_calls(agent, chat_call("c1", "boom"))
    assert result.is_error and "reported an error" in result.content and "boom" in result.content


def test_a_server_that_dies_gives_an_error_result_and_the_next_call_reconnects(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    (first,) = run_calls(agent, chat_call("c1", "echo", text="one"))
    (died,) = run_calls(agent, chat_call("c2", "suicide"))
    (again,) = run_calls(agent, chat_call("c3", "echo", text="two"))
    assert died.is_error and "suicide" in died.content
    assert again.is_success and again.content.startswith("two from ")
    assert again.content.split()[-1] != first.content.split()[-1]  # a new server process


def test_a_hanging_tool_becomes_a_timeout_error_and_the_next_call_works() -> None:
    source = stdio(timeout=1.5)
    try:
        agent = Agent("a", tools=[source], store=InMemoryStore())
        agent.get_tools()
        (hung,) = run_calls(agent, chat_call("c1", "slow", seconds=30))
        (after,) = run_calls(agent, chat_call("c2", "add", a=1, b=1))
    finally:
        source.close()
    assert hung.is_error and "within 1.5 s" in hung.content
    assert hung.duration < 10
    assert after.is_success and after.content == "2"


def test_run_and_arun_call_the_mcp_tool_for_the_model(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    result = agent.run("Add.", model=ScriptedModel([reply(call("add", a=20, b=22)), reply("42")]))
    assert result.ok and tool_results(agent) == ["42"]

    async def go() -> None:
        result = await agent.arun("Add again.", model=ScriptedModel([reply(call("add", a=1, b=2)), reply("3")]))
        assert result.ok
    asyncio.run(go())
    assert tool_results(agent) == ["3"]


def test_stream_calls_the_mcp_tool(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    events = list(agent.stream("Echo.", model=ScriptedModel([reply(call("echo", text="hi")), reply("done")])))
    assert events and tool_results(agent)[0].startswith("hi from ")


def test_the_http_transport_lists_and_calls_tools(http_url: str) -> None:
    source = MCPServerHTTP(http_url, timeout=10)
    try:
        agent = Agent("a", tools=[source], store=InMemoryStore())
        (result,) = run_calls(agent, chat_call("c1", "add", a=4, b=5))
    finally:
        source.close()
    assert result.is_success and result.content == "9"


def test_a_prefix_tells_apart_servers_whose_tools_share_names(http_url: str) -> None:
    local, remote = stdio(), MCPServerHTTP(http_url, prefix="remote_")
    try:
        agent = Agent("a", tools=[local, remote], store=InMemoryStore())
        names = {t["function"]["name"] for t in agent.get_tools()}
        assert {"add", "remote_add"} <= names
        results = run_calls(agent, chat_call("c1", "add", a=1, b=2), chat_call("c2", "remote_add", a=3, b=4))
        assert [r.content for r in results] == ["3", "7"]
    finally:
        local.close()
        remote.close()


def test_approval_can_be_asked_for_a_whole_server_or_single_tools() -> None:
    whole, some = stdio(requires_approval=True), stdio(requires_approval=["echo"], prefix="s_")
    try:
        assert all(t.requires_approval for t in whole.list_tools())
        assert {t.name for t in some.list_tools() if t.requires_approval} == {"s_echo"}
        agent = Agent("a", tools=[some], store=InMemoryStore())
        paused = agent.run("Echo.", model=ScriptedModel([reply(call("s_echo", text="x"))]))
        assert paused.status.value == "PAUSED"
        agent.approve(agent.pending_approvals[0].id)
        assert agent.run(model=ScriptedModel([reply("ok")])).ok
        assert tool_results(agent)[0].startswith("x from ")
    finally:
        whole.close()
        some.close()


def test_the_tool_list_is_cached_and_refreshed_when_the_server_says_it_changed(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    assert server.list_tools() is server.list_tools()
    assert "extra" not in {t["function"]["name"] for t in agent.get_tools()}
    (grown,) = run_calls(agent, chat_call("c1", "grow"))
    assert grown.content == "grown"
    assert "extra" in {t["function"]["name"] for t in agent.get_tools()}
    (extra,) = run_calls(agent, chat_call("c2", "extra"))
    assert extra.content == "extra ran"


def test_calls_from_several_asyncio_tasks_and_loops_share_one_connection(server: MCPServerStdio) -> None:
    server.list_tools()

    async def many() -> list[str]:
        return list(await asyncio.gather(*(server.acall("echo", {"text": str(i)}) for i in range(20))))
    first = asyncio.run(many())
    second = asyncio.run(many())  # another event loop, same connection
    pids = {text.split()[-1] for text in first + second}
    assert [t.split()[0] for t in first] == [str(i) for i in range(20)] and len(pids) == 1


def test_close_stops_the_server_process_and_the_next_use_starts_it_again(server: MCPServerStdio) -> None:
    agent = Agent("a", tools=[server], store=InMemoryStore())
    (before,) = run_calls(agent, chat_call("c1", "echo", text="a"))
    pid = int(before.content.split()[-1])
    agent.close()
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            asyncio.run(asyncio.sleep(0.1))
    (after,) = run_calls(agent, chat_call("c2", "echo", text="b"))
    assert after.is_success and int(after.content.split()[-1]) != pid
