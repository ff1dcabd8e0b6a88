"""Property tests: damaged provider output gives a correct parse or a loopline error, never anything else.

Inputs are the real recorded responses and streams of tests/wire, truncated, reordered and
corrupted by hypothesis. "Correct" for a stream cut short is strict: either the cut is refused as a
cut (`ResponseParseError`) or nothing that matters was lost (same tool calls, same text).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wire
from loopline import Agent, LLMProvider, Message
from loopline.errors import LooplineError, ResponseParseError
from loopline.providers import get_adapter

APIS = {
    "openai/chat.completions": LLMProvider.OPEN_AI,
    "anthropic/messages": LLMProvider.ANTHROPIC,
    "openai/responses": LLMProvider.OPEN_AI_RESPONSES,
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _files(stream: bool) -> list[tuple[LLMProvider, wire.WireFile]]:
    return [(provider, w) for api, provider in APIS.items() for w in wire.load(api)
            if w.stream == stream and not w.is_error]


STREAMS = _files(stream=True)
BODIES = _files(stream=False)


def _summary(messages: list[Message]) -> tuple[Any, ...]:
    [m] = messages
    return (tuple((c.id, c.name, c.arguments) for c in m.tool_calls), m.text)


def _parse_or_error(provider: LLMProvider, value: Any) -> list[Message] | LooplineError:
    try:
        messages = get_adapter(provider).parse(value)
        Agent.extract_tool_calls(value, llm_provider=provider)
    except LooplineError as exc:
        assert str(exc), "a loopline error must say what was wrong"
        return exc
    assert all(isinstance(m, Message) for m in messages)
    return messages


def _mutations() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5),
                     st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                          max_size=2))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


def _corrupt(value: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    if not path:
        return replacement
    root = copy.deepcopy(value)
    node = root
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    elif delete and isinstance(node, list):
        node.pop(path[-1])
    else:
        node[path[-1]] = replacement
    return root


@pytest.mark.parametrize(("provider", "w"), STREAMS, ids=[w.name for _, w in STREAMS])
@SETTINGS
@given(data=st.data())
def test_a_cut_stream_is_refused_or_loses_nothing(provider: LLMProvider, w: wire.WireFile, data: Any) -> None:
    full = _summary(get_adapter(provider).parse(w.response))
    cut = data.draw(st.integers(1, len(w.response) - 1), label="events kept")  # [] is no stream at all
    outcome = _parse_or_error(provider, w.response[:cut])
    if isinstance(outcome, list):
        assert _summary(outcome) == full, "a cut stream parsed, but lost something"
    else:
        assert isinstance(outcome, ResponseParseError)


@pytest.mark.parametrize(("provider", "w"), STREAMS, ids=[w.name for _, w in STREAMS])
@SETTINGS
@given(data=st.data())
def test_reordered_or_dropped_events_never_crash(provider: LLMProvider, w: wire.WireFile, data: Any) -> None:
    events = copy.deepcopy(w.response)
    order = data.draw(st.permutations(range(len(events))), label="order")
    keep = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)), label="keep")
    _parse_or_error(provider, [events[i] for i, k in zip(order, keep, strict=True) if k])


@pytest.mark.parametrize(("provider", "w"), STREAMS, ids=[w.name for _, w in STREAMS])
@SETTINGS
@given(data=st.data())
def test_corrupted_events_never_crash(provider: LLMProvider, w: wire.WireFile, data: Any) -> None:
    paths = _paths(w.response)[1:]
    path = data.draw(st.sampled_from(paths), label="path")
    damaged = _corrupt(w.response, path, data.draw(_mutations(), label="value"), data.draw(st.booleans()))
    _parse_or_error(provider, damaged)


@pytest.mark.parametrize(("provider", "w"), STREAMS, ids=[w.name for _, w in STREAMS])
@SETTINGS
@given(data=st.data())
def test_damaged_sse_text_never_crashes(provider: LLMProvider, w: wire.WireFile, data: Any) -> None:
    raw: str = w.data["raw_sse"]
    start = data.draw(st.integers(0, len(raw)), label="start")
    end = data.draw(st.integers(start, len(raw)), label="end")
    insert = data.draw(st.sampled_from(["", "\n", "data: ", "{", "}", "event: x\n", "\n\n", "data: [DONE]\n\n"]))
    _parse_or_error(provider, raw[:start] + insert + raw[end:])


@pytest.mark.parametrize(("provider", "w"), BODIES, ids=[w.name for _, w in BODIES])
@SETTINGS
@given(data=st.data())
def test_corrupted_bodies_never_crash(provider: LLMProvider, w: wire.WireFile, data: Any) -> None:
    paths = _paths(w.response)
    path = data.draw(st.sampled_from(paths), label="path")
    damaged = _corrupt(w.response, path, data.draw(_mutations(), label="value"), data.draw(st.booleans()))
    _parse_or_error(provider, damaged)
