"""Headers for an MCP server over HTTP (a bearer token) go with every request; a server that refuses the
request fails fast with an `MCPError` naming the server and the HTTP status. Approval for MCP tools, for
a whole server or some of its tools: the execution pauses, and approving runs the call on the server."""

from __future__ import annotations

import time

import pytest

from chat_responses import call as chat_call
from chat_responses import completion
from loopline import Agent, ExecutionStatus, InMemoryStore
from loopline.mcp import MCPError, MCPServerHTTP
from loopline.testing import ScriptedModel, call, reply


def tool_contents(agent: Agent) -> list[str]:
    """What the tools answered so far, from the thread (it cannot be rendered while calls await a decision)."""
    return [part.content for message in agent.thread for part in message.tool_results]


def test_the_headers_go_with_every_request(guarded_url: str, bearer: dict[str, str]) -> None:
    """The server refuses any request without the token: listing, and two calls, each its own request."""
    source = MCPServerHTTP(guarded_url, headers=bearer, timeout=10)
    try:
        agent = Agent("a", tools=[source], store=InMemoryStore())
        assert "add" in {t["function"]["name"] for t in agent.get_tools()}
        agent.add_task("Add.")
        agent.add_messages(completion(chat_call("c1", "add", a=1, b=2), chat_call("c2", "add", a=3, b=4)))
        results = agent.run_tools(agent.pending_tool_calls)
    finally:
        source.close()
    assert [(r.is_success, r.content) for r in results] == [(True, "3"), (True, "7")]


@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer wrong"}], ids=["none", "wrong"])
def test_a_refused_request_is_an_mcp_error_naming_the_server_not_a_hang(guarded_url: str,
                                                                       headers: dict[str, str] | None) -> None:
    source = MCPServerHTTP(guarded_url, headers=headers, timeout=20)
    started = time.monotonic()
    try:
        with pytest.raises(MCPError) as caught:
            source.list_tools()
    finally:
        source.close()
    assert time.monotonic() - started < 10  # well inside the 20 s timeout: the 401 ends it
    assert str(caught.value) == (f"could not connect to MCP server {guarded_url!r}: the server answered HTTP 401 "
                                 "Unauthorized (check the headers given to MCPServerHTTP, e.g. Authorization)")


def test_a_refused_tool_call_becomes_an_error_result_naming_the_server(guarded_url: str,
                                                                       bearer: dict[str, str]) -> None:
    """Tools listed with the token, then called without it: the model gets an error result that says why."""
    source = MCPServerHTTP(guarded_url, headers=bearer, timeout=10)
    try:
        agent = Agent("a", tools=[source], store=InMemoryStore())
        agent.get_tools()
        source.close()
        source.headers = {}
        agent.add_task("Add.")
        agent.add_messages(completion(chat_call("c1", "add", a=1, b=2)))
        (result,) = agent.run_tools(agent.pending_tool_calls)
    finally:
        source.close()
    assert result.is_error and guarded_url in result.content and "HTTP 401 Unauthorized" in result.content


def test_a_whole_server_needing_approval_pauses_and_approving_runs_the_call(guarded_url: str,
                                                                            bearer: dict[str, str]) -> None:
    source = MCPServerHTTP(guarded_url, headers=bearer, requires_approval=True, timeout=10)
    try:
        agent = Agent("a", tools=[source], store=InMemoryStore())
        paused = agent.run("Add and echo.", model=ScriptedModel([reply(call("add", a=2, b=2), call("echo", text="x"))]))
        assert paused.status == ExecutionStatus.PAUSED
        add, echo = agent.pending_approvals
        assert (add.name, echo.name) == ("add", "echo") and tool_contents(agent) == []
        agent.approve(add.id)
        agent.reject(echo.id, "not now")
        assert agent.run(model=ScriptedModel([reply("4")])).ok
    finally:
        source.close()
    # the rejection is recorded at once, the approved call runs with the next run
    assert tool_contents(agent) == ["Error: a person rejected this call: not now", "4"]


def test_only_the_named_tools_of_a_server_need_approval(guarded_url: str, bearer: dict[str, str]) -> None:
    source = MCPServerHTTP(guarded_url, headers=bearer, requires_approval=["echo"], timeout=10)
    try:
        agent = Agent("a", tools=[source], store=InMemoryStore())
        first = agent.run("Add, then echo.", model=ScriptedModel([reply(call("add", a=1, b=1)),
                                                                   reply(call("echo", text="hi"))]))
        assert first.status == ExecutionStatus.PAUSED and tool_contents(agent) == ["2"]  # add ran unasked
        (echo,) = agent.pending_approvals
        agent.approve(echo.id)
        assert agent.run(model=ScriptedModel([reply("done")])).ok
    finally:
        source.close()
    assert tool_contents(agent)[1].startswith("hi from ")
