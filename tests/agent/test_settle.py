"""An execution cancelled while its tool ran, whose process then died, leaves a call without a result. Once
that process's claim has lapsed, continuing the thread settles the call with an error result saying its
outcome is unknown; while the process lives (it may still deliver the result), the thread stays busy."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopline import Agent, ExecutionStatus
from loopline.errors import ThreadBusyError
from loopline.store import SQLiteStore

WORKER = Path(__file__).resolve().parents[1] / "processes" / "cancel_worker.py"


def test_a_dead_processs_cancelled_call_is_settled_when_the_thread_continues(tmp_path: Path) -> None:
    db, ready = tmp_path / "settle.db", tmp_path / "ready"
    child = subprocess.Popen([sys.executable, str(WORKER), str(db), str(ready)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        execution_id = child.stdout.readline().strip()
        store = SQLiteStore(db)
        execution = store.get_execution(execution_id)
        assert execution.status is ExecutionStatus.CANCELLED and execution.running_tool_calls == ("call_move",)

        writer = Agent("writer", store=store)
        with pytest.raises(ThreadBusyError, match="may still be running"):  # its process is alive
            writer.add_task("Write it up.", thread_id=execution.thread_id)
    finally:
        child.kill()
        child.wait()
    time.sleep(1.5)  # the dead process's one-second claim lapses

    writer.add_task("Write it up.", thread_id=execution.thread_id)
    roles = [m.role for m in writer.thread]
    assert roles == ["user", "assistant", "tool", "user"]
    result = writer.thread[2].tool_results[0]
    assert result.tool_call_id == "call_move" and result.is_error and "may or may not" in result.content
    settled = store.get_execution(execution_id)
    assert (settled.status, settled.running_tool_calls, settled.pending_tool_calls) == (
        ExecutionStatus.CANCELLED, (), ())
