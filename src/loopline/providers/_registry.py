"""The registry: which `WireAPI` each provider speaks, and the entry points that go through it.

This is the one place that chooses between wire APIs. Every entry point looks the API up here and
asks it; a provider no registered API serves raises `UnknownProviderError` instead of falling through
to some default API. Adding a wire API is adding its package and one line to `REGISTRY`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from ..errors import UnknownProviderError, UsageError
from ._anthropic import AnthropicMessages
from ._base import LLMProvider
from ._chat import ChatCompletions
from ._common import AdapterBase, to_plain
from ._deltas import Translator
from ._detect import ERROR_BODY, describe_format
from ._made import Content
from ._models import Model, SDKModel, is_async_client
from ._responses import Responses
from ._sse import parse_sse
from ._wire import WireAPI

_T = TypeVar("_T")

__all__ = ["REGISTRY", "Registry", "detect_provider", "get_adapter", "make_response", "resolve_model",
           "synthesize_stream", "translator", "wire_api"]


class Registry:
    """Wire APIs by the providers that speak them, and by their formats, in the order given (the
    order formats are tried in)."""

    def __init__(self, *apis: WireAPI) -> None:
        self._apis = apis
        self._by_provider: dict[str, WireAPI] = {}
        for api in apis:
            for provider in api.providers:
                if provider in self._by_provider:
                    raise UsageError(f"{provider.value} is spoken by both {self._by_provider[provider]!r} and "
                                     f"{api!r}; a provider speaks one wire API")
                self._by_provider[provider] = api
        self._by_format = {name: api for api in apis for name, _ in api.formats}
        self._adapters: dict[str, AdapterBase] = {provider: api.adapter(provider) for api in apis
                                                  for provider in api.providers}

    def __iter__(self) -> Iterator[WireAPI]:
        return iter(self._apis)

    def __getitem__(self, provider: LLMProvider | str) -> WireAPI:
        """The API `provider` (an `LLMProvider` or its value) speaks; `UnknownProviderError` if none."""
        return self._find(self._by_provider, provider)

    def adapter(self, provider: LLMProvider | str) -> AdapterBase:
        """The adapter of `provider` (an `LLMProvider` or its value); `UnknownProviderError` if none."""
        return self._find(self._adapters, provider)

    def _find(self, table: Mapping[str, _T], provider: LLMProvider | str) -> _T:
        """`provider`'s entry of `table`: a member equals its value, so either finds it at once."""
        try:
            found = table.get(provider)
        except TypeError:  # unhashable: no provider's name
            found = None
        if found is None:
            key = LLMProvider.of(provider)  # raises for a name LLMProvider does not know
            raise UnknownProviderError(key.value, [str(p) for p in self._by_provider])
        return found

    def of_format(self, name: str | None) -> WireAPI | None:
        """The API whose response or stream event format `describe_format` calls `name`, if any."""
        return self._by_format.get(name or "")


REGISTRY = Registry(
    ChatCompletions(),
    Responses(),
    AnthropicMessages(),
)
"""Every wire API loopline speaks, one line each."""


def wire_api(provider: LLMProvider | str) -> WireAPI:
    """The wire API `provider` speaks (an `LLMProvider` or its value, such as `"ollama"`)."""
    return REGISTRY[provider]


def get_adapter(provider: LLMProvider | str) -> AdapterBase:
    """The adapter for a provider (an `LLMProvider` or its value, such as `"openai"`)."""
    return REGISTRY.adapter(provider)


def translator(provider: LLMProvider | str) -> Translator:
    """A fresh, stateful translator of one stream's raw events (as dicts) into deltas."""
    return REGISTRY[provider].translator()


def make_response(provider: LLMProvider | str, content: Content, *, turn: int = 1, model: str = "scripted-model",
                  input_tokens: int = 10, output_tokens: int = 5) -> dict[str, Any]:
    """The whole response body `provider`'s API would send for `content`; `turn` numbers its ids
    (they must differ between the responses of one conversation)."""
    return REGISTRY[provider].make_response(content, turn=turn, model=model, usage=(input_tokens, output_tokens))


