"""The seed loop gets the agent's instructions to the server on every API, checked on the wire: the
official `openai` and `anthropic` clients talk to a stand-in server on 127.0.0.1 that records each
request body (tests/readme_server.py).

Chat Completions carries them as the first message and the Responses API as the first `input` item,
both inside `agent.messages`; Anthropic takes them apart, as `system=agent.system`, and a response
to messages sent without them is warned about.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import anthropic
import openai
import pytest
from tests.readme_server import ReadmeServer

from loopline import Agent, ExecutionStatus, InMemoryStore, LLMProvider, tool
from loopline.agent import InstructionsNotSentWarning

README = Path(__file__).resolve().parents[3] / "README.md"
SECTION = "### The same loop on Anthropic and the Responses API"
INSTRUCTIONS = "You research things."
Body = dict[str, Any]


@tool
def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
    """Current weather for a city.

    Args:
        city: The city's name.
        unit: Celsius or Fahrenheit.
    """
    return f"12 degrees {unit} and cloudy in {city}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReadmeServer]:
    with ReadmeServer() as running:
        for name, value in running.sdk_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LOOPLINE_DB", str(tmp_path / "seed.db"))
        yield running


def bodies(server: ReadmeServer, path: str) -> list[Body]:
    return [body for p, body in server.received if p == path]


def seed_loop(agent: Agent, create: Callable[[Agent], Any]) -> None:
    """The seed's loop, with the request made by `create`."""
    agent.add_task(input="Is it warmer in Oslo or Rome?")
    while not agent.is_finished():
        response = create(agent)
        agent.add_messages(response)
        tool_calls = agent.extract_tool_calls(response)
        agent.run_tools(tool_calls)
    assert agent.retrieve_execution_result().status is ExecutionStatus.COMPLETED


def agent_on(provider: LLMProvider, instructions: str = INSTRUCTIONS) -> Agent:
    return Agent("researcher", instructions=instructions, tools=[get_weather], llm_provider=provider,
                 store=InMemoryStore())


def anthropic_create(*, with_system: bool) -> Callable[[Agent], Any]:
    def create(agent: Agent) -> Any:
        system: Any = agent.system if with_system else anthropic.NOT_GIVEN
        return anthropic.Anthropic().messages.create(model="claude-sonnet-4-6", max_tokens=1024, system=system,
                                                     messages=agent.messages, tools=agent.get_tools())
    return create


def readme_block() -> str:
    text = README.read_text()
    section = text[text.index(SECTION):]
    found = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert found is not None, f"no Python block under {SECTION!r}"
    return found.group(1)


def test_the_readme_seed_loops_send_the_instructions(server: ReadmeServer) -> None:
    namespace: dict[str, Any] = {"Agent": Agent, "LLMProvider": LLMProvider, "OpenAI": openai.OpenAI,
                                 "get_weather": get_weather, "__name__": "readme"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", InstructionsNotSentWarning)
        exec(compile(readme_block(), "README.md", "exec"), namespace)

    for name in ("claude", "responses_agent"):
        assert namespace[name].retrieve_execution_result().status is ExecutionStatus.COMPLETED
    sent_to_anthropic, sent_to_responses = bodies(server, "/v1/messages"), bodies(server, "/v1/responses")
    assert len(sent_to_anthropic) == len(sent_to_responses) == 2  # the tool, then finish
    assert [b["system"] for b in sent_to_anthropic] == [[{"type": "text", "text": INSTRUCTIONS}]] * 2
    assert [b["input"][0] for b in sent_to_responses] == [{"role": "system", "content": INSTRUCTIONS}] * 2
    assert [b["input"][1]["role"] for b in sent_to_responses] == ["user"] * 2
    assert all("instructions" not in b for b in sent_to_responses)  # said once, not twice


def test_chat_completions_carries_them_as_the_first_message(server: ReadmeServer) -> None:
    seed_loop(agent_on(LLMProvider.OPEN_AI), lambda a: openai.OpenAI().chat.completions.create(
        model="gpt-4o", messages=a.messages, tools=a.get_tools()))
    sent = bodies(server, "/v1/chat/completions")
    assert [b["messages"][0] for b in sent] == [{"role": "system", "content": INSTRUCTIONS}] * 2


def test_the_responses_api_takes_them_as_the_first_input_item(server: ReadmeServer) -> None:
    """The item says what `instructions` says, and the rest is the conversation as `request_kwargs()`
    renders it under `instructions`."""
    expected: list[list[Body]] = []

    def create(agent: Agent) -> Any:
        request = agent.request_kwargs()
        assert request["instructions"] == INSTRUCTIONS
        expected.append([{"role": "system", "content": INSTRUCTIONS}, *request["input"]])
        return openai.OpenAI().responses.create(model="gpt-5-mini", input=agent.messages, tools=agent.get_tools())

    seed_loop(agent_on(LLMProvider.OPEN_AI_RESPONSES), create)
    sent = bodies(server, "/v1/responses")
    assert [b["input"] for b in sent] == expected
    assert [len(items) for items in expected] == [2, 4]  # instructions, task; then the call and its output


def test_anthropic_takes_them_as_system(server: ReadmeServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InstructionsNotSentWarning)
        seed_loop(agent_on(LLMProvider.ANTHROPIC), anthropic_create(with_system=True))
    sent = bodies(server, "/v1/messages")
    assert [b["system"] for b in sent] == [[{"type": "text", "text": INSTRUCTIONS}]] * 2
    assert all(m["role"] in ("user", "assistant") for b in sent for m in b["messages"])


def test_anthropic_messages_sent_without_system_are_warned_about(server: ReadmeServer) -> None:
    with pytest.warns(InstructionsNotSentWarning, match=r"pass system=agent.system") as caught:
        seed_loop(agent_on(LLMProvider.ANTHROPIC), anthropic_create(with_system=False))
    assert all("system" not in b for b in bodies(server, "/v1/messages"))  # what the warning is about
    assert {w.filename for w in caught} == {__file__}  # it points at the loop's add_messages


def test_anthropic_without_instructions_sends_an_empty_system_and_no_warning(server: ReadmeServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InstructionsNotSentWarning)
        seed_loop(agent_on(LLMProvider.ANTHROPIC, instructions=""), anthropic_create(with_system=False))
        seed_loop(agent_on(LLMProvider.ANTHROPIC, instructions=""), anthropic_create(with_system=True))
    assert [b.get("system") for b in bodies(server, "/v1/messages")] == [None, None, [], []]


def test_request_kwargs_carry_them_on_anthropic_without_a_warning(server: ReadmeServer) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InstructionsNotSentWarning)
        seed_loop(agent_on(LLMProvider.ANTHROPIC), lambda a: anthropic.Anthropic().messages.create(
            model="claude-sonnet-4-6", max_tokens=1024, **a.request_kwargs()))
    assert [b["system"] for b in bodies(server, "/v1/messages")] == [INSTRUCTIONS] * 2
