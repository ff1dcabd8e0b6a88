"""Every Python block in the README runs, in order, in one namespace, as a reader would paste them.

The official SDK clients in the examples talk to a stand-in provider on 127.0.0.1 (tests/readme_server.py),
reached through the environment variables the SDKs read anyway, so the examples stay the code a user
writes. Top-level `await` works as in Jupyter. An example that drifts from the API fails here. The files
of `examples/` can be imported, as a user's own modules beside their code would be.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from tests.readme_server import ReadmeServer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[int, str]]:
    text = README.read_text()
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_readme_has_python_examples() -> None:
    assert len(blocks()) >= 8


def test_every_python_block_in_the_readme_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ReadmeServer() as server:
        for name, value in server.sdk_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("LOOPLINE_DB", str(tmp_path / "readme.db"))
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(ROOT / "examples"))
        namespace: dict[str, Any] = {"__name__": "readme"}
        for line, source in blocks():
            code = compile(source, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            try:
                outcome = eval(code, namespace)
                if inspect.iscoroutine(outcome):
                    asyncio.run(outcome)
            except Exception as exc:
                pytest.fail(f"the README's block at line {line} raised {type(exc).__name__}: {exc}")