def synthesize_stream(response: dict[str, Any], provider: LLMProvider | str) -> list[dict[str, Any]]:
    """The stream events `provider`'s API sends for `response` (a whole response body, or an error body)."""
    api = REGISTRY[provider]
    if describe_format(response) == ERROR_BODY:
        return [copy.deepcopy(response)]  # an error body: every reassembly raises the provider's error
    return api.synthesize_stream(copy.deepcopy(response))


def detect_provider(response: Any) -> LLMProvider | None:
    """The wire API `response` came from, told by its shape, or `None` when nothing tells.

    Takes what `AdapterBase.parse` takes. A response, a stream event, a list of events and raw
    stream text say which API wrote them; an SDK object an adapter has just parsed is that adapter's
    (nothing is parsed twice); an SDK stream object is otherwise told by the URL it was read from
    (it is not read here: that would use it up). A list of message dicts does not say (Chat
    Completions and Anthropic messages look alike).
    """
    if not isinstance(response, (dict, list, str, bytes)):
        # The seed loop hands the SDK object it just gave add_messages: the adapter that parsed it knows it.
        known = next((api.provider for api in REGISTRY if api.adapter(api.provider).parsed_last(response)), None)
        if known is not None or not callable(getattr(response, "model_dump", None)):
            return known or _stream_provider(response)
    data = to_plain(response)
    if isinstance(data, (str, bytes)):
        data = parse_sse(data, provider="unknown")
    items = [to_plain(item) for item in data] if isinstance(data, list) else [data]
    found = next((f for f in map(describe_format, items) if f is not None), None)
    api = REGISTRY.of_format(found)
    return api.provider if api is not None else None


def _stream_provider(stream: Any) -> LLMProvider | None:
    """The API an SDK stream object was read from, by its HTTP response's URL path."""
    path = str(getattr(getattr(getattr(stream, "response", None), "url", None), "path", ""))
    return next((api.provider for api in REGISTRY if path.endswith(api.url_path)), None)


def resolve_model(model: Model | str, *, client: Any = None, default_provider: LLMProvider = LLMProvider.OPEN_AI,
                  params: Mapping[str, Any] | None = None) -> Model:
    """A model object for `model`: a `Model` as it is, or a string such as `"gpt-4o"` (the default
    provider), `"openai:gpt-4o"`, `"anthropic:claude-sonnet-4-5"`, `"openai_responses:gpt-5-mini"` or
    `"ollama:qwen2.5"`. `client` is an SDK client (sync or async) to use instead of one built from the
    environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `ANTHROPIC_API_KEY`)."""
    if params is not None and not isinstance(params, Mapping):
        raise UsageError(f"params= takes a mapping of request arguments (e.g. {{'temperature': 0}}), got "
                         f"{type(params).__name__}")
    if not isinstance(model, (str, Model)):
        raise UsageError(f"model= takes a model name such as 'gpt-4o' or 'anthropic:claude-sonnet-4-5', or a Model "
                         f"object, got {type(model).__name__}")
    if not isinstance(model, str):
        if client is not None:
            raise UsageError("client= goes with a model name; a model object brings its own client")
        if params and isinstance(model, SDKModel):
            return dataclasses.replace(model, params={**model.params, **params})
        if params:
            raise UsageError(f"params= goes with a model name or an SDK model; {type(model).__name__} takes no "
                             "request arguments")
        return model
    provider, _, name = model.partition(":") if ":" in model else (default_provider.value, "", model)
    kind = LLMProvider.of(provider)
    if not name:
        raise UsageError(f"model {model!r} names no model; write it as 'provider:model', e.g. 'openai:gpt-4o'")
    cls = REGISTRY[kind].model_class
    sync_client, async_client = (client, None) if not is_async_client(client) else (None, client)
    return cls(name=name, client=sync_client, async_client=async_client, params=dict(params or {}), provider=kind)
