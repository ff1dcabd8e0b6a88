"""`WireAPI`: everything loopline asks of one wire API, in one interface.

Each wire API is a package of this one (`_chat/`, `_responses/`, `_anthropic/`) holding its adapter
(`adapter.py`), stream reassembly (`stream.py`), stream translation to deltas (`events.py`),
made-up responses and streams (`made.py`), format detection (`detect.py`) and SDK model class
(`model.py`); its `__init__.py` binds them into a `WireAPI`. The registry (`_registry.py`) lists one
instance per API and is the only place that chooses between them: nothing else branches on which API
a provider speaks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ..errors import UnknownProviderError
from ._base import LLMProvider
from ._common import AdapterBase
from ._deltas import Translator
from ._detect import Format
from ._made import Content
from ._models import SDKModel

__all__ = ["WireAPI"]


class WireAPI(ABC):
    """One wire API: its adapter(s), stream handling, made-up responses, formats and SDK model class.

    A subclass sets the class attributes and implements the abstract methods; an API that several
    servers speak with small differences (Chat Completions) serves each of its `providers` with its
    own adapter.
    """

    provider: ClassVar[LLMProvider]
    """The provider that names the API itself (what a response in its format is parsed as)."""
    url_path: ClassVar[str]
    """How the path of the URL its requests go to ends (`/chat/completions`): tells an SDK stream's API."""
    formats: ClassVar[tuple[Format, ...]]
    """Its response and stream event formats, each with the test of whether a dict looks like it."""
    model_class: ClassVar[type[SDKModel]]
    """The SDK-backed model that sends its requests."""

    def __init__(self) -> None:
        self._adapters = {provider: self.make_adapter(provider) for provider in self.providers}

    @property
    def providers(self) -> tuple[LLMProvider, ...]:
        """Every provider that speaks this API (the API's own first)."""
        return (self.provider,)

    @abstractmethod
    def make_adapter(self, provider: LLMProvider) -> AdapterBase:
        """A new adapter for `provider` (one of `providers`); called once per provider."""

    def adapter(self, provider: LLMProvider) -> AdapterBase:
        """The adapter for `provider` (one of `providers`): the same object on every call (it
        remembers the SDK object it parsed last)."""
        adapter = self._adapters.get(provider)
        if adapter is None:
            raise UnknownProviderError(str(provider), [p.value for p in self.providers])
        return adapter

    @abstractmethod
    def translator(self) -> Translator:
        """A fresh, stateful translator of one stream's raw events (as dicts) into deltas."""

    @abstractmethod
    def make_response(self, content: Content, *, turn: int, model: str, usage: tuple[int, int]) -> dict[str, Any]:
        """The whole response body this API would send for `content` (see `make_response`)."""

    @abstractmethod
    def synthesize_stream(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        """The stream events this API would send for a whole response body (a copy of its own, which
        the events may share)."""

    @property
    def response_format(self) -> str:
        """What `describe_format` calls this API's response."""
        return self.adapter(self.provider).response_format

    @property
    def event_format(self) -> str:
        """What `describe_format` calls this API's stream events."""
        return self.adapter(self.provider).event_format

    def __repr__(self) -> str:
        return f"<WireAPI {self.provider.value}>"
