"""MCP servers as tool sources: their tools are listed, offered to the model and called like local tools.

Each server object owns at most one connection, run as one task on the process's MCP loop (`_portal`),
started on first use and stopped by `close()` (or `Agent.close()`, or process exit). A call that fails
at the transport level or runs past `timeout` ends that connection; the next use opens a new one. What
the server reports (`isError`, MCP errors, dead or hung servers) reaches the model as an error result.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any, TextIO

from ..errors import MissingExtraError, RuntimeFailure, ToolDefinitionError
from ..tools import Tool, ToolDefinition
from . import _portal
from ._convert import is_tools_changed, result_value, safe_name

__all__ = ["MCPError", "MCPServer", "MCPServerHTTP", "MCPServerStdio"]


class MCPError(RuntimeFailure):
    """An MCP server failed a request: it reported an error, died, or did not answer in time."""


class _Connection:
    """One live session: the task that holds it open, and the event that tells it to close."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        return self.task is not None and not self.task.done() and not self.stop.is_set()


class MCPServer:
    """What every MCP server source shares; use `MCPServerStdio` or `MCPServerHTTP`.

    Args:
        prefix: Put before each tool's name (e.g. `"fs_"`), to tell apart servers whose tools share names.
        timeout: Seconds a tool call (or connecting, or listing tools) may take before it becomes an error
            result; the connection is then closed and opened again on the next call.
        requires_approval: `True` to make every tool of this server wait for `Agent.approve`, or the names
            (as the server spells them) of the tools that must.
    """

    def __init__(self, *, prefix: str = "", timeout: float = 30.0,
                 requires_approval: bool | Collection[str] = False) -> None:
        if timeout <= 0:
            raise ToolDefinitionError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.prefix = prefix
        self.timeout = timeout
        self.requires_approval = requires_approval
        self._conn: _Connection | None = None
        self._tools: tuple[Tool, ...] | None = None
        self._stale = False
        self._pid = os.getpid()

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self) -> str:
        raise NotImplementedError

    def _explain(self, exc: BaseException) -> str:
        """What went wrong, for an error message."""
        return _describe_exc(exc)

    # ---- the ToolSource face (any thread except the portal's) ----

    def list_tools(self) -> tuple[Tool, ...]:
        """The server's tools as loopline tools; listed on first use and again after the server says its
        list changed (the same tuple otherwise). Starts the server if needed."""
        self._forget_parent()
        if self._tools is None or self._stale:
            self._stale = False
            listed = _portal.submit(self._list()).result(self.timeout + 5)
            self._tools = tuple(self._as_tool(t) for t in listed)
        return self._tools

    def close(self) -> None:
        """Stop the server (or drop the connection); the next use starts it again."""
        self._forget_parent()
        if self._conn is not None:
            _portal.submit(self._disconnect()).result(self.timeout + 5)

    async def acall(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Call the server's tool `name` (its own, unprefixed name) from any event loop; returns what the
        model should read, or raises `MCPError`."""
        self._forget_parent()
        return await asyncio.wrap_future(_portal.submit(self._call(name, dict(arguments))))

    def _forget_parent(self) -> None:
        """In a forked worker, the parent's connection is not ours: start afresh (once per process)."""
        if self._pid != os.getpid():
            self._pid, self._conn, self._stale = os.getpid(), None, True

    # ---- on the portal's loop ----

    async def _session(self) -> Any:
        conn = self._conn
        if conn is None or not conn.alive():
            if conn is not None:
                conn.stop.set()
            conn = self._conn = _Connection()
            conn.task = asyncio.get_running_loop().create_task(self._hold(conn))
            _portal.at_stop(self._disconnect)
        try:
            return await asyncio.wait_for(asyncio.shield(conn.ready), self.timeout)
        except BaseException as exc:
            conn.stop.set()
            if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
                raise MCPError(f"MCP server {self._describe()} did not start within {self.timeout:g} s") from exc
            if isinstance(exc, Exception):
                raise MCPError(f"could not connect to MCP server {self._describe()}: {self._explain(exc)}") from exc
            raise

    async def _hold(self, conn: _Connection) -> None:
        """Open the session, hand it out, and close it in this same task when told to."""
        from mcp import ClientSession

        async def on_message(message: Any) -> None:
            if is_tools_changed(message):
                self._stale = True

        try:
            async with self._transport() as streams, \
                    ClientSession(streams[0], streams[1], message_handler=on_message) as session:
                await session.initialize()
                conn.ready.set_result(session)
                await conn.stop.wait()
        except BaseException as exc:
            if not conn.ready.done():
                conn.ready.set_exception(exc if isinstance(exc, Exception) else MCPError("connection cancelled"))
            if not isinstance(exc, Exception):
                raise
        finally:
            conn.stop.set()
            if not conn.ready.done():
                conn.ready.set_exception(MCPError(f"MCP server {self._describe()} closed the connection"))

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.task is not None:
            conn.stop.set()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(conn.task, 10)

    async def _request(self, what: str, make: Any) -> Any:
        """Run one request on the session; a failure or timeout ends the connection (reopened next time)."""
        session = await self._session()
        try:
            return await asyncio.wait_for(make(session), self.timeout)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            self._drop()
            raise MCPError(f"MCP server {self._describe()} did not answer {what} within {self.timeout:g} s; "
                           "the connection was closed and is opened again on the next call") from exc
        except Exception as exc:
            if not _is_server_error(exc):
                self._drop()
            raise MCPError(f"MCP server {self._describe()} failed {what}: {self._explain(exc)}") from exc

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.stop.set()

    async def _list(self) -> list[Any]:
        types = _mcp_import("mcp.types")
        tools: list[Any] = []
        cursor: str | None = None
        while True:
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await self._request("tools/list", lambda s, params=params: s.list_tools(params=params))
            tools.extend(page.tools)
            cursor = getattr(page, "next_cursor", None) or getattr(page, "nextCursor", None)
            if not cursor:
                return tools

    async def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        result = await self._request(f"tools/call {name!r}", lambda s: s.call_tool(name, arguments))
        value, is_error = result_value(result)
        if is_error:
            raise MCPError(f"MCP tool {name!r} reported an error: {value}")
        return value

    # ---- conversion ----

    def _as_tool(self, mcp_tool: Any) -> Tool:
        remote = str(mcp_tool.name)
        schema = getattr(mcp_tool, "input_schema", None) or getattr(mcp_tool, "inputSchema", None) or {}
        definition = ToolDefinition(name=safe_name(self.prefix + remote),
                                    description=str(mcp_tool.description or getattr(mcp_tool, "title", "") or ""),
                                    parameters=dict(schema) or {"type": "object", "properties": {}})

        async def call(**arguments: Any) -> Any:
            return await self.acall(remote, arguments)

        approval = self.requires_approval
        needs = approval if isinstance(approval, bool) else remote in approval
        return Tool(definition=definition, function=call, requires_approval=needs, is_async=True)


class MCPServerStdio(MCPServer):
    """An MCP server run as a subprocess speaking over stdin/stdout, e.g.
    `MCPServerStdio("python", ["server.py"])`. See `MCPServer` for the options."""

    def __init__(self, command: str, args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
                 cwd: str | None = None, prefix: str = "", timeout: float = 30.0,
                 requires_approval: bool | Collection[str] = False) -> None:
        super().__init__(prefix=prefix, timeout=timeout, requires_approval=requires_approval)
        self.command, self.args, self.env, self.cwd = command, list(args), dict(env or {}) or None, cwd

    def _describe(self) -> str:
        return repr(" ".join([self.command, *self.args]))

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        stdio = _mcp_import("mcp.client.stdio")
        params = stdio.StdioServerParameters(command=self.command, args=self.args, env=self.env, cwd=self.cwd)
        async with stdio.stdio_client(params, errlog=_errlog()) as streams:
            yield streams


class MCPServerHTTP(MCPServer):
    """An MCP server reached over streamable HTTP, e.g. `MCPServerHTTP("http://127.0.0.1:8765/mcp")`.

    `headers` go with every request, e.g. `{"Authorization": f"Bearer {token}"}`; a server that refuses
    them (HTTP 401 or 403) fails the call with an `MCPError` that says so. See `MCPServer` for the
    other options.
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, prefix: str = "",
                 timeout: float = 30.0, requires_approval: bool | Collection[str] = False) -> None:
        super().__init__(prefix=prefix, timeout=timeout, requires_approval=requires_approval)
        self.url = url
        self.headers = dict(headers or {})
        self._refused: str | None = None  # set when the server refused a request (HTTP 401 or 403)

    def _describe(self) -> str:
        return repr(self.url)

    def _explain(self, exc: BaseException) -> str:
        if self._refused is None:
            return super()._explain(exc)
        return (f"the server answered HTTP {self._refused} "
                "(check the headers given to MCPServerHTTP, e.g. Authorization)")

    @contextlib.asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        http = _mcp_import("mcp.client.streamable_http")
        self._refused = None
        connect = getattr(http, "streamable_http_client", None)
        if connect is None:  # SDK 1 takes the headers itself
            async with http.streamablehttp_client(self.url, headers=self.headers) as streams:
                yield streams
            return
        async with self._http_client() as client, connect(self.url, http_client=client) as streams:
            yield streams

    def _http_client(self) -> Any:
        """The SDK's HTTP client with our headers, its usual timeouts, and a hook that notes a request the
        server refused (the SDK reports only "Server returned an error response")."""
        httpx2 = _mcp_import("httpx2")

        async def on_response(response: Any) -> None:
            if response.status_code in (401, 403):
                self._refused = f"{response.status_code} {response.reason_phrase}".strip()

        return httpx2.AsyncClient(headers=self.headers, timeout=httpx2.Timeout(30.0, read=300.0),
                                  event_hooks={"response": [on_response]})


def _errlog() -> TextIO:
    """Where the server's stderr goes: ours, when it is a real file. In Jupyter `sys.stderr` is the
    kernel's stream, which has no file descriptor for a subprocess; the process's own stderr is used."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None and stream.fileno() >= 0:
                return stream
        except (OSError, ValueError):  # io.UnsupportedOperation is both
            continue
    return _devnull()


@functools.cache
def _devnull() -> TextIO:
    """One sink for the stderr of servers when this process has none (opened once, kept open)."""
    return open(os.devnull, "w")


def _mcp_import(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package="mcp", extra="mcp") from exc


def _is_server_error(exc: Exception) -> bool:
    """An error the server answered with (the connection is fine), as opposed to a broken transport."""
    return type(exc).__name__ in ("McpError", "MCPError") and "closed" not in str(exc).lower()


def _describe_exc(exc: BaseException) -> str:
    group = getattr(exc, "exceptions", None)  # an exception group, from the SDK's task groups
    if isinstance(group, (list, tuple)) and group:
        return "; ".join(_describe_exc(e) for e in group)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
