"""Model objects: what `agent.run()` calls to get a response, one per wire API, over the official SDKs.

A model object takes the request arguments an adapter rendered and returns the SDK's response (which
the same adapter parses). The SDK clients are wrapped here and only here; their own retry machinery
(429, 5xx, connection errors, `Retry-After`) is used as it is. Test doubles implement the same small
protocol. The SDKs are imported when a model is made, so `loopline` imports without them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import MissingExtraError, UsageError
from ._base import LLMProvider

__all__ = ["AnthropicModel", "Model", "OpenAIChatModel", "OpenAIResponsesModel", "StreamingModel", "resolve_model"]

_OPENAI_COMPATIBLE_URLS = {
    LLMProvider.OLLAMA: "http://localhost:11434/v1",
    LLMProvider.VLLM: "http://localhost:8000/v1",
    LLMProvider.GEMINI_OPEN_AI: "https://generativelanguage.googleapis.com/v1beta/openai/",
    LLMProvider.NVIDIA_NIM: "https://integrate.api.nvidia.com/v1",
    LLMProvider.FRIENDLI_AI: "https://api.friendli.ai/serverless/v1",
}
"""Where each OpenAI-compatible server usually listens; `OPENAI_BASE_URL` or a client overrides it."""


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


@dataclass
class _SDKModel:
    """Shared by the three SDK-backed models: client set-up and request assembly."""

    name: str
    """The model's name."""
    client: Any = None
    """A sync SDK client; built from the environment on first use when not given."""
    async_client: Any = None
    """An async SDK client; built from the environment on first use when not given."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Extra request arguments sent with every request (temperature, max_tokens, ...)."""
    provider: LLMProvider = LLMProvider.OPEN_AI

    def _body(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.name, **self.params, **request}


@dataclass
class OpenAIChatModel(_SDKModel):
    """OpenAI Chat Completions (and OpenAI-compatible servers) through the `openai` SDK."""

    def complete(self, request: dict[str, Any]) -> Any:
        if self.client is None:
            self.client = _openai(self.provider, asynchronous=False)
        return self.client.chat.completions.create(**self._body(request))

    async def acomplete(self, request: dict[str, Any]) -> Any:
        if self.async_client is None:
            self.async_client = _openai(self.provider, asynchronous=True)
        return await self.async_client.chat.completions.create(**self._body(request))

    def stream(self, request: dict[str, Any]) -> Iterator[Any]:
        if self.client is None:
            self.client = _openai(self.provider, asynchronous=False)
        with self.client.chat.completions.create(**self._body(request), stream=True,
                                                 stream_options={"include_usage": True}) as events:
            yield from events

    async def astream(self, request: dict[str, Any]) -> AsyncIterator[Any]:
        if self.async_client is None:
            self.async_client = _openai(self.provider, asynchronous=True)
        events = await self.async_client.chat.completions.create(**self._body(request), stream=True,
                                                                 stream_options={"include_usage": True})
        async with events:
            async for event in events:
                yield event


@dataclass
class OpenAIResponsesModel(_SDKModel):
    """The OpenAI Responses API through the `openai` SDK."""

    provider: LLMProvider = LLMProvider.OPEN_AI_RESPONSES

    def complete(self, request: dict[str, Any]) -> Any:
        if self.client is None:
            self.client = _openai(self.provider, asynchronous=False)
        return self.client.responses.create(**self._body(request))

    async def acomplete(self, request: dict[str, Any]) -> Any:
        if self.async_client is None:
            self.async_client = _openai(self.provider, asynchronous=True)
        return await self.async_client.responses.create(**self._body(request))

    def stream(self, request: dict[str, Any]) -> Iterator[Any]:
        if self.client is None:
            self.client = _openai(self.provider, asynchronous=False)
        with self.client.responses.create(**self._body(request), stream=True) as events:
            yield from events

    async def astream(self, request: dict[str, Any]) -> AsyncIterator[Any]:
        if self.async_client is None:
            self.async_client = _openai(self.provider, asynchronous=True)
        events = await self.async_client.responses.create(**self._body(request), stream=True)
        async with events:
            async for event in events:
                yield event


@dataclass
class AnthropicModel(_SDKModel):
    """Anthropic Messages through the `anthropic` SDK (the `anthropic` extra). `max_tokens` is
    required by the API; it defaults to 4096 unless `params` sets it."""

    provider: LLMProvider = LLMProvider.ANTHROPIC

    def _body(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.name, "max_tokens": 4096, **self.params, **request}

    def complete(self, request: dict[str, Any]) -> Any:
        if self.client is None:
            self.client = _anthropic(asynchronous=False)
        return self.client.messages.create(**self._body(request))

    async def acomplete(self, request: dict[str, Any]) -> Any:
        if self.async_client is None:
            self.async_client = _anthropic(asynchronous=True)
        return await self.async_client.messages.create(**self._body(request))

    def stream(self, request: dict[str, Any]) -> Iterator[Any]:
        if self.client is None:
            self.client = _anthropic(asynchronous=False)
        with self.client.messages.create(**self._body(request), stream=True) as events:
            yield from events

    async def astream(self, request: dict[str, Any]) -> AsyncIterator[Any]:
        if self.async_client is None:
            self.async_client = _anthropic(asynchronous=True)
        events = await self.async_client.messages.create(**self._body(request), stream=True)
        async with events:
            async for event in events:
                yield event


def resolve_model(model: Model | str, *, client: Any = None, default_provider: LLMProvider = LLMProvider.OPEN_AI,
                  params: Mapping[str, Any] | None = None) -> Model:
    """A model object for `model`: a `Model` as it is, or a string such as `"gpt-4o"` (the default
    provider), `"openai:gpt-4o"`, `"anthropic:claude-sonnet-4-5"`, `"openai_responses:gpt-5-mini"` or
    `"ollama:qwen2.5"`. `client` is an SDK client (sync or async) to use instead of one built from the
    environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`)."""
    if not isinstance(model, str):
        if client is not None:
            raise UsageError("client= goes with a model name; a model object brings its own client")
        return model
    provider, _, name = model.partition(":") if ":" in model else (default_provider.value, "", model)
    kind = LLMProvider.of(provider)
    if not name:
        raise UsageError(f"model {model!r} names no model; write it as 'provider:model', e.g. 'openai:gpt-4o'")
    cls: type[OpenAIChatModel | OpenAIResponsesModel | AnthropicModel] = OpenAIChatModel
    if kind is LLMProvider.ANTHROPIC:
        cls = AnthropicModel
    elif kind is LLMProvider.OPEN_AI_RESPONSES:
        cls = OpenAIResponsesModel
    sync_client, async_client = (client, None) if not _is_async_client(client) else (None, client)
    return cls(name=name, client=sync_client, async_client=async_client, params=dict(params or {}), provider=kind)


def _is_async_client(client: Any) -> bool:
    return client is not None and type(client).__name__.startswith("Async")


def _openai(provider: LLMProvider, *, asynchronous: bool) -> Any:
    import openai

    base_url = os.environ.get("OPENAI_BASE_URL") or _OPENAI_COMPATIBLE_URLS.get(provider)
    key = os.environ.get("OPENAI_API_KEY") or ("not-needed" if provider in _OPENAI_COMPATIBLE_URLS else None)
    cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(api_key=key, base_url=base_url)


def _anthropic(*, asynchronous: bool) -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise MissingExtraError(package="anthropic", extra="anthropic") from exc
    return anthropic.AsyncAnthropic() if asynchronous else anthropic.Anthropic()
