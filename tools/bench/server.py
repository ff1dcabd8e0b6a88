"""The HTTP server under load: `--clients` concurrent HTTP clients create `--tasks` tasks through a real
`loopline serve` process while `--subscribers` SSE subscribers follow tasks' events, and workers run them.

- **create latency**: each `POST /v1/tasks` round trip as the client sees it (`RemoteTasks.acreate`), p50/p99;
- **subscribers**: each one's events against the task's stored events: complete, in order, none twice;
- **server CPU per task**: the server process's CPU seconds (from /proc) over the run, per task;
- **overhead**: wall time from the first create to the last task finished, over HTTP, against the same
  tasks created in-process with `Tasks` (the same clients as coroutines, the same subscribers) on a fresh
  database of the same kind, run by as many local database workers;
- **run twice**: every task checked as tasks.py checks its runs (one execution, one conversation in its
  thread, each tool call run once: the ledger every tool run appends to).

Every task is an agent task of `--steps` model requests (the agent `bench` of task_worker.py, the real
`openai` SDK, the mock server of mock_server.py). `workers()` is the one place a kind of worker is chosen:
local database workers (task_worker.py, one on SQLite, `--workers` on PostgreSQL), or with `--remote`
`--workers` remote worker processes (remote_worker.py: `Events(base_url=...)`, tasks over SSE, steps
committed through the server). With `--remote` the network cut of network_cut.py runs too (`--cut-tasks`
tasks on one remote worker whose connections are all closed mid-task; `--cut-tasks 0` leaves it out).

    python tools/bench/server.py [--remote] [--tasks 2000] [--clients 20] [--subscribers 100] [--pg [URL]]
                                 [--cut-tasks 5] [--cut-steps 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mock_server
import network_cut
import tasks as task_bench
from remote_worker import RemoteWorkers
from scenario import fmt_ratio, fmt_time, goal_row, goals_table, save_section, table
from task_worker import AGENT_ID

from loopline.tasks import RemoteTasks, Tasks

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


# --- processes --------------------------------------------------------------------------------------

class Server:
    """A `loopline serve` process on `db` (no rate limit: the load is the point), until `stop()`."""

    def __init__(self, db: str, env: dict[str, str], log: Path, timeout: float = 60.0) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "loopline.cli", "serve", "--db", db, "--host",
                                          "127.0.0.1", "--port", str(port), "--rate", "0"], env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {log}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout:g} s; see {log}")

    def cpu(self) -> float:
        """CPU seconds the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def workers(kind: str, db: str, env: dict[str, str], args: argparse.Namespace, log: Path, *,
            server: Server | None) -> Iterator[None]:
    """The workers that run the tasks, started and stopped around the run: the one place a kind is chosen.
    Remote workers take their tasks from `server`; the in-process run (no server) has database workers."""
    if kind != "remote" or server is None:
        with task_bench.workers(db, env, args, args.n_workers, log):
            yield
        return
    group = RemoteWorkers(server.url, db, env, args.concurrency, args.lease, log=log)
    try:
        group.start(args.n_workers)
        yield
    finally:
        group.stop_all()


# --- the load ---------------------------------------------------------------------------------------

