"""Start COUNT tasks one after another on one thread, each finished at once by a made-up reply, while
other processes do the same on the same thread (the thread contention test and benchmark).

    python thread_task_worker.py LOCATION THREAD_ID TAG COUNT MODE

MODE `retry` calls `add_task` without waiting and tries again after each `ThreadBusyError`; MODE
`wait` passes `wait=60`. Task inputs are `TAG:i`. Prints one JSON line: how many times the thread was
found busy. Any other error ends the process with a traceback and a non-zero status.
"""

from __future__ import annotations

import json
import random
import sys
import time

from loopline import Agent, Message
from loopline.errors import ThreadBusyError
from loopline.store import open_store


def main() -> None:
    location, thread_id, tag, count, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    store = open_store(location)
    agent = Agent(f"writer-{tag}", store=store)
    waiting = {"wait": 60.0} if mode == "wait" else {}
    busy = 0
    for i in range(count):
        while True:
            try:
                agent.add_task(f"{tag}:{i}", thread_id=thread_id, **waiting)
                break
            except ThreadBusyError:
                if mode == "wait":
                    raise
                busy += 1
                time.sleep(random.uniform(0.001, 0.005))
        agent.add_messages([{"role": "assistant", "content": f"done {tag}:{i}"}])
        assert agent.is_finished(), agent.execution
    print(json.dumps({"tag": tag, "busy": busy}), flush=True)
    store.close()


def inputs_by_tag(messages: list[Message]) -> dict[str, list[int]]:
    """The task numbers each tag's user messages carry, in thread order."""
    found: dict[str, list[int]] = {}
    for message in messages:
        if message.role == "user":
            tag, _, number = message.text.partition(":")
            found.setdefault(tag, []).append(int(number))
    return found


if __name__ == "__main__":
    main()
