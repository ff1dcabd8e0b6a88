"""`loopline worker` and `loopline tasks ...`: the real commands as subprocesses, on a real SQLite file and a
real PostgreSQL database, serving `tests/workers/worker_app.py` (an agent answered by a scripted model, and
a handler) and `tasks_cli_app.py` beside this file (handlers with test tasks, and names a worker refuses)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loopline import ExecutionStatus
from loopline.cli import main
from loopline.tasks import Tasks, live_workers

HERE = Path(__file__).parent
WORKER_APP = HERE.parent / "workers" / "worker_app.py"
TEST_APP = HERE / "tasks_cli_app.py"
PAUSED_APP = HERE / "tasks_cli_paused_app.py"
HOST = socket.gethostname()


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", **extra}
    env.pop("LOOPLINE_MODEL", None)
    env.pop("LOOPLINE_TASKS_DB", None)
    return env


def _loopline(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loopline.cli", *argv], capture_output=True, text=True,
                          encoding="utf-8", env=env or _env(), timeout=90, check=False)


class Worker:
    """A `loopline worker` process, ready once it printed the line that says what it serves."""

    def __init__(self, target: str, db: str, *args: str, log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "loopline.cli", "worker", target, "--db", db, *args],
                                         env=env or _env(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "serving" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"the worker did not start (exit {self.proc.poll()}):\n{self.output()}")
            time.sleep(0.05)
        self.announced = self.output().strip()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "tasks.db")


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> subprocess.CompletedProcess[str]:
    """The command run in this process (for refusals, which start nothing): its status, stdout and stderr."""
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), status, out, err)


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _event_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_an_agent_worker_runs_tasks_that_are_waited_for_and_followed_then_stops_on_sigterm(
        db: str, tmp_path: Path) -> None:
    created = _json(_loopline("tasks", "create", "researcher", "again", "--db", db, "--json"))
    assert created["status"] == "PENDING"  # no worker yet: it waits, and so does the follower
    follow = subprocess.Popen([sys.executable, "-m", "loopline.cli", "tasks", "events", created["id"], "--follow",
                               "--json", "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env())
    first = follow.stdout.readline() if follow.stdout else ""
    worker = Worker(f"{WORKER_APP}:agents", db, "--name", "w1", log=tmp_path / "worker.log")
    try:
        assert worker.announced == f"loopline: worker w1 (executor {HOST}:w1) serving agents researcher " \
                                   "(model scripted-model); executors http_request"  # the built-in executor
        rest, errors = follow.communicate(timeout=60)
        events = _event_lines(first + rest)
        assert follow.returncode == 0, errors
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events if e["type"] in ("status", "tool_call", "finished")] == [
            "status", "status", "tool_call", "tool_call", "tool_call", "status", "finished"]
        assert events[0]["data"] == {"status": "PENDING"}
        assert events[-1]["data"] == {"status": "COMPLETED", "result": "answer to again", "error": None}

        waited = _json(_loopline("tasks", "create", "researcher", "hello", "--db", db, "--wait", "60", "--json"))
        assert (waited["status"], waited["result"], waited["worker"]) == ("COMPLETED", "answer to hello", f"{HOST}:w1")

        after = _loopline("tasks", "events", created["id"], "--after", str(len(events) - 2), "--db", db)
        assert after.returncode == 0, after.stderr
        assert re.fullmatch(rf"\s+{len(events) - 1}  \S+Z  status            COMPLETED\n"
                            rf"\s+{len(events)}  \S+Z  finished          COMPLETED  result answer to again\n",
                            after.stdout), after.stdout

        shown = _loopline("tasks", "show", created["id"], "--db", db)
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"^status +COMPLETED$", shown.stdout, re.M) and re.search(
            r"^result +answer to again$", shown.stdout, re.M), shown.stdout
        listed = _json(_loopline("tasks", "list", "--agent-id", "researcher", "--status", "completed", "--db", db,
                                 "--json"))
        assert [t["id"] for t in listed["tasks"]] == [waited["id"], created["id"]]
        assert listed["next_cursor"] is None
    finally:
        if follow.poll() is None:
            follow.kill()
        status = worker.stop(signal.SIGTERM)
    assert status == 0, worker.output()
    assert "Traceback" not in worker.output()


def test_a_running_task_cancelled_ends_at_its_step_and_sigterm_mid_tool_hands_a_task_back(
        db: str, tmp_path: Path) -> None:
    # Five tool calls of 2 s: the cancel command (a process of its own) lands mid-task even on a busy machine.
    worker = Worker(f"{WORKER_APP}:agents", db, "--grace", "0.2", log=tmp_path / "worker.log",
                    env=_env(TOOL_SECONDS="2", STEPS="6"))
    tasks = Tasks(db)
    try:
        first = _json(_loopline("tasks", "create", "researcher", "stop me", "--db", db, "--json"))
        _in_tool(tasks, first["id"])
        cancelled = _loopline("tasks", "cancel", first["id"], "--db", db)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout in (  # it may have stopped by the time the command reads it back
            f"task {first['id']} asked to stop: it is RUNNING on {HOST}:worker-1 and ends at its next step\n",
            f"task {first['id']} CANCELLED\n")
        assert [e.data for e in tasks.events(first["id"], timeout=60)][-1] == {
            "status": "CANCELLED", "result": None, "error": None}

        second = _json(_loopline("tasks", "create", "researcher", "hand me back", "--db", db, "--json"))
        _in_tool(tasks, second["id"])
        status = worker.stop(signal.SIGTERM)  # the grace ends mid-tool: the task goes back at the step's end
    finally:
        worker.stop(signal.SIGKILL)
        tasks.store.close()
    assert status == 0, worker.output()
    assert "Traceback" not in worker.output() and "ERROR" not in worker.output(), worker.output()
    shown = _json(_loopline("tasks", "show", second["id"], "--db", db, "--json"))
    assert (shown["status"], shown["current_action"]) == ("PENDING", "handed back by a stopping worker")
    events = _event_lines(_loopline("tasks", "events", second["id"], "--db", db, "--json").stdout)
    assert [e["data"] for e in events if e["type"] == "handed_back"] == [{"worker": f"{HOST}:worker-1"}]


def test_a_task_cancelled_while_its_worker_is_dead_is_cancelled_by_the_worker_that_recovers_it(
        db: str, tmp_path: Path) -> None:
    tasks = Tasks(db)
    dead = subprocess.Popen([sys.executable, str(WORKER_APP.parent / "run_worker.py"), db, "--name", "doomed",
                             "--lease", "1"], env=_env(TOOL_SECONDS="3"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not live_workers(tasks.table) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # its queues are registered right after its first heartbeat
        created = _json(_loopline("tasks", "create", "researcher", "orphan", "--db", db, "--json"))
        _in_tool(tasks, created["id"])  # the first call ended: the second is running
        dead.kill()
        dead.wait()
        cancelled = _loopline("tasks", "cancel", created["id"], "--db", db)
        assert "asked to stop: it is RUNNING" in cancelled.stdout, cancelled.stderr
        worker = Worker(f"{WORKER_APP}:agents", db, log=tmp_path / "worker.log")
        try:
            assert [e.data for e in tasks.events(created["id"], timeout=60)][-1] == {
                "status": "CANCELLED", "result": None, "error": None}
        finally:
            assert worker.stop() == 0, worker.output()
    finally:
        if dead.poll() is None:
            dead.kill()
        tasks.store.close()


def _in_tool(tasks: Tasks, task_id: str) -> None:
    """Return once the task's worker has reported a tool call (at the step after the call ended)."""
    assert any(e.type == "tool_call" for e in tasks.events(task_id, timeout=60)), f"{task_id} never called a tool"


