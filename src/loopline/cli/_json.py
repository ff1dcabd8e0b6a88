"""The `--json` output of the command line: plain dicts built from the store's records.

These shapes are a contract with scripts (documented in `loopline.cli`): add keys, never rename or
remove one. Messages and executions reuse their storage JSON (`message_to_dict`,
`execution_to_json`), so both carry their `schema_version`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from ..loop import Execution, execution_to_json
from ..messages import Message, message_to_dict
from ..store import Page, ThreadInfo, ToolCallRecord

__all__ = ["dump", "execution_detail", "execution_page", "thread_detail", "thread_page"]


def dump(data: dict[str, Any]) -> str:
    """The text printed for `--json`: indented, keys in a fixed order, non-ASCII kept as is."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def thread_page(page: Page[ThreadInfo]) -> dict[str, Any]:
    """`threads list`: `{"threads": [thread, ...], "next_cursor": str | null}`."""
    return {"threads": [_thread(t) for t in page], "next_cursor": page.next_cursor}


def thread_detail(info: ThreadInfo, messages: Sequence[Message]) -> dict[str, Any]:
    """`threads show`: `{"thread": thread, "messages": [message, ...]}`."""
    return {"thread": _thread(info), "messages": [message_to_dict(m) for m in messages]}


def execution_page(page: Page[Execution]) -> dict[str, Any]:
    """`executions list`: `{"executions": [execution, ...], "next_cursor": str | null}`."""
    return {"executions": [_execution(e) for e in page], "next_cursor": page.next_cursor}


def execution_detail(execution: Execution, records: Sequence[ToolCallRecord],
                     messages: Sequence[Message]) -> dict[str, Any]:
    """`executions show`: `{"execution": execution, "tool_call_records": [record, ...],
    "messages": [message, ...]}` (the messages are the whole thread's)."""
    return {"execution": _execution(execution), "tool_call_records": [dataclasses.asdict(r) for r in records],
            "messages": [message_to_dict(m) for m in messages]}


def execution_record(execution: Execution) -> dict[str, Any]:
    """`executions cancel`: `{"execution": execution}`, as it was left."""
    return {"execution": _execution(execution)}


def _thread(info: ThreadInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def _execution(execution: Execution) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(execution_to_json(execution))
    return data
