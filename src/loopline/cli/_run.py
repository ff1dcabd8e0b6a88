"""The `run` command: load an agent from a Python file and run one task through it, showing progress.

The file is loaded as a module of its own (a fresh, unique name on every load, so its
`if __name__ == "__main__":` block does not run), with its directory first on `sys.path` until the
command ends, so that it can import the modules beside it, then and from its tools. The store and the
model are chosen before the task starts; the task is given to `agent.stream()` (or `agent.run()` with
`--no-stream`, or when the model cannot stream), which check the model's client (its API key) before they
add it, so a run that cannot start leaves no execution and no thread behind; a printer from
`loopline.cli._progress` shows what happens. Ctrl-C cancels the execution.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import os
import re
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..agent import Agent, Finished, StatusChanged
from ..errors import LooplineError
from ..loop import Execution, ExecutionResult, ExecutionStatus
from ..providers import Model, StreamingModel, resolve_model
from ..store import Store, set_default_store
from ._commands import CommandError, Subcommands
from ._progress import HumanProgress, JsonProgress, Progress

__all__ = ["LoadError", "Outcome", "add_resume", "add_run", "agent_from_file", "resume_agent", "run_agent",
           "target_from_file"]

_PROG = "loopline"
_names = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended for the shell: the exit status, and the line to print on stderr (if any)."""

    status: int
    error: str | None = None


