"""The switch that blocks real model requests (in tests): checked before every request a model object sends.

Tests should never reach a provider by accident: that costs money, needs a key, and makes a suite
flaky. The switch lives here, below every model object, so each SDK-backed model asks it before it
sends anything; `loopline.testing` turns it on and off (its pytest plugin turns it on for every test
by default) and adds the same check at the HTTP level for clients the user drives by hand.

What is never blocked: requests to loopback hosts (a local test server is not a provider), requests
through a client whose transport does not reach the network (an `httpx` `MockTransport`), and
requests while a loopline cassette replays (they go to the cassette). This module must never import
an SDK or an HTTP library at import time, and never send anything itself.

The setting is process-wide (a test suite switches it per test); the overrides of
`block_model_requests()` / `allow_model_requests()` live in a context variable, so they hold in the
code they wrap and in the asyncio tasks it starts, never in a sibling task or another thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from ..errors import ModelRequestBlockedError

__all__ = [
    "blocked_error",
    "check_model_request",
    "current_test",
    "is_loopback",
    "overriding",
    "replaying",
    "requests_blocked",
    "set_current_test",
    "set_requests_blocked",
]

_DEFAULT_URL = "https://api.openai.com/v1"
"""Where a client without a base URL sends its requests (the OpenAI SDK's default)."""


class _Switch:
    """The process-wide state: the setting, replaying cassettes, the test running now."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blocked = False
        self.cassettes = 0
        self.test: str | None = None


_SWITCH = _Switch()
_OVERRIDE: contextvars.ContextVar[bool | None] = contextvars.ContextVar("loopline_model_requests_blocked",
                                                                        default=None)
"""The innermost `overriding(...)` in force in this context (`None`: none, the setting holds)."""


def requests_blocked() -> bool:
    """Whether requests to real models are blocked right now (the override in force here, else the setting)."""
    override = _OVERRIDE.get()
    return _SWITCH.blocked if override is None else override


def set_requests_blocked(blocked: bool) -> bool:
    """Set the process-wide setting (overrides in force still win); returns the previous setting."""
    with _SWITCH.lock:
        previous, _SWITCH.blocked = _SWITCH.blocked, bool(blocked)
    return previous


@contextlib.contextmanager
def overriding(blocked: bool) -> Iterator[None]:
    """Block (or allow) model requests inside the block, whatever the setting; the innermost wins.

    The override holds in the current context only: in the code inside the block and in the asyncio
    tasks started from it, not in other tasks or threads.
    """
    token = _OVERRIDE.set(bool(blocked))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # left in another context (a generator closed elsewhere)
            _OVERRIDE.reset(token)


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """Mark a cassette as replaying: model objects' requests go to it, not to a provider."""
    with _SWITCH.lock:
        _SWITCH.cassettes += 1
    try:
        yield
    finally:
        with _SWITCH.lock:
            _SWITCH.cassettes -= 1


def current_test() -> str | None:
    """The node id of the test running now, as the pytest plugin said it (`None` outside tests)."""
    return _SWITCH.test


def set_current_test(node_id: str | None) -> str | None:
    """Say which test runs now (the pytest plugin does); returns the one said before."""
    with _SWITCH.lock:
        previous, _SWITCH.test = _SWITCH.test, node_id
    return previous


def is_loopback(host: str | None) -> bool:
    """Whether `host` is this machine (127.0.0.0/8, ::1, `localhost`): a local server, never a provider."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def blocked_error(url: str) -> ModelRequestBlockedError:
    """The error for a blocked request to `url`, naming the running test and the ways out."""
    test = current_test()
    where = f"in test {test}" if test else "outside any test"
    allow = ("mark the test @pytest.mark.allow_model_requests (or take the allow_model_requests fixture, or "
             "run pytest --allow-model-requests)" if test
             else "wrap the code in loopline.testing.allow_model_requests()")
    return ModelRequestBlockedError(
        f"loopline blocked a real model request to {url} {where}: requests to model providers are blocked"
        f"{' in tests' if test else ''}. "
        "Replay recorded traffic with @pytest.mark.loopline_cassette (record it once with pytest --record, "
        "or --loopline-record), "
        f"answer with loopline.testing.ScriptedModel, or, to reach the provider on purpose, {allow}.",
        url=url, test=test)


def check_model_request(model: Any, base_url: str | None) -> None:
    """Raise `ModelRequestBlockedError` if requests to `base_url` are blocked for `model` right now.

    Returns quietly when requests are allowed, when `base_url` is a loopback address, when a
    loopline cassette replays, or when the model's SDK client sends through a transport that does
    not reach the network (a mock).
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    if not requests_blocked() or _SWITCH.cassettes:
        return
    url = str(base_url) if base_url else _DEFAULT_URL
    if is_loopback(urlsplit(url).hostname) or not _reaches_network(model, url):
        return
    raise blocked_error(url)


def _reaches_network(model: Any, url: str) -> bool:
    """Whether any SDK client of `model` would send `url` through a network transport. A transport
    that cannot be found is taken to reach the network."""
    clients = [c for c in (getattr(model, "client", None), getattr(model, "async_client", None)) if c is not None]
    return not clients or any(_network_transport(c, url) for c in clients)


def _network_transport(client: Any, url: str) -> bool:
    http = getattr(client, "_client", client)  # the SDKs keep their httpx client there
    for library in (sys.modules.get(name) for name in ("httpx2", "httpx")):
        if library is None or not isinstance(http, (library.Client, library.AsyncClient)):
            continue
        try:
            transport = http._transport_for_url(library.URL(url))
        except Exception:  # a private method of httpx; without it, assume the worst
            return True
        return isinstance(transport, (library.HTTPTransport, library.AsyncHTTPTransport))
    return True
