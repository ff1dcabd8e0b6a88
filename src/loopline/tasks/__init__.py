"""Tasks handed to workers: `Tasks` creates, finds, watches and cancels them from any process that
reaches the database (or, as a `RemoteTasks`, any process that reaches a loopline server over HTTP);
`Task` is one of them; `TaskConfig` bounds what it may do. The workers that run them are
`loopline.workers`. Tasks run on DBOS Transact (the `tasks` extra, imported when a task is first
handed out); their records and events live in loopline's store beside threads and executions.
"""

from ._checks import live_workers
from ._config import TaskConfig
from ._remote import RemoteTasks
from ._schemas import register_executor_schema, registered_executor_schemas
from ._task import LocalTaskTest, Task, TaskEvent, TaskInput
from ._tasks import Tasks
from ._tree import TREE_AGENT_ID
from .engine import Engine, engine_url

__all__ = ["Engine", "LocalTaskTest", "RemoteTasks", "TREE_AGENT_ID", "Task", "TaskConfig", "TaskEvent", "TaskInput",
           "Tasks", "engine_url", "live_workers", "register_executor_schema", "registered_executor_schemas"]
