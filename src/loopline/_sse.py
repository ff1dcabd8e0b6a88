"""Server-sent events (`text/event-stream`) without I/O: the server encodes with `encode`, every client
(a remote `Tasks`, a remote worker) decodes with `SSEDecoder`, whatever moves the bytes. One small
module instead of a client library tied to one HTTP stack (the SDKs here use `httpx2`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEDecoder", "ServerSentEvent", "comment", "encode"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event as the stream gave it: `event` is its type ("message" when none was named)."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def encode(data: Any, *, event: str | None = None, id: str | int | None = None, retry_ms: int | None = None) -> bytes:
    """One event, its `data` as one line of compact ASCII JSON: JSON escapes line breaks inside strings,
    and ASCII leaves no U+0085 or U+2028 for a client's line splitter to break the line at."""
    text = json.dumps(data, separators=(",", ":"))
    lines = []
    if id is not None:
        lines.append(f"id: {_one_line(str(id), 'id')}")
    if event is not None:
        lines.append(f"event: {_one_line(event, 'event')}")
    if retry_ms is not None:
        lines.append(f"retry: {int(retry_ms)}")
    lines.append(f"data: {text}")
    return ("\n".join(lines) + "\n\n").encode()


def comment(text: str = "") -> bytes:
    """A comment line: ignored by clients, it keeps proxies from closing an idle stream."""
    return f": {_one_line(text, 'comment')}\n\n".encode()


def _one_line(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"an SSE {what} cannot hold a line break: {text!r}")
    return text


class SSEDecoder:
    """Lines in, events out, as the HTML standard parses an event stream: `feed` each line (without its
    line ending) and collect what it returns. `last_event_id` is what a reconnecting client sends as
    `Last-Event-ID`."""

    def __init__(self) -> None:
        self.last_event_id: str | None = None
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def feed_all(self, lines: Iterable[str]) -> Iterator[ServerSentEvent]:
        for line in lines:
            event = self.feed(line)
            if event is not None:
                yield event

    def _dispatch(self) -> ServerSentEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data:
            self._event, self._id, self._retry = "", None, None
            return None
        event = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        self._event, self._data, self._id, self._retry = "", [], None, None
        return event
