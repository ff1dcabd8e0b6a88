"""The `openai` SDK's `chat.completions.stream()` helper wraps each chunk in events of its own; what it
yields (or the helper stream itself) parses to the same message as the raw chunks, for every recorded stream."""

from __future__ import annotations

import httpx2
import openai
import pytest

import wire
from loopline.providers import LLMProvider, get_adapter
from sdk_clients import sdk_client

STREAMS = [w for w in wire.load("openai/chat.completions") if w.stream and not w.is_error]


def _client(sse: str) -> openai.OpenAI:
    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, text=sse, headers={"content-type": "text/event-stream"})

    return sdk_client("openai", transport=httpx2.MockTransport(handle), max_retries=2)


@pytest.mark.parametrize("whole", [False, True], ids=["events", "stream-object"])
@pytest.mark.parametrize("w", STREAMS, ids=[w.name for w in STREAMS])
def test_the_helper_stream_parses_like_its_chunks(w: wire.WireFile, whole: bool) -> None:
    adapter = get_adapter(LLMProvider.OPEN_AI)
    [expected] = adapter.parse(w.response)
    with _client(w.data["raw_sse"]).chat.completions.stream(model="gpt-4o", messages=w.request["messages"]) as s:
        [message] = adapter.parse(s if whole else list(s))
    assert (message.parts, message.usage, message.stop_reason) == (expected.parts, expected.usage,
                                                                   expected.stop_reason)
