"""The manual loop end to end with the real `openai` SDK client, its HTTP replayed by vcrpy.

The cassette matches requests on their parsed JSON body, so these tests also pin down exactly what
loopline sends: a change to rendering shows up here as a request with no recording.
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import vcr.errors
import yaml

from loopline import Agent, ExecutionStatus
from loopline.testing import REQUEST_HEADERS, RESPONSE_HEADERS, CassetteError, use_cassette
from sdk_clients import sdk_client

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import research_handoff as demo  # noqa: E402

CASSETTES = sorted((ROOT / "cassettes").rglob("*.yaml"))


def _client(*, asynchronous: bool = False) -> Any:
    return sdk_client("openai", base_url="https://api.openai.com/v1", api_key="sk-test-not-a-key",
                      asynchronous=asynchronous)


def test_two_agent_handoff_replays_from_the_cassette() -> None:
    out = io.StringIO()
    with use_cassette(demo.CASSETTE):
        first, second = demo.run_demo(_client(), demo.REPLAY_MODEL, out=out)

    assert (first.status, first.steps, first.error) == (ExecutionStatus.COMPLETED, 2, None)
    assert first.result == ("Rome is warmer: 17 °C and sunny, against 4 °C with light rain in Oslo, "
                            "so Rome is 13 degrees warmer.")
    assert (second.status, second.steps, second.thread_id) == (ExecutionStatus.COMPLETED, 1, first.thread_id)
    assert second.result.startswith("Pack for sunshine if you pick Rome")
    assert second.execution_id != first.execution_id
    assert first.usage.requests == 2 and second.usage.requests == 1
    printed = out.getvalue()
    assert 'get_weather(city="Oslo") -> {"city":"Oslo","temperature":4.0,"unit":"c","sky":"light rain"}' in printed


def test_the_async_client_and_arun_tools_replay_the_same_traffic() -> None:
    async def research() -> Agent:
        client = _client(asynchronous=True)
        agent = demo.researcher()
        agent.add_task(input=demo.QUESTION)
        while not agent.is_finished():
            response = await client.chat.completions.create(model=demo.REPLAY_MODEL, **agent.request_kwargs())
            agent.add_messages(response)
            calls = Agent.extract_tool_calls(response)
            if calls:
                await agent.arun_tools(calls)
        return agent

    with use_cassette(demo.CASSETTE) as cassette:
        agent = asyncio.run(research())
        # The writer's request is not made here; consume it so the cassette check stays strict.
        writer = demo.writer()
        writer.add_task(input=demo.WRITE_UP, thread_id=agent.thread_id)
        writer.add_messages(_client().chat.completions.create(model=demo.REPLAY_MODEL, **writer.request_kwargs()))
        assert cassette.all_played
    assert agent.retrieve_execution_result().result.startswith("Rome is warmer")


def test_a_request_that_was_never_recorded_fails_clearly() -> None:
    agent = demo.researcher()
    agent.add_task(input="A question nobody recorded")
    with pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException) as info, use_cassette(demo.CASSETTE):
        _client().chat.completions.create(model=demo.REPLAY_MODEL, **agent.request_kwargs())
    assert "JSON request bodies differ" in str(info.value)
    assert "A question nobody recorded" in str(info.value)


def test_unplayed_interactions_fail_the_replay() -> None:
    with pytest.raises(CassetteError, match="never played"), use_cassette(demo.CASSETTE):
        pass


@pytest.mark.parametrize("path", CASSETTES, ids=[p.name for p in CASSETTES])
def test_cassettes_hold_no_secrets(path: Path) -> None:
    text = path.read_text()
    data = yaml.safe_load(text)
    for item in data["interactions"]:
        assert {k.lower() for k in item["request"]["headers"]} <= REQUEST_HEADERS
        assert {k.lower() for k in item["response"]["headers"]} <= RESPONSE_HEADERS
    assert not re.search(r"sk-[A-Za-z0-9_-]{8,}|sk-ant-|Bearer |org-[A-Za-z0-9]{10,}|proj_[A-Za-z0-9]{10,}", text)
