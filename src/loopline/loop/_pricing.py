"""What model usage costs in USD, from the prices in the context layer's table of model facts.

A model's price is found by the same rule as its window and tokenizer (`loopline.context.model_profile`):
provider prefix dropped, dated snapshots matched to their family, prices set with `set_price` winning.
A model with no known price costs nothing (and a cost budget then never trips) rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..context import Price, model_profile, model_profiles, set_model_profile
from ..messages import Usage

__all__ = ["PRICES", "Price", "cost_of", "price_for", "set_price"]


class _Prices(Mapping[str, Price]):
    """A read-only, always current view of the priced families and of the names prices were set for."""

    def _current(self) -> dict[str, Price]:
        return {name: profile.price for name, profile in model_profiles().items() if profile.price is not None}

    def __getitem__(self, name: str) -> Price:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"PRICES({self._current()!r})"


PRICES: Mapping[str, Price] = _Prices()
"""Family names to prices, as `price_for` finds them (change them with `set_price`)."""


def set_price(model_prefix: str, price: Price | None) -> None:
    """Set (process-wide) the price of the models whose names start with the prefix; it takes
    precedence over the built-in table. `None` removes a price set before (the built-in one applies again).

    Raises:
        ConfigError: the prefix is empty or `price` is not a `Price` (a `ValueError`).
    """
    set_model_profile(model_prefix, price=price)


def price_for(model: str | None) -> Price | None:
    """The price of a model (see `loopline.context.model_profile`), or `None` when unknown."""
    return model_profile(model).price if model else None


def cost_of(model: str | None, usage: Usage | None) -> float:
    """USD for a response's usage (0.0 when the model, its price or the usage is unknown)."""
    price = price_for(model)
    return price.cost(usage) if price is not None and usage is not None else 0.0
