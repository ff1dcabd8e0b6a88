"""`loopline run PATH.py:NAME QUESTION`: an agent file in tmp_path, run by the command line.

Each agent file carries its own scripted model (`SCRIPTED` below: the public `Model` protocol, and
`stream` yielding Chat Completions chunk dicts), so nothing touches the network. Executions go to a
SQLite file in tmp_path (`--db`); the ids the store made are read back from it and replaced by fixed
stand-ins, so whole outputs are compared.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from loopline import ExecutionStatus, SQLiteStore
from loopline.cli import main

SCRIPTED = '''\
import json
import time

from loopline import Agent, InMemoryStore, LLMProvider, tool


class ScriptedModel:
    """Answers turn by turn (the turn is the number of assistant messages in the request): each turn a
    dict of text, reasoning, calls [(id, name, arguments)], refusal, usage (in, out), and what to do
    after the text streamed ("interrupt": raise KeyboardInterrupt; "sleep": seconds)."""

    provider = LLMProvider.OPEN_AI

    def __init__(self, turns, name="gpt-4o-mini"):
        self.turns, self.name = turns, name

    def _turn(self, request):
        return self.turns[sum(1 for m in request["messages"] if m.get("role") == "assistant")]

    def complete(self, request):
        turn = self._turn(request)
        if turn.get("interrupt"):
            raise KeyboardInterrupt
        message = {"role": "assistant", "content": turn.get("text"), "refusal": turn.get("refusal")}
        if turn.get("reasoning"):
            message["reasoning_content"] = turn["reasoning"]
        if turn.get("calls"):
            message["tool_calls"] = [{"id": i, "type": "function",
                                      "function": {"name": n, "arguments": json.dumps(a, ensure_ascii=False)}}
                                     for i, n, a in turn["calls"]]
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": self.name,
                "choices": [{"index": 0, "message": message, "finish_reason": _reason(turn)}],
                "usage": _usage(turn)}

    async def acomplete(self, request):
        return self.complete(request)

    def stream(self, request):
        turn = self._turn(request)
        head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": self.name}

        def chunk(delta, finish=None):
            return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        for key, field in (("reasoning", "reasoning_content"), ("text", "content"), ("refusal", "refusal")):
            value = turn.get(key) or ""
            for piece in (value[: len(value) // 2], value[len(value) // 2:]) if value else ():
                yield chunk({field: piece})
        if turn.get("interrupt"):
            raise KeyboardInterrupt
        if turn.get("sleep"):
            time.sleep(turn["sleep"])
        for k, (i, n, a) in enumerate(turn.get("calls", [])):
            arguments = json.dumps(a, ensure_ascii=False)
            yield chunk({"tool_calls": [{"index": k, "id": i, "type": "function",
                                         "function": {"name": n, "arguments": arguments[:5]}}]})
            yield chunk({"tool_calls": [{"index": k, "function": {"arguments": arguments[5:]}}]})
        yield chunk({}, _reason(turn))
        yield {**head, "choices": [], "usage": _usage(turn)}

    async def astream(self, request):
        for event in self.stream(request):
            yield event


def _reason(turn):
    return "tool_calls" if turn.get("calls") else "stop"


def _usage(turn):
    prompt, completion = turn.get("usage", (1000, 100))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


'''

WEATHER = '''\
@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    if city == "Atlantis":
        raise ValueError("no weather service there")
    return "3°C, cloudy"


MODEL = ScriptedModel([
    {"text": "Let me check.", "calls": [("call_1", "get_weather", {"city": "Oslo"}),
                                        ("call_2", "get_weather", {"city": "Atlantis"})]},
    {"calls": [("call_3", "finish", {"result": "Oslo: 3°C, cloudy", "is_success": True})]},
])
agent = Agent("weather", tools=[get_weather])
'''

EXE = "exe_000000000000000000000001"
THR = "thr_000000000000000000000001"


def write_agent(tmp_path: Path, body: str, name: str = "agent.py") -> Path:
    path = tmp_path / name
    path.write_text(SCRIPTED + textwrap.dedent(body), encoding="utf-8")
    return path


def stable(db: Path, text: str) -> str:
    """`text` with the ids of the store's only execution (and its thread) replaced by EXE and THR."""
    store = SQLiteStore(db)
    try:
        executions = list(store.list_executions())
    finally:
        store.close()
    if not executions:
        return text
    [execution] = executions
    return text.replace(execution.id, EXE).replace(execution.thread_id, THR)


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str, *argv: str,
        question: str = "Weather in Oslo?") -> tuple[int, str, str]:
    """`loopline run TARGET QUESTION ARGV... --db tmp_path/run.db` in this process, ids made stable."""
    db = tmp_path / "run.db"
    status = main(["run", target, question, *argv, "--db", str(db)])
    out, err = capsys.readouterr()
    return status, stable(db, out), stable(db, err)


