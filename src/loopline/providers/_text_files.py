"""Text files (CSV, JSON, Markdown, plain text, source code) for APIs that have no file part for them.

Chat Completions and the Responses API take only PDFs as inline files, and Anthropic takes text only
as a plain-text document; a text file is therefore sent as its text rather than dropped. This module
decides what counts as a text file and words the text part that names it; each adapter places it.
It never decides anything for images, audio, video or PDFs, which the APIs take as they are. It also
words the note that stands in a tool result for a file the API cannot take there (`unshown`), so the
model knows that the tool returned something it was not shown.
"""

from __future__ import annotations

import base64
import binascii
import json

from ..messages import FilePart

__all__ = ["file_text", "named_text", "unshown"]

_NATIVE = ("image/", "audio/", "video/", "application/pdf")
"""Media types the APIs take as files of their own kind: never turned into text."""


def file_text(part: FilePart) -> str | None:
    """The file's text when it is an inline text file: declared `text/*`, or any other type whose
    bytes are UTF-8 text (JSON, YAML, code that `mimetypes` calls something else). `None` otherwise."""
    if part.data is None or part.media_type.startswith(_NATIVE):
        return None
    try:
        raw = base64.b64decode(part.data)
    except (binascii.Error, ValueError):
        return None
    if part.media_type.startswith("text/"):
        return raw.decode("utf-8", errors="replace")  # a CSV in another encoding still reads mostly right
    if b"\0" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def named_text(part: FilePart, text: str) -> str:
    """The file as a text part that names it, so the model can tell it from the task and other files."""
    label = f"name={json.dumps(part.filename, ensure_ascii=False)}" if part.filename else ""
    kind = f"media_type={json.dumps(part.media_type)}"
    return f"<file {' '.join(filter(None, (label, kind)))}>\n{text}\n</file>"


def unshown(part: FilePart, why: str) -> str:
    """The text that stands for a file a tool returned but the API cannot carry in a tool result."""
    size = f", {len(part.data) * 3 // 4} bytes" if part.data else ""
    name = f" {json.dumps(part.filename, ensure_ascii=False)}" if part.filename else ""
    return f"[the tool returned a {part.media_type} file{name}{size}, not shown: {why}]"
