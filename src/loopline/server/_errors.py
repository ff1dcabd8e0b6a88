"""Every error the server answers, in one shape:
`{"error": {"type": "<ErrorName>", "message": "...", "field": "<field or null>"}}`.

loopline's own errors keep their class name as `type` (a remote client raises the same class again);
the status says what kind of problem it is. Nothing here writes a log line: an error's message names
ids and fields, never a key (keys travel only in headers, which are never echoed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import (
    ConfigError,
    InvalidInputError,
    LooplineError,
    MissingExtraError,
    StoreError,
    TasksUnavailableError,
    UnknownExecutionError,
    UnknownExecutorError,
    UnknownTaskError,
    UnknownThreadError,
    UsageError,
)

__all__ = ["ERROR_RESPONSES", "ApiError", "error_body", "install_error_handlers"]

_log = logging.getLogger("loopline.server")

_STATUS_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                 405: "MethodNotAllowed", 409: "Conflict", 413: "ContentTooLarge", 415: "UnsupportedMediaType",
                 422: "InvalidInputError", 429: "RateLimited", 503: "Unavailable"}


class ErrorDetail(BaseModel):
    type: str
    """loopline's error class (`UnknownTaskError`, `InvalidInputError`, ...) or the HTTP status's name."""
    message: str
    """What happened and what to do."""
    field: str | None
    """The field, query parameter or header at fault (`output_schema`, `body.prioriti`, `task_id`), if one is."""


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description} for status, description in (
        (400, "A value that is not what the field takes (the field is named)"),
        (401, "No API key, or one that is not valid"),
        (403, "Another organisation, or a remote client of a server without keys"),
        (404, "No such id (also: another organisation's)"),
        (409, "Not possible in the current state (a task that is not PAUSED cannot resume)"),
        (413, "The body is larger than the server takes"),
        (415, "The body is not JSON"),
        (422, "Malformed JSON, an unknown field or a value of the wrong type (the field is named)"),
        (429, "Over the key's request rate: retry after `Retry-After` seconds"),
        (503, "The database or the task engine is not reachable"))}
"""The error answers, for the OpenAPI schema (every route may give them)."""


class ApiError(HTTPException):
    """An HTTP error with the server's body (an HTTPException, so FastAPI passes it through untouched
    even when raised while the body is read)."""

    def __init__(self, status: int, message: str, *, type: str | None = None, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=dict(headers or {}))
        self.type = type or _STATUS_NAMES.get(status, "Error")
        self.field = field


def error_body(type: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"type": type, "message": message, "field": field}}


def _response(status: int, type: str, message: str, field: str | None = None,
              headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(type, message, field), status_code=status, headers=dict(headers or {}))


def _loopline_status(exc: LooplineError) -> tuple[int, str | None]:
    """The status and the field for one of loopline's errors."""
    if isinstance(exc, (UnknownTaskError, UnknownThreadError, UnknownExecutionError)):
        return 404, None
    if isinstance(exc, InvalidInputError):
        return 400, exc.field
    if isinstance(exc, UnknownExecutorError):
        return 400, "executor"
    if isinstance(exc, ConfigError):  # the only settings a request carries are a task's
        return 400, "config"
    if isinstance(exc, (TasksUnavailableError, MissingExtraError, StoreError)):
        return 503, None
    if isinstance(exc, UsageError):
        return 409, None
    return 500, None


def _validation_field(error: Mapping[str, Any]) -> str:
    """`body.prioriti`, `query.limit`: where pydantic found the problem."""
    return ".".join(str(part) for part in error.get("loc") or ()) or "body"


def _validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    first = errors[0]
    where = _validation_field(first)
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({(first.get('ctx') or {}).get('error', 'decode error')})"
    if first.get("type") == "extra_forbidden":
        return f"{where} is not a field this endpoint takes"
    return f"{where}: {first.get('msg', 'invalid')}"


def install_error_handlers(app: FastAPI) -> None:
    """Map every error (FastAPI's, Starlette's, loopline's, anything else) to the one body shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _response(exc.status_code, exc.type, str(exc.detail), exc.field, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail) if exc.detail else _STATUS_NAMES.get(exc.status_code, "error")
        return _response(exc.status_code, _STATUS_NAMES.get(exc.status_code, "Error"), message, None, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        field = _validation_field(errors[0]) if errors else "body"
        if errors and errors[0].get("type") == "json_invalid":
            field = "body"
        return _response(422, "InvalidInputError", _validation_message(errors) if errors else "invalid request",
                         field)

    @app.exception_handler(LooplineError)
    async def loopline_error(request: Request, exc: LooplineError) -> JSONResponse:
        status, field = _loopline_status(exc)
        if isinstance(exc, UsageError):  # about the request: the message says what to change
            return _response(status, type(exc).__name__, str(exc), field)
        # A failure of the server's own (its database's, its stored data's): the details, which may name
        # where the database is, go to the log; the client learns what kind of failure it was.
        _log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return _response(status, type(exc).__name__, f"the server failed ({type(exc).__name__}); see its log",
                         field)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("%s %s failed", request.method, request.url.path)
        return _response(500, "InternalError", "the server failed while answering; see its log")