def started(tmp_path: Path) -> int:
    """How many executions `run.db` holds (0 when there is no such file)."""
    if not (tmp_path / "run.db").exists():
        return 0
    store = SQLiteStore(tmp_path / "run.db")
    try:
        return len(store.list_executions())
    finally:
        store.close()


def stored(tmp_path: Path) -> tuple[ExecutionStatus, int]:
    """The status of the store's only execution and the length of its thread."""
    store = SQLiteStore(tmp_path / "run.db")
    try:
        [execution] = store.list_executions()
        return execution.status, len(store.get_messages(execution.thread_id))
    finally:
        store.close()


def summary(status: str, result: str, *more: str, steps: int = 2, tokens: str = "2200 (2000 in, 200 out)",
            cost: str = "0.000420") -> str:
    return "\n".join([f"status     {status}", f"result     {result}", *more, f"steps      {steps}",
                      f"tokens     {tokens}", f"cost       ${cost}", f"execution  {EXE}", f"thread     {THR}", ""])


# --- completed runs -------------------------------------------------------------------------------------


WEATHER_PROGRESS = """\
Let me check.
[call] get_weather({"city": "Oslo"})
[call] get_weather({"city": "Atlantis"})
[result] get_weather -> 3°C, cloudy
[result] get_weather -> [error] Error: tool 'get_weather' raised ValueError: no weather service there
[call] finish({"result": "Oslo: 3°C, cloudy", "is_success": true})
[result] finish -> Oslo: 3°C, cloudy
[status] COMPLETED

"""


def test_streams_progress_then_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER)
    assert run(capsys, tmp_path, f"{path}:agent") == (
        0, WEATHER_PROGRESS + summary("COMPLETED", "Oslo: 3°C, cloudy"), "")
    assert stored(tmp_path) == (ExecutionStatus.COMPLETED, 5)


def _usage(input_tokens: int, output_tokens: int, requests: int) -> dict[str, int]:
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": 0, "reasoning_tokens": 0,
            "cache_write_tokens": 0, "requests": requests, "total_tokens": input_tokens + output_tokens}


def test_json_prints_one_event_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER)
    status, out, err = run(capsys, tmp_path, f"{path}:agent", "--json")
    assert (status, err) == (0, "")
    events = [json.loads(line) for line in out.splitlines()]
    durations = [e.pop("duration") for e in events if e["type"] == "tool_result"]
    assert all(isinstance(d, float) and d >= 0 for d in durations)
    first, total = _usage(1000, 100, 1), _usage(2000, 200, 2)
    finish_args = '{"result": "Oslo: 3°C, cloudy", "is_success": true}'
    assert events == [
        {"type": "started", "execution_id": EXE, "thread_id": THR, "agent": "weather", "model": "gpt-4o-mini",
         "provider": "openai"},
        {"type": "text", "text": "Let me"},
        {"type": "text", "text": " check."},
        {"type": "tool_call_start", "index": 0, "id": "call_1", "name": "get_weather"},
        {"type": "tool_call_delta", "index": 0, "arguments": '{"cit'},
        {"type": "tool_call_delta", "index": 0, "arguments": 'y": "Oslo"}'},
        {"type": "tool_call_start", "index": 1, "id": "call_2", "name": "get_weather"},
        {"type": "tool_call_delta", "index": 1, "arguments": '{"cit'},
        {"type": "tool_call_delta", "index": 1, "arguments": 'y": "Atlantis"}'},
        {"type": "tool_call_end", "index": 0, "id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "tool_call_end", "index": 1, "id": "call_2", "name": "get_weather",
         "arguments": '{"city": "Atlantis"}'},
        {"type": "usage", "usage": first, "total": first, "cost_usd": 0.00021},
        {"type": "tool_result", "tool_call_id": "call_1", "name": "get_weather", "content": "3°C, cloudy",
         "is_error": False},
        {"type": "tool_result", "tool_call_id": "call_2", "name": "get_weather",
         "content": "Error: tool 'get_weather' raised ValueError: no weather service there", "is_error": True},
        {"type": "tool_call_start", "index": 0, "id": "call_3", "name": "finish"},
        {"type": "tool_call_delta", "index": 0, "arguments": finish_args[:5]},
        {"type": "tool_call_delta", "index": 0, "arguments": finish_args[5:]},
        {"type": "tool_call_end", "index": 0, "id": "call_3", "name": "finish", "arguments": finish_args},
        {"type": "usage", "usage": first, "total": total, "cost_usd": 0.00042},
        {"type": "tool_result", "tool_call_id": "call_3", "name": "finish", "content": "Oslo: 3°C, cloudy",
         "is_error": False},
        {"type": "status", "status": "COMPLETED"},
        {"type": "finished", "status": "COMPLETED", "result": "Oslo: 3°C, cloudy", "error": None, "error_code": None,
         "execution_id": EXE, "thread_id": THR, "steps": 2, "usage": total, "cost_usd": 0.00042},
    ]


