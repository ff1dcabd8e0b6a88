"""`RemoteTasks`: the task API of a loopline server, over HTTP, for processes that do not reach the database.

`Tasks(base_url=..., api_key=...)` (or `Tasks()` with `LOOPLINE_BASE_URL` set) is one of these: the same
methods and the same `Task` objects as a local `Tasks`, the same named errors for the same mistakes, a
task's events over server-sent events. Sync methods use an `httpx2.Client`, async ones an
`httpx2.AsyncClient` (one per event loop), so neither blocks the other. What to send, when to retry and
how to follow a broken event stream is decided in `_wire` (no I/O); this module only drives it.

The API key goes in the `Authorization` header and nowhere else: never in a URL, a repr or a message.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping, Sequence
from typing import Any

import httpx2

from .._http_api import Connection, Outcome, RetryPolicy, acall, api_request, bad_base_url, call
from ..errors import LooplineError, UsageError
from ..store import Page, Store
from ._config import TaskConfig
from ._task import Task, TaskEvent
from ._tasks import Tasks
from ._wire import EventFollow, Step, exchange, task_path

__all__ = ["RemoteTasks"]

_ALERT = "alert"
_LIMITS = httpx2.Limits(max_connections=None, max_keepalive_connections=20)
"""No cap on open connections: each event stream holds one for as long as it follows, and a capped pool
would make every other call wait behind the streams."""


class RemoteTasks(Tasks):
    """The task API of the loopline server at `base_url`, for the organisation of `api_key`.

    Args:
        base_url: The server (`http://host:port`); default `LOOPLINE_BASE_URL`.
        api_key: Sent as `Authorization: Bearer ...`; default `LOOPLINE_API_KEY` (a server without keys
            serves loopback clients without one).
        organization_id: Sent as `X-Loopline-Organization` (it must be the key's); default
            `LOOPLINE_ORGANIZATION_ID`.
        timeout: Seconds for each request (connecting, sending, reading its answer).
        stream_timeout: Seconds an event stream may stay silent (the server sends a heartbeat every 15 s
            by default) before it is taken as broken and reopened.
        retries: How often a request the server did not act on (429, 503, a connection that never
            opened) is tried again; an event stream reconnects `RetryPolicy.reconnects` times in a row.

    Raises (from its methods, beside the local API's own errors):
        AuthenticationError: No key, a bad key (401), or a key of another organisation (403).
        RateLimitedError: Still 429 after `retries` waits of the server's `Retry-After`.
        TasksUnavailableError: The server cannot be reached, or is not ready (503), naming its URL.
        RemoteServerError: The server failed (5xx).
    """

    def __init__(self, location: str | None = None, *, store: Store | None = None,
                 organization_id: str | None = None, engine: Any = None, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 30.0, stream_timeout: float = 60.0,
                 retries: int = 3) -> None:
        if location is not None or store is not None or engine is not None:
            raise UsageError("a remote Tasks takes a base_url, not a location, a store or an engine: the server "
                             "holds them")
        connection = Connection.configured(base_url, api_key, organization_id)
        if connection is None:
            raise bad_base_url("")
        self.connection = connection
        self.base_url = connection.base_url
        self.organization_id = connection.organization_id or ""
        self._headers = connection.headers()
        self._timeout = {"connect": min(timeout, 10.0), "read": timeout, "write": timeout, "pool": timeout}
        self._stream_timeout = stream_timeout
        self._policy = RetryPolicy(retries=retries)
        self._client = httpx2.Client(follow_redirects=False, limits=_LIMITS)
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = (
            weakref.WeakKeyDictionary())

    def __repr__(self) -> str:
        org = f", organization_id={self.organization_id!r}" if self.organization_id else ""
        return f"RemoteTasks({self.base_url!r}{org})"

    def close(self) -> None:
        """Close the connections of the sync client (the async ones: `aclose`)."""
        self._client.close()

    async def aclose(self) -> None:
        client = self._aclients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def __enter__(self) -> RemoteTasks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------------

    def create(self, agent_id: str | None = None, prompt: str = "", **options: Any) -> Task:
        """`Tasks.create` on the server (the same arguments, checks and errors)."""
        return Task(self._call("POST", "/v1/tasks", body=_create_body(agent_id, prompt, **options)), self)

    async def acreate(self, agent_id: str | None = None, prompt: str = "", **options: Any) -> Task:
        return Task(await self._acall("POST", "/v1/tasks", body=_create_body(agent_id, prompt, **options)), self)

    def report_external_task(self, *, agent_id: str, id: str | None = None, input: str = "", result: Any = None,
                             duration: float | None = None, used_tools: Sequence[str] | None = None,
                             status: str = "COMPLETED", error: str | None = None,
                             thread_id: str | None = None) -> Task:
        body = {"agent_id": agent_id, "id": id, "input": input, "result": result, "duration": duration,
                "used_tools": None if used_tools is None else _listed(used_tools), "error": error,
                "status": getattr(status, "value", status), "thread_id": thread_id}
        return Task(self._call("POST", "/v1/tasks/external", body=body), self)

    def get(self, task_id: str) -> Task:
        return Task(self._record(task_id), self)

    async def aget(self, task_id: str) -> Task:
        return Task(await self._acall("GET", task_path(task_id), task_id=task_id), self)

    def list(self, *, agent_id: str | None = None, status: str | Sequence[str] | None = None,
             thread_id: str | None = None, limit: int = 50, cursor: str | None = None) -> Page[Task]:
        return self._page(self._call("GET", "/v1/tasks", params=_list_params(agent_id, status, thread_id, limit,
                                                                             cursor)))

    async def alist(self, **filters: Any) -> Page[Task]:
        options = {"agent_id": None, "status": None, "thread_id": None, "limit": 50, "cursor": None, **filters}
        return self._page(await self._acall("GET", "/v1/tasks", params=_list_params(**options)))

    def _page(self, body: Mapping[str, Any]) -> Page[Task]:
        return Page([Task(r, self) for r in body["items"]], body.get("next_cursor"))

    def cancel(self, task_id: str) -> Task:
        return Task(self._cancel(task_id), self)

    async def acancel(self, task_id: str) -> Task:
        return Task(await self._acall("POST", task_path(task_id, "cancel"), task_id=task_id), self)

    def resume(self, task_id: str) -> Task:
        return Task(self._call("POST", task_path(task_id, "resume"), task_id=task_id), self)

    async def aresume(self, task_id: str) -> Task:
        return Task(await self._acall("POST", task_path(task_id, "resume"), task_id=task_id), self)

    def create_tree(self, nodes: Sequence[Mapping[str, Any]], *, name: str = "") -> Task:
        body = {"nodes": [dict(n) for n in nodes], "name": name}
        return Task(self._call("POST", "/v1/trees", body=body), self)

    def tree(self, root_id: str) -> dict[str, Task]:
        nodes = self._call("GET", task_path(root_id, "tree"), task_id=root_id)["nodes"]
        return {node: Task(record, self) for node, record in nodes.items()}

    def advance_trees(self) -> int:
        raise UsageError("trees are moved on where the database is (by the workers and the server), not by a "
                         "remote Tasks")

    # --- what Task calls ----------------------------------------------------------------------------

    def _record(self, task_id: str) -> dict[str, Any]:
        record: dict[str, Any] = self._call("GET", task_path(task_id), task_id=task_id)
        return record

    def _event(self, task_id: str, kind: str, data: dict[str, Any]) -> int:
        if kind != _ALERT:
            raise UsageError(f"a remote task takes alerts, not {kind!r} events: its worker writes those")
        rest = {k: v for k, v in data.items() if k not in ("message", "level")}
        body = {"message": data.get("message", ""), "level": data.get("level", "warning"), "data": rest}
        self._call("POST", task_path(task_id, "alert"), body=body, task_id=task_id)
        return 0  # the server answers 204: the event's id is read from the task's events

    def _save(self, task: Task) -> dict[str, Any]:
        body = {"status": task.status, "result": task.result, "error": task.error, "progress": task.progress,
                "current_action": task.current_action}
        record: dict[str, Any] = self._call("PATCH", task_path(task.id), body=body, task_id=task.id)
        return record

    def _report(self, task_id: str, *, progress: float | None, current_action: str | None) -> dict[str, Any]:
        body = {k: v for k, v in (("progress", progress), ("current_action", current_action)) if v is not None}
        record: dict[str, Any] = self._call("POST", task_path(task_id, "progress"), body=body, task_id=task_id)
        return record

    def _cancel(self, task_id: str) -> dict[str, Any]:
        record: dict[str, Any] = self._call("POST", task_path(task_id, "cancel"), task_id=task_id)
        return record

    def _finish(self, task_id: str, status: str, **_: Any) -> bool:
        raise UsageError("a remote Tasks ends a task with task.save() or cancel(); the worker ends it otherwise")

    def _events(self, task_id: str, *, after: int, follow: bool, timeout: float | None,
                client: httpx2.Client | None = None) -> Iterator[TaskEvent]:
        """The sync driver of `EventFollow`: one stream, reopened after the last event seen when it breaks."""
        state = self._follow(task_id, after, follow, timeout)
        while True:
            try:
                response = (client or self._client).send(state.request(self._headers), stream=True)
                try:
                    if response.status_code != 200:
                        response.read()
                    wait = state.opened(response)
                    if wait is None:
                        for line in response.iter_lines():
                            event = state.feed(line)
                            if event is not None:
                                yield event
                            if state.done:
                                return
                        wait = state.ended()
                finally:
                    response.close()
            except httpx2.TransportError as exc:
                wait = state.broken(exc)
            if wait is None:
                return
            time.sleep(wait)

    async def _aevents(self, task_id: str, *, after: int, follow: bool,
                       timeout: float | None) -> AsyncIterator[TaskEvent]:
        """The async driver of `EventFollow` (the same steps as `_events`)."""
        state = self._follow(task_id, after, follow, timeout)
        client = self._aclient()
        while True:
            try:
                response = await client.send(state.request(self._headers), stream=True)
                try:
                    if response.status_code != 200:
                        await response.aread()
                    wait = state.opened(response)
                    if wait is None:
                        async for line in response.aiter_lines():
                            event = state.feed(line)
                            if event is not None:
                                yield event
                            if state.done:
                                return
                        wait = state.ended()
                finally:
                    await response.aclose()
            except httpx2.TransportError as exc:
                wait = state.broken(exc)
            if wait is None:
                return
            await asyncio.sleep(wait)

    def _follow(self, task_id: str, after: int, follow: bool, timeout: float | None) -> EventFollow:
        return EventFollow(task_id, after=after, follow=follow, timeout=timeout, read_timeout=self._stream_timeout,
                           policy=self._policy, base_url=self.base_url)

    def _on_alert(self, task_id: str, handler: Callable[[TaskEvent], Any]) -> Callable[[], None]:
        """A thread following the task's events on a client of its own, which stopping closes (so a
        closed `RemoteTasks` does not break it, and its stream ends when it is stopped)."""
        client = httpx2.Client(follow_redirects=False, limits=_LIMITS)
        stopped = threading.Event()

        def listen() -> None:
            try:
                for event in self._events(task_id, after=0, follow=True, timeout=None, client=client):
                    if stopped.is_set():
                        return
                    if event.type == _ALERT:
                        handler(event)
            except (httpx2.HTTPError, LooplineError, RuntimeError):
                if not stopped.is_set():  # a failure of its own, not the closed client
                    raise
            finally:
                client.close()

        def stop() -> None:
            stopped.set()
            client.close()

        threading.Thread(target=listen, name=f"loopline-alerts-{task_id}", daemon=True).start()
        return stop

    # --- sending ------------------------------------------------------------------------------------

    def _flow(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None, task_id: str | None = None) -> Generator[Step, Outcome, Any]:
        request = api_request(self.connection, method, path, params=params, body=body, timeout=self._timeout)
        return exchange(request, self._policy, base_url=self.base_url, task_id=task_id)

    def _call(self, method: str, path: str, **options: Any) -> Any:
        return call(self._flow(method, path, **options), self._client.send)

    async def _acall(self, method: str, path: str, **options: Any) -> Any:
        return await acall(self._flow(method, path, **options), self._aclient())

    def _aclient(self) -> httpx2.AsyncClient:
        """This event loop's client (a client's connections belong to the loop that opened them)."""
        loop = asyncio.get_running_loop()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = httpx2.AsyncClient(follow_redirects=False, limits=_LIMITS)
        return client


def _create_body(agent_id: str | None = None, prompt: str = "", *, executor: str | None = None,
                 inputs: dict[str, Any] | None = None, file_urls: Sequence[str] = (), thread_id: str | None = None,
                 events_streaming: bool = True, output_format: str = "text",
                 output_schema: dict[str, Any] | None = None, priority: int = 0,
                 config: TaskConfig | dict[str, Any] | None = None, idempotency_key: str | None = None,
                 require_worker: bool = False) -> dict[str, Any]:
    """`POST /v1/tasks`'s body from `Tasks.create`'s arguments (the server checks them, as `create` does)."""
    body = {"agent_id": agent_id, "executor": executor, "prompt": prompt, "inputs": inputs,
            "file_urls": _listed(file_urls), "thread_id": thread_id, "events_streaming": events_streaming,
            "output_format": output_format, "output_schema": output_schema, "priority": priority,
            "config": config.to_json() if isinstance(config, TaskConfig) else config,
            "idempotency_key": idempotency_key, "require_worker": require_worker}
    return {k: v for k, v in body.items() if v is not None}


def _listed(values: Sequence[str]) -> Any:
    """A sequence as a JSON list; a lone string is sent as it is, for the server to refuse by name."""
    return values if isinstance(values, str) else list(values)


def _list_params(agent_id: str | None, status: str | Sequence[str] | None, thread_id: str | None, limit: int,
                 cursor: str | None) -> dict[str, Any]:
    statuses = [getattr(s, "value", s) for s in ([status] if isinstance(status, str) else status or ())]
    params = {"agent_id": agent_id, "thread_id": thread_id, "limit": limit, "cursor": cursor,
              "status": statuses or None}
    return {k: v for k, v in params.items() if v is not None}
