"""Run an agent until it is inside a tool call, then wait to be killed (by the crash test).

    python crash_worker.py DB_PATH EFFECTS_FILE READY_FILE TOOL

TOOL is `charge` (not idempotent) or `lookup` (idempotent). The model is scripted: one response that
calls TOOL. The tool records its side effect under its idempotency key, signals READY_FILE, and
sleeps until the process is killed with SIGKILL.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crash_agent import make_agent, step_one

from loopline.store import open_store


def main() -> None:
    db, effects, ready, tool_name = sys.argv[1:5]

    def hold() -> None:
        Path(ready).write_text("in the tool\n")
        time.sleep(600)

    agent = make_agent(open_store(db), Path(effects), after_effect=hold)
    agent.add_task(input="Charge the customer 42 and tell me when it is done.")
    print(agent.execution.id, flush=True)
    agent.add_messages(step_one(tool_name))
    agent.run_tools(agent.extract_tool_calls(step_one(tool_name)))


if __name__ == "__main__":
    main()