def test_no_stream_prints_the_summary_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER)
    assert run(capsys, tmp_path, f"{path}:agent", "--no-stream") == (0, summary("COMPLETED", "Oslo: 3°C, cloudy"), "")
    assert stored(tmp_path) == (ExecutionStatus.COMPLETED, 5)


def test_no_stream_json_prints_the_start_and_the_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER)
    status, out, err = run(capsys, tmp_path, f"{path}:agent", "--no-stream", "--json")
    assert (status, err) == (0, "")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"type": "started", "execution_id": EXE, "thread_id": THR, "agent": "weather", "model": "gpt-4o-mini",
         "provider": "openai"},
        {"type": "finished", "status": "COMPLETED", "result": "Oslo: 3°C, cloudy", "error": None, "error_code": None,
         "execution_id": EXE, "thread_id": THR, "steps": 2, "usage": _usage(2000, 200, 2), "cost_usd": 0.00042},
    ]


def test_a_text_answer_with_reasoning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, """\
        MODEL = ScriptedModel([{"reasoning": "Oslo is north.", "text": "Cold.\\nAnd cloudy.", "usage": (10, 5)}],
                              name="some-local-model")
        agent = Agent("weather")
        """)
    assert run(capsys, tmp_path, f"{path}:agent") == (0, """\
[reasoning] Oslo is north.
Cold.
And cloudy.
[status] COMPLETED

""" + summary("COMPLETED", "Cold.", "           And cloudy.", steps=1, tokens="15 (10 in, 5 out)", cost="0.000000"), "")


# --- executions that do not complete --------------------------------------------------------------------


def test_a_refusal_fails_the_execution_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, """\
        MODEL = ScriptedModel([{"refusal": "I can't help with that."}])
        agent = Agent("weather")
        """)
    assert run(capsys, tmp_path, f"{path}:agent") == (1, "[status] FAILED\n\n" + summary(
        "FAILED", "-", "error      refusal: the model refused: I can't help with that.", steps=1,
        tokens="1100 (1000 in, 100 out)", cost="0.000210"),
        f"loopline: error: execution {EXE} failed (refusal): the model refused: I can't help with that.\n")
    assert stored(tmp_path) == (ExecutionStatus.FAILED, 2)


def test_a_call_awaiting_approval_pauses_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, """\
        @tool(requires_approval=True)
        def delete_file(path: str) -> str:
            \"\"\"Delete a file.\"\"\"
            raise AssertionError("never approved")

        MODEL = ScriptedModel([{"calls": [("call_1", "delete_file", {"path": "notes.txt"})]}])
        agent = Agent("janitor", tools=[delete_file])
        """)
    assert run(capsys, tmp_path, f"{path}:agent", question="Tidy up.") == (1, """\
[call] delete_file({"path": "notes.txt"})
[status] PAUSED

""" + summary("PAUSED", "-", 'awaiting   approval: delete_file({"path": "notes.txt"})', steps=1,
              tokens="1100 (1000 in, 100 out)", cost="0.000210"),
        f"loopline: error: execution {EXE} paused: tool calls await approval; decide them in Python "
        "(Agent.resume, then approve, reject or rerun_tool_calls, then run)\n")
    assert stored(tmp_path) == (ExecutionStatus.PAUSED, 2)


