"""The dashboard in a real browser: headless Chromium (Debian's, driven by Playwright) on a real server
process, with a real worker process running the tasks on the same database. Tasks are created through
the HTTP API, and the page must show them, their status and their tool calls as they happen, without a
reload. On a failure the page's screenshot is saved and named in the error."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import chromium, screenshot_on_failure
from playwright.sync_api import Browser, Page, expect, sync_playwright
from server_helpers import Server, create_key, json_of, start_server, start_worker, stop_process

WAIT_MS = 30_000
"""How long the page may take to show what a worker does (the tasks here take a few seconds)."""

HOSTILE = '<script>alert("script")</script><img src=x onerror=alert("img")><b>bold</b>'


@dataclass
class Served:
    """A server and a worker on one database."""

    server: Server
    db: str
    logs: Path
    worker: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.base_url = self.server.url
        self.api = self.server.client()

    def create(self, prompt: str, **fields: Any) -> dict[str, Any]:
        response = self.api.post("/v1/tasks", json={"agent_id": "researcher", "prompt": prompt, **fields})
        assert response.status_code == 201, response.text
        task: dict[str, Any] = response.json()
        return task

    def events(self, task_id: str) -> list[dict[str, Any]]:
        response = self.api.get(f"/v1/tasks/{task_id}/events", params={"format": "json"})
        items: list[dict[str, Any]] = json_of(response)["items"]
        return items


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    logs = tmp_path_factory.mktemp("dashboard")
    db = str(logs / "tasks.db")
    served = Served(start_server(db, log=logs / "server.log"), db, logs)
    try:
        served.worker = start_worker(db, log=logs / "worker.log")
        yield served
    finally:
        if served.worker is not None:
            stop_process(served.worker)
        served.server.stop()


@dataclass
class Watched:
    """A browser page, with the dialogs it opened and the script errors it raised."""

    page: Page
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context()
    page = context.new_page()
    watched = Watched(page, [], [])

    def dialog(opened: Any) -> None:
        watched.dialogs.append(opened.message)
        opened.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    try:
        yield watched
    finally:
        context.close()


def trajectory(page: Page) -> list[list[Any]]:
    """The trajectory's entries as [event id, type]."""
    shown: list[list[Any]] = page.locator("#trajectory li").evaluate_all(
        "items => items.map(item => [Number(item.dataset.seq), item.dataset.type])")
    return shown


def listed(events: list[dict[str, Any]]) -> list[list[Any]]:
    """The entries a trajectory shows for these events: a tool's result goes into its call's entry, and
    usage into the summary."""
    return [[e["id"], e["type"]] for e in events if e["type"] not in ("usage", "tool_result")]


def test_the_page_and_its_files_are_served_with_a_policy_that_runs_only_them(served: Served) -> None:
    page = served.api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js" defer></script>' in page.text
    for name, media_type in [("app.js", "text/javascript"), ("app.css", "text/css")]:
        response = served.api.get(f"/static/{name}")
        assert (response.status_code, response.headers["content-type"]) == (200, f"{media_type}; charset=utf-8")
    for name in ["_dashboard.py", "index.html"]:  # only the page's script and style
        response = served.api.get(f"/static/{name}")
        assert (response.status_code, response.json()["error"]["type"]) == (404, "NotFound")
    assert served.api.get("/static/..%2F_dashboard.py").status_code == 404


def test_a_task_created_over_http_shows_its_status_and_tool_calls_live(served: Served, watched: Watched,
                                                                       tmp_path: Path) -> None:
    page = watched.page
    page.goto(served.base_url + "/")
    page.evaluate("window.loaded = 'once'")  # gone if the page reloads
    with screenshot_on_failure(page, tmp_path / "live.png"):
        expect(page.locator("#tasks tr").first).to_be_visible()
        task = served.create("look up the tides slow=2")
        row = page.locator(f'#tasks tr[data-task-id="{task["id"]}"]')
        expect(row.locator(".status")).to_have_text("RUNNING", timeout=WAIT_MS)
        expect(row).to_contain_text("researcher")
        row.locator("a").click()
        first_call = page.locator('#trajectory [data-type="tool_call"]').first
        expect(first_call.locator(".tool-name")).to_have_text("lookup", timeout=WAIT_MS)
        expect(first_call.locator("pre.arguments")).to_contain_text('"query": "look up the tides slow=2#0"')
        expect(page.locator("#summary .status")).to_have_text("COMPLETED", timeout=WAIT_MS)
        expect(first_call.locator(".tool-result")).to_contain_text("found look up the tides slow=2#0")
        expect(page.locator('#trajectory [data-type="tool_call"] .tool-name')).to_have_text(
            ["lookup", "lookup", "finish"])
        expect(page.locator('#trajectory [data-type="finished"]')).to_contain_text("COMPLETED")
        expect(page.locator("#live")).to_have_text("finished")
        assert trajectory(page) == listed(served.events(task["id"]))  # each stored event once, in order
        expect(page.locator("#summary")).to_contain_text("answer to look up the tides slow=2")
        expect(page.locator("#conversation .message")).to_have_count(7)  # the prompt, 3 model turns, 3 results
        page.go_back()
        expect(row.locator(".status")).to_have_text("COMPLETED")
        assert page.evaluate("window.loaded") == "once"
        assert watched.errors == []


