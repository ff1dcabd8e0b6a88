"""The ASGI application: the `/v1` API, the remote workers' endpoints and the dashboard, over one
`ServerState`."""

from __future__ import annotations

from fastapi import FastAPI

from ._state import ServerSettings, ServerState

__all__ = ["build_app"]


def build_app(settings: ServerSettings) -> FastAPI:
    from . import _api, _dashboard, _workers_api

    app = FastAPI(title="loopline", version="1", docs_url="/docs", openapi_url="/openapi.json")
    app.state.loopline = ServerState(settings)
    app.include_router(_api.router)
    app.include_router(_workers_api.router)
    app.include_router(_dashboard.router)
    return app
