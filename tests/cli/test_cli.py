"""The `loopline` command line against a SQLite file filled through the Store protocol.

The dataset is fixed: every message and execution carries its own id and time, and the store's clock
is held still while threads are made, so the outputs are compared whole. Thread ids are the store's
(random); outputs are compared after each is replaced by a stand-in of the same length, so the
columns line up exactly as they do for real ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from loopline.cli import main
from loopline.cli._main import _describe
from loopline.loop import Execution, ExecutionError, ExecutionStatus, execution_to_json
from loopline.messages import (
    FilePart,
    Message,
    OpaquePart,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
    message_to_dict,
)
from loopline.store import SQLiteStore, ToolCallRecord, set_default_store

T0 = 1_735_722_000.0  # 2025-01-01T09:00:00Z


# --- the dataset ------------------------------------------------------------------------------------


def _at(seconds: float) -> float:
    return T0 + seconds


QUESTION = Message(id="msg_question", created_at=_at(1), role="user",
                   parts=(TextPart(text="Is it warmer in Oslo or Rome?"),))
CALLS = Message(id="msg_calls", created_at=_at(2), role="assistant", parts=(
    ReasoningPart(text="Compare\n  both."),
    ToolCallPart(id="call_oslo", name="get_weather", arguments='{"city": "Oslo"}'),
    ToolCallPart(id="call_rome", name="get_weather", arguments='{"city": "Rome"}')))
RESULTS = Message(id="msg_results", created_at=_at(3), role="tool", parts=(
    ToolResultPart(tool_call_id="call_oslo", name="get_weather", content="3°C, cloudy"),
    ToolResultPart(tool_call_id="call_rome", name="get_weather", content="weather service timed out", is_error=True)))
ANSWER = Message(id="msg_answer", created_at=_at(4), role="assistant", parts=(TextPart(
    text="Rome is warmer: Oslo reports 3°C and, although Rome's report timed out, January in Rome averages "
         "about 12°C."),), usage=Usage(input_tokens=700, output_tokens=45, requests=1))
HANDOFF = Message(id="msg_handoff", created_at=_at(10), role="user", parts=(TextPart(text="Write it up in one line."),))
WRITTEN = Message(id="msg_written", created_at=_at(11), role="assistant", parts=(TextPart(text="Rome is warmer."),))
REPORT = Message(id="msg_report", created_at=_at(61), role="user", parts=(
    TextPart(text="Summarise this report."),
    FilePart(media_type="application/pdf", data="JVBERi0xLjQ=", filename="report.pdf")))
REFUSED = Message(id="msg_refused", created_at=_at(62), role="assistant", parts=(
    ReasoningPart(redacted=True, provider="anthropic", provider_details={"data": "EuYBCkQ"}),
    OpaquePart(provider="anthropic", data={"type": "server_tool_use", "id": "srvtoolu_1"}),
    RefusalPart(text="I can't summarise this document.")))

THREAD_A = "thr_aaaaaaaaaaaaaaaaaaaaaaaa"
THREAD_B = "thr_bbbbbbbbbbbbbbbbbbbbbbbb"
THREAD_C = "thr_cccccccccccccccccccccccc"
THREAD_D = "thr_dddddddddddddddddddddddd"


@dataclass
class Dataset:
    path: Path
    ids: dict[str, str]  # the store's thread id -> its stand-in
    executions: dict[str, Execution]

    def stable(self, text: str) -> str:
        for real, stand_in in self.ids.items():
            text = text.replace(real, stand_in)
        return text

    def real(self, stand_in: str) -> str:
        return next(real for real, s in self.ids.items() if s == stand_in)


def _history(*steps: tuple[ExecutionStatus, float]) -> list[tuple[ExecutionStatus, float]]:
    return [(status, _at(t)) for status, t in steps]


def _fill(store: SQLiteStore, clock: list[float]) -> tuple[dict[str, str], dict[str, Execution]]:
    clock[0] = _at(0)
    a = store.create_thread(metadata={"topic": "weather"})
    clock[0] = _at(5)
    research = Execution(
        id="exe_research", thread_id=a, agent_name="researcher", input="Is it warmer in Oslo or Rome?",
        status=ExecutionStatus.COMPLETED, created_at=_at(0.5), updated_at=_at(5), result="Rome",
        usage=Usage(input_tokens=1200, output_tokens=85, requests=2), steps=2, tool_calls=2,
        status_history=_history((ExecutionStatus.PENDING, 0.5), (ExecutionStatus.RUNNING, 1),
                                (ExecutionStatus.COMPLETED, 5)))
    store.commit(research, [QUESTION, CALLS, RESULTS, ANSWER], expected_length=0, tool_calls=[
        ToolCallRecord(execution_id="exe_research", tool_call_id="call_oslo", name="get_weather",
                       arguments='{"city": "Oslo"}', status="finished", started_at=_at(2.5), finished_at=_at(2.75),
                       result="3°C, cloudy", duration=0.25),
        ToolCallRecord(execution_id="exe_research", tool_call_id="call_rome", name="get_weather",
                       arguments='{"city": "Rome"}', status="finished", started_at=_at(2.5), finished_at=_at(3),
                       result="weather service timed out", is_error=True, duration=0.5)])
    clock[0] = _at(12)
    handoff = Execution(
        id="exe_handoff", thread_id=a, agent_name="writer", input="Write it up in one line.",
        status=ExecutionStatus.COMPLETED, created_at=_at(10), updated_at=_at(12), result="Rome is warmer.",
        usage=Usage(input_tokens=900, output_tokens=6, requests=1), steps=1, parent_execution_id="exe_research",
        status_history=_history((ExecutionStatus.PENDING, 10), (ExecutionStatus.COMPLETED, 12)))
    store.commit(handoff, [HANDOFF, WRITTEN], expected_length=4)
    clock[0] = _at(60)
    b = store.create_thread()
    clock[0] = _at(63)
    refused = Execution(
        id="exe_refused", thread_id=b, agent_name="writer", input="Summarise this report.",
        status=ExecutionStatus.FAILED, created_at=_at(60), updated_at=_at(63),
        error=ExecutionError(code="refusal", message="the model refused: I can't summarise this document."),
        usage=Usage(input_tokens=300, output_tokens=20, requests=1), steps=1,
        status_history=_history((ExecutionStatus.PENDING, 60), (ExecutionStatus.FAILED, 63)))
    store.commit(refused, [REPORT, REFUSED], expected_length=0)
    clock[0] = _at(120)
    c = store.fork_thread(a, upto=1)
    clock[0] = _at(121)
    followup = Execution(id="exe_followup", thread_id=c, agent_name="researcher", input="And Madrid?",
                         status=ExecutionStatus.RUNNING, created_at=_at(121),
                         status_history=_history((ExecutionStatus.PENDING, 121), (ExecutionStatus.RUNNING, 121)))
    store.commit(followup)
    clock[0] = _at(180)
    d = store.create_thread()
    ids = {a: THREAD_A, b: THREAD_B, c: THREAD_C, d: THREAD_D}
    return ids, {e.id: e for e in (research, handoff, refused, followup)}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    path = tmp_path_factory.mktemp("cli") / "loopline.db"
    clock = [T0]
    store = SQLiteStore(path)
    with mock.patch("time.time", lambda: clock[0]):
        ids, executions = _fill(store, clock)
    store.close()
    yield Dataset(path=path, ids=ids, executions=executions)


def run(data: Dataset, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`loopline --db FILE ARGV...` in this process: (exit status, stdout, stderr), ids made stable."""
    status = main(["--db", str(data.path), *argv])
    out, err = capsys.readouterr()
    return status, data.stable(out), data.stable(err)


