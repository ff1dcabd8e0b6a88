"""A process making HTTP requests for one task, its limits counted in a shared database.

    python fetch_many.py DB URL COUNT TASK_ID [--rate R] [--pages N] [--concurrency N]

Prints `ready`, waits until the file DB.go exists (so two processes start together), sends COUNT GETs of URL at
once (asyncio), and prints one JSON line: the status of each fetch, or the rule that refused it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from loopline.errors import PolicyViolationError
from loopline.executors import HttpPolicy, fetch
from loopline.store import SQLiteStore


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("task_id")
    parser.add_argument("--rate", type=float)
    parser.add_argument("--pages", type=int)
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args()
    store = SQLiteStore(args.db)
    policy = HttpPolicy(allowed_networks=("127.0.0.1/32",), requests_per_second=args.rate, max_pages=args.pages,
                        concurrent_requests=args.concurrency, max_duration_seconds=60)
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(args.db + ".go") and time.monotonic() < deadline:
        await asyncio.sleep(0.01)

    async def one() -> int | str:
        try:
            return (await fetch(policy, "GET", args.url, task_id=args.task_id, store=store)).status
        except PolicyViolationError as exc:
            return exc.rule

    print(json.dumps(await asyncio.gather(*(one() for _ in range(args.count)))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
