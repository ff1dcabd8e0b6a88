"""The Anthropic Messages model: requests to `client.messages` through the `anthropic` SDK (the
`anthropic` extra), imported when a client is made."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ...errors import MissingAPIKeyError, MissingExtraError
from .._base import LLMProvider
from .._models import SDKModel

__all__ = ["AnthropicModel"]


@dataclass
class AnthropicModel(SDKModel):
    """Anthropic Messages through the `anthropic` SDK (the `anthropic` extra). `max_tokens` is
    required by the API; it defaults to 4096 unless `params` sets it."""

    provider: LLMProvider = LLMProvider.ANTHROPIC
    _SDK: ClassVar[str] = "anthropic"
    _CLIENT_CLASS: ClassVar[str] = "Anthropic"
    _EMPTY = ("messages",)
    _TYPED: ClassVar[Mapping[str, Any]] = {"max_tokens": 4096}  # the SDK sizes its timeout from it

    def _resource(self, client: Any) -> Any:
        return client.messages

    def _make_client(self, *, asynchronous: bool) -> Any:
        if self._env_settings()[1] is None and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            # The SDK itself would only fail at the first request, after the task had started.
            raise MissingAPIKeyError("no API key for anthropic: set ANTHROPIC_API_KEY, or pass client=... (an "
                                     "anthropic.Anthropic or AsyncAnthropic client)", provider=self.provider.value,
                                     variable="ANTHROPIC_API_KEY")
        return _anthropic(asynchronous=asynchronous)

    def _errors(self) -> tuple[type[BaseException], type[BaseException]]:
        import anthropic

        return anthropic.APIConnectionError, anthropic.APIStatusError

    def _env_settings(self) -> tuple[str | None, str | None]:
        return os.environ.get("ANTHROPIC_BASE_URL") or None, os.environ.get("ANTHROPIC_API_KEY")

    def _env_base_url(self) -> str | None:
        return self._env_settings()[0] or "https://api.anthropic.com"


def _anthropic(*, asynchronous: bool) -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise MissingExtraError(package="anthropic", extra="anthropic") from exc
    return anthropic.AsyncAnthropic() if asynchronous else anthropic.Anthropic()
