"""One benchmark loop, run in a fresh process so its peak memory stands alone; compare.py starts it.

    python loops.py LOOP --port PORT --tools TOOLS.json [--steps 50] [--repeat 5] [--record LABEL]
                    [--executions 200] [--latency-ms 50]

It runs the loop once to warm up (a burst: with 10 executions), then `--repeat` times against the
mock server on 127.0.0.1:PORT, and prints one JSON object: the process CPU time and wall time of
each timed run, the requests per run, and the process's peak RSS (warm-up included; `peak_rss_mib`
says why it is `VmHWM`). Only the loopline loops import loopline; the hand-written loops read the
tool list (loopline's own rendering of the same tools, written by compare.py) from TOOLS.json, so
every loop offers the model the same bytes.

The hand-written loops build the conversation the way loopline renders it (an assistant turn with
no `content` key; on Anthropic the task as a text block and `is_error: false` on each tool result),
so the request bodies of all loops can be compared for equality.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scenario import ANTHROPIC_MODEL, MAX_TOKENS, MODEL, SYSTEM, TASK, lookup


class Setup:
    """What every loop needs: the server, the tools, and the headers that steer the mock server."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.base = f"http://127.0.0.1:{args.port}"
        self.tools: dict[str, Any] = json.loads(Path(args.tools).read_text())
        self.executions: int = args.executions
        self.headers = {"x-bench-steps": str(args.steps), "x-bench-latency-ms": str(args.latency_ms)}
        if args.record:
            self.headers["x-bench-record"] = args.record

    def openai(self, asynchronous: bool = False) -> Any:
        import openai

        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(api_key="sk-bench", base_url=f"{self.base}/v1", max_retries=0, default_headers=self.headers)

    def anthropic(self, asynchronous: bool = False) -> Any:
        import anthropic

        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(api_key="sk-ant-bench", base_url=self.base, max_retries=0, default_headers=self.headers)

    def httpx(self, asynchronous: bool = False) -> Any:
        """A raw client with the SDKs' connection limits, so the floor pools connections as they do."""
        import httpx2

        limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
        cls = httpx2.AsyncClient if asynchronous else httpx2.Client
        return cls(base_url=self.base, headers=self.headers, limits=limits, timeout=60)


def _run_tool(name: str, arguments: dict[str, Any]) -> str:
    return lookup(**arguments) if name == "lookup" else "done"


# --- OpenAI Chat Completions ---------------------------------------------------------------------

def _chat_body(messages: list[dict[str, Any]], tools: Any) -> bytes:
    return json.dumps({"model": MODEL, "messages": messages, "tools": tools}).encode()


def _chat_step(messages: list[dict[str, Any]], calls: list[dict[str, Any]]) -> bool:
    """Append the assistant turn and the tool results; True when the model called finish."""
    messages.append({"role": "assistant", "tool_calls": calls})
    for call in calls:
        if call["function"]["name"] == "finish":
            return True
        out = _run_tool(call["function"]["name"], json.loads(call["function"]["arguments"]))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": out})
    return False


def openai_raw(setup: Setup) -> Callable[[], int]:
    """The floor: httpx2 and json, nothing else."""
    client, tools = setup.httpx(), setup.tools["openai"]
    json_header = {"content-type": "application/json", "authorization": "Bearer sk-bench"}

    def once() -> int:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
        requests = 0
        while True:
            response = client.post("/v1/chat/completions", content=_chat_body(messages, tools), headers=json_header)
            response.raise_for_status()
            requests += 1
            if _chat_step(messages, json.loads(response.content)["choices"][0]["message"]["tool_calls"]):
                return requests
    return once


def openai_sdk(setup: Setup) -> Callable[[], int]:
    """The plain `openai` SDK loop: a growing message list, `chat.completions.create` each step."""
    client, tools = setup.openai(), setup.tools["openai"]

    def once() -> int:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
        requests = 0
        while True:
            response = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
            requests += 1
            calls = [{"id": c.id, "type": "function", "function": {"name": c.function.name,
                                                                   "arguments": c.function.arguments}}
                     for c in response.choices[0].message.tool_calls or []]
            if _chat_step(messages, calls):
                return requests
    return once


def openai_sdk_body(setup: Setup) -> Callable[[], int]:
    """The plain SDK loop with the conversation handed over as the wire body (`extra_body`), so the
    SDK does not transform its typed parameters: what the SDK costs on top of the floor by itself."""
    client, tools = setup.openai(), setup.tools["openai"]

    def once() -> int:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
        requests = 0
        while True:
            response = client.chat.completions.create(model=MODEL, messages=[],
                                                      extra_body={"messages": messages, "tools": tools})
            requests += 1
            calls = [{"id": c.id, "type": "function", "function": {"name": c.function.name,
                                                                   "arguments": c.function.arguments}}
                     for c in response.choices[0].message.tool_calls or []]
            if _chat_step(messages, calls):
                return requests
    return once


