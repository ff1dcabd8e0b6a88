"""An agent with an MCP server's tools, served by a real worker process: the server is started once per
worker process, on first use, and its tasks share it."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).parent.parent
sys.path.insert(0, str(TESTS / "workers"))

from workers_helpers import start_worker, stop_worker  # noqa: E402

from loopline.tasks import Tasks  # noqa: E402

APP = textwrap.dedent('''\
    import sys

    from loopline import Agent
    from loopline.mcp import MCPServerStdio
    from loopline.testing import ScriptedModel, call, reply


    def answer(request):
        messages = request["messages"]
        if messages[-1]["role"] == "tool":
            return reply(call("finish", result=messages[-1]["content"], is_success=True))
        return reply(call("echo", text="hello"))


    MODEL = ScriptedModel(answer)
    agents = [Agent("mcp_user", tools=[MCPServerStdio(sys.executable, [{server!r}], timeout=30)])]


    def handle(task):
        return None
''')


def test_a_worker_starts_an_agents_mcp_server_once_for_all_its_tasks(tmp_path: Path) -> None:
    (tmp_path / "mcp_worker_app.py").write_text(APP.format(server=str(Path(__file__).parent / "servers"
                                                                      / "tools_server.py")))
    db = str(tmp_path / "tasks.db")
    search = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    worker = start_worker(db, "--app", "mcp_worker_app", "--concurrency", "3", env={"PYTHONPATH": search},
                          log=tmp_path / "worker.log")
    tasks = Tasks(db)
    try:
        created = [tasks.create("mcp_user", f"task {n}") for n in range(4)]
        results = [task.wait(60) for task in created]
        assert [t.status for t in results] == ["COMPLETED"] * 4, [t.error for t in results]
        pids = {t.result.rsplit(" ", 1)[-1] for t in results}
        assert len(pids) == 1 and pids != {str(worker.pid)}  # one server process, not the worker itself
        assert all(t.result.startswith("hello from ") for t in results)
    finally:
        assert stop_worker(worker) == 0
        tasks.store.close()
