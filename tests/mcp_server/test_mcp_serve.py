"""`loopline mcp serve PATH.py:NAME`: an agent file in tmp_path served by real `python -m loopline.cli`
processes, over stdio and over streamable HTTP on 127.0.0.1, to the official `mcp` SDK's `ClientSession`.

The agent file's `MODEL` is a `ScriptedModel` answering from a function of the request, so nothing
touches the network: "fail" makes the model raise, "wait" calls a tool that sleeps for a minute, "add"
calls a tool, anything else is echoed with the number of user messages the model saw. Executions go to
a SQLite file in tmp_path (`--db`), which the tests read back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from loopline import ExecutionStatus, SQLiteStore

AGENT_FILE = textwrap.dedent('''\
    import asyncio

    from loopline import Agent, tool
    from loopline.testing import ScriptedModel, call, reply


    @tool
    async def wait_here(seconds: int) -> str:
        """Wait a while."""
        await asyncio.sleep(seconds)
        return f"waited {seconds}"


    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b


    def answer(request):
        messages = request["messages"]
        users = [m["content"] for m in messages if m["role"] == "user"]
        if messages[-1]["role"] == "tool":
            return reply("the tool said " + messages[-1]["content"])
        if users[-1] == "fail":
            return RuntimeError("the model is down")
        if users[-1] == "wait":
            return reply(call("wait_here", seconds=60))
        if users[-1] == "add":
            return reply(call("add", a=2, b=3))
        return reply(f"echo: {users[-1]} ({len(users)} user messages)")


    print("loaded the helper file")  # goes to stderr: over stdio, stdout is the protocol's
    helper = Agent("helper", instructions="Answers questions with care.", tools=[wait_here, add])
    MODEL = ScriptedModel(answer)
''')

CLI = [sys.executable, "-m", "loopline.cli", "mcp", "serve"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(AGENT_FILE)
    return tmp_path / "mcp.db"


@asynccontextmanager
async def stdio_session(db: Path) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(command=CLI[0], args=[*CLI[1:], "app.py:helper", "--db", str(db)],
                                   cwd=db.parent, env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    with (db.parent / "stderr.txt").open("w") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_url(db: Path) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([*CLI, "app.py:helper", "--db", str(db), "--http", "--port", str(port)],
                               cwd=db.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.communicate(timeout=30)


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _texts(result: object) -> list[str]:
    return [block.text for block in result.content]  # type: ignore[attr-defined]


async def test_stdio_lists_the_agent_as_a_tool_and_runs_a_task_then_continues_its_thread(db: Path) -> None:
    async with stdio_session(db) as session:
        [tool] = (await session.list_tools()).tools
        assert (tool.name, tool.description) == ("helper", "Answers questions with care.")
        assert tool.input_schema["required"] == ["prompt"]
        assert set(tool.input_schema["properties"]) == {"prompt", "thread_id"}

        first = await session.call_tool("helper", {"prompt": "hello"})
        assert not first.is_error
        assert first.content[0].text == "echo: hello (1 user messages)"  # type: ignore[union-attr]
        ids = first.structured_content
        assert ids is not None and ids["result"] == "echo: hello (1 user messages)"
        assert ids["thread_id"] in _texts(first)[1] and ids["execution_id"] in _texts(first)[1]

        second = await session.call_tool("helper", {"prompt": "again", "thread_id": ids["thread_id"]})
        assert _texts(second)[0] == "echo: again (2 user messages)"
        assert second.structured_content is not None and second.structured_content["thread_id"] == ids["thread_id"]
    store = SQLiteStore(db)
    execution = store.get_execution(ids["execution_id"])
    assert (execution.status, execution.result) == (ExecutionStatus.COMPLETED, "echo: hello (1 user messages)")
    assert "loaded the helper file" in (db.parent / "stderr.txt").read_text()


async def test_stdio_sends_progress_while_the_agent_runs(db: Path) -> None:
    seen: list[tuple[float, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, message))

    async with stdio_session(db) as session:
        result = await session.call_tool("helper", {"prompt": "add"}, progress_callback=progress)
    assert _texts(result)[0] == "the tool said 5"
    messages = [message for _, message in seen]
    assert "calling add" in messages and "add returned" in messages and "status COMPLETED" in messages
    assert [value for value, _ in seen] == sorted({value for value, _ in seen})  # increasing


async def test_stdio_a_failed_execution_is_a_tool_error_with_its_message(db: Path) -> None:
    async with stdio_session(db) as session:
        failed = await session.call_tool("helper", {"prompt": "fail"})
        assert failed.is_error
        assert "failed (provider_error): RuntimeError: the model is down" in _texts(failed)[0]
        unknown = await session.call_tool("helper", {"prompt": "hi", "thread_id": "thr_nope"})
        assert unknown.is_error and "thr_nope" in _texts(unknown)[0]
        with pytest.raises(MCPError, match="prompt is required"):
            await session.call_tool("helper", {"thread_id": "thr_x"})
        with pytest.raises(MCPError, match="no tool named 'other'"):
            await session.call_tool("other", {"prompt": "hi"})
    [execution] = SQLiteStore(db).list_executions(status=ExecutionStatus.FAILED)
    assert execution.to_result().error_code == "provider_error"


async def _cancel_while_waiting(session: ClientSession) -> str:
    """Call the tool that waits a minute; while it waits, make another call (calls run side by side, each
    on an agent of its own); then cancel the waiting request. Returns the other call's text."""
    calling = anyio.Event()

    async def progress(value: float, total: float | None, message: str | None) -> None:
        if message == "calling wait_here":
            calling.set()

    async with anyio.create_task_group() as group:
        group.start_soon(lambda: session.call_tool("helper", {"prompt": "wait"}, progress_callback=progress))
        with anyio.fail_after(30):
            await calling.wait()
        meanwhile = await session.call_tool("helper", {"prompt": "meanwhile"})
        group.cancel_scope.cancel()
    return _texts(meanwhile)[0]


