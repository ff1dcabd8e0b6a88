"""Every notebook is stored without outputs and runs from a clean kernel without error, offline.

The kernel gets no provider key (the notebooks replay cassettes and scripted models) and a proxy that
leads nowhere, so a request that escaped a replay would fail instead of reaching a provider. A run must
leave the repository as it found it: no cassette recorded, no file written beside the notebooks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WATCHED = ("notebooks", "cassettes", "examples")
"""Directories a notebook reads from and must not write to."""

NOWHERE = "http://127.0.0.1:9"
"""The discard port: a proxy nothing listens on, so any request that leaves the process fails at once."""


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS][:4] == ["01_quickstart.ipynb", "02_providers_and_handoff.ipynb",
                                               "03_run_and_stream.ipynb", "04_testing_your_agent.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert dirty == [], f"{path.name}: clear the outputs of cells {dirty} before committing"


def _files() -> dict[str, tuple[int, int]]:
    """Every file under the watched directories (caches aside), with its size and modification time."""
    found = {}
    for top in WATCHED:
        for file in (ROOT / top).rglob("*"):
            if file.is_file() and not {"__pycache__", ".ipynb_checkpoints"} & set(file.parts):
                stat = file.stat()
                found[str(file.relative_to(ROOT))] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "NO_PROXY",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)  # replay, never reach a provider
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, NOWHERE)
    before = _files()
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert _files() == before, f"{path.name} changed files in {', '.join(WATCHED)}"
