"""Turning a task's `input` (and `files`) into the user message that starts its execution.

The message is checked here, before anything is created: what cannot be sent and then read back from
the store (`None`, a number, a malformed block) is refused with `InvalidInputError`, never written to
poison the thread. Wire-style blocks are read by the providers' own parsers; nothing here knows a
vendor format beyond the `type` of a text block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from ..errors import InvalidInputError, LooplineError
from ..messages import FilePart, Message, Part, TextPart
from ..providers import REGISTRY, LLMProvider, get_adapter
from ._files import FileInput, checked_part, kind_of, to_file_parts

__all__ = ["TaskInput", "TaskPart", "task_message", "task_text"]

TaskPart: TypeAlias = str | TextPart | FilePart | Mapping[str, Any]
"""One piece of a task: text, a `TextPart` or `FilePart`, or a text or image block as an API writes it."""
TaskInput: TypeAlias = str | Sequence[TaskPart]
"""A task: its text, or its content parts in order."""

_TEXT_BLOCKS = ("text", "input_text")
_FILE_KEYS = frozenset({"name", "content", "media_type"})
"""The keys of a file dict as `files=` takes it."""
_FORMS = ("input= takes text, or a list of content parts: strings, TextPart / FilePart objects, or blocks such as "
          "{'type': 'text', 'text': ...} and {'type': 'image_url', 'image_url': {'url': ...}}")


def task_message(input: TaskInput, files: Iterable[FileInput] | None, provider: LLMProvider) -> Message:
    """The task's user message: `input`'s parts, then `files`; refused whole if any piece is bad."""
    message = Message(role="user", parts=(*_input_parts(input, provider), *to_file_parts(files)))
    if not any(isinstance(p, FilePart) or (isinstance(p, TextPart) and p.text.strip()) for p in message.parts):
        raise InvalidInputError("input is empty: the task has no text and no file (Anthropic refuses an empty turn); "
                                "give the task's text", field="input")
    return message


def task_text(message: Message) -> str:
    """What `Execution.input` records: the task's text parts (the text itself for a text task)."""
    return "\n".join(p.text for p in message.parts if isinstance(p, TextPart))


def _input_parts(input: Any, provider: LLMProvider) -> tuple[Part, ...]:
    if isinstance(input, (str, TextPart, FilePart, Mapping)):
        return (_part(input, "input", provider),)
    if not isinstance(input, Sequence) or isinstance(input, (bytes, bytearray)):
        hint = " (attach bytes with files=)" if isinstance(input, (bytes, bytearray)) else ""
        raise InvalidInputError(f"input is {kind_of(input)}{hint}; {_FORMS}", field="input")
    return tuple(_part(item, f"input[{i}]", provider) for i, item in enumerate(input))


def _part(item: Any, where: str, provider: LLMProvider) -> Part:
    if isinstance(item, str):
        return TextPart(text=item)
    if isinstance(item, TextPart):
        return checked_part(item, where)
    if isinstance(item, FilePart):
        return checked_part(item, where)
    if isinstance(item, Mapping):
        return _block(dict(item), where, provider)
    raise InvalidInputError(f"{where} is {kind_of(item)}; {_FORMS}", field=where)


def _block(block: dict[str, Any], where: str, provider: LLMProvider) -> Part:
    """A wire-style block, read by the agent's provider's parser first, then by each API's."""
    kind = block.get("type")
    if kind in _TEXT_BLOCKS:
        if not isinstance(block.get("text"), str):
            raise InvalidInputError(f"{where} is a {kind!r} block without a string 'text'", field=where)
        return TextPart(text=block["text"])
    for api in dict.fromkeys((provider, *(wire.provider for wire in REGISTRY))):
        try:
            parsed = get_adapter(api).parse([{"role": "user", "content": [block]}])
        except LooplineError:
            continue
        parts = [p for m in parsed for p in m.parts]
        if len(parts) == 1 and isinstance(parts[0], FilePart):
            return parts[0]
    raise _unknown_block(block, where)


def _unknown_block(block: dict[str, Any], where: str) -> InvalidInputError:
    """Why a dict is no block: it has no `type` (naming its keys, and `files=` for a file dict), or an unknown one."""
    if "type" in block:
        what = f"a {block['type']!r} block, which is no text, image or file block of a known API"
    else:
        keys = ", ".join(repr(k) for k in block) or "none"
        what = f"a dict without a 'type' key (its keys: {keys}), so no content block"
        if {"name", "content"} <= block.keys() <= _FILE_KEYS:
            what += "; it looks like a file: pass it as files=[{'name': ..., 'content': ...}] instead"
    return InvalidInputError(f"{where} is {what}; {_FORMS}", field=where)