def test_ctrl_c_cancels_the_execution_and_exits_130(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER.replace('{"calls": [("call_3"', '{"text": "Oslo is", "interrupt": True, '
                                                                       '"calls": [("call_3"'))
    assert run(capsys, tmp_path, f"{path}:agent") == (130, """\
Let me check.
[call] get_weather({"city": "Oslo"})
[call] get_weather({"city": "Atlantis"})
[result] get_weather -> 3°C, cloudy
[result] get_weather -> [error] Error: tool 'get_weather' raised ValueError: no weather service there
Oslo is
[status] CANCELLED

""" + summary("CANCELLED", "-", steps=1, tokens="1100 (1000 in, 100 out)", cost="0.000210"),
        f"loopline: error: interrupted: execution {EXE} CANCELLED\n")
    assert stored(tmp_path) == (ExecutionStatus.CANCELLED, 3)


def test_ctrl_c_with_json_ends_with_the_cancelled_execution(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, """\
        MODEL = ScriptedModel([{"text": "Thinking", "interrupt": True}])
        agent = Agent("weather")
        """)
    status, out, err = run(capsys, tmp_path, f"{path}:agent", "--json")
    assert (status, err) == (130, f"loopline: error: interrupted: execution {EXE} CANCELLED\n")
    assert [json.loads(line) for line in out.splitlines()][1:] == [
        {"type": "text", "text": "Thin"},
        {"type": "text", "text": "king"},
        {"type": "status", "status": "CANCELLED"},
        {"type": "finished", "status": "CANCELLED", "result": None, "error": None, "error_code": None,
         "execution_id": EXE, "thread_id": THR, "steps": 0, "usage": _usage(0, 0, 0), "cost_usd": 0.0},
    ]


def test_ctrl_c_without_streaming_prints_the_summary_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, """\
        MODEL = ScriptedModel([{"text": "Thinking", "interrupt": True}])
        agent = Agent("weather")
        """)
    assert run(capsys, tmp_path, f"{path}:agent", "--no-stream") == (
        130, summary("CANCELLED", "-", steps=0, tokens="0 (0 in, 0 out)", cost="0.000000"),
        f"loopline: error: interrupted: execution {EXE} CANCELLED\n")
    assert stored(tmp_path) == (ExecutionStatus.CANCELLED, 1)


# --- choosing the model ---------------------------------------------------------------------------------


def test_the_model_option_comes_first_then_model_then_the_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_agent(tmp_path, WEATHER)
    assert run(capsys, tmp_path, f"{path}:agent", "--model", "nonesuch:gpt-4o") == (
        2, "", "loopline: error: unknown llm_provider 'nonesuch'; known providers: " + _providers() + "\n")
    bare = write_agent(tmp_path, "agent = Agent('weather')\n", name="bare.py")
    monkeypatch.setenv("LOOPLINE_MODEL", "elsewhere:m")
    assert run(capsys, tmp_path, f"{bare}:agent") == (
        2, "", "loopline: error: unknown llm_provider 'elsewhere'; known providers: " + _providers() + "\n")
    monkeypatch.delenv("LOOPLINE_MODEL")
    assert run(capsys, tmp_path, f"{bare}:agent") == (
        2, "", f"loopline: error: no model to run with: pass --model (such as openai:gpt-4o), set MODEL in {bare}, "
               "or set LOOPLINE_MODEL\n")
    odd = write_agent(tmp_path, "MODEL = 42\nagent = Agent('weather')\n", name="odd.py")
    assert run(capsys, tmp_path, f"{odd}:agent") == (
        2, "", f"loopline: error: MODEL in {odd} is a int: make it a model name (such as 'openai:gpt-4o') or a "
               "loopline Model object\n")
    assert started(tmp_path) == 0


