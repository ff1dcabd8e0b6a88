"""Turning what users pass as `files=` into neutral file parts.

Each form is checked and read here, before a task is created: a missing path, bad base64 or a dict of
the wrong shape raises `InvalidInputError` naming the file, and nothing is written. Which provider
can take which file is the adapters' business, not this module's.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from ..errors import InvalidInputError
from ..messages import FilePart, Message, TextPart, message_from_json, message_to_json

__all__ = ["FileInput", "checked_part", "kind_of", "to_file_parts"]

FileInput: TypeAlias = FilePart | str | os.PathLike[str] | bytes | Mapping[str, Any]
"""A `FilePart`; a local path or an `http(s)://` URL; raw bytes (an image or PDF, told by its first
bytes, or UTF-8 text); or `{"name": "data.csv", "content": "<base64>"}` (optionally with `"media_type"`)."""

P = TypeVar("P", TextPart, FilePart)

_KEYS = frozenset({"name", "content", "media_type"})
_FORMS = ("files= takes paths, http(s) URLs, bytes, FilePart objects or {'name': 'data.csv', 'content': "
          "'<base64>'} dicts")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"))
"""First bytes of the binary files the providers take, for bytes that come without a name."""


def to_file_parts(files: Iterable[FileInput] | FileInput | None) -> tuple[FilePart, ...]:
    """File parts for `add_task(files=...)`; local files and bytes are inlined as base64. One file
    given on its own (not in a list) is taken as a list of one."""
    if files is None:
        return ()
    if isinstance(files, (str, bytes, bytearray, os.PathLike, Mapping, FilePart)):
        files = [files]
    if not isinstance(files, Iterable):
        raise InvalidInputError(f"files is of type {type(files).__name__}; {_FORMS}", field="files")
    return tuple(_one(f, f"files[{i}]") for i, f in enumerate(files))


def checked_part(part: P, where: str) -> P:
    """A part built by the caller, refused if it would be stored but not read back (a field of the wrong
    type), or, for a `FilePart`, if no provider could be sent it (no content, or data that is not base64)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic warns while serialising a mistyped field
            message_from_json(message_to_json(Message(role="user", parts=(part,))))
    except ValueError as exc:  # StoredDataError, or pydantic's serialisation error
        raise InvalidInputError(f"{where} cannot be stored as given: {exc}", field=where) from None
    if isinstance(part, FilePart):
        _check_file(part, where)
    return part


def _check_file(part: FilePart, where: str) -> None:
    label = f"file {part.filename!r} ({where})" if isinstance(part.filename, str) else where
    if part.data is None and part.url is None and "file_id" not in (part.provider_details or {}):
        raise InvalidInputError(f"{label} is a FilePart with no data, url or file id", field=where)
    if isinstance(part.data, str):
        try:
            base64.b64decode(part.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError(f"{label}: FilePart.data is not valid base64 ({exc}); encode the file's bytes "
                                    "with base64.b64encode", field=where) from None


def _one(item: Any, where: str) -> FilePart:
    if isinstance(item, FilePart):
        return checked_part(item, where)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return _inline(bytes(item), None, None, where)
    if isinstance(item, Mapping):
        return _from_dict(item, where)
    if not isinstance(item, (str, os.PathLike)):
        raise InvalidInputError(f"{where} is {kind_of(item)}; {_FORMS}", field=where)
    text = os.fspath(item)
    if text.startswith(("http://", "https://")):
        guessed, _ = mimetypes.guess_type(text.split("?", 1)[0])
        return FilePart(media_type=guessed or "application/octet-stream", url=text)
    path = Path(text)
    if not path.is_file():
        raise InvalidInputError(f"file {text!r} ({where}) does not exist; {_FORMS}", field=where)
    return _inline(path.read_bytes(), path.name, None, where)


def _from_dict(item: Mapping[str, Any], where: str) -> FilePart:
    """`{"name": ..., "content": <base64, a data: URL, or bytes>}`, with an optional `"media_type"`."""
    name = item.get("name")
    label = f"file {name!r} ({where})" if isinstance(name, str) else where
    unknown, missing = sorted(set(item) - _KEYS, key=str), sorted({"name", "content"} - set(item))
    if unknown or missing:
        wrong = ", ".join([*(f"unknown key {k!r}" for k in unknown), *(f"no {k!r}" for k in missing)])
        raise InvalidInputError(f"{label} has {wrong}; a file dict is {{'name': 'data.csv', 'content': '<base64>'}} "
                                "with an optional 'media_type'", field=where)
    media_type = item.get("media_type")
    if not isinstance(name, str) or not name or not isinstance(media_type, str | None):
        raise InvalidInputError(f"{label}: 'name' (and 'media_type', if given) must be non-empty strings",
                                field=where)
    content = item["content"]
    if isinstance(content, (bytes, bytearray)):
        return _inline(bytes(content), name, media_type, where)
    if not isinstance(content, str):
        raise InvalidInputError(f"{label}: 'content' must be base64 text (or bytes); it is {kind_of(content)}",
                                field=where)
    if content.startswith("data:") and ";base64," in content:
        head, content = content[5:].split(";base64,", 1)
        media_type = media_type or head or None
    try:
        raw = base64.b64decode("".join(content.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{label}: 'content' is not valid base64 ({exc}); encode the file's bytes with "
                                "base64.b64encode, or pass the bytes", field=where) from None
    return _inline(raw, name, media_type, where)


def _inline(raw: bytes, name: str | None, media_type: str | None, where: str) -> FilePart:
    """A file held inline; its type from `media_type`, else its name, else its first bytes."""
    guessed = media_type or (mimetypes.guess_type(name)[0] if name else None)
    if not guessed or guessed == "application/octet-stream":
        guessed = _sniff(raw)
    if guessed is None and name is None:
        raise InvalidInputError(f"{where}: bytes of an unknown kind (not an image, a PDF or UTF-8 text); pass "
                                "{'name': 'file.ext', 'content': ...} or a FilePart with its media_type",
                                field=where)
    return FilePart(media_type=guessed or "application/octet-stream", data=base64.b64encode(raw).decode("ascii"),
                    filename=name)


def _sniff(raw: bytes) -> str | None:
    """The media type the bytes show: an image or PDF by its signature, `text/plain` for UTF-8 text."""
    for magic, media_type in _MAGIC:
        if raw.startswith(magic):
            return media_type
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    if b"\0" in raw:
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def kind_of(value: Any) -> str:
    """What a refused value is, for the message: `None`, or its type."""
    return "None" if value is None else f"of type {type(value).__name__}"
