"""The `worker` and `tasks` commands: serve tasks from a Python file, and hand out and watch tasks.

`worker` loads the file as `loopline run` does and serves exactly what NAME names (an `@on_task`
handler or a function taking `task`, an `Agent`, or a list of Agents; nothing else in the file is
guessed at) with `loopline.workers.Events` until SIGINT or SIGTERM stops it gracefully. `tasks` uses
`loopline.tasks.Tasks` on the open store; it never runs a task itself. DBOS (the `tasks` extra) is
imported only when a worker starts or a task is queued or cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from ..agent import Agent
from ..errors import ConfigError, InvalidInputError, TaskTimeoutError
from ..loop import ExecutionStatus
from ..providers import Model
from ..store import Store
from ..tasks import Task, TaskEvent, Tasks
from ..tasks.engine import import_dbos
from ..workers import Events, TaskHandler, on_task
from . import _json, _render
from ._commands import CommandError, CommandFailed, Subcommands, _add_paging, _listing, _paged, _positive, _status
from ._run import Outcome, _choose_model, target_from_file

__all__ = ["add_tasks", "add_worker"]

_PROG = "loopline"
_OPTIONS = {"agent_id": "AGENT_ID", "prompt": "PROMPT", "file_urls": "--file-url", "thread_id": "--thread",
            "output_format": "--output-format", "output_schema": "--output-schema", "priority": "--priority",
            "idempotency_key": "--idempotency-key"}
"""The command-line spelling of each field `Tasks.create` names in its errors."""


# --- worker -----------------------------------------------------------------------------------------


def add_worker(commands: Subcommands) -> None:
    """Register `worker` on the top-level subparsers."""
    parser = commands.add_parser(
        "worker", help="run a worker that takes tasks for the agents or the handler in a Python file",
        description="Load the Python file PATH and serve what NAME names in it: an @on_task handler (or a function "
                    "taking `task`), an Agent, or a list of Agents (a task's agent id is an agent's name). Agents run "
                    "with --model, else the file's MODEL, else $LOOPLINE_MODEL. Runs until SIGINT or SIGTERM, which "
                    "stop it gracefully (running tasks get --grace seconds, then are handed back). Exit status: 0 "
                    "when stopped, 2 for a usage error (NAME, model, missing `tasks` extra), 1 when the file raised "
                    "while loading or the store failed; with --test, 1 when the test task FAILED.")
    parser.add_argument("target", metavar="PATH.py[:NAME]",
                        help="the Python file and the name of a handler, an Agent or a list of Agents in it; "
                             "without NAME, only the executors the file registers (@executor_register) are served "
                             "(with a NAME, they are served too)")
    parser.add_argument("--name", metavar="N", help="the worker's name; its executor id is HOST:N (default: worker-1, "
                                                    "worker-2, ...: the first no live worker on this host uses)")
    parser.add_argument("--model", metavar="MODEL",
                        help="the agents' model (default: the file's MODEL, else $LOOPLINE_MODEL)")
    parser.add_argument("--db", metavar="LOCATION", default=argparse.SUPPRESS,
                        help="the task database: a SQLite file (created if missing) or a postgresql:// URL "
                             "(default: $LOOPLINE_DB, else the user data file)")
    parser.add_argument("--base-url", metavar="URL",
                        help="a remote worker: take tasks from the loopline server at URL over server-sent events, "
                             "with the API key in $LOOPLINE_API_KEY, instead of from a database (default: "
                             "$LOOPLINE_BASE_URL when --db is not given)")
    parser.add_argument("--concurrency", type=_positive, default=8, metavar="N", help="tasks run at once (default 8)")
    parser.add_argument("--grace", type=_seconds, default=30.0, metavar="S",
                        help="on stop, seconds running tasks may take to finish before they are handed back "
                             "(default 30)")
    parser.add_argument("--agent-id", action="append", metavar="ID",
                        help="an agent id the handler serves (repeat it; default: every agent id)")
    parser.add_argument("--test", action="store_true",
                        help="run the handler's test_task once in this process (no worker, no engine), print its "
                             "result and exit")
    parser.add_argument("--json", action="store_true", help="with --test, print the task record as JSON")
    parser.set_defaults(runner=run_worker)


@dataclass(frozen=True, slots=True)
class _Served:
    """What NAME names: agents, or a handler."""

    agents: list[Agent]
    handler: TaskHandler | None


def run_worker(args: argparse.Namespace, store: Store | None) -> Outcome:
    """Load the file, then serve what NAME names until stopped (or, with `--test`, run the handler's test task)."""
    out = sys.stdout
    if args.json and not args.test:
        raise CommandError("--json goes with --test (a serving worker prints only its one line, on stderr)")
    remote = bool(args.base_url or (store is None and os.environ.get("LOOPLINE_BASE_URL")))
    if args.base_url and store is not None:
        raise CommandError("--base-url (a remote worker, fed by a server) and --db (a worker on a database) "
                           "exclude each other")
    if not args.test and not remote:
        import_dbos()  # a missing `tasks` extra is told before the file is loaded (a remote worker needs none)
    try:
        with target_from_file(args, store, quiet=args.json, name_optional=True) as (module, path_text, name):
            served = _served(module, name, path_text) if name else _Served([], None)
            if not name and (args.test or args.agent_id):
                raise CommandError("--test and --agent-id go with PATH.py:NAME (a handler)")
            if args.test:
                return _test(served, f"{path_text}:{name}", out, as_json=args.json)
            if args.agent_id and served.handler is None:
                raise CommandError(f"--agent-id names the agent ids a handler serves; {path_text}:{name} is agents, "
                                   "which serve their own names")
            model = _choose_model(args.model, module, served.agents[0], path_text) if served.agents else None
            events = Events(store=store, agents=served.agents, model=model, agent_ids=args.agent_id, name=args.name,
                            max_sync_workers=args.concurrency, grace_seconds=args.grace, base_url=args.base_url)
            events.handler = served.handler
            source = f" from {_shown(args.base_url or os.environ['LOOPLINE_BASE_URL'])}" if remote else ""
            asyncio.run(_serve(events, lambda: _announce(events, model, f"{path_text}:{name}", source)))
    except KeyboardInterrupt:  # before the worker took over the signals
        return Outcome(130, "interrupted")
    return Outcome(0)


def _served(module: ModuleType, name: str, path_text: str) -> _Served:
    """Agents or a handler, exactly as NAME names them; anything else is refused."""
    where = f"{path_text}:{name}"
    if not hasattr(module, name):
        raise CommandError(f"{path_text} has no attribute {name!r} ({_servable(module)})")
    found = getattr(module, name)
    if isinstance(found, Agent):
        return _Served([found], None)
    if isinstance(found, (list, tuple)):
        if not found:
            raise CommandError(f"{where} is an empty {type(found).__name__}: list the Agents to serve")
        for i, item in enumerate(found):
            if not isinstance(item, Agent):
                raise CommandError(f"{where}[{i}] is a {type(item).__name__}, not a loopline Agent")
        return _Served(list(found), None)
    if isinstance(found, TaskHandler):
        return _Served([], found)
    if inspect.isroutine(found):
        return _Served([], on_task(found))  # refused here if it takes no `task`
    raise CommandError(f"{where} is a {type(found).__name__}: name an @on_task handler (or a function taking "
                       "`task`), an Agent, or a list of Agents")


def _servable(module: ModuleType) -> str:
    found = sorted(key for key, value in vars(module).items() if not key.startswith("_") and (
        isinstance(value, (Agent, TaskHandler)) or _agent_list(value)))
    return f"what it can serve: {', '.join(found)}" if found else "it defines no Agent and no @on_task handler"


def _agent_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Agent) for v in value)