def _providers() -> str:
    from loopline import LLMProvider

    return ", ".join(p.value for p in LLMProvider)


def test_a_model_that_cannot_stream_runs_without_streaming(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER + "\n\nclass Plain:\n    provider, name = MODEL.provider, MODEL.name\n"
                                           "    complete, acomplete = MODEL.complete, MODEL.acomplete\n\n\n"
                                           "MODEL = Plain()\n")
    assert run(capsys, tmp_path, f"{path}:agent") == (
        0, summary("COMPLETED", "Oslo: 3°C, cloudy"),
        "loopline: note: Plain cannot stream (it has no stream/astream): running without streaming\n")


# --- the file and the agent in it -----------------------------------------------------------------------


@pytest.mark.parametrize(("target", "complaint"), [
    ("{path}:nope", "{path} has no attribute 'nope' (agents in it: agent, other)"),
    ("{path}:MODEL", "{path}:MODEL is a ScriptedModel, not a loopline Agent"),
    ("{path}:get_weather", "{path}:get_weather is a Tool, not a loopline Agent"),
    ("{tmp}/missing.py:agent", "no such file: {tmp}/missing.py"),
    ("{tmp}:agent", "not a file: {tmp}"),
    ("{path}", "expected PATH.py:NAME (a Python file and the name of an Agent in it), got '{path}'"),
    ("{path}:", "expected PATH.py:NAME (a Python file and the name of an Agent in it), got '{path}:'"),
    ("{tmp}/agent.txt:agent", "cannot load {tmp}/agent.txt as Python: give a .py file"),
])
def test_what_cannot_be_run_exits_2(target: str, complaint: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER + "other = Agent('other')\n")
    (tmp_path / "agent.txt").write_text("agent = None\n")
    values = {"path": str(path), "tmp": str(tmp_path)}
    assert run(capsys, tmp_path, target.format(**values)) == (2, "", f"loopline: error: {complaint.format(**values)}\n")
    assert started(tmp_path) == 0


def test_a_file_with_no_agent_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, "x = 1\n")
    assert run(capsys, tmp_path, f"{path}:agent") == (
        2, "", f"loopline: error: {path} has no attribute 'agent' (it defines no Agent)\n")


def test_a_file_that_raises_while_loading_exits_1_with_its_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.py"
    path.write_text('import os\n\nraise RuntimeError("set WEATHER_KEY first")\n')
    assert run(capsys, tmp_path, f"{path}:agent") == (1, "", f"""\
Traceback (most recent call last):
  File "{path}", line 3, in <module>
    raise RuntimeError("set WEATHER_KEY first")
RuntimeError: set WEATHER_KEY first
loopline: error: cannot load {path}: RuntimeError: set WEATHER_KEY first
""")
    path.write_text("agent = (\n")
    status, out, err = run(capsys, tmp_path, f"{path}:agent")
    assert (status, out) == (1, "")
    assert err.startswith(f'  File "{path}", line 1\n    agent = (\n')
    assert err.endswith(f"loopline: error: cannot load {path}: SyntaxError: '(' was never closed (broken.py, line 1)\n")


def test_the_file_imports_what_lies_beside_it_then_the_process_is_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    helper = f"weather_helpers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{helper}.py").write_text('FORECAST = "3°C, cloudy"\n', encoding="utf-8")
    path = write_agent(tmp_path, f"""\
        @tool
        def get_weather(city: str) -> str:
            \"\"\"The weather in a city.\"\"\"
            import {helper}  # imported while running, not only while loading
            return {helper}.FORECAST

        MODEL = ScriptedModel([
            {{"calls": [("call_1", "get_weather", {{"city": "Oslo"}})], "usage": (10, 5)}},
            {{"text": "3°C.", "usage": (10, 5)}},
        ])
        agent = Agent("weather", tools=[get_weather])
        """)
    path_before, modules_before = list(sys.path), set(sys.modules)
    environment = os.environ.get("LOOPLINE_DB")
    assert run(capsys, tmp_path, f"{path}:agent") == (0, """\
[call] get_weather({"city": "Oslo"})
[result] get_weather -> 3°C, cloudy
3°C.
[status] COMPLETED

""" + summary("COMPLETED", "3°C.", tokens="30 (20 in, 10 out)", cost="0.000009"), "")
    assert sys.path == path_before
    assert set(sys.modules) - modules_before == {helper}
    assert os.environ.get("LOOPLINE_DB") == environment
    del sys.modules[helper]


