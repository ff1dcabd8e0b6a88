"""`@on_task`: the function a worker calls for each task that no served agent runs."""

from __future__ import annotations

import asyncio
import functools
import inspect
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

from ..errors import UsageError
from ..store import SQLiteStore
from ..tasks import LocalTaskTest, Task, Tasks

__all__ = ["TaskHandler", "on_task"]


class TaskHandler:
    """A checked task handler: `handler(task)` calls the function (awaiting it if it is async)."""

    def __init__(self, fn: Callable[..., Any], test_task: LocalTaskTest | None = None) -> None:
        _check_signature(fn)
        if test_task is not None and not isinstance(test_task, LocalTaskTest):
            raise UsageError(f"on_task(test_task=...) takes a LocalTaskTest, got {type(test_task).__name__}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.test_task = test_task
        self.is_async = inspect.iscoroutinefunction(fn)

    def __repr__(self) -> str:
        return f"TaskHandler({getattr(self.fn, '__qualname__', self.fn)!r})"

    def __call__(self, task: Task) -> Any:
        return self.fn(task=task)

    async def handle(self, task: Task, *, run_sync: Callable[[Callable[[], Any]], Any]) -> Any:
        """The handler's result for `task`: what it returns, or `task.result` when it returns the task."""
        if self.is_async:
            returned = await self.fn(task=task)
        else:
            returned = await run_sync(lambda: self.fn(task=task))
        if inspect.isawaitable(returned):  # a sync function that returned a coroutine
            returned = await returned
        return task.result if returned is task else returned

    def test(self) -> Task:
        """Run the handler once on its `test_task`, in this process, with no worker and no engine (a
        throwaway SQLite file holds the task); returns the task, ended COMPLETED or FAILED."""
        if self.test_task is None:
            raise UsageError(f"{self!r} has no test task: decorate it with @on_task(test_task=LocalTaskTest(...))")
        from ._run import run_local

        test = self.test_task
        with tempfile.TemporaryDirectory(prefix="loopline-test-task-") as folder:
            tasks = Tasks(store=SQLiteStore(Path(folder) / "tasks.db"))
            try:
                return _in_thread(lambda: asyncio.run(run_local(self, test, tasks)))
            finally:
                tasks.store.close()


@overload
def on_task(fn: Callable[..., Any], /) -> TaskHandler: ...
@overload
def on_task(*, test_task: LocalTaskTest | None = None) -> Callable[[Callable[..., Any]], TaskHandler]: ...


def on_task(fn: Callable[..., Any] | None = None, /, *,
            test_task: LocalTaskTest | None = None) -> TaskHandler | Callable[[Callable[..., Any]], TaskHandler]:
    """Mark a function (sync or async) as a task handler: it takes the `Task` as its `task` parameter
    and returns the result (or sets `task.result` and returns the task). Checked here: a function
    without a `task` parameter is refused at decoration, not when the first task arrives."""
    if fn is not None:
        return TaskHandler(fn, test_task)
    return lambda f: TaskHandler(f, test_task)


def _check_signature(fn: Callable[..., Any]) -> None:
    if not callable(fn):
        raise UsageError(f"on_task decorates a function, got {type(fn).__name__}")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError) as exc:
        raise UsageError(f"on_task cannot read the parameters of {fn!r}: {exc}") from None
    name = getattr(fn, "__qualname__", repr(fn))
    if "task" not in params:
        raise UsageError(f"task handler {name} must take a `task` parameter (def {name.split('.')[-1]}(task): ...); "
                         f"it takes ({', '.join(params)})")
    others = [p for n, p in params.items() if n != "task" and p.default is p.empty
              and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if others:
        raise UsageError(f"task handler {name} is called with the task only; its parameter "
                         f"{others[0].name!r} needs a default")


def _in_thread(fn: Callable[[], Task]) -> Task:
    """Run `fn` in a thread of its own, so it works from inside a running event loop (Jupyter's) too."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()
