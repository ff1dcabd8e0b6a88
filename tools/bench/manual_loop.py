"""Per-step client CPU of loopline's own calls in the manual loop, against a hand-written baseline.

Both loops take the same pre-built Chat Completions responses (one tool call per step, K steps, then
finish), so the model and the network are out of the picture: what is measured is what the library
adds per step. The baseline is the least a hand-written loop can do: append the assistant message,
`json.loads` the arguments, call the tool, append a tool message. Figures are ratios against it,
measured in the same run.

    python tools/bench/manual_loop.py [--steps 50] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from openai.types.chat import ChatCompletion

from loopline import Agent, InMemoryStore, Store, tool


@tool
def lookup(key: str, page: int = 1) -> str:
    """Look a key up.

    Args:
        key: What to look up.
        page: Which page of results.
    """
    return f"value of {key} on page {page}: " + "lorem ipsum " * 20


def _response(step: int, steps: int) -> dict[str, Any]:
    if step < steps:
        call = {"id": f"call_{step:04d}abcdefghijklmnop", "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"key": f"k{step}", "page": 2})}}
    else:
        call = {"id": "call_finishabcdefghijklmnop", "type": "function",
                "function": {"name": "finish", "arguments": json.dumps({"result": "done", "is_success": True})}}
    return {"id": f"chatcmpl-{step}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                         "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 100 + step, "completion_tokens": 20, "total_tokens": 120 + step}}


def baseline(responses: list[dict[str, Any]]) -> float:
    start = time.process_time()
    messages: list[dict[str, Any]] = [{"role": "system", "content": "sys"}, {"role": "user", "content": "task"}]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": lookup.definition.parameters}}]
    for response in responses:
        _request = {"messages": list(messages), "tools": tools}
        message = response["choices"][0]["message"]
        messages.append(message)
        for call in message["tool_calls"]:
            args = json.loads(call["function"]["arguments"])
            out = lookup.function(**args) if call["function"]["name"] == "lookup" else "done"
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": out})
    return time.process_time() - start


def with_loopline(responses: list[Any], store: Store | None = None) -> float:
    agent = Agent(name="bench", instructions="sys", tools=[lookup], store=store or InMemoryStore())
    start = time.process_time()
    agent.add_task(input="task")
    for response in responses:
        _request = agent.request_kwargs()
        agent.add_messages(response)
        calls = Agent.extract_tool_calls(response)
        if calls:
            agent.run_tools(calls)
    elapsed = time.process_time() - start
    assert agent.is_finished() and agent.retrieve_execution_result().ok
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    dicts = [_response(i, args.steps) for i in range(1, args.steps + 1)]
    objects = [ChatCompletion.model_validate(d) for d in dicts]
    rows = {"hand-written dict loop (baseline)": lambda: baseline(dicts),
            "loopline, dict responses": lambda: with_loopline(dicts),
            "loopline, SDK objects": lambda: with_loopline(objects)}
    for fn in rows.values():
        fn()  # warm up
    results = {name: statistics.median(fn() for _ in range(args.repeat)) / args.steps for name, fn in rows.items()}
    base = next(iter(results.values()))
    print(f"manual loop, {args.steps} steps x {args.repeat} runs, client CPU per step (median):")
    for name, per_step in results.items():
        print(f"  {name:38s} {per_step * 1e6:8.1f} us   {per_step / base:6.1f}x baseline")


if __name__ == "__main__":
    main()
