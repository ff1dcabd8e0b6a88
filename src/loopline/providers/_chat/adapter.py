"""The OpenAI Chat Completions adapter: tools, conversation, responses and streams in both directions.

OpenAI-compatible servers (Ollama, vLLM, Gemini's endpoint, NIM, FriendliAI) speak the same format;
their quirks are `ChatProfile` settings of this one adapter, never copies of it. This module does not
import an SDK: it reads SDK objects through `model_dump`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
from .._common import AdapterBase, content_parts, json_dumps, safe_id, stable_id, unique_call_ids
from .._report import RenderNote
from .._text_files import file_text, named_text, unshown
from .detect import CHAT_CHUNK, CHAT_COMPLETION
from .stream import reassemble_chat

__all__ = ["ChatProfile", "OpenAIChatAdapter", "PROFILES"]

_STOP_REASONS: dict[str, StopReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}
_ID = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatProfile:
    """How one Chat Completions server differs from OpenAI's own."""

    provider: LLMProvider
    """The provider this profile serves."""
    name: str
    """A human name for messages."""
    omit_empty_parameters: bool = False
    """Leave out `parameters` for tools that take none (Gemini rejects an empty properties object)."""
    strict: bool = True
    """Whether the server understands `strict` on function tools (if not, it is not sent)."""
    custom_tools: bool = True
    """Whether the server knows custom (free-form) tools; if not they are offered as a function taking
    one string argument `input`."""
    parallel_tool_calls: bool = False
    """Whether the server takes `parallel_tool_calls: false` (asking for one call a response); servers
    not known to are not sent it, and the agent still runs calls one after another."""


PROFILES: dict[LLMProvider, ChatProfile] = {
    p.provider: p
    for p in (
        ChatProfile(provider=LLMProvider.OPEN_AI, name="OpenAI Chat Completions", parallel_tool_calls=True),
        ChatProfile(provider=LLMProvider.OLLAMA, name="Ollama", strict=False, custom_tools=False),
        ChatProfile(provider=LLMProvider.GEMINI_OPEN_AI, name="Gemini (OpenAI-compatible)",
                    omit_empty_parameters=True, strict=False, custom_tools=False),
        ChatProfile(provider=LLMProvider.NVIDIA_NIM, name="NVIDIA NIM", strict=False, custom_tools=False),
        ChatProfile(provider=LLMProvider.FRIENDLI_AI, name="FriendliAI", strict=False, custom_tools=False),
        ChatProfile(provider=LLMProvider.VLLM, name="vLLM", strict=False, custom_tools=False,
                    parallel_tool_calls=True),
    )
}


