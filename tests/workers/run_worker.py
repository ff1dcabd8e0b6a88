"""Runs one worker process for the tests: `python run_worker.py DB [--name N] [--grace S] [--handler-only]
[--app FILE] [--no-handler] [--executors-only]`.

It serves `worker_app.agents` with `worker_app.MODEL`, and `worker_app.handle` for other agent ids, until
SIGINT / SIGTERM (or --seconds). `--app FILE` imports that module instead (its `agents`, `MODEL` and
`handle`; the executors it registers are served too); `--no-handler` starts without the handler,
`--executors-only` without agents or handler."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import worker_app

from loopline.workers import Events


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("--name")
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--handler-only", action="store_true")
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--app")
    parser.add_argument("--no-handler", action="store_true")
    parser.add_argument("--executors-only", action="store_true")
    args = parser.parse_args()
    app = _load(args.app) if args.app else worker_app
    events = Events(args.db, agents=() if args.handler_only or args.executors_only else app.agents, model=app.MODEL,
                    name=args.name, grace_seconds=args.grace, max_sync_workers=args.concurrency,
                    heartbeat_seconds=args.lease / 4, lease_seconds=args.lease)
    if args.seconds:
        asyncio.get_running_loop().call_later(args.seconds, events.stop)
    await events.start(on_execution_request=None if args.no_handler or args.executors_only else app.handle)


def _load(path: str) -> Any:
    """The module at `path`, imported under its file name (so its `@executor_register` classes register)."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    asyncio.run(main())
