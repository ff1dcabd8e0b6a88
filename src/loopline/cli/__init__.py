"""The `loopline` command line: run an agent from a shell, and look into the threads and executions
of any store.

Threads and executions live in a store that every process on it shares, so the command sees what
agents in other processes wrote, by the same ids. `threads` and `executions` only read (they never
write to a store or run a model), except `executions cancel` and `executions resume`. `run` runs one
task through an agent defined in a Python file.

    loopline run PATH.py:NAME QUESTION [--model MODEL] [--db LOCATION] [--json] [--no-stream]
    loopline [--db LOCATION] threads list [--limit N] [--cursor C] [--json]
    loopline [--db LOCATION] threads show ID [--json]
    loopline [--db LOCATION] executions list [--agent NAME] [--thread ID] [--status STATUS]
                                             [--limit N] [--cursor C] [--json]
    loopline [--db LOCATION] executions show ID [--json]
    loopline [--db LOCATION] executions cancel ID [--force] [--json]
    loopline [--db LOCATION] executions resume ID PATH.py:NAME [--model MODEL] [--json] [--no-stream] [--force]
    loopline mcp serve PATH.py:NAME [--model MODEL] [--db LOCATION] [--http] [--host HOST] [--port N]
    loopline worker PATH.py:NAME [--name N] [--model MODEL] [--db LOCATION] [--concurrency N] [--grace S]
                                 [--agent-id ID ...] [--test [--json]]
    loopline [--db LOCATION] tasks create AGENT_ID PROMPT [--thread ID] [--file-url URL ...]
                                          [--output-format text|markdown|json] [--output-schema JSON_OR_@FILE]
                                          [--priority N] [--config JSON] [--idempotency-key K]
                                          [--require-worker] [--wait [SECONDS]] [--json]
    loopline [--db LOCATION] tasks list [--agent-id ID] [--status STATUS] [--limit N] [--cursor C] [--json]
    loopline [--db LOCATION] tasks show|cancel ID [--json]
    loopline [--db LOCATION] tasks events ID [--after N] [--follow] [--json]
    loopline serve [--db LOCATION] [--host HOST] [--port N] [--no-relay] [--max-body-bytes N] [--rate R]
                   [--burst N] [--sse-heartbeat S]
    loopline [--db LOCATION] keys create --org ORG [--name N] [--json]
    loopline [--db LOCATION] keys list [--org ORG] [--json]
    loopline [--db LOCATION] keys revoke KEY_ID [--json]

`executions cancel` ends an execution CANCELLED (calls that never ran, and calls a dead process left
running, get error results); one that a live process runs is refused (exit status 1) unless `--force`.
`executions resume` reattaches an execution to the agent NAME in the file PATH and runs it to its end
as `run` does (same options, output and exit statuses; a PAUSED execution stops with the decision it
needs).

`mcp serve` loads the agent NAME from the file PATH and picks its model as `run` does, and serves it as
one MCP tool (`loopline.mcp`): over stdio (stdout is the protocol's, so whatever the file prints goes to
stderr), or over streamable HTTP at `http://HOST:PORT/mcp` with `--http` (default 127.0.0.1:8000). It
runs until the client closes stdin, or until it is stopped. Its exit statuses for a file that cannot be
loaded are those of `run`.

`worker` loads the file PATH as `run` does and serves exactly what NAME names in it (`loopline.workers.Events`):
an `@on_task` handler or a function taking `task` (for every agent id, or the `--agent-id` ones), an
`Agent`, or a list or tuple of Agents (a task's agent id is an agent's name), the agents with the model
`run` would pick. Once it takes tasks it prints one line on stderr (`loopline: worker NAME (executor
HOST:NAME) serving ...`); SIGINT and SIGTERM stop it gracefully (running tasks get `--grace` seconds,
then are handed back) with exit status 0. `--db` is the task database, created if missing. `--test` runs
the handler's `test_task` once in this process (`handler.test()`: no engine, no worker) and prints its
result (text as is, else JSON; with `--json` the task's record), exit status 1 if it FAILED. Exit status
2 for a NAME that is none of these, no model for agents, or a missing `tasks` extra; 1 when the file
raised while loading.

`tasks` hands out and watches tasks (`loopline.tasks.Tasks`); it never runs one. `tasks create` prints
the new task (PENDING until a worker of AGENT_ID takes it; `create` makes a missing SQLite file); with
`--wait` it waits (at most SECONDS) and prints it as `tasks show` does, with exit status 1 when it did not
complete or the wait ran out (the task goes on). `tasks cancel` ends a task not yet started (or PAUSED)
CANCELLED at once, and asks a running one's worker to stop it at its next step; one that has already ended is
exit status 2. `tasks events` prints the task's stored events numbered above `--after`, and with
`--follow` the new ones as they are written, until the `finished` event. A field `create` refuses is
named by its option (`--priority: ...`), exit status 2, nothing created.

`serve` runs the HTTP server (`loopline.server`) under uvicorn on HOST:PORT (default 127.0.0.1:8000)
until SIGINT or SIGTERM; it says on stderr first whether the database has API keys (without any, only
clients on this machine are served). `keys create` prints a new key of organisation ORG once (only a
hash of it is stored); `keys list` shows the keys, never a secret; `keys revoke` stops a key at once in
every server on the database (exit status 2 for an unknown KEY_ID).

`--db` takes a SQLite file path, `:memory:` or a `postgresql://` URL; without it the default store is
used (`LOOPLINE_DB`, else the SQLite file in the user data directory). A file path that does not
exist is refused rather than created (`run`, which writes, creates it). Lists are newest first; when
more rows remain, the human output ends with `next page: --cursor C` and the JSON carries
`next_cursor`.

Exit status of `threads` and `executions`: 0 on success, 2 for a request that cannot be met as asked
(bad arguments, an unknown id, a missing database file, a cursor no page printed), 1 when the store
cannot be opened or read. Errors are one line on stderr.

JSON output (`--json`) is for scripts. Its envelopes and THREAD and RECORD below may gain keys but
never lose or rename one; MESSAGE and EXECUTION are the stored shapes and change only with their
`schema_version`:

- `threads list`: `{"threads": [THREAD, ...], "next_cursor": str | null}`
- `threads show`: `{"thread": THREAD, "messages": [MESSAGE, ...]}`
- `executions list`: `{"executions": [EXECUTION, ...], "next_cursor": str | null}`
- `executions show`: `{"execution": EXECUTION, "tool_call_records": [RECORD, ...],
  "messages": [MESSAGE, ...]}`, the messages being those of the execution's whole thread
- `tasks create`, `show` and `cancel`, `worker --test`: TASK; `tasks list`: `{"tasks": [TASK, ...],
  "next_cursor": str | null}`; `tasks events`: one `{"id", "task_id", "type", "data", "created_at"}` a line
  (`loopline.tasks.TaskEvent`; `id` counts 1, 2, 3... per task)
- `keys create`: `{"key", "id", "organization_id", "name", "created_at", "revoked_at", "last_used_at"}`;
  `keys list`: `{"keys": [KEY, ...]}` and `keys revoke`: KEY, where KEY is the same without `key`

where THREAD is `{"id", "created_at", "updated_at", "length", "metadata", "parent_thread_id"}` (times
are Unix seconds), MESSAGE is `loopline.messages.message_to_dict`'s output and EXECUTION is
`loopline.loop.execution_to_json`'s (both with their `schema_version`), and RECORD is
`{"execution_id", "tool_call_id", "name", "arguments", "status", "started_at", "finished_at",
"result", "is_error", "duration"}` (`loopline.store.ToolCallRecord`), and TASK is the stored task record
(`Task.to_json()`: `id`, `agent_id`, `status`, `input`, `thread_id`, `execution_id`, `result`, `error`,
`progress`, `current_action`, `worker`, times, ...).

`run` loads the file PATH as a module of its own (a fresh name on every load, so its
`if __name__ == "__main__":` block does not run; its directory first on `sys.path` until the command
ends), takes the `Agent` named NAME in it and runs QUESTION through it with `agent.stream()`
(`agent.run()` with `--no-stream`, or when the model has no `stream`; a note on stderr says so). The
model is `--model` (a name such as `openai:gpt-4o` or `anthropic:claude-sonnet-4-5`), else the file's
`MODEL` (a name or a `loopline.Model` object), else `LOOPLINE_MODEL`. `--db` (before or after `run`)
becomes the process's default store, and `LOOPLINE_DB`, before the file is loaded, so agents created
without `store=` use it (a SQLite file that does not exist is created); an agent made with a store
of its own keeps it, and a note on stderr says so. Ctrl-C cancels the execution.

It prints text as it streams, reasoning after `[reasoning] `, and a line for each of these
(ARGUMENTS and CONTENT with their whitespace folded, clipped to 200 characters):

    [call] NAME(ARGUMENTS)      once the call's arguments are complete
    [result] NAME -> CONTENT    a tool's result; `[error] ` comes before CONTENT when the call failed
    [status] STATUS             the execution moved to STATUS

then, after a blank line, a summary (all that `--no-stream` prints), one field a line:

    status     COMPLETED
    result     RESULT           text as it is (its further lines indented), else JSON; `-` for none
    error      CODE: MESSAGE    only when there is an error
    awaiting   approval: NAME(ARGUMENTS)   only when paused: a line per held call (or decision: ...)
    steps      2
    tokens     2200 (2000 in, 200 out)
    cost       $0.000420
    execution  exe_...          for `loopline executions show`
    thread     thr_...

Exit status of `run`: 0 when the execution COMPLETED; 1 when it FAILED, was CANCELLED or PAUSED (why,
on stderr), when the file raised while loading (its traceback, then the error line, on stderr) or the
store failed; 2 for a usage error (no such file, no such attribute, not an Agent, no model, an
unknown provider); 130 after Ctrl-C (the cancelled execution's summary is printed first).

`run --json` prints one JSON object a line, flushed as it happens; whatever the file and its tools
print goes to stderr instead. Each has a `type`, and may gain keys but never lose or rename one:

- `{"type": "started", "execution_id", "thread_id", "agent", "model", "provider"}`: first, once the
  task exists
- `{"type": "text", "text"}` and `{"type": "reasoning", "text"}`: deltas as the model writes
- `{"type": "tool_call_start", "index", "id", "name"}`, `{"type": "tool_call_delta", "index",
  "arguments"}` (a piece of the raw arguments) and `{"type": "tool_call_end", "index", "id", "name",
  "arguments"}` (the whole arguments)
- `{"type": "usage", "usage": USAGE, "total": USAGE, "cost_usd"}`: a response ended; `total` and
  `cost_usd` are the execution's so far
- `{"type": "tool_result", "tool_call_id", "name", "content", "is_error", "duration"}`
- `{"type": "status", "status"}`
- `{"type": "finished", "status", "result", "error", "error_code", "execution_id", "thread_id",
  "steps", "usage": USAGE, "cost_usd"}`: last (`ExecutionResult`)

where USAGE is `{"input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
"cache_write_tokens", "requests", "total_tokens"}`. With `--no-stream` only `started` and `finished`
are printed.

It belongs to the platform layer: it may use every layer below it and nothing imports it.
"""

from ._main import main

__all__ = ["main"]
