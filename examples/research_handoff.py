"""The loopline demo: two agents, one thread.

Agent A (the researcher) answers a question with tools and ends with the finish tool; agent B (the
writer) continues A's thread by `thread_id` and writes the answer up. Both run the manual loop with
the official `openai` client.

Without OPENAI_API_KEY the model's responses are replayed from cassettes/demo_handoff.yaml; with it
the demo runs live (OPENAI_BASE_URL may point at any OpenAI-compatible server, LOOPLINE_DEMO_MODEL
picks the model).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from openai import OpenAI

from loopline import Agent, ExecutionResult, LLMProvider, tool

CASSETTE = Path(__file__).resolve().parent.parent / "cassettes" / "demo_handoff.yaml"
REPLAY_MODEL = "gpt-4o-mini"
QUESTION = "Is it warmer in Oslo or in Rome right now, and by how many degrees?"
WRITE_UP = "Write a two-sentence note for a traveller choosing between the two cities, based on the research."

_WEATHER = {"oslo": (4.0, "light rain"), "rome": (17.0, "sunny"), "paris": (11.0, "overcast")}


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, Any]:
    """Current weather for a city.

    Args:
        city: The city's name, e.g. "Oslo".
        unit: Temperature unit: "c" for Celsius, "f" for Fahrenheit.
    """
    found = _WEATHER.get(city.strip().lower())
    if found is None:
        raise ValueError(f"no weather station for {city!r}; known cities: Oslo, Rome, Paris")
    celsius, sky = found
    temperature = celsius if unit == "c" else round(celsius * 9 / 5 + 32, 1)
    return {"city": city, "temperature": temperature, "unit": unit, "sky": sky}


def researcher() -> Agent:
    """Agent A: looks things up with tools, then calls `finish` with the answer."""
    return Agent(name="researcher", tools=[get_weather], require_finish_tool=True,
                 instructions="You research questions with your tools. Call tools in parallel when you can. "
                              "When you have the answer, call finish with it.")


def writer() -> Agent:
    """Agent B: writes for people, from whatever the thread already holds."""
    return Agent(name="writer", instructions="You write short, friendly notes for travellers. "
                                             "Reply with the note only.")


def run_agent(agent: Agent, client: OpenAI, model: str, out: Any) -> ExecutionResult:
    """The manual loop, printing each step."""
    step = 0
    while not agent.is_finished():
        step += 1
        response = client.chat.completions.create(model=model, **agent.request_kwargs())
        agent.add_messages(response)
        calls = Agent.extract_tool_calls(response, llm_provider=LLMProvider.OPEN_AI)
        usage = response.usage
        tokens = f"tokens in {usage.prompt_tokens}, out {usage.completion_tokens}" if usage else "no usage"
        text = response.choices[0].message.content
        print(f"  step {step}: {len(calls)} tool call(s), {tokens}", file=out)
        if text:
            print(f"    says: {text}", file=out)
        for result in agent.run_tools(calls) if calls else []:
            args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in result.payload.items())
            mark = "->" if result.is_success else "-> ERROR"
            print(f"    {result.function_name}({args}) {mark} {result.content}", file=out)
    result = agent.retrieve_execution_result()
    u = result.usage
    print(f"  {agent.name}: {result.status.value.upper()} after {result.steps} step(s); "
          f"usage: {u.input_tokens} in / {u.output_tokens} out / {u.cached_tokens} cached tokens", file=out)
    return result


def run_demo(client: OpenAI, model: str, out: Any = sys.stdout) -> tuple[ExecutionResult, ExecutionResult]:
    """A researches, B continues A's thread; returns both results."""
    a = researcher()
    a.add_task(input=QUESTION)
    print(f"\n== researcher: {QUESTION}", file=out)
    first = run_agent(a, client, model, out)
    print(f"  result: {first.result}", file=out)

    b = writer()
    b.add_task(input=WRITE_UP, thread_id=first.thread_id)
    print(f"\n== writer, continuing thread {first.thread_id}: {WRITE_UP}", file=out)
    second = run_agent(b, client, model, out)
    print(f"  result: {second.result}", file=out)
    return first, second


def main() -> int:
    if os.environ.get("OPENAI_API_KEY"):
        model = os.environ.get("LOOPLINE_DEMO_MODEL", REPLAY_MODEL)
        base = os.environ.get("OPENAI_BASE_URL", "the OpenAI API")
        print(f"loopline demo: LIVE against {base}, model {model}")
        first, second = run_demo(OpenAI(), model)
    else:
        from loopline.testing import use_cassette

        print(f"loopline demo: no OPENAI_API_KEY, so the model's responses are REPLAYED from "
              f"{CASSETTE.relative_to(Path.cwd()) if CASSETTE.is_relative_to(Path.cwd()) else CASSETTE}.\n"
              "Set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, LOOPLINE_DEMO_MODEL) to run it live.")
        with use_cassette(CASSETTE) as cassette:
            note = cassette.get_metadata("loopline", {}).get("note")
            if note:
                print(f"About this cassette: {note}")
            client = OpenAI(api_key="sk-replay-no-key", base_url="https://api.openai.com/v1", max_retries=0)
            first, second = run_demo(client, REPLAY_MODEL)
    return 0 if first.ok and second.ok else 1


if __name__ == "__main__":
    sys.exit(main())
