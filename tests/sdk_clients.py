"""The official SDK clients the tests hand to loopline: one way to build them, so every test talks to its
local server or mock transport through the same real openai / anthropic client code."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai

KEYS = {"anthropic": "sk-ant-test", "openai": "sk-test"}
"""Made-up keys: the local servers and transports never check them."""


def sdk_client(api: str, *, server: str | None = None, asynchronous: bool = False,
               transport: httpx2.BaseTransport | httpx2.AsyncBaseTransport | None = None, max_retries: int = 0,
               **options: Any) -> Any:
    """An `anthropic` client when `api` is "anthropic", else an `openai` one (chat and responses share
    it); `AsyncAnthropic` / `AsyncOpenAI` when `asynchronous`.

    `server` is the root of a server that speaks both APIs, with openai's paths under /v1 as on the real
    API; `transport` (e.g. an `httpx2.MockTransport`) replaces the network. Retries are off unless asked
    for, so a test sees the first failure; any other keyword (`api_key`, `base_url`, `timeout`,
    `default_headers`, ...) goes to the client as it is."""
    vendor = "anthropic" if api == "anthropic" else "openai"
    if server is not None:
        options["base_url"] = server if vendor == "anthropic" else f"{server}/v1"
    if transport is not None:
        options["http_client"] = (httpx2.AsyncClient(transport=transport) if asynchronous
                                  else httpx2.Client(transport=transport))
    options.setdefault("api_key", KEYS[vendor])
    if vendor == "anthropic":
        cls: Any = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    else:
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(max_retries=max_retries, **options)
