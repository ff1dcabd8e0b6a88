"""Processes taking turns on one thread: N processes start M tasks each on the same thread at once, each
task finished at once by a made-up reply (the store and the claims are all that is measured). One
variant tries again after each `ThreadBusyError`; the other passes `add_task(wait=60)`.

    python tools/bench/thread_contention.py [--processes 4] [--tasks 25] [--pg URL] [--json PATH]

Each row is checked before it is printed: every input in the thread once, each process's in its own
order, every execution COMPLETED. The processes are `tests/processes/thread_task_worker.py` (the same
ones `tests/agent/test_thread_contention.py` runs). PostgreSQL rows run when --pg (or LOOPLINE_TEST_PG_URL)
names a server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "processes"))
from scenario import fmt_time, save_section, table
from thread_task_worker import inputs_by_tag

from loopline import ExecutionStatus
from loopline.store import open_store

WORKER = Path(__file__).resolve().parents[2] / "tests" / "processes" / "thread_task_worker.py"


def measure(location: str, mode: str, processes: int, tasks: int) -> dict[str, Any]:
    """Run the workers on a fresh thread; their wall time, and how often they found the thread busy."""
    store = open_store(location)
    thread = store.create_thread()
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, str(WORKER), location, thread, f"p{n}", str(tasks), mode],
                              stdout=subprocess.PIPE, text=True) for n in range(processes)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    seconds = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed ({mode} on {location}): see its traceback above")
    expected = {f"p{n}": list(range(tasks)) for n in range(processes)}
    executions = store.list_executions(thread_id=thread, limit=None)
    if inputs_by_tag(store.get_messages(thread)) != expected or len(executions) != processes * tasks or any(
            e.status is not ExecutionStatus.COMPLETED for e in executions):
        raise SystemExit(f"the thread is wrong after {mode} on {location}: inputs lost, repeated or out of order")
    store.close()
    busy = sum(json.loads(out)["busy"] for out in outputs)
    return {"seconds": seconds, "tasks_per_second": processes * tasks / seconds, "busy": busy}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=25)
    parser.add_argument("--pg", default=os.environ.get("LOOPLINE_TEST_PG_URL") or None)
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loopline-turns-") as folder:
        backends = {"SQLite (file)": str(Path(folder) / "turns.db")}
        if args.pg:
            backends["PostgreSQL (local)"] = args.pg
        results = {f"{name} / {mode}": measure(location, mode, args.processes, args.tasks)
                   for name, location in backends.items() for mode in ("retry", "wait")}
    total = args.processes * args.tasks
    print(f"{args.processes} processes x {args.tasks} tasks on one thread ({total} tasks, each checked in place)\n")
    print(table(["store / variant", "wall time", "tasks/s", "ThreadBusyError seen"],
                [[name, fmt_time(r["seconds"]), f"{r['tasks_per_second']:.0f}", str(r["busy"])]
                 for name, r in results.items()]))
    save_section(args.json, "thread_contention", results)


if __name__ == "__main__":
    main()
