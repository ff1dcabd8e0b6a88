"""Who is calling: every request under `/v1` is made with an API key, and acts for the key's
organisation only. (Interface; the key checks are filled in with the keys table.)"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

__all__ = ["Caller", "caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The organisation a request acts for, and the key it came with (None: a loopback client of a
    server that has no keys)."""

    organization_id: str
    key_id: str | None = None


def caller(request: Request) -> Caller:
    """FastAPI dependency: the request's `Caller`, or an HTTP error (401 without a valid key)."""
    raise NotImplementedError
