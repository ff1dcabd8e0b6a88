"""Model objects: what `agent.run()` calls to get a response, one per wire API, over the official SDKs.

This module holds the `Model` protocol and what the SDK-backed models share (`SDKModel`); each wire
API's package adds its own model class (its `model.py`), which says only which SDK resource sends its
requests and how its SDK differs. A model object takes the request arguments an adapter rendered and
returns the SDK's response (which the same adapter parses). The SDK clients are wrapped here and only
here; a failed request is retried by loopline's one policy (`_retry`: the SDKs' own retries are turned
off), within the execution's deadline. Test doubles implement the same small protocol. The SDKs are
imported when a model is made, so `loopline` imports without them.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from ..errors import ClientMismatchError, MissingAPIKeyError
from ._base import LLMProvider
from ._guard import check_model_request
from ._retry import RetryPolicy, retry_async, retry_sync

__all__ = ["Model", "SDKModel", "StreamingModel", "is_async_client"]

_OPENAI_COMPATIBLE_URLS = {
    LLMProvider.OLLAMA: "http://localhost:11434/v1",
    LLMProvider.VLLM: "http://localhost:8000/v1",
    LLMProvider.GEMINI_OPEN_AI: "https://generativelanguage.googleapis.com/v1beta/openai/",
    LLMProvider.NVIDIA_NIM: "https://integrate.api.nvidia.com/v1",
    LLMProvider.FRIENDLI_AI: "https://api.friendli.ai/serverless/v1",
}
"""Where each OpenAI-compatible server usually listens (a client given to `run` overrides it)."""

_KEY_VARIABLES = {
    LLMProvider.OPEN_AI: "OPENAI_API_KEY",
    LLMProvider.OPEN_AI_RESPONSES: "OPENAI_API_KEY",
    LLMProvider.GEMINI_OPEN_AI: "GEMINI_API_KEY",
    LLMProvider.NVIDIA_NIM: "NVIDIA_API_KEY",
    LLMProvider.FRIENDLI_AI: "FRIENDLI_TOKEN",
    LLMProvider.VLLM: "VLLM_API_KEY",
    LLMProvider.OLLAMA: "OLLAMA_API_KEY",
}
"""The environment variable each provider's key is read from: an OpenAI key never goes to another vendor."""
_LOCAL = frozenset({LLMProvider.OLLAMA, LLMProvider.VLLM})
"""Servers that usually run without a key."""


@runtime_checkable
class Model(Protocol):
    """Something `agent.run()` can ask for a response. Implement it to plug in any backend or a test double."""

    provider: LLMProvider
    """The wire API the model speaks (which adapter renders its requests and parses its responses)."""
    name: str
    """The model's name, as the provider knows it."""

    def complete(self, request: dict[str, Any]) -> Any:
        """One response for the rendered request arguments (an SDK object or a dict)."""
        ...

    async def acomplete(self, request: dict[str, Any]) -> Any:
        """`complete` for asyncio."""
        ...


@runtime_checkable
class StreamingModel(Model, Protocol):
    """A model that can also stream: `agent.stream()` and `astream()` need one."""

    def stream(self, request: dict[str, Any]) -> Iterable[Any]:
        """The raw stream events of one response, in order (SDK objects or dicts)."""
        ...

    def astream(self, request: dict[str, Any]) -> AsyncIterable[Any]:
        """`stream` for asyncio."""
        ...


_SDKS = ("openai", "anthropic")
"""The SDKs model clients come from."""

_CLIENT_OPTIONS = frozenset({"extra_headers", "extra_query", "timeout"})
"""Request arguments that are options of the SDK call, not fields of the request body."""