async def load(tasks: Tasks, args: argparse.Namespace, label: str) -> dict[str, Any]:
    """`args.clients` coroutines create the tasks; every (tasks / subscribers)-th gets a subscriber that
    follows its events from the first to `finished`."""
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.clients + args.subscribers + 4))
    latencies: list[float] = []
    ids: list[str] = []
    seen: dict[str, list[tuple[int, str]]] = {}
    followers: list[asyncio.Task[None]] = []
    every = max(1, args.tasks // max(1, args.subscribers))
    numbers = itertools.count()

    async def follow(task_id: str) -> None:
        got = seen[task_id] = []
        task = await tasks.aget(task_id)
        async for event in task.aevents(timeout=args.timeout):
            got.append((event.id, event.type))

    async def client() -> None:
        while (i := next(numbers)) < args.tasks:
            began = time.perf_counter()
            task = await tasks.acreate(AGENT_ID, f"{label} {i}")
            latencies.append(time.perf_counter() - began)
            ids.append(task.id)
            if i % every == 0 and len(followers) < args.subscribers:
                followers.append(asyncio.create_task(follow(task.id)))

    await tasks.acreate(AGENT_ID, f"{label} warm-up")  # the engine client connects on the first create
    start = time.time()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    created = time.time() - start
    await asyncio.gather(*followers)
    return {"start": start, "create_s": created, "latencies": latencies, "ids": ids, "seen": seen}


def run(kind: str, db: str, env: dict[str, str], args: argparse.Namespace, log: Path, *,
        ledger: Path) -> dict[str, Any]:
    """One run on a fresh database: `kind` "http" through a server process, "local" with `Tasks(db)`;
    every tool run goes to `ledger`."""
    check = Tasks(db)
    server = Server(db, env, log) if kind == "http" else None
    env = {**env, "BENCH_LEDGER": str(ledger)}
    try:
        with workers(args.worker_kind, db, env, args, log, server=server):
            tasks: Tasks = RemoteTasks(base_url=server.url, timeout=60) if server else check
            cpu = server.cpu() if server else 0.0
            result = asyncio.run(load(tasks, args, kind))
            counts = task_bench.wait_all(check, args.timeout)
            cpu = server.cpu() - cpu if server else 0.0
    finally:
        if server is not None:
            server.stop()
    once = task_bench.check(check, result["ids"], args.steps, ledger)
    out = {"tasks": len(result["ids"]), "counts": counts, "create_s": result["create_s"],
           **verdict(check, result), **({"server_cpu_s": cpu} if server else {}),
           "run_twice": once["executions_twice"] + once["messages_wrong"] + once["tool_calls_run_twice"],
           "errors": once["errors"]}
    check.store.close()
    return out


def verdict(check: Tasks, result: dict[str, Any]) -> dict[str, Any]:
    """Wall time to the last task finished, create latency, and each subscriber against the stored events."""
    records = [check.table.get(task_id) for task_id in result["ids"]]
    finished = [r["finished_at"] for r in records if r["status"] in FINISHED and r.get("finished_at")]
    latencies = result["latencies"]
    missing = twice = unordered = incomplete = 0
    for task_id, got in result["seen"].items():
        stored = [(e.seq, e.type) for e in check.table.events(task_id)]
        missing += len(set(stored) - set(got))
        twice += len(got) - len(set(got))
        unordered += got != sorted(got)
        incomplete += got != stored
    return {"completed": sum(r["status"] == "COMPLETED" for r in records),
            "wall_s": max(finished) - result["start"] if finished else None,
            "create_p50_s": task_bench.percentile(latencies, 50), "create_p99_s": task_bench.percentile(latencies, 99),
            "subscribers": len(result["seen"]), "subscribers_incomplete": incomplete,
            "events_followed": sum(len(g) for g in result["seen"].values()), "events_missing": missing,
            "events_twice": twice, "subscribers_out_of_order": unordered}


# --- output -----------------------------------------------------------------------------------------

def render(section: dict[str, Any]) -> str:
    s = section["settings"]
    rows = []
    for name, pair in section["runs"].items():
        http, local = pair["http"], pair["local"]
        ratio = fmt_ratio(http["wall_s"] / local["wall_s"]) if http.get("wall_s") and local.get("wall_s") else "n/a"
        for label, r in ((f"{name}: over HTTP", http), (f"{name}: in-process `Tasks`", local)):
            rows.append([label, f"{fmt_time(r['create_p50_s'])} / {fmt_time(r['create_p99_s'])}",
                         f"{r['completed']}/{r['tasks']}", _t(r.get("wall_s")),
                         ratio if r is http else "1.00x",
                         f"{r['server_cpu_s'] / r['tasks'] * 1000:.1f} ms" if "server_cpu_s" in r else "-",
                         f"{r['subscribers'] - r['subscribers_incomplete']}/{r['subscribers']}",
                         f"{r['events_missing']} / {r['events_twice']} / {r['subscribers_out_of_order']}",
                         str(r["run_twice"])])
    return "\n\n".join([
        f"{s['tasks']} agent tasks of {s['steps']} model requests (the local mock model server, "
        f"{s['latency_ms']:g} ms a request) created by {s['clients']} concurrent clients while {s['subscribers']} "
        f"subscribers follow tasks' events, run by {_kind(s)} ({s['concurrency']} tasks at a time each); load "
        f"average {section['load_before']:.2f} before the run on {os.cpu_count()} CPUs. Wall time is from the first "
        "create to the last task finished; the in-process run is the same load with `Tasks(db)` and as many "
        "database workers; \"run twice\" counts executions per task above one, threads that are not exactly one "
        "conversation and tool calls run more than once:",
        table(["run", "create p50 / p99", "completed", "wall time", "vs in-process", "server CPU per task",
               "subscribers complete", "events lost / twice / out of order", "run twice"], rows),
        *errors(section),
        *cut_parts(section),
        "**Goals**:", goals_table(section["goals"])])


def errors(section: dict[str, Any]) -> list[str]:
    """How the tasks that did not complete ended (status: error type: message), when any did not."""
    lines = [f"- {name}, {how}: {count} x {error}" for name, pair in section["runs"].items()
             for how, r in pair.items() for error, count in (r.get("errors") or {}).items()]
    return ["Tasks that did not complete:\n\n" + "\n".join(lines)] if lines else []


def _kind(s: dict[str, Any]) -> str:
    if s["worker_kind"] == "remote":
        return f"{s['workers']} remote worker processes (`Events(base_url=...)`, over SSE and HTTP)"
    return "local database worker processes"


def cut_parts(section: dict[str, Any]) -> list[str]:
    """The network cut's paragraph and table, when it ran."""
    cuts = section.get("cuts") or {}
    if not cuts:
        return []
    rows = [[name, f"{r['running_at_cut']}/{r['tasks']}", str(r["connections_cut"]), _t(r["cut_to_stream_s"]),
             f"{r['completed']}/{r['tasks']}", f"{r['finished_once']}/{r['tasks']}",
             str(r["executions_twice"] + r["messages_wrong"] + r["tool_calls_run_twice"]),
             str(r["tool_calls_run_again"] - r["tool_calls_run_twice"]),
             f"{_t(r['cut_to_completion_p50_s'])} / {_t(r['cut_to_completion_max_s'])}", _t(r["task_duration_p50_s"])]
            for name, r in cuts.items()]
    s = section["settings"]
    return [f"**Network cut**: one remote worker reaches the server through a TCP proxy; {s['cut_tasks']} tasks of "
            f"{s['cut_steps']} model requests start on it, and once each has run a tool, every connection through "
            "the proxy is closed at once (new ones go through). \"Cut to completion\" is each task's `finished_at` "
            "minus the cut, \"stream back\" the cut to the worker's assignment stream open again (its log); a tool "
            "call whose result the cut kept from the server may run again (it is idempotent):",
            table(["database", "running at the cut", "connections cut", "stream back", "completed",
                   "one `finished` event", "run twice", "tool calls run again", "cut to completion p50 / max",
                   "task duration p50"], rows)]


def _t(value: float | None) -> str:
    return "n/a" if value is None else fmt_time(value)


def goals(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, pair in section["runs"].items():
        r = pair["http"]
        whole = r["subscribers_incomplete"] == r["events_missing"] == r["events_twice"] == 0
        out.append(goal_row(f"{name}: every subscriber got every event of its task, in order, once",
                            f"{r['subscribers'] - r['subscribers_incomplete']}/{r['subscribers']}", "all", whole))
        out.append(goal_row(f"{name}: tasks completed over HTTP, run twice", f"{r['completed']}/{r['tasks']}, "
                            f"{r['run_twice']}", "all, 0", r["completed"] == r["tasks"] and r["run_twice"] == 0))
    for name, c in (section.get("cuts") or {}).items():
        twice = c["executions_twice"] + c["messages_wrong"] + c["tool_calls_run_twice"]
        out.append(goal_row(f"{name}: network cut mid-task, tasks completed once", f"{c['finished_once']}/{c['tasks']}"
                            f" ({c['completed']} completed, {twice} run twice)", "all",
                            c["completed"] == c["finished_once"] == c["tasks"] and twice == 0))
    return out


# --- the run ----------------------------------------------------------------------------------------

def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    dbs = task_bench.Databases(work, args.pg)
    remote = args.worker_kind == "remote"  # as many database workers in-process as remote ones over HTTP
    kinds = ({"PostgreSQL": ("pg", args.workers)} if args.pg
             else {"SQLite": ("sqlite", args.workers if remote else 1)})
    log = Path(args.log) if args.log else work / "processes.log"
    runs: dict[str, Any] = {}
    try:
        with mock_server.running(args.steps, latency_ms=args.latency_ms) as port:
            env = {k: v for k, v in os.environ.items() if k not in ("LOOPLINE_TASKS_DB", "LOOPLINE_DB",
                                                                     "LOOPLINE_BASE_URL")}
            env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", OPENAI_API_KEY="sk-bench")
            for name, (kind, count) in kinds.items():
                args.n_workers = count
                pair = {}
                for how in ("http", "local"):
                    print(f"  {args.tasks} tasks on {name}, {how}", file=sys.stderr, flush=True)
                    pair[how] = run(how, dbs.new(kind, how), env, args, log, ledger=work / f"ledger-{kind}-{how}.jsonl")
                runs[name] = pair
        cuts = {}
        if remote and args.cut_tasks:
            with mock_server.running(args.cut_steps, latency_ms=args.latency_ms) as port:
                env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
                for name, (kind, _) in kinds.items():
                    print(f"  network cut: {args.cut_tasks} tasks on {name}", file=sys.stderr, flush=True)
                    db = dbs.new(kind, "cut")
                    server = Server(db, env, log)
                    try:
                        cuts[name] = network_cut.run(server.url, db, env, args, log=log, work=work)
                    finally:
                        server.stop()
    finally:
        dbs.drop_all()
    return {"runs": runs, "cuts": cuts}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20, help="concurrent HTTP clients creating tasks")
    parser.add_argument("--subscribers", type=int, default=100, help="SSE subscribers, each following one task")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (local database workers on SQLite: 1)")
    parser.add_argument("--remote", dest="worker_kind", action="store_const", const="remote", default="local",
                        help="remote workers (Events(base_url=...)) instead of database workers, and the network cut")
    parser.add_argument("--cut-tasks", type=int, default=5, help="network cut: tasks running when it is cut (0: none)")
    parser.add_argument("--cut-steps", type=int, default=10, help="network cut: model requests per task")
    parser.add_argument("--concurrency", type=int, default=32, help="tasks at a time per worker")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--lease", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--log", default=None, help="append the server's and workers' output to this file")
    parser.add_argument("--pg", nargs="?", const=os.environ.get("LOOPLINE_TEST_PG_URL") or "", default=None,
                        metavar="URL", help="PostgreSQL instead of SQLite (default URL: $LOOPLINE_TEST_PG_URL)")
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    if args.pg == "":
        parser.error("--pg needs a URL or LOOPLINE_TEST_PG_URL")
    settings = {k: getattr(args, k) for k in ("tasks", "clients", "subscribers", "workers", "worker_kind",
                                              "concurrency", "steps", "latency_ms", "cut_tasks", "cut_steps")}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the processes are stopped and databases dropped
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="loopline-server-bench-") as tmp:
        section = {"settings": settings, "load_before": load_before, **measure(args, Path(tmp))}
    section["load_after"] = os.getloadavg()[0]
    section["goals"] = goals(section)
    section["markdown"] = render(section)
    print(section["markdown"])
    save_section(args.json, "server", section)


if __name__ == "__main__":
    main()
