"""Runs one remote worker process for the tests: `python run_remote_worker.py BASE_URL [--name N]
[--lease S] [--concurrency N] [--app MODULE] [--organization ORG]`.

It serves `worker_app.agents` (or another module's of tests/workers or tests/executors) with its `MODEL`,
taking its tasks from the server at BASE_URL, until SIGINT / SIGTERM. Every executor the module registers
is served too."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from pathlib import Path

TESTS = Path(__file__).parent.parent
sys.path[:0] = [str(TESTS / "workers"), str(TESTS / "executors")]

from loopline.workers import Events  # noqa: E402 - after the path is set


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("--name")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--app", default="worker_app")
    parser.add_argument("--organization")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    app = importlib.import_module(args.app)
    events = Events(base_url=args.base_url, api_key=args.api_key, organization_id=args.organization,
                    agents=app.agents, model=app.MODEL, name=args.name, grace_seconds=args.grace,
                    max_sync_workers=args.concurrency, heartbeat_seconds=args.lease / 4, lease_seconds=args.lease)
    await events.start()


if __name__ == "__main__":
    asyncio.run(main())
