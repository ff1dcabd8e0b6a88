"""The `loopline` command line: look into the threads and executions of any store from a shell.

Threads and executions live in a store that every process on it shares, so the command sees what
agents in other processes wrote, by the same ids. These commands only read: they never write to a
store or run a model (a `loopline run` command is planned and will be registered beside them).

    loopline [--db LOCATION] threads list [--limit N] [--cursor C] [--json]
    loopline [--db LOCATION] threads show ID [--json]
    loopline [--db LOCATION] executions list [--agent NAME] [--thread ID] [--status STATUS]
                                             [--limit N] [--cursor C] [--json]
    loopline [--db LOCATION] executions show ID [--json]

`--db` takes a SQLite file path, `:memory:` or a `postgresql://` URL; without it the default store is
used (`LOOPLINE_DB`, else the SQLite file in the user data directory). A file path that does not
exist is refused rather than created. Lists are newest first; when more rows remain, the human
output ends with `next page: --cursor C` and the JSON carries `next_cursor`.

Exit status: 0 on success, 2 for a request that cannot be met as asked (bad arguments, an unknown
id, a missing database file, a cursor no page printed), 1 when the store cannot be opened or read.
Errors are one line on stderr.

JSON output (`--json`) is for scripts. Its envelopes and THREAD and RECORD below may gain keys but
never lose or rename one; MESSAGE and EXECUTION are the stored shapes and change only with their
`schema_version`:

- `threads list`: `{"threads": [THREAD, ...], "next_cursor": str | null}`
- `threads show`: `{"thread": THREAD, "messages": [MESSAGE, ...]}`
- `executions list`: `{"executions": [EXECUTION, ...], "next_cursor": str | null}`
- `executions show`: `{"execution": EXECUTION, "tool_call_records": [RECORD, ...],
  "messages": [MESSAGE, ...]}`, the messages being those of the execution's whole thread

where THREAD is `{"id", "created_at", "updated_at", "length", "metadata", "parent_thread_id"}` (times
are Unix seconds), MESSAGE is `loopline.messages.message_to_dict`'s output and EXECUTION is
`loopline.loop.execution_to_json`'s (both with their `schema_version`), and RECORD is
`{"execution_id", "tool_call_id", "name", "arguments", "status", "started_at", "finished_at",
"result", "is_error", "duration"}` (`loopline.store.ToolCallRecord`).

It belongs to the platform layer: it may use every layer below it and nothing imports it.
"""

from ._main import main

__all__ = ["main"]