def test_the_task_list_filters_by_status_and_agent(served: Served, watched: Watched, tmp_path: Path) -> None:
    waiting = [served.create("no worker serves this agent", agent_id=agent) for agent in ("idle-a", "idle-b")]
    done = served.create("done soon")
    page = watched.page
    page.goto(served.base_url + "/")
    rows = page.locator("#tasks tr[data-task-id]")
    with screenshot_on_failure(page, tmp_path / "filters.png"):
        expect(page.locator(f'#tasks tr[data-task-id="{done["id"]}"] .status')).to_have_text("COMPLETED",
                                                                                              timeout=WAIT_MS)
        page.select_option("#filter-status", "PENDING")
        for task in waiting:
            expect(page.locator(f'#tasks tr[data-task-id="{task["id"]}"]')).to_be_visible()
        expect(page.locator(f'#tasks tr[data-task-id="{done["id"]}"]')).to_have_count(0)
        assert set(rows.locator(".status").all_text_contents()) == {"PENDING"}
        page.fill("#filter-agent", "idle-a")
        page.press("#filter-agent", "Enter")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-task-id", waiting[0]["id"])
        assert page.evaluate("location.hash") == "#/tasks?status=PENDING&agent=idle-a"
        page.select_option("#filter-status", "COMPLETED")
        expect(page.locator("#tasks")).to_have_text("No tasks.")


def test_a_tasks_text_is_shown_as_text_and_never_run(served: Served, watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    task = served.create(HOSTILE)
    page.goto(f"{served.base_url}/#/tasks/{task['id']}")
    with screenshot_on_failure(page, tmp_path / "escaped.png"):
        expect(page.locator("#summary .status")).to_have_text("COMPLETED", timeout=WAIT_MS)
        expect(page.locator("#summary pre.prompt")).to_have_text(HOSTILE)
        expect(page.locator("#summary pre.result")).to_have_text(f"answer to {HOSTILE}")
        expect(page.locator('#trajectory [data-type="finished"] pre.result')).to_have_text(f"answer to {HOSTILE}")
        expect(page.locator("#conversation .role-user .text")).to_have_text(HOSTILE)
        page.locator("#summary a").first.click()  # the thread
        expect(page.locator("#messages .role-user .text")).to_have_text(HOSTILE)
        page.goto(f"{served.base_url}/#/tasks")
        expect(page.locator(f'#tasks tr[data-task-id="{task["id"]}"] .status')).to_have_text("COMPLETED")
        assert page.locator("main script, main img, main b").count() == 0
        assert (watched.dialogs, watched.errors) == ([], [])


def test_a_server_with_keys_asks_for_one_and_the_page_uses_it(browser: Browser, watched: Watched,
                                                              tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    _, key = create_key(db, "acme")
    server = start_server(db, log=tmp_path / "server.log")
    base_url = server.url
    page = watched.page
    try:
        task = json_of(server.client(key).post("/v1/tasks", json={"agent_id": "researcher", "prompt": "for acme"}))
        page.goto(base_url + "/")
        with screenshot_on_failure(page, tmp_path / "keys.png"):
            expect(page.locator("#notice")).to_have_text(
                "This server needs an API key: enter one above and press Save.")
            expect(page.locator("#api-key")).to_be_focused()
            page.fill("#api-key", "ll_000000000000_" + "x" * 43)
            page.press("#api-key", "Enter")
            expect(page.locator("#notice")).to_contain_text("The API key was refused")
            page.fill("#api-key", key)
            page.press("#api-key", "Enter")
            row = page.locator(f'#tasks tr[data-task-id="{task["id"]}"]')
            expect(row.locator(".status")).to_have_text("PENDING")
            expect(page.locator("#notice")).to_be_hidden()
            page.reload()  # the key is remembered
            row.locator("a").click()
            expect(page.locator('#trajectory [data-type="status"]')).to_contain_text("PENDING")
            expect(page.locator("#live")).to_have_text("live")  # the event stream is read with the key too
            page.click("#key-forget")
            expect(page.locator("#notice")).to_contain_text("needs an API key")
    finally:
        server.stop()


def test_the_trajectory_resumes_after_its_stream_drops_with_no_event_lost_or_repeated(
        served: Served, watched: Watched, tmp_path: Path) -> None:
    """The server the page reads from is killed mid-task and started again on the same port (servers
    hold no state): the page reconnects with Last-Event-ID and shows every event once."""
    server = start_server(served.db, log=tmp_path / "server.log")
    base_url = server.url
    page = watched.page
    gate = tmp_path / "go"
    try:
        task = served.create(f"wait for the gate until={gate}")
        page.goto(f"{base_url}/#/tasks/{task['id']}")
        with screenshot_on_failure(page, tmp_path / "resume.png"):
            expect(page.locator('#trajectory [data-type="step"]')).to_have_count(1, timeout=WAIT_MS)
            expect(page.locator("#summary")).to_contain_text("calling lookup")  # the tool waits for the gate
            expect(page.locator("#live")).to_have_text("live")
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            expect(page.locator("#live")).to_have_text("reconnecting", timeout=WAIT_MS)
            server = start_server(served.db, log=tmp_path / "server.log", port=int(base_url.rsplit(":", 1)[1]))
            gate.touch()
            expect(page.locator("#summary .status")).to_have_text("COMPLETED", timeout=WAIT_MS)
            expect(page.locator("#live")).to_have_text("finished")
            assert trajectory(page) == listed(served.events(task["id"]))
            assert watched.errors == []
    finally:
        server.stop()
