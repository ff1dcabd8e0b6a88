"""Messages and usage: the provider-neutral conversation every thread stores.

A `Message` is immutable once made; threads only ever append. Renderings for a provider are derived
from messages by that provider's adapter and never written back into them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field

from ._parts import Part, ReasoningPart, RefusalPart, TextPart, ToolCallPart, ToolResultPart

__all__ = ["Message", "Role", "StopReason", "Usage", "new_id"]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]

StopReason: TypeAlias = Literal["stop", "tool_calls", "length", "content_filter", "refusal", "pause", "other"]
"""Why the model stopped, in one vocabulary for every provider (the raw value is kept beside it)."""


def new_id(prefix: str) -> str:
    """A unique id such as `msg_3f2a...` (96 random bits); ids are opaque to every provider."""
    return f"{prefix}_{os.urandom(12).hex()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token counts of one model response, or a sum of several, normalised across providers."""

    input_tokens: int = 0
    """Prompt tokens, including cached ones."""
    output_tokens: int = 0
    """Completion tokens, including reasoning ones."""
    cached_tokens: int = 0
    """Prompt tokens served from the provider's prompt cache (a subset of `input_tokens`)."""
    reasoning_tokens: int = 0
    """Completion tokens spent on hidden reasoning (a subset of `output_tokens`)."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's prompt cache (a subset of `input_tokens`; Anthropic
    bills them above ordinary input)."""
    requests: int = 0
    """How many model responses this usage adds up."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            requests=self.requests + other.requests,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One turn of the conversation: a role and an ordered tuple of parts."""

    role: Role
    """Who speaks: `user`, `assistant`, `tool` (tool results) or `system`."""
    parts: tuple[Annotated[Part, Field(discriminator="kind")], ...]
    """The content, in order."""
    id: str = field(default_factory=lambda: new_id("msg"))
    """loopline's id for the message (not a provider's)."""
    created_at: float = field(default_factory=time.time)
    """Unix time the message was made."""
    provider: str | None = None
    """For model output: the wire API (an `LLMProvider` value) that produced it."""
    model: str | None = None
    """For model output: the model name the provider reported."""
    usage: Usage | None = None
    """For model output: the tokens the response used."""
    stop_reason: StopReason | None = None
    """For model output: why the model stopped, normalised."""
    raw_stop_reason: str | None = None
    """For model output: the stop reason exactly as the provider said it."""
    provider_details: dict[str, Any] | None = None
    """Provider-private data about the whole response (response id, system fingerprint, ...)."""

    @classmethod
    def user(cls, text: str, *extra: Part) -> Message:
        """A user message with text followed by any extra parts (files, images)."""
        return cls(role="user", parts=(TextPart(text=text), *extra))

    @classmethod
    def assistant(cls, text: str) -> Message:
        """An assistant message holding only text."""
        return cls(role="assistant", parts=(TextPart(text=text),))

    @property
    def text(self) -> str:
        """All text parts joined, in order (empty when there are none)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        """The tool call parts, in order."""
        return tuple(p for p in self.parts if isinstance(p, ToolCallPart))

    @property
    def tool_results(self) -> tuple[ToolResultPart, ...]:
        """The tool result parts, in order."""
        return tuple(p for p in self.parts if isinstance(p, ToolResultPart))

    @property
    def refusal(self) -> str | None:
        """The refusal text, when the model refused."""
        texts = [p.text for p in self.parts if isinstance(p, RefusalPart)]
        return "".join(texts) if texts else None

    @property
    def reasoning(self) -> tuple[ReasoningPart, ...]:
        """The reasoning parts, in order."""
        return tuple(p for p in self.parts if isinstance(p, ReasoningPart))
