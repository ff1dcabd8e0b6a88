"""What a durable store costs: appends per second, list_executions at 100,000 executions, and the
client CPU a loop step pays for SQLite (and PostgreSQL) over the in-memory store.

    python tools/bench/store.py [--steps 50] [--repeat 10] [--executions 100000] [--pg URL]

PostgreSQL rows run when --pg (or LOOPLINE_TEST_PG_URL) names a server. Ratios are against the
in-memory store measured in the same run.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from manual_loop import _response, lookup, with_loopline

from loopline import Execution, ExecutionStatus, Message
from loopline.loop import execution_to_json
from loopline.store import InMemoryStore, SQLiteStore, Store, open_store


def _report(costs: dict[str, float]) -> None:
    base = costs["in-memory"]
    for name, cost in costs.items():
        print(f"  {name:12s} {cost:8.1f} us   {cost / base:5.2f}x in-memory   (+{(cost / base - 1) * 100:.0f}%)")


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


def step_cpu_us(make_store: Callable[[], Store], steps: int, repeat: int) -> float:
    responses = [_response(i, steps) for i in range(1, steps + 1)]
    store = make_store()
    with_loopline(responses, store=store)  # warm up
    return statistics.median(with_loopline(responses, store=store) for _ in range(repeat)) / steps * 1e6


def sdk_step_cpu_us(make_store: Callable[[], Store], steps: int, repeat: int, port: int) -> float:
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
            response = client.chat.completions.create(model="gpt-4o-mini", **agent.request_kwargs())
            agent.add_messages(response)
            calls = Agent.extract_tool_calls(response)
            if calls:
                agent.run_tools(calls)
        return time.process_time() - start

    run()
    return statistics.median(run() for _ in range(repeat)) / steps * 1e6


@contextlib.contextmanager
def mock_server(steps: int) -> Iterator[int]:
    port_dir = tempfile.mkdtemp(prefix="loopline-mock-")
    atexit.register(shutil.rmtree, port_dir, ignore_errors=True)
    port_file = Path(port_dir) / "port"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("mock_openai.py")), str(port_file),
                             "--steps", str(steps)])
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.02)
        yield int(port_file.read_text())
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--pg", default=os.environ.get("LOOPLINE_TEST_PG_URL") or None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loopline-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    backends: dict[str, Callable[[], Store]] = {
        "in-memory": InMemoryStore,
        "SQLite file": lambda: SQLiteStore(work / f"bench-{time.monotonic_ns()}.db"),
    }
    if args.pg:
        backends["PostgreSQL"] = lambda: open_store(args.pg)

    with mock_server(args.steps) as port:
        print(f"manual loop step with the openai client against a local mock server, {args.steps} steps x "
              f"{args.repeat} runs, client CPU per step (median):")
        _report({name: sdk_step_cpu_us(make, args.steps, args.repeat, port) for name, make in backends.items()})
    print(f"\nloopline's own calls per step (no client call), {args.steps} steps x {args.repeat} runs:")
    _report({name: step_cpu_us(make, args.steps, args.repeat) for name, make in backends.items()})

    print(f"\nappends to one thread, one message each, {args.appends} appends:")
    for name, make in backends.items():
        print(f"  {name:12s} {appends_per_second(make(), args.appends):10.0f} appends/s")

    print(f"\nlist_executions with {args.executions:,} executions stored (median of 20):")
    for name, make in backends.items():
        if name == "in-memory":
            continue
        store = make()
        fill_executions(store, args.executions)
        for query, ms in list_latency_ms(store).items():
            print(f"  {name:12s} {query:24s} {ms:8.2f} ms")
        store.close()


if __name__ == "__main__":
    main()
