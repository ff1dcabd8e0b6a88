"""Hold an execution, then wait to be killed (by the claim tests).

    python hold_worker.py LOCATION MODE READY_FILE [LEASE_SECONDS]

MODE `model` stops after `add_task`, as if a long model request were under way; MODE `tool` stops
inside a tool call (`wait_here`); MODE `drop` drops the agent after `add_task` and lives on. The
execution id and the thread id are printed, one a line, and READY_FILE is written once the process is
where it stays. With LEASE_SECONDS, claims last that long here (instead of 15 s), so a test can see
that the heartbeat keeps them for as long as the process lives.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

import loopline.agent._claims as claims_module
from loopline import Agent, tool
from loopline.store import Store, open_store

CALL = [{"role": "assistant", "content": None, "tool_calls": [
    {"id": "call_wait", "type": "function", "function": {"name": "wait_here", "arguments": '{"seconds": 600}'}}]}]
"""The model's response that calls the tool (as wire messages)."""


def make_holder(store: Store, on_call: Callable[[], None] = lambda: None) -> Agent:
    """The agent of these tests, in the process that dies and in the one that takes over."""

    @tool
    def wait_here(seconds: int) -> str:
        """Wait (not idempotent, so a resumed call waits for a decision)."""
        on_call()
        return f"waited {seconds}"

    return Agent("holder", tools=[wait_here], store=store)


def main() -> None:
    location, mode, ready = sys.argv[1:4]
    if len(sys.argv) > 4:
        claims_module.CLAIM_SECONDS = float(sys.argv[4])

    def stay() -> None:
        Path(ready).write_text("holding\n")
        time.sleep(600)

    agent = make_holder(open_store(location), on_call=stay)
    execution = agent.add_task(input="Wait here.")
    print(execution.id, execution.thread_id, sep="\n", flush=True)
    if mode == "drop":
        del agent
        gc.collect()
    if mode in ("model", "drop"):
        stay()
    agent.add_messages(CALL)
    agent.run_tools(agent.pending_tool_calls)


if __name__ == "__main__":
    main()
