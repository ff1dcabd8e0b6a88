"""Workers: processes that take tasks (`loopline.tasks`) and run them with agents or a handler.
`Events` is the worker loop, `@on_task` marks a handler. Runs on DBOS Transact (the `tasks` extra),
imported when a worker starts."""

from ._handler import TaskHandler, on_task
from ._worker import Events

__all__ = ["Events", "TaskHandler", "on_task"]
