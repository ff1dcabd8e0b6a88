"""The tasks benchmark's application, run in processes of their own by tasks.py:

    python task_worker.py worker DB --name NAME [--concurrency 32] [--lease 4]   # a worker, until SIGTERM
    python task_worker.py baseline DB [--executions 1000]                       # the same work by `arun`

Both run the agent `bench` (scenario.py's instructions and `lookup` tool) against the mock model
server through the real `openai` SDK: the client is the one loopline builds from `OPENAI_BASE_URL`
and `OPENAI_API_KEY`, which tasks.py points at the server. The server scripts every conversation
(`lookup` until the last step, then `finish`), so any number of tasks run at once.

With `BENCH_LEDGER` set, every run of the tool appends one line (execution id, call id, pid) to that
file with O_APPEND, so tasks.py counts tool runs across processes, a killed one's included. With
`BENCH_PROFILE` set to a folder, a worker profiles the CPU time of its event loop's thread (cProfile
with `time.thread_time`: where tasks run) and writes `<name>.prof` there when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenario import MODEL, SYSTEM
from scenario import lookup as _lookup

from loopline import Agent, InMemoryStore, ToolContext, tool

AGENT_ID = "bench"


@tool(idempotent=True)
def lookup(key: str, context: ToolContext, page: int = 1) -> str:
    """Look a key up.

    Args:
        key: What to look up.
        page: Which page of results.
    """
    ledger = os.environ.get("BENCH_LEDGER")
    if ledger:
        line = json.dumps({"execution": context.execution_id, "call": context.tool_call_id, "pid": os.getpid()})
        fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    return _lookup(key, page)


def agent() -> Agent:
    """The agent's definition; whoever runs it gives it the run's store (the default store stays untouched)."""
    return Agent(AGENT_ID, SYSTEM, tools=[lookup], store=InMemoryStore())


async def serve(args: argparse.Namespace) -> None:
    """One worker serving the agent until SIGTERM / SIGINT (SIGKILL, in the fault run)."""
    from loopline.workers import Events

    events = Events(args.db, agents=[agent()], model=MODEL, name=args.name, max_sync_workers=args.concurrency,
                    grace_seconds=args.grace, heartbeat_seconds=args.lease / 4, lease_seconds=args.lease)
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        await events.start()
        return
    import cProfile

    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    try:
        await events.start()
    finally:
        profile.disable()
        profile.dump_stats(str(Path(folder) / f"{args.name}.prof"))


async def baseline(args: argparse.Namespace) -> None:
    """The same executions by `arun`, all at once in this process, on a store like the workers'; prints
    its wall time and how many completed, as JSON."""
    from loopline.store import open_store

    store = open_store(args.db)
    bench = agent().copy(store=store)
    prompts = [f"task {i}" for i in range(args.executions)]
    start, cpu = time.time(), time.process_time()
    results = await asyncio.gather(*(bench.copy().arun(p, model=MODEL) for p in prompts))
    end, cpu = time.time(), time.process_time() - cpu
    completed = sum(1 for r in results if r.ok)
    json.dump({"wall_s": end - start, "cpu_s": cpu, "completed": completed, "executions": args.executions,
               "error": next((str(r.error) for r in results if not r.ok), None)}, sys.stdout)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("mode", choices=["worker", "baseline"])
    parser.add_argument("db")
    parser.add_argument("--name")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--executions", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(serve(args) if args.mode == "worker" else baseline(args))


if __name__ == "__main__":
    main()
