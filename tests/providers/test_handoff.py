"""Threads move between providers: a thread written on one API renders into a request another accepts.

Each source thread is built from real recorded traffic in tests/wire (a tool round with parallel
calls, Anthropic thinking with a signature, Responses reasoning with encrypted content), driven
through a real `Agent`. It is then handed to an agent on every other API; the request that agent
would send is checked against that API's rules (tests/provider_rules.py), and what had to be dropped
or converted must be reported, never silent.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import wire
from loopline import Agent, InMemoryStore, LLMProvider, Tool
from loopline.providers import LossyRenderingWarning, RenderReport
from provider_rules import anthropic_violations, chat_violations, responses_violations

RULES: dict[LLMProvider, Callable[[dict[str, Any]], list[str]]] = {
    LLMProvider.OPEN_AI: chat_violations,
    LLMProvider.ANTHROPIC: anthropic_violations,
    LLMProvider.OPEN_AI_RESPONSES: responses_violations,
}

# (provider, first exchange with tool calls, the exchange after the results, a tool result text per call)
SOURCES = {
    LLMProvider.OPEN_AI: (
        "openai/chat.completions", "001_parallel-two-tools.json", "002_parallel-two-tools-results.json"),
    LLMProvider.ANTHROPIC: (
        "anthropic/messages", "003_thinking-then-tool-use.json", "014_thinking-signature-replayed.json"),
    LLMProvider.OPEN_AI_RESPONSES: (
        "openai/responses", "005_reasoning-then-call.json", "006_reasoning-item-replayed.json"),
}


def _exchange(api: str, name: str) -> wire.WireFile:
    found = [w for w in wire.load(api) if w.name == name]
    assert found, f"{name} is missing from the {api} corpus"
    return found[0]


def _tools(request: dict[str, Any]) -> list[Tool]:
    tools = []
    for spec in request.get("tools") or []:
        body = spec.get("function", spec)
        params = body.get("parameters") or body.get("input_schema") or {"type": "object", "properties": {}}
        tools.append(Tool.from_spec({"name": body["name"], "description": body.get("description", ""),
                                     "parameters": params}, lambda **kw: json.dumps({"ok": True, **kw})))
    return tools


def _first_user_text(request: dict[str, Any]) -> str:
    items = request.get("messages") or request.get("input")
    content = next(m["content"] for m in items if m.get("role") == "user")
    return content if isinstance(content, str) else next(b["text"] for b in content if "text" in b)


def build_thread(provider: LLMProvider, store: InMemoryStore) -> Agent:
    """An agent on `provider` that ran one recorded tool round and answered; its thread is the source."""
    api, first, second = SOURCES[provider]
    one, two = _exchange(api, first), _exchange(api, second)
    agent = Agent("source", instructions="Source agent.", tools=_tools(one.request), llm_provider=provider,
                  store=store)
    agent.add_task(input=_first_user_text(one.request))
    agent.add_messages(one.response)
    calls = Agent.extract_tool_calls(one.response, llm_provider=provider)
    assert calls, f"{first} should hold tool calls"
    agent.run_tools(calls)
    agent.add_messages(two.response)
    assert agent.is_finished()
    return agent


PAIRS = [(a, b) for a in SOURCES for b in SOURCES if a != b]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_a_thread_renders_into_a_request_the_target_accepts(source: LLMProvider, target: LLMProvider) -> None:
    store = InMemoryStore()
    origin = build_thread(source, store)
    heir = Agent("heir", instructions="Heir agent.", llm_provider=target, store=store)
    heir.add_task(input="Summarise what happened.", thread_id=origin.thread_id)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kwargs = heir.request_kwargs()
    assert RULES[target](kwargs) == []

    # The heir speaks with its own instructions, and the conversation is all there.
    system = {LLMProvider.OPEN_AI: lambda k: k["messages"][0]["content"],
              LLMProvider.ANTHROPIC: lambda k: k["system"],
              LLMProvider.OPEN_AI_RESPONSES: lambda k: k["instructions"]}[target](kwargs)
    assert system == "Heir agent."
    dumped = json.dumps(kwargs)
    assert "Source agent." not in dumped
    for call in [p for m in origin.thread for p in m.tool_calls]:
        assert call.name in dumped
    assert "Summarise what happened." in dumped

    # Reasoning only the source can read is dropped, and said so: in a warning and in the report.
    _, report = heir.get_messages(report=True)
    assert isinstance(report, RenderReport)
    reasoning = [p for m in origin.thread for p in m.reasoning]
    assert [n.part_kind for n in report.dropped] == ["reasoning"] * len(reasoning)
    assert all(source.value in n.reason for n in report.dropped)
    if reasoning:
        assert any(issubclass(w.category, LossyRenderingWarning) for w in caught)


@pytest.mark.parametrize("provider", list(SOURCES), ids=[p.value for p in SOURCES])
def test_a_thread_renders_back_to_its_own_provider_without_loss(provider: LLMProvider) -> None:
    store = InMemoryStore()
    origin = build_thread(provider, store)
    same = Agent("same", instructions="Same.", llm_provider=provider, store=store)
    same.add_task(input="Go on.", thread_id=origin.thread_id)
    messages, report = same.get_messages(report=True)
    assert report.lossless, report
    assert RULES[provider](same.request_kwargs()) == []
    # What the provider needs back verbatim (signatures, encrypted reasoning) is in the request.
    for part in [p for m in origin.thread for p in m.reasoning]:
        needle = part.signature or (part.provider_details or {}).get("item", {}).get("encrypted_content")
        if needle:
            assert needle in json.dumps(messages)


def test_a_thread_can_go_around_all_three_providers() -> None:
    store = InMemoryStore()
    agent = build_thread(LLMProvider.ANTHROPIC, store)
    thread = agent.thread_id
    for provider in (LLMProvider.OPEN_AI_RESPONSES, LLMProvider.OPEN_AI, LLMProvider.ANTHROPIC):
        nxt = Agent(f"on-{provider.value}", instructions="Next.", llm_provider=provider, store=store)
        nxt.add_task(input=f"Your turn, {provider.value}.", thread_id=thread)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LossyRenderingWarning)
            assert RULES[provider](nxt.request_kwargs()) == []
        nxt.cancel()
    # Anthropic gets its own thinking back with its signature after the round trip.
    final = Agent("last", instructions="Last.", llm_provider=LLMProvider.ANTHROPIC, store=store)
    final.add_task(input="Done?", thread_id=thread)
    _, report = final.get_messages(report=True)
    assert report.lossless
    assert '"type": "thinking"' in json.dumps(final.get_messages())
