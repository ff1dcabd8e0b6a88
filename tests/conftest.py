"""Shared test set-up: the process-wide default store is a throwaway SQLite file, never the user's."""

from __future__ import annotations

import os
import tempfile

os.environ["LOOPLINE_DB"] = os.path.join(tempfile.mkdtemp(prefix="loopline-tests-"), "default.db")
