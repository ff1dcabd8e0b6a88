"""The seeds' `APICallTask` (examples/api_call_task.py) and its two test examples from the README, run as
tests: the executor called directly against a local API under a policy that lets it reach 127.0.0.1, and
the same executor run by a worker in this process as a task; the policy refusing what it must refuse;
and the README showing the example file's code as it is."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from executors_helpers import Local, serve

from loopline.errors import InvalidInputError, TaskFailedError
from loopline.executors import HttpPolicy, get_executor, policy_scope
from loopline.tasks import TaskConfig, Tasks
from loopline.workers import Events

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))

from api_call_task import APICallTask  # noqa: E402

LOCAL = ["127.0.0.1/32"]


@pytest.fixture
def api() -> Iterator[Local]:
    """The API the task calls: `/echo` answers the request it got as JSON, `/ok` answers text."""
    with serve() as local:
        yield local


def test_the_example_registers_the_seeds_executor() -> None:
    assert get_executor("api_call_task") is APICallTask
    assert (APICallTask.id, APICallTask.name) == ("api_call_task", "API Call Task")


async def test_unit_the_executor_calls_the_api_under_the_policy_in_scope(api: Local) -> None:
    with policy_scope(HttpPolicy(allowed_networks=LOCAL)):
        posted = await APICallTask().execute({"url": api.url("/echo"), "method": "POST", "json": {"city": "Oslo"}})
        text = await APICallTask().execute({"url": api.url("/ok")})
        missing = await APICallTask().execute({"url": api.url("/nowhere")})
    assert posted["status_code"] == 200
    assert (posted["data"]["method"], json.loads(posted["data"]["body"])) == ("POST", {"city": "Oslo"})
    assert posted["data"]["headers"]["Content-Type"] == "application/json"
    assert text == {"status_code": 200, "data": "hello"}
    assert missing == {"status": "failed", "error": f"{api.url('/nowhere')} answered 404", "status_code": 404}


async def test_unit_a_refused_request_is_a_failed_result_naming_the_rule(api: Local) -> None:
    outside = await APICallTask().execute({"url": api.url("/ok")})  # the default policy: no loopback
    with policy_scope(HttpPolicy(allowed_networks=LOCAL, blocked_domains=["127.0.0.1"])):
        blocked = await APICallTask().execute({"url": api.url("/ok")})
    assert (outside["status"], outside["rule"]) == ("failed", "private_address")
    assert (blocked["status"], blocked["rule"]) == ("failed", "blocked_domain")
    assert "blocked_domains" in blocked["error"]
    assert api.recorder.hits == []  # nothing reached the server


async def test_integration_a_worker_runs_the_executor_as_a_task(api: Local, tmp_path: Path) -> None:
    db = str(tmp_path / "tasks.db")
    tasks = Tasks(db)
    with pytest.raises(InvalidInputError) as bad:
        tasks.create(executor="api_call_task", inputs={"url": api.url("/echo"), "method": "FETCH"})
    assert bad.value.field == "inputs.method"
    async with Events(db, executors=[APICallTask], allowed_networks=LOCAL):
        task = await tasks.acreate(executor="api_call_task", inputs={"url": api.url("/echo"), "json": [1, 2]})
        result = await task.await_result(timeout=60)
        fenced = await tasks.acreate(executor="api_call_task", inputs={"url": api.url("/ok")},
                                     config=TaskConfig(allowed_domains=["api.example.com"]))
        with pytest.raises(TaskFailedError):
            await fenced.await_result(timeout=60)
    assert (result["status_code"], json.loads(result["data"]["body"])) == (200, [1, 2])
    assert fenced.refresh().status == "FAILED"
    assert "domain_not_allowed" in fenced.error["message"]
    refusals = [e.data for e in fenced.events() if e.type == "policy_refused"]
    assert [(r["rule"], r["url"]) for r in refusals] == [("domain_not_allowed", api.url("/ok"))]
    assert [h.path for h in api.recorder.hits] == ["/echo"]


def test_the_readme_shows_the_example_file_as_it_is() -> None:
    """The README's copy of the executor is the file's code after its docstring, so the two cannot drift."""
    readme = (ROOT / "README.md").read_text()
    code = (ROOT / "examples" / "api_call_task.py").read_text().split('"""', 2)[2].lstrip()
    blocks = [m.group(1) for m in re.finditer(r"^```py\n(.*?)^```", readme, re.S | re.M)]
    shown = [block for block in blocks if "class APICallTask" in block]
    assert shown == [code]