_TOOLS: list[Any] = []


def _agent(provider: str, store: str) -> Any:
    """A fresh agent with an InMemoryStore (`store="memory"`) or the default store (a SQLite file)."""
    from loopline import Agent, InMemoryStore, tool

    if not _TOOLS:
        _TOOLS.append(tool(lookup))  # made once, as a module-level @tool would be
    return Agent(name="bench", instructions=SYSTEM, tools=_TOOLS, llm_provider=provider,
                 store=InMemoryStore() if store == "memory" else None)


def _manual(provider: str, create: Callable[[dict[str, Any]], Any]) -> Callable[[], int]:
    """loopline's manual loop around the SDK call `create(request_kwargs)`."""
    from loopline import Agent

    def once() -> int:
        agent = _agent(provider, "memory")
        agent.add_task(input=TASK)
        requests = 0
        while not agent.is_finished():
            response = create(agent.request_kwargs())
            requests += 1
            agent.add_messages(response)
            calls = Agent.extract_tool_calls(response, llm_provider=provider)
            if calls:
                agent.run_tools(calls)
        return requests
    return once


def openai_manual(setup: Setup) -> Callable[[], int]:
    """loopline's manual loop around the same SDK call."""
    client = setup.openai()
    return _manual("openai", lambda request: client.chat.completions.create(model=MODEL, **request))


def _agent_run(setup: Setup, provider: str, store: str) -> Callable[[], int]:
    client = setup.anthropic() if provider == "anthropic" else setup.openai()
    model = f"anthropic:{ANTHROPIC_MODEL}" if provider == "anthropic" else MODEL

    def once() -> int:
        agent = _agent(provider, store)
        result = agent.run(TASK, model=model, client=client)
        if not result.ok:
            raise RuntimeError(f"agent.run ended {result.status}: {result.error}")
        return int(result.steps)
    return once


# --- Anthropic Messages --------------------------------------------------------------------------

def _anthropic_step(messages: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> bool:
    """Append the assistant turn and the tool results; True when the model called finish."""
    messages.append({"role": "assistant", "content": blocks})
    results = []
    for block in blocks:
        if block["type"] == "tool_use":
            if block["name"] == "finish":
                return True
            results.append({"type": "tool_result", "tool_use_id": block["id"],
                            "content": _run_tool(block["name"], block["input"]), "is_error": False})
    messages.append({"role": "user", "content": results})
    return False


def _anthropic_first() -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": TASK}]}]


def anthropic_raw(setup: Setup) -> Callable[[], int]:
    """The floor for Messages: httpx2 and json."""
    client, tools = setup.httpx(), setup.tools["anthropic"]
    headers = {"content-type": "application/json", "x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01"}

    def once() -> int:
        messages = _anthropic_first()
        requests = 0
        while True:
            body = {"model": ANTHROPIC_MODEL, "max_tokens": MAX_TOKENS, "system": SYSTEM, "messages": messages,
                    "tools": tools}
            response = client.post("/v1/messages", content=json.dumps(body).encode(), headers=headers)
            response.raise_for_status()
            requests += 1
            if _anthropic_step(messages, json.loads(response.content)["content"]):
                return requests
    return once


def anthropic_sdk(setup: Setup) -> Callable[[], int]:
    """The plain `anthropic` SDK loop."""
    client, tools = setup.anthropic(), setup.tools["anthropic"]

    def once() -> int:
        messages = _anthropic_first()
        requests = 0
        while True:
            response = client.messages.create(model=ANTHROPIC_MODEL, max_tokens=MAX_TOKENS, system=SYSTEM,
                                              messages=messages, tools=tools)
            requests += 1
            blocks = [{"type": "tool_use", "id": b.id, "name": b.name, "input": b.input}
                      for b in response.content if b.type == "tool_use"]
            if _anthropic_step(messages, blocks):
                return requests
    return once


def anthropic_manual(setup: Setup) -> Callable[[], int]:
    """loopline's manual loop around the same SDK call."""
    client = setup.anthropic()
    return _manual("anthropic", lambda request: client.messages.create(model=ANTHROPIC_MODEL, max_tokens=MAX_TOKENS,
                                                                       **request))


# --- the concurrent burst ------------------------------------------------------------------------

def burst_raw(setup: Setup) -> Callable[[], int]:
    """The async floor: one httpx2.AsyncClient, asyncio.gather over the executions."""
    tools = setup.tools["openai"]
    json_header = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    state: dict[str, Any] = {}

    async def one(_: int) -> int:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
        requests = 0
        while True:
            response = await state["client"].post("/v1/chat/completions", content=_chat_body(messages, tools),
                                                  headers=json_header)
            response.raise_for_status()
            requests += 1
            if _chat_step(messages, json.loads(response.content)["choices"][0]["message"]["tool_calls"]):
                return requests

    async def burst() -> int:
        async with setup.httpx(asynchronous=True) as state["client"]:
            return sum(await asyncio.gather(*(one(i) for i in range(setup.executions))))
    return lambda: asyncio.run(burst())


def burst_sdk(setup: Setup) -> Callable[[], int]:
    """The same burst with the plain AsyncOpenAI SDK: what the SDK alone adds to the floor."""
    tools = setup.tools["openai"]
    state: dict[str, Any] = {}

    async def one(_: int) -> int:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TASK}]
        requests = 0
        while True:
            response = await state["client"].chat.completions.create(model=MODEL, messages=messages, tools=tools)
            requests += 1
            calls = [{"id": c.id, "type": "function", "function": {"name": c.function.name,
                                                                   "arguments": c.function.arguments}}
                     for c in response.choices[0].message.tool_calls or []]
            if _chat_step(messages, calls):
                return requests

    async def burst() -> int:
        async with setup.openai(asynchronous=True) as state["client"]:
            return sum(await asyncio.gather(*(one(i) for i in range(setup.executions))))
    return lambda: asyncio.run(burst())