class LoadError(Exception):
    """The agent file raised while it was loaded (exit status 1); `detail` is its traceback."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def add_run(commands: Subcommands) -> None:
    """Register `run` on the top-level subparsers."""
    parser = commands.add_parser(
        "run", help="run a task through an agent defined in a Python file",
        description="Load the Python file PATH, take the Agent named NAME in it, and run QUESTION through it, "
                    "showing text, tool calls, tool results and status changes as they happen, then a summary. "
                    "Exit status: 0 when the execution completed, 1 when it failed, was cancelled or paused, "
                    "2 for a usage error, 130 after Ctrl-C (which cancels the execution).")
    parser.add_argument("target", metavar="PATH.py:NAME", help="the Python file and the name of the Agent in it")
    parser.add_argument("question", metavar="QUESTION", help="the task, sent to the agent as the user message")
    parser.add_argument("--model", metavar="MODEL",
                        help="the model, such as openai:gpt-4o or anthropic:claude-sonnet-4-5 (default: the file's "
                             "MODEL, a model name or a loopline Model object, else $LOOPLINE_MODEL)")
    parser.add_argument("--db", metavar="LOCATION", default=argparse.SUPPRESS,
                        help="the store of agents created without store=: a SQLite file (created if missing), "
                             ":memory: or a postgresql:// URL (default: $LOOPLINE_DB, else the user data file)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per event instead (see python -m pydoc loopline.cli)")
    parser.add_argument("--no-stream", dest="stream", action="store_false",
                        help="run without streaming and print the summary only")
    parser.set_defaults(runner=run_agent)


def add_resume(actions: Subcommands, common: argparse.ArgumentParser) -> None:
    """Register `executions resume` on the `executions` actions."""
    parser = actions.add_parser(
        "resume", parents=[common], help="continue an interrupted execution with an agent defined in a Python file",
        description="Reattach the execution ID (its process died, or it was stopped) to the Agent named NAME in the "
                    "Python file PATH (the same name and tools it ran with) and run it to its end, showing progress "
                    "as `loopline run` does. A call that was running when its process died pauses the execution "
                    "for a decision unless its tool is idempotent; then it stops with the decision needed. Exit "
                    "status as for `loopline run`.")
    parser.add_argument("execution_id", metavar="ID", help="the execution's id (exe_...)")
    parser.add_argument("target", metavar="PATH.py:NAME", help="the Python file and the name of the Agent in it")
    parser.add_argument("--model", metavar="MODEL", help="the model (as for `loopline run`: default the file's "
                                                         "MODEL, else $LOOPLINE_MODEL)")
    parser.add_argument("--no-stream", dest="stream", action="store_false",
                        help="run without streaming and print the summary only")
    parser.add_argument("--force", action="store_true",
                        help="take the execution even if a live process seems to hold it (only when you know it "
                             "is dead; a killed process on this host is seen to be gone without it)")
    parser.set_defaults(runner=resume_agent)


def run_agent(args: argparse.Namespace, store: Store | None) -> Outcome:
    """Load the agent, run the task, print progress; `store` (the open `--db`) becomes the default store.

    Raises `CommandError` or `UsageError` for what cannot be run as asked (exit status 2), `LoadError`
    when the file raises, and loopline's or SQLite's errors when the store or the model's client (no API
    key) fails before the task starts: then no execution and no thread are created.
    """
    return _with_agent(args, store, lambda agent: args.question)


def resume_agent(args: argparse.Namespace, store: Store | None) -> Outcome:
    """`run_agent` for `executions resume`: the agent resumes the execution instead of starting a task."""
    def begin(agent: Agent) -> None:
        agent.resume(args.execution_id, force=args.force)

    return _with_agent(args, store, begin)


def _with_agent(args: argparse.Namespace, store: Store | None, begin: Callable[[Agent], str | None]) -> Outcome:
    """Load the agent, pick the model, `begin` (which gives the task to start, or resumes an execution and
    gives `None`) and drive the execution to its end, printing progress."""
    out = sys.stdout
    progress: Progress = JsonProgress(out) if args.json else HumanProgress(out)
    try:
        # With --json, stdout carries only the events: whatever the file and its tools print goes to stderr.
        with agent_from_file(args, store, quiet=args.json) as (agent, model):
            streaming = args.stream and isinstance(model, StreamingModel)
            if args.stream and not streaming:
                _note(f"{type(model).__name__} cannot stream (it has no stream/astream): running without streaming")
            return _drive(agent, model, begin(agent), progress, stream=streaming)
    except KeyboardInterrupt:  # before the task existed: nothing to cancel
        return Outcome(130, "interrupted")


# --- loading --------------------------------------------------------------------------------------


@contextlib.contextmanager
def agent_from_file(args: argparse.Namespace, store: Store | None, *, quiet: bool) -> Iterator[tuple[Agent, Model]]:
    """The agent `args.target` names and the model it runs with (`args.model`, else the file's `MODEL`, else
    `LOOPLINE_MODEL`), while the file stays loaded and `store` (the open `--db`) is the default store;
    with `quiet`, whatever the file and its tools print goes to stderr (stdout carries the command's output)."""
    with target_from_file(args, store, quiet=quiet) as (module, path_text, name):
        agent = _find_agent(module, name, path_text)
        if store is not None and agent.store is not store:
            _note(f"agent {agent.name!r} was created with a store of its own ({type(agent.store).__name__}); "
                  "--db does not apply to it")
        yield agent, _choose_model(args.model, module, agent, path_text)


@contextlib.contextmanager
def target_from_file(args: argparse.Namespace, store: Store | None, *, quiet: bool,
                     name_optional: bool = False) -> Iterator[tuple[ModuleType, str, str]]:
    """The file `args.target` names, loaded (see `_loaded`), with the file's path as given and the NAME in
    it ("" for a bare PATH.py when `name_optional`), while `store` is the default store; with `quiet`, the
    file's prints go to stderr."""
    bare = name_optional and args.target.endswith(".py")
    path_text, name = (args.target, "") if bare else _split_target(args.target)
    path = _python_file(path_text)
    redirect = contextlib.redirect_stdout(sys.stderr) if quiet else contextlib.nullcontext()
    with redirect, _default_store(store, getattr(args, "db", None)), _loaded(path) as module:
        yield module, path_text, name


def _split_target(target: str) -> tuple[str, str]:
    path, colon, name = target.rpartition(":")
    if not colon or not path or not name.isidentifier():
        raise CommandError(f"expected PATH.py:NAME (a Python file and the name of an Agent in it), got {target!r}")
    return path, name


def _python_file(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if not path.exists():
        raise CommandError(f"no such file: {path_text}")
    if not path.is_file():
        raise CommandError(f"not a file: {path_text}")
    return path.resolve()


@contextlib.contextmanager
def _loaded(path: Path) -> Iterator[ModuleType]:
    """The file run as a fresh module; it stays in `sys.modules`, its directory on `sys.path`, until
    the command ends (its tools may import lazily, and pickling needs the module)."""
    stem = re.sub(r"\W", "_", path.stem)
    name = f"loopline_run_{stem}_{next(_names)}"
    while name in sys.modules:
        name = f"loopline_run_{stem}_{next(_names)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot load {path} as Python: give a .py file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            raise LoadError(f"cannot load {path}: {type(exc).__name__}: {exc}", _traceback(exc, path)) from None
        yield module
    finally:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _traceback(exc: BaseException, path: Path) -> str:
    """The traceback from the file's own first frame on (the loading machinery's frames are noise)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != str(path):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _find_agent(module: ModuleType, name: str, path_text: str) -> Agent:
    if not hasattr(module, name):
        agents = sorted(key for key, value in vars(module).items() if isinstance(value, Agent))
        hint = f"agents in it: {', '.join(agents)}" if agents else "it defines no Agent"
        raise CommandError(f"{path_text} has no attribute {name!r} ({hint})")
    found = getattr(module, name)
    if not isinstance(found, Agent):
        raise CommandError(f"{path_text}:{name} is a {type(found).__name__}, not a loopline Agent")
    return found


def _choose_model(given: str | None, module: ModuleType, agent: Agent, path_text: str) -> Model:
    """`--model`, else the file's `MODEL` (a name or a `Model` object), else `LOOPLINE_MODEL`."""
    chosen: Model | str
    declared = getattr(module, "MODEL", None)
    if given:
        chosen = given
    elif declared is not None:
        if not (isinstance(declared, str) and declared) and not isinstance(declared, Model):
            raise CommandError(f"MODEL in {path_text} is a {type(declared).__name__}: make it a model name "
                               "(such as 'openai:gpt-4o') or a loopline Model object")
        chosen = declared
    elif os.environ.get("LOOPLINE_MODEL"):
        chosen = os.environ["LOOPLINE_MODEL"]
    else:
        raise CommandError(f"no model to run with: pass --model (such as openai:gpt-4o), set MODEL in "
                           f"{path_text}, or set LOOPLINE_MODEL")
    return resolve_model(chosen, default_provider=agent.llm_provider)


@contextlib.contextmanager
def _default_store(store: Store | None, location: str | None) -> Iterator[None]:
    """`--db`: the process's default store (for agents created without `store=`) and `LOOPLINE_DB`
    (for processes the agent starts) while the command runs; both are put back afterwards."""
    if store is None or location is None:
        yield
        return
    previous = os.environ.get("LOOPLINE_DB")
    os.environ["LOOPLINE_DB"] = location
    set_default_store(store)
    try:
        yield
    finally:
        set_default_store(None)
        if previous is None:
            os.environ.pop("LOOPLINE_DB", None)
        else:
            os.environ["LOOPLINE_DB"] = previous


# --- running --------------------------------------------------------------------------------------


def _drive(agent: Agent, model: Model, task: str | None, progress: Progress, *, stream: bool) -> Outcome:
    """Run `task` (or, with `None`, the execution the agent has resumed) to its end. `run`/`stream` add the
    task only once the model's client is ready: an error before that (no API key) is the command's own,
    with nothing created; one after it stops the execution that exists."""
    try:
        result = _stream(agent, model, task, progress) if stream else _run(agent, model, task, progress)
    except KeyboardInterrupt:
        return _interrupted(agent, progress, stream=stream)
    except (LooplineError, sqlite3.Error) as exc:
        if agent.execution is None:
            raise
        return Outcome(1, f"execution {agent.execution.id} stopped: {exc}")
    progress.finished(result, agent.execution)
    return _outcome(result, agent.execution)


def _run(agent: Agent, model: Model, task: str | None, progress: Progress) -> ExecutionResult:
    """Without streaming nothing is shown while it runs: the start is announced when it ends, however it ends."""
    try:
        return agent.run(task, model=model)
    finally:
        _started(agent, model, progress)


def _stream(agent: Agent, model: Model, task: str | None, progress: Progress) -> ExecutionResult:
    events = agent.stream(task, model=model)  # checks the model and adds the task before it returns
    _started(agent, model, progress)
    try:
        for event in events:
            if isinstance(event, Finished):
                return event.result
            progress.event(event)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # an interrupted stream lets go of the model's connection now
    return agent.retrieve_execution_result()


def _started(agent: Agent, model: Model, progress: Progress) -> None:
    if agent.execution is not None:
        progress.started(agent.execution, model)


def _interrupted(agent: Agent, progress: Progress, *, stream: bool) -> Outcome:
    """Ctrl-C: cancel the execution (calls already running keep their place), show how it ended."""
    if agent.execution is None:  # before the task existed: nothing to cancel
        return Outcome(130, "interrupted")
    execution_id = agent.execution.id
    try:
        result = agent.cancel()
    except (LooplineError, sqlite3.Error) as exc:
        return Outcome(130, f"interrupted; cancelling execution {execution_id} failed: {exc}")
    if stream and result.status is ExecutionStatus.CANCELLED:
        progress.event(StatusChanged(result.status))
    progress.finished(result, agent.execution)
    return Outcome(130, f"interrupted: execution {execution_id} {result.status.value}")


def _outcome(result: ExecutionResult, execution: Execution | None) -> Outcome:
    name = f"execution {result.execution_id}"
    match result.status:
        case ExecutionStatus.COMPLETED:
            return Outcome(0)
        case ExecutionStatus.FAILED:
            code = f" ({result.error_code})" if result.error_code else ""
            return Outcome(1, f"{name} failed{code}: {result.error}")
        case ExecutionStatus.PAUSED:
            waiting = "approval" if execution is not None and execution.awaiting_approval else "a decision"
            return Outcome(1, f"{name} paused: tool calls await {waiting}; decide them in Python "
                              "(Agent.resume, then approve, reject or rerun_tool_calls, then run)")
        case _:
            return Outcome(1, f"{name} ended {result.status.value}")


def _note(text: str) -> None:
    print(f"{_PROG}: note: {text}", file=sys.stderr)
