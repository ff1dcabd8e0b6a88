"""Live progress of `run()`: off in scripts, a line on a terminal when asked, an updating display in Jupyter."""

from __future__ import annotations

import io
from typing import Any

import pytest

from loopline import Agent, ExecutionStatus, InMemoryStore, LLMProvider, tool
from loopline.agent import _progress
from loopline.testing import Reply, ScriptedModel, call, reply


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


def _three_steps(request: dict[str, Any]) -> Reply:
    done = sum(1 for m in request["messages"] if m.get("role") == "tool")
    answer = call("lookup", key=f"k{done}") if done < 2 else call("finish", result="ok", is_success=True)
    return reply(answer, input_tokens=100, output_tokens=10)


def ThreeSteps() -> ScriptedModel:
    """A model that looks up two keys, then finishes."""
    return ScriptedModel(_three_steps, provider=LLMProvider.OPEN_AI, name="gpt-4o-mini")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_script_shows_nothing_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    result = Agent("a", tools=[lookup], store=InMemoryStore()).run("go", model=ThreeSteps())
    assert result.status is ExecutionStatus.COMPLETED
    assert capsys.readouterr() == ("", "")
    assert _progress.progress_for(None) is None and _progress.progress_for(False) is None


def test_progress_true_writes_a_line_per_step_where_the_output_is_not_a_terminal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    Agent("a", tools=[lookup], store=InMemoryStore()).run("go", model=ThreeSteps(), progress=True)
    lines = err.getvalue().splitlines()
    # After each response and after each round of tool results.
    assert [tuple(line.split(" · ")[2:4]) for line in lines] == [
        ("step 0/50", "0 tool calls"), ("step 1/50", "0 tool calls"), ("step 1/50", "1 tool calls"),
        ("step 2/50", "1 tool calls"), ("step 2/50", "2 tool calls"), ("step 3/50", "2 tool calls"),
        ("step 3/50", "3 tool calls")]
    assert lines[-1].startswith("a · COMPLETED · step 3/50 · 3 tool calls · 330 tokens")


def test_on_a_terminal_the_line_is_rewritten_in_place_and_ends_with_a_newline() -> None:
    tty = Tty()
    shown = _progress.TerminalProgress(tty)
    agent = Agent("a", tools=[lookup], store=InMemoryStore())
    agent.add_task("go")
    from loopline.agent import _run

    _run.run(agent._state, agent, ThreeSteps(), shown)  # type: ignore[arg-type]
    out = tty.getvalue()
    assert out.count("\r") == 7 and out.endswith("\n") and out.count("\n") == 1
    assert "COMPLETED" in out.rsplit("\r", 1)[1]


async def test_arun_shows_progress_too(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    await Agent("a", tools=[lookup], store=InMemoryStore()).arun("go", model=ThreeSteps(), progress=True)
    assert "COMPLETED" in err.getvalue().splitlines()[-1]


def test_in_a_notebook_one_display_is_updated_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[str, str]] = []

    class Handle:
        def update(self, obj: Any) -> None:
            shown.append(("update", obj.data))

    def display(obj: Any, display_id: bool = False) -> Handle:
        assert display_id
        shown.append(("display", obj.data))
        return Handle()

    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", display)
    Agent("a", tools=[lookup], store=InMemoryStore()).run("go", model=ThreeSteps())  # on by default there
    assert shown[0][0] == "display" and all(kind == "update" for kind, _ in shown[1:])
    assert "COMPLETED" in shown[-1][1] and "<script" not in shown[-1][1]


def test_a_failed_run_shows_its_status() -> None:
    tty = Tty()
    agent = Agent("a", tools=[lookup], store=InMemoryStore())
    agent.add_task("go")
    from loopline.agent import _run

    broken = ScriptedModel([ConnectionError("no route")])
    result = _run.run(agent._state, agent, broken, _progress.TerminalProgress(tty))
    assert result.status is ExecutionStatus.FAILED and "FAILED" in tty.getvalue().rsplit("\r", 1)[1]


def test_an_agent_shows_its_execution_and_conversation_in_a_notebook() -> None:
    agent = Agent("a", tools=[lookup], store=InMemoryStore())
    assert "no task yet" in agent._repr_html_()
    agent.run("look <things> up", model=ThreeSteps())
    shown = agent._repr_html_()
    assert "COMPLETED" in shown and "look &lt;things&gt; up" in shown and shown.count("lookup") >= 2
