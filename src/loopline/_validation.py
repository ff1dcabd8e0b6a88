"""Pydantic validation errors as one line a person (or a model) can act on.

Shared by every layer that validates with pydantic (stored messages and executions read back, tool
arguments), so it sits below all of them and imports nothing of loopline. It is private to the package:
a formatting detail, not something for users to build on."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["describe_problems"]


def describe_problems(exc: ValidationError, *, root: str, limit: int = 8) -> str:
    """`path: message; ...` for each problem, the path joined with `/`, `root` standing for the top level."""
    return "; ".join(f"{'/'.join(map(str, e['loc'])) or root}: {e['msg']}" for e in exc.errors()[:limit])
