"""`ScriptedModel`: a model double that answers from a script, for tests without keys or network.

It implements the same protocol as the SDK-backed models (`complete`, `acomplete`, `stream`,
`astream`), so `agent.run(model=ScriptedModel([...]))` and the streaming drivers use it unchanged,
and the adapter under test parses its answers exactly as it parses a provider's. A script is a list
played in order, or a function of the request. It records every request it received (deep copies),
refuses formats that do not belong together, and says clearly when it has run out of answers.

A mistake in the script is the test's bug, not the model's: it raises `ScriptError` (a `UsageError`,
so it comes out of `run()` with its traceback instead of ending the execution as a provider error),
chained to whatever a scripted function raised.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ..errors import ResponseParseError, ScriptError, ScriptExhaustedError
from ..providers import REGISTRY, LLMProvider, WireAPI, describe_format, parse_sse, synthesize_stream, to_plain
from ._replies import Reply

if TYPE_CHECKING:
    from ..agent import Agent

__all__ = ["ScriptedModel"]

Responder: TypeAlias = Callable[[dict[str, Any]], Any]

_SHOWN = (1000, 3000)
"""Characters of an unanswered request shown in the error: from its start, and from its end (the newest turn)."""

_LONG = 300
"""Strings in the unanswered request longer than this are shortened in the error."""


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
            stream); or functions of the request returning any of these (`async` ones too, for
            `arun` / `astream`). Or one function, asked for every request (it never runs out).
        provider: The wire API spoken. By default it is told from the first scripted response, and
            is Chat Completions when the script says nothing (only replies or functions); then
            `respond(agent)` answers in the agent's own format.
        name: The model name reported to the agent.

    A whole response asked for as a stream is played as the events that API would send; a stream
    asked for whole is returned as its list of events (which `add_messages` accepts).

    Raises:
        ScriptError: An item that cannot be played (an empty stream, text that is no stream, an
            exception class instead of an instance, formats mixed); also when a request is answered
            by a function that raises or returns such an item.
    """

    def __init__(self, script: Sequence[Any] | Responder, *, provider: LLMProvider | str | None = None,
                 name: str = "scripted-model") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._played = 0
        if isinstance(script, (list, tuple)):
            self._entries: list[_Entry] = [_entry(item, index) for index, item in enumerate(script)]
            self._function: Responder | None = None
        elif callable(script) and not _is_exception_class(script):
            self._entries = []
            self._function = script
        else:
            raise ScriptError(f"ScriptedModel takes a list of responses or a function of the request, "
                              f"got {_kind(script)}")
        self.provider: LLMProvider = _provider(self._entries, provider)
        self._fixed = provider is not None or any(_family(entry) is not None for entry in self._entries)

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
        entry, turn = self._next(request, self.provider)
        return self._whole(entry, turn, self.provider)

    async def acomplete(self, request: dict[str, Any]) -> Any:
        """`complete` for asyncio; yields to the event loop first, as a request over the network does."""
        await asyncio.sleep(0)
        entry, turn = await self._anext(request)
        return self._whole(entry, turn, self.provider)

    def stream(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The next answer as stream events (the request is taken when iteration starts)."""
        entry, turn = self._next(request, self.provider)
        yield from self._events(entry, turn)

    async def astream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """`stream` for asyncio; yields to the event loop between events, as a network stream does."""
        entry, turn = await self._anext(request)
        for event in self._events(entry, turn):
            yield event
            await asyncio.sleep(0)

    def respond(self, agent: Agent) -> Any:
        """For the manual loop: the answer to the agent's next request, to hand to `agent.add_messages`
        and `Agent.extract_tool_calls`. Rendered for this model's provider, or for the agent's own
        when the script does not fix one (only replies and functions, no `provider=`)."""
        provider = self.provider if self._fixed else agent.llm_provider
        entry, turn = self._next(agent.request_kwargs(provider), provider)
        return self._whole(entry, turn, provider)

    # --- playing the script ---------------------------------------------------------------------------

    def _take(self, request: dict[str, Any]) -> tuple[_Entry, int, dict[str, Any]]:
        """Record the request and take its entry (a function's answer is made outside the lock)."""
        copied = copy.deepcopy(request)
        with self._lock:
            self._requests.append(copied)
            turn = len(self._requests)
            if self._function is not None:
                return _Entry("function", self._function), turn, copied
            if self._played >= len(self._entries):
                raise _exhausted(len(self._entries), turn, copied)
            entry = self._entries[self._played]
            self._played += 1
        return entry, turn, copied

    def _next(self, request: dict[str, Any], provider: LLMProvider) -> tuple[_Entry, int]:
        entry, turn, copied = self._take(request)
        if entry.kind != "function":
            return entry, turn
        answer = _ask(entry.value, copy.deepcopy(copied), turn)
        if inspect.isawaitable(answer):
            getattr(answer, "close", lambda: None)()  # never awaited: closed, so Python does not warn
            raise ScriptError(f"the function answering request {turn} is async ({_name(entry.value)}); "
                              "async functions answer arun() and astream() only: use those, or a plain function")
        return _checked(answer, turn, provider), turn

    async def _anext(self, request: dict[str, Any]) -> tuple[_Entry, int]:
        entry, turn, copied = self._take(request)
        if entry.kind != "function":
            return entry, turn
        answer = _ask(entry.value, copy.deepcopy(copied), turn)
        if inspect.isawaitable(answer):
            try:
                answer = await answer
            except Exception as exc:
                raise _raised(entry.value, turn, exc) from exc
        return _checked(answer, turn, self.provider), turn

    def _whole(self, entry: _Entry, turn: int, provider: LLMProvider) -> Any:
        if entry.kind == "raise":
            raise entry.value
        if entry.kind == "reply":
            return _render(entry.value, provider, turn, self.name)
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
        whole = _render(entry.value, self.provider, turn, self.name) if entry.kind == "reply" else entry.value
        yield from synthesize_stream(whole, self.provider)


def _ask(function: Responder, request: dict[str, Any], turn: int) -> Any:
    """A scripted function's answer to a request; what it raises is the script's bug."""
    try:
        return function(request)
    except Exception as exc:
        raise _raised(function, turn, exc) from exc


def _raised(function: Responder, turn: int, exc: Exception) -> ScriptError:
    return ScriptError(f"the function answering request {turn} ({_name(function)}) raised {type(exc).__name__}: "
                       f"{exc}. To script a provider failure, return the exception instead of raising it")


def _checked(answer: Any, turn: int, provider: LLMProvider) -> _Entry:
    """A function's answer made plain, refused when it is in another API's format."""
    entry = _entry(answer, turn - 1, made_by_function=True)
    family = _family(entry)
    if family is not None and not _speaks(provider, family):
        raise ScriptError(f"the function answered request {turn} with {entry.format}, but this ScriptedModel "
                          f"speaks {provider.value}; pass provider= to ScriptedModel")
    return entry


def _render(value: Reply, provider: LLMProvider, turn: int, name: str) -> dict[str, Any]:
    try:
        return value.render(provider, turn=turn, model=name)
    except Exception as exc:
        raise ScriptError(f"reply {turn} could not be rendered for {provider.value}: {type(exc).__name__}: "
                          f"{exc}") from exc


def _entry(item: Any, index: int, *, made_by_function: bool = False) -> _Entry:
    """The script item made plain, with the format it is in."""
    what = f"the function's answer to request {index + 1}" if made_by_function else f"script item {index}"
    if isinstance(item, BaseException):
        return _Entry("raise", item)
    if _is_exception_class(item):
        raise ScriptError(f"{what} is the exception class {item.__name__}; give an instance, raised as it "
                          f"is: {item.__name__}(...)")
    if isinstance(item, Reply):
        return _Entry("reply", item)
    if callable(item) and not made_by_function and not hasattr(item, "model_dump"):
        return _Entry("function", item)
    if isinstance(item, (str, bytes)):
        return _text_stream(item, what)
    plain = to_plain(item)
    if isinstance(plain, dict):
        found = describe_format(plain)
        if found is None:
            raise ScriptError(f"{what} is a dict in no known format (keys {sorted(plain)[:8]}); "
                              "give a whole response, a stream of events, a reply(...) or an exception")
        api = REGISTRY.of_format(found)
        if api is not None and found == api.event_format:
            return _Entry("stream", [plain], found)  # one event: a stream of one
        return _Entry("whole", plain, found)
    if isinstance(plain, list):
        items: list[Any] = [e if isinstance(e, BaseException) else to_plain(e) for e in plain]
        return _Entry("stream", items, _first_format(items, what))
    raise ScriptError(f"{what} is {_kind(item)}; give a response, a stream, a reply(...) or an exception")


def _text_stream(text: str | bytes, what: str) -> _Entry:
    """Raw server-sent-event text; plain text is refused (it is no stream, and no reply either)."""
    try:
        events = parse_sse(text, provider="scripted")
    except (ResponseParseError, UnicodeDecodeError) as exc:
        raise ScriptError(f"{what} is text that is no valid server-sent-event stream: {exc}") from exc
    if not events:
        shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        raise ScriptError(f"{what} is text without a single server-sent event ({_short(shown)!r}); a string in a "
                          f"script is a raw stream. To script a text answer, write reply({_short(shown)!r})")
    return _Entry("stream", text, _first_format(events, what))


def _first_format(events: list[Any], what: str) -> str | None:
    if not events:
        raise ScriptError(f"{what} is an empty stream: a stream needs at least one event (a model that sends "
                          "nothing is no model). For an answer by intent, use reply(...)")
    if any(not isinstance(e, (dict, BaseException)) or _is_exception_class(e) for e in events):
        raise ScriptError(f"{what} is a list holding something other than event dicts or exception instances")
    found = [describe_format(e) for e in events if isinstance(e, dict)]
    known = next((f for f in found if f is not None), None)
    if known is None and found:
        raise ScriptError(f"{what} is a list whose items are no stream events of a known API (a list of message "
                          "dicts is not a response; use reply(...) or a response body)")
    return known


def _is_exception_class(item: Any) -> bool:
    return isinstance(item, type) and issubclass(item, BaseException)


def _kind(item: Any) -> str:
    return f"a {type(item).__name__}"


def _name(function: Any) -> str:
    return str(getattr(function, "__qualname__", None) or repr(function))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _family(entry: _Entry) -> WireAPI | None:
    """The wire API the entry's format belongs to (none for an error body, which every API sends)."""
    return REGISTRY.of_format(entry.format)


def _speaks(provider: LLMProvider, family: WireAPI) -> bool:
    return REGISTRY[provider] is family


def _provider(entries: list[_Entry], given: LLMProvider | str | None) -> LLMProvider:
    """The given provider (checked against every scripted response) or the first response's."""
    formats = [(index, entry.format, _family(entry)) for index, entry in enumerate(entries)]
    known = [(index, fmt, family) for index, fmt, family in formats if family is not None]
    provider = LLMProvider.of(given) if given is not None else (known[0][2].provider if known else LLMProvider.OPEN_AI)
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
    head, tail = _SHOWN
    if len(shown) > head + tail:
        left_out = len(shown) - head - tail
        shown = f"{shown[:head]}\n... ({left_out} characters left out) ...\n{shown[-tail:]}"
    return ScriptExhaustedError(
        f"ScriptedModel has no answer for request {turn}: it was scripted with {scripted} "
        f"response{'s' if scripted != 1 else ''}, and all were used. The request that had no answer:\n{shown}",
        scripted=scripted, request=request)


def _readable(request: dict[str, Any]) -> dict[str, Any]:
    """The request with each tool shown by its name only (schemas are long and rarely the point) and
    long strings shortened, so the newest turn fits in the error."""
    tools = request.get("tools")
    if isinstance(tools, list):
        names = [t.get("name") or (t.get("function") or {}).get("name") if isinstance(t, dict) else t for t in tools]
        request = {**request, "tools": names}
    shortened: dict[str, Any] = _shorten(request)
    return shortened


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _LONG:
        keep = _LONG // 2
        return f"{value[:keep]}...({len(value) - 2 * keep} characters)...{value[-keep:]}"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value