class OpenAIChatAdapter(AdapterBase):
    """OpenAI Chat Completions (`POST /v1/chat/completions`) and compatible servers."""

    response_format: ClassVar[str] = CHAT_COMPLETION
    event_format: ClassVar[str] = CHAT_CHUNK

    def __init__(self, profile: ChatProfile | None = None) -> None:
        super().__init__()
        self.profile = profile or PROFILES[LLMProvider.OPEN_AI]
        self.provider = self.profile.provider

    @property
    def name(self) -> str:
        """The server's human name."""
        return self.profile.name

    # --- requests ---------------------------------------------------------------------------------

    def render_tools(self, tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
        return [self._render_tool(t) for t in tools]

    def _render_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        if tool.tool_type == "custom" and self.profile.custom_tools:
            custom: dict[str, Any] = {"name": tool.name, "description": tool.description}
            fmt = (tool.provider_details or {}).get("format")
            if fmt is not None:
                custom["format"] = fmt
            return {"type": "custom", "custom": custom}
        parameters = tool.parameters if tool.tool_type == "function" else _CUSTOM_AS_FUNCTION
        function: dict[str, Any] = {"name": tool.name, "description": tool.description}
        if not (self.profile.omit_empty_parameters and not parameters.get("properties")):
            function["parameters"] = parameters
        if tool.strict and self.profile.strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    def request_kwargs(self, *, system: str | None, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]]) -> dict[str, Any]:
        head = [{"role": "system", "content": system}] if system else []
        kwargs: dict[str, Any] = {"messages": head + messages}
        if tools:
            kwargs["tools"] = tools
        return kwargs

    def unwrap_events(self, items: list[Any]) -> list[Any]:
        """The chunks inside the events of the `openai` SDK's `chat.completions.stream()` helper: it
        wraps each chunk (`{"type": "chunk", "chunk": ..., "snapshot": ...}`) and adds events of its
        own (`content.delta`, `tool_calls.function.arguments.done`, ...) that repeat what the chunks say."""
        if not any(isinstance(i, dict) and i.get("type") == "chunk" and "chunk" in i for i in items):
            return items
        return [i["chunk"] for i in items if isinstance(i, dict) and i.get("type") == "chunk" and "chunk" in i]

    def one_call_at_a_time(self, kwargs: dict[str, Any]) -> None:
        if "tools" in kwargs and self.profile.parallel_tool_calls:
            kwargs["parallel_tool_calls"] = False

    def render_message(self, message: Message, notes: list[RenderNote] | None = None) -> list[dict[str, Any]]:
        """The wire message(s) for one neutral message (tool results become one message each)."""
        notes = [] if notes is None else notes
        match message.role:
            case "tool":
                return [{"role": "tool", "tool_call_id": self._id(p.tool_call_id),
                         "content": self._result_text(p, message, notes)} for p in message.tool_results]
            case "assistant":
                rendered = self._render_assistant(message, notes)
                if rendered.get("content") or rendered.get("tool_calls") or rendered.get("refusal"):
                    return [rendered]
                notes.append(RenderNote(message_id=message.id, part_kind="message", action="dropped",
                                        reason="nothing in it can be sent as a Chat Completions assistant message"))
                return []
            case "user" | "system":
                return [{"role": message.role, "content": self._render_content(message, notes)}]
            case _:
                assert_never(message.role)

    def _result_text(self, part: ToolResultPart, message: Message, notes: list[RenderNote]) -> str:
        """A tool message's content. Chat Completions takes only text in a tool message, so a file the
        tool returned (an image, say) is named in the text and not shown; the model is told so."""
        if not part.files:
            return part.content
        why = f"{self.name} takes only text in a tool result"
        _drop(notes, message, part, f"its files ({len(part.files)}, named in its text): {why}")
        return "\n".join([*filter(None, [part.content]), *(unshown(f, why) for f in part.files)])

    def _render_assistant(self, message: Message, notes: list[RenderNote]) -> dict[str, Any]:
        out: dict[str, Any] = {"role": "assistant"}
        calls: list[dict[str, Any]] = []
        text: list[str] = []
        for part in message.parts:
            match part:
                case TextPart():
                    text.append(part.text)
                case RefusalPart():
                    out["refusal"] = out.get("refusal", "") + part.text
                case ToolCallPart():
                    calls.append(self._render_call(part, message, notes))
                case ReasoningPart() | OpaquePart():
                    _drop(notes, message, part, f"written by {part.provider}; Chat Completions takes no "
                                                "reasoning or provider-private blocks back")
                case FilePart() | ToolResultPart():
                    _drop(notes, message, part, "an assistant message cannot carry it in Chat Completions")
                case _:
                    assert_never(part)
        if text or not calls:
            out["content"] = "".join(text)
        if calls:
            out["tool_calls"] = calls
        return out

    def _render_call(self, call: ToolCallPart, message: Message, notes: list[RenderNote]) -> dict[str, Any]:
        call_id = self._id(call.id)
        if call.tool_type == "custom":
            if self.profile.custom_tools:
                return {"id": call_id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
            notes.append(RenderNote(message_id=message.id, part_kind=call.kind, action="converted",
                                    reason=f"{self.name} has no custom tools: sent as a function call with "
                                           "its text in the argument 'input'"))
            arguments = json_dumps({"input": call.arguments})
        else:
            arguments = call.arguments
        out: dict[str, Any] = {"id": call_id, "type": "function",
                               "function": {"name": call.name, "arguments": arguments}}
        extra = (call.provider_details or {}).get(_EXTRA)
        if extra is not None and message.provider == self.provider.value:
            out["extra_content"] = extra  # only to the server that wrote it (a signature means nothing elsewhere)
        elif extra is not None:
            notes.append(RenderNote(message_id=message.id, part_kind=call.kind, action="dropped",
                                    reason=f"the call's extra_content (e.g. a thought signature) was written by "
                                           f"{message.provider}; only that server reads it"))
        return out

    def _id(self, value: str) -> str:
        return safe_id(value, _ID, 40)  # OpenAI rejects tool call ids longer than 40 characters

    def _render_content(self, message: Message, notes: list[RenderNote]) -> str | list[dict[str, Any]]:
        if all(isinstance(p, TextPart) for p in message.parts):
            return message.text
        blocks: list[dict[str, Any]] = []
        for part in message.parts:
            match part:
                case TextPart():
                    blocks.append({"type": "text", "text": part.text})
                case FilePart():
                    blocks.extend(_render_file(part, message, notes))
                case RefusalPart():
                    blocks.append({"type": "text", "text": part.text})
                case ReasoningPart() | OpaquePart() | ToolCallPart() | ToolResultPart():
                    _drop(notes, message, part, f"a {message.role} message cannot carry it in Chat Completions")
                case _:
                    assert_never(part)
        return blocks

    # --- responses --------------------------------------------------------------------------------

    def reassemble(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return reassemble_chat(events, provider=self.provider.value)

    def parse_response(self, data: dict[str, Any]) -> Message:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ResponseParseError("the response has no choices", provider=self.provider.value, field="choices")
        choice = min(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise ResponseParseError("choices[0] has no message object", provider=self.provider.value,
                                     field="choices[0].message")
        raw_reason = choice.get("finish_reason")
        parts = self._assistant_parts(choice["message"], data.get("id"))
        stop: StopReason | None = _STOP_REASONS.get(raw_reason, "other") if raw_reason else None
        if any(isinstance(p, RefusalPart) for p in parts) and not any(isinstance(p, ToolCallPart) for p in parts):
            stop = "refusal"
        details = {k: data[k] for k in ("id", "system_fingerprint", "service_tier") if data.get(k)}
        return Message(role="assistant", parts=parts, provider=self.provider.value, model=data.get("model"),
                       usage=_usage(data.get("usage")), stop_reason=stop, raw_stop_reason=raw_reason,
                       provider_details=details or None)

    def parse_wire_message(self, data: dict[str, Any]) -> Message:
        """A neutral message from one Chat Completions message dict (any role)."""
        role = data.get("role")
        if role == "tool":
            call_id = data.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise ResponseParseError("a tool message has no 'tool_call_id'", provider=self.provider.value,
                                         field="tool_call_id")
            part = ToolResultPart(tool_call_id=call_id, name=str(data.get("name") or ""),
                                  content=_content_text(data.get("content"), self.provider.value))
            return Message(role="tool", parts=(part,))
        if role in ("user", "system", "developer"):
            parts = _content_parts(data.get("content"), self.provider.value)
            return Message(role="system" if role == "developer" else role, parts=parts)
        if role == "assistant":
            return Message(role="assistant", parts=self._assistant_parts(data, None), provider=self.provider.value)
        raise ResponseParseError(f"unknown message role {role!r}", provider=self.provider.value, field="role")

    def _assistant_parts(self, data: dict[str, Any], response_id: str | None) -> tuple[Part, ...]:
        parts: list[Part] = []
        reasoning = data.get("reasoning_content") or data.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            parts.append(ReasoningPart(text=reasoning, provider=self.provider.value))
        content = data.get("content")
        if content:
            parts.extend(_content_parts(content, self.provider.value))
        if data.get("refusal"):
            parts.append(RefusalPart(text=str(data["refusal"])))
        calls = [self._parse_call(call, i, response_id) for i, call in enumerate(data.get("tool_calls") or [])]
        legacy = data.get("function_call")  # the pre-tools form some compatible servers still send
        if isinstance(legacy, dict) and legacy.get("name") and not calls:
            calls.append(self._parse_call({"type": "function", "function": legacy}, 0, response_id))
        return (*parts, *unique_call_ids(calls))

    def _parse_call(self, call: Any, index: int, response_id: str | None) -> ToolCallPart:
        where = f"tool_calls[{index}]"
        if not isinstance(call, dict):
            raise ResponseParseError(f"{where} is not an object", provider=self.provider.value, field=where)
        kind = call.get("type") or "function"
        body = call.get(kind)
        if kind not in ("function", "custom") or not isinstance(body, dict) or not body.get("name"):
            raise ResponseParseError(f"{where} has no {kind!r} object with a name", provider=self.provider.value,
                                     field=where)
        raw = body.get("arguments" if kind == "function" else "input")
        if raw is None:
            raw = ""
        elif not isinstance(raw, str):  # some compatible servers send a parsed object
            raw = json_dumps(raw)
        call_id = call.get("id") or stable_id("call_", response_id, index, body["name"], raw)
        extra = call.get("extra_content")  # Gemini: {"google": {"thought_signature": ...}}, wanted back
        return ToolCallPart(id=str(call_id), name=str(body["name"]), arguments=raw,
                            tool_type="custom" if kind == "custom" else "function",
                            provider_details={_EXTRA: extra} if isinstance(extra, dict) else None)


_EXTRA = "extra_content"
"""Where a call keeps a server's `extra_content` (Gemini's thought signature) in its provider details."""

_CUSTOM_AS_FUNCTION: dict[str, Any] = {
    "type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"],
    "additionalProperties": False,
}


def _drop(notes: list[RenderNote], message: Message, part: Part, reason: str) -> None:
    notes.append(RenderNote(message_id=message.id, part_kind=part.kind, action="dropped", reason=reason))


def _render_file(part: FilePart, message: Message, notes: list[RenderNote]) -> list[dict[str, Any]]:
    details = part.provider_details or {}
    url = part.url or f"data:{part.media_type};base64,{part.data or ''}"
    if part.media_type.startswith("image/"):
        image = {"url": url, **({"detail": details["detail"]} if "detail" in details else {})}
        return [{"type": "image_url", "image_url": image}]
    if part.media_type.startswith("audio/") and part.data:
        return [{"type": "input_audio", "input_audio": {"data": part.data, "format": part.media_type.split("/")[1]}}]
    if "file_id" in details:
        return [{"type": "file", "file": {"file_id": details["file_id"]}}]
    text = file_text(part)  # Chat Completions takes only PDFs inline: a CSV, JSON or code file goes as its text
    if text is not None:
        return [{"type": "text", "text": named_text(part, text)}]
    if part.data is None:
        _drop(notes, message, part, "Chat Completions takes files other than images only inline or by file id")
        return []
    file: dict[str, Any] = {"file_data": url}
    if part.filename:
        file["filename"] = part.filename
    return [{"type": "file", "file": file}]


def _content_parts(content: Any, provider: str) -> tuple[Part, ...]:
    return content_parts(content, provider, _content_part)


def _content_part(block: Any, provider: str) -> Part:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return TextPart(text=str(block.get("text", "")))
    if kind == "refusal":
        return RefusalPart(text=str(block.get("refusal", "")))
    if kind == "image_url" and isinstance(block.get("image_url"), dict):
        image = block["image_url"]
        part = _file_from_url(str(image.get("url", "")), "image/*", None)
        return dataclasses.replace(part, provider_details={"detail": image["detail"]}) if "detail" in image else part
    if kind == "input_audio" and isinstance(block.get("input_audio"), dict):
        audio = block["input_audio"]
        return FilePart(media_type=f"audio/{audio.get('format', 'wav')}", data=audio.get("data"))
    if kind == "file" and isinstance(block.get("file"), dict):
        file = block["file"]
        if "file_id" in file:
            return FilePart(media_type="application/octet-stream", filename=file.get("filename"),
                            provider_details={"file_id": file["file_id"]})
        return _file_from_url(str(file.get("file_data", "")), "application/octet-stream", file.get("filename"))
    raise ResponseParseError(f"unsupported content block {kind!r}", provider=provider, field="content")


def _file_from_url(url: str, fallback_type: str, filename: str | None) -> FilePart:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return FilePart(media_type=head or fallback_type, data=data, filename=filename)
    return FilePart(media_type=fallback_type, url=url, filename=filename)


def _content_text(content: Any, provider: str) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.text for p in _content_parts(content, provider) if isinstance(p, TextPart))


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    prompt = data.get("prompt_tokens_details") or {}
    completion = data.get("completion_tokens_details") or {}
    return Usage(input_tokens=int(data.get("prompt_tokens") or 0),
                 output_tokens=int(data.get("completion_tokens") or 0),
                 cached_tokens=int(prompt.get("cached_tokens") or 0),
                 reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
                 requests=1)
