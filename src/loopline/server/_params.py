"""What every endpoint checks the same way: ids in paths, pages, request bodies that take only their
own fields (a misspelt field is refused, not ignored), and values of the wrong type (refused, not coerced)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from ..store import Page, decode_cursor
from ..tasks import Tasks
from ._auth import Caller, server_state
from ._errors import ApiError

__all__ = ["MAX_LIMIT", "Body", "checked_cursor", "checked_id", "checked_limit", "page_json", "require_thread",
           "tasks_of"]

T = TypeVar("T")
ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
MAX_LIMIT = 500


class Body(BaseModel):
    """A request body: unknown fields are refused (422 naming them), and values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


def checked_id(field: str, value: str) -> str:
    """An id from a path, refused (400 naming `field`) unless it has the shape ids have."""
    if not ID.fullmatch(value):
        raise ApiError(400, f"{field} takes an id of 1 to 200 letters, digits or _.:- characters", field=field)
    return value


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit takes a whole number from 1 to {MAX_LIMIT}, got {limit}", field="limit")
    return limit


def checked_cursor(cursor: str | None) -> str | None:
    """A page cursor, refused (400) unless this server made it (the `next_cursor` of a page)."""
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError as exc:
            raise ApiError(400, f"{exc} (pass the next_cursor of a previous page)", field="cursor") from None
    return cursor


def page_json(page: Page[T], item: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [item(i) for i in page], "next_cursor": page.next_cursor}


def tasks_of(request: Request, who: Caller) -> Tasks:
    """The task API as the caller's organisation sees it."""
    return server_state(request).tasks(who.organization_id)


def require_thread(request: Request, who: Caller, thread_id: str | None) -> None:
    """Refuse a thread the caller's organisation does not have, exactly as a thread that does not exist."""
    if thread_id is not None:
        server_state(request).view(who.organization_id, everything=who.sees_everything).thread(thread_id)
