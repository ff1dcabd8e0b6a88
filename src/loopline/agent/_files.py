"""Turning what users pass as `files=` into neutral file parts."""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError
from ..messages import FilePart

__all__ = ["FileInput", "to_file_parts"]

FileInput = FilePart | str | os.PathLike[str]
"""A `FilePart`, a local path, or an `http(s)://` URL."""


def to_file_parts(files: Iterable[FileInput] | None) -> tuple[FilePart, ...]:
    """File parts for `add_task(files=...)`; local files are read and inlined as base64."""
    return tuple(_one(f) for f in files or ())


def _one(item: FileInput) -> FilePart:
    if isinstance(item, FilePart):
        return item
    text = os.fspath(item)
    if text.startswith(("http://", "https://")):
        guessed, _ = mimetypes.guess_type(text.split("?", 1)[0])
        return FilePart(media_type=guessed or "application/octet-stream", url=text)
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"file {text!r} does not exist (files= takes paths, http(s) URLs or FilePart objects)")
    guessed, _ = mimetypes.guess_type(path.name)
    return FilePart(media_type=guessed or "application/octet-stream",
                    data=base64.b64encode(path.read_bytes()).decode("ascii"), filename=path.name)