def test_db_may_come_before_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER)
    db = tmp_path / "run.db"
    assert main(["--db", str(db), "run", f"{path}:agent", "Weather in Oslo?", "--no-stream"]) == 0
    out, err = capsys.readouterr()
    assert (stable(db, out), err) == (summary("COMPLETED", "Oslo: 3°C, cloudy"), "")


def test_db_is_only_for_agents_created_without_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER.replace('Agent("weather", ', 'Agent("weather", store=InMemoryStore(), '))
    db = tmp_path / "run.db"
    assert main(["run", f"{path}:agent", "Weather in Oslo?", "--db", str(db), "--no-stream", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ("loopline: note: agent 'weather' was created with a store of its own (InMemoryStore); "
                   "--db does not apply to it\n")
    assert json.loads(out.splitlines()[-1])["status"] == "COMPLETED"
    assert db.exists()
    assert started(tmp_path) == 0


def test_json_keeps_stdout_for_the_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER.replace('    """The weather in a city."""\n',
                                                 '    """The weather in a city."""\n    print("looking up", city)\n')
                       + 'print("agent file loaded")\n')
    status, out, err = run(capsys, tmp_path, f"{path}:agent", "--json")
    assert status == 0
    assert err == "agent file loaded\nlooking up Oslo\nlooking up Atlantis\n"
    assert all(json.loads(line)["type"] for line in out.splitlines())


@pytest.mark.parametrize(("argv", "complaint"), [
    (["run"], "the following arguments are required: PATH.py:NAME, QUESTION"),
    (["run", "agent.py:agent"], "the following arguments are required: QUESTION"),
    (["run", "agent.py:agent", "q", "--stream"], "unrecognized arguments: --stream"),
])
def test_bad_arguments_exit_2(argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: loopline")
    assert complaint in err.splitlines()[-1]


def test_a_store_that_cannot_be_opened_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_agent(tmp_path, WEATHER)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database, just some text that is long enough to have a header " * 10)
    assert main(["run", f"{path}:agent", "q", "--db", str(junk)]) == 1
    assert capsys.readouterr() == ("", f"loopline: error: cannot open {junk}: SQLite database {junk} could not be "
                                       "opened (DatabaseError: file is not a database): the file is not a SQLite "
                                       "database, or is damaged or cut short: move it away (loopline then starts a "
                                       "new one there) or pass another path (the default store's is set by "
                                       "LOOPLINE_DB)\n")


# --- other processes ------------------------------------------------------------------------------------


def _cli(*argv: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "loopline.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", cwd=cwd,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def test_another_process_runs_the_agent_file(tmp_path: Path) -> None:
    write_agent(tmp_path, WEATHER)
    db = tmp_path / "run.db"
    process = _cli("run", "agent.py:agent", "Weather in Oslo?", "--db", str(db), cwd=tmp_path)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, stable(db, out), err) == (0, WEATHER_PROGRESS + summary("COMPLETED",
                                                                                         "Oslo: 3°C, cloudy"), "")
    assert stored(tmp_path) == (ExecutionStatus.COMPLETED, 5)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is POSIX")
def test_sigint_cancels_the_execution_in_another_process(tmp_path: Path) -> None:
    write_agent(tmp_path, """\
        MODEL = ScriptedModel([{"text": "Thinking", "sleep": 30}])
        agent = Agent("weather")
        """)
    db = tmp_path / "run.db"
    process = _cli("run", "agent.py:agent", "Weather in Oslo?", "--db", str(db), "--json", cwd=tmp_path)
    assert process.stdout is not None
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1] != {"type": "text", "text": "king"}:
        seen.append(json.loads(process.stdout.readline()))
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stable(db, err) == f"loopline: error: interrupted: execution {EXE} CANCELLED\n"
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["status", "finished"]
    assert json.loads(out.splitlines()[-1])["status"] == "CANCELLED"
    assert stored(tmp_path) == (ExecutionStatus.CANCELLED, 1)
