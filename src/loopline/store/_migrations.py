"""Named schema migrations, applied once each and recorded in the database.

Each migration has one name and one body per SQL dialect, and, when the JSON stored inside execution
rows changes, one function over it. Opening a database applies what it lacks, in order; opening one
that records a migration this loopline does not know (written by a newer version) is refused rather
than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import StoredDataError

__all__ = ["MIGRATIONS", "Migration", "check_known"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change."""

    name: str
    sqlite: str
    postgres: str
    rewrite_execution: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """Applied, after the SQL, to each stored execution's JSON object (rows that hold no JSON object are
    left as they are): changes inside it are written once, in Python, rather than with each dialect's
    JSON functions (PostgreSQL's refuse any text holding a `\\u0000` escape, which a result may)."""


_UPPER_STATUS_COLUMN = "UPDATE executions SET status = upper(status)"

_TABLES = """
CREATE TABLE threads (
    id {key} PRIMARY KEY,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    length INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    parent_thread_id TEXT
);
CREATE INDEX threads_created ON threads (created_at DESC, id DESC);
CREATE TABLE messages (
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    created_at {real} NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (thread_id, seq)
);
CREATE TABLE executions (
    id {key} PRIMARY KEY,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    agent_name TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    parent_execution_id TEXT,
    claimed_by TEXT,
    claimed_until {real},
    data TEXT NOT NULL
);
CREATE INDEX executions_agent ON executions (agent_name, created_at DESC, id DESC);
CREATE INDEX executions_thread ON executions (thread_id, created_at DESC, id DESC);
CREATE INDEX executions_status ON executions (status, created_at DESC, id DESC);
CREATE INDEX executions_agent_status ON executions (agent_name, status, created_at DESC, id DESC);
CREATE INDEX executions_created ON executions (created_at DESC, id DESC);
CREATE TABLE tool_calls (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    tool_call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at {real} NOT NULL,
    finished_at {real},
    result TEXT,
    is_error BOOLEAN NOT NULL DEFAULT FALSE,
    duration {real},
    PRIMARY KEY (execution_id, tool_call_id)
);
CREATE TABLE memory (
    scope TEXT NOT NULL,
    owner TEXT NOT NULL,
    key {key} NOT NULL,
    value TEXT NOT NULL,
    updated_at {real} NOT NULL,
    PRIMARY KEY (scope, owner, key)
);
"""


def _upper_case_statuses(record: dict[str, Any]) -> dict[str, Any]:
    """Execution statuses became the upper-case words (`COMPLETED`, not `completed`): the record's
    `status` and the status that starts each `status_history` entry."""
    if isinstance(record.get("status"), str):
        record["status"] = record["status"].upper()
    for entry in record.get("status_history") or ():
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            entry[0] = entry[0].upper()
    return record


_TASK_TABLES = """
CREATE TABLE tasks (
    id {key} PRIMARY KEY,
    organization_id TEXT NOT NULL DEFAULT '',
    agent_id TEXT NOT NULL,
    status TEXT NOT NULL,
    thread_id TEXT,
    idempotency_key TEXT,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (organization_id, idempotency_key);
CREATE INDEX tasks_created ON tasks (organization_id, created_at DESC, id DESC);
CREATE INDEX tasks_agent ON tasks (organization_id, agent_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_status ON tasks (organization_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_thread ON tasks (thread_id, created_at);
CREATE TABLE task_events (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    created_at {real} NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
CREATE TABLE workers (
    id {key} PRIMARY KEY,
    heartbeat_at {real} NOT NULL,
    data TEXT NOT NULL
)
"""


_HTTP_POLICY_COUNTERS = """
CREATE TABLE http_policy_counters (
    task_id {key} PRIMARY KEY,
    pages INTEGER NOT NULL DEFAULT 0,
    next_request_at {real} NOT NULL DEFAULT 0,
    holders TEXT NOT NULL DEFAULT '{{}}',
    updated_at {real} NOT NULL
)
"""


_API_KEYS = """
CREATE TABLE api_keys (
    id {key} PRIMARY KEY,
    organization_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    secret_hash TEXT NOT NULL,
    created_at {real} NOT NULL,
    revoked_at {real},
    last_used_at {real}
);
CREATE INDEX api_keys_organization ON api_keys (organization_id, created_at);
CREATE INDEX tasks_organization_thread ON tasks (organization_id, thread_id)
"""


_TASK_ASSIGNMENTS = """
CREATE TABLE task_assignments (
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    organization_id TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    assigned_at {real} NOT NULL,
    ended_at {real},
    relay TEXT NOT NULL,
    PRIMARY KEY (task_id, attempt)
);
CREATE INDEX task_assignments_worker ON task_assignments (worker_id, state)
"""


MIGRATIONS: tuple[Migration, ...] = (
    # Keys compare bytewise in both dialects (SQLite's default; "C" on PostgreSQL), so ties in
    # created_at page in the same order whatever the database's locale.
    Migration("0001_threads_executions_memory", sqlite=_TABLES.format(real="REAL", key="TEXT"),
              postgres=_TABLES.format(real="DOUBLE PRECISION", key='TEXT COLLATE "C"')),
    Migration("0002_upper_case_execution_statuses", sqlite=_UPPER_STATUS_COLUMN, postgres=_UPPER_STATUS_COLUMN,
              rewrite_execution=_upper_case_statuses),
    # Tasks handed to workers (`loopline.tasks`): one row each (its record as JSON beside the columns
    # queries filter on), its events numbered per task, and the workers' heartbeats.
    Migration("0003_tasks_events_workers", sqlite=_TASK_TABLES.format(real="REAL", key="TEXT"),
              postgres=_TASK_TABLES.format(real="DOUBLE PRECISION", key='TEXT COLLATE "C"')),
    # What a task's HTTP requests have used, shared by every process running its fetches: pages
    # fetched, the earliest time the next request may start, and the requests in flight (each with
    # the time its slot lapses, so a process that died frees its slots).
    Migration("0004_http_policy_counters", sqlite=_HTTP_POLICY_COUNTERS.format(real="REAL", key="TEXT"),
              postgres=_HTTP_POLICY_COUNTERS.format(real="DOUBLE PRECISION", key='TEXT COLLATE "C"')),
    # The server's API keys (each belongs to one organisation; only a hash of its secret is kept), and
    # the index that finds an organisation's threads through its tasks.
    Migration("0005_api_keys", sqlite=_API_KEYS.format(real="REAL", key="TEXT"),
              postgres=_API_KEYS.format(real="DOUBLE PRECISION", key='TEXT COLLATE "C"')),
    # Which remote worker runs which task, one row per attempt (the server's relay writes them; the
    # worker's stream and its reports read them).
    Migration("0006_task_assignments", sqlite=_TASK_ASSIGNMENTS.format(real="REAL"),
              postgres=_TASK_ASSIGNMENTS.format(real="DOUBLE PRECISION")),
)
"""Every migration, oldest first. Never edit a released one: add another."""


def check_known(applied: set[str], *, where: str) -> None:
    """Refuse a database that records migrations this loopline does not know."""
    unknown = sorted(applied - {m.name for m in MIGRATIONS})
    if unknown:
        raise StoredDataError(f"{where} was written by a newer loopline (it has migrations {unknown} that this "
                              "version does not know); upgrade loopline to open it")
