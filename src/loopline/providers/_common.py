"""What every adapter shares: turning any accepted input into a dict or a list of stream events,
the parse entry point with its format checks, and the incremental renderer.

Each adapter supplies only what differs per wire API (see `AdapterBase`'s abstract methods).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from ..errors import LooplineError, ProviderErrorResponse, ProviderMismatchError, ResponseParseError
from ..messages import Message, Part, TextPart, ToolCallPart, new_id
from ..tools import ToolDefinition
from ._base import LLMProvider
from ._detect import ERROR_BODY, describe_format
from ._report import RenderNote, RenderReport
from ._sse import parse_sse

__all__ = [
    "AdapterBase",
    "IncrementalRenderer",
    "content_parts",
    "error_response",
    "json_dumps",
    "safe_id",
    "stable_id",
    "to_plain",
    "unique_call_ids",
]


def to_plain(response: Any) -> Any:
    """Dicts and lists as they are; SDK objects through `model_dump`; SDK streams (iterables of
    events) as lists; raw SSE text (str or bytes) is left for the caller."""
    if isinstance(response, (dict, list, str, bytes)):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=True, warnings=False)
    if isinstance(response, Iterable):
        items = [to_plain(item) for item in response]
        if not items:
            raise ResponseParseError("the stream holds no events (was it already consumed?)", provider="unknown")
        return items
    return response


def json_dumps(value: Any) -> str:
    """Compact JSON as the providers write it (non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def stable_id(prefix: str, *parts: object) -> str:
    """An id that is the same every time for the same inputs (for servers that omit call ids)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:24]
    return f"{prefix}{digest}"


def safe_id(value: str, pattern: re.Pattern[str], max_len: int) -> str:
    """`value` when a provider accepts it as an id, else a deterministic replacement it does accept.

    The same input always gives the same output, so a call and its result stay paired.
    """
    if pattern.fullmatch(value) and len(value) <= max_len:
        return value
    # A digest of the original keeps ids that differ only in rejected characters apart ("a.b", "a:b").
    suffix = "_" + hashlib.sha256(value.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", value)[: max_len - len(suffix)] + suffix
    return cleaned if pattern.fullmatch(cleaned) else stable_id("call_", value)[:max_len]


def content_parts(content: Any, provider: str, one: Callable[[Any, str], Part]) -> tuple[Part, ...]:
    """Parts of a message's `content`: a string is one text part, a list is read block by block by `one`."""
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(text=content),)
    if not isinstance(content, list):
        raise ResponseParseError(f"message content must be a string or a list, got {type(content).__name__}",
                                 provider=provider, field="content")
    return tuple(one(block, provider) for block in content)


def unique_call_ids(calls: list[ToolCallPart]) -> list[ToolCallPart]:
    """Calls with distinct ids: a provider that repeats an id in one response gets `_2`, `_3`, ...
    appended to the repeats (the same way every time), so each call can be answered on its own."""
    seen: dict[str, int] = {}
    out = []
    for call in calls:
        count = seen[call.id] = seen.get(call.id, 0) + 1
        out.append(call if count == 1 else dataclasses.replace(call, id=f"{call.id}_{count}"))
    return out


def error_response(data: dict[str, Any], provider: str) -> ProviderErrorResponse:
    """The typed error for a provider error body (`{"error": {...}}`, Anthropic's `{"type": "error"}`)."""
    error = data.get("error")
    info = error if isinstance(error, dict) else {"message": str(error)}
    return ProviderErrorResponse(
        f"the provider returned an error instead of a response: {info.get('message') or info}",
        provider=provider, error_type=info.get("type"), code=info.get("code"), body=data)


