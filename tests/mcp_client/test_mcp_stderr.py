"""A stdio MCP server starts when `sys.stderr` is not a real file, as in Jupyter, where it is the
kernel's stream (set before the `mcp` SDK is imported) and has no file descriptor to hand a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SERVER = str(Path(__file__).parent / "servers" / "tools_server.py")

CODE = f"""
import io, sys
kernel_stream, sys.stderr = sys.stderr, io.StringIO()  # fileno() raises io.UnsupportedOperation
from loopline.mcp import MCPServerStdio
source = MCPServerStdio(sys.executable, [{SERVER!r}], timeout=10)
try:
    print(sorted(t.name for t in source.list_tools())[:2])
except Exception as exc:
    print(type(exc).__name__, exc, file=kernel_stream)
source.close()
"""


def test_a_server_starts_when_stderr_has_no_file_descriptor() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], check=True, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (out.stdout.strip(), out.stderr) == ("['add', 'boom']", "")
