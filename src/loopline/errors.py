"""The one error tree of loopline.

Every exception loopline raises on purpose derives from `LooplineError`, in three families:

- `UsageError`: the programmer misused the API (a task already running, a finished execution fed
  more messages, an unknown thread id). Fix the calling code.
- `RuntimeFailure`: something failed at run time that the calling code did not cause directly (a
  provider answered with something unusable, a tool is misconfigured, a limit was exceeded).
- `ControlSignal`: not failures; used to steer the loop (reserved for cancellation and approval).

Exceptions carry the context a person needs (which tool, which execution, which field) as attributes
and in the message. They never log on their own.

Errors made by the *model* (an unknown tool, arguments that are not JSON or fail the schema, a tool
that raises) are not exceptions at all: they become error tool results the model can react to.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApprovalRequiredError",
    "AuthenticationError",
    "ClientMismatchError",
    "ConcurrentUpdateError",
    "ConfigError",
    "ContextOverflowError",
    "ControlSignal",
    "DeadlineExceededError",
    "DuplicateToolCallError",
    "ExecutorDefinitionError",
    "ExecutionClaimedError",
    "ExecutionFinishedError",
    "HttpFetchError",
    "InterruptedCallError",
    "InvalidInputError",
    "LooplineError",
    "MemoryValueError",
    "MissingAPIKeyError",
    "MissingExtraError",
    "ModelRequestBlockedError",
    "NoActiveTaskError",
    "PendingToolCallsError",
    "PolicyViolationError",
    "RateLimitedError",
    "RemoteServerError",
    "ProviderErrorResponse",
    "ProviderMismatchError",
    "ResponseParseError",
    "RuntimeFailure",
    "ScriptError",
    "ScriptExhaustedError",
    "StoreError",
    "StoreUnavailableError",
    "StoredDataError",
    "TaskAlreadyRunningError",
    "TaskFailedError",
    "TaskReassignedError",
    "TaskTimeoutError",
    "TasksUnavailableError",
    "ThreadBusyError",
    "ToolDefinitionError",
    "UnknownExecutionError",
    "UnknownExecutorError",
    "UnknownProviderError",
    "UnknownTaskError",
    "UnknownThreadError",
    "UnknownToolCallError",
    "UsageError",
]


class LooplineError(Exception):
    """Root of every exception loopline raises on purpose."""


# --- misuse by the programmer -------------------------------------------------------------------


class UsageError(LooplineError):
    """The API was called in a way that cannot work; the message says what to do instead."""


class NoActiveTaskError(UsageError):
    """A loop method was called before `add_task` gave the agent an execution."""


class TaskAlreadyRunningError(UsageError):
    """`add_task` was called while the agent's current execution is still running."""

    def __init__(self, message: str, *, execution_id: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id


class ThreadBusyError(UsageError):
    """A thread cannot be continued now: another execution is at work on it (or started on it at the
    same moment), or it ends with tool calls that have no results. `add_task(..., wait=SECONDS)` waits
    for it; `loopline executions cancel ID` ends the execution that holds it."""

    def __init__(self, message: str, *, thread_id: str, execution_id: str | None) -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.execution_id = execution_id


class ExecutionFinishedError(UsageError):
    """More messages or tool calls were fed to an execution that has already ended."""

    def __init__(self, message: str, *, execution_id: str, status: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id
        self.status = status


class PendingToolCallsError(UsageError):
    """Tool calls of the last response still have no result, and a new response arrived or a
    request was to be rendered (`messages`, `request_kwargs`): every API rejects a call without its
    result. `tool_call_ids` names the waiting calls; `run_tools` answers them."""

    def __init__(self, message: str, *, tool_call_ids: list[str]) -> None:
        super().__init__(message)
        self.tool_call_ids = tool_call_ids


class UnknownToolCallError(UsageError):
    """`run_tools`, or a tool result given to `add_messages`, names a call the current execution is
    not waiting for (most often: the response that made it was never given to `add_messages`)."""

    def __init__(self, message: str, *, tool_call_id: str) -> None:
        super().__init__(message)
        self.tool_call_id = tool_call_id


class DuplicateToolCallError(UsageError):
    """The same tool call was given twice to one `run_tools`; each call runs once."""

    def __init__(self, message: str, *, tool_call_id: str) -> None:
        super().__init__(message)
        self.tool_call_id = tool_call_id


class ApprovalRequiredError(UsageError):
    """A call to a tool that needs a person's approval was to run before `Agent.approve` allowed it."""

    def __init__(self, message: str, *, tool_call_id: str) -> None:
        super().__init__(message)
        self.tool_call_id = tool_call_id


class InterruptedCallError(UsageError):
    """A call that was started before a crash (and may have had its effect) was to be run again
    without a decision; `Agent.rerun_tool_calls` or `Agent.record_tool_result` decides."""

    def __init__(self, message: str, *, tool_call_id: str) -> None:
        super().__init__(message)
        self.tool_call_id = tool_call_id


class UnknownThreadError(UsageError, KeyError):
    """No thread with this id exists in the agent's store."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"no thread with id {thread_id!r} in this store; pass the thread_id of an execution "
            "that ran against the same store (ExecutionResult.thread_id), or omit it to start a new thread"
        )
        self.thread_id = thread_id

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class UnknownExecutionError(UsageError, KeyError):
    """No execution with this id exists in the agent's store."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution with id {execution_id!r} in this store")
        self.execution_id = execution_id

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownTaskError(UsageError, KeyError):
    """No task with this id exists (or it belongs to another organisation, which reads the same)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r} in this task database")
        self.task_id = task_id

    def __str__(self) -> str:
        return str(self.args[0])


class ExecutorDefinitionError(UsageError, ValueError):
    """An executor class cannot be registered (a duplicate id, a missing method, an input schema that is
    not valid JSON Schema); `executor` names it."""

    def __init__(self, message: str, *, executor: str) -> None:
        super().__init__(message)
        self.executor = executor


class UnknownExecutorError(UsageError, KeyError):
    """No executor with this id is registered in this process or served by a live worker."""

    def __init__(self, executor_id: str, known: list[str]) -> None:
        shown = ", ".join(known) if known else "none"
        super().__init__(f"no executor {executor_id!r} is registered here or served by a live worker "
                         f"(known: {shown}); register it with @executor_register() in a module the worker imports")
        self.executor_id = executor_id

    def __str__(self) -> str:
        return str(self.args[0])


class TasksUnavailableError(UsageError):
    """Tasks cannot be handed out here: the store is not a database workers can share (an in-memory
    store), or the `tasks` extra is missing, or no live worker serves the agent (`require_worker=True`),
    or (for a remote `Tasks`) the loopline server cannot be reached or is not ready; its URL is named."""


class AuthenticationError(UsageError):
    """A loopline server refused the request: no API key, a key it does not know or has revoked (HTTP
    401), or a key of another organisation than the one asked for (403). `status` is the HTTP status.
    The message never holds the key."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimitedError(TasksUnavailableError):
    """A loopline server kept answering 429 (too many requests for this API key) after the client waited
    as long as it said (`Retry-After`) a few times; `retry_after` is its last word, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigError(UsageError, ValueError):
    """A setting (of a `RunConfig`, or a fact about a model) is out of range; the message names it and what it takes."""


class ToolDefinitionError(UsageError, ValueError):
    """A tool cannot be offered to a model as defined (bad name, unsupported signature, bad schema)."""

    def __init__(self, message: str, *, tool_name: str | None = None) -> None:
        super().__init__(message)
        self.tool_name = tool_name


class ProviderMismatchError(UsageError, ValueError):
    """A response in one provider's format was given to code set up for another provider."""

    def __init__(self, message: str, *, expected: str, detected: str | None) -> None:
        super().__init__(message)
        self.expected = expected
        self.detected = detected


class UnknownProviderError(UsageError, ValueError):
    """An `llm_provider` that loopline does not know."""

    def __init__(self, value: object, known: list[str]) -> None:
        super().__init__(f"unknown llm_provider {value!r}; known providers: {', '.join(known)}")
        self.value = value


class MissingExtraError(UsageError, ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, *, package: str, extra: str) -> None:
        super().__init__(f"{package!r} is not installed; install it with: pip install 'loopline[{extra}]'")
        self.package = package
        self.extra = extra


class InvalidInputError(UsageError, ValueError):
    """A task's `input` or `files` is not something loopline can send and store (`None`, a number, a
    malformed block, bad base64); `field` names which (`input`, `input[2]`, `files[0]`). Nothing was
    created."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class MissingAPIKeyError(UsageError):
    """A client was to be built from the environment for a model, and the variable holding its key is
    not set; `variable` names it. Raised before a task starts, so nothing was created."""

    def __init__(self, message: str, *, provider: str, variable: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.variable = variable


class ClientMismatchError(UsageError, TypeError):
    """The client given to `run` / `arun` / `stream` / `astream` cannot serve the model: another
    vendor's SDK, or a sync client where an async one is needed (or the reverse)."""

    def __init__(self, message: str, *, provider: str, client_type: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.client_type = client_type


class PolicyViolationError(UsageError):
    """An HTTP request was refused by the policy it runs under (the task's `TaskConfig`, or the default
    outside any task): `rule` names the rule (`blocked_domain`, `domain_not_allowed`, `https_required`,
    `private_address`, `metadata_address`, `max_pages`, `response_too_large`, `redirect_limit`, ...)
    and `url` the address refused. Nothing was sent to a refused address."""

    def __init__(self, message: str, *, rule: str, url: str) -> None:
        super().__init__(f"{message} (policy rule: {rule})")
        self.rule = rule
        self.url = url


class ModelRequestBlockedError(UsageError):
    """A request to a real model was made while model requests are blocked (in tests, by default)."""

    def __init__(self, message: str, *, url: str, test: str | None) -> None:
        super().__init__(message)
        self.url = url
        self.test = test


class MemoryValueError(UsageError, ValueError):
    """A memory key or value that not every store keeps alike: a key that is not a string (or holds a NUL),
    a value that is not plain JSON (a set, bytes, an object, a dict key that is not a string, NaN or
    Infinity, ...). Nothing was written."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class ScriptError(UsageError, ValueError):
    """A `ScriptedModel` was given a script it cannot play (formats mixed, an item of no known kind)."""


class ScriptExhaustedError(UsageError):
    """A `ScriptedModel` was asked for more responses than it was given."""

    def __init__(self, message: str, *, scripted: int, request: dict[str, object]) -> None:
        super().__init__(message)
        self.scripted = scripted
        self.request = request


# --- failures at run time -----------------------------------------------------------------------


class RuntimeFailure(LooplineError):
    """Something failed while running, not because of how the API was called."""


class ResponseParseError(RuntimeFailure, ValueError):
    """A provider response (or a stream of chunks) cannot be understood; `field` says where."""

    def __init__(self, message: str, *, provider: str, field: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.field = field


class ProviderErrorResponse(RuntimeFailure):
    """The provider answered with an error body instead of a response (HTTP 4xx/5xx recorded as JSON)."""

    def __init__(self, message: str, *, provider: str, error_type: str | None = None,
                 code: str | None = None, body: object = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.error_type = error_type
        self.code = code
        self.body = body


class ConcurrentUpdateError(RuntimeFailure):
    """Someone else changed the thread first (an optimistic check failed); nothing was written."""

    def __init__(self, message: str, *, thread_id: str) -> None:
        super().__init__(message)
        self.thread_id = thread_id


class ExecutionClaimedError(RuntimeFailure):
    """Another process holds the execution: its claim has not expired and its process is not known to
    be dead (a dead one on the same host frees it at once). Wait for it, cancel it, or `force` it."""

    def __init__(self, message: str, *, execution_id: str) -> None:
        super().__init__(message)
        self.execution_id = execution_id


class ContextOverflowError(RuntimeFailure):
    """A request cannot fit the model's context window even after fitting: the task message and the
    latest turn alone (tool outputs already shortened), with the system prompt and tools, need more
    than the window minus the reply reserve."""

    def __init__(self, message: str, *, needed: int, window: int, reserve: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.window = window
        self.reserve = reserve


class DeadlineExceededError(RuntimeFailure):
    """A failed model request was not retried because the wait before the retry (the server's
    `Retry-After`, or the retry delay) would run past the execution's deadline (`max_duration`): the time
    limit, not the provider, is why no response came. The provider's error is chained."""

    def __init__(self, message: str, *, wait: float, deadline: float) -> None:
        super().__init__(message)
        self.wait = wait
        self.deadline = deadline


class HttpFetchError(RuntimeFailure):
    """An HTTP request the policy allowed could not be completed (connection refused, reset, timed
    out) after its retries; the transport's error is chained."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class RemoteServerError(RuntimeFailure):
    """A loopline server failed on a request (HTTP 5xx other than 503); `status` is the HTTP status. A
    create may or may not have been stored: look the task up (or create with an `idempotency_key`)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class StoreError(RuntimeFailure):
    """The database behind a store failed (locked past its timeout, disk full, connection lost, ...);
    the driver's error is chained. A failed write committed nothing."""

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class StoreUnavailableError(StoreError):
    """The database could not be reached (the connection was lost or refused, or none was free in time):
    a passing fault, unlike a bad query. The failed call's transaction did not commit (or, cut at its
    commit, its outcome is unknown): read the stored state again before going on."""


class StoredDataError(RuntimeFailure, ValueError):
    """Stored data (a serialised message or execution) cannot be read back: corrupt, or written by a
    newer loopline."""


# --- control signals ----------------------------------------------------------------------------


class TaskFailedError(RuntimeFailure):
    """A task ended FAILED or CANCELLED where its result was asked for (`execute_task`, `task.wait()`)."""

    def __init__(self, message: str, *, task_id: str, status: str, error: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.status = status
        self.error = error


class TaskReassignedError(RuntimeFailure):
    """A remote worker's report on a task was refused: the task is no longer this worker's (its heartbeat
    lapsed and the server handed the task to another worker, which runs it on from its last committed step)."""

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class TaskTimeoutError(RuntimeFailure, TimeoutError):
    """A task did not end within the time waited for it (it keeps running)."""

    def __init__(self, message: str, *, task_id: str, status: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.status = status


class ControlSignal(LooplineError):
    """Not a failure: raised to steer the loop (cancellation, approval) and caught by it."""

