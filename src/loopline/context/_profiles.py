"""One table of what loopline knows about models: window, prices, tokenizer and request overheads.

Every fact about a model is found by one rule, so the window a request is fitted to, the tokenizer that
counts it and the price that bills it always describe the same family:

- a provider prefix is dropped and the name lower-cased (`anthropic:claude-sonnet-4-5`,
  `openai_responses:gpt-5-mini`, `openai/gpt-4o`); a colon after any other word is part of the name
  (Ollama tags: `llama3.1:8b`);
- the longest family name the model name starts with wins, so dated snapshots (`gpt-4o-2024-08-06`,
  `claude-sonnet-4-5-20250929`) find their family and `gpt-4o-mini` is not `gpt-4o`. A family matches
  only at a boundary (the name ends, or goes on with `-`, `.`, `:` or `@`), so `gpt-4` does not
  swallow an unknown `gpt-4x`;
- facts set at run time (`set_model_profile`, `set_context_window`, `set_price`) win over the built-in
  table for every name they are a prefix of, fact by fact; among them the longest prefix wins.

Prices are USD per million tokens, as the providers list them for standard (not batch) use; check them
against your own account. A model no family matches has no window (it is not fitted), no price (it
costs nothing, so a cost budget never trips on it rather than on a guess) and is counted with
o200k_base scaled up. This module must never reach the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..errors import ConfigError
from ..messages import Usage
from ..providers import LLMProvider

__all__ = [
    "ModelProfile",
    "Price",
    "bare_model_name",
    "context_window",
    "encoding_for",
    "model_profile",
    "model_profiles",
    "set_context_window",
    "set_model_profile",
]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    """Uncached input tokens."""
    output: float
    """Output tokens (reasoning included)."""
    cached_input: float | None = None
    """Input tokens read from the prompt cache (defaults to `input`)."""
    cache_write: float | None = None
    """Input tokens written to the prompt cache (defaults to `input`)."""

    def cost(self, usage: Usage) -> float:
        """USD for one usage record."""
        cached = usage.cached_tokens
        written = usage.cache_write_tokens
        plain = max(0, usage.input_tokens - cached - written)
        return (plain * self.input + cached * (self.cached_input if self.cached_input is not None else self.input)
                + written * (self.cache_write if self.cache_write is not None else self.input)
                + usage.output_tokens * self.output) / 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelProfile:
    """What loopline knows about a family of models. The overheads are in the family's own tokens.

    OpenAI's overheads are those of OpenAI's cookbook (3 tokens a message, 3 to prime the reply),
    rounded up and checked against the usage of the recorded requests in the wire corpus; a tool
    call or result costs a few tokens more (its id and the wrapping). Anthropic's are measured
    from the recorded Anthropic traffic, where each tool_use/tool_result block cost about 30
    tokens beyond its content, and offering tools added a hidden tool-use system prompt of 300 to
    660 tokens depending on the model.
    """

    family: str | None = None
    """The built-in family the model name matched (`gpt-4o`, `claude-sonnet-4`, `claude-`); `None`
    for a model the table does not know."""
    context_window: int | None = None
    """Tokens a request and its reply may hold together; `None` when unknown (nothing is fitted)."""
    max_output_tokens: int | None = None
    """The most tokens one reply may hold, where the provider lists it."""
    price: Price | None = None
    """USD per million tokens of each kind; `None` when unknown (usage then costs nothing)."""
    encoding: str = "o200k_base"
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


# How each group of families is counted.
_O200K = ModelProfile(tools_format="typescript", tool_overhead=0, tools_overhead=8)
_CL100K = replace(_O200K, encoding="cl100k_base")
_CLAUDE = ModelProfile(scale=1.25, native=False, message_overhead=8, call_overhead=30, result_overhead=30,
                       request_overhead=8, tools_overhead=600)
_UNKNOWN = ModelProfile(scale=1.25, native=False, message_overhead=8, call_overhead=12, result_overhead=8,
                        request_overhead=8)
_GENERIC = ModelProfile()
"""No model given: plain counting with o200k_base and OpenAI's overheads."""


def _family(counting: ModelProfile, name: str, window: int | None, max_output: int | None = None,
            price: Price | None = None) -> tuple[str, ModelProfile]:
    return name, replace(counting, family=name, context_window=window, max_output_tokens=max_output, price=price)


