"""Per-step client CPU of loopline's own calls in the manual loop, against a hand-written baseline.

Both loops take the same pre-built Chat Completions responses (K steps of one tool call each, the
last a call to finish), so the model and the network are out of the picture: what is measured is what the library
adds per step. The baseline is the least a hand-written loop can do: append the assistant message,
`json.loads` the arguments, call the tool, append a tool message. Figures are ratios against it,
measured in the same run.

Goal: loopline's own calls cost at most 1 ms of client CPU per step (PASS/MISS is printed; a miss
never fails the script).

    python tools/bench/manual_loop.py [--steps 50] [--repeat 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openai.types.chat import ChatCompletion

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenario
from scenario import chat_completion, fmt_ratio, fmt_time, goal_row, goals_table, median, save_section, table

from loopline import Agent, InMemoryStore, Store, tool

lookup = tool(scenario.lookup)
GOAL_S = 1e-3
"""Goal: loopline's own calls per step, client CPU."""


def prebuilt(steps: int) -> list[dict[str, Any]]:
    """The pre-built Chat Completions responses of a `steps`-step run."""
    return [chat_completion(turn, steps) for turn in range(1, steps + 1)]


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


ROWS = {
    "baseline": "hand-written dict loop (append message, `json.loads`, call tool, append result)",
    "dicts": "loopline manual loop, dict responses (`request_kwargs`, `add_messages`, `extract_tool_calls`, "
             "`run_tools`)",
    "objects": "loopline manual loop, `openai` SDK objects",
}


def measure(steps: int, repeat: int) -> dict[str, float]:
    """Median client CPU per step of each row, in seconds."""
    dicts = prebuilt(steps)
    objects = [ChatCompletion.model_validate(d) for d in dicts]
    rows: dict[str, Callable[[], float]] = {"baseline": lambda: baseline(dicts),
                                            "dicts": lambda: with_loopline(dicts),
                                            "objects": lambda: with_loopline(objects)}
    for fn in rows.values():
        fn()  # warm up
    return {name: median([fn() for _ in range(repeat)]) / steps for name, fn in rows.items()}


def render(section: dict[str, Any]) -> str:
    """The markdown of this script's table and goal, from its JSON section."""
    per_step, base = section["cpu_per_step_s"], section["cpu_per_step_s"]["baseline"]
    head = (f"**loopline's own calls in the manual loop**, {section['steps']} steps, median of "
            f"{section['repeat']} runs:")
    rows = [[label, fmt_time(per_step[name]), fmt_ratio(per_step[name] / base)] for name, label in ROWS.items()]
    return "\n\n".join([head, table(["loop", "client CPU per step", "vs. baseline"], rows),
                         goals_table(section["goals"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", default=None, help="store the results in this JSON file (other sections kept)")
    args = parser.parse_args()
    per_step = measure(args.steps, args.repeat)
    worst = max(per_step["dicts"], per_step["objects"])
    goals = [goal_row(f"loopline's own calls per step in the manual loop, K={args.steps}", fmt_time(worst),
                      f"at most {fmt_time(GOAL_S)}", worst <= GOAL_S)]
    section: dict[str, Any] = {"steps": args.steps, "repeat": args.repeat, "cpu_per_step_s": per_step,
                               "goals": goals}
    section["markdown"] = render(section)
    print(section["markdown"])
    save_section(args.json, "manual_loop", section)


if __name__ == "__main__":
    main()
