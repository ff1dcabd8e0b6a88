"""What a server process knows: its settings and its open store. Nothing else is kept between requests,
so any server process on the same database answers any request."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..store import KeyTable, OrganizationView, Store, default_store, key_table, open_store, task_table
from ..tasks import Tasks

if TYPE_CHECKING:
    from ..workers import Relay

__all__ = ["ServerSettings", "ServerState"]


@dataclass(frozen=True)
class ServerSettings:
    """How a server runs.

    Attributes:
        database: The store (a SQLite path or a `postgresql://` URL); None: `LOOPLINE_DB`, else the
            embedded SQLite file.
        max_body_bytes: Larger request bodies are refused with 413.
        requests_per_second / burst: Each API key's (without keys, each client address's) request rate.
        worker_rate_factor: The remote workers' endpoints (dozens of calls per task) count against a
            separate rate, this many times the other one.
        sse_heartbeat_seconds: How often an idle event stream gets a comment line, so proxies keep it.
        max_streams_per_key: How many event streams (a task's events, a worker's assignments) each API key
            (without keys, each client address) may hold open at once; more are refused with 429.
        relay: Whether this process hands tasks to remote workers (it runs a relay worker on DBOS).
        worker_lease_seconds: A remote worker silent this long has its tasks handed to another.
    """

    database: str | None = None
    max_body_bytes: int = 1_048_576
    requests_per_second: float = 50.0
    burst: int = 100
    worker_rate_factor: float = 20.0
    sse_heartbeat_seconds: float = 15.0
    max_streams_per_key: int = 500
    relay: bool = True
    worker_lease_seconds: float = 10.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> ServerSettings:
        return cls(database=os.environ.get("LOOPLINE_DB") or None)


class ServerState:
    """The store a server process serves, and a `Tasks` for each organisation.

    Attributes:
        keys: The API keys (read on every request, so a key made or revoked by any process counts at once).
        limiter: Each key's request rate, in this process.
        worker_limiter: Each key's request rate on the remote workers' endpoints, in this process.
        streams: The event streams each key holds open, in this process.
        stopping: Set when the process is asked to stop: long-lived responses (event streams) end.
        relay: This process's relay while it runs (`ServerSettings.relay`).
    """

    def __init__(self, settings: ServerSettings, store: Store | None = None) -> None:
        # FastAPI's (the `server` extra); `ServerSettings` needs none of it
        from ._limits import RateLimiter, StreamLimit

        self.settings = settings
        self.store: Store = store if store is not None else (
            open_store(settings.database) if settings.database else default_store())
        task_table(self.store)  # a store tasks cannot use (in memory) is refused at start, not per request
        self.keys: KeyTable = key_table(self.store)
        self.limiter = RateLimiter(settings.requests_per_second, settings.burst)
        factor = settings.worker_rate_factor
        self.worker_limiter = RateLimiter(settings.requests_per_second * factor, round(settings.burst * factor))
        self.streams = StreamLimit(settings.max_streams_per_key)
        self.stopping = threading.Event()
        self.relay: Relay | None = None

    def view(self, organization_id: str, *, everything: bool = False) -> OrganizationView:
        """Threads and executions as the organisation sees them (`everything`: all of them)."""
        return OrganizationView(self.keys.store, None if everything else organization_id)

    def tasks(self, organization_id: str) -> Tasks:
        """The task API as one organisation sees it (another's tasks are not found)."""
        return Tasks(store=self.store, organization_id=organization_id)
