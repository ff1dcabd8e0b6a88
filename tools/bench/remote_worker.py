"""Remote worker processes for the server benchmark (server.py): the agent `bench` of task_worker.py, run by
`Events(base_url=...)`, which takes its tasks from a `loopline serve` process over SSE and commits its
steps through the server (the database is the server's alone).

    python remote_worker.py BASE_URL --name NAME [--concurrency 32] [--lease 4]   # until SIGTERM

`RemoteWorkers` starts them like tasks.py's `Workers` starts database workers (same names, same wait for
the heartbeat row, which the server writes to its database). With `BENCH_LEDGER` set, every tool run is
counted (task_worker.py's `lookup`). The worker logs at INFO, so its reconnections are in the log.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenario import MODEL
from task_worker import agent
from tasks import Workers

HERE = Path(__file__).resolve().parent


class RemoteWorkers(Workers):
    """Remote worker processes (this script) for the server at `base_url`; `db` is the server's database,
    where their heartbeat rows show when they serve."""

    def __init__(self, base_url: str, db: str, env: dict[str, str], concurrency: int, lease: float,
                 *, log: Path) -> None:
        super().__init__(db, env, concurrency, lease, log)
        self.base_url = base_url

    def spawn(self) -> str:
        self.started += 1
        name = f"remote-{self.started}"
        with open(self.log, "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), self.base_url, "--name", name, "--concurrency",
                 str(self.concurrency), "--lease", str(self.lease)], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return name


async def serve(args: argparse.Namespace) -> None:
    from loopline.workers import Events

    events = Events(base_url=args.base_url, agents=[agent()], model=MODEL, name=args.name,
                    max_sync_workers=args.concurrency, grace_seconds=args.grace, heartbeat_seconds=args.lease / 4,
                    lease_seconds=args.lease)
    await events.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--name", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--grace", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.name} %(levelname)s %(message)s")
    for noisy in ("httpx2", "httpx", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
