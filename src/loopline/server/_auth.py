"""Who is calling: every request under `/v1` (but `/v1/health`) is made with an API key and acts for the
key's organisation only; a server with no keys at all serves only clients on this machine.

A key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>`, only ever in a header (so no
access log holds it), and is checked against its stored hash in constant time (`loopline.store.KeyTable`).
`X-Loopline-Organization` may name the organisation too: with a key it must be the key's (else 403);
without keys it chooses one (default ""). Each caller's requests are then counted against its rate.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ._errors import ApiError
from ._state import ServerState

__all__ = ["ORGANIZATION_HEADER", "Caller", "caller", "is_loopback", "server_state"]

ORGANIZATION_HEADER = "X-Loopline-Organization"
_ORGANIZATION = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


@dataclass(frozen=True, slots=True)
class Caller:
    """The organisation a request acts for, and the key it came with (None: a loopback client of a
    server that has no keys)."""

    organization_id: str
    key_id: str | None = None
    client: str = ""
    """Whose rate and streams the request counts against (`key:<id>`, else `address:<host>`)."""

    @property
    def sees_everything(self) -> bool:
        """A keyless loopback client in the default organisation sees every thread and execution (they
        belong to no organisation of their own); everyone else sees their organisation's only."""
        return self.key_id is None and self.organization_id == ""


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.loopline
    return state


_BEARER = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ll_...`")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, in this header instead")


def caller(request: Request,
           _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
           _api_key: Annotated[str | None, Depends(_API_KEY)] = None) -> Caller:
    """FastAPI dependency: the request's `Caller`, or an HTTP error (401 without a valid key, 403 for
    another organisation or a remote client of a keyless server, 429 over the rate). (The two unused
    parameters only put the key schemes in the OpenAPI schema; the headers are read here, the same
    way whether the function is called as a dependency or directly with the request.)"""
    state = server_state(request)
    key = _presented_key(request)
    wanted = request.headers.get(ORGANIZATION_HEADER)
    if wanted is not None and not _ORGANIZATION.fullmatch(wanted):
        raise ApiError(400, f"{ORGANIZATION_HEADER} takes an organisation id (1 to 200 letters, digits or _.:-)",
                       field=ORGANIZATION_HEADER)
    host = request.client.host if request.client else ""
    if key is not None:
        found = state.keys.verify(key)
        if found is None:
            raise ApiError(401, "the API key is not valid (unknown, revoked or mistyped)", field="Authorization",
                           headers={"WWW-Authenticate": "Bearer"})
        if wanted is not None and wanted != found.organization_id:
            raise ApiError(403, f"{ORGANIZATION_HEADER} names another organisation than the API key's",
                           field=ORGANIZATION_HEADER)
        bucket = f"key:{found.id}"
        who = Caller(found.organization_id, found.id, bucket)
    elif state.keys.configured():
        raise ApiError(401, "this server takes an API key: send `Authorization: Bearer <key>` (make one with "
                            "`loopline keys create --org ORG`)", field="Authorization",
                       headers={"WWW-Authenticate": "Bearer"})
    elif not is_loopback(host):
        raise ApiError(403, "this server has no API keys, so it serves clients on its own machine only: make a key "
                            "with `loopline keys create --org ORG` and send it as `Authorization: Bearer <key>`")
    else:
        bucket = f"address:{host}"
        who = Caller(wanted or "", None, bucket)
    # A remote worker's calls (`/v1/workers/{id}/...`) come with the work it was given, dozens per task:
    # they count against a separate, higher rate (any key may call them, so they cannot go uncounted).
    limiter = state.worker_limiter if request.url.path.startswith("/v1/workers/") else state.limiter
    wait = limiter.take(bucket)
    if wait > 0:
        raise ApiError(429, f"too many requests: at most {limiter.rate:g} a second (bursts of "
                            f"{limiter.burst}); retry after the Retry-After seconds",
                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return who


def _presented_key(request: Request) -> str | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Authorization takes `Bearer <key>`", field="Authorization",
                           headers={"WWW-Authenticate": "Bearer"})
        return value.strip()
    key = request.headers.get("X-API-Key")
    return key.strip() if key is not None else None


def is_loopback(host: str) -> bool:
    """Whether the client address is this machine's (127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))
