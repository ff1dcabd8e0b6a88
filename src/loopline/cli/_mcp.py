"""The `mcp serve` command: serve an agent defined in a Python file as an MCP tool (`loopline.mcp`).

The file is loaded, and the model chosen, as `loopline run` does. Over stdio (the default) stdout is the
protocol's channel, so whatever the file and its tools print goes to stderr; `--http` serves streamable
HTTP at `http://HOST:PORT/mcp` instead. The `mcp` package is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from ..store import Store
from ._commands import Subcommands
from ._run import Outcome, agent_from_file

__all__ = ["add_mcp"]


def add_mcp(commands: Subcommands) -> None:
    """Register `mcp serve` on the top-level subparsers."""
    mcp = commands.add_parser("mcp", help="serve an agent over MCP (Model Context Protocol)",
                              description="Serve an agent to MCP clients.")
    actions = mcp.add_subparsers(dest="action", required=True, metavar="ACTION")
    parser = actions.add_parser(
        "serve", help="serve the agent NAME in the file PATH as an MCP tool",
        description="Load the Python file PATH and serve the Agent named NAME in it as one MCP tool (named after "
                    "the agent, described by its instructions) that takes a prompt and an optional thread_id and "
                    "returns the execution's result with its execution and thread ids. Serves stdio by default, "
                    "streamable HTTP at http://HOST:PORT/mcp with --http. A client that cancels its call cancels "
                    "the execution.")
    parser.add_argument("target", metavar="PATH.py:NAME", help="the Python file and the name of the Agent in it")
    parser.add_argument("--model", metavar="MODEL",
                        help="the model, such as openai:gpt-4o (default: the file's MODEL, else $LOOPLINE_MODEL)")
    parser.add_argument("--db", metavar="LOCATION", default=argparse.SUPPRESS,
                        help="the store of agents created without store=: a SQLite file (created if missing), "
                             ":memory: or a postgresql:// URL (default: $LOOPLINE_DB, else the user data file)")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="the address with --http (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="the port with --http (default: %(default)s)")
    parser.set_defaults(runner=serve)
    tasks = actions.add_parser(
        "tasks", help="serve the task API (tasks for agents and executors, run by workers) as MCP tools",
        description="Serve loopline's tasks to MCP clients: create_task (an agent's prompt or an executor's "
                    "inputs, optionally waiting for the end), get_task, cancel_task and list_executors, on the "
                    "database the workers use. Serves stdio by default, streamable HTTP with --http.")
    tasks.add_argument("--db", metavar="LOCATION", default=argparse.SUPPRESS,
                       help="the tasks' database: a SQLite file or a postgresql:// URL (default: $LOOPLINE_DB, "
                            "else the user data file)")
    tasks.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    tasks.add_argument("--host", default="127.0.0.1", help="the address with --http (default: %(default)s)")
    tasks.add_argument("--port", type=int, default=8000, help="the port with --http (default: %(default)s)")
    tasks.set_defaults(runner=serve_tasks)


def serve(args: argparse.Namespace, store: Store | None) -> Outcome:
    """Load the agent and serve it until the client goes away (stdio) or the process is stopped (HTTP)."""
    stdout = sys.stdout
    with agent_from_file(args, store, quiet=not args.http) as (agent, model):
        from ..mcp import serve_agent

        # The SDK takes stdout for the protocol and points file descriptor 1 at stderr while it serves, so
        # that tools' prints (their subprocesses' too) miss the wire; loading printed to stderr already.
        try:
            with contextlib.redirect_stdout(stdout):
                serve_agent(agent, model, transport="http" if args.http else "stdio", host=args.host, port=args.port)
        except KeyboardInterrupt:
            return Outcome(130)
    return Outcome(0)


def serve_tasks(args: argparse.Namespace, store: Store | None) -> Outcome:
    """Serve the task API of the database until the client goes away (stdio) or the process is stopped (HTTP)."""
    from ..mcp import serve, tasks_server
    from ..tasks import Tasks

    server = tasks_server(Tasks(store=store) if store is not None else Tasks())
    try:
        serve(server, transport="http" if args.http else "stdio", host=args.host, port=args.port)
    except KeyboardInterrupt:
        return Outcome(130)
    return Outcome(0)
