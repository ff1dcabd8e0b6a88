"""Tasks and workers: idle enqueue-to-start latency, many agent tasks through worker processes against
the same executions by `arun` in one process, and a fault run where workers are killed with SIGKILL.

Every task is an agent task of `--steps` model requests (the agent `bench` of task_worker.py, the real
`openai` SDK, the mock server of mock_server.py with `--latency-ms` of model latency), created by this
process with `Tasks.create` and run by worker processes (task_worker.py). Each scenario gets a fresh
database (a SQLite file, or a new PostgreSQL database on the `--pg` server):

- **idle latency**: one idle worker; tasks created one at a time, each after the last ended and a
  pause; a task's start is its `started_at` (the worker marking it RUNNING) minus its `created_at`.
- **throughput**: `--tasks` tasks created at once, run by `--workers` workers on PostgreSQL and by one
  on SQLite; wall time from the first create to the last COMPLETED, against the same executions run
  by `arun` all at once in one process on a fresh database of the same kind. Then every task is
  checked: COMPLETED, one execution, each message in its thread once, each tool call run once (a
  ledger every tool run appends to).
- **fault run** (PostgreSQL): `--fault-tasks` tasks on `--workers` workers, one worker killed with
  SIGKILL every `--kill-every` seconds and a new one started under a new name; the same checks (a
  tool call interrupted by a kill may run again: the tool is idempotent), and the time from each
  kill to the `recovered` event of each of its tasks.

Prints markdown tables and PASS/MISS per goal (a miss never fails the script), and stores the numbers
in the JSON file given by `--json`.

    python tools/bench/tasks.py [--tasks 1000] [--fault-tasks 500] [--workers 4] [--pg URL] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mock_server
from scenario import fmt_ratio, fmt_time, goal_row, goals_table, median, save_section, table
from task_worker import AGENT_ID

from loopline.tasks import Tasks, live_workers

HERE = Path(__file__).resolve().parent
WORKER = HERE / "task_worker.py"
FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


# --- databases and processes ---------------------------------------------------------------------

class Databases:
    """Fresh databases, one per scenario: SQLite files in a temporary folder, PostgreSQL databases on
    the `--pg` server (dropped at the end)."""

    def __init__(self, folder: Path, pg: str | None) -> None:
        self.folder = folder
        self.pg = pg
        self.made: list[str] = []

    def new(self, kind: str, label: str) -> str:
        if kind == "sqlite":
            return str(self.folder / f"{label}.db")
        import psycopg

        assert self.pg is not None
        name = f"loopline_bench_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.pg, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return urlunsplit(urlsplit(self.pg)._replace(path=f"/{name}"))

    def drop_all(self) -> None:
        if not self.made:
            return
        import psycopg

        with psycopg.connect(self.pg, autocommit=True) as admin:  # type: ignore[arg-type]
            for name in self.made:
                with contextlib.suppress(psycopg.Error):
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Workers:
    """Worker processes (task_worker.py) on one database; each stopped by its own pid."""

    def __init__(self, db: str, env: dict[str, str], concurrency: int, lease: float, log: Path) -> None:
        self.db, self.env, self.concurrency, self.lease, self.log = db, env, concurrency, lease, log
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.killed_pids: set[int] = set()
        self.host = socket.gethostname()

    def executor_id(self, name: str) -> str:
        return f"{self.host}:{name}"

    def spawn(self) -> str:
        """Start one more worker under a new name (not waiting for it); its name."""
        self.started += 1
        name = f"bench-{self.started}"
        with open(self.log, "ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, str(WORKER), "worker", self.db, "--name", name, "--concurrency",
                 str(self.concurrency), "--lease", str(self.lease)], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return name

    def start(self, count: int, timeout: float = 120.0) -> None:
        """Start `count` workers and wait until each has written its heartbeat."""
        names = [self.spawn() for _ in range(count)]
        table = Tasks(self.db).table
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n in names if self.procs[n].poll() is not None]
            if dead:
                raise RuntimeError(f"worker {dead[0]} exited with {self.procs[dead[0]].returncode}; see {self.log}")
            if {self.executor_id(n) for n in names} <= {w["id"] for w in live_workers(table)}:
                time.sleep(0.5)  # its queues are registered right after the first heartbeat
                return
            time.sleep(0.1)
        raise RuntimeError(f"workers did not start within {timeout:g} s; see {self.log}")

    def cpu(self) -> float:
        """CPU seconds the live workers have used so far (from /proc: their start-up included)."""
        total = 0.0
        for proc in self.procs.values():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def kill(self, name: str) -> float:
        """SIGKILL one worker; the time of the kill."""
        proc = self.procs.pop(name)
        self.killed_pids.add(proc.pid)
        at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return at

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


@contextlib.contextmanager
def workers(db: str, env: dict[str, str], args: argparse.Namespace, count: int, log: Path) -> Iterator[Workers]:
    group = Workers(db, env, args.concurrency, args.lease, log)
    try:
        group.start(count)
        yield group
    finally:
        group.stop_all()


# --- measuring ------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def idle_latency(db: str, env: dict[str, str], args: argparse.Namespace, log: Path) -> dict[str, Any]:
    """Tasks one at a time to one idle worker: created_at to started_at."""
    with workers(db, env, args, 1, log):
        tasks = Tasks(db)
        starts = []
        for i in range(args.warmup + args.samples):
            task = tasks.create(AGENT_ID, f"latency {i}").wait(timeout=60)
            record = tasks.table.get(task.id)
            if i >= args.warmup:
                starts.append(record["started_at"] - record["created_at"])
            time.sleep(args.pause)
    return {"samples": len(starts), "p50_s": median(starts), "p99_s": percentile(starts, 99), "max_s": max(starts)}


def create_all(tasks: Tasks, count: int, label: str) -> list[str]:
    return [tasks.create(AGENT_ID, f"{label} {i}").id for i in range(count)]


def wait_all(tasks: Tasks, timeout: float, tick: float = 0.5,
             on_tick: Any = None) -> dict[str, int]:
    """Poll the task counts by status until none is unfinished (or `timeout`); the last counts."""
    deadline = time.monotonic() + timeout
    while True:
        with tasks.store._read() as cur:  # type: ignore[attr-defined]  # one cheap query, not 1,000 records
            cur.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status")
            counts = {status: int(n) for status, n in cur.fetchall()}
        if sum(n for s, n in counts.items() if s not in FINISHED) == 0 or time.monotonic() > deadline:
            return counts
        if on_tick is not None:
            on_tick()
        time.sleep(tick)


def check(tasks: Tasks, ids: list[str], steps: int, ledger: Path, killed: set[int] = frozenset()) -> dict[str, Any]:
    """Every task: COMPLETED, one execution, its thread exactly one conversation; tool runs from the
    ledger (a call run again is fine only when every earlier run was in a worker that was killed)."""
    store = tasks.store
    lost = twice_executed = duplicated_messages = 0
    first_created, last_finished = float("inf"), 0.0
    executions = set()
    errors: Counter[str] = Counter()
    attempts: Counter[int] = Counter()
    for task_id in ids:
        record = tasks.table.get(task_id)
        attempts[int(record.get("attempts") or 0)] += 1
        first_created = min(first_created, record["created_at"])
        if record["status"] != "COMPLETED":
            lost += 1
            error = record.get("error") or {}
            errors[f"{record['status']}: {error.get('type')}: {str(error.get('message'))[:150]}"] += 1
            continue
        last_finished = max(last_finished, record["finished_at"])
        executions.add(record["execution_id"])
        if len(store.list_executions(thread_id=record["thread_id"], limit=None)) != 1:
            twice_executed += 1
        if len(store.get_messages(record["thread_id"])) != 2 * steps + 1:  # user, then assistant + tool each step
            duplicated_messages += 1
    runs: dict[tuple[str, str], list[int]] = {}
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            entry = json.loads(line)
            runs.setdefault((entry["execution"], entry["call"]), []).append(entry["pid"])
    again = [pids for key, pids in runs.items() if len(pids) > 1 and key[0] in executions]
    tool_twice = sum(1 for pids in again if not set(pids[:-1]) <= killed)
    return {"tasks": len(ids), "lost": lost, "executions_twice": twice_executed,
            "messages_wrong": duplicated_messages, "tool_runs": sum(len(p) for p in runs.values()),
            "tool_calls_run_again": len(again), "tool_calls_run_twice": tool_twice, "errors": dict(errors),
            "attempts": {str(k): v for k, v in sorted(attempts.items())},
            "wall_s": last_finished - first_created if last_finished else None}


def throughput(db: str, env: dict[str, str], args: argparse.Namespace, log: Path, ledger: Path) -> dict[str, Any]:
    """`--tasks` tasks created at once and run by `args.n_workers` workers (started beforehand)."""
    with workers(db, env, args, args.n_workers, log) as group:
        tasks = Tasks(db)
        cpu, own = group.cpu(), time.process_time()
        start = time.time()
        ids = create_all(tasks, args.tasks, "throughput")
        created = time.time() - start
        counts = wait_all(tasks, args.timeout)
        cpu, own = group.cpu() - cpu, time.process_time() - own
    out = {"workers": args.n_workers, "create_s": created, "counts": counts, "workers_cpu_s": cpu, "creator_cpu_s": own,
           **check(tasks, ids, args.steps, ledger)}
    out["tasks_per_s"] = len(ids) / out["wall_s"] if out["wall_s"] else None
    return out


def baseline(db: str, env: dict[str, str], executions: int) -> dict[str, Any]:
    """The same executions by `arun` in one fresh process."""
    done = subprocess.run([sys.executable, str(WORKER), "baseline", db, "--executions", str(executions)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        print(f"  the arun baseline failed:\n{done.stderr}", file=sys.stderr)
        return {"error": lines[-1][:200] if lines else f"exit code {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def fault_run(db: str, env: dict[str, str], args: argparse.Namespace, log: Path, ledger: Path) -> dict[str, Any]:
    """Tasks on `--workers` workers, the oldest serving worker killed with SIGKILL every `--kill-every`
    seconds and a new one started in its place, until every task has ended."""
    kills: dict[str, float] = {}  # executor id -> time of its kill
    with workers(db, env, args, args.n_workers, log) as group:
        tasks = Tasks(db)
        ids = create_all(tasks, args.fault_tasks, "fault")
        next_kill = time.time() + args.kill_every

        def maybe_kill() -> None:
            nonlocal next_kill
            if time.time() < next_kill:
                return
            serving = {w["id"] for w in live_workers(tasks.table)}  # a worker still starting up is not a victim
            victim = next((n for n in group.procs if group.executor_id(n) in serving), None)
            if victim is None:
                return
            kills[group.executor_id(victim)] = group.kill(victim)
            group.spawn()  # capacity stays: a new worker, under a new name
            next_kill = time.time() + args.kill_every

        counts = wait_all(tasks, args.timeout, tick=0.1, on_tick=maybe_kill)
    out = {"workers": args.n_workers, "kills": len(kills), "counts": counts,
           **check(tasks, ids, args.steps, ledger, group.killed_pids), **recoveries(tasks, ids, kills)}
    return out


def recoveries(tasks: Tasks, ids: list[str], kills: dict[str, float]) -> dict[str, Any]:
    """From each `recovered` event: the time since the kill of the worker the task was on."""
    delays: list[float] = []
    per_kill: dict[str, list[float]] = {}
    from_live = 0
    for task_id in ids:
        for event in tasks.table.events(task_id):
            if event.type != "recovered":
                continue
            killed = kills.get(str(event.data.get("previous_worker")))
            if killed is None:
                from_live += 1  # taken over from a worker that was not killed: should not happen
                continue
            delays.append(event.created_at - killed)
            per_kill.setdefault(str(event.data.get("previous_worker")), []).append(event.created_at - killed)
    return {"recovered_tasks": len(delays), "recovered_from_live_workers": from_live,
            "kills_with_tasks": len(per_kill),
            "resume_p50_s": median(delays) if delays else None, "resume_max_s": max(delays) if delays else None,
            "resume_per_kill_s": {k: max(v) for k, v in per_kill.items()}}


# --- output ----------------------------------------------------------------------------------------

def _t(value: float | None) -> str:
    return "n/a" if value is None else fmt_time(value)


def latency_table(section: dict[str, Any]) -> str:
    rows = [[name, str(r["samples"]), _t(r["p50_s"]), _t(r["p99_s"]), _t(r["max_s"])]
            for name, r in section["latency"].items()]
    return table(["database", "tasks", "p50", "p99", "max"], rows)


def throughput_table(section: dict[str, Any]) -> str:
    rows = []
    for name, pair in section["throughput"].items():
        base, run = pair["arun"], pair["workers"]
        base_wall = base.get("wall_s")  # None when the process failed; executions that failed count as lost
        rows.append([f"{name}: `arun`, all at once in one process", _t(base_wall), "1.00x", _t(base.get("cpu_s")),
                     _baseline_lost(base), "-"])
        ratio = fmt_ratio(run["wall_s"] / base_wall) if run.get("wall_s") and base_wall else "n/a"
        twice = run["executions_twice"] + run["messages_wrong"] + run["tool_calls_run_twice"]
        rows.append([f"{name}: {run['workers']} worker process{'es' if run['workers'] > 1 else ''}",
                     _t(run.get("wall_s")), ratio, _t(run["workers_cpu_s"]), str(run["lost"]), str(twice)])
    return table(["run", "wall time", "vs `arun`", "CPU of the workers / `arun` process", "lost", "run twice"], rows)


def _baseline_lost(base: dict[str, Any]) -> str:
    if base.get("wall_s") is None:
        return f"failed: {base.get('error')}"
    lost = base["executions"] - base["completed"]
    return f"{lost} ({base['error']})" if lost else "0"


def fault_table(r: dict[str, Any]) -> str:
    twice = r["executions_twice"] + r["messages_wrong"] + r["tool_calls_run_twice"]
    return table(["tasks", "workers", "SIGKILLs", "completed", "lost", "run twice",
                  "tool calls cut by a kill, run again", "tasks recovered", "kill to resume p50 / max", "wall time"],
                 [[str(r["tasks"]), str(r["workers"]), str(r["kills"]), str(r["tasks"] - r["lost"]), str(r["lost"]),
                   str(twice), str(r["tool_calls_run_again"] - r["tool_calls_run_twice"]), str(r["recovered_tasks"]),
                   f"{_t(r['resume_p50_s'])} / {_t(r['resume_max_s'])}", _t(r["wall_s"])]])


def goals(section: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, r in section["latency"].items():
        out.append(goal_row(f"{name}: idle enqueue-to-start p50", f"{fmt_time(r['p50_s'])} (p99 "
                            f"{fmt_time(r['p99_s'])})", "below 100 ms", r["p50_s"] < 0.1))
    for name, pair in section["throughput"].items():
        base, run = pair["arun"], pair["workers"]
        target = "at most 1.5x"
        if base.get("wall_s") is None or not run.get("wall_s"):
            out.append(goal_row(f"{name}: {run['tasks']} tasks by workers vs `arun`", "not measured", target, False))
        else:
            ratio = run["wall_s"] / base["wall_s"]
            lost = base["executions"] - base["completed"]
            out.append(goal_row(f"{name}: {run['tasks']} tasks by {run['workers']} worker(s) vs `arun` in one process",
                                f"{fmt_ratio(ratio)} ({fmt_time(run['wall_s'])} vs {fmt_time(base['wall_s'])}"
                                + (f"; `arun` lost {lost}" if lost else "") + ")", target, ratio <= 1.5))
        twice = run["executions_twice"] + run["messages_wrong"] + run["tool_calls_run_twice"]
        out.append(goal_row(f"{name}: tasks lost / run twice", f"{run['lost']} / {twice}", "0 / 0",
                            run["lost"] == 0 and twice == 0))
    fault = section.get("fault")
    if fault:
        twice = fault["executions_twice"] + fault["messages_wrong"] + fault["tool_calls_run_twice"]
        out.append(goal_row(f"fault run: {fault['kills']} SIGKILLs, tasks lost / run twice",
                            f"{fault['lost']} / {twice}", "0 / 0", fault["lost"] == 0 and twice == 0))
    return out


def render(section: dict[str, Any]) -> str:
    s = section["settings"]
    parts = [f"Agent tasks of {s['steps']} model requests each (the real `openai` SDK against the local mock "
             f"server, {s['latency_ms']:g} ms per request), {s['concurrency']} tasks at a time per worker, "
             f"load average {section['load_before']:.2f} before the run on {os.cpu_count()} CPUs.",
             f"**Idle enqueue-to-start**: one idle worker, tasks created one at a time, each after the last "
             f"ended and {s['pause']:g} s; `started_at` minus `created_at`:",
             latency_table(section)]
    if section["throughput"]:
        parts += [f"**{s['tasks']} tasks at once**: wall time from the first create to the last COMPLETED, against "
                  "the same executions by `arun` at once in one process on a fresh database of the same kind; "
                  "\"run twice\" counts executions per task above one, threads whose messages are not exactly one "
                  "conversation, and tool calls run more than once:",
                  throughput_table(section)]
    if section.get("fault"):
        parts += [f"**Fault run** (PostgreSQL): one worker killed with SIGKILL every {s['kill_every']:g} s and a "
                  f"new one started under a new name; lease {s['lease']:g} s; kill to resume is each `recovered` "
                  "event's time minus its worker's kill:",
                  fault_table(section["fault"])]
    parts += ["**Goals**:", goals_table(section["goals"])]
    return "\n\n".join(parts)


# --- the run ----------------------------------------------------------------------------------------

def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    dbs = Databases(work, args.pg)
    kinds = {name: spec for name, spec in {"SQLite": ("sqlite", 1), "PostgreSQL": ("pg", args.workers)}.items()
             if spec[0] in args.databases and (spec[0] == "sqlite" or args.pg)}
    section: dict[str, Any] = {"latency": {}, "throughput": {}}
    log = Path(args.log) if args.log else work / "workers.log"
    try:
        with mock_server.running(args.steps, latency_ms=args.latency_ms) as port:
            env = {k: v for k, v in os.environ.items() if k not in ("LOOPLINE_TASKS_DB", "LOOPLINE_DB")}
            env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", OPENAI_API_KEY="sk-bench")
            os.environ.update(OPENAI_BASE_URL=env["OPENAI_BASE_URL"], OPENAI_API_KEY="sk-bench")
            for name, (kind, count) in kinds.items():
                if "latency" in args.only:
                    print(f"  idle latency on {name}", file=sys.stderr, flush=True)
                    section["latency"][name] = idle_latency(dbs.new(kind, "latency"), env, args, log)
                if "throughput" in args.only:
                    print(f"  {args.tasks} tasks on {name}: arun, then {count} worker(s)", file=sys.stderr, flush=True)
                    ledger = work / f"ledger-{kind}.jsonl"
                    base = baseline(dbs.new(kind, "arun"), env, args.tasks)
                    args.n_workers = count
                    run = throughput(dbs.new(kind, "workers"), {**env, "BENCH_LEDGER": str(ledger)}, args, log, ledger)
                    section["throughput"][name] = {"arun": base, "workers": run}
            if args.pg and "pg" in args.databases and "fault" in args.only:
                print(f"  fault run: {args.fault_tasks} tasks", file=sys.stderr, flush=True)
                ledger = work / "ledger-fault.jsonl"
                args.n_workers = args.workers
                section["fault"] = fault_run(dbs.new("pg", "fault"), {**env, "BENCH_LEDGER": str(ledger)}, args, log,
                                             ledger)
    finally:
        dbs.drop_all()
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--fault-tasks", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="worker processes on PostgreSQL (SQLite: 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="tasks at a time per worker")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--samples", type=int, default=100, help="idle latency: tasks measured")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--lease", type=float, default=4.0, help="a worker's lease (its heartbeat every quarter)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--only", default="latency,throughput,fault", help="which scenarios")
    parser.add_argument("--databases", default="sqlite,pg", help="sqlite, pg (PostgreSQL: needs --pg) or both")
    parser.add_argument("--log", default=None, help="append the workers' output to this file")
    parser.add_argument("--pg", default=os.environ.get("LOOPLINE_TEST_PG_URL") or None)
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    settings = {k: getattr(args, k) for k in ("tasks", "fault_tasks", "workers", "concurrency", "steps", "latency_ms",
                                              "samples", "warmup", "pause", "kill_every", "lease")}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the workers are stopped and the databases dropped
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="loopline-tasks-bench-") as tmp:
        section = {"settings": settings, "load_before": load_before, **measure(args, Path(tmp))}
    section["load_after"] = os.getloadavg()[0]
    section["goals"] = goals(section)
    section["markdown"] = render(section)
    print(section["markdown"])
    save_section(args.json, "tasks", section)


if __name__ == "__main__":
    main()
