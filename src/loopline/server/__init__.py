"""The self-hosted HTTP server (`loopline serve`, the `server` extra): tasks over HTTP with their
events as server-sent events, threads and executions, remote workers that take tasks over SSE, API
keys per organisation, and a dashboard at `/`. Every server process is stateless: several on one
PostgreSQL database serve the same tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._state import ServerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..store import Store

__all__ = ["ServerSettings", "create_app", "run"]


def create_app(settings: ServerSettings | None = None, *, store: Store | None = None) -> FastAPI:
    """The ASGI application (FastAPI), for uvicorn or any ASGI server; on `store` when given (else the
    store `settings.database` names)."""
    from ._app import build_app

    return build_app(settings or ServerSettings.from_env(), store=store)


def run(settings: ServerSettings | None = None, *, host: str = "127.0.0.1", port: int = 8000,
        store: Store | None = None) -> None:
    """Serve with uvicorn until SIGINT or SIGTERM (what `loopline serve` does); open event streams end
    at once when it stops."""
    from ._run import run as run_server

    run_server(settings or ServerSettings.from_env(), host=host, port=port, store=store)
