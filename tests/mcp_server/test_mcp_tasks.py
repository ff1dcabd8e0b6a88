"""`loopline mcp tasks`: the task API served over MCP by a real `python -m loopline.cli` process (stdio), to
the `mcp` SDK's `ClientSession`, with a real worker process (tests/workers/run_worker.py) running the tasks
on the same SQLite file, and executors registered by tests/executors/executor_app.py."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

TESTS = Path(__file__).parent.parent
sys.path.insert(0, str(TESTS / "workers"))

from workers_helpers import start_worker, stop_worker  # noqa: E402

CLI = [sys.executable, "-m", "loopline.cli", "mcp", "tasks"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mcp-tasks")
    path = str(folder / "tasks.db")
    search = os.pathsep.join([str(TESTS / "executors"), os.environ.get("PYTHONPATH", "")])
    worker = start_worker(path, "--name", "mcp-worker", "--lease", "2", "--app", "executor_app",
                          env={"PYTHONPATH": search}, log=folder / "worker.log")
    try:
        yield path
    finally:
        assert stop_worker(worker) == 0


@asynccontextmanager
async def session(db: str) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(command=CLI[0], args=[*CLI[1:], "--db", db],
                                   env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    with open(Path(db).parent / "mcp-stderr.txt", "a") as errlog:
        async with stdio_client(server, errlog=errlog) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            yield client


def _answer(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content == json.loads(result.content[0].text)
    return dict(result.structured_content)


async def test_an_mcp_client_creates_follows_and_cancels_tasks(db: str) -> None:
    async with session(db) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"create_task", "get_task", "cancel_task", "list_executors"}

        done = _answer(await client.call_tool("create_task", {"agent_id": "researcher", "prompt": "over mcp",
                                                              "wait_seconds": 60}))
        assert (done["status"], done["result"]) == ("COMPLETED", "answer to over mcp")
        assert done["execution_id"].startswith("exe_") and done["thread_id"].startswith("thr_")
        again = _answer(await client.call_tool("get_task", {"task_id": done["id"]}))
        assert again == done

        summed = _answer(await client.call_tool("create_task", {"executor": "add_numbers",
                                                                "inputs": {"numbers": [2, 3]}, "wait_seconds": 60}))
        assert (summed["status"], summed["result"]) == ("COMPLETED", {"total": 5})

        slow = _answer(await client.call_tool("create_task", {"executor": "slow", "inputs": {"seconds": 60}}))
        assert slow["status"] in ("PENDING", "RUNNING")
        cancelled = _answer(await client.call_tool("cancel_task", {"task_id": slow["id"]}))
        assert cancelled["id"] == slow["id"]

        schemas = _answer(await client.call_tool("list_executors", {}))["executors"]
        assert schemas["add_numbers"]["required"] == ["numbers"] and "http_request" in schemas


async def test_refusals_reach_the_client_as_tool_errors_naming_the_field(db: str) -> None:
    async with session(db) as client:
        bad = await client.call_tool("create_task", {"executor": "add_numbers", "inputs": {"numbers": ["x"]}})
        assert bad.is_error and "inputs.numbers.0" in bad.content[0].text
        unknown = await client.call_tool("get_task", {"task_id": "task_nope"})
        assert unknown.is_error and "UnknownTaskError" in unknown.content[0].text
        neither = await client.call_tool("create_task", {"prompt": "for whom?"})
        assert neither.is_error and "agent_id or an executor" in neither.content[0].text
        with pytest.raises(MCPError, match="unknown arguments"):
            await client.call_tool("get_task", {"task_id": "task_x", "extra": 1})
        with pytest.raises(MCPError, match="wait_seconds"):
            await client.call_tool("create_task", {"agent_id": "researcher", "prompt": "x", "wait_seconds": "soon"})
