"""Workers: processes that take tasks (`loopline.tasks`) and run them with agents or a handler.
`Events` is the worker loop, `@on_task` marks a handler. Runs on DBOS Transact (the `tasks` extra),
imported when a worker starts. `Events(base_url=...)` is a remote worker, taking its tasks from a loopline
server; `Relay` is the server's side, handing tasks to remote workers."""

from ._handler import TaskHandler, on_task
from ._relay import Relay
from ._worker import Events

__all__ = ["Events", "Relay", "TaskHandler", "on_task"]
