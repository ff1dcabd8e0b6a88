"""The server benchmark's network cut (server.py `--remote`): one remote worker reaches the server through a
TCP proxy on 127.0.0.1 (tests/server/remote_workers_helpers.py's `CuttableProxy`, the one the remote worker
tests cut); `--cut-tasks` agent tasks of `--cut-steps` model requests are started on it, and once every one
has run a tool and none has ended, every connection through the proxy is closed at once (its assignment
stream, its heartbeat and the requests that commit its steps). New connections go through again at once,
as after a short network failure.

Then every task is checked as tasks.py checks its runs: COMPLETED, one execution, its thread exactly one
conversation, one `finished` event, each tool call run once (the ledger); a tool call whose result the cut
kept from the server may run again (the tool is idempotent), and is counted apart. Cut to completion is
each task's `finished_at` minus the time of the cut.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tasks as task_bench
from remote_worker import RemoteWorkers
from remote_workers_helpers import CuttableProxy
from scenario import median
from task_worker import AGENT_ID

from loopline.tasks import Tasks

ESTABLISHED = "SSE connection established"


def run(server_url: str, db: str, env: dict[str, str], args: argparse.Namespace, *, log: Path,
        work: Path) -> dict[str, Any]:
    """The cut, on the server at `server_url` whose database is `db`; the checks and times."""
    ledger, worker_log = work / "ledger-cut.jsonl", work / "cut-worker.log"
    proxy = CuttableProxy(int(urlsplit(server_url).port or 0))
    group = RemoteWorkers(proxy.url, db, {**env, "BENCH_LEDGER": str(ledger)}, args.concurrency, args.lease,
                          log=worker_log)
    tasks = Tasks(db)
    try:
        group.start(1)
        ids = [tasks.create(AGENT_ID, f"cut {i}").id for i in range(args.cut_tasks)]
        wait_mid_task(tasks, ledger, len(ids), args.timeout)
        running = sum(tasks.table.get(task_id)["status"] == "RUNNING" for task_id in ids)
        cut_at = time.time()
        connections = proxy.cut()
        counts = task_bench.wait_all(tasks, args.timeout)
        pids = {proc.pid for proc in group.procs.values()}
    finally:
        group.stop_all()
        proxy.close()
        with open(log, "ab") as out:  # the run's log keeps the worker's lines too
            out.write(worker_log.read_bytes() if worker_log.exists() else b"")
    lines = worker_log.read_text(errors="replace").splitlines()
    # A tool call run again by the cut worker is one whose result the cut kept from the server: not "twice".
    once = task_bench.check(tasks, ids, args.cut_steps, ledger, pids)
    records = [tasks.table.get(task_id) for task_id in ids]
    delays = [r["finished_at"] - cut_at for r in records if r["status"] == "COMPLETED"]
    finished_events = [sum(e.type == "finished" for e in tasks.table.events(task_id)) for task_id in ids]
    tasks.store.close()
    return {"tasks": len(ids), "steps": args.cut_steps, "running_at_cut": running, "connections_cut": connections,
            "streams_reopened": sum(ESTABLISHED in line for line in lines) - 1, "counts": counts,
            "cut_to_stream_s": reopened(lines, cut_at),
            "completed": sum(r["status"] == "COMPLETED" for r in records),
            "finished_once": sum(n == 1 for n in finished_events), **once,
            "cut_to_completion_p50_s": median(delays) if delays else None,
            "cut_to_completion_max_s": max(delays) if delays else None,
            "task_duration_p50_s": median([r["finished_at"] - r["started_at"] for r in records
                                           if r["status"] == "COMPLETED" and r.get("started_at")] or [0.0])}


def reopened(lines: list[str], cut_at: float) -> float | None:
    """Seconds from the cut to the worker's log saying its assignment stream is open again."""
    for line in lines:
        if ESTABLISHED in line:
            at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # the log's local time
            if at >= cut_at:
                return at - cut_at
    return None


def wait_mid_task(tasks: Tasks, ledger: Path, count: int, timeout: float) -> None:
    """Until every task has run a tool (a distinct execution in the ledger); none may have ended yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        if len({json.loads(line)["execution"] for line in lines if line.endswith("}")}) >= count:
            return
        time.sleep(0.02)
    raise RuntimeError(f"the {count} tasks did not all start within {timeout:g} s")
