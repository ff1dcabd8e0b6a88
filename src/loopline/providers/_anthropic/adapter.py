"""The Anthropic Messages adapter: tools, conversation, responses and streams in both directions.

Anthropic's rules shape the rendering: the system prompt goes apart from the messages; turns
alternate between user and assistant, so consecutive turns of one role are merged; all tool results
of a turn travel in one user message, before any text; thinking blocks go back verbatim, with their
signatures, only to Anthropic. What only another provider can read is dropped and reported.
This module does not import the SDK: it reads SDK objects through `model_dump`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any, ClassVar

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
from .._common import AdapterBase, json_dumps, safe_id
from .._report import RenderNote
from .._text_files import file_text, unshown
from .detect import ANTHROPIC_EVENT, ANTHROPIC_MESSAGE
from .stream import RAW_INPUT, reassemble_anthropic

__all__ = ["AnthropicAdapter"]

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
    "pause_turn": "pause",
}
_ID = re.compile(r"[A-Za-z0-9_-]+")
_KEY = "anthropic"  # where extra block fields are kept in provider_details
_CALL_FIELDS = frozenset({"type", "id", "name", "input", RAW_INPUT})
_TEXT_FIELDS = frozenset({"type", "text"})
_DOCUMENT_TYPES = ("application/pdf", "text/plain")


class AnthropicAdapter(AdapterBase):
    """Anthropic Messages (`POST /v1/messages`)."""

    provider = LLMProvider.ANTHROPIC
    response_format: ClassVar[str] = ANTHROPIC_MESSAGE
    event_format: ClassVar[str] = ANTHROPIC_EVENT
    system_apart: ClassVar[bool] = True

    # --- requests ---------------------------------------------------------------------------------

    def render_tools(self, tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
        return [self._render_tool(t) for t in tools]

    def _render_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        # Anthropic has no free-form tools: a custom tool takes its text as the string argument `input`.
        schema = tool.parameters if tool.tool_type == "function" else _CUSTOM_AS_FUNCTION
        out: dict[str, Any] = {"name": tool.name, "description": tool.description, "input_schema": schema}
        if tool.strict:
            out["strict"] = True
        return out

    def request_kwargs(self, *, system: str | None, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"messages": messages}
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = tools
        return kwargs

    def system_argument(self, instructions: str) -> list[dict[str, Any]]:
        """Text blocks, none without instructions: the API refuses an empty or blank text block, and a
        `null` system."""
        return [{"type": "text", "text": instructions}] if instructions.strip() else []

    def one_call_at_a_time(self, kwargs: dict[str, Any]) -> None:
        if "tools" in kwargs:
            kwargs["tool_choice"] = {"type": "auto", "disable_parallel_tool_use": True}

    def join(self, rendered: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        """Merge a turn into the previous one when both have the same role (Anthropic alternates)."""
        for item in new:
            last = rendered[-1] if rendered else None
            if last is not None and last["role"] == item["role"]:
                # A new dict: the previous one may already be in a list handed to the caller.
                rendered[-1] = {"role": last["role"], "content": _ordered(last["content"] + item["content"])}
            else:
                rendered.append(item)

    def render_message(self, message: Message, notes: list[RenderNote] | None = None) -> list[dict[str, Any]]:
        notes = [] if notes is None else notes
        blocks = [b for part in message.parts for b in self._render_part(part, message, notes)]
        if not blocks:
            if message.parts:
                notes.append(RenderNote(message_id=message.id, part_kind="message", action="dropped",
                                        reason="nothing in it can be sent to Anthropic, which rejects empty turns"))
            return []
        role = "assistant" if message.role == "assistant" else "user"
        return [{"role": role, "content": _ordered(blocks) if role == "user" else blocks}]

    def _render_part(self, part: Part, message: Message, notes: list[RenderNote]) -> list[dict[str, Any]]:
        match part:
            case TextPart():
                return self._render_text(part, message, notes)
            case ToolCallPart():
                return [self._render_call(part, message, notes)]
            case ToolResultPart():
                return [self._render_result(part, message, notes)]
            case ReasoningPart():
                return self._render_reasoning(part, message, notes)
            case FilePart():
                return self._render_file(part, message, notes)
            case RefusalPart():
                _note(notes, message, part, "converted", "Anthropic has no refusal block: sent as text")
                return [{"type": "text", "text": part.text}] if part.text else []
            case OpaquePart():
                if part.provider == self.provider.value:
                    return [part.data]
                _note(notes, message, part, "dropped", f"a {part.provider} block that only {part.provider} reads")
                return []
            case _:
                assert_never(part)

    def _render_text(self, part: TextPart, message: Message, notes: list[RenderNote]) -> list[dict[str, Any]]:
        if message.role == "system":
            _note(notes, message, part, "converted", "Anthropic takes no system turns in messages: sent as user text")
        if not part.text.strip():
            return []  # Anthropic rejects empty and whitespace-only text blocks; they say nothing
        return [{"type": "text", "text": part.text, **((part.provider_details or {}).get(_KEY) or {})}]

    def _render_call(self, call: ToolCallPart, message: Message, notes: list[RenderNote]) -> dict[str, Any]:
        if call.tool_type == "custom":
            _note(notes, message, call, "converted", "Anthropic has no custom tools: its text is sent as input.input")
            arguments: Any = {"input": call.arguments}
        else:
            try:
                arguments = json.loads(call.arguments) if call.arguments.strip() else {}
            except json.JSONDecodeError:
                arguments = None
            if not isinstance(arguments, dict):
                _note(notes, message, call, "converted",
                      "its arguments were not a JSON object (the model was told so); sent as {}")
                arguments = {}
        extra = (call.provider_details or {}).get(_KEY) or {}
        return {"type": "tool_use", "id": safe_id(call.id, _ID, 64), "name": call.name, "input": arguments, **extra}

    def _render_reasoning(self, part: ReasoningPart, message: Message,
                          notes: list[RenderNote]) -> list[dict[str, Any]]:
        if part.provider != self.provider.value:
            _note(notes, message, part, "dropped", f"reasoning written by {part.provider}, which only it can read")
            return []
        if part.redacted:
            return [{"type": "redacted_thinking", "data": (part.provider_details or {}).get("data", "")}]
        return [{"type": "thinking", "thinking": part.text, "signature": part.signature or ""}]

    def _render_result(self, part: ToolResultPart, message: Message, notes: list[RenderNote]) -> dict[str, Any]:
        """A tool_result block; the files a tool returned go in it as image or document blocks."""
        text = part.content or ("Error" if part.is_error else "")  # an empty error is refused
        content: str | list[dict[str, Any]] = text
        if part.files:
            content = [{"type": "text", "text": text}] if text.strip() else []
            for file in part.files:
                content += self._render_file(file, message, notes) or [
                    {"type": "text", "text": unshown(file, f"Anthropic takes no {file.media_type} files")}]
        return {"type": "tool_result", "tool_use_id": safe_id(part.tool_call_id, _ID, 64), "content": content,
                "is_error": part.is_error}

    def _render_file(self, part: FilePart, message: Message, notes: list[RenderNote]) -> list[dict[str, Any]]:
        source: dict[str, Any] = ({"type": "url", "url": part.url} if part.url else
                                  {"type": "base64", "media_type": part.media_type, "data": part.data or ""})
        if part.media_type.startswith("image/"):
            return [{"type": "image", "source": source}]
        text = file_text(part)  # Anthropic reads text files as plain-text documents only
        if text is not None:
            title = {"title": part.filename} if part.filename else {}
            return [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text},
                     **title}]
        if part.media_type in _DOCUMENT_TYPES:
            return [{"type": "document", "source": source}]
        _note(notes, message, part, "dropped", f"Anthropic takes no {part.media_type} files")
        return []

    # --- responses --------------------------------------------------------------------------------

    def reassemble(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return reassemble_anthropic(events, provider=self.provider.value)

    def parse_response(self, data: dict[str, Any]) -> Message:
        if data.get("role") != "assistant" or not isinstance(data.get("content"), list):
            raise ResponseParseError("a Messages response needs role 'assistant' and a content list",
                                     provider=self.provider.value, field="content")
        raw_reason = data.get("stop_reason")
        stop = _STOP_REASONS.get(raw_reason, "other") if raw_reason else None
        details = {k: data[k] for k in ("id", "stop_sequence") if data.get(k)}
        return Message(role="assistant", parts=self._parts(data["content"]), provider=self.provider.value,
                       model=data.get("model"), usage=_usage(data.get("usage")), stop_reason=stop,
                       raw_stop_reason=raw_reason, provider_details=details or None)

    def is_wire_message(self, data: dict[str, Any]) -> bool:
        return data.get("role") in ("user", "assistant") and "type" not in data

    def parse_wire_message(self, data: dict[str, Any]) -> Message:
        messages = self.parse_wire_messages(data)
        if len(messages) != 1:
            raise ResponseParseError("this user message holds tool results and other content: use "
                                     "parse_wire_messages", provider=self.provider.value)
        return messages[0]

    def parse_wire_messages(self, data: dict[str, Any]) -> list[Message]:
        """An assistant turn, or a user turn split into its tool results and the rest."""
        content = data.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise ResponseParseError("message content must be a string or a list of blocks",
                                     provider=self.provider.value, field="content")
        parts = self._parts(blocks)
        if data.get("role") == "assistant":
            return [Message(role="assistant", parts=parts, provider=self.provider.value)]
        results = tuple(p for p in parts if isinstance(p, ToolResultPart))
        rest = tuple(p for p in parts if not isinstance(p, ToolResultPart))
        return ([Message(role="tool", parts=results)] if results else []) + (
            [Message(role="user", parts=rest)] if rest or not results else [])

    def _parts(self, blocks: list[Any]) -> tuple[Part, ...]:
        return tuple(self._parse_block(b, i) for i, b in enumerate(blocks))

    def _parse_block(self, block: Any, index: int) -> Part:
        where = f"content[{index}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ResponseParseError(f"{where} is not a content block", provider=self.provider.value, field=where)
        kind = block["type"]
        if kind == "text":
            return TextPart(text=str(block.get("text", "")), provider_details=_extra(block, _TEXT_FIELDS))
        if kind == "thinking":
            return ReasoningPart(text=str(block.get("thinking", "")), signature=block.get("signature"),
                                 provider=self.provider.value)
        if kind == "redacted_thinking":
            return ReasoningPart(redacted=True, provider=self.provider.value,
                                 provider_details={"data": block.get("data", "")})
        if kind == "tool_use":
            return self._parse_call(block, where)
        if kind == "tool_result":
            return self._parse_result(block, where)
        if kind in ("image", "document"):
            return _parse_file(block)
        return OpaquePart(provider=self.provider.value, data=block)

    def _parse_call(self, block: dict[str, Any], where: str) -> ToolCallPart:
        if not block.get("id") or not block.get("name"):
            raise ResponseParseError(f"{where}: tool_use without id or name", provider=self.provider.value,
                                     field=where)
        raw = block.get(RAW_INPUT)
        arguments = raw if isinstance(raw, str) else json_dumps(block.get("input") or {})
        return ToolCallPart(id=str(block["id"]), name=str(block["name"]), arguments=arguments,
                            provider_details=_extra(block, _CALL_FIELDS))

    def _parse_result(self, block: dict[str, Any], where: str) -> ToolResultPart:
        if not block.get("tool_use_id"):
            raise ResponseParseError(f"{where}: tool_result without tool_use_id", provider=self.provider.value,
                                     field=where)
        content = block.get("content")
        blocks = [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []
        if isinstance(content, list):
            content = "".join(str(c.get("text", "")) for c in blocks if c.get("type", "text") == "text")
        files = tuple(_parse_file(c) for c in blocks if c.get("type") in ("image", "document"))
        return ToolResultPart(tool_call_id=str(block["tool_use_id"]), name="", content=str(content or ""),
                              is_error=bool(block.get("is_error")), files=files or None)


_CUSTOM_AS_FUNCTION: dict[str, Any] = {
    "type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"],
    "additionalProperties": False,
}


def _ordered(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool results first: Anthropic wants them before anything else in a user turn."""
    results = [b for b in blocks if b.get("type") == "tool_result"]
    return results + [b for b in blocks if b.get("type") != "tool_result"] if results else blocks