async def _serve(events: Events, announce: Callable[[], None]) -> None:
    async with events:  # returns once the worker takes tasks, or raises what stopped it starting
        announce()
        await events.wait()


def _shown(url: str) -> str:
    """A server's URL as a log line may show it: without any user name or password in it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _announce(events: Events, model: Model | None, where: str, source: str = "") -> None:
    """The one line a serving worker prints: its name, executor id and what it serves."""
    parts = []
    if events.agents:
        model_name = getattr(model, "name", None) or type(model).__name__
        parts.append(f"agents {', '.join(events.agents)} (model {model_name})")
    if events.handler is not None:
        ids = ", ".join(events.agent_ids) if events.agent_ids else "every agent id"
        parts.append(f"handler {where} for {ids}")
    if events.executors:
        parts.append(f"executors {', '.join(sorted(events.executors))}")
    print(f"{_PROG}: worker {events.name} (executor {events.executor_id}) serving {'; '.join(parts)}{source}",
          file=sys.stderr, flush=True)


def _test(served: _Served, where: str, out: TextIO, *, as_json: bool) -> Outcome:
    """`worker --test`: the handler's test task, run here; its result printed, exit 1 if it failed."""
    if served.handler is None:
        raise CommandError(f"--test runs a handler's test_task; {where} is agents, not an @on_task handler")
    task = served.handler.test()
    print(_json.dump(task.to_json()) if as_json else _value_text(task.result), file=out, flush=True)
    if task.status == ExecutionStatus.COMPLETED.value:
        return Outcome(0)
    error = task.error or {}
    if not as_json and error.get("traceback"):
        sys.stderr.write(error["traceback"])
    return Outcome(1, f"test task {task.status}: {error.get('type', 'error')}: {error.get('message', '')}")


