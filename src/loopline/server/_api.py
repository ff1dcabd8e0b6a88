"""The `/v1` API: tasks and their events, threads and executions, live workers, health and readiness.

One router that gathers the parts (`_api_tasks`, `_events`, `_api_threads`) and holds the small
endpoints. Every route but `/v1/health` acts for the caller (`_auth.caller`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..tasks import live_workers
from . import _api_tasks, _api_threads, _events
from ._auth import Caller, caller, server_state
from ._errors import error_body

__all__ = ["router"]

router = APIRouter()
router.include_router(_api_tasks.router)
router.include_router(_events.router)
router.include_router(_api_threads.router)
_WORKER_FIELDS = ("id", "name", "host", "pid", "agents", "executors", "running", "heartbeat_at")


@router.get("/v1/health", tags=["server"], summary="Whether the process answers (no key needed)")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/ready", tags=["server"], summary="Whether the process can reach its database")
async def ready(request: Request, who: Annotated[Caller, Depends(caller)]) -> JSONResponse:
    """200 when the database answers, else 503 (a load balancer sends requests elsewhere meanwhile)."""
    state = server_state(request)
    try:
        await asyncio.to_thread(state.keys.configured)
    except Exception as exc:  # any failure to read means "not ready"; what it was goes in the body
        body = error_body("Unavailable", f"the database does not answer: {type(exc).__name__}")
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/v1/workers", tags=["workers"], summary="Live workers")
def workers(request: Request, who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """Workers with a fresh heartbeat that serve the caller's organisation (a worker that names no
    organisation serves every one)."""
    table = server_state(request).tasks(who.organization_id).table
    found = [w for w in live_workers(table) if w.get("organization_id") in (None, who.organization_id)
             and not w.get("relay")]  # a server's relay runs no task itself
    return {"items": [{**{name: w.get(name) for name in _WORKER_FIELDS}, "remote": bool(w.get("remote"))}
                      for w in found]}