_BUILT_IN: dict[str, ModelProfile] = dict((
    # OpenAI, counted with o200k_base
    _family(_O200K, "gpt-5", 400_000, 128_000, Price(1.25, 10.00, cached_input=0.125)),
    _family(_O200K, "gpt-5-mini", 400_000, 128_000, Price(0.25, 2.00, cached_input=0.025)),
    _family(_O200K, "gpt-5-nano", 400_000, 128_000, Price(0.05, 0.40, cached_input=0.005)),
    _family(_O200K, "gpt-5-chat", 128_000, 16_384, Price(1.25, 10.00, cached_input=0.125)),
    _family(_O200K, "gpt-4.1", 1_047_576, 32_768, Price(2.00, 8.00, cached_input=0.50)),
    _family(_O200K, "gpt-4.1-mini", 1_047_576, 32_768, Price(0.40, 1.60, cached_input=0.10)),
    _family(_O200K, "gpt-4.1-nano", 1_047_576, 32_768, Price(0.10, 0.40, cached_input=0.025)),
    _family(_O200K, "gpt-4.5", 128_000, 16_384),
    _family(_O200K, "gpt-4o", 128_000, 16_384, Price(2.50, 10.00, cached_input=1.25)),
    _family(_O200K, "gpt-4o-mini", 128_000, 16_384, Price(0.15, 0.60, cached_input=0.075)),
    _family(_O200K, "chatgpt-4o", 128_000, 16_384),
    _family(_O200K, "gpt-oss", None),
    _family(_O200K, "codex-mini", None),
    _family(_O200K, "o1", 200_000, 100_000),
    _family(_O200K, "o1-mini", 128_000, 65_536),
    _family(_O200K, "o1-preview", 128_000, 32_768),
    _family(_O200K, "o3", 200_000, 100_000, Price(2.00, 8.00, cached_input=0.50)),
    _family(_O200K, "o3-mini", 200_000, 100_000, Price(1.10, 4.40, cached_input=0.55)),
    _family(_O200K, "o4", None),
    _family(_O200K, "o4-mini", 200_000, 100_000, Price(1.10, 4.40, cached_input=0.275)),
    # OpenAI, counted with cl100k_base
    _family(_CL100K, "gpt-4", 8_192, 8_192),
    _family(_CL100K, "gpt-4-32k", 32_768),
    _family(_CL100K, "gpt-4-turbo", 128_000, 4_096),
    _family(_CL100K, "gpt-4-1106", 128_000, 4_096),
    _family(_CL100K, "gpt-4-0125", 128_000, 4_096),
    _family(_CL100K, "gpt-3.5", None),
    _family(_CL100K, "gpt-3.5-turbo", 16_385, 4_096),
    _family(_CL100K, "gpt-35", None),
    _family(_CL100K, "text-embedding-", None),
    # Anthropic (cache reads at 0.1x input, 5-minute cache writes at 1.25x)
    _family(_CLAUDE, "claude-", 200_000),
    _family(_CLAUDE, "claude-2.0", 100_000),
    _family(_CLAUDE, "claude-instant", 100_000),
    _family(_CLAUDE, "claude-opus-4-5", 200_000, 64_000, Price(5.00, 25.00, cached_input=0.50, cache_write=6.25)),
    _family(_CLAUDE, "claude-opus-4", 200_000, 32_000, Price(15.00, 75.00, cached_input=1.50, cache_write=18.75)),
    _family(_CLAUDE, "claude-sonnet-4", 200_000, 64_000, Price(3.00, 15.00, cached_input=0.30, cache_write=3.75)),
    _family(_CLAUDE, "claude-3-7-sonnet", 200_000, 64_000, Price(3.00, 15.00, cached_input=0.30, cache_write=3.75)),
    _family(_CLAUDE, "claude-haiku-4-5", 200_000, 64_000, Price(1.00, 5.00, cached_input=0.10, cache_write=1.25)),
    _family(_CLAUDE, "claude-3-5-haiku", 200_000, 8_192, Price(0.80, 4.00, cached_input=0.08, cache_write=1.00)),
))
"""Family names to profiles. Every family is complete, so a name takes all its facts from one entry."""

_overrides: dict[str, dict[str, Any]] = {}
"""Facts set at run time: a name prefix to the fields it sets."""
_found: dict[str, ModelProfile] = {}
"""Profiles already looked up, by the name asked for (every model step prices its response: the lookup
scans the table, so it is made once per name). Emptied whenever a fact is set."""
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


def _matches(name: str, prefix: str) -> bool:
    """Whether `name` starts with `prefix` at a boundary."""
    return name.startswith(prefix) and (len(name) == len(prefix) or prefix[-1] in "-." or name[len(prefix)] in "-.:@")


def _longest(name: str, prefixes: Iterable[str]) -> str | None:
    return max((p for p in prefixes if _matches(name, p)), key=len, default=None)


