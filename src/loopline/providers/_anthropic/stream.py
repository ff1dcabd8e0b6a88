"""Reassembling an Anthropic Messages stream (its events) into the message body it adds up to.

`message_start` opens the message, each content block is opened, filled by deltas (text, thinking,
signature, `input_json_delta` partial JSON, citations) and closed; `message_delta` brings the stop
reason and the final usage; `message_stop` ends it. `ping` events carry nothing. A stream without
`message_stop` was cut off and is refused rather than passed as complete.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ...errors import ResponseParseError
from .._common import error_response

__all__ = ["RAW_INPUT", "reassemble_anthropic"]

RAW_INPUT = "_loopline_raw_input"
"""Where a tool call's streamed input is kept exactly as the model wrote it (it may not be JSON)."""


class _Stream:
    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.message: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial: dict[int, list[str]] = {}
        self.stopped = False

    def fail(self, n: int, why: str) -> ResponseParseError:
        return ResponseParseError(f"stream event {n}: {why}", provider=self.provider, field=f"events[{n}]")

    def feed(self, n: int, event: dict[str, Any]) -> None:
        kind = event.get("type") or event.get("_event")
        if kind == "error":
            raise error_response(event, self.provider)
        if kind == "message_start":
            if not isinstance(event.get("message"), dict):
                raise self.fail(n, "message_start without a message")
            self.message = copy.deepcopy(event["message"])
            return
        if kind in ("ping", "content_block_stop") or kind is None:
            return
        if self.message is None:
            raise self.fail(n, f"{kind} before message_start (the stream's beginning is missing)")
        if kind == "content_block_start":
            self.start_block(n, event)
        elif kind == "content_block_delta":
            self.delta(n, event)
        elif kind == "message_delta":
            self.message_delta(event)
        elif kind == "message_stop":
            self.stopped = True

    def start_block(self, n: int, event: dict[str, Any]) -> None:
        index, block = event.get("index"), event.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            raise self.fail(n, "content_block_start without an index and a block")
        self.blocks[index] = copy.deepcopy(block)

    def delta(self, n: int, event: dict[str, Any]) -> None:
        index, delta = event.get("index"), event.get("delta")
        block = self.blocks.get(index) if isinstance(index, int) else None
        if block is None or not isinstance(index, int) or not isinstance(delta, dict):
            raise self.fail(n, f"a delta for content block {index!r}, which was never started")
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + str(delta.get("signature", ""))
        elif kind == "input_json_delta":
            self.partial.setdefault(index, []).append(str(delta.get("partial_json", "")))
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        else:
            raise self.fail(n, f"unknown delta type {kind!r}")

    def message_delta(self, event: dict[str, Any]) -> None:
        assert self.message is not None
        for key, value in (event.get("delta") or {}).items():
            self.message[key] = value
        usage = event.get("usage")
        if isinstance(usage, dict):
            merged = dict(self.message.get("usage") or {})
            merged.update({k: v for k, v in usage.items() if v is not None})
            self.message["usage"] = merged

    def result(self) -> dict[str, Any]:
        if self.message is None:
            raise ResponseParseError("the stream holds no message_start event", provider=self.provider)
        if not self.stopped:
            raise ResponseParseError("the stream was cut off: it never reached message_stop",
                                     provider=self.provider, field="message_stop")
        for index, pieces in self.partial.items():
            self.blocks[index]["input"] = _input(pieces)
            if self.blocks[index].get("type") == "tool_use":  # other blocks go back to Anthropic verbatim
                self.blocks[index][RAW_INPUT] = "".join(pieces)
        return {**self.message, "content": [self.blocks[i] for i in sorted(self.blocks)]}


def _input(pieces: list[str]) -> Any:
    raw = "".join(pieces)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {}  # the raw text is kept beside it; running the call reports the bad JSON to the model


def reassemble_anthropic(events: list[dict[str, Any]], *, provider: str) -> dict[str, Any]:
    """The Messages response body that `events` (a whole stream, in order) add up to."""
    stream = _Stream(provider)
    for n, event in enumerate(events):
        stream.feed(n, event)
    return stream.result()
