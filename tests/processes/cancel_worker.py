"""Cancel an execution while its tool runs, then wait to be killed (by the settle test).

    python cancel_worker.py DB_PATH READY_FILE

Claims last one second here (instead of a minute), so the test need not wait long for this process's
claim to lapse once it is killed.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import loopline.agent._claims as claims_module
from loopline import Agent, tool
from loopline.store import open_store

claims_module.CLAIM_SECONDS = 1.0


def main() -> None:
    db, ready = sys.argv[1:3]

    @tool
    def transfer(amount: int) -> str:
        """Move money."""
        Path(ready).write_text("in the tool\n")
        time.sleep(600)
        return "moved"

    agent = Agent("banker", tools=[transfer], store=open_store(db))
    agent.add_task(input="Move 5.")
    agent.add_messages([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_move", "type": "function", "function": {"name": "transfer", "arguments": '{"amount": 5}'}}]}])
    threading.Thread(target=agent.run_tools, args=(agent.pending_tool_calls,), daemon=True).start()
    while not Path(ready).exists():
        time.sleep(0.01)
    agent.cancel()
    print(agent.execution.id, flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
