"""The switch that blocks real model requests (in tests): checked before every request a model object sends."""

from __future__ import annotations

from typing import Any

__all__ = ["check_model_request"]


def check_model_request(model: Any, base_url: str | None) -> None:
    """Raise if requests to `base_url` are blocked for `model` right now; return otherwise."""
