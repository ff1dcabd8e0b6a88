"""What loopline knows about models: their tokenizer, how their requests are counted, their context window.

Names are matched by longest prefix, so dated snapshots (`gpt-4o-2024-08-06`,
`claude-sonnet-4-5-20250929`) find their family. A prefix matches only at a boundary (the name
ends, or goes on with `-`, `.`, `:` or `@`), so `gpt-4` does not swallow an unknown `gpt-4x`.
Provider-prefixed names (`anthropic:claude-sonnet-4-5`, `openai:gpt-4o`, `openai/gpt-4o`) are
looked up by the bare model name. This module must never reach the network.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..providers import LLMProvider

__all__ = [
    "ModelProfile",
    "bare_model_name",
    "context_window",
    "encoding_for",
    "profile_for",
    "set_context_window",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelProfile:
    """How requests to a family of models are counted. The overheads are in the family's own tokens.

    OpenAI's numbers are those of OpenAI's cookbook (3 tokens a message, 3 to prime the reply),
    rounded up and checked against the usage of the recorded requests in the wire corpus; a tool
    call or result costs a few tokens more (its id and the wrapping). Anthropic's are measured
    from the recorded Anthropic traffic, where each tool_use/tool_result block cost about 30
    tokens beyond its content, and offering tools added a hidden tool-use system prompt of 300 to
    660 tokens depending on the model.
    """

    family: str
    """A name for messages and docs (`openai`, `anthropic`, `other`)."""
    encoding: str
    """The tiktoken encoding that counts the text."""
    scale: float = 1.0
    """Counts are multiplied by this (rounded up): above 1 where `encoding` is not the model's own
    tokenizer, so that estimates err toward fitting."""
    native: bool = True
    """Whether `encoding` is the model's own tokenizer (so counts can be exact)."""
    message_overhead: int = 4
    """Tokens each message costs beyond its content (role, separators)."""
    call_overhead: int = 8
    """Tokens each tool call costs beyond its name and arguments (its id, the wrapping)."""
    result_overhead: int = 4
    """Tokens each tool result costs beyond its content."""
    request_overhead: int = 3
    """Tokens every request costs once (the reply's priming)."""
    tools_overhead: int = 0
    """Tokens a request costs once when it offers any tools (a hidden tool-use system prompt)."""
    tool_overhead: int = 8
    """Tokens each offered tool costs beyond its rendered definition."""
    tools_format: Literal["typescript", "json"] = "json"
    """How tool definitions are written out to be counted: OpenAI shows them to the model as
    TypeScript-like declarations (far fewer tokens than the JSON schema); others as JSON."""


_OPENAI_O200K = ModelProfile(family="openai", encoding="o200k_base", tools_format="typescript", tool_overhead=0,
                             tools_overhead=8)
_OPENAI_CL100K = ModelProfile(family="openai", encoding="cl100k_base", tools_format="typescript", tool_overhead=0,
                              tools_overhead=8)
_ANTHROPIC = ModelProfile(family="anthropic", encoding="o200k_base", scale=1.25, native=False, message_overhead=8,
                          call_overhead=30, result_overhead=30, request_overhead=8, tools_overhead=600)
_OTHER = ModelProfile(family="other", encoding="o200k_base", scale=1.25, native=False, message_overhead=8,
                      call_overhead=12, result_overhead=8, request_overhead=8)
_GENERIC = ModelProfile(family="generic", encoding="o200k_base")
"""No model given: plain counting with o200k_base and OpenAI's overheads."""

_PROFILES: dict[str, ModelProfile] = {
    **dict.fromkeys(("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4",
                     "codex-mini"), _OPENAI_O200K),
    **dict.fromkeys(("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"), _OPENAI_CL100K),
    "claude-": _ANTHROPIC,
}

_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "chatgpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.5": 128_000,
    "gpt-5": 400_000,
    "gpt-5-chat": 128_000,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o1-preview": 128_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "gpt-4": 8_192,
    "gpt-4-32k": 32_768,
    "gpt-4-turbo": 128_000,
    "gpt-4-1106": 128_000,
    "gpt-4-0125": 128_000,
    "gpt-3.5-turbo": 16_385,
    "claude-": 200_000,
    "claude-2.0": 100_000,
    "claude-instant": 100_000,
}
_overrides: dict[str, int] = {}
_lock = threading.Lock()

# Vendor words that may precede a model name with a colon; a colon after anything else is part of the
# name (Ollama tags: `llama3.1:8b`).
_PREFIXES = frozenset({*(p.value for p in LLMProvider), "azure", "bedrock", "google", "google-gla", "google-vertex",
                       "groq", "openrouter", "vertex"})


def bare_model_name(model: str) -> str:
    """The model name without a provider prefix, lower-cased: `anthropic:claude-x` and `openai/gpt-4o`
    become `claude-x` and `gpt-4o`; `llama3.1:8b` stays as it is."""
    name = model.strip().lower()
    head, sep, rest = name.partition(":")
    if sep and head in _PREFIXES:
        name = rest
    return name.rsplit("/", 1)[-1]


def _lookup(name: str, table: Mapping[str, object]) -> str | None:
    """The longest key of `table` that `name` starts with at a boundary."""
    best: str | None = None
    for prefix in table:
        if name.startswith(prefix) and (len(name) == len(prefix) or prefix[-1] in "-."
                                        or name[len(prefix)] in "-.:@") and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def profile_for(model: str | None) -> ModelProfile:
    """How requests to `model` are counted; unknown models get o200k_base scaled by 1.25."""
    if model is None:
        return _GENERIC
    key = _lookup(bare_model_name(model), _PROFILES)
    return _OTHER if key is None else _PROFILES[key]


def encoding_for(model: str) -> str:
    """The tiktoken encoding loopline counts `model`'s text with: o200k_base for GPT-4o, GPT-4.1,
    GPT-4.5, GPT-5 and the o-series; cl100k_base for GPT-4, GPT-3.5 and text-embedding models;
    o200k_base (scaled, see `TokenCounter.scale`) for every other model."""
    return profile_for(model).encoding


def context_window(model: str) -> int | None:
    """The context window of `model` in tokens: a `set_context_window` value, else the built-in
    table (common OpenAI and Anthropic models), else `None` (unknown: nothing is fitted)."""
    name = bare_model_name(model)
    with _lock:
        key = _lookup(name, _overrides)
        if key is not None:
            return _overrides[key]
    key = _lookup(name, _WINDOWS)
    return None if key is None else _WINDOWS[key]


def set_context_window(model: str, tokens: int | None) -> None:
    """Set (process-wide) the context window of `model` and of the names it is a prefix of; it
    takes precedence over the built-in table. `None` removes a value set before.

    Raises:
        ValueError: `model` is empty or `tokens` is not a positive integer.
    """
    name = bare_model_name(model) if isinstance(model, str) else ""
    if not name:
        raise ValueError(f"set_context_window needs a model name, got {model!r}")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens <= 0):
        raise ValueError(f"a context window is a positive number of tokens, got {tokens!r} for {model!r}")
    with _lock:
        if tokens is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = tokens
