"""What model usage costs in USD, from a built-in table of common OpenAI and Anthropic models.

Prices are USD per million tokens, as the providers list them for standard (not batch) use; check them
against your own account and override with `set_price`. A model that no entry matches costs nothing
(and a cost budget then never trips) rather than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..messages import Usage

__all__ = ["PRICES", "Price", "cost_of", "price_for", "set_price"]


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


PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5-nano": Price(0.05, 0.40, cached_input=0.005),
    "gpt-5-mini": Price(0.25, 2.00, cached_input=0.025),
    "gpt-5": Price(1.25, 10.00, cached_input=0.125),
    "gpt-4.1-nano": Price(0.10, 0.40, cached_input=0.025),
    "gpt-4.1-mini": Price(0.40, 1.60, cached_input=0.10),
    "gpt-4.1": Price(2.00, 8.00, cached_input=0.50),
    "gpt-4o-mini": Price(0.15, 0.60, cached_input=0.075),
    "gpt-4o": Price(2.50, 10.00, cached_input=1.25),
    "o4-mini": Price(1.10, 4.40, cached_input=0.275),
    "o3-mini": Price(1.10, 4.40, cached_input=0.55),
    "o3": Price(2.00, 8.00, cached_input=0.50),
    # Anthropic (cache reads at 0.1x input, 5-minute cache writes at 1.25x)
    "claude-opus-4-5": Price(5.00, 25.00, cached_input=0.50, cache_write=6.25),
    "claude-opus-4": Price(15.00, 75.00, cached_input=1.50, cache_write=18.75),
    "claude-sonnet-4": Price(3.00, 15.00, cached_input=0.30, cache_write=3.75),
    "claude-3-7-sonnet": Price(3.00, 15.00, cached_input=0.30, cache_write=3.75),
    "claude-haiku-4-5": Price(1.00, 5.00, cached_input=0.10, cache_write=1.25),
    "claude-3-5-haiku": Price(0.80, 4.00, cached_input=0.08, cache_write=1.00),
}
"""Model name prefixes to prices; the longest matching prefix wins (`gpt-4o-mini-2024-07-18` is
`gpt-4o-mini`, not `gpt-4o`)."""


def set_price(model_prefix: str, price: Price | None) -> None:
    """Add or replace (or, with `None`, remove) the price of the models whose names start with the prefix."""
    if price is None:
        PRICES.pop(model_prefix, None)
    else:
        PRICES[model_prefix] = price


def price_for(model: str | None) -> Price | None:
    """The price of a model by the longest matching prefix, or `None` when unknown."""
    if not model:
        return None
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    return PRICES[max(matches, key=len)] if matches else None


def cost_of(model: str | None, usage: Usage | None) -> float:
    """USD for a response's usage (0.0 when the model or usage is unknown)."""
    price = price_for(model)
    return price.cost(usage) if price is not None and usage is not None else 0.0