def burst_arun(setup: Setup) -> Callable[[], int]:
    """`agent.arun` for every execution at once, one AsyncOpenAI client and one InMemoryStore."""
    from loopline import Agent, InMemoryStore, tool

    store = InMemoryStore()
    bench_tool = tool(lookup)

    async def burst() -> int:
        client = setup.openai(asynchronous=True)
        async with client:
            agents = [Agent(name=f"bench-{i}", instructions=SYSTEM, tools=[bench_tool], store=store)
                      for i in range(setup.executions)]
            results = await asyncio.gather(*(a.arun(TASK, model=MODEL, client=client) for a in agents))
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} executions did not complete: {failed[0].error}")
        return sum(r.steps for r in results)
    return lambda: asyncio.run(burst())


LOOPS: dict[str, Callable[[Setup], Callable[[], int]]] = {
    "openai_raw": openai_raw,
    "openai_sdk": openai_sdk,
    "openai_sdk_body": openai_sdk_body,
    "openai_manual": openai_manual,
    "openai_run": lambda s: _agent_run(s, "openai", "memory"),
    "openai_run_sqlite": lambda s: _agent_run(s, "openai", "default"),
    "anthropic_raw": anthropic_raw,
    "anthropic_sdk": anthropic_sdk,
    "anthropic_manual": anthropic_manual,
    "anthropic_run": lambda s: _agent_run(s, "anthropic", "memory"),
    "burst_raw": burst_raw,
    "burst_sdk": burst_sdk,
    "burst_arun": burst_arun,
}


def warm_up(loop: str, setup: Setup, once: Callable[[], int]) -> None:
    """One untimed run, so first-use costs (lazy imports, connection set-up) stay out of the figures;
    a burst warms up with a few executions only."""
    executions = setup.executions
    if loop.startswith("burst_"):
        setup.executions = min(10, executions)
    try:
        once()
    finally:
        setup.executions = executions


def measure(once: Callable[[], int], repeat: int) -> dict[str, Any]:
    """Time `repeat` runs: process CPU (this process only) and wall; then the process's peak RSS."""
    cpu, wall, requests = [], [], 0
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        requests = once()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"cpu_s": cpu, "wall_s": wall, "requests": requests, **peak_rss_mib()}


def peak_rss_mib() -> dict[str, float]:
    """The process's peak RSS. `ru_maxrss` is kept as asked, but on Linux it is not this process's
    alone: execve carries the parent's high-water mark over (a child of a 200 MiB process reports
    at least 200 MiB), so the tables use `VmHWM`, the peak of this process's own memory map."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    hwm = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return {"peak_rss_mib": hwm if hwm is not None else maxrss, "ru_maxrss_mib": maxrss}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("loop", choices=sorted(LOOPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tools", required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--record", default="")
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    setup = Setup(args)
    once = LOOPS[args.loop](setup)
    warm_up(args.loop, setup, once)
    json.dump(measure(once, args.repeat), sys.stdout)


if __name__ == "__main__":
    main()