class IncrementalRenderer:
    """Renders an append-only list of messages, converting only those added since the last call.

    The adapter renders one message at a time (`render_message`) and says how a new rendering joins
    the ones before it (`join`, e.g. Anthropic merges consecutive turns of one role).
    """

    __slots__ = ("_adapter", "_ids", "_notes", "_out", "_reported")

    def __init__(self, adapter: AdapterBase) -> None:
        self._adapter = adapter
        self._out: list[dict[str, Any]] = []
        self._ids: list[str] = []
        self._notes: list[RenderNote] = []
        self._reported = 0

    def render(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        done = len(self._ids)
        if len(messages) < done or (done and messages[done - 1].id != self._ids[-1]):
            self._out, self._ids, self._notes, self._reported = [], [], [], 0  # not an append: start over
            done = 0
        for message in messages[done:]:
            self._adapter.join(self._out, self._adapter.render_message(message, self._notes))
            self._ids.append(message.id)
        return list(self._out)

    @property
    def report(self) -> RenderReport:
        """What the renderings so far dropped or converted."""
        return RenderReport(self._adapter.provider.value, tuple(self._notes))

    def new_notes(self) -> list[RenderNote]:
        """Notes added since the last call (for warnings that are said once)."""
        fresh = self._notes[self._reported:]
        self._reported = len(self._notes)
        return fresh


class AdapterBase(ABC):
    """The parse entry point and renderer shared by all adapters; subclasses fill in the wire format."""

    provider: LLMProvider
    response_format: ClassVar[str]
    """What `describe_format` calls this API's response."""
    event_format: ClassVar[str]
    """What `describe_format` calls this API's stream events."""
    messages_key: ClassVar[str] = "messages"
    """The request argument that holds the conversation (`input` for the Responses API)."""
    instructions_key: ClassVar[str | None] = None
    """A request argument holding the instructions apart from the conversation that `agent.messages`
    shows as a system message first (the Responses API's `instructions`), if any."""
    system_apart: ClassVar[bool] = False
    """Whether the API takes the instructions only beside the conversation (Anthropic's `system`), so
    the conversation alone never carries them."""

    def __init__(self) -> None:
        self._last: tuple[Any, tuple[Message, ...]] | None = None

    def system_argument(self, instructions: str) -> Any:
        """The instructions as the argument an API that takes them apart (`system_apart`) sends beside
        the conversation; `None` for the APIs whose conversation carries them."""
        return None

    # --- to be provided by each wire API ------------------------------------------------------------

    @abstractmethod
    def render_tools(self, tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
        """The wire tool specs for `tools`."""

    @abstractmethod
    def render_message(self, message: Message, notes: list[RenderNote] | None = None) -> list[dict[str, Any]]:
        """The wire item(s) for one neutral message; records what it drops or converts in `notes`."""

    @abstractmethod
    def request_kwargs(self, *, system: str | None, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]]) -> dict[str, Any]:
        """The request arguments for a rendered conversation, its instructions and tools."""

    @abstractmethod
    def one_call_at_a_time(self, kwargs: dict[str, Any]) -> None:
        """Ask the model, in these request arguments, for at most one tool call per response."""

    @abstractmethod
    def parse_response(self, data: dict[str, Any]) -> Message:
        """The assistant message of one complete response body."""

    @abstractmethod
    def reassemble(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """The response body a complete list of stream events adds up to."""

    @abstractmethod
    def parse_wire_message(self, data: dict[str, Any]) -> Message:
        """A neutral message from one wire message/item dict (as found in a request)."""

    def parse_wire_messages(self, data: dict[str, Any]) -> list[Message]:
        """Neutral messages from one wire message; more than one where the wire joins what loopline
        keeps apart (Anthropic puts tool results and user text in one user message)."""
        return [self.parse_wire_message(data)]

    def is_wire_message(self, data: dict[str, Any]) -> bool:
        """Whether `data` is one of this API's request messages/items."""
        return "role" in data

    # --- shared -------------------------------------------------------------------------------------

    def join(self, rendered: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        """Add a message's rendering to those before it (default: append)."""
        rendered.extend(new)

    def parsed_last(self, response: Any) -> bool:
        """Whether `response` is the SDK object this adapter parsed last."""
        return self._last is not None and self._last[0] is response

    def renderer(self) -> IncrementalRenderer:
        """A fresh incremental renderer for one conversation."""
        return IncrementalRenderer(self)

    def parse(self, response: Any) -> list[Message]:
        """Neutral messages from a response (SDK object or dict), a complete stream (a list or SDK
        stream of events, or the raw SSE text), or a list of wire message dicts."""
        # The manual loop hands the same SDK response to add_messages and extract_tool_calls: parse it
        # once. Only SDK objects are remembered (by identity): a dict or list may be refilled in place
        # and passed again, so those are always parsed anew. Messages are immutable; sharing is safe.
        last = self._last
        if last is not None and last[0] is response:
            # Same content, new message ids: two agents (or two adds) never store one id twice.
            return [dataclasses.replace(m, id=new_id("msg")) for m in last[1]]
        try:
            parsed = self._parse(response)
        except LooplineError:
            raise
        except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
            # Output that has the right overall shape but a wrong type or a missing piece somewhere
            # deep inside: still a parse error, with the detail, and the original chained.
            raise ResponseParseError(f"malformed {self.response_format} (or stream): {type(exc).__name__}: {exc}",
                                     provider=self.provider.value) from exc
        if not isinstance(response, (dict, list, str, bytes)):
            self._last = (response, tuple(parsed))
        return parsed

    def _parse(self, response: Any) -> list[Message]:
        data = to_plain(response)
        if isinstance(data, (str, bytes)):
            data = parse_sse(data, provider=self.provider.value)
            if not data:
                raise ResponseParseError("the stream text holds no events", provider=self.provider.value)
        if isinstance(data, list):
            return self._parse_list(data)
        if not isinstance(data, dict):
            raise ResponseParseError(f"expected {self.response_format} (an SDK object or a dict), a stream "
                                     f"of events, or a list of message dicts; got {type(response).__name__}",
                                     provider=self.provider.value)
        detected = describe_format(data)
        if detected == self.response_format:
            return [self.parse_response(data)]
        if detected == self.event_format:
            return [self.parse_response(self.reassemble([data]))]
        if detected == ERROR_BODY:
            raise error_response(data, self.provider.value)
        if detected is None and self.is_wire_message(data):
            return self.parse_wire_messages(data)
        raise self._mismatch(data, detected)

    def unwrap_events(self, items: list[Any]) -> list[Any]:
        """The API's own stream events among `items` (an SDK's helper stream wraps them); as given by default."""
        return items

    def _parse_list(self, items: list[Any]) -> list[Message]:
        dicts = self.unwrap_events([to_plain(i) for i in items])
        if not dicts:
            raise ResponseParseError("an empty list: no response, no stream events, no messages",
                                     provider=self.provider.value)
        for index, item in enumerate(dicts):
            if not isinstance(item, dict):
                raise ResponseParseError(f"item {index} of the list is a {type(item).__name__}, not a dict",
                                         provider=self.provider.value, field=f"[{index}]")
        # A stream may open with an event no format is told by (a keepalive): go by the first that is.
        first = next((f for f in map(describe_format, dicts) if f is not None), None)
        if first == ERROR_BODY:
            raise error_response(dicts[0], self.provider.value)
        if first == self.event_format:
            return [self.parse_response(self.reassemble(dicts))]
        messages = []
        for index, item in enumerate(dicts):
            if not self.is_wire_message(item):
                what = describe_format(item) or f"a dict with keys {sorted(item)[:8]}"
                raise ResponseParseError(f"item {index} of the list is {what}, not a message of {self.response_format}"
                                         " (a list must be all stream events of one response, or all messages)",
                                         provider=self.provider.value, field=f"[{index}]")
            messages.extend(self.parse_wire_messages(item))
        return messages

    def _mismatch(self, data: dict[str, Any], detected: str | None) -> ProviderMismatchError:
        hint = ("; pass llm_provider= for the API that produced it" if detected
                else f" with keys {sorted(data)[:8]}")
        return ProviderMismatchError(f"expected {self.response_format}, got {detected or 'an unrecognised dict'}{hint}",
                                     expected=self.provider.value, detected=detected)
