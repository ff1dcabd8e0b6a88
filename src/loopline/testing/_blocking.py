"""Blocking real model requests: the public switch, and the same check at the HTTP level.

Model objects ask `loopline.providers._guard` before each request. A manual loop drives its own
`openai` / `anthropic` client and asks nobody, so the check is also put into the HTTP libraries the
SDKs send through (`httpx2`, and `httpx` when installed): their network transports
(`HTTPTransport.handle_request`, `AsyncHTTPTransport.handle_async_request`) refuse a model request
while requests are blocked. Mock transports are not touched, and vcrpy replays a cassette before a
transport is reached, so neither is affected. A request counts as a model request when an SDK made
it (its `User-Agent` or `X-Stainless-*` headers say so) or its path is one of the three APIs'
endpoints; a request to a loopback host never is. The error raised is one the SDKs pass on as it is
(no retries, no `APIConnectionError` around it), so the test sees it.

Installing the HTTP check only wraps methods, once per process; while requests are allowed it only
forwards the call.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import ModelRequestBlockedError
from ..providers import _guard

__all__ = [
    "allow_model_requests",
    "block_model_requests",
    "install_http_guard",
    "model_requests_blocked",
    "sdk_transparent",
    "set_model_requests_blocked",
]

E = TypeVar("E", bound=BaseException)

_MODEL_PATHS = ("/chat/completions", "/completions", "/responses", "/messages", "/embeddings")
_SDK_AGENTS = ("openai/", "anthropic/", "asyncopenai/", "asyncanthropic/")
_MARK = "_loopline_guarded"


def model_requests_blocked() -> bool:
    """Whether requests to real models are blocked right now."""
    return _guard.requests_blocked()


def set_model_requests_blocked(blocked: bool) -> bool:
    """Block (`True`) or allow real model requests from now on, process-wide; returns the previous
    setting. `block_model_requests()` / `allow_model_requests()` blocks in force still win."""
    if blocked:
        install_http_guard()
    return _guard.set_requests_blocked(blocked)


@contextlib.contextmanager
def block_model_requests() -> Iterator[None]:
    """Refuse requests to real models inside the block (also usable as a decorator).

    A refused request raises `ModelRequestBlockedError`. Loopback hosts, mock transports and
    replaying loopline cassettes are not affected.
    """
    install_http_guard()
    with _guard.overriding(True):
        yield


@contextlib.contextmanager
def allow_model_requests() -> Iterator[None]:
    """Let requests reach real models inside the block, even where they are blocked (also a decorator)."""
    with _guard.overriding(False):
        yield


def install_http_guard() -> None:
    """Put the model-request check into the network transports of `httpx2` and `httpx` (those installed).

    Idempotent. Imports `httpx2` (a dependency of the `openai` SDK) and `httpx` when present.
    """
    for name in ("httpx2", "httpx"):
        try:
            library = __import__(name)
        except ImportError:
            continue
        _wrap(library.HTTPTransport, "handle_request", asynchronous=False)
        _wrap(library.AsyncHTTPTransport, "handle_async_request", asynchronous=True)


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
    """Raise `ModelRequestBlockedError` for an `httpx` request to a real model while requests are blocked."""
    __tracebackhide__ = True
    if not _guard.requests_blocked():
        return
    url = str(request.url)
    if _guard.is_loopback(urlsplit(url).hostname) or not _is_model_request(url, request.headers):
        return
    raise sdk_transparent(ModelRequestBlockedError)(*_guard.blocked_error(url).args, url=url,
                                                    test=_guard.current_test())


def _is_model_request(url: str, headers: Any) -> bool:
    agent = str(headers.get("user-agent", "")).lower()
    if agent.startswith(_SDK_AGENTS) or any(str(k).lower().startswith("x-stainless-") for k in headers):
        return True
    path = urlsplit(url).path.rstrip("/")
    return path.endswith(_MODEL_PATHS)


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
