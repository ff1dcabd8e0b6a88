"""A program that ran agents on clients built from the environment ends quietly: those clients are
closed and let go at exit, before the interpreter clears the modules the SDK's finaliser reads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Builds the environment's sync and async clients (each run is refused after its client was built and
# checked: the input is not one), and passes a client of its own to a third run. httpx2's client module
# is kept to the end of the interpreter's teardown from `sys`, as a long process (a full test session)
# may keep it: it is then cleared before loopline's, whose cached clients were freed only at that point.
PROGRAM = textwrap.dedent("""
    import asyncio, atexit, os, sys

    os.environ["OPENAI_API_KEY"] = "x"
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"

    from loopline import Agent
    from loopline.errors import InvalidInputError

    agent = Agent(name="researcher")
    runs = [lambda: agent.run(object(), model="gpt-4o"),
            lambda: asyncio.run(agent.arun(object(), model="gpt-4o"))]
    for run in runs:
        try:
            run()
        except InvalidInputError:
            print("refused")

    import openai
    import httpx2._client

    own = openai.OpenAI(api_key="x", base_url="http://127.0.0.1:9/v1")
    atexit.register(lambda: print("own client closed:", own.is_closed()))  # runs after loopline's
    try:
        agent.run(object(), model="gpt-4o", client=own)
    except InvalidInputError:
        print("refused")
    sys.keep_until_teardown = httpx2._client
""")


def test_a_program_that_built_clients_from_the_environment_exits_without_exceptions_ignored() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == ["refused", "refused", "refused", "own client closed: False", ""]
    assert "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr == ""