def _wait_for_cancelled(db: Path) -> None:
    """The waiting execution ends CANCELLED in the store (soon: its tool would have waited a minute)."""
    store = SQLiteStore(db)
    deadline = time.monotonic() + 20
    while not (cancelled := store.list_executions(status=ExecutionStatus.CANCELLED)):
        assert time.monotonic() < deadline, [e.status for e in store.list_executions()]
        time.sleep(0.05)
    [execution] = cancelled
    assert execution.input == "wait"


async def test_stdio_a_cancelled_request_cancels_the_execution(db: Path) -> None:
    async with stdio_session(db) as session:
        assert await _cancel_while_waiting(session) == "echo: meanwhile (1 user messages)"
        await anyio.to_thread.run_sync(_wait_for_cancelled, db)
        after = await session.call_tool("helper", {"prompt": "still here"})  # the server serves on
        assert _texts(after)[0] == "echo: still here (1 user messages)"


async def test_http_serves_calls_progress_and_cancellation(db: Path, http_url: str) -> None:
    seen: list[str | None] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async with http_session(http_url) as session:
        [tool] = (await session.list_tools()).tools
        assert tool.name == "helper"
        first = await session.call_tool("helper", {"prompt": "add"}, progress_callback=progress)
        assert _texts(first)[0] == "the tool said 5" and "calling add" in seen
        assert first.structured_content is not None
        second = await session.call_tool("helper", {"prompt": "more",
                                                    "thread_id": first.structured_content["thread_id"]})
        assert _texts(second)[0] == "echo: more (2 user messages)"
        failed = await session.call_tool("helper", {"prompt": "fail"})
        assert failed.is_error and "the model is down" in _texts(failed)[0]
    async with http_session(http_url) as session:
        assert await _cancel_while_waiting(session) == "echo: meanwhile (1 user messages)"
        await anyio.to_thread.run_sync(_wait_for_cancelled, db)


def test_a_bad_target_is_a_clear_usage_error(db: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], cwd=db.parent, capture_output=True, text=True, timeout=60, check=False)

    missing = serve("app.py:nobody")
    assert missing.returncode == 2
    assert "app.py has no attribute 'nobody' (agents in it: helper)" in missing.stderr
    assert serve("nofile.py:helper").stderr.endswith("error: no such file: nofile.py\n")
    assert "expected PATH.py:NAME" in serve("app.py").stderr
    assert "not a loopline Agent" in serve("app.py:MODEL").stderr
