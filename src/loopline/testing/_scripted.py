"""`ScriptedModel`: a model double that answers from a script, for tests without keys or network.

It implements the same protocol as the SDK-backed models (`complete`, `acomplete`, `stream`,
`astream`), so `agent.run(model=ScriptedModel([...]))` and the streaming drivers use it unchanged,
and the adapter under test parses its answers exactly as it parses a provider's. A script is a list
played in order, or a function of the request. It records every request it received (deep copies),
refuses formats that do not belong together, and says clearly when it has run out of answers.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ..errors import ScriptError, ScriptExhaustedError
from ..providers import LLMProvider, to_plain
from ..providers._detect import (
    ANTHROPIC_EVENT,
    ANTHROPIC_MESSAGE,
    CHAT_CHUNK,
    CHAT_COMPLETION,
    ERROR_BODY,
    RESPONSES_EVENT,
    RESPONSES_RESPONSE,
    describe_format,
)
from ..providers._sse import parse_sse
from ._replies import Reply
from ._synthesize import synthesize_stream

if TYPE_CHECKING:
    from ..agent import Agent

__all__ = ["ScriptedModel"]

Responder: TypeAlias = Callable[[dict[str, Any]], Any]

_FAMILIES = {CHAT_COMPLETION: LLMProvider.OPEN_AI, CHAT_CHUNK: LLMProvider.OPEN_AI,
             RESPONSES_RESPONSE: LLMProvider.OPEN_AI_RESPONSES, RESPONSES_EVENT: LLMProvider.OPEN_AI_RESPONSES,
             ANTHROPIC_MESSAGE: LLMProvider.ANTHROPIC, ANTHROPIC_EVENT: LLMProvider.ANTHROPIC}
"""Which wire API each recognisable format belongs to (every Chat Completions server is OPEN_AI here)."""

_SHOWN = 4000
"""Characters of an unanswered request shown in the error."""


@dataclass(frozen=True)
class _Entry:
    """One scripted answer, made plain: a whole response, a stream, an exception, a reply or a function."""

    kind: Literal["whole", "stream", "raise", "reply", "function"]
    value: Any
    format: str | None = None


class ScriptedModel:
    """A model that answers from a script instead of a provider.

    Args:
        script: The answers, in order, one per request: response bodies (dicts) or SDK response
            objects of Chat Completions, the Responses API or Anthropic Messages; streams (a list of
            event dicts or SDK events, or the raw server-sent-event text); `reply(...)` values,
            rendered in the model's format; exception instances, raised instead of answering (to
            script a provider failure; inside a stream's list, raised at that point, as a cut-off
            stream); or functions of the request returning any of these. Or one function, asked for
            every request (it never runs out).
        provider: The wire API spoken. By default it is told from the first scripted response, and
            is Chat Completions when the script says nothing (only replies or functions).
        name: The model name reported to the agent.

    A whole response asked for as a stream is played as the events that API would send; a stream
    asked for whole is returned as its list of events (which `add_messages` accepts).
    """

    def __init__(self, script: Sequence[Any] | Responder, *, provider: LLMProvider | str | None = None,
                 name: str = "scripted-model") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._played = 0
        if callable(script) and not isinstance(script, (list, tuple)):
            self._entries: list[_Entry] = []
            self._function: Responder | None = script
        elif isinstance(script, (list, tuple)):
            self._entries = [_entry(item, index) for index, item in enumerate(script)]
            self._function = None
        else:
            raise ScriptError(f"ScriptedModel takes a list of responses or a function of the request, "
                              f"got {type(script).__name__}")
        self.provider: LLMProvider = _provider(self._entries, provider)

    # --- what a test reads ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far, in order (deep copies of the rendered request arguments)."""
        with self._lock:
            return list(self._requests)

    @property
    def remaining(self) -> int:
        """Scripted answers not yet played (0 for a function, which never runs out)."""
        with self._lock:
            return len(self._entries) - self._played

    def __repr__(self) -> str:
        script = "function" if self._function is not None else f"{len(self._entries)} responses"
        return f"ScriptedModel({script}, provider={self.provider.value!r}, requests={len(self._requests)})"

    # --- the model protocol ---------------------------------------------------------------------------

    def complete(self, request: dict[str, Any]) -> Any:
        """The next answer, whole: a response dict, a stream's list of events, or its SSE text."""
        entry, turn = self._next(request)
        return self._whole(entry, turn)

    async def acomplete(self, request: dict[str, Any]) -> Any:
        """`complete` for asyncio; yields to the event loop first, as a request over the network does."""
        await asyncio.sleep(0)
        return self.complete(request)

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The next answer as stream events (the request is taken when iteration starts)."""
        entry, turn = self._next(request)
        yield from self._events(entry, turn)

    async def astream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """`stream` for asyncio; yields to the event loop between events, as a network stream does."""
        entry, turn = self._next(request)
        for event in self._events(entry, turn):
            yield event
            await asyncio.sleep(0)

    def respond(self, agent: Agent) -> Any:
        """For the manual loop: the answer to the agent's next request (rendered for this model's
        provider), to hand to `agent.add_messages` and `Agent.extract_tool_calls`."""
        return self.complete(agent.request_kwargs(self.provider))

    # --- playing the script ---------------------------------------------------------------------------

    def _next(self, request: dict[str, Any]) -> tuple[_Entry, int]:
        """Record the request and take its answer (a function's answer is made outside the lock)."""
        copied = copy.deepcopy(request)
        with self._lock:
            self._requests.append(copied)
            turn = len(self._requests)
            if self._function is None:
                if self._played >= len(self._entries):
                    raise _exhausted(len(self._entries), turn, copied)
                entry = self._entries[self._played]
                self._played += 1
            else:
                entry = _Entry("function", self._function)
        if entry.kind == "function":
            entry = self._answer(entry.value, copy.deepcopy(copied), turn)
        return entry, turn

    def _answer(self, function: Responder, request: dict[str, Any], turn: int) -> _Entry:
        answer = _entry(function(request), turn - 1, made_by_function=True)
        family = _family(answer)
        if family is not None and not _speaks(self.provider, family):
            raise ScriptError(f"the function answered request {turn} with {answer.format}, but this ScriptedModel "
                              f"speaks {self.provider.value}; pass provider= to ScriptedModel")
        return answer

    def _whole(self, entry: _Entry, turn: int) -> Any:
        if entry.kind == "raise":
            raise entry.value
        if entry.kind == "reply":
            return entry.value.render(self.provider, turn=turn, model=self.name)
        if entry.kind == "stream" and isinstance(entry.value, list):
            failure = next((e for e in entry.value if isinstance(e, BaseException)), None)
            if failure is not None:
                raise failure  # the stream broke off: no whole response ever arrived
        return copy.deepcopy(entry.value)

    def _events(self, entry: _Entry, turn: int) -> Iterator[dict[str, Any]]:
        if entry.kind == "raise":
            raise entry.value
        if entry.kind == "stream":
            value = entry.value
            events = parse_sse(value, provider=self.provider.value) if isinstance(value, (str, bytes)) else value
            for event in events:
                if isinstance(event, BaseException):
                    raise event
                yield copy.deepcopy(event)
            return
        whole = entry.value.render(self.provider, turn=turn, model=self.name) if entry.kind == "reply" else entry.value
        yield from synthesize_stream(whole, self.provider)


def _entry(item: Any, index: int, *, made_by_function: bool = False) -> _Entry:
    """The script item made plain, with the format it is in."""
    if isinstance(item, BaseException):
        return _Entry("raise", item)
    if isinstance(item, Reply):
        return _Entry("reply", item)
    if callable(item) and not made_by_function and not hasattr(item, "model_dump"):
        return _Entry("function", item)
    if isinstance(item, (str, bytes)):
        return _Entry("stream", item, _first_format(parse_sse(item, provider="scripted"), index))
    plain = to_plain(item)
    if isinstance(plain, dict):
        found = describe_format(plain)
        if found is None:
            raise ScriptError(f"script item {index} is a dict in no known format (keys {sorted(plain)[:8]}); "
                              "give a whole response, a stream of events, a reply(...) or an exception")
        if found in (CHAT_CHUNK, RESPONSES_EVENT, ANTHROPIC_EVENT):
            return _Entry("stream", [plain], found)  # one event: a stream of one
        return _Entry("whole", plain, found)
    if isinstance(plain, list):
        items: list[Any] = [e if isinstance(e, BaseException) else to_plain(e) for e in plain]
        return _Entry("stream", items, _first_format(items, index))
    what = "function" if made_by_function else "script item"
    raise ScriptError(f"{what} {index} is a {type(item).__name__}; give a response, a stream, a reply(...) or "
                      "an exception")


def _first_format(events: list[Any], index: int) -> str | None:
    if any(not isinstance(e, (dict, BaseException)) for e in events):
        raise ScriptError(f"script item {index} is a list holding something other than event dicts or exceptions")
    found = [describe_format(e) for e in events if isinstance(e, dict)]
    known = next((f for f in found if f is not None), None)
    if known is None and events:
        raise ScriptError(f"script item {index} is a list whose items are no stream events of a known API (a list "
                          "of message dicts is not a response; use reply(...) or a response body)")
    return known


def _family(entry: _Entry) -> LLMProvider | None:
    return _FAMILIES.get(entry.format or "") if entry.format != ERROR_BODY else None


def _speaks(provider: LLMProvider, family: LLMProvider) -> bool:
    chat = provider not in (LLMProvider.ANTHROPIC, LLMProvider.OPEN_AI_RESPONSES)
    return family is LLMProvider.OPEN_AI if chat else family is provider


def _provider(entries: list[_Entry], given: LLMProvider | str | None) -> LLMProvider:
    """The given provider (checked against every scripted response) or the first response's."""
    formats = [(index, entry.format, _family(entry)) for index, entry in enumerate(entries)]
    known = [(index, fmt, family) for index, fmt, family in formats if family is not None]
    provider = LLMProvider.of(given) if given is not None else (known[0][2] if known else LLMProvider.OPEN_AI)
    wrong = [(index, fmt) for index, fmt, family in known if family is not None and not _speaks(provider, family)]
    if wrong:
        index, fmt = wrong[0]
        basis = (f"it speaks {provider.value}" if given is not None
                 else f"item {known[0][0]} is {known[0][1]}, so it speaks {provider.value}")
        raise ScriptError(f"script item {index} is {fmt}, but {basis}: a ScriptedModel speaks one wire API; "
                          "give every response in one format (or use reply(...), which takes the model's)")
    return provider


def _exhausted(scripted: int, turn: int, request: dict[str, Any]) -> ScriptExhaustedError:
    shown = json.dumps(_readable(request), indent=2, ensure_ascii=False, default=repr)
    if len(shown) > _SHOWN:
        shown = f"{shown[:_SHOWN]}\n... ({len(shown) - _SHOWN} more characters)"
    return ScriptExhaustedError(
        f"ScriptedModel has no answer for request {turn}: it was scripted with {scripted} "
        f"response{'s' if scripted != 1 else ''}, and all were used. The request that had no answer:\n{shown}",
        scripted=scripted, request=request)


def _readable(request: dict[str, Any]) -> dict[str, Any]:
    """The request with each tool shown by its name only (schemas are long and rarely the point)."""
    tools = request.get("tools")
    if not isinstance(tools, list):
        return request
    names = [t.get("name") or (t.get("function") or {}).get("name") if isinstance(t, dict) else t for t in tools]
    return {**request, "tools": names}
