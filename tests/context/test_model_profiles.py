"""One table of model facts: window, prices, tokenizer and overheads are found by one name rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from loopline.context import (
    ModelProfile,
    Price,
    TokenCounter,
    context_window,
    encoding_for,
    model_profile,
    model_profiles,
    set_context_window,
    set_model_profile,
)
from loopline.errors import ConfigError
from loopline.loop import PRICES, cost_of, price_for, set_price
from loopline.messages import Usage

GPT_4O = Price(2.50, 10.00, cached_input=1.25)
SONNET = Price(3.00, 15.00, cached_input=0.30, cache_write=3.75)


@pytest.fixture
def clean() -> Iterator[list[str]]:
    """Names a test sets facts for; every fact set on them is removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        set_model_profile(name, **dict.fromkeys(_settable(), None))


def _settable() -> list[str]:
    return [f.name for f in dataclasses.fields(ModelProfile) if f.name != "family"]


def _facts(model: str) -> tuple[str | None, int | None, Price | None, str]:
    """What each public lookup says about `model`: its family, window, price and encoding."""
    return model_profile(model).family, context_window(model), price_for(model), encoding_for(model)


@pytest.mark.parametrize(("model", "family", "window", "price"), [
    ("gpt-4o", "gpt-4o", 128_000, GPT_4O),
    ("openai:gpt-4o", "gpt-4o", 128_000, GPT_4O),
    ("openai_responses:gpt-4o-2024-08-06", "gpt-4o", 128_000, GPT_4O),
    ("OpenAI/GPT-4o", "gpt-4o", 128_000, GPT_4O),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", 128_000, Price(0.15, 0.60, cached_input=0.075)),
    ("anthropic:claude-sonnet-4-5-20250929", "claude-sonnet-4", 200_000, SONNET),
    ("claude-3-opus-20240229", "claude-", 200_000, None),
    ("gpt-5-chat-latest", "gpt-5-chat", 128_000, Price(1.25, 10.00, cached_input=0.125)),
    ("o3-mini", "o3-mini", 200_000, Price(1.10, 4.40, cached_input=0.55)),
])
def test_prefixes_and_dated_snapshots_find_one_family_for_every_fact(
        model: str, family: str, window: int, price: Price | None) -> None:
    profile = model_profile(model)
    assert (profile.family, profile.context_window, profile.price) == (family, window, price)
    assert _facts(model) == (family, window, price, profile.encoding)


@pytest.mark.parametrize("model", ["gpt-4o2", "ollama:gpt-4o2-2024-08-06", "gpt-4x", "o10", "ollama:llama3.1:8b",
                                   "gemini-2.5-pro"])
