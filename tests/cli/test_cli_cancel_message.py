"""The refusal of `loopline executions cancel ID` (a live process runs the execution) speaks the CLI's
language: the execution's real id and the `--force` flag, not a placeholder or a Python keyword."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_cli_cancel_resume import Worker

from loopline import ExecutionStatus, SQLiteStore


def test_cancel_refusal_names_the_real_id_and_the_force_flag(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    worker = Worker(db, "model")
    try:
        refused = subprocess.run([sys.executable, "-m", "loopline.cli", "executions", "cancel", worker.execution_id,
                                  "--db", str(db)], check=False, capture_output=True, text=True, cwd=tmp_path,
                                 timeout=120)
        assert refused.returncode == 1
        assert f"loopline executions cancel {worker.execution_id} --force" in refused.stderr
        assert "cancel ID" not in refused.stderr and "force=True" not in refused.stderr
        assert SQLiteStore(db).get_execution(worker.execution_id).status is ExecutionStatus.RUNNING
    finally:
        worker.kill()
