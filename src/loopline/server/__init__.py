"""The self-hosted HTTP server (`loopline serve`, the `server` extra): tasks over HTTP with their
events as server-sent events, threads and executions, remote workers that take tasks over SSE, API
keys per organisation, and a dashboard at `/`. Every server process is stateless: several on one
PostgreSQL database serve the same tasks."""

from ._state import ServerSettings

__all__ = ["ServerSettings", "create_app"]


def create_app(settings: ServerSettings | None = None):  # type: ignore[no-untyped-def]
    """The ASGI application (FastAPI), for uvicorn or any ASGI server."""
    from ._app import build_app

    return build_app(settings or ServerSettings.from_env())
