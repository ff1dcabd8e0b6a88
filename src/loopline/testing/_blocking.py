"""Blocking real model requests: the public switch, and the same check at the HTTP level.

Model objects ask `loopline.providers.request_guard` before each request. A manual loop drives its own
`openai` / `anthropic` client and asks nobody, so the check is also put into the connection pools of
the HTTP libraries the SDKs send through (`httpcore2` under `httpx2`, and `httpcore` under `httpx`
when installed): `ConnectionPool.handle_request` and `AsyncConnectionPool.handle_async_request`
refuse a model request while requests are blocked. That is below every transport, so a library that
saved the transports' methods before the check was installed (vcrpy does, on import) still goes
through it; mock transports never reach a pool, and vcrpy answers a replayed request before one is
reached, so neither is affected.

A request counts as a model request when it is a POST and either goes to a known provider's API
host, or was made by the `openai` / `anthropic` SDK (their `User-Agent`), or by another SDK of the
same make (`X-Stainless-*` headers) to one of the model endpoints. A request to a loopback host
never is. The error raised is one the SDKs pass on as it is (no retries, no `APIConnectionError`
around it), so the test sees it.

Installing the HTTP check only wraps methods, once per process; while requests are allowed it only
forwards the call. This module imports nothing of loopline but its errors at import time: the
pytest plugin installs the check when an HTTP library is imported, in suites that may never use
loopline, and the guard is imported only when a model request is seen.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import AsyncIterator, Callable, Generator
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from ..errors import ModelRequestBlockedError

__all__ = [
    "allow_model_requests",
    "block_model_requests",
    "check_http_request",
    "guard_library",
    "install_http_guard",
    "is_model_request",
    "model_requests_blocked",
    "sdk_transparent",
    "set_model_requests_blocked",
]

E = TypeVar("E", bound=BaseException)
F = TypeVar("F", bound=Callable[..., Any])

_MODEL_PATHS = ("/chat/completions", "/completions", "/responses", "/messages", "/embeddings")
_SDK_AGENTS = ("openai/", "anthropic/", "asyncopenai/", "asyncanthropic/")
_PROVIDER_HOSTS = frozenset({
    "api.openai.com", "api.anthropic.com", "generativelanguage.googleapis.com", "api.mistral.ai",
    "api.groq.com", "api.together.xyz", "api.together.ai", "api.fireworks.ai", "api.deepseek.com",
    "openrouter.ai", "api.x.ai", "integrate.api.nvidia.com", "api.perplexity.ai", "api.cohere.com",
    "api.cohere.ai", "api.friendli.ai", "api.cerebras.ai", "api.moonshot.ai", "dashscope.aliyuncs.com",
    "dashscope-intl.aliyuncs.com", "aiplatform.googleapis.com"})
_PROVIDER_DOMAINS = (".openai.azure.com", ".services.ai.azure.com", "-aiplatform.googleapis.com")
_POOLS = {"httpcore2": ("ConnectionPool", "AsyncConnectionPool"), "httpcore": ("ConnectionPool", "AsyncConnectionPool")}
_MARK = "_loopline_guarded"


def _guard() -> Any:
    from ..providers import request_guard

    return request_guard


def model_requests_blocked() -> bool:
    """Whether requests to real models are blocked right now (here: in this thread or asyncio task)."""
    blocked: bool = _guard().requests_blocked()
    return blocked


def set_model_requests_blocked(blocked: bool) -> bool:
    """Block (`True`) or allow real model requests from now on, process-wide; returns the previous
    setting. `block_model_requests()` / `allow_model_requests()` in force still win. The pytest
    plugin puts the setting back after each test."""
    if blocked:
        install_http_guard()
    previous: bool = _guard().set_requests_blocked(blocked)
    return previous


class _Override:
    """`block_model_requests()` / `allow_model_requests()`: a context manager, and a decorator of
    functions, coroutine functions, generators and async generators (in force while they run)."""

    def __init__(self, blocked: bool) -> None:
        self.blocked = blocked
        self._entered: list[Any] = []

    def __repr__(self) -> str:
        return f"{'block' if self.blocked else 'allow'}_model_requests()"

    def __enter__(self) -> None:
        if self.blocked:
            install_http_guard()
        manager = _guard().overriding(self.blocked)
        manager.__enter__()
        self._entered.append(manager)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._entered.pop().__exit__(kind, error, traceback)

    def __call__(self, function: F) -> F:
        blocked = self.blocked
        if inspect.isasyncgenfunction(function):
            @functools.wraps(function)
            async def async_generator(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                with _Override(blocked):
                    async for item in function(*args, **kwargs):
                        yield item

            return cast(F, async_generator)
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def coroutine(*args: Any, **kwargs: Any) -> Any:
                with _Override(blocked):
                    return await function(*args, **kwargs)

            return cast(F, coroutine)
        if inspect.isgeneratorfunction(function):
            @functools.wraps(function)
            def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                with _Override(blocked):
                    return (yield from function(*args, **kwargs))

            return cast(F, generator)

        @functools.wraps(function)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with _Override(blocked):
                return function(*args, **kwargs)

        return cast(F, plain)


def block_model_requests() -> _Override:
    """Refuse requests to real models inside the block: `with block_model_requests():`, or as a
    decorator (`@block_model_requests()`) of a function, a coroutine function or a generator.

    A refused request raises `ModelRequestBlockedError`. Loopback hosts, mock transports and
    replaying loopline cassettes are not affected. The block holds in the code it wraps and in the
    asyncio tasks that code starts, not in sibling tasks or other threads.
    """
    return _Override(True)


def allow_model_requests() -> _Override:
    """Let requests reach real models inside the block, even where they are blocked (a context
    manager or a decorator, as `block_model_requests()`)."""
    return _Override(False)


def install_http_guard() -> None:
    """Put the model-request check into the connection pools of `httpcore2` and `httpcore` (those installed).

    Idempotent. Imports `httpcore2` (a dependency of the `openai` SDK) and `httpcore` when present.
    """
    for name in _POOLS:
        try:
            library = __import__(name)
        except ImportError:
            continue
        guard_library(library)


def guard_library(library: Any) -> None:
    """Wrap the connection pools of `library` (`httpcore2` or `httpcore`, imported), once."""
    sync_pool, async_pool = _POOLS.get(library.__name__, _POOLS["httpcore2"])
    _wrap(getattr(library, sync_pool), "handle_request", asynchronous=False)
    _wrap(getattr(library, async_pool), "handle_async_request", asynchronous=True)


def _wrap(cls: type, method: str, *, asynchronous: bool) -> None:
    original = getattr(cls, method)
    if getattr(original, _MARK, False):
        return
    if asynchronous:
        @functools.wraps(original)
        async def guarded_async(self: Any, request: Any) -> Any:
            __tracebackhide__ = True
            check_http_request(request)
            return await original(self, request)

        setattr(guarded_async, _MARK, True)
        setattr(cls, method, guarded_async)
    else:
        @functools.wraps(original)
        def guarded(self: Any, request: Any) -> Any:
            __tracebackhide__ = True
            check_http_request(request)
            return original(self, request)

        setattr(guarded, _MARK, True)
        setattr(cls, method, guarded)


def check_http_request(request: Any) -> None:
    """Raise `ModelRequestBlockedError` for a request to a real model while requests are blocked.

    `request` is an `httpx` / `httpx2` request or an `httpcore` / `httpcore2` one.
    """
    __tracebackhide__ = True
    method, url, headers = _describe(request)
    if not is_model_request(method, url, headers):
        return
    guard = _guard()
    if not guard.requests_blocked() or guard.is_loopback(urlsplit(url).hostname):
        return
    raise sdk_transparent(ModelRequestBlockedError)(*guard.blocked_error(url).args, url=url,
                                                    test=guard.current_test())


def is_model_request(method: str, url: str, headers: dict[str, str]) -> bool:
    """Whether a request (its method, URL and lower-cased headers) is one to a model provider's API."""
    if method.upper() != "POST":
        return False
    host = (urlsplit(url).hostname or "").lower()
    if host in _PROVIDER_HOSTS or host.endswith(_PROVIDER_DOMAINS):
        return True
    if headers.get("user-agent", "").lower().startswith(_SDK_AGENTS):
        return True
    stainless = any(key.startswith("x-stainless-") for key in headers)
    return stainless and urlsplit(url).path.rstrip("/").endswith(_MODEL_PATHS)


