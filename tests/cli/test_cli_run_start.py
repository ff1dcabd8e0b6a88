"""`loopline run` that cannot start (no API key for the model's provider) fails before anything is
created: a clear error, a non-zero exit status, and no execution or thread left RUNNING in the store.
Run as real processes of the command line, against a SQLite file in tmp_path; nothing reaches the network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopline import SQLiteStore

AGENT_FILE = '''\
from loopline import Agent

agent = Agent("keyless")
'''


def _loopline(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LOOPLINE_DB")}
    return subprocess.run([sys.executable, "-m", "loopline.cli", *argv], check=False, capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("mode", [[], ["--no-stream"], ["--json"]], ids=["stream", "no-stream", "json"])
def test_a_run_without_an_api_key_leaves_no_execution_and_no_thread(tmp_path: Path, mode: list[str]) -> None:
    (tmp_path / "agents.py").write_text(AGENT_FILE)
    db = tmp_path / "x.db"
    for _ in range(2):
        ran = _loopline("run", "agents.py:agent", "hello", "--model", "gpt-4o", "--db", str(db), *mode,
                        cwd=tmp_path)
        assert ran.returncode != 0
        assert "no API key for openai: set OPENAI_API_KEY" in ran.stderr
        assert "exe_" not in ran.stderr + ran.stdout  # no execution to speak of
    listed = _loopline("executions", "list", "--db", str(db), cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.strip() == "no executions"
    store = SQLiteStore(db)
    assert list(store.list_executions()) == [] and list(store.list_threads()) == []
