"""The seeds' `APICallTask`: an executor that calls an HTTP API and returns its answer.

It fetches through `loopline.executors.fetch` under the policy of the task being run (`current_scope()`),
so the task's `TaskConfig` governs it: `allowed_domains` / `blocked_domains`, `require_https`, `max_pages`,
the request rate, retries and the guard against requests to private addresses. A refused request is a
failed result naming the rule, never a crash. Any worker in a process that imported this module runs
it (`Events()` serves every registered executor, or `Events(executors=[APICallTask])` this one).

The README's "Executors, task trees and policies" section shows it with a unit test and an integration
test; `tests/executors/test_api_call_example.py` runs both.
"""

from __future__ import annotations

import json
from typing import Any

from loopline.errors import HttpFetchError, PolicyViolationError
from loopline.executors import ExecutableTask, current_scope, executor_register, fetch


@executor_register()
class APICallTask(ExecutableTask):
    id = "api_call_task"
    name = "API Call Task"
    description = "Calls an HTTP API and returns the status code and the answer (JSON when it is JSON)."

    def get_input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "The API endpoint, http(s)://..."},
                "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"], "default": "GET"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "json": {"description": "A JSON body to send."},
            },
            "required": ["url"],
            "additionalProperties": False,
        }

    async def execute(self, inputs: dict[str, Any]) -> dict[str, Any]:
        headers = dict(inputs.get("headers") or {})
        body = None
        if "json" in inputs:
            body = json.dumps(inputs["json"])
            headers.setdefault("Content-Type", "application/json")
        scope = current_scope()  # the task's policy, and whose page and rate limits it counts
        try:
            response = await fetch(scope.policy, inputs.get("method", "GET"), inputs["url"], headers=headers,
                                   body=body, task_id=scope.task_id, store=scope.store)
        except PolicyViolationError as exc:
            return {"status": "failed", "error": str(exc), "rule": exc.rule}
        except HttpFetchError as exc:
            return {"status": "failed", "error": str(exc)}
        if response.status >= 400:
            return {"status": "failed", "error": f"{response.url} answered {response.status}",
                    "status_code": response.status}
        is_json = response.headers.get("content-type", "").startswith("application/json")
        return {"status_code": response.status, "data": json.loads(response.text) if is_json else response.text}
