"""Re-record cassettes/demo_handoff.yaml.

With OPENAI_API_KEY set, it records the demo against the live API (the honest way, when a key
exists). Without one, it records against a scripted model: an in-process HTTP transport that answers
each request with the next of three Chat Completions responses, shaped field for field after the
real recordings in tests/wire/openai/chat.completions (ids, usage details, fingerprints). The
cassette then says so in its metadata.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx2
from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import research_handoff as demo

from loopline.testing import use_cassette

SCRIPTED_NOTE = (
    "Scripted, not a live model: no API key was available, so tools/record_demo.py answered each request "
    "with a Chat Completions response shaped after the real recordings in tests/wire. The requests are "
    "exactly what loopline sent. Re-record with OPENAI_API_KEY set for live traffic."
)

def _calls(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "refusal": None, "annotations": [],
            "tool_calls": [{"id": cid, "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args, separators=(",", ":"))}}
                           for cid, name, args in calls]}


SCRIPT: list[dict[str, Any]] = [
    _calls(("call_Q3vJ8mXbL2kT9wRcN5yHdP1a", "get_weather", {"city": "Oslo"}),
           ("call_Zp7FhK4sW1nB6eYtG0uMqV8c", "get_weather", {"city": "Rome"})),
    _calls(("call_H2dL9xQmC5rT8vNbJ3wKsE6f", "finish",
            {"result": "Rome is warmer: 17 °C and sunny, against 4 °C with light rain in Oslo, "
                       "so Rome is 13 degrees warmer.", "is_success": True})),
    {"role": "assistant", "refusal": None, "annotations": [],
     "content": "Pack for sunshine if you pick Rome: it is 17 °C and sunny there, a full 13 degrees warmer than "
                "Oslo. Oslo is 4 °C with light rain today, so bring a waterproof jacket if you head north."},
]


def _completion(index: int, request_body: dict[str, Any]) -> dict[str, Any]:
    message = SCRIPT[index]
    # About four characters a token, as OpenAI's tokenizers average on English text.
    prompt = len(json.dumps(request_body["messages"]) + json.dumps(request_body.get("tools", []))) // 4
    completion = len(json.dumps(message)) // 4
    return {
        "id": f"chatcmpl-DEMO{index}x7QfR2mLp9VnT4sKc8WbYhJ3gA",
        "object": "chat.completion",
        "created": 1795300000 + index * 3,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }


def scripted_client() -> OpenAI:
    """An OpenAI client whose transport answers from SCRIPT, in order."""
    served = iter(range(len(SCRIPT)))

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        return httpx2.Response(200, json=_completion(next(served), body),
                               headers={"openai-version": "2020-10-01", "openai-processing-ms": "412"})

    http = httpx2.Client(transport=httpx2.MockTransport(handle))
    return OpenAI(api_key="sk-scripted-no-key", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def main() -> int:
    live = bool(os.environ.get("OPENAI_API_KEY"))
    client = OpenAI() if live else scripted_client()
    note = "Live traffic recorded by tools/record_demo.py." if live else SCRIPTED_NOTE
    with use_cassette(demo.CASSETTE, record=True, note=note):
        first, second = demo.run_demo(client, demo.REPLAY_MODEL)
    print(f"\nrecorded {demo.CASSETTE} ({'live' if live else 'scripted'})")
    return 0 if first.ok and second.ok else 1


if __name__ == "__main__":
    sys.exit(main())
