"""What every wire API's adapter must do alike, written once and run for each API of the registry.

A made-up response with text and a tool call parses into one assistant message; a thread holding it
renders and parses back to the same parts; the stream the API would send for it reassembles into the
same message; every recorded response of another API is refused with `ProviderMismatchError` naming
what it is; every recorded error body raises `ProviderErrorResponse`. What only one API does stays in
its own tests/providers/test_wire_*.py.
"""

from __future__ import annotations

from typing import Any

import pytest

import wire
from loopline import Agent, LLMProvider, Message
from loopline.errors import ProviderErrorResponse, ProviderMismatchError
from loopline.messages import TextPart, ToolCallPart
from loopline.providers import REGISTRY, WireAPI, describe_format, get_adapter, make_response, synthesize_stream

CORPUS = {LLMProvider.OPEN_AI: "openai/chat.completions", LLMProvider.OPEN_AI_RESPONSES: "openai/responses",
          LLMProvider.ANTHROPIC: "anthropic/messages"}
"""Where each API's recorded traffic is in tests/wire."""

APIS = [pytest.param(api, id=api.provider.value) for api in REGISTRY]
CONTENT: list[Any] = ["Looking it up. ", ("lookup", {"q": "Oslo"})]


def _plain_response(w: wire.WireFile) -> bool:
    return not w.stream and not w.is_error


def _each_api_with(select: Any, *, own: bool) -> list[Any]:
    """(api, recorded file) pairs: each API with the files of its own corpus (`own`) or of the others'."""
    return [pytest.param(api, *p.values, id=f"{api.provider.value}:{p.id}", marks=p.marks)
            for api in REGISTRY for corpus in CORPUS.values() if (corpus == CORPUS[api.provider]) is own
            for p in wire.params(corpus, select, prefix_ids=True)]


FOREIGN = _each_api_with(_plain_response, own=False)
ERRORS = _each_api_with(lambda w: w.is_error and not w.stream, own=True)


@pytest.mark.parametrize("api", APIS)
def test_a_made_up_response_with_a_tool_call_parses_into_one_assistant_message(api: WireAPI) -> None:
    [message] = get_adapter(api.provider).parse(make_response(api.provider, CONTENT, input_tokens=12,
                                                              output_tokens=7))
    assert (message.role, message.provider, message.stop_reason) == ("assistant", api.provider.value, "tool_calls")
    text, called = message.parts
    assert isinstance(text, TextPart) and text.text == "Looking it up. "
    assert isinstance(called, ToolCallPart) and (called.name, called.arguments) == ("lookup", '{"q":"Oslo"}')
    assert message.usage is not None and (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)


@pytest.mark.parametrize("api", APIS)
def test_a_thread_renders_and_parses_back_to_the_same_parts(api: WireAPI) -> None:
    adapter = get_adapter(api.provider)
    [answer] = adapter.parse(make_response(api.provider, CONTENT))
    rendered = adapter.renderer().render([Message.user("Weather in Oslo?"), answer])
    back = [m for item in rendered for m in adapter.parse_wire_messages(item)]
    assert back[0].role == "user" and {m.role for m in back[1:]} == {"assistant"}
    assert [part for m in back[1:] for part in m.parts] == list(answer.parts)


@pytest.mark.parametrize("api", APIS)
def test_the_stream_of_a_response_reassembles_into_the_same_message(api: WireAPI) -> None:
    adapter = get_adapter(api.provider)
    response = make_response(api.provider, CONTENT)
    [whole] = adapter.parse(response)
    [streamed] = adapter.parse(synthesize_stream(response, api.provider))
    assert (streamed.parts, streamed.usage, streamed.stop_reason) == (whole.parts, whole.usage, whole.stop_reason)


@pytest.mark.parametrize(("api", "w"), FOREIGN)
def test_another_apis_response_is_named_not_parsed(api: WireAPI, w: wire.WireFile) -> None:
    detected = describe_format(w.response)
    owner = next(provider for provider, corpus in CORPUS.items() if corpus == w.api)
    assert detected == REGISTRY[owner].response_format != api.response_format
    parsers = (get_adapter(api.provider).parse, lambda r: Agent.extract_tool_calls(r, llm_provider=api.provider))
    for parse in parsers:
        with pytest.raises(ProviderMismatchError) as info:
            parse(w.response)
        assert (info.value.expected, info.value.detected) == (api.provider.value, detected)
        assert detected in str(info.value)


@pytest.mark.parametrize(("api", "w"), ERRORS)
def test_an_error_body_raises_provider_error_response(api: WireAPI, w: wire.WireFile) -> None:
    with pytest.raises(ProviderErrorResponse) as info:
        get_adapter(api.provider).parse(w.response)
    assert (info.value.provider, info.value.body) == (api.provider.value, w.response)