def _note(notes: list[RenderNote], message: Message, part: Part, action: Any, reason: str) -> None:
    notes.append(RenderNote(message_id=message.id, part_kind=part.kind, action=action, reason=reason))


def _extra(block: dict[str, Any], known: frozenset[str]) -> dict[str, Any] | None:
    """Fields of a block loopline does not model, kept so the block goes back to Anthropic whole."""
    extra = {k: v for k, v in block.items() if k not in known}
    return {_KEY: extra} if extra else None


def _parse_file(block: dict[str, Any]) -> FilePart:
    source = block.get("source") or {}
    default = "image/*" if block["type"] == "image" else "application/pdf"
    if source.get("type") == "url":
        return FilePart(media_type=default, url=source.get("url"))
    if source.get("type") == "text":  # a plain-text document holds its text, not base64
        data = base64.b64encode(str(source.get("data", "")).encode()).decode("ascii")
        return FilePart(media_type=source.get("media_type") or "text/plain", data=data, filename=block.get("title"))
    return FilePart(media_type=source.get("media_type") or default, data=source.get("data"))


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    cache_read = int(data.get("cache_read_input_tokens") or 0)
    cache_write = int(data.get("cache_creation_input_tokens") or 0)
    return Usage(input_tokens=int(data.get("input_tokens") or 0) + cache_read + cache_write,
                 output_tokens=int(data.get("output_tokens") or 0), cached_tokens=cache_read,
                 cache_write_tokens=cache_write, requests=1)
