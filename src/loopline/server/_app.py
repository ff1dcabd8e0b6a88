"""The ASGI application: the `/v1` API, the remote workers' endpoints and the dashboard, over one
`ServerState`.

App-wide pieces live here only: the error handlers (one body shape for every error), the body cap and
the JSON-only check (middleware, so they hold for every router), and the lifespan, which calls each
part's `on_startup(app)` / `on_shutdown(app)` when the part has them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import ModuleType

from fastapi import FastAPI

from ..store import Store
from ._errors import install_error_handlers
from ._limits import BodyLimit, JsonOnly
from ._state import ServerSettings, ServerState

__all__ = ["build_app"]


def build_app(settings: ServerSettings, *, store: Store | None = None) -> FastAPI:
    """The application on `store` (else the store `settings.database` names)."""
    from . import _api, _dashboard, _workers_api

    parts = (_api, _workers_api, _dashboard)
    app = FastAPI(title="loopline", version="1", docs_url="/docs", openapi_url="/openapi.json",
                  summary="Tasks over HTTP with their events as server-sent events, threads and executions, "
                          "remote workers, API keys per organisation.",
                  lifespan=_lifespan(parts))
    app.state.loopline = ServerState(settings, store)
    install_error_handlers(app)
    app.add_middleware(JsonOnly)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # outermost: before anything reads
    app.include_router(_api.router)
    app.include_router(_workers_api.router)
    app.include_router(_dashboard.router)
    return app


def _lifespan(parts: tuple[ModuleType, ...]) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started: list[ModuleType] = []
        try:
            for part in parts:
                hook = getattr(part, "on_startup", None)
                if hook is not None:
                    await hook(app)
                started.append(part)
            yield
        finally:
            for part in reversed(started):
                hook = getattr(part, "on_shutdown", None)
                if hook is not None:
                    await hook(app)

    return lifespan