@dataclass
class SDKModel(ABC):
    """Shared by the SDK-backed models: clients, settings and request assembly.

    The request loopline rendered is already in wire form, so it goes to the SDK as the body
    (`extra_body`) instead of as typed parameters: the SDK would otherwise walk the whole growing
    history on every call to transform it, for the same bytes on the wire. Likewise a whole response
    comes back as the decoded body (`with_raw_response`), which the adapter parses directly, instead
    of as a typed object built only to be taken apart. Retries are loopline's (`_retry`); everything
    else (auth, typed errors, streams) is the SDK's own.
    """

    name: str
    """The model's name."""
    client: Any = None
    """A sync SDK client; built from the environment on first use when not given."""
    async_client: Any = None
    """An async SDK client; built from the environment on first use when not given."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Extra request arguments sent with every request (temperature, max_tokens, ...)."""
    provider: LLMProvider = LLMProvider.OPEN_AI
    max_retries: int | None = None
    """Retries of a request after connection errors, timeouts, 408, 409, 429 and 5xx; `None` takes the
    client's own `max_retries` (the client itself is used with none: loopline retries)."""
    timeout: float | None = None
    """Seconds a request may take; `None` keeps the client's own timeout."""
    retry_delay: float | None = None
    """Seconds between retries when the server sends no `Retry-After`; `None` for the SDKs' backoff."""
    deadline: float | None = None
    """Unix time by which a request, its retries included, must be over (the execution's `max_duration`)."""

    def configured(self, *, max_retries: int | None = None, timeout: float | None = None,
                   retry_delay: float | None = None, deadline: float | None = None) -> SDKModel:
        """This model with these retry, timeout and deadline settings (unset ones keep the current)."""
        changes = {"max_retries": max_retries, "timeout": timeout, "retry_delay": retry_delay, "deadline": deadline}
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[arg-type]

    def connect(self, *, asynchronous: bool) -> None:
        """Check (and, when none was given, build from the environment) the client that sync calls
        (`run`, `stream`) or async calls (`arun`, `astream`) will use, so that another vendor's client, one
        of the wrong kind, a missing key or (in tests) a blocked request is refused before a task starts,
        not at its first request."""
        for given in (self.client, self.async_client):
            if given is not None:
                self._check_vendor(given)
        client = self._async() if asynchronous else self._sync()
        check_model_request(self, _base_url(client))

    def _check_vendor(self, client: Any) -> None:
        """A client of the other SDK (or with no resource for this API) cannot send this model's requests."""
        wanted = self._SDK
        vendor = type(client).__module__.partition(".")[0]
        if (vendor in _SDKS and vendor != wanted) or not _has_resource(self, client):
            kind = f"{vendor}.{type(client).__name__}" if vendor in _SDKS else type(client).__name__
            raise ClientMismatchError(
                f"model {self.name!r} speaks {self.provider.value} and needs an {wanted} client, but client= is "
                f"{kind}; pass an {wanted} client (e.g. {wanted}.{self._CLIENT_CLASS}"
                "()), or name a model of that client's provider (e.g. 'anthropic:claude-sonnet-4-5', "
                "'openai:gpt-4o')", provider=self.provider.value, client_type=type(client).__name__)

    def _sync(self) -> Any:
        if self.client is None:
            self._refuse_to_replace(self.async_client, wanted="a sync client (OpenAI / Anthropic) for run() and "
                                                              "stream()", instead="arun() / astream()")
            self.client = self._env_client(asynchronous=False)
        return self._with_settings(self.client)

    def _async(self) -> Any:
        if self.async_client is None:
            self._refuse_to_replace(self.client, wanted="an async client (AsyncOpenAI / AsyncAnthropic) for "
                                                        "arun() and astream()", instead="run() / stream()")
            self.async_client = self._env_client(asynchronous=True)
        return self._with_settings(self.async_client)

    def _refuse_to_replace(self, given: Any, *, wanted: str, instead: str) -> None:
        """A client the user gave is never quietly swapped for one built from the environment, which may
        reach another server with another key."""
        if given is not None and not _is_env_client(given):
            raise ClientMismatchError(f"this model was given one client, {type(given).__name__}, and needs "
                                      f"{wanted}; use {instead} with it, or give both (e.g. OpenAIChatModel(name, "
                                      "client=..., async_client=...))", provider=self.provider.value,
                                      client_type=type(given).__name__)

    def _env_client(self, *, asynchronous: bool) -> Any:
        """The process's client for this provider built from the environment (made once, then shared)."""
        key = (self.provider, asynchronous, *self._env_settings())
        with _ENV_LOCK:
            client = _ENV_CLIENTS.get(key)
            if client is None:
                client = _ENV_CLIENTS[key] = self._make_client(asynchronous=asynchronous)
                if len(_ENV_CLIENTS) == 1:  # the cache's first client: let them all go at exit
                    atexit.register(_release_env_clients)
            return client

    def _env_settings(self) -> tuple[str | None, str | None]:
        """The base URL and key the environment gives this provider."""
        base_url = _OPENAI_COMPATIBLE_URLS.get(self.provider) or os.environ.get("OPENAI_BASE_URL") or None
        variable = _KEY_VARIABLES.get(self.provider, "OPENAI_API_KEY")
        return base_url, os.environ.get(variable) or ("not-needed" if self.provider in _LOCAL else None)

    def _make_client(self, *, asynchronous: bool) -> Any:
        import openai

        base_url, key = self._env_settings()
        if key is None:
            variable = _KEY_VARIABLES[self.provider]
            raise MissingAPIKeyError(f"no API key for {self.provider.value}: set {variable}, or pass client=... "
                                     "(an openai client for that server)", provider=self.provider.value,
                                     variable=variable)
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(api_key=key, base_url=base_url)

    def _with_settings(self, client: Any) -> Any:
        """The client with loopline's settings: no retries of its own (loopline's policy retries), and the
        configured timeout."""
        options = {"max_retries": 0, **({"timeout": self.timeout} if self.timeout is not None else {})}
        with _CONFIGURED_LOCK:
            cached = _CONFIGURED.get(client)
            if cached is None or cached[0] != options:
                cached = _CONFIGURED[client] = (options, client.with_options(**options))
        return cached[1]

    @property
    def endpoint(self) -> str:
        """The provider and base URL requests go to (what rate limits are shared by)."""
        client = self.client if self.client is not None else self.async_client
        url = _base_url(client) if client is not None else self._env_base_url()
        return f"{self.provider.value} {url or ''}".rstrip("/")

    def _env_base_url(self) -> str | None:
        return self._env_settings()[0] or "https://api.openai.com/v1"

    def _call(self, client: Any, request: dict[str, Any], **typed: Any) -> dict[str, Any]:
        """The SDK call's keyword arguments: the few the SDK needs typed (`typed`, with defaults a body
        value replaces), the call's options, and the rest of the request as the body."""
        check_model_request(self, _base_url(client))
        body = {**self.params, **request}
        kwargs = {k: body.pop(k) for k in _CLIENT_OPTIONS.intersection(body)}
        kwargs.update({k: body.pop(k, default) for k, default in typed.items()})
        body.update(body.pop("extra_body", None) or {})
        return {"model": self.name, **kwargs, "extra_body": body}

    # --- what each API's model says -----------------------------------------------------------------

    _SDK: ClassVar[str] = "openai"
    """The SDK (its top-level package) whose clients send this API's requests."""
    _CLIENT_CLASS: ClassVar[str] = "OpenAI"
    """That SDK's sync client class, named in errors."""
    _EMPTY: ClassVar[tuple[str, ...]] = ()
    """Arguments the SDK's signature requires, sent empty: the body's own values replace them."""
    _TYPED: ClassVar[Mapping[str, Any]] = {}
    """Body values the SDK needs as typed arguments, with their defaults."""
    _STREAM_OPTIONS: ClassVar[Mapping[str, Any]] = {}
    """Body values a streamed request adds."""

    @abstractmethod
    def _resource(self, client: Any) -> Any:
        """The SDK resource whose `create` sends this API's requests."""

    def _args(self, client: Any, request: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
        typed = {**self._TYPED, "stream": True} if stream else self._TYPED
        args = self._call(client, {**self._STREAM_OPTIONS, **request} if stream else request, **typed)
        args.update((name, []) for name in self._EMPTY)
        return args

    def _errors(self) -> tuple[type[BaseException], type[BaseException]]:
        """The SDK's connection error (timeouts included) and HTTP status error classes."""
        import openai

        return openai.APIConnectionError, openai.APIStatusError

    def _policy(self, given: Any, client: Any, args: Mapping[str, Any]) -> RetryPolicy:
        """The retry policy of one request: the retries configured (or the `given` client's own), the
        delay, and the deadline tightening each attempt's timeout."""
        retries = self.max_retries if self.max_retries is not None else int(getattr(given, "max_retries", 2))
        return RetryPolicy(retries=retries, delay=self.retry_delay, errors=self._errors(), deadline=self.deadline,
                           timeout=args.get("timeout", getattr(client, "timeout", None)))

    # --- the Model protocol -------------------------------------------------------------------------

    def complete(self, request: dict[str, Any]) -> Any:
        client = self._sync()
        args, create = self._args(client, request), self._resource(client).with_raw_response.create
        policy = self._policy(self.client, client, args)
        return _body(retry_sync(policy, lambda options: create(**_with(args, options))))

    async def acomplete(self, request: dict[str, Any]) -> Any:
        client = self._async()
        args, create = self._args(client, request), self._resource(client).with_raw_response.create
        policy = self._policy(self.async_client, client, args)
        return _body(await retry_async(policy, lambda options: create(**_with(args, options))))

    def stream(self, request: dict[str, Any]) -> Iterator[Any]:
        client = self._sync()
        args, create = self._args(client, request, stream=True), self._resource(client).create
        policy = self._policy(self.client, client, args)
        with retry_sync(policy, lambda options: create(**_with(args, options))) as events:
            yield from events  # a stream that fails once it has begun is not retried (nor is it by the SDKs)

    async def astream(self, request: dict[str, Any]) -> AsyncIterator[Any]:
        client = self._async()
        args, create = self._args(client, request, stream=True), self._resource(client).create
        events = await retry_async(self._policy(self.async_client, client, args),
                                   lambda options: create(**_with(args, options)))
        async with events:
            async for event in events:
                yield event


_CONFIGURED: weakref.WeakKeyDictionary[Any, tuple[dict[str, Any], Any]] = weakref.WeakKeyDictionary()
"""Clients with settings applied (`with_options` copies a client: done once per client and settings,
and forgotten with the client)."""
_CONFIGURED_LOCK = threading.Lock()


def _body(raw: Any) -> Any:
    """The response body as the server sent it, decoded once: the adapter reads the dict directly, so
    the SDK's typed object would only be built to be taken apart again. The SDK has already raised its
    own error for a failed request."""
    return json.loads(raw.http_response.content)


def _with(args: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK call's arguments with one attempt's options (its headers added to the request's own)."""
    headers = {**(args.get("extra_headers") or {}), **options.get("extra_headers", {})}
    return {**args, **options, "extra_headers": headers}


def _base_url(client: Any) -> str | None:
    url = getattr(client, "base_url", None)
    return None if url is None else str(url)


def _has_resource(model: SDKModel, client: Any) -> bool:
    try:
        model._resource(client)
    except AttributeError:
        return False
    return True


def is_async_client(client: Any) -> bool:
    return client is not None and type(client).__name__.startswith("Async")


_ENV_CLIENTS: dict[tuple[Any, ...], Any] = {}
"""Clients built from the environment, one per provider, kind, base URL and key, shared by every model
of the process (a client holds a connection pool: building one per run would waste it and ~40 ms)."""
_ENV_LOCK = threading.Lock()


def _release_env_clients() -> None:
    """At exit, close the sync clients built from the environment and let them all go while the interpreter
    is whole. Left in the cache, they would be freed only when the interpreter clears this module, and by
    then it may have cleared httpx's module globals, which the SDK's finaliser of a client reads: it then
    prints "Exception ignored in: ...HttpxClientWrapper.__del__ ... 'CLOSED'" at the end of the program.
    An async client is let go unclosed (closing takes an event loop); its finaliser does the rest."""
    with _ENV_LOCK:
        clients = list(_ENV_CLIENTS.values())
        _ENV_CLIENTS.clear()
    for client in clients:
        if not is_async_client(client):
            client.close()


def _is_env_client(client: Any) -> bool:
    with _ENV_LOCK:
        return any(c is client for c in _ENV_CLIENTS.values())
