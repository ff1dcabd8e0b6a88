"""The OpenAI Responses API adapter: tools, conversation items, responses and streams in both directions.

The Responses API speaks in flat items, not in messages holding calls: an assistant turn is a run of
reasoning, message and call items, and each tool result is an item of its own. What the API needs back
verbatim for a lossless round trip (item ids, statuses, encrypted reasoning, annotations, items of
server-side tools) is kept in the parts' `provider_details` and sent back only to this API; renderings
for other APIs drop or convert it and say so. Text, call and result parts carry no provider tag of
their own, so their `provider_details` are read back only from messages this adapter parsed
(`Message.provider == "openai_responses"`, set on every message it makes). This module does not import
an SDK: it reads SDK objects through `model_dump`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain
from typing import Any, ClassVar, Literal

from typing_extensions import assert_never

from ...errors import ResponseParseError
from ...messages import (
    FilePart,
    Message,
    OpaquePart,
    Part,
    ReasoningPart,
    RefusalPart,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from ...tools import ToolDefinition
from .._base import LLMProvider
from .._common import AdapterBase, content_parts, error_response, json_dumps, safe_id, stable_id, unique_call_ids
from .._report import RenderNote
from .._text_files import file_text, named_text, unshown
from .detect import RESPONSES_EVENT, RESPONSES_RESPONSE
from .stream import reassemble_responses

__all__ = ["OpenAIResponsesAdapter"]

# Item ids must be "letters, numbers, underscores, or dashes" (the API's own error message) and call
# ids at most 64 characters ("string too long. Expected a string with maximum length 64"). Call ids
# are held to the item-id alphabet too: every id OpenAI and Anthropic mint fits it, and an id from
# elsewhere (with dots or colons, say) is rewritten the same way in a call and in its result.
_CALL_ID = re.compile(r"[A-Za-z0-9_-]+")
_CALL_ID_MAX = 64

_INCOMPLETE: dict[str, StopReason] = {"max_output_tokens": "length", "content_filter": "content_filter"}
_CALL_FIELDS = frozenset({"type", "id", "call_id", "name", "arguments", "input"})
_MESSAGE_FIELDS = ("status", "phase")
"""Fields of an assistant message item kept on each of its parts, to send the item back as it came."""
_Action = Literal["dropped", "converted"]
_ITEM_TYPES = frozenset({"message", "reasoning", "item_reference", "compaction", "additional_tools", "program",
                         "mcp_list_tools", "mcp_approval_request", "mcp_approval_response"})


class OpenAIResponsesAdapter(AdapterBase):
    """The OpenAI Responses API (`POST /v1/responses`)."""

    provider = LLMProvider.OPEN_AI_RESPONSES
    response_format: ClassVar[str] = RESPONSES_RESPONSE
    event_format: ClassVar[str] = RESPONSES_EVENT
    messages_key: ClassVar[str] = "input"
    instructions_key: ClassVar[str | None] = "instructions"

    # --- requests ---------------------------------------------------------------------------------

    def render_tools(self, tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
        """Flat tool specs. `strict` is always sent: left out, the Responses API makes a function strict
        (unlike Chat Completions), which would make a loose schema's optional fields mandatory."""
        return [_render_tool(t) for t in tools]

    def request_kwargs(self, *, system: str | None, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {} if system is None else {"instructions": system}
        kwargs["input"] = messages
        if tools:
            kwargs["tools"] = tools
        return kwargs

    def one_call_at_a_time(self, kwargs: dict[str, Any]) -> None:
        if "tools" in kwargs:
            kwargs["parallel_tool_calls"] = False

    def join(self, rendered: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        """Append; a result that answers a custom tool call becomes a `custom_tool_call_output`.

        A neutral result does not know its call's type (the loop makes results from calls alone), so
        it is looked up among the items rendered before it: the calls, searched from the end.
        """
        wanted = {i["call_id"] for i in new if i.get("type") == "function_call_output"}
        custom: set[str] = set()
        for item in chain(reversed(new), reversed(rendered)):  # no copy: this runs for every message
            if not wanted:
                break
            if item.get("type") in ("function_call", "custom_tool_call") and item.get("call_id") in wanted:
                wanted.discard(item["call_id"])
                if item["type"] == "custom_tool_call":
                    custom.add(item["call_id"])
        rendered.extend({**i, "type": "custom_tool_call_output"} if i.get("type") == "function_call_output"
                        and i.get("call_id") in custom else i for i in new)

    def render_message(self, message: Message, notes: list[RenderNote] | None = None) -> list[dict[str, Any]]:
        """The input items for one neutral message, in the order of its parts."""
        notes = [] if notes is None else notes
        own = message.provider == self.provider.value
        match message.role:
            case "assistant":
                return self._render_assistant(message, own, notes)
            case "tool":
                return self._render_tool_message(message, own, notes)
            case "user" | "system":
                return self._render_input(message, own, notes)
            case _:
                assert_never(message.role)

    def _render_assistant(self, message: Message, own: bool, notes: list[RenderNote]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None  # the message item consecutive text parts go into
        for part in message.parts:
            match part:
                case TextPart() | RefusalPart():
                    current = _into_message(items, current, part, _details(part.provider_details, own))
                    continue
                case ToolCallPart():
                    items.append(self._render_call(part, own))
                case ReasoningPart() | OpaquePart():
                    items.extend(self._own_item(part, message, notes))
                case FilePart() | ToolResultPart():
                    _drop(notes, message, part, "an assistant turn cannot carry it in the Responses API")
                case _:
                    assert_never(part)
            current = None
        return _no_trailing_reasoning(items, message, notes)

    def _render_call(self, call: ToolCallPart, own: bool) -> dict[str, Any]:
        extra = _details(call.provider_details, own)
        item_id = extra.pop("item_id", None)
        item: dict[str, Any] = {"type": "custom_tool_call" if call.tool_type == "custom" else "function_call",
                                "call_id": self._id(call.id), "name": call.name}
        item["input" if call.tool_type == "custom" else "arguments"] = call.arguments
        if item_id:
            item["id"] = item_id
        item.update(extra)  # fields the API sent with the item (status, namespace) go back as they came
        return item

    def _own_item(self, part: ReasoningPart | OpaquePart, message: Message,
                  notes: list[RenderNote]) -> list[dict[str, Any]]:
        """A reasoning or server-side item sent back verbatim, when it is this API's own."""
        if part.provider == self.provider.value:
            item = part.data if isinstance(part, OpaquePart) else (part.provider_details or {}).get("item")
            if isinstance(item, dict):
                return [item]
            reason = "it holds no Responses API item to send back"
        else:
            author = part.provider or "another provider"
            reason = f"{part.kind} written by {author}, which only {author} can read"
        _drop(notes, message, part, reason)
        return []

    def _render_tool_message(self, message: Message, own: bool, notes: list[RenderNote]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for part in message.parts:
            match part:
                case ToolResultPart():
                    extra = _details(part.provider_details, own)
                    output = extra.pop("output", None) or _render_output(part, message, notes)
                    items.append({"type": "function_call_output", **extra, "call_id": self._id(part.tool_call_id),
                                  "output": output})
                case ReasoningPart() | OpaquePart():
                    items.extend(self._own_item(part, message, notes))
                case TextPart() | ToolCallPart() | FilePart() | RefusalPart():
                    _drop(notes, message, part, "a tool message carries only tool results in the Responses API")
                case _:
                    assert_never(part)
        return items

    def _render_input(self, message: Message, own: bool, notes: list[RenderNote]) -> list[dict[str, Any]]:
        """A user or system message; string content when it is one text, as most clients send it."""
        role: str = message.role
        if own and role == "system" and (message.provider_details or {}).get("role") == "developer":
            role = "developer"
        items: list[dict[str, Any]] = []
        content: list[dict[str, Any]] = []
        for part in message.parts:
            match part:
                case TextPart():
                    content.append({"type": "input_text", "text": part.text})
                case FilePart():
                    content.append(_render_file(part, _details(part.provider_details, own)))
                case RefusalPart():
                    _drop(notes, message, part, f"a {message.role} message has no refusal: sent as text", "converted")
                    content.append({"type": "input_text", "text": part.text})
                case ReasoningPart() | OpaquePart():
                    _flush(items, role, content)
                    items.extend(self._own_item(part, message, notes))
                case ToolCallPart() | ToolResultPart():
                    _drop(notes, message, part, f"a {message.role} message cannot carry it in the Responses API")
                case _:
                    assert_never(part)
        _flush(items, role, content)
        return items

    def _id(self, value: str) -> str:
        return safe_id(value, _CALL_ID, _CALL_ID_MAX)

    # --- responses --------------------------------------------------------------------------------

    def reassemble(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return reassemble_responses(events, provider=self.provider.value)

    def parse_response(self, data: dict[str, Any]) -> Message:
        status = data.get("status")
        if status == "failed":
            error = data.get("error") or {"message": "the response failed and gave no error object"}
            raise error_response({**data, "error": error}, self.provider.value)
        if status in ("queued", "in_progress"):
            raise ResponseParseError(f"the response is still {status} (a background response?): retrieve it "
                                     "again once it has completed", provider=self.provider.value, field="status")
        output = data.get("output")
        if not isinstance(output, list):
            raise ResponseParseError("the response has no output list", provider=self.provider.value, field="output")
        parts = tuple(p for index, item in enumerate(output) for p in self._output_parts(item, index, data.get("id")))
        calls = iter(unique_call_ids([p for p in parts if isinstance(p, ToolCallPart)]))  # as the chat adapter does
        parts = tuple(next(calls) if isinstance(p, ToolCallPart) else p for p in parts)
        stop, raw_reason = _stop_reason(data, parts)
        details = {k: data[k] for k in ("id", "service_tier") if data.get(k)}
        return Message(role="assistant", parts=parts, provider=self.provider.value, model=data.get("model"),
                       usage=_usage(data.get("usage")), stop_reason=stop, raw_stop_reason=raw_reason,
                       provider_details=details or None)

    def _output_parts(self, item: Any, index: int, response_id: str | None) -> list[Part]:
        if not isinstance(item, dict):
            raise ResponseParseError(f"output[{index}] is not an object", provider=self.provider.value,
                                     field=f"output[{index}]")
        kind = item.get("type")
        if kind == "message":
            return self._message_parts(item)
        if kind in ("function_call", "custom_tool_call"):
            return [self._call_part(item, index, response_id, from_request=False)]
        if kind == "reasoning":
            return [self._reasoning_part(item)]
        return [OpaquePart(provider=self.provider.value, data=item)]  # server-side tools and newer items

    def _message_parts(self, item: dict[str, Any]) -> list[Part]:
        """Text and refusal parts of a message item, each carrying the item's id and status; a message
        with no content, or with content of a kind loopline has no part for, is kept whole as an opaque
        part (sent back verbatim to this API, dropped with a note for others)."""
        shared = {"item_id": item["id"]} if item.get("id") else {}
        shared.update({k: item[k] for k in _MESSAGE_FIELDS if item.get(k) is not None})
        content = item.get("content")
        if isinstance(content, str):
            return [TextPart(text=content, provider_details=shared or None)]
        whole: list[Part] = [OpaquePart(provider=self.provider.value, data=item)]
        if not isinstance(content, list) or not content:
            return whole
        parts: list[Part] = []
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind in ("output_text", "input_text"):
                annotations = {"annotations": block["annotations"]} if block.get("annotations") else {}
                parts.append(TextPart(text=str(block.get("text", "")),
                                      provider_details={**shared, **annotations} or None))
            elif kind == "refusal":
                parts.append(RefusalPart(text=str(block.get("refusal", "")), provider_details=shared or None))
            else:
                return whole
        return parts

    def _call_part(self, item: dict[str, Any], index: int, response_id: str | None, *,
                   from_request: bool) -> ToolCallPart:
        """A call item. From a response, its `status` is left out (the API fills it in on output only)
        and so are fields it sent as null; from a request, every field is kept as the client sent it."""
        custom = item.get("type") == "custom_tool_call"
        name = item.get("name")
        if not isinstance(name, str) or not name:
            where = "the input item" if from_request else f"output[{index}]"
            raise ResponseParseError(f"{where} ({item.get('type')}) has no name", provider=self.provider.value,
                                     field="name" if from_request else f"output[{index}].name")
        raw = item.get("input" if custom else "arguments")
        raw = "" if raw is None else raw if isinstance(raw, str) else json_dumps(raw)
        call_id = item.get("call_id") or item.get("id") or stable_id("call_", response_id, index, name, raw)
        details = {"item_id": item["id"]} if item.get("id") else {}
        details.update({k: v for k, v in item.items() if k not in _CALL_FIELDS
                        and (from_request or (v is not None and k != "status"))})
        return ToolCallPart(id=str(call_id), name=name, arguments=raw, tool_type="custom" if custom else "function",
                            provider_details=details or None)

    def _reasoning_part(self, item: dict[str, Any]) -> ReasoningPart:
        """Reasoning the API alone can read back; the whole item rides along to be sent back verbatim."""
        summary = [s.get("text") for s in _list(item.get("summary")) if isinstance(s, dict)]
        content = [c.get("text") for c in _list(item.get("content")) if isinstance(c, dict)]
        text = "\n\n".join(t for t in summary if isinstance(t, str) and t) or "\n\n".join(
            t for t in content if isinstance(t, str) and t)
        return ReasoningPart(text=text, provider=self.provider.value, redacted=bool(item.get("encrypted_content")),
                             provider_details={"item": item})

    # --- request items ----------------------------------------------------------------------------

    def is_wire_message(self, data: dict[str, Any]) -> bool:
        kind = data.get("type")
        return "role" in data or kind in _ITEM_TYPES or (isinstance(kind, str) and kind.endswith(("_call", "_output")))

    def parse_wire_message(self, data: dict[str, Any]) -> Message:
        """A neutral message from one input item; each item becomes one message, so the items of one
        assistant turn (reasoning, text, calls) stay separate messages that render back as they came."""
        kind = data.get("type")
        mine = self.provider.value
        if "role" in data and kind in (None, "message"):
            return self._parse_role_item(data)
        if kind in ("function_call", "custom_tool_call"):
            return Message(role="assistant", parts=(self._call_part(data, 0, None, from_request=True),), provider=mine)
        if kind in ("function_call_output", "custom_tool_call_output"):
            return Message(role="tool", parts=(self._result_part(data),), provider=mine)
        if kind == "reasoning":
            return Message(role="assistant", parts=(self._reasoning_part(data),), provider=mine)
        if isinstance(kind, str) and kind:
            return Message(role="assistant", parts=(OpaquePart(provider=mine, data=data),), provider=mine)
        raise ResponseParseError("an input item needs a 'role' or a 'type'", provider=mine, field="type")

    def _parse_role_item(self, data: dict[str, Any]) -> Message:
        role, mine = data.get("role"), self.provider.value
        if role == "tool" or "tool_calls" in data or "tool_call_id" in data:
            raise ResponseParseError("this is a Chat Completions message, not a Responses API input item; parse it "
                                     "with llm_provider='openai'", provider=mine, field="role")
        if role == "assistant":
            return Message(role="assistant", parts=tuple(self._message_parts(data)), provider=mine)
        if role in ("user", "system", "developer"):
            parts = _input_parts(data.get("content"), mine)
            details = {"role": "developer"} if role == "developer" else None
            return Message(role="user" if role == "user" else "system", parts=parts, provider=mine,
                           provider_details=details)
        raise ResponseParseError(f"unknown message role {role!r}", provider=mine, field="role")

    def _result_part(self, data: dict[str, Any]) -> ToolResultPart:
        call_id = data.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ResponseParseError(f"a {data.get('type')} item has no call_id", provider=self.provider.value,
                                     field="call_id")
        output = data.get("output")
        extra = {k: v for k, v in data.items() if k not in ("call_id", "output")}
        if isinstance(output, str):
            return ToolResultPart(tool_call_id=call_id, name="", content=output, provider_details=extra)
        if not isinstance(output, list):
            raise ResponseParseError(f"the output of {data.get('type')} {call_id!r} must be a string or a list",
                                     provider=self.provider.value, field="output")
        text = "".join(str(p.get("text", "")) for p in output if isinstance(p, dict) and p.get("type") == "input_text")
        files = tuple(p for p in _input_parts(output, self.provider.value) if isinstance(p, FilePart))
        return ToolResultPart(tool_call_id=call_id, name="", content=text, files=files or None,
                              provider_details={**extra, "output": output})


# --- helpers ----------------------------------------------------------------------------------------


def _render_tool(tool: ToolDefinition) -> dict[str, Any]:
    if tool.tool_type == "custom":
        fmt = (tool.provider_details or {}).get("format")
        return {"type": "custom", "name": tool.name, "description": tool.description,
                **({"format": fmt} if fmt is not None else {})}
    return {"type": "function", "name": tool.name, "description": tool.description, "parameters": tool.parameters,
            "strict": tool.strict}


def _details(details: dict[str, Any] | None, own: bool) -> dict[str, Any]:
    """A copy of a part's provider details when they are this API's, else nothing."""
    return dict(details or {}) if own else {}


def _into_message(items: list[dict[str, Any]], current: dict[str, Any] | None, part: TextPart | RefusalPart,
                  details: dict[str, Any]) -> dict[str, Any]:
    """Add a text or refusal to the open message item, or to a new one when it came from another item."""
    item_id = details.get("item_id")
    if current is None or current.get("id") != item_id:
        current = {"type": "message", "role": "assistant", "content": []}
        if item_id:
            current["id"] = item_id
        current.update({k: details[k] for k in _MESSAGE_FIELDS if k in details})
        items.append(current)
    if isinstance(part, RefusalPart):
        current["content"].append({"type": "refusal", "refusal": part.text})
    else:
        current["content"].append({"type": "output_text", "text": part.text,
                                   "annotations": details.get("annotations", [])})
    return current


def _flush(items: list[dict[str, Any]], role: str, content: list[dict[str, Any]]) -> None:
    """Close the role message being filled, if it holds anything."""
    if not content:
        return
    one_text = len(content) == 1 and content[0]["type"] == "input_text"
    items.append({"role": role, "content": content[0]["text"] if one_text else list(content)})
    content.clear()


def _render_output(part: ToolResultPart, message: Message, notes: list[RenderNote]) -> str | list[dict[str, Any]]:
    """Text, or content parts with the files the tool returned (audio and video, taken in no tool result, named)."""
    output = [{"type": "input_text", "text": part.content}] if part.content else []
    for file in part.files or ():
        shown = not file.media_type.startswith(("audio/", "video/"))
        why = f"the Responses API takes no {file.media_type.split('/')[0]} in a tool result"
        output.append(_render_file(file, {}) if shown else {"type": "input_text", "text": unshown(file, why)})
        if not shown:
            _drop(notes, message, part, f"a file in a tool result: {why}")
    return output if part.files else part.content


def _render_file(part: FilePart, details: dict[str, Any]) -> dict[str, Any]:
    inline = f"data:{part.media_type};base64,{part.data or ''}"
    file_id = details.get("file_id")
    if part.media_type.startswith("image/"):
        source = {"file_id": file_id} if file_id else {"image_url": part.url or inline}
        return {"type": "input_image", "detail": details.get("detail", "auto"), **source}
    text = None if file_id else file_text(part)  # input_file is for PDFs: a CSV, JSON or code file goes as text
    if text is not None:
        return {"type": "input_text", "text": named_text(part, text)}
    source = {"file_id": file_id} if file_id else {"file_url": part.url} if part.url else {"file_data": inline}
    return {"type": "input_file", **source, **({"filename": part.filename} if part.filename else {})}


def _input_parts(content: Any, provider: str) -> tuple[Part, ...]:
    return content_parts(content, provider, _input_part)


def _input_part(block: Any, provider: str) -> Part:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "input_text":
        return TextPart(text=str(block.get("text", "")))
    if kind in ("input_image", "input_file"):
        details = {k: block[k] for k in ("file_id", "detail") if block.get(k)}
        image = kind == "input_image"
        return _file_part(block.get("image_url" if image else "file_url"), None if image else block.get("file_data"),
                          "image/*" if image else "application/octet-stream", block.get("filename"), details)
    raise ResponseParseError(f"unsupported content part {kind!r} in an input message", provider=provider,
                             field="content")


def _file_part(url: Any, data: Any, fallback_type: str, filename: Any, details: dict[str, Any]) -> FilePart:
    """A file from a URL, a data URL, or bare base64 data."""
    name = filename if isinstance(filename, str) else None
    inline = data if isinstance(data, str) else url if isinstance(url, str) and url.startswith("data:") else None
    if inline is not None:
        head, _, body = inline[5:].partition(";base64,") if inline.startswith("data:") else ("", "", inline)
        return FilePart(media_type=head or fallback_type, data=body, filename=name, provider_details=details or None)
    return FilePart(media_type=fallback_type, url=url if isinstance(url, str) else None, filename=name,
                    provider_details=details or None)


def _stop_reason(data: dict[str, Any], parts: tuple[Part, ...]) -> tuple[StopReason | None, str | None]:
    """The normalised stop reason and the raw one: the status, with the reason when incomplete."""
    status = data.get("status")
    if status == "incomplete":
        details = data.get("incomplete_details")
        reason = str(details.get("reason") or "") if isinstance(details, dict) else ""
        return _INCOMPLETE.get(reason, "other"), f"incomplete:{reason}" if reason else "incomplete"
    if status not in ("completed", None):
        return "other", str(status)  # cancelled
    if any(isinstance(p, ToolCallPart) for p in parts):
        return "tool_calls", status
    return ("refusal" if any(isinstance(p, RefusalPart) for p in parts) else "stop"), status


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    prompt, completion = data.get("input_tokens_details") or {}, data.get("output_tokens_details") or {}
    return Usage(input_tokens=int(data.get("input_tokens") or 0), output_tokens=int(data.get("output_tokens") or 0),
                 cached_tokens=int(prompt.get("cached_tokens") or 0),
                 cache_write_tokens=int(prompt.get("cache_write_tokens") or 0),
                 reasoning_tokens=int(completion.get("reasoning_tokens") or 0), requests=1)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _drop(notes: list[RenderNote], message: Message, part: Part, reason: str, action: _Action = "dropped") -> None:
    notes.append(RenderNote(message_id=message.id, part_kind=part.kind, action=action, reason=reason))


def _no_trailing_reasoning(items: list[dict[str, Any]], message: Message,
                           notes: list[RenderNote]) -> list[dict[str, Any]]:
    """The API refuses a reasoning item with nothing after it (a response cut off while reasoning):
    such trailing items of a whole response are dropped, and said so. (Input items parsed one by one
    from a request are not whole responses: their reasoning is followed by the next item.)"""
    if message.stop_reason is None:
        return items
    end = len(items)
    while end and items[end - 1].get("type") == "reasoning":
        end -= 1
    for _ in items[end:]:
        notes.append(RenderNote(message_id=message.id, part_kind="reasoning", action="dropped",
                                reason="a reasoning item with nothing after it, which the Responses API refuses"))
    return items[:end]
