"""The loop layer: executions and the state machine that runs them, without I/O.

The machine decides (call the model, run tools, done) and applies limits; drivers in higher layers
perform the I/O. Executions and conversations are shown here too, as HTML for notebooks
(`execution_html`, `executions_html`, `messages_html`, which `_repr_html_` of executions, agents and
thread views return). Builds on `loopline.messages`, `loopline.tools`
and `loopline.context` (prices); never imports providers' SDKs.
"""

from ._config import RunConfig
from ._execution import Execution, ExecutionError, ExecutionResult, ExecutionStatus, Limits
from ._html import execution_html, executions_html
from ._machine import CallModel, Done, ExecutionMachine, NextAction, RunTools
from ._messages_html import messages_html
from ._pricing import PRICES, Price, cost_of, price_for, set_price
from ._serialize import EXECUTION_SCHEMA_VERSION, execution_from_json, execution_to_json
from ._steps import AskModel, RunCalls, Step, steps

__all__ = [
    "AskModel",
    "CallModel",
    "Done",
    "EXECUTION_SCHEMA_VERSION",
    "Execution",
    "ExecutionError",
    "ExecutionMachine",
    "ExecutionResult",
    "ExecutionStatus",
    "Limits",
    "NextAction",
    "PRICES",
    "Price",
    "RunCalls",
    "RunConfig",
    "RunTools",
    "Step",
    "cost_of",
    "execution_from_json",
    "execution_html",
    "execution_to_json",
    "executions_html",
    "messages_html",
    "price_for",
    "set_price",
    "steps",
]