# --- tasks ------------------------------------------------------------------------------------------


def add_tasks(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    """Register `tasks create`, `list`, `show`, `cancel` and `events` on the top-level subparsers."""
    group = commands.add_parser("tasks", help="hand tasks to workers, list them, show, cancel and follow one",
                                description="Tasks: work handed to the workers of an agent id (`loopline worker`).")
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_create(actions, common)
    listing = actions.add_parser("list", parents=[common], help="tasks, newest first")
    listing.add_argument("--agent-id", metavar="ID", help="only those for this agent id")
    listing.add_argument("--status", type=_status, metavar="STATUS",
                         help=f"only those in this status: {', '.join(ExecutionStatus)} (any case)")
    _add_paging(listing)
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", parents=[common], help="a task's fields, result and error")
    show.add_argument("task_id", metavar="ID", help="the task's id (task_...)")
    show.set_defaults(handler=_show)
    cancel = actions.add_parser(
        "cancel", parents=[common], help="cancel a task",
        description="Cancel the task: one not started, or PAUSED for a decision, ends CANCELLED at once (a paused "
                    "one's execution too); a running one is stopped by its worker at its next step. Exit status: 0 "
                    "when cancelled or asked to stop, 2 when it has already ended or does not exist.")
    cancel.add_argument("task_id", metavar="ID", help="the task's id (task_...)")
    cancel.set_defaults(handler=_cancel)
    events = actions.add_parser("events", parents=[common], help="a task's events, one a line",
                                description="Print the task's stored events numbered above --after; with --follow, "
                                            "then the new ones as they are written, until its `finished` event.")
    events.add_argument("task_id", metavar="ID", help="the task's id (task_...)")
    events.add_argument("--after", type=_whole, default=0, metavar="N",
                        help="only events numbered above N (to resume where a previous run stopped)")
    events.add_argument("--follow", action="store_true", help="keep printing new events until the task ends")
    events.set_defaults(handler=_events)


def _add_create(actions: Subcommands, common: argparse.ArgumentParser) -> None:
    create = actions.add_parser(
        "create", parents=[common], help="hand a task to the workers of an agent id",
        description="Create a task for AGENT_ID (an agent's name, or an id a handler serves) and print it. It waits "
                    "PENDING until a worker serving AGENT_ID takes it. With --wait, wait for it to end: exit status "
                    "1 if it did not complete (or the wait ran out).")
    create.add_argument("agent_id", metavar="AGENT_ID", help="the agent (or handler's agent id) that runs it")
    create.add_argument("prompt", metavar="PROMPT", help="the task, the user message of the agent's execution")
    create.add_argument("--thread", metavar="ID", help="continue this thread (its tasks run one at a time, in order)")
    create.add_argument("--file-url", action="append", default=[], metavar="URL", help="a file by URL (repeat it)")
    create.add_argument("--output-format", choices=("text", "markdown", "json"), default="text",
                        help="the result's format (default text)")
    create.add_argument("--output-schema", metavar="JSON_OR_@FILE",
                        help="with --output-format json: the JSON Schema the result must match, inline or @FILE")
    create.add_argument("--priority", type=int, default=0, metavar="N",
                        help="among tasks that start a thread, higher starts first (default 0)")
    create.add_argument("--config", metavar="JSON",
                        help='limits and settings (TaskConfig), e.g. \'{"max_steps": 5, "model": "openai:gpt-4o"}\'')
    create.add_argument("--idempotency-key", metavar="K", help="creating again with K returns the first task")
    create.add_argument("--require-worker", action="store_true",
                        help="refuse (exit status 2) when no live worker serves AGENT_ID, instead of queueing")
    create.add_argument("--wait", type=_seconds, nargs="?", const=math.inf, metavar="SECONDS",
                        help="wait for the task to end (at most SECONDS) and print it as `tasks show` does")
    create.set_defaults(handler=_create, creates=True)


def _create(store: Store, args: argparse.Namespace) -> str:
    tasks = Tasks(store=store)
    try:
        task = tasks.create(args.agent_id, args.prompt, file_urls=args.file_url, thread_id=args.thread,
                            output_format=args.output_format, priority=args.priority,
                            output_schema=_json_option("--output-schema", args.output_schema, files=True),
                            config=_json_option("--config", args.config), idempotency_key=args.idempotency_key,
                            require_worker=args.require_worker)
    except InvalidInputError as exc:
        raise CommandError(f"{_OPTIONS.get(exc.field.partition('[')[0], exc.field)}: {exc}") from None
    except ConfigError as exc:
        raise CommandError(f"--config: {exc}") from None
    if args.wait is None:
        if args.json:
            return _json.dump(task.to_json())
        return f"task {task.id} {task.status} (agent {task.agent_id}, thread {task.thread_id})"
    return _ended(_waited(task, args.wait), as_json=args.json)


def _waited(task: Task, seconds: float) -> Task:
    try:
        return task.wait(None if math.isinf(seconds) else seconds)
    except TaskTimeoutError as exc:
        raise CommandFailed(f"{exc}; follow it with `loopline tasks events {task.id} --follow`") from None
    except KeyboardInterrupt:
        raise CommandFailed(f"interrupted; task {task.id} goes on (`loopline tasks cancel {task.id}` stops it)",
                            status=130) from None


def _ended(task: Task, *, as_json: bool) -> str:
    """A task that ended: its text; status 1 (after the text) unless it COMPLETED."""
    text = _json.dump(task.to_json()) if as_json else "\n".join(_task_detail(task))
    if task.status != ExecutionStatus.COMPLETED.value:
        message = (task.error or {}).get("message")
        raise CommandFailed(f"task {task.id} ended {task.status}" + (f": {message}" if message else ""), output=text)
    return text


def _list(store: Store, args: argparse.Namespace) -> str:
    tasks = Tasks(store=store)
    page = _paged(lambda: tasks.list(agent_id=args.agent_id, status=args.status, limit=args.limit,
                                     cursor=args.cursor))
    if args.json:
        return _json.dump({"tasks": [t.to_json() for t in page], "next_cursor": page.next_cursor})
    rows = ([t.id, _render.timestamp(t.created_at), t.status, t.agent_id, _progress(t.progress), t.worker or "-",
             t.thread_id or "-"] for t in page)
    lines = _render.table(["ID", "CREATED", "STATUS", "AGENT", "PROGRESS", "WORKER", "THREAD"], rows,
                          right=["PROGRESS"]) if page else ["no tasks"]
    return _listing(lines, page)


def _show(store: Store, args: argparse.Namespace) -> str:
    task = Tasks(store=store).get(args.task_id)
    return _json.dump(task.to_json()) if args.json else "\n".join(_task_detail(task))


def _cancel(store: Store, args: argparse.Namespace) -> str:
    tasks = Tasks(store=store)
    task = tasks.get(args.task_id)
    if task.is_finished:
        raise CommandError(f"task {task.id} has already ended {task.status}: nothing to cancel")
    task = tasks.cancel(task.id)
    if args.json:
        return _json.dump(task.to_json())
    if task.status == ExecutionStatus.CANCELLED.value:
        return f"task {task.id} CANCELLED"
    return f"task {task.id} asked to stop: it is {task.status} on {task.worker or 'a worker'} and ends at its next step"


def _events(store: Store, args: argparse.Namespace) -> str:
    """Print each event as it comes (flushed, so a pipe sees it at once); returns what is left to print."""
    printed = 0
    try:
        for event in Tasks(store=store).events(args.task_id, after=args.after, follow=args.follow):
            print(_event_json(event) if args.json else _event_line(event), file=sys.stdout, flush=True)
            printed += 1
    except KeyboardInterrupt:
        raise CommandFailed("interrupted", status=130) from None
    return "" if printed or args.json else f"no events after {args.after}" if args.after else "no events"


# --- rendering --------------------------------------------------------------------------------------


def _task_detail(task: Task) -> list[str]:
    """`tasks show`: one field a line."""
    pairs = [("id", task.id), ("agent", task.agent_id), ("status", task.status),
             ("input", _render.clip(task.input.text, _render.TEXT_WIDTH) or "-"),
             *(("file", url) for url in task.input.file_urls),
             ("thread", task.thread_id or "-"), ("execution", task.execution_id or "-"), ("worker", task.worker or "-"),
             ("priority", str(task.priority)), ("format", task.output_format), ("progress", _progress(task.progress)),
             ("action", task.current_action or "-"), ("created", _render.timestamp(task.created_at)),
             ("started", _time(task.started_at)), ("finished", _time(task.finished_at)),
             ("result", _render.clip(_value_text(task.result), _render.RESULT_WIDTH)),
             ("error", _error_text(task.error))]
    config = task.config.to_json()
    if config:
        pairs.append(("config", json.dumps(config, ensure_ascii=False)))
    width = max(len(name) for name, _ in pairs)
    return [f"{name:<{width}}  {value}".rstrip() for name, value in pairs]


def _event_line(event: TaskEvent) -> str:
    """`tasks events`: number, time, type, and what happened, on one line."""
    data = dict(event.data)
    if event.type in ("status", "finished"):
        what = str(data.pop("status", ""))
        if event.type == "finished":
            what += f"  result {_render.clip(_value_text(data.get('result')), 80)}" if what == "COMPLETED" else \
                f"  {_error_text(data.get('error'))}"
            data = {}
        rest = " ".join(f"{k}={v}" for k, v in data.items())
        text = f"{what}  {rest}" if rest else what
    else:
        text = _render.clip(json.dumps(data, ensure_ascii=False, default=str), _render.RESULT_WIDTH)
    return f"{event.id:>4}  {_render.timestamp(event.created_at)}  {event.type:<16}  {text}".rstrip()


def _event_json(event: TaskEvent) -> str:
    return json.dumps({"id": event.id, "task_id": event.task_id, "type": event.type, "data": event.data,
                       "created_at": event.created_at}, ensure_ascii=False)


def _value_text(value: Any) -> str:
    """A result as text: text as it is, anything else as JSON, `-` for none."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return "-"
    return f"{error.get('type') or error.get('code') or 'error'}: {error.get('message', '')}"


def _progress(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _time(when: float | None) -> str:
    return "-" if when is None else _render.timestamp(when)


# --- parsing ----------------------------------------------------------------------------------------


def _json_option(option: str, text: str | None, *, files: bool = False) -> dict[str, Any] | None:
    """A JSON object given inline (or, with `files`, as @FILE)."""
    if text is None:
        return None
    if files and text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{option}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CommandError(f"{option}: takes a JSON object, got {type(value).__name__}")
    return value


def _not_negative(kind: Callable[[str], float], what: str) -> Callable[[str], Any]:
    """An argparse type: `kind(text)`, 0 or more."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not value >= 0:  # NaN too
            raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
        return value

    return parse


_seconds = _not_negative(float, "a number of seconds")
_whole = _not_negative(int, "a whole number")
