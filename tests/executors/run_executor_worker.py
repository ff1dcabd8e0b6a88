"""Runs one worker process serving `executor_app` for the tests, without a handler:
`python run_executor_worker.py DB [--name N] [--lease S] [--concurrency N] [--grace S] [--executors-only]`.

It serves every executor `executor_app` registers (and those installed packages declare) and, unless
`--executors-only`, the `researcher` agent with `MODEL`, until SIGINT / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import executor_app

from loopline.workers import Events


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--name")
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--executors-only", action="store_true")
    args = parser.parse_args()
    events = Events(args.db, agents=() if args.executors_only else executor_app.agents, model=executor_app.MODEL,
                    name=args.name, grace_seconds=args.grace, max_sync_workers=args.concurrency,
                    heartbeat_seconds=args.lease / 4, lease_seconds=args.lease)
    await events.start()


if __name__ == "__main__":
    asyncio.run(main())