def test_a_handler_worker_completes_and_fails_tasks_and_stops_on_sigint(db: str, tmp_path: Path) -> None:
    worker = Worker(f"{WORKER_APP}:handle", db, "--agent-id", "echoer", log=tmp_path / "worker.log")
    try:
        assert re.fullmatch(rf"loopline: worker (worker-\d+) \(executor {re.escape(HOST)}:\1\) serving handler "
                            rf"{re.escape(str(WORKER_APP))}:handle for echoer; executors http_request",
                            worker.announced), worker.announced
        done = _json(_loopline("tasks", "create", "echoer", "ping", "--db", db, "--wait", "--json"))
        assert (done["status"], done["result"]) == ("COMPLETED", {"echo": "ping", "agent_id": "echoer"})

        failed = _loopline("tasks", "create", "echoer", "please raise", "--db", db, "--wait", "60")
        assert failed.returncode == 1
        task_id = re.search(r"^id +(task_\w+)$", failed.stdout, re.M)
        assert task_id and re.search(r"^status +FAILED$", failed.stdout, re.M), failed.stdout
        assert re.search(r"^error +RuntimeError: handler refused 'please raise'$", failed.stdout, re.M)
        assert failed.stderr == f"loopline: error: task {task_id[1]} ended FAILED: handler refused 'please raise'\n"
    finally:
        status = worker.stop(signal.SIGINT)
    assert status == 0, worker.output()