def _describe(request: Any) -> tuple[str, str, dict[str, str]]:
    """Method, URL and lower-cased headers of an httpx-style or an httpcore-style request."""
    method = request.method.decode("ascii", "replace") if isinstance(request.method, bytes) else str(request.method)
    url = request.url
    if hasattr(url, "target"):  # httpcore: scheme, host, port and target, as bytes
        host, port = _text(url.host), f":{url.port}" if url.port is not None else ""
        text = f"{_text(url.scheme)}://{f'[{host}]' if ':' in host else host}{port}{_text(url.target)}"
    else:
        text = str(url)
    raw = request.headers.raw if hasattr(request.headers, "raw") else request.headers
    pairs = raw.items() if isinstance(raw, dict) else raw
    return method, text, {_text(k).lower(): _text(v) for k, v in pairs}


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


@functools.cache
def _transparent(cls: Any, bases: tuple[type[BaseException], ...]) -> type[BaseException]:
    return type(cls.__name__, (cls, *bases), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                              "__doc__": cls.__doc__})


def sdk_transparent(cls: type[E]) -> type[E]:
    """`cls`, or a subclass of it that the `openai` and `anthropic` SDKs pass on as it is.

    The SDKs retry and wrap in `APIConnectionError` whatever their HTTP client raises, except their
    own errors; the subclass also derives from their base error classes (of the SDKs already
    imported, so nothing is imported here). `isinstance(error, cls)` holds either way.
    """
    bases = tuple(base for module, name in (("openai", "OpenAIError"), ("anthropic", "AnthropicError"))
                  if isinstance(base := getattr(sys.modules.get(module), name, None), type)
                  and issubclass(base, BaseException) and not issubclass(cls, base))
    if not bases:
        return cls
    given: Any = cls
    made: Any = _transparent(given, bases)
    return made  # type: ignore[no-any-return]
