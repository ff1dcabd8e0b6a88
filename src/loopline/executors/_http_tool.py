"""The `http_request` tool and the `HttpExecutor`: HTTP for agents and task trees, under the policy
of the task being run.

The worker running a task enters `policy_scope(policy, task_id, store)` around it; the tool and the
executor read it from a context variable (outside any task: the default policy, SSRF guard on, no
domain rules, counted in this process). A refused request never escapes as an exception: the tool's
error becomes an error tool result naming the rule, the executor returns a `failed` result with the
rule, and the refusal is a `policy_refused` event of the task.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..errors import HttpFetchError, PolicyViolationError
from ..store import Store
from ..tools import tool
from ._executable import ExecutableTask, executor_register
from ._http import fetch
from ._policy import HttpPolicy

__all__ = ["HttpExecutor", "PolicyScope", "current_policy", "current_scope", "http_request", "policy_scope"]

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True, slots=True)
class PolicyScope:
    """The policy in force and whose limits it counts."""

    policy: HttpPolicy
    task_id: str | None = None
    store: Store | None = None


_DEFAULT = PolicyScope(HttpPolicy())
_SCOPE: contextvars.ContextVar[PolicyScope] = contextvars.ContextVar("loopline_http_policy", default=_DEFAULT)


@contextlib.contextmanager
def policy_scope(policy: HttpPolicy, task_id: str | None = None, store: Store | None = None) -> Iterator[PolicyScope]:
    """Run the block (and the tasks and threads it starts with a copy of its context) under `policy`,
    counting and recording for task `task_id` in `store`."""
    scope = PolicyScope(policy, task_id, store)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> PolicyScope:
    """The scope entered last in this context, or the default one."""
    return _SCOPE.get()


def current_policy() -> HttpPolicy:
    """The HTTP policy in force here (the default outside any task)."""
    return _SCOPE.get().policy


@tool(name="http_request")
async def http_request(url: str, method: Method = "GET", headers: dict[str, str] | None = None,
                       body: str | None = None) -> dict[str, Any]:
    """Make an HTTP request and return its status, final URL, headers and body as text.

    Requests run under the task's policy: a refused one (a blocked domain, a private address, too many
    pages, ...) is an error that names the rule.

    Args:
        url: The http or https URL to fetch.
        method: The HTTP method.
        headers: Request headers to send.
        body: The request body (for POST, PUT, PATCH).
    """
    scope = current_scope()
    response = await fetch(scope.policy, method, url, headers=headers, body=body, task_id=scope.task_id,
                           store=scope.store)
    return response.to_json()


class HttpExecutor(ExecutableTask):
    """Runs one HTTP request as a task's work: inputs `{method, url, headers, body}`, a result dict.
    Registered as the built-in executor `http_request`, so every worker runs it."""

    id = "http_request"
    name = "HTTP request"
    description = "Fetches a URL over HTTP(S) under the task's policy (domains, https, pages, rate, SSRF guard)."

    def __init__(self, policy: HttpPolicy | None = None) -> None:
        """`policy` in place of the one of the task being run (`policy_scope`)."""
        self.policy = policy

    def get_input_schema(self) -> dict[str, Any]:
        """The JSON Schema of the inputs."""
        return {
            "type": "object",
            "properties": {
                "method": {"type": "string", "enum": list(get_args(Method)), "default": "GET"},
                "url": {"type": "string", "description": "The http or https URL to fetch."},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {"type": ["string", "null"], "description": "The request body."},
            },
            "required": ["url"],
            "additionalProperties": False,
        }

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """`{"status", "url", "headers", "body"}`, or `{"status": "failed", "error", "rule"}` for a
        refused request (`rule` None when the request failed for another reason)."""
        scope = current_scope()
        policy = self.policy or scope.policy
        try:
            response = await fetch(policy, str(inputs.get("method") or "GET"), str(inputs.get("url") or ""),
                                   headers=inputs.get("headers"), body=inputs.get("body"),
                                   task_id=scope.task_id, store=scope.store)
        except PolicyViolationError as exc:
            return {"status": "failed", "error": str(exc), "rule": exc.rule}
        except HttpFetchError as exc:
            return {"status": "failed", "error": str(exc), "rule": None}
        return response.to_json()


executor_register()(HttpExecutor)