def test_a_pending_task_is_cancelled_and_waiting_for_it_runs_out(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    created = _json(_loopline("tasks", "create", "nobody", "wait for a worker", "--db", db, "--json"))
    timed_out = _loopline("tasks", "create", "nobody", "another", "--db", db, "--wait", "0.3")
    assert timed_out.returncode == 1
    assert re.fullmatch(r"loopline: error: task (task_\w+) did not end within 0\.3 s \(it is PENDING\); follow it "
                        r"with `loopline tasks events \1 --follow`\n", timed_out.stderr), timed_out.stderr

    cancelled = _loopline("tasks", "cancel", created["id"], "--db", db)
    assert (cancelled.returncode, cancelled.stdout, cancelled.stderr) == (0, f"task {created['id']} CANCELLED\n", "")
    events = _event_lines(_loopline("tasks", "events", created["id"], "--json", "--db", db).stdout)
    assert [(e["type"], e["data"]) for e in events] == [
        ("status", {"status": "PENDING"}), ("status", {"status": "CANCELLED"}),
        ("finished", {"status": "CANCELLED", "result": None, "error": None})]

    again = _main(capsys, "tasks", "cancel", created["id"], "--db", db)
    assert (again.returncode, again.stdout, again.stderr) == (
        2, "", f"loopline: error: task {created['id']} has already ended CANCELLED: nothing to cancel\n")
    missing = _main(capsys, "tasks", "show", "task_missing", "--db", db)
    assert (missing.returncode, missing.stderr) == (2, f"loopline: error: no task with id 'task_missing' in {db}\n")
    nothing_new = _main(capsys, "tasks", "events", created["id"], "--after", "3", "--db", db)
    assert (nothing_new.returncode, nothing_new.stdout) == (0, "no events after 3\n")


def test_cancelling_a_paused_task_ends_it_and_its_execution(db: str, tmp_path: Path) -> None:
    worker = Worker(f"{PAUSED_APP}:cautious", db, log=tmp_path / "worker.log")
    try:
        created = _json(_loopline("tasks", "create", "cautious", "pay the bill", "--db", db, "--json"))
        tasks = Tasks(db)
        deadline = time.monotonic() + 60
        while (paused := tasks.get(created["id"])).status != "PAUSED" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert paused.status == "PAUSED" and paused.execution_id
        cancelled = _loopline("tasks", "cancel", created["id"], "--db", db)
        assert (cancelled.returncode, cancelled.stdout, cancelled.stderr) == (
            0, f"task {created['id']} CANCELLED\n", "")
        assert tasks.store.get_execution(paused.execution_id).status is ExecutionStatus.CANCELLED
        events = _event_lines(_loopline("tasks", "events", created["id"], "--db", db, "--json").stdout)
        assert events[-1]["data"] == {"status": "CANCELLED", "result": None, "error": None}
        tasks.store.close()
    finally:
        status = worker.stop()
    assert status == 0, worker.output()


def test_bad_input_to_create_names_the_option_and_creates_nothing(db: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "required": ["answer"]}')
    made = _json(_loopline("tasks", "create", "researcher", "q", "--output-format", "json", "--output-schema",
                           f"@{schema}", "--priority", "7", "--config", '{"max_steps": 4}', "--file-url",
                           "https://example.com/a.pdf", "--idempotency-key", "k1", "--db", db, "--json"))
    assert (made["output_schema"], made["priority"], made["config"], made["input"]) == (
        {"type": "object", "required": ["answer"]}, 7, {"max_steps": 4},
        {"text": "q", "file_urls": ["https://example.com/a.pdf"]})
    same = _json(_loopline("tasks", "create", "researcher", "q", "--idempotency-key", "k1", "--db", db, "--json"))
    assert same["id"] == made["id"]

    refused = {
        ("--priority", "1000000"): "--priority: priority takes a whole number from -100000 to 100000, got 1000000",
        ("--output-schema", '{"type": 5}'): "--output-schema: output_schema is not a valid JSON Schema: ",
        ("--output-schema", "@missing.json"): "--output-schema: cannot read missing.json: No such file or directory",
        ("--output-schema", "[1"): "--output-schema: not valid JSON (",
        ("--config", '{"nope": 1}'): "--config: TaskConfig has no setting 'nope'",
        ("--config", "[]"): "--config: takes a JSON object, got list",
        ("--file-url", "ftp://x"): "--file-url: file_urls[0] is not an http(s) URL: 'ftp://x'",
        ("--thread", "thr_missing"): f"no thread with id 'thr_missing' in {db}",
        ("--require-worker",): "no live worker serves agent 'researcher'",
    }
    for option, message in refused.items():
        result = _main(capsys, "tasks", "create", "researcher", "q", *option, "--db", db)
        assert (result.returncode, result.stdout) == (2, ""), (option, result.stderr)
        assert result.stderr.startswith(f"loopline: error: {message}"), (option, result.stderr)
    empty = _main(capsys, "tasks", "create", "researcher", " ", "--db", db)
    assert (empty.returncode, empty.stderr) == (2, "loopline: error: PROMPT: a task needs a prompt (or file_urls)\n")
    listed = _json(_loopline("tasks", "list", "--db", db, "--json"))
    assert [t["id"] for t in listed["tasks"]] == [made["id"]]


def test_worker_test_runs_the_handlers_local_test_task(tmp_path: Path) -> None:
    ran = _loopline("worker", f"{TEST_APP}:capabilities", "--test")
    assert (ran.returncode, ran.stdout, ran.stderr) == (
        0, '{"asked": "What can you do?", "agent_id": "helper"}\n', "")
    record = _json(_loopline("worker", f"{TEST_APP}:capabilities", "--test", "--json"))
    assert (record["status"], record["progress"], record["current_action"], record["result"]) == (
        "COMPLETED", 1.0, "thinking", {"asked": "What can you do?", "agent_id": "helper"})

    broken = _loopline("worker", f"{TEST_APP}:broken", "--test")
    assert (broken.returncode, broken.stdout) == (1, "-\n")
    assert broken.stderr.startswith("Traceback"), broken.stderr
    assert broken.stderr.endswith("loopline: error: test task FAILED: ValueError: cannot do 'fail please'\n")
    untested = _loopline("worker", f"{TEST_APP}:untested", "--test")
    assert (untested.returncode, untested.stderr) == (
        2, "loopline: error: TaskHandler('untested') has no test task: decorate it with "
           "@on_task(test_task=LocalTaskTest(...))\n")
    agents = _loopline("worker", f"{WORKER_APP}:agents", "--test")
    assert (agents.returncode, agents.stderr) == (
        2, f"loopline: error: --test runs a handler's test_task; {WORKER_APP}:agents is agents, not an @on_task "
           "handler\n")


def test_a_worker_refuses_what_it_cannot_serve(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOPLINE_MODEL", raising=False)
    refused = {
        "NUMBER": f"{TEST_APP}:NUMBER is a int: name an @on_task handler (or a function taking `task`), an Agent, "
                  "or a list of Agents",
        "no_task": "task handler no_task must take a `task` parameter (def no_task(task): ...); it takes (prompt)",
        "missing": f"{TEST_APP} has no attribute 'missing' (what it can serve: broken, capabilities, helper, "
                   "untested)",
        "helper": f"no model to run with: pass --model (such as openai:gpt-4o), set MODEL in {TEST_APP}, or set "
                  "LOOPLINE_MODEL",
    }
    for name, message in refused.items():
        result = _main(capsys, "worker", f"{TEST_APP}:{name}", "--db", db)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", f"loopline: error: {message}\n"), name
    agent_ids = _main(capsys, "worker", f"{WORKER_APP}:researcher", "--agent-id", "x", "--db", db)
    assert (agent_ids.returncode, agent_ids.stderr) == (
        2, f"loopline: error: --agent-id names the agent ids a handler serves; {WORKER_APP}:researcher is agents, "
           "which serve their own names\n")

    blocked = tmp_path / "no_dbos"
    blocked.mkdir()
    (blocked / "dbos.py").write_text("raise ImportError('dbos is not installed here')\n")
    env = _env(PYTHONPATH=os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")]))
    missing = "loopline: error: 'dbos' is not installed; install it with: pip install 'loopline[tasks]'\n"
    no_extra = _loopline("worker", f"{WORKER_APP}:handle", "--db", db, env=env)
    assert (no_extra.returncode, no_extra.stderr) == (2, missing)
    not_created = _loopline("tasks", "create", "researcher", "q", "--db", db, env=env)
    assert (not_created.returncode, not_created.stderr) == (2, missing)
    assert _json(_loopline("tasks", "list", "--db", db, "--json", env=env))["tasks"] == []  # nothing half-written


def test_worker_and_tasks_on_postgresql(pg_empty_url: str, tmp_path: Path) -> None:
    worker = Worker(f"{WORKER_APP}:handle", pg_empty_url, "--agent-id", "echoer", "--name", "pg",
                    log=tmp_path / "worker.log")
    try:
        done = _json(_loopline("tasks", "create", "echoer", "over postgres", "--db", pg_empty_url, "--wait", "60",
                               "--json"))
        assert (done["status"], done["result"], done["worker"]) == (
            "COMPLETED", {"echo": "over postgres", "agent_id": "echoer"}, f"{HOST}:pg")
        events = _event_lines(_loopline("tasks", "events", done["id"], "--follow", "--json", "--db",
                                        pg_empty_url).stdout)
        assert events[-1]["type"] == "finished" and events[-1]["data"]["status"] == "COMPLETED"

        pending = _json(_loopline("tasks", "create", "nobody", "no worker serves me", "--db", pg_empty_url, "--json"))
        cancelled = _json(_loopline("tasks", "cancel", pending["id"], "--db", pg_empty_url, "--json"))
        assert cancelled["status"] == "CANCELLED"
        listed = _loopline("tasks", "list", "--db", pg_empty_url)
        assert listed.returncode == 0, listed.stderr
        assert [line.split()[2] for line in listed.stdout.splitlines()[1:]] == ["CANCELLED", "COMPLETED"]
    finally:
        status = worker.stop()
    assert status == 0, worker.output()


def test_a_worker_given_only_a_file_serves_the_executors_it_registers(db: str, tmp_path: Path) -> None:
    app = tmp_path / "double_app.py"
    app.write_text(
        "from loopline.executors import ExecutableTask, executor_register\n\n\n"
        "@executor_register()\nclass Double(ExecutableTask):\n"
        "    id = 'double'\n    name = 'Double'\n    description = 'Doubles n.'\n\n"
        "    def get_input_schema(self):\n"
        "        return {'type': 'object', 'properties': {'n': {'type': 'number'}}, 'required': ['n']}\n\n"
        "    async def execute(self, inputs):\n        return {'n': inputs['n'] * 2}\n")
    worker = Worker(str(app), db, "--name", "executors", log=tmp_path / "worker.log")
    tasks = Tasks(db)
    try:
        assert "serving executors double, http_request" in worker.output()
        assert tasks.create(executor="double", inputs={"n": 21}).wait(30).result == {"n": 42}
        refused = _loopline("worker", str(app), "--db", db, "--test")
        assert refused.returncode == 2 and "--test and --agent-id go with PATH.py:NAME" in refused.stderr
    finally:
        assert worker.stop(signal.SIGTERM) == 0, worker.output()
        tasks.store.close()