def run_json(data: Dataset, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    status, out, err = run(data, capsys, *argv, "--json")
    assert (status, err) == (0, "")
    return json.loads(out)


def thread_json(stand_in: str, created: float, updated: float, length: int, metadata: dict[str, Any], *,
                parent: str | None = None) -> dict[str, Any]:
    return {"id": stand_in, "created_at": _at(created), "updated_at": _at(updated), "length": length,
            "metadata": metadata, "parent_thread_id": parent}


def stable_json(data: Dataset, value: Any) -> Any:
    return json.loads(data.stable(json.dumps(value)))


def execution_json(data: Dataset, execution_id: str) -> Any:
    return stable_json(data, json.loads(execution_to_json(data.executions[execution_id])))


MESSAGES_A = """\
messages (6)
  0  user       Is it warmer in Oslo or Rome?
  1  assistant  [reasoning] Compare both. | get_weather({"city": "Oslo"}) | get_weather({"city": "Rome"})
  2  tool       get_weather -> 3°C, cloudy | get_weather -> [error] weather service timed out
  3  assistant  Rome is warmer: Oslo reports 3°C and, although Rome's report timed out, Janua...
  4  user       Write it up in one line.
  5  assistant  Rome is warmer.
"""


# --- threads --------------------------------------------------------------------------------------


THREADS_TABLE = f"""\
ID                            CREATED               UPDATED               MESSAGES  PARENT
{THREAD_D}  2025-01-01T09:03:00Z  2025-01-01T09:03:00Z         0  -
{THREAD_C}  2025-01-01T09:02:00Z  2025-01-01T09:02:00Z         1  {THREAD_A}
{THREAD_B}  2025-01-01T09:01:00Z  2025-01-01T09:01:03Z         2  -
{THREAD_A}  2025-01-01T09:00:00Z  2025-01-01T09:00:12Z         6  -
"""

ALL_THREADS = [
    thread_json(THREAD_D, 180, 180, 0, {}),
    thread_json(THREAD_C, 120, 120, 1, {"topic": "weather"}, parent=THREAD_A),
    thread_json(THREAD_B, 60, 63, 2, {}),
    thread_json(THREAD_A, 0, 12, 6, {"topic": "weather"}),
]


def test_threads_list_prints_a_table_newest_first(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "threads", "list") == (0, THREADS_TABLE, "")


def test_threads_list_json(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(data, capsys, "threads", "list") == {"threads": ALL_THREADS, "next_cursor": None}


def test_threads_list_pages_with_the_cursor_it_prints(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_json(data, capsys, "threads", "list", "--limit", "3")
    cursor = first["next_cursor"]
    assert first == {"threads": ALL_THREADS[:3], "next_cursor": cursor}
    assert isinstance(cursor, str)
    table = THREADS_TABLE.splitlines()
    assert run(data, capsys, "threads", "list", "--limit", "3") == (
        0, "\n".join([*table[:4], "", f"next page: --cursor {cursor}", ""]), "")
    assert run_json(data, capsys, "threads", "list", "--limit", "3", "--cursor", cursor) == {
        "threads": ALL_THREADS[3:], "next_cursor": None}
    assert run(data, capsys, "threads", "list", "--cursor", cursor) == (0, "\n".join([table[0], table[4], ""]), "")


def test_threads_show_prints_the_fields_and_one_line_per_message(
        data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "threads", "show", data.real(THREAD_A)) == (0, f"""\
id        {THREAD_A}
created   2025-01-01T09:00:00Z
updated   2025-01-01T09:00:12Z
length    6
parent    -
metadata  {{"topic": "weather"}}

{MESSAGES_A}""", "")


def test_threads_show_renders_every_kind_of_part(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "threads", "show", data.real(THREAD_B)) == (0, f"""\
id        {THREAD_B}
created   2025-01-01T09:01:00Z
updated   2025-01-01T09:01:03Z
length    2
parent    -
metadata  -

messages (2)
  0  user       Summarise this report. | [file application/pdf report.pdf]
  1  assistant  [reasoning] (redacted) | [anthropic server_tool_use] | [refusal] I can't summarise this document.
""", "")


def test_threads_show_an_empty_fork(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "threads", "show", data.real(THREAD_D)) == (0, f"""\
id        {THREAD_D}
created   2025-01-01T09:03:00Z
updated   2025-01-01T09:03:00Z
length    0
parent    -
metadata  -

no messages
""", "")


def test_threads_show_json(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    shown = run_json(data, capsys, "threads", "show", data.real(THREAD_C))
    assert shown == {
        "thread": thread_json(THREAD_C, 120, 120, 1, {"topic": "weather"}, parent=THREAD_A),
        "messages": [{"role": "user", "parts": [{"text": "Is it warmer in Oslo or Rome?", "kind": "text"}],
                      "id": "msg_question", "created_at": _at(1), "schema_version": 1}],
    }
    whole = run_json(data, capsys, "threads", "show", data.real(THREAD_A))
    assert whole == {"thread": ALL_THREADS[3], "messages": [
        message_to_dict(m) for m in (QUESTION, CALLS, RESULTS, ANSWER, HANDOFF, WRITTEN)]}


# --- executions -----------------------------------------------------------------------------------


EXECUTIONS_TABLE = f"""\
ID            CREATED               STATUS     AGENT       STEPS  TOKENS  THREAD
exe_followup  2025-01-01T09:02:01Z  RUNNING    researcher      0       0  {THREAD_C}
exe_refused   2025-01-01T09:01:00Z  FAILED     writer          1     320  {THREAD_B}
exe_handoff   2025-01-01T09:00:10Z  COMPLETED  writer          1     906  {THREAD_A}
exe_research  2025-01-01T09:00:00Z  COMPLETED  researcher      2    1285  {THREAD_A}
"""


def test_executions_list_prints_a_table_newest_first(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "executions", "list") == (0, EXECUTIONS_TABLE, "")


def test_executions_list_filters(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "executions", "list", "--agent", "writer") == (0, f"""\
ID           CREATED               STATUS     AGENT   STEPS  TOKENS  THREAD
exe_refused  2025-01-01T09:01:00Z  FAILED     writer      1     320  {THREAD_B}
exe_handoff  2025-01-01T09:00:10Z  COMPLETED  writer      1     906  {THREAD_A}
""", "")
    assert run(data, capsys, "executions", "list", "--thread", data.real(THREAD_A)) == (0, f"""\
ID            CREATED               STATUS     AGENT       STEPS  TOKENS  THREAD
exe_handoff   2025-01-01T09:00:10Z  COMPLETED  writer          1     906  {THREAD_A}
exe_research  2025-01-01T09:00:00Z  COMPLETED  researcher      2    1285  {THREAD_A}
""", "")
    assert run(data, capsys, "executions", "list", "--status", "failed", "--agent", "writer") == (0, f"""\
ID           CREATED               STATUS  AGENT   STEPS  TOKENS  THREAD
exe_refused  2025-01-01T09:01:00Z  FAILED  writer      1     320  {THREAD_B}
""", "")
    assert run(data, capsys, "executions", "list", "--status", "PAUSED") == (0, "no executions\n", "")
    assert run(data, capsys, "executions", "list", "--status", "Completed", "--agent", "writer") == (0, f"""\
ID           CREATED               STATUS     AGENT   STEPS  TOKENS  THREAD
exe_handoff  2025-01-01T09:00:10Z  COMPLETED  writer      1     906  {THREAD_A}
""", "")


def test_executions_list_json_pages(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    order = ["exe_followup", "exe_refused", "exe_handoff", "exe_research"]
    first = run_json(data, capsys, "executions", "list", "--limit", "2")
    cursor = first["next_cursor"]
    assert isinstance(cursor, str)
    assert first == {"executions": [execution_json(data, i) for i in order[:2]], "next_cursor": cursor}
    assert run_json(data, capsys, "executions", "list", "--limit", "2", "--cursor", cursor) == {
        "executions": [execution_json(data, i) for i in order[2:]], "next_cursor": None}
    assert run(data, capsys, "executions", "list", "--limit", "2") == (0, f"""\
ID            CREATED               STATUS   AGENT       STEPS  TOKENS  THREAD
exe_followup  2025-01-01T09:02:01Z  RUNNING  researcher      0       0  {THREAD_C}
exe_refused   2025-01-01T09:01:00Z  FAILED   writer          1     320  {THREAD_B}

next page: --cursor {cursor}
""", "")
    table = EXECUTIONS_TABLE.splitlines()
    assert run(data, capsys, "executions", "list", "--cursor", cursor, "--agent", "researcher") == (
        0, "\n".join([table[0], table[4], ""]), "")


def test_executions_show_prints_fields_records_and_the_thread(
        data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "executions", "show", "exe_research") == (0, f"""\
id          exe_research
thread      {THREAD_A}
agent       researcher
status      COMPLETED
input       Is it warmer in Oslo or Rome?
created     2025-01-01T09:00:00Z
updated     2025-01-01T09:00:05Z
steps       2
tool calls  2
tokens      1285 (1200 in, 85 out)
result      "Rome"
error       -
parent      -
history     2025-01-01T09:00:00Z  PENDING
            2025-01-01T09:00:01Z  RUNNING
            2025-01-01T09:00:05Z  COMPLETED

tool call records (2)
  CALL       TOOL         STATUS    STARTED               SECONDS  ERROR
  call_oslo  get_weather  finished  2025-01-01T09:00:02Z     0.25
  call_rome  get_weather  finished  2025-01-01T09:00:02Z     0.50  yes

{MESSAGES_A}""", "")


def test_executions_show_a_failed_one(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "executions", "show", "exe_refused") == (0, f"""\
id          exe_refused
thread      {THREAD_B}
agent       writer
status      FAILED
input       Summarise this report.
created     2025-01-01T09:01:00Z
updated     2025-01-01T09:01:03Z
steps       1
tool calls  0
tokens      320 (300 in, 20 out)
result      -
error       refusal: the model refused: I can't summarise this document.
parent      -
history     2025-01-01T09:01:00Z  PENDING
            2025-01-01T09:01:03Z  FAILED

messages (2)
  0  user       Summarise this report. | [file application/pdf report.pdf]
  1  assistant  [reasoning] (redacted) | [anthropic server_tool_use] | [refusal] I can't summarise this document.
""", "")


def test_executions_show_json(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(data, capsys, "executions", "show", "exe_handoff") == {
        "execution": execution_json(data, "exe_handoff"),
        "tool_call_records": [],
        "messages": [message_to_dict(m) for m in (QUESTION, CALLS, RESULTS, ANSWER, HANDOFF, WRITTEN)],
    }
    assert run_json(data, capsys, "executions", "show", "exe_research") == research_json(data)


def research_json(data: Dataset) -> dict[str, Any]:
    """What `executions show exe_research --json` prints, ids made stable."""
    return {
        "execution": execution_json(data, "exe_research"),
        "tool_call_records": [
            {"execution_id": "exe_research", "tool_call_id": "call_oslo", "name": "get_weather",
             "arguments": '{"city": "Oslo"}', "status": "finished", "started_at": _at(2.5),
             "finished_at": _at(2.75), "result": "3°C, cloudy", "is_error": False, "duration": 0.25},
            {"execution_id": "exe_research", "tool_call_id": "call_rome", "name": "get_weather",
             "arguments": '{"city": "Rome"}', "status": "finished", "started_at": _at(2.5), "finished_at": _at(3),
             "result": "weather service timed out", "is_error": True, "duration": 0.5},
        ],
        "messages": [message_to_dict(m) for m in (QUESTION, CALLS, RESULTS, ANSWER, HANDOFF, WRITTEN)],
    }


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_ids_exit_2_with_one_line_on_stderr(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "threads", "show", "thr_missing") == (
        2, "", f"loopline: error: no thread with id 'thr_missing' in {data.path}\n")
    assert run(data, capsys, "executions", "show", "exe_missing", "--json") == (
        2, "", f"loopline: error: no execution with id 'exe_missing' in {data.path}\n")


def test_a_cursor_no_page_printed_exits_2(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(data, capsys, "executions", "list", "--cursor", "bogus") == (
        2, "", "loopline: error: not a loopline cursor: 'bogus' (use the cursor a previous page printed)\n")


def test_a_missing_database_file_is_refused_not_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "typo.db"
    assert main(["--db", str(missing), "threads", "list"]) == 2
    assert capsys.readouterr() == ("", f"loopline: error: no loopline database at {missing} (check --db)\n")
    assert not missing.exists()


def test_a_file_that_is_not_a_database_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database, just some text that is long enough to have a header " * 10)
    assert main(["--db", str(junk), "threads", "list"]) == 1
    assert capsys.readouterr() == ("", f"loopline: error: cannot read {junk}: SQLite database {junk} could not be "
                                       "opened (DatabaseError: file is not a database): the file is not a SQLite "
                                       "database, or is damaged or cut short: move it away (loopline then starts a "
                                       "new one there) or pass another path (the default store's is set by "
                                       "LOOPLINE_DB)\n")


@pytest.mark.parametrize(("argv", "complaint"), [
    ([], "the following arguments are required: COMMAND"),
    (["threads"], "the following arguments are required: ACTION"),
    (["threads", "show"], "the following arguments are required: ID"),
    (["threads", "list", "--limit", "0"], "argument --limit: must be 1 or more, got 0"),
    (["threads", "list", "--limit", "ten"], "argument --limit: not a whole number: 'ten'"),
    (["executions", "list", "--status", "done"],
     "argument --status: no status 'done': choose one of PENDING, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED"),
    (["threads", "delete", "thr_x"], "argument ACTION: invalid choice: 'delete'"),
])
def test_bad_arguments_exit_2(argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: loopline")
    assert complaint in err.splitlines()[-1]


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: loopline [-h] [--db LOCATION] COMMAND ...")


def test_db_may_follow_the_action(data: Dataset, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status = main(["--db", str(tmp_path / "ignored.db"), "threads", "list", "--db", str(data.path)])
    out, err = capsys.readouterr()
    assert (status, data.stable(out), err) == (0, THREADS_TABLE, "")


def test_a_server_that_cannot_be_reached_exits_1_without_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg")
    assert main(["--db", "postgresql://app:s3cret@127.0.0.1:1/loopline", "threads", "list"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("loopline: error: cannot open postgresql://app:***@127.0.0.1:1/loopline: ")
    assert len(err.splitlines()) == 1
    assert "s3cret" not in err


def test_urls_lose_their_password_in_messages() -> None:
    assert _describe("postgresql://app:s3cret@db.internal:5432/loopline") == (
        "postgresql://app:***@db.internal:5432/loopline")
    assert _describe("postgresql://db.internal/loopline") == "postgresql://db.internal/loopline"


# --- other processes ------------------------------------------------------------------------------


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loopline.cli", *argv], capture_output=True, text=True,
                          encoding="utf-8", env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
                          timeout=60, check=False)


def test_another_process_reads_what_this_one_wrote(data: Dataset) -> None:
    listed = _cli("--db", str(data.path), "threads", "list")
    assert (listed.returncode, data.stable(listed.stdout), listed.stderr) == (0, THREADS_TABLE, "")
    shown = _cli("executions", "show", "exe_research", "--json", env={"LOOPLINE_DB": str(data.path)})
    assert shown.returncode == 0, shown.stderr
    assert stable_json(data, json.loads(shown.stdout)) == research_json(data)
    missing = _cli("--db", str(data.path), "threads", "show", "thr_missing")
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2, "", f"loopline: error: no thread with id 'thr_missing' in {data.path}\n")



def test_without_db_the_default_store_is_read(data: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteStore(data.path)
    set_default_store(store)
    try:
        status = main(["threads", "list"])
    finally:
        set_default_store(None)
        store.close()
    out, err = capsys.readouterr()
    assert (status, data.stable(out), err) == (0, THREADS_TABLE, "")