def test_a_name_no_family_owns_has_no_window_and_no_price(model: str) -> None:
    # `gpt-4o2` once cost gpt-4o's price while having no window: price and window used two name rules.
    assert _facts(model) == (None, None, None, "o200k_base")
    assert cost_of(model, Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == 0.0
    assert TokenCounter(model).profile == model_profile(model)


def test_every_priced_family_resolves_to_itself_for_price_window_and_tokenizer() -> None:
    table = model_profiles()
    assert dict(PRICES) == {name: p.price for name, p in table.items() if p.price is not None}
    for name, profile in table.items():
        snapshot = name.rstrip("-") + "-2025-01-01"
        assert model_profile(snapshot) == profile == model_profile(f"openai:{name}"), name
        assert (price_for(snapshot), context_window(snapshot), encoding_for(snapshot)) \
            == (profile.price, profile.context_window, profile.encoding)


def test_the_provider_prefix_counts_the_same_as_the_bare_name() -> None:
    usage = Usage(input_tokens=1000, cached_tokens=400, cache_write_tokens=100, output_tokens=50)
    expected = (500 * 3 + 400 * 0.3 + 100 * 3.75 + 50 * 15) / 1e6
    assert [cost_of(m, usage) for m in ("claude-sonnet-4-5", "anthropic:claude-sonnet-4-5-20250929")] \
        == [pytest.approx(expected)] * 2
    assert TokenCounter("anthropic:claude-sonnet-4-5").profile == TokenCounter("claude-sonnet-4-5").profile


def test_set_facts_win_over_the_built_in_table_for_price_and_window_alike(clean: list[str]) -> None:
    clean += ["gpt-4o", "my-llama"]
    cheap = Price(0.01, 0.02)
    set_price("gpt-4o", cheap)
    set_context_window("openai:gpt-4o", 64_000)
    for model in ("gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini", "openai:gpt-4o-mini-2024-07-18"):
        assert (price_for(model), context_window(model)) == (cheap, 64_000), model
    assert model_profile("gpt-4o-mini").family == "gpt-4o-mini"  # the tokenizer and overheads stay its own
    assert PRICES["gpt-4o-mini"] == cheap
    set_model_profile("my-llama", context_window=32_768, price=Price(0.2, 0.6), encoding="cl100k_base")
    assert _facts("ollama:my-llama-3b") == (None, 32_768, Price(0.2, 0.6), "cl100k_base")
    assert TokenCounter("my-llama").encoding_name == "cl100k_base"
    assert PRICES["my-llama"] == Price(0.2, 0.6)


def test_the_longest_set_prefix_wins_fact_by_fact(clean: list[str]) -> None:
    clean += ["claude-", "claude-sonnet-4-5"]
    set_model_profile("claude-", context_window=100_000, price=Price(1, 1))
    set_model_profile("claude-sonnet-4-5", price=Price(2, 2))
    assert [(context_window(m), price_for(m)) for m in ("claude-sonnet-4-5-20250929", "claude-opus-4")] \
        == [(100_000, Price(2, 2)), (100_000, Price(1, 1))]


def test_removing_a_set_fact_brings_the_built_in_one_back(clean: list[str]) -> None:
    clean.append("gpt-4o")
    set_model_profile("gpt-4o", context_window=1000, price=Price(9, 9), max_output_tokens=10)
    set_price("gpt-4o", None)
    assert (context_window("gpt-4o"), price_for("gpt-4o"), model_profile("gpt-4o").max_output_tokens) \
        == (1000, GPT_4O, 10)
    set_model_profile("gpt-4o", context_window=None, max_output_tokens=None)
    assert model_profile("gpt-4o") == model_profiles()["gpt-4o"]
    assert (model_profile("gpt-4o").context_window, model_profile("gpt-4o").max_output_tokens) == (128_000, 16_384)
    assert "gpt-4o" in PRICES and "my-unset-name" not in PRICES


def test_every_field_but_the_family_can_be_set(clean: list[str]) -> None:
    clean.append("every-fact")
    facts: dict[str, Any] = {name: getattr(model_profile("claude-sonnet-4"), name) for name in _settable()}
    set_model_profile("every-fact", **facts)
    assert model_profile("every-fact") == dataclasses.replace(model_profile("claude-sonnet-4"), family=None)


@pytest.mark.parametrize(("model", "facts", "message"), [
    ("", {"context_window": 1000}, "model name or a prefix of one"),
    ("x", {"family": "gpt-4o"}, "'family' is not a fact of a model profile; set one of context_window, "),
    ("x", {"context_window": 5000, "price": 1.5}, r"price must be a Price \(USD per million tokens\), got 1.5 for 'x'"),
    ("x", {"max_output_tokens": 0}, "max_output_tokens must be a positive number of tokens, got 0"),
    ("x", {"message_overhead": -1}, r"message_overhead must be a number of tokens \(0 or more\)"),
    ("x", {"tools_format": "xml"}, "tools_format must be 'typescript' or 'json'"),
])
def test_setting_a_bad_fact_names_it_and_changes_nothing(model: str, facts: dict[str, Any], message: str) -> None:
    before = model_profile("x")
    with pytest.raises(ConfigError, match=message):
        set_model_profile(model, **facts)
    assert model_profile("x") == before


def test_set_price_checks_its_price() -> None:
    with pytest.raises(ValueError, match="price must be a Price"):
        set_price("my-model", (1.0, 2.0))  # type: ignore[arg-type]
    assert price_for("my-model") is None
