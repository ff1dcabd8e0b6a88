"""What a durable store costs: appends per second, list_executions at 100,000 executions, and the
client CPU a loop step pays for SQLite (and PostgreSQL) over the in-memory store.

    python tools/bench/store.py [--steps 50] [--repeat 10] [--sdk-repeat 3] [--executions 100000]
                                [--pg URL] [--json PATH]

PostgreSQL rows run when --pg (or LOOPLINE_TEST_PG_URL) names a server. Ratios are against the
in-memory store measured in the same run. Goal: the SQLite store adds at most 25% client CPU to a
loop step with the `openai` client (PASS/MISS is printed; a miss never fails the script).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mock_server
from manual_loop import lookup, prebuilt, with_loopline
from scenario import MODEL, fmt_ratio, fmt_time, goal_row, goals_table, save_section, table

from loopline import Execution, ExecutionStatus, Message
from loopline.loop import execution_to_json
from loopline.store import InMemoryStore, SQLiteStore, Store, open_store

SQLITE_GOAL = 1.25
"""Goal: a loop step with the `openai` client on SQLite, against the same on the in-memory store."""


def appends_per_second(store: Store, count: int) -> float:
    thread = store.create_thread()
    messages = [Message.user(f"message {i} " + "lorem ipsum " * 10) for i in range(count)]
    start = time.perf_counter()
    for message in messages:
        store.append_messages(thread, [message])
    return count / (time.perf_counter() - start)


def fill_executions(store: Any, total: int) -> None:
    """Bulk-load `total` executions of 10 agents in one transaction (setup only; not what is timed)."""
    thread = store.create_thread()
    statuses = list(ExecutionStatus)
    now = time.time() - total
    with store._write() as cur:
        for i in range(total):
            e = Execution(thread_id=thread, agent_name=f"agent-{i % 10}", input=f"task {i}",
                          status=statuses[i % len(statuses)], created_at=now + i)
            cur.execute(store._sql("INSERT INTO executions (id, thread_id, agent_name, status, created_at, "
                                   "updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                        (e.id, thread, e.agent_name, e.status.value, e.created_at, e.created_at, execution_to_json(e)))


def list_latency_ms(store: Store, repeat: int = 20) -> dict[str, float]:
    queries: dict[str, Callable[[], Any]] = {
        "newest 50": lambda: store.list_executions(limit=50),
        "one agent, 50": lambda: store.list_executions(agent_name="agent-3", limit=50),
        "one agent + status, 50": lambda: store.list_executions(agent_name="agent-3",
                                                                status=ExecutionStatus.COMPLETED, limit=50),
        "page 2 by cursor": lambda: store.list_executions(
            agent_name="agent-3", limit=50, cursor=store.list_executions(agent_name="agent-3", limit=50).next_cursor),
    }
    out = {}
    for name, query in queries.items():
        query()
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            query()
            samples.append(time.perf_counter() - start)
        out[name] = statistics.median(samples) * 1000
    return out


def step_cpu_s(make_store: Callable[[], Store], steps: int, repeat: int) -> float:
    """loopline's own calls per step on a store, client CPU (no client call)."""
    responses = prebuilt(steps)
    store = make_store()
    with_loopline(responses, store=store)  # warm up
    return statistics.median(with_loopline(responses, store=store) for _ in range(repeat)) / steps


def sdk_step_cpu_s(make_store: Callable[[], Store], steps: int, repeat: int, port: int) -> float:
    """The whole manual loop step with the real `openai` client against the local mock server: the
    user's client call included, as a user's loop pays it (the server runs in another process)."""
    from openai import OpenAI

    from loopline import Agent

    client = OpenAI(api_key="sk-bench", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    store = make_store()

    def run() -> float:
        agent = Agent(name="bench", instructions="sys", tools=[lookup], store=store)
        start = time.process_time()
        agent.add_task(input="task")
        while not agent.is_finished():
            response = client.chat.completions.create(model=MODEL, **agent.request_kwargs())
            agent.add_messages(response)
            calls = Agent.extract_tool_calls(response)
            if calls:
                agent.run_tools(calls)
        return time.process_time() - start

    run()
    return statistics.median(run() for _ in range(repeat)) / steps


def measure(args: argparse.Namespace, backends: dict[str, Callable[[], Store]]) -> dict[str, Any]:
    """Every figure of this script, per store."""
    out: dict[str, Any] = {"sdk_step_cpu_s": {}, "own_step_cpu_s": {}, "appends_per_s": {}, "list_ms": {}}
    with mock_server.running(args.steps) as port:
        for name, make in backends.items():
            out["sdk_step_cpu_s"][name] = sdk_step_cpu_s(make, args.steps, args.sdk_repeat, port)
    for name, make in backends.items():
        out["own_step_cpu_s"][name] = step_cpu_s(make, args.steps, args.repeat)
    for name, make in backends.items():
        out["appends_per_s"][name] = appends_per_second(make(), args.appends)
    for name, make in backends.items():
        if name == "in-memory":
            continue
        store = make()
        fill_executions(store, args.executions)
        out["list_ms"][name] = list_latency_ms(store)
        store.close()
    return out


def render(section: dict[str, Any]) -> str:
    """The markdown of this script's tables and goal, from its JSON section."""
    sdk, own = section["sdk_step_cpu_s"], section["own_step_cpu_s"]
    steps = [[name, fmt_time(sdk[name]), fmt_ratio(sdk[name] / sdk["in-memory"]), fmt_time(own[name]),
              fmt_ratio(own[name] / own["in-memory"])] for name in sdk]
    io = [[name, f"{section['appends_per_s'][name]:,.0f} per second",
           " / ".join(f"{ms:.2f}" for ms in section["list_ms"][name].values()) + " ms"]
          for name in section["list_ms"]]
    return "\n\n".join([
        f"**Durable stores**, {section['steps']} steps, median of {section['sdk_repeat']} runs with the client "
        f"call and of {section['repeat']} without:",
        table(["store", "loop step with the `openai` client", "vs. in-memory", "loopline's calls alone",
               "vs. in-memory"], steps),
        table(["store", "appends to one thread (one message each)",
               f"`list_executions`, {section['executions']:,} stored: newest 50 / one agent / agent + status / "
               "page 2"], io),
        goals_table(section["goals"]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sdk-repeat", type=int, default=3)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--pg", default=os.environ.get("LOOPLINE_TEST_PG_URL") or None)
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loopline-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    backends: dict[str, Callable[[], Store]] = {
        "in-memory": InMemoryStore,
        "SQLite file": lambda: SQLiteStore(work / f"bench-{time.monotonic_ns()}.db"),
    }
    if args.pg:
        backends["PostgreSQL (local)"] = lambda: open_store(args.pg)
    section: dict[str, Any] = {k: getattr(args, k) for k in ("steps", "repeat", "sdk_repeat", "appends", "executions")}
    section.update(measure(args, backends))
    ratio = section["sdk_step_cpu_s"]["SQLite file"] / section["sdk_step_cpu_s"]["in-memory"]
    section["goals"] = [goal_row("SQLite store: loop step with the `openai` client vs in-memory",
                                 f"{fmt_ratio(ratio)} ({round((ratio - 1) * 100):+d}%)",
                                 f"at most {SQLITE_GOAL:g}x (+25%)", ratio <= SQLITE_GOAL)]
    section["markdown"] = render(section)
    print(section["markdown"])
    save_section(args.json, "store", section)


if __name__ == "__main__":
    main()
