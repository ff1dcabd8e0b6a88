"""The store layer: threads (ordered, append-only neutral messages), executions, tool call records
and scoped memory, behind one protocol with three implementations: in memory, SQLite (the embedded
default) and PostgreSQL (the `postgres` extra). Builds on `loopline.messages` and `loopline.loop`;
knows nothing of agents or providers.
"""

from ._assignments import Assignment, AssignmentTable
from ._counters import PolicyCounters, policy_counters
from ._default import default_db_path, default_store, open_store, set_default_store
from ._keys import ApiKey, KeyTable, key_table
from ._memory import InMemoryStore
from ._migrations import MIGRATIONS
from ._orgs import OrganizationView
from ._owner import owner_is_gone, process_owner
from ._protocol import MemoryScope, Page, Store, ThreadInfo, ToolCallRecord, decode_cursor, settle
from ._rpc import STORE_CALLS, call_args, call_result, run_call
from ._sqlite import SQLiteStore
from ._tasks import TaskEventRow, TaskTable, WorkerRow, task_table
from ._values import memory_scope


def __getattr__(name: str) -> object:
    """`PostgresStore` loads on first use: it needs the `postgres` extra, the rest of the package does not."""
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ApiKey",
    "Assignment",
    "AssignmentTable",
    "InMemoryStore",
    "KeyTable",
    "MIGRATIONS",
    "MemoryScope",
    "OrganizationView",
    "Page",
    "PolicyCounters",
    "PostgresStore",
    "SQLiteStore",
    "STORE_CALLS",
    "Store",
    "TaskEventRow",
    "TaskTable",
    "ThreadInfo",
    "ToolCallRecord",
    "WorkerRow",
    "call_args",
    "call_result",
    "decode_cursor",
    "default_db_path",
    "default_store",
    "key_table",
    "memory_scope",
    "open_store",
    "owner_is_gone",
    "policy_counters",
    "process_owner",
    "run_call",
    "set_default_store",
    "settle",
    "task_table",
]
