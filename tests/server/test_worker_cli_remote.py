"""`loopline worker PATH:NAME --base-url URL`: the command-line worker as a remote worker, fed by a server
over server-sent events, with no database of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from server_helpers import WORKER_APP, ServerStarter, cli, create_key, json_of, stop_process


def _remote_worker(url: str | None, log: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 - the process owns it
    command = [sys.executable, "-m", "loopline.cli", "worker", f"{WORKER_APP}:agents", "--name", "cli-remote", *args]
    if url is not None:
        command += ["--base-url", url]
    clean = {k: v for k, v in os.environ.items() if k != "LOOPLINE_DB"}
    return subprocess.Popen(command, env={**clean, **env}, stdout=out, stderr=subprocess.STDOUT)


def _completed(client, task_id: str, timeout: float = 60.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = json_of(client.get(f"/v1/tasks/{task_id}"))
        if task["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not end within {timeout} s")


@pytest.mark.parametrize("configured_by", ["flag", "environment"])
def test_the_command_line_worker_takes_its_tasks_from_a_server(
        configured_by: str, tmp_path: Path, servers: ServerStarter) -> None:
    db = str(tmp_path / "server.db")
    _, key = create_key(db, "acme")
    server = servers(db)
    log = tmp_path / "worker.log"
    env = {"LOOPLINE_API_KEY": key, "LOOPLINE_DB": str(tmp_path / "elsewhere.db")}
    if configured_by == "environment":
        env["LOOPLINE_BASE_URL"] = server.url
        env.pop("LOOPLINE_DB")
    worker = _remote_worker(server.url if configured_by == "flag" else None, log, env=env)
    try:
        client = server.client(key)
        created = client.post("/v1/tasks", json={"agent_id": "researcher", "prompt": "Oslo or Rome?"})
        assert created.status_code == 201, created.text
        task = _completed(client, created.json()["id"])
        assert task["status"] == "COMPLETED", task
        assert task["worker"].endswith(":cli-remote")
        assert json_of(client.get(f"/v1/executions/{task['execution_id']}"))["status"] == "COMPLETED"  # stored there
    finally:
        stop_process(worker)
    output = log.read_text()
    assert "serving agents researcher" in output and f"from {server.url}" in output, output
    assert key not in output and key not in server.output()


def test_base_url_and_db_are_refused_together(tmp_path: Path) -> None:
    done = cli("worker", f"{WORKER_APP}:agents", "--db", str(tmp_path / "w.db"), "--base-url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "--base-url" in done.stderr and "--db" in done.stderr
