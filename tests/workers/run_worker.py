"""Runs one worker process for the tests: `python run_worker.py DB [--name N] [--grace S] [--handler-only]
[--no-handler] [--handler NAME]`.

It serves `worker_app.agents` with `worker_app.MODEL`, and `worker_app.handle` for other agent ids, until
SIGINT / SIGTERM (or --seconds). `--app MODULE` serves another module of this folder with the same names."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from loopline.workers import Events


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--name")
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--handler-only", action="store_true")
    parser.add_argument("--no-handler", action="store_true")
    parser.add_argument("--handler", default="handle", help="the worker_app function that handles other agent ids")
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--app", default="worker_app")
    args = parser.parse_args()
    app = importlib.import_module(args.app)
    events = Events(args.db, agents=() if args.handler_only else app.agents, model=app.MODEL,
                    name=args.name, grace_seconds=args.grace, max_sync_workers=args.concurrency,
                    heartbeat_seconds=args.lease / 4, lease_seconds=args.lease)
    if args.seconds:
        asyncio.get_running_loop().call_later(args.seconds, events.stop)
    await events.start(on_execution_request=None if args.no_handler else getattr(app, args.handler))


if __name__ == "__main__":
    asyncio.run(main())
