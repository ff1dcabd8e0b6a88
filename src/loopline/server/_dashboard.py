"""The dashboard: one static page at `/` (with its script and style under `/static/`) that watches tasks,
their trajectories and threads through the same `/v1` API and API keys as any other client.

The page is plain HTML and vanilla JavaScript shipped in the package (`server/static/`), with no build
step and nothing fetched from elsewhere. The server renders no data into it: every value reaches the
browser as JSON and the script builds the DOM with text nodes, so what a task holds is shown, never run.
The Content-Security-Policy sent with the page backs that up: only the page's own script and style may run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from ._errors import ApiError

__all__ = ["router"]

STATIC = Path(__file__).parent / "static"
"""The page's files, shipped inside the package."""

_MEDIA_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
"""The files under `/static/`: only these names are served (no path from a request reaches the disk)."""

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag) each load, so a server upgrade is seen at once
}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> Response:
    """The page itself; it reads the data from `/v1` with the key the person gives it."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static(name: str) -> Response:
    """The page's script and style."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise ApiError(404, f"no dashboard file {name!r}: /static/ serves {', '.join(sorted(_MEDIA_TYPES))}")
    return FileResponse(STATIC / name, media_type=media_type, headers=_HEADERS)
