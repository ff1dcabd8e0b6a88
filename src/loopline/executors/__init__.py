"""Executors: work a task runs without a model, and the policies that govern it. Here: the HTTP
executor and `http_request` tool, the `HttpPolicy` built from a task's `TaskConfig`, and the guard
against server-side request forgery. Builds on `loopline.tools`, `loopline.store` and `loopline.tasks`.
"""

from ._guard import address_problem
from ._http import HttpResponse, fetch, fetch_sync
from ._http_tool import HttpExecutor, PolicyScope, current_policy, current_scope, http_request, policy_scope
from ._policy import DEFAULT_MAX_RESPONSE_BYTES, HttpPolicy

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "HttpExecutor",
    "HttpPolicy",
    "HttpResponse",
    "PolicyScope",
    "address_problem",
    "current_policy",
    "current_scope",
    "fetch",
    "fetch_sync",
    "http_request",
    "policy_scope",
]