def model_profile(model: str | None) -> ModelProfile:
    """Everything loopline knows about `model`: its built-in family's profile with the facts set at
    run time for it laid over. Unknown models get no window and no price, and o200k_base scaled by
    1.25; no model (`None`) plain o200k_base counting with OpenAI's overheads."""
    if model is None:
        return _GENERIC
    found = _found.get(model)
    if found is not None:
        return found
    name = bare_model_name(model)
    key = _longest(name, _BUILT_IN)
    profile = _UNKNOWN if key is None else _BUILT_IN[key]
    with _lock:
        matching = sorted((prefix for prefix in _overrides if _matches(name, prefix)), key=len)
        facts = {fact: value for prefix in matching for fact, value in _overrides[prefix].items()}
        found = replace(profile, **facts) if facts else profile
        if len(_found) < 4096:  # names come from code, not from users' data; bounded all the same
            _found[model] = found
    return found


def model_profiles() -> dict[str, ModelProfile]:
    """The table: every built-in family and every name facts were set for, each with its profile as
    `model_profile` finds it. A snapshot; changing it changes nothing."""
    with _lock:
        names = [*_BUILT_IN, *(name for name in _overrides if name not in _BUILT_IN)]
    return {name: model_profile(name) for name in names}


def encoding_for(model: str) -> str:
    """The tiktoken encoding loopline counts `model`'s text with: o200k_base for GPT-4o, GPT-4.1,
    GPT-4.5, GPT-5 and the o-series; cl100k_base for GPT-4, GPT-3.5 and text-embedding models;
    o200k_base (scaled, see `TokenCounter.scale`) for every other model."""
    return model_profile(model).encoding


def context_window(model: str) -> int | None:
    """The context window of `model` in tokens: a value set at run time, else the built-in table
    (common OpenAI and Anthropic models), else `None` (unknown: nothing is fitted)."""
    return model_profile(model).context_window


def _is_count(value: object, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "context_window": (lambda v: _is_count(v, 1), "a positive number of tokens"),
    "max_output_tokens": (lambda v: _is_count(v, 1), "a positive number of tokens"),
    "price": (lambda v: isinstance(v, Price), "a Price (USD per million tokens)"),
    "encoding": (lambda v: isinstance(v, str) and bool(v), "a tiktoken encoding name such as 'o200k_base'"),
    "scale": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0, "a positive number"),
    "native": (lambda v: isinstance(v, bool), "True or False"),
    **dict.fromkeys(("message_overhead", "call_overhead", "result_overhead", "request_overhead", "tools_overhead",
                     "tool_overhead"), ((lambda v: _is_count(v, 0)), "a number of tokens (0 or more)")),
    "tools_format": (lambda v: v in ("typescript", "json"), "'typescript' or 'json'"),
}
"""The facts that can be set, each with its check and what it expects."""


def set_model_profile(model: str, **facts: Any) -> None:
    """Set facts about `model` and the names it is a prefix of, process-wide: any field of
    `ModelProfile` but `family` (`context_window=`, `max_output_tokens=`, `price=`, `encoding=`, the
    overheads). They win over the built-in table; a fact given as `None` removes the value set
    before, so the built-in one applies again. `set_model_profile("qwen2.5", context_window=32_768,
    price=Price(0.2, 0.6))` describes a model the table does not know.

    Raises:
        ConfigError: `model` is empty, a fact is not a field, or a value is not of the field's kind.
    """
    name = bare_model_name(model) if isinstance(model, str) else ""
    if not name:
        raise ConfigError(f"facts are set for a model name or a prefix of one (e.g. 'gpt-4o'), got {model!r}")
    for fact, value in facts.items():
        if fact not in _CHECKS:
            raise ConfigError(f"{fact!r} is not a fact of a model profile; set one of {', '.join(_CHECKS)}")
        check, expected = _CHECKS[fact]
        if value is not None and not check(value):
            raise ConfigError(f"{fact} must be {expected}, got {value!r} for {model!r}")
    with _lock:
        _found.clear()
        entry = _overrides.setdefault(name, {})
        for fact, value in facts.items():
            if value is None:
                entry.pop(fact, None)
            else:
                entry[fact] = value
        if not entry:
            del _overrides[name]


def set_context_window(model: str, tokens: int | None) -> None:
    """Set (process-wide) the context window of `model` and of the names it is a prefix of; it
    takes precedence over the built-in table. `None` removes a value set before.

    Raises:
        ConfigError: `model` is empty or `tokens` is not a positive integer (a `ValueError`).
    """
    set_model_profile(model, context_window=tokens)
